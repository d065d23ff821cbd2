import API
import ArgumentParser
import AsyncHTTPClient
import DICOM
import Domain
import Foundation
import Listener
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Storage

@main
struct DicomIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicom-ingest",
        abstract: "DICOM C-STORE receiver that lands images in S3 or a filesystem, with a catalog and a REST API.",
        subcommands: [Serve.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the listeners, the catalog and the REST API until SIGTERM/SIGINT.",
        discussion: "Every option has an environment variable of the same meaning (see README); flags win.")

    @Option(help: "REST API bind address (DICOM_INGEST_HTTP_HOST, default 0.0.0.0; 127.0.0.1 when no token is configured).")
    var httpHost: String?
    @Option(help: "REST API port (DICOM_INGEST_HTTP_PORT, default 8080).")
    var httpPort: Int?
    @Option(help: "Data directory for the embedded catalog and default filesystem storage (DICOM_INGEST_DATA_DIR, default ./data).")
    var dataDir: String?
    @Option(help: "PostgreSQL URL (DICOM_INGEST_DATABASE_URL); unset: embedded SQLite in the data directory.")
    var databaseURL: String?
    @Option(help: "Log format: text or json (DICOM_INGEST_LOG_FORMAT).")
    var logFormat: String?
    @Option(help: "Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL (LOG_LEVEL).")
    var logLevel: String?

    func run() async throws {
        MallocTuning.apply(environment: ProcessInfo.processInfo.environment)
        var overrides: [String: String] = [:]
        overrides["DICOM_INGEST_HTTP_HOST"] = httpHost
        overrides["DICOM_INGEST_HTTP_PORT"] = httpPort.map(String.init)
        overrides["DICOM_INGEST_DATA_DIR"] = dataDir
        overrides["DICOM_INGEST_DATABASE_URL"] = databaseURL
        overrides["DICOM_INGEST_LOG_FORMAT"] = logFormat
        overrides["LOG_LEVEL"] = logLevel
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.load(
                environment: ProcessInfo.processInfo.environment, overrides: overrides,
                currentDirectory: FileManager.default.currentDirectoryPath)
        } catch {
            throw ValidationError("configuration: \(error)")
        }
        try await Application(configuration: configuration).run()
    }
}
