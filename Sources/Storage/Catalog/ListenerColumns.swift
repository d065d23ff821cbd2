import Domain
import Foundation

/// The JSON columns of `listeners` (`tls`, `storage`, `limits`) in the catalog's own format, mapped to and
/// from the Domain values, so the stored format and the REST document can change independently. Stored with
/// sorted keys (equal configurations store equal text); nil members are written as explicit nulls; members
/// absent from a stored row (rows written before the member existed) take the Domain value's default.
enum ListenerColumns {
    /// `value` as the text of a JSON column.
    static func text(_ value: some Encodable) throws -> SQLValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return .text(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// The `tls` column (NULL when the listener has no TLS).
    struct TLS: Codable {
        var settings: TLSSettings

        init(_ settings: TLSSettings) { self.settings = settings }

        enum CodingKeys: String, CodingKey { case certificateFile, privateKeyFile, clientCAFile, requireClientCertificate }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            settings = TLSSettings(
                certificateFile: try c.decode(String.self, forKey: .certificateFile),
                privateKeyFile: try c.decode(String.self, forKey: .privateKeyFile),
                clientCAFile: try c.decodeIfPresent(String.self, forKey: .clientCAFile),
                requireClientCertificate: try c.decodeIfPresent(Bool.self, forKey: .requireClientCertificate) ?? false)
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(settings.certificateFile, forKey: .certificateFile)
            try c.encode(settings.privateKeyFile, forKey: .privateKeyFile)
            try c.encode(settings.clientCAFile, forKey: .clientCAFile)
            try c.encode(settings.requireClientCertificate, forKey: .requireClientCertificate)
        }
    }

    /// The `storage` column.
    struct Storage: Codable {
        var target: StorageTarget

        init(_ target: StorageTarget) { self.target = target }

        enum CodingKeys: String, CodingKey {
            case backend, bucket, region, endpoint, path, dicomPrefix, metadataPrefix, addStudyUIDPrefix
            case keyTemplate, gzip, gzipLevel, createMetadata, storageClass, serverSideEncryption, kmsKeyID = "kmsKeyId"
            case ackMode
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = StorageTarget()
            target = StorageTarget(
                backend: try c.decodeIfPresent(StorageBackend.self, forKey: .backend) ?? d.backend,
                bucket: try c.decodeIfPresent(String.self, forKey: .bucket),
                region: try c.decodeIfPresent(String.self, forKey: .region),
                endpoint: try c.decodeIfPresent(String.self, forKey: .endpoint),
                path: try c.decodeIfPresent(String.self, forKey: .path),
                dicomPrefix: try c.decodeIfPresent(String.self, forKey: .dicomPrefix) ?? d.dicomPrefix,
                metadataPrefix: try c.decodeIfPresent(String.self, forKey: .metadataPrefix) ?? d.metadataPrefix,
                addStudyUIDPrefix: try c.decodeIfPresent(Bool.self, forKey: .addStudyUIDPrefix) ?? d.addStudyUIDPrefix,
                keyTemplate: try c.decodeIfPresent(String.self, forKey: .keyTemplate),
                gzip: try c.decodeIfPresent(Bool.self, forKey: .gzip) ?? d.gzip,
                gzipLevel: try c.decodeIfPresent(Int.self, forKey: .gzipLevel) ?? d.gzipLevel,
                createMetadata: try c.decodeIfPresent(Bool.self, forKey: .createMetadata) ?? d.createMetadata,
                storageClass: try c.decodeIfPresent(String.self, forKey: .storageClass),
                serverSideEncryption: try c.decodeIfPresent(ServerSideEncryption.self, forKey: .serverSideEncryption),
                kmsKeyID: try c.decodeIfPresent(String.self, forKey: .kmsKeyID),
                ackMode: try c.decodeIfPresent(AckMode.self, forKey: .ackMode) ?? d.ackMode)
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(target.backend, forKey: .backend)
            try c.encode(target.bucket, forKey: .bucket)
            try c.encode(target.region, forKey: .region)
            try c.encode(target.endpoint, forKey: .endpoint)
            try c.encode(target.path, forKey: .path)
            try c.encode(target.dicomPrefix, forKey: .dicomPrefix)
            try c.encode(target.metadataPrefix, forKey: .metadataPrefix)
            try c.encode(target.addStudyUIDPrefix, forKey: .addStudyUIDPrefix)
            try c.encode(target.keyTemplate, forKey: .keyTemplate)
            try c.encode(target.gzip, forKey: .gzip)
            try c.encode(target.gzipLevel, forKey: .gzipLevel)
            try c.encode(target.createMetadata, forKey: .createMetadata)
            try c.encode(target.storageClass, forKey: .storageClass)
            try c.encode(target.serverSideEncryption, forKey: .serverSideEncryption)
            try c.encode(target.kmsKeyID, forKey: .kmsKeyID)
            try c.encode(target.ackMode, forKey: .ackMode)
        }
    }

    /// The `limits` column.
    struct Limits: Codable {
        var limits: ListenerLimits

        init(_ limits: ListenerLimits) { self.limits = limits }

        enum CodingKeys: String, CodingKey {
            case maxAssociations, maxPDUSize, dimseTimeoutSeconds, networkTimeoutSeconds, cstoreDelayMs
            case maxInflatedBytes, maxInflationRatio
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = ListenerLimits()
            limits = ListenerLimits(
                maxAssociations: try c.decodeIfPresent(Int.self, forKey: .maxAssociations) ?? d.maxAssociations,
                maxPDUSize: try c.decodeIfPresent(Int.self, forKey: .maxPDUSize) ?? d.maxPDUSize,
                dimseTimeoutSeconds: try c.decodeIfPresent(Int.self, forKey: .dimseTimeoutSeconds) ?? d.dimseTimeoutSeconds,
                networkTimeoutSeconds: try c.decodeIfPresent(Int.self, forKey: .networkTimeoutSeconds) ?? d.networkTimeoutSeconds,
                cstoreDelayMs: try c.decodeIfPresent(Int.self, forKey: .cstoreDelayMs) ?? d.cstoreDelayMs,
                maxInflatedBytes: try c.decodeIfPresent(Int.self, forKey: .maxInflatedBytes) ?? d.maxInflatedBytes,
                maxInflationRatio: try c.decodeIfPresent(Int.self, forKey: .maxInflationRatio) ?? d.maxInflationRatio)
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(limits.maxAssociations, forKey: .maxAssociations)
            try c.encode(limits.maxPDUSize, forKey: .maxPDUSize)
            try c.encode(limits.dimseTimeoutSeconds, forKey: .dimseTimeoutSeconds)
            try c.encode(limits.networkTimeoutSeconds, forKey: .networkTimeoutSeconds)
            try c.encode(limits.cstoreDelayMs, forKey: .cstoreDelayMs)
            try c.encode(limits.maxInflatedBytes, forKey: .maxInflatedBytes)
            try c.encode(limits.maxInflationRatio, forKey: .maxInflationRatio)
        }
    }
}
