import Domain
import Foundation
@testable import Listener
import NIOSSL
import Testing
import TestSupport

/// Throwaway certificates made with /usr/bin/openssl: a CA, a server and a client certificate it signs,
/// and a client certificate from an unrelated CA.
struct TestPKI {
    let directory: String
    var caCertificate: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }
    var strangerCertificate: String { directory + "/stranger.pem" }
    var strangerKey: String { directory + "/stranger.key" }

    static func make(in directory: String) async throws -> TestPKI {
        let pki = TestPKI(directory: directory)
        func openssl(_ arguments: [String]) async throws {
            let result = try await Subprocess.runOffPool("/usr/bin/openssl", arguments)
            guard result.status == 0 else {
                throw TestSetupError("openssl \(arguments.prefix(2)) failed: \(result.stderr)")
            }
        }
        let serverExtensions = directory + "/server.ext"
        let clientExtensions = directory + "/client.ext"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
            .write(toFile: serverExtensions, atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: clientExtensions, atomically: true, encoding: .utf8)
        for (name, subject) in [("ca", "/CN=Listener Test CA"), ("otherca", "/CN=Unrelated CA")] {
            try await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/\(name).key",
                               "-out", "\(directory)/\(name).pem", "-subj", subject, "-days", "2",
                               "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
        }
        for (name, ca, extensions) in [("server", "ca", serverExtensions), ("client", "ca", clientExtensions),
                                       ("stranger", "otherca", clientExtensions)] {
            try await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/\(name).key",
                               "-out", "\(directory)/\(name).csr", "-subj", "/CN=\(name)"])
            try await openssl(["x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(ca).pem",
                               "-CAkey", "\(directory)/\(ca).key", "-CAcreateserial", "-out", "\(directory)/\(name).pem",
                               "-days", "2", "-extfile", extensions])
        }
        return pki
    }

    /// One PKI for the whole test run (RSA key generation is the slow part).
    static func shared() async throws -> TestPKI { try await Cache.instance.pki() }

    private actor Cache {
        static let instance = Cache()
        private var made: Task<TestPKI, any Error>?

        func pki() async throws -> TestPKI {
            if let made { return try await made.value }
            let task = Task {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("listener-pki-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                return try await TestPKI.make(in: directory.path)
            }
            made = task
            return try await task.value
        }
    }

    func settings(clientCA: Bool, required: Bool) -> TLSSettings {
        TLSSettings(certificateFile: serverCertificate, privateKeyFile: serverKey,
                    clientCAFile: clientCA ? caCertificate : nil, requireClientCertificate: required)
    }
}

@Suite("Listener TLS")
struct ListenerTLSTests {
    @Test func configurationIsBCP195() throws {
        #expect(ListenerTLS.cipherSuites.allSatisfy { [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8].contains($0.rawValue) })
        #expect(throws: (any Error).self) {
            try ListenerTLS.configuration(TLSSettings(certificateFile: "/nonexistent.pem", privateKeyFile: "/nonexistent.key"))
        }
    }

    @Test func requireClientCertificateWithoutCAIsAConfigurationError() async throws {
        let pki = try await TestPKI.shared()
        #expect(throws: ListenerTLS.ConfigurationError.self) {
            try ListenerTLS.configuration(TLSSettings(certificateFile: pki.serverCertificate, privateKeyFile: pki.serverKey,
                                                      requireClientCertificate: true))
        }
        let configuration = try ListenerTLS.configuration(pki.settings(clientCA: true, required: true))
        #expect(configuration.minimumTLSVersion == .tlsv12)
        #expect(configuration.certificateVerification == .noHostnameVerification)
        #expect(try ListenerTLS.configuration(pki.settings(clientCA: true, required: false)).certificateVerification == .optionalVerification)
        #expect(try ListenerTLS.configuration(pki.settings(clientCA: false, required: false)).certificateVerification == .none)
    }

    /// echoscu over TLS: (client certificate?, listener settings) → established?
    @Test("echoscu +tls / +tla", arguments: [
        ("client", false, false, true),
        ("anonymous", false, false, true),
        ("client", true, false, true),
        ("anonymous", true, false, true),
        ("stranger", true, false, false),
        ("client", true, true, true),
        ("anonymous", true, true, false),
        ("stranger", true, true, false),
    ])
    func echoscuOverTLS(client: String, clientCA: Bool, required: Bool, succeeds: Bool) async throws {
        let pki = try await TestPKI.shared()
        let sink = RecordingSink()
        let config = listenerConfig { $0.tls = pki.settings(clientCA: clientCA, required: required) }
        try await withListener(config, sink: sink) { port, _ in
            let identity: [String] = switch client {
            case "client": ["+tls", pki.clientKey, pki.clientCertificate]
            case "stranger": ["+tls", pki.strangerKey, pki.strangerCertificate]
            default: ["+tla"]
            }
            let result = try await Subprocess.runOffPool("/usr/bin/echoscu",
                                           identity + ["+cf", pki.caCertificate, "-aec", "STORESCP", "127.0.0.1", "\(port)"])
            #expect((result.status == 0) == succeeds, "\(result.stdout)\(result.stderr)")
            if succeeds {
                #expect(await eventually { sink.ended.count == 1 })
            } else {
                #expect(await eventually { sink.rejected.count == 1 })
            }
        }
        if succeeds {
            #expect(sink.ended.map(\.1) == [.released])
        } else {
            #expect(sink.rejected.map(\.reason) == ["tls-handshake-failed"])
            #expect(sink.accepted.isEmpty)
        }
    }

    @Test func storescuOverMutualTLS() async throws {
        let directory = try TemporaryDirectory()
        let pki = try await TestPKI.shared()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 3)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.tls = pki.settings(clientCA: true, required: true) }, sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/storescu",
                                           ["+tls", pki.clientKey, pki.clientCertificate, "+cf", pki.caCertificate,
                                            "-aec", "STORESCP", "127.0.0.1", "\(port)"] + instances.map(\.path))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == instances.map(\.sopInstanceUID))
    }

    /// What a TLS client may negotiate: TLS 1.2 with an ECDHE AEAD suite, never RSA key exchange or CBC.
    @Test("openssl s_client offers", arguments: [
        (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], true),
        (["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], true),
        (["-tls1_3"], true),
        (["-tls1_2", "-cipher", "AES128-GCM-SHA256"], false),
        (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], false),
        (["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"], false),
    ])
    func protocolAndCipherPolicy(options: [String], handshakes: Bool) async throws {
        let pki = try await TestPKI.shared()
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.tls = pki.settings(clientCA: false, required: false) }, sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/openssl",
                                           ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caCertificate, "-brief"] + options)
            // s_client reads stdin (/dev/null here) and exits after the handshake either way.
            let output = result.stdout + result.stderr
            #expect(output.contains("CONNECTION ESTABLISHED") == handshakes, "\(output)")
        }
    }
}
