import Domain
import Foundation

/// The REST format of a listener (`Listener`, `ListenerCreate` in openapi.yaml), mapped to and from the
/// Domain values, so the wire and the catalog's stored format (`ListenerColumns` in Storage) can change
/// independently. Encoded members follow openapi.yaml's order with explicit nulls; decoding gives absent
/// members the Domain value's defaults (the schema checks of `ListenerDocument` run before it).
struct ListenerDTO: Codable {
    var listener: ListenerConfig

    init(listener: ListenerConfig) { self.listener = listener }

    enum CodingKeys: String, CodingKey {
        case id, name, enabled, port, bindAddress, aeTitle, requireCalledAETitle, allowedCallingAETitles
        case allowedPeers, allowedSOPClasses, tls, storage, limits, studyStableSeconds, state, error, createdAt, updatedAt
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listener = ListenerConfig(
            id: try c.decodeIfPresent(UUID.self, forKey: .id) ?? UUID(),
            name: try c.decode(String.self, forKey: .name),
            enabled: try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true,
            port: try c.decode(Int.self, forKey: .port),
            bindAddress: try c.decodeIfPresent(String.self, forKey: .bindAddress) ?? "0.0.0.0",
            aeTitle: try c.decodeIfPresent(String.self, forKey: .aeTitle) ?? "STORESCP",
            requireCalledAETitle: try c.decodeIfPresent(Bool.self, forKey: .requireCalledAETitle) ?? false,
            allowedCallingAETitles: try c.decodeIfPresent([String].self, forKey: .allowedCallingAETitles) ?? [],
            allowedPeers: try c.decodeIfPresent([String].self, forKey: .allowedPeers) ?? [],
            allowedSOPClasses: try c.decodeIfPresent([String].self, forKey: .allowedSOPClasses) ?? [],
            tls: try c.decodeIfPresent(TLSDTO.self, forKey: .tls)?.settings,
            storage: try c.decodeIfPresent(StorageDTO.self, forKey: .storage)?.target ?? StorageTarget(),
            limits: try c.decodeIfPresent(LimitsDTO.self, forKey: .limits)?.limits ?? ListenerLimits(),
            // Absent: the default quiet period; an explicit null: study events off.
            studyStableSeconds: c.contains(.studyStableSeconds)
                ? try c.decodeIfPresent(Int.self, forKey: .studyStableSeconds) : ListenerConfig.defaultStudyStableSeconds,
            state: try c.decodeIfPresent(ListenerState.self, forKey: .state) ?? .stopped,
            error: try c.decodeIfPresent(String.self, forKey: .error),
            createdAt: try c.decodeIfPresent(Date.self, forKey: .createdAt) ?? Date(),
            updatedAt: try c.decodeIfPresent(Date.self, forKey: .updatedAt) ?? Date())
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let l = listener
        try c.encode(l.id.uuidString.lowercased(), forKey: .id)
        try c.encode(l.name, forKey: .name)
        try c.encode(l.enabled, forKey: .enabled)
        try c.encode(l.port, forKey: .port)
        try c.encode(l.bindAddress, forKey: .bindAddress)
        try c.encode(l.aeTitle, forKey: .aeTitle)
        try c.encode(l.requireCalledAETitle, forKey: .requireCalledAETitle)
        try c.encode(l.allowedCallingAETitles, forKey: .allowedCallingAETitles)
        try c.encode(l.allowedPeers, forKey: .allowedPeers)
        try c.encode(l.allowedSOPClasses, forKey: .allowedSOPClasses)
        try c.encode(l.tls.map(TLSDTO.init), forKey: .tls)
        try c.encode(StorageDTO(target: l.storage), forKey: .storage)
        try c.encode(LimitsDTO(limits: l.limits), forKey: .limits)
        try c.encode(l.studyStableSeconds, forKey: .studyStableSeconds)  // explicit null when off
        try c.encode(l.state, forKey: .state)
        try c.encode(l.error, forKey: .error)
        try c.encode(l.createdAt, forKey: .createdAt)
        try c.encode(l.updatedAt, forKey: .updatedAt)
    }
}

/// `ListenerTLS` in openapi.yaml.
struct TLSDTO: Codable {
    var settings: TLSSettings

    init(settings: TLSSettings) { self.settings = settings }

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

/// `Storage` in openapi.yaml.
struct StorageDTO: Codable {
    var target: StorageTarget

    init(target: StorageTarget) { self.target = target }

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

/// `Limits` in openapi.yaml.
struct LimitsDTO: Codable {
    var limits: ListenerLimits

    init(limits: ListenerLimits) { self.limits = limits }

    enum CodingKeys: String, CodingKey {
        case maxAssociations, maxPDUSize, dimseTimeoutSeconds, networkTimeoutSeconds, cstoreDelayMs, maxInflatedBytes, maxInflationRatio
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
