import Domain
import Foundation
@testable import Listener
import Logging
import MetricsTestKit
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// Where the peer scripts live (Tests/ListenerTests/Scripts).
let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

/// Runs one of the peer scripts in Tests/ListenerTests/Scripts with python3 (pydicom, pynetdicom).
func python(_ script: String, _ arguments: [String]) async throws -> ProcessOutput {
    try await Subprocess.runOffPool("python3", [scriptsDirectory.appendingPathComponent(script).path] + arguments,
                                    installHint: "install python3 with pynetdicom and pydicom (scripts/test installs the peers)")
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
        throw TestSetupError("make_instances.py failed (needs python3 with pydicom): \(result.stderr)")
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
        throw TestSetupError("verify_dataset.py failed: \(result.stderr)")
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
