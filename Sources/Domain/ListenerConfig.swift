public import Foundation

/// A DIMSE listener as the REST contract and the catalog describe it: one port, one AE title, its
/// admission rules, optional TLS, a storage target and limits.
///
/// Decoding fills every absent field with its documented default, so a POST body, a catalog row and a
/// seed environment all end up as the same complete value. Read-only fields (`id`, `state`, `error`,
/// `createdAt`, `updatedAt`) are decoded when present and otherwise left at their defaults.
public struct ListenerConfig: Sendable, Hashable, Codable {
    public var id: UUID
    public var name: String
    public var enabled: Bool
    public var port: Int
    public var bindAddress: String
    public var aeTitle: String
    public var requireCalledAETitle: Bool
    public var allowedCallingAETitles: [String]
    /// CIDR blocks (IPv4 or IPv6, e.g. `10.0.0.0/8`, `::1/128`); empty admits every peer.
    public var allowedPeers: [String]
    /// Storage SOP Class UIDs this listener accepts; empty accepts every Storage SOP class it knows.
    /// Verification (1.2.840.10008.1.1) is always accepted. A proposed storage class outside a non-empty
    /// list gets presentation context result 3 (abstract-syntax-not-supported, PS3.8 §9.3.3.2).
    public var allowedSOPClasses: [String]
    public var tls: TLSSettings?
    public var storage: StorageTarget
    public var limits: ListenerLimits
    /// Seconds without a new instance after which a study is stable and announced to the event sinks;
    /// nil turns study events off for this listener.
    public var studyStableSeconds: Int?
    public var state: ListenerState
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = UUID(),
        name: String,
        enabled: Bool = true,
        port: Int,
        bindAddress: String = "0.0.0.0",
        aeTitle: String = "STORESCP",
        requireCalledAETitle: Bool = false,
        allowedCallingAETitles: [String] = [],
        allowedPeers: [String] = [],
        allowedSOPClasses: [String] = [],
        tls: TLSSettings? = nil,
        storage: StorageTarget = StorageTarget(),
        limits: ListenerLimits = ListenerLimits(),
        studyStableSeconds: Int? = ListenerConfig.defaultStudyStableSeconds,
        state: ListenerState = .stopped,
        error: String? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.enabled = enabled
        self.port = port
        self.bindAddress = bindAddress
        self.aeTitle = aeTitle
        self.requireCalledAETitle = requireCalledAETitle
        self.allowedCallingAETitles = allowedCallingAETitles
        self.allowedPeers = allowedPeers
        self.allowedSOPClasses = allowedSOPClasses
        self.tls = tls
        self.storage = storage
        self.limits = limits
        self.studyStableSeconds = studyStableSeconds
        self.state = state
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, enabled, port, bindAddress, aeTitle, requireCalledAETitle, allowedCallingAETitles
        case allowedPeers, allowedSOPClasses, tls, storage, limits, studyStableSeconds, state, error, createdAt, updatedAt
    }

    /// The quiet period of a listener that does not name one (Orthanc's StableAge default).
    public static let defaultStudyStableSeconds = 60

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try c.decodeIfPresent(UUID.self, forKey: .id) ?? UUID()
        self.name = try c.decode(String.self, forKey: .name)
        self.enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        self.port = try c.decode(Int.self, forKey: .port)
        self.bindAddress = try c.decodeIfPresent(String.self, forKey: .bindAddress) ?? "0.0.0.0"
        self.aeTitle = try c.decodeIfPresent(String.self, forKey: .aeTitle) ?? "STORESCP"
        self.requireCalledAETitle = try c.decodeIfPresent(Bool.self, forKey: .requireCalledAETitle) ?? false
        self.allowedCallingAETitles = try c.decodeIfPresent([String].self, forKey: .allowedCallingAETitles) ?? []
        self.allowedPeers = try c.decodeIfPresent([String].self, forKey: .allowedPeers) ?? []
        self.allowedSOPClasses = try c.decodeIfPresent([String].self, forKey: .allowedSOPClasses) ?? []
        self.tls = try c.decodeIfPresent(TLSSettings.self, forKey: .tls)
        self.storage = try c.decodeIfPresent(StorageTarget.self, forKey: .storage) ?? StorageTarget()
        self.limits = try c.decodeIfPresent(ListenerLimits.self, forKey: .limits) ?? ListenerLimits()
        // Absent: the default; an explicit null: events off.
        self.studyStableSeconds = c.contains(.studyStableSeconds)
            ? try c.decodeIfPresent(Int.self, forKey: .studyStableSeconds) : ListenerConfig.defaultStudyStableSeconds
        self.state = try c.decodeIfPresent(ListenerState.self, forKey: .state) ?? .stopped
        self.error = try c.decodeIfPresent(String.self, forKey: .error)
        self.createdAt = try c.decodeIfPresent(Date.self, forKey: .createdAt) ?? Date()
        self.updatedAt = try c.decodeIfPresent(Date.self, forKey: .updatedAt) ?? Date()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(port, forKey: .port)
        try c.encode(bindAddress, forKey: .bindAddress)
        try c.encode(aeTitle, forKey: .aeTitle)
        try c.encode(requireCalledAETitle, forKey: .requireCalledAETitle)
        try c.encode(allowedCallingAETitles, forKey: .allowedCallingAETitles)
        try c.encode(allowedPeers, forKey: .allowedPeers)
        try c.encode(allowedSOPClasses, forKey: .allowedSOPClasses)
        try c.encode(tls, forKey: .tls)  // explicit null when absent
        try c.encode(storage, forKey: .storage)
        try c.encode(limits, forKey: .limits)
        try c.encode(studyStableSeconds, forKey: .studyStableSeconds)  // explicit null when off
        try c.encode(state, forKey: .state)
        try c.encode(error, forKey: .error)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }

    /// The fields whose change requires the socket to be rebound (as opposed to rules that only
    /// apply to new associations).
    public var bindingIdentity: BindingIdentity {
        BindingIdentity(port: port, bindAddress: bindAddress, tls: tls)
    }

    public struct BindingIdentity: Sendable, Hashable {
        public var port: Int
        public var bindAddress: String
        public var tls: TLSSettings?
    }
}

