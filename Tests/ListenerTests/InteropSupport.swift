import Domain
import Foundation
@testable import Listener
import Logging
import MetricsTestKit
import NIOCore
import NIOPosix
import Testing

/// Where the peer scripts live (Tests/ListenerTests/Scripts).
let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String

    var json: Any? { stdout.data(using: .utf8).flatMap { try? JSONSerialization.jsonObject(with: $0) } }
    var jsonObject: [String: Any]? { json as? [String: Any] }
}

struct MissingTool: Error, CustomStringConvertible {
    var description: String
}

/// Runs a tool to completion without blocking a thread of the cooperative pool: output goes to temporary
/// files, the exit is awaited through `terminationHandler`. A missing executable is an error that says
/// what to install (the test then fails; it does not skip).
func runTool(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
             timeout: Duration = .seconds(300)) async throws -> ToolResult {
    let resolved: String
    if executable.hasPrefix("/") {
        resolved = executable
    } else {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let found = path.split(separator: ":").map({ "\($0)/\(executable)" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw MissingTool(description: "\(executable) not found in PATH: install it (scripts/test installs the peers)")
        }
        resolved = found
    }
    guard FileManager.default.isExecutableFile(atPath: resolved) else {
        throw MissingTool(description: "\(resolved) is missing: install DCMTK (apt-get install dcmtk) / python3 with pynetdicom, pydicom")
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("listener-tool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("stdout")
    let err = directory.appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: resolved)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { _, new in new }
    process.environment = env
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
        do { try process.run() } catch { continuation.resume(throwing: error) }
    }
    return ToolResult(status: status,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

func python(_ script: String, _ arguments: [String]) async throws -> ToolResult {
    try await runTool("python3", [scriptsDirectory.appendingPathComponent(script).path] + arguments)
}

/// A temporary directory removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("listener-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

struct Instance: Sendable {
    var path: String
    var sopInstanceUID: String
    var sopClassUID: String
    var transferSyntax: String
}

/// Writes `count` small CT instances with pydicom; returns them and the manifest path.
func makeInstances(in directory: String, count: Int, pixelBytes: Int = 8192,
                   transferSyntax: String = "1.2.840.10008.1.2.1") async throws -> (instances: [Instance], manifest: String) {
    let result = try await python("make_instances.py", [directory, "\(count)", "--pixel-bytes", "\(pixelBytes)",
                                                        "--transfer-syntax", transferSyntax])
    guard result.status == 0, let list = result.json as? [[String: Any]] else {
        throw MissingTool(description: "make_instances.py failed (needs python3 with pydicom): \(result.stderr)")
    }
    let manifest = directory + "/manifest.json"
    try result.stdout.write(toFile: manifest, atomically: true, encoding: .utf8)
    let instances = list.map {
        Instance(path: $0["path"] as! String, sopInstanceUID: $0["sopInstanceUID"] as! String,
                 sopClassUID: $0["sopClassUID"] as! String, transferSyntax: $0["transferSyntax"] as! String)
    }
    return (instances, manifest)
}

/// Asks pydicom whether `bytes` (as received, in `transferSyntax`) is the data set of `original`.
func verifyDataSet(_ bytes: ByteBuffer, transferSyntax: String, original: String, in directory: String) async throws -> [String: Any] {
    let path = directory + "/received-\(UUID().uuidString).bin"
    try Data(bytes.readableBytesView).write(to: URL(fileURLWithPath: path))
    let result = try await python("verify_dataset.py", [path, transferSyntax, original])
    guard result.status == 0, let object = result.jsonObject else {
        throw MissingTool(description: "verify_dataset.py failed: \(result.stderr)")
    }
    return object
}

/// Binds a listener on 127.0.0.1 (port 0 unless `config` names one), runs `body` with its port, then stops it.
func withListener(_ config: ListenerConfig = ListenerConfig(name: "test", port: 0, bindAddress: "127.0.0.1"),
                  sink: any InstanceSink, grace: Duration = .seconds(10), metrics: TestMetrics? = nil,
                  _ body: (Int, DICOMListener) async throws -> Void) async throws {
    let listener = try await DICOMListener.bind(config: config, sink: sink, group: MultiThreadedEventLoopGroup.singleton,
                                                logger: testLogger, metricsFactory: metrics)
    let port = try #require(listener.localAddress?.port)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await listener.run() }
        do {
            try await body(port, listener)
        } catch {
            await listener.stop(gracePeriod: .zero)
            throw error
        }
        await listener.stop(gracePeriod: grace)
    }
}

func listenerConfig(_ configure: (inout ListenerConfig) -> Void = { _ in }) -> ListenerConfig {
    var config = ListenerConfig(name: "test", port: 0, bindAddress: "127.0.0.1")
    configure(&config)
    return config
}
