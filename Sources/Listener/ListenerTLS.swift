public import Domain
public import NIOSSL

/// Builds the server TLS context of one listener (PS3.15 Annex B.9 "BCP 195 TLS Secure Transport
/// Connection Profile"): TLS 1.2 or newer, only the AEAD ECDHE suites RFC 9325 §4.2 recommends
/// (TLS 1.3 suites are always AEAD), optional mutual TLS against a client CA.
///
/// | `clientCAFile` | `requireClientCertificate` | peers                                        |
/// |----------------|----------------------------|----------------------------------------------|
/// | nil            | false                      | any client, no certificate asked             |
/// | set            | false                      | a presented certificate must chain to the CA |
/// | set            | true                       | a certificate chaining to the CA is required |
/// | nil            | true                       | refused as a configuration error             |
public enum ListenerTLS {
    /// TLS 1.2 suites allowed by RFC 9325 §4.2 (forward secrecy, AEAD only): `TLSPolicy`'s.
    public static let cipherSuites: [NIOTLSCipher] = TLSPolicy.tls12CipherSuites.map(NIOTLSCipher.init(rawValue:))

    public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    public static func configuration(_ settings: TLSSettings) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(settings.certificateFile)
        guard !chain.isEmpty else {
            throw ConfigurationError(description: "no certificate in \(settings.certificateFile)")
        }
        let key = try NIOSSLPrivateKey(file: settings.privateKeyFile, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = cipherSuites
        configuration.renegotiationSupport = .none
        switch (settings.clientCAFile, settings.requireClientCertificate) {
        case (nil, false):
            configuration.certificateVerification = .none
        case (nil, true):
            throw ConfigurationError(description: "requireClientCertificate needs clientCAFile")
        case (let caFile?, let required):
            let roots = try NIOSSLCertificate.fromPEMFile(caFile)
            guard !roots.isEmpty else { throw ConfigurationError(description: "no certificate in \(caFile)") }
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = true
            // `noHostnameVerification` sets SSL_VERIFY_FAIL_IF_NO_PEER_CERT; a client has no name to check.
            configuration.certificateVerification = required ? .noHostnameVerification : .optionalVerification
        }
        return configuration
    }

    /// Reads the files now, so a missing or unreadable file fails the listener at bind time.
    public static func makeContext(_ settings: TLSSettings) throws -> NIOSSLContext {
        try NIOSSLContext(configuration: configuration(settings))
    }
}