public enum ListenerState: String, Sendable, Hashable, Codable {
    case running
    case stopped
    case failed
}

/// Native TLS for one listener (PS3.15 Annex B): certificate and key in PEM files, optional client CA
/// for mutual TLS.
public struct TLSSettings: Sendable, Hashable, Codable {
    public var certificateFile: String
    public var privateKeyFile: String
    public var clientCAFile: String?
    public var requireClientCertificate: Bool

    public init(certificateFile: String, privateKeyFile: String, clientCAFile: String? = nil, requireClientCertificate: Bool = false) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
        self.requireClientCertificate = requireClientCertificate
    }

    enum CodingKeys: String, CodingKey { case certificateFile, privateKeyFile, clientCAFile, requireClientCertificate }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.certificateFile = try c.decode(String.self, forKey: .certificateFile)
        self.privateKeyFile = try c.decode(String.self, forKey: .privateKeyFile)
        self.clientCAFile = try c.decodeIfPresent(String.self, forKey: .clientCAFile)
        self.requireClientCertificate = try c.decodeIfPresent(Bool.self, forKey: .requireClientCertificate) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(certificateFile, forKey: .certificateFile)
        try c.encode(privateKeyFile, forKey: .privateKeyFile)
        try c.encode(clientCAFile, forKey: .clientCAFile)
        try c.encode(requireClientCertificate, forKey: .requireClientCertificate)
    }
}

public enum StorageBackend: String, Sendable, Hashable, Codable {
    case s3
    case filesystem
}

public enum ServerSideEncryption: String, Sendable, Hashable, Codable {
    case aes256 = "AES256"
    case kms = "aws:kms"
}

