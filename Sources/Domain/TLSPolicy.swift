/// The TLS policy of every server of the service, DIMSE listeners and REST API alike (PS3.15 Annex B.9,
/// "BCP 195 TLS Secure Transport Connection Profile"): TLS 1.2 or newer; for TLS 1.2 only the forward-secret
/// AEAD suites RFC 9325 §4.2 recommends (every TLS 1.3 suite is AEAD); no renegotiation.
public enum TLSPolicy {
    /// IANA TLS cipher suite numbers, in order of preference.
    public static let tls12CipherSuites: [UInt16] = [
        0xC02B,  // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        0xC02F,  // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        0xC02C,  // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        0xC030,  // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        0xCCA9,  // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        0xCCA8,  // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    ]
}