/// Where and how one listener stores what it receives. The defaults reproduce the seed's S3 layout:
/// `<dicomPrefix>/[<StudyInstanceUID>/]<SOPInstanceUID>.dcm` and the matching `.json` metadata.
public struct StorageTarget: Sendable, Hashable, Codable {
    public var backend: StorageBackend
    public var bucket: String?
    public var region: String?
    public var endpoint: String?
    /// Filesystem root (backend `filesystem`).
    public var path: String?
    public var dicomPrefix: String
    public var metadataPrefix: String
    public var addStudyUIDPrefix: Bool
    public var keyTemplate: String?
    public var gzip: Bool
    /// zlib level 1...9 used when `gzip` is on.
    public var gzipLevel: Int
    public var createMetadata: Bool
    public var storageClass: String?
    public var serverSideEncryption: ServerSideEncryption?
    public var kmsKeyID: String?
    /// When a C-STORE is answered: after the target (`stored`) or after the local spool (`spooled`).
    public var ackMode: AckMode

    public init(
        backend: StorageBackend = .filesystem,
        bucket: String? = nil,
        region: String? = nil,
        endpoint: String? = nil,
        path: String? = nil,
        dicomPrefix: String = "DICOM",
        metadataPrefix: String = "METADATA",
        addStudyUIDPrefix: Bool = false,
        keyTemplate: String? = nil,
        gzip: Bool = true,
        gzipLevel: Int = StorageTarget.defaultGzipLevel,
        createMetadata: Bool = true,
        storageClass: String? = nil,
        serverSideEncryption: ServerSideEncryption? = nil,
        kmsKeyID: String? = nil,
        ackMode: AckMode = .stored
    ) {
        self.backend = backend
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint
        self.path = path
        self.dicomPrefix = dicomPrefix
        self.metadataPrefix = metadataPrefix
        self.addStudyUIDPrefix = addStudyUIDPrefix
        self.keyTemplate = keyTemplate
        self.gzip = gzip
        self.gzipLevel = gzipLevel
        self.createMetadata = createMetadata
        self.storageClass = storageClass
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyID = kmsKeyID
        self.ackMode = ackMode
    }

    public static let defaultGzipLevel = 1

    enum CodingKeys: String, CodingKey {
        case backend, bucket, region, endpoint, path, dicomPrefix, metadataPrefix, addStudyUIDPrefix
        case keyTemplate, gzip, gzipLevel, createMetadata, storageClass, serverSideEncryption, kmsKeyID = "kmsKeyId"
        case ackMode
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.backend = try c.decodeIfPresent(StorageBackend.self, forKey: .backend) ?? .filesystem
        self.bucket = try c.decodeIfPresent(String.self, forKey: .bucket)
        self.region = try c.decodeIfPresent(String.self, forKey: .region)
        self.endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
        self.path = try c.decodeIfPresent(String.self, forKey: .path)
        self.dicomPrefix = try c.decodeIfPresent(String.self, forKey: .dicomPrefix) ?? "DICOM"
        self.metadataPrefix = try c.decodeIfPresent(String.self, forKey: .metadataPrefix) ?? "METADATA"
        self.addStudyUIDPrefix = try c.decodeIfPresent(Bool.self, forKey: .addStudyUIDPrefix) ?? false
        self.keyTemplate = try c.decodeIfPresent(String.self, forKey: .keyTemplate)
        self.gzip = try c.decodeIfPresent(Bool.self, forKey: .gzip) ?? true
        self.gzipLevel = try c.decodeIfPresent(Int.self, forKey: .gzipLevel) ?? StorageTarget.defaultGzipLevel
        self.createMetadata = try c.decodeIfPresent(Bool.self, forKey: .createMetadata) ?? true
        self.storageClass = try c.decodeIfPresent(String.self, forKey: .storageClass)
        self.serverSideEncryption = try c.decodeIfPresent(ServerSideEncryption.self, forKey: .serverSideEncryption)
        self.kmsKeyID = try c.decodeIfPresent(String.self, forKey: .kmsKeyID)
        self.ackMode = try c.decodeIfPresent(AckMode.self, forKey: .ackMode) ?? .stored
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(bucket, forKey: .bucket)
        try c.encode(region, forKey: .region)
        try c.encode(endpoint, forKey: .endpoint)
        try c.encode(path, forKey: .path)
        try c.encode(dicomPrefix, forKey: .dicomPrefix)
        try c.encode(metadataPrefix, forKey: .metadataPrefix)
        try c.encode(addStudyUIDPrefix, forKey: .addStudyUIDPrefix)
        try c.encode(keyTemplate, forKey: .keyTemplate)
        try c.encode(gzip, forKey: .gzip)
        try c.encode(gzipLevel, forKey: .gzipLevel)
        try c.encode(createMetadata, forKey: .createMetadata)
        try c.encode(storageClass, forKey: .storageClass)
        try c.encode(serverSideEncryption, forKey: .serverSideEncryption)
        try c.encode(kmsKeyID, forKey: .kmsKeyID)
        try c.encode(ackMode, forKey: .ackMode)
    }
}

/// Per-listener limits. `maxPDUSize` 0 means "no limit advertised" (PS3.8 §D.1); we still cap what
/// we accept at `ListenerLimits.hardMaximumPDUSize`.
///
/// `maxInflatedBytes` and `maxInflationRatio` bound the work a Deflated Explicit VR Little Endian data set
/// (PS3.5 §A.5) may cause: the Part10 object keeps the data set as sent (compressed), only the metadata
/// extraction inflates it, and it stops — answering C000 with an Error Comment — once the output passes
/// `maxInflatedBytes`, or passes 16 MiB and `maxInflationRatio` bytes per compressed byte.
public struct ListenerLimits: Sendable, Hashable, Codable {
    public var maxAssociations: Int
    public var maxPDUSize: Int
    public var dimseTimeoutSeconds: Int
    public var networkTimeoutSeconds: Int
    public var cstoreDelayMs: Int
    public var maxInflatedBytes: Int
    public var maxInflationRatio: Int

    public static let hardMaximumPDUSize = 16 * 1024 * 1024
    /// 4 GiB: a defined-length value is at most 2^32 - 2 bytes (PS3.5 §7.1.1), so any single-frame native
    /// image inflates within it.
    public static let defaultMaxInflatedBytes = 4 << 30
    /// Clinical images deflate about 2-20:1 and text-heavy headers rarely past 50:1; a deflate bomb sits
    /// near deflate's maximum of 1032:1. 200 leaves real data a wide margin and stops a bomb early.
    public static let defaultMaxInflationRatio = 200

    public init(maxAssociations: Int = 20, maxPDUSize: Int = 0, dimseTimeoutSeconds: Int = 30, networkTimeoutSeconds: Int = 60, cstoreDelayMs: Int = 0,
                maxInflatedBytes: Int = ListenerLimits.defaultMaxInflatedBytes, maxInflationRatio: Int = ListenerLimits.defaultMaxInflationRatio) {
        self.maxAssociations = maxAssociations
        self.maxPDUSize = maxPDUSize
        self.dimseTimeoutSeconds = dimseTimeoutSeconds
        self.networkTimeoutSeconds = networkTimeoutSeconds
        self.cstoreDelayMs = cstoreDelayMs
        self.maxInflatedBytes = maxInflatedBytes
        self.maxInflationRatio = maxInflationRatio
    }

    enum CodingKeys: String, CodingKey {
        case maxAssociations, maxPDUSize, dimseTimeoutSeconds, networkTimeoutSeconds, cstoreDelayMs, maxInflatedBytes, maxInflationRatio
    }

    /// Absent members (rows stored before a member existed included) take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.maxAssociations = try c.decodeIfPresent(Int.self, forKey: .maxAssociations) ?? 20
        self.maxPDUSize = try c.decodeIfPresent(Int.self, forKey: .maxPDUSize) ?? 0
        self.dimseTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .dimseTimeoutSeconds) ?? 30
        self.networkTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .networkTimeoutSeconds) ?? 60
        self.cstoreDelayMs = try c.decodeIfPresent(Int.self, forKey: .cstoreDelayMs) ?? 0
        self.maxInflatedBytes = try c.decodeIfPresent(Int.self, forKey: .maxInflatedBytes) ?? Self.defaultMaxInflatedBytes
        self.maxInflationRatio = try c.decodeIfPresent(Int.self, forKey: .maxInflationRatio) ?? Self.defaultMaxInflationRatio
    }
}
