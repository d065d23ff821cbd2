public import Foundation

/// One stored instance, as the catalog keeps it (one row per SOP Instance UID). A repeat receive of the
/// same UID updates the row: `receiveCount` grows, `lastReceivedAt` moves, `receivedAt` stays the first.
public struct InstanceRecord: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case sopInstanceUID, sopClassUID, seriesInstanceUID, studyInstanceUID, instanceNumber, transferSyntaxUID, sizeBytes, storedBytes, objectURI = "objectUri", metadataURI = "metadataUri", sha256, listenerID = "listenerId", associationID = "associationId", callingAETitle, calledAETitle, peerAddress, receivedAt, lastReceivedAt, receiveCount, patientID = "patientId", patientName, patientBirthDate, patientSex, studyDate, studyTime, studyDescription, accessionNumber, seriesNumber, seriesDescription, modality, numberOfFrames, storageState, storedAt, spoolID = "spoolId" }

    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var instanceNumber: Int?
    public var transferSyntaxUID: String
    /// Size of the Part10 object before any Content-Encoding.
    public var sizeBytes: Int64
    /// Bytes at rest (after gzip when it is on).
    public var storedBytes: Int64
    /// `s3://bucket/key` or `file:///absolute/path`.
    public var objectURI: String
    public var metadataURI: String?
    /// Lowercase hex SHA-256 of the Part10 bytes.
    public var sha256: String
    public var listenerID: UUID
    public var associationID: UUID
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var receivedAt: Date
    public var lastReceivedAt: Date
    public var receiveCount: Int

    // Patient / study / series attributes, from the same single pass over the data set.
    public var patientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var patientSex: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var modality: String?
    public var numberOfFrames: Int?

    /// `spooled` until the forwarder has written the objects to the listener's target.
    public var storageState: StorageState
    /// When the objects reached the target; nil while spooled (or lost).
    public var storedAt: Date?
    /// The identity of the spool holding the files of a spooled row (nil once stored, or never spooled).
    public var spoolID: String?

    public init(
        sopInstanceUID: String, sopClassUID: String, seriesInstanceUID: String, studyInstanceUID: String,
        instanceNumber: Int? = nil, transferSyntaxUID: String, sizeBytes: Int64, storedBytes: Int64,
        objectURI: String, metadataURI: String? = nil, sha256: String, listenerID: UUID, associationID: UUID,
        callingAETitle: String, calledAETitle: String, peerAddress: String, receivedAt: Date,
        lastReceivedAt: Date? = nil, receiveCount: Int = 1,
        patientID: String? = nil, patientName: String? = nil, patientBirthDate: String? = nil, patientSex: String? = nil,
        studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil, accessionNumber: String? = nil,
        seriesNumber: Int? = nil, seriesDescription: String? = nil, modality: String? = nil, numberOfFrames: Int? = nil,
        storageState: StorageState = .stored, storedAt: Date? = nil, spoolID: String? = nil
    ) {
        self.sopInstanceUID = sopInstanceUID
        self.sopClassUID = sopClassUID
        self.seriesInstanceUID = seriesInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.instanceNumber = instanceNumber
        self.transferSyntaxUID = transferSyntaxUID
        self.sizeBytes = sizeBytes
        self.storedBytes = storedBytes
        self.objectURI = objectURI
        self.metadataURI = metadataURI
        self.sha256 = sha256
        self.listenerID = listenerID
        self.associationID = associationID
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.receivedAt = receivedAt
        self.lastReceivedAt = lastReceivedAt ?? receivedAt
        self.receiveCount = receiveCount
        self.patientID = patientID
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.patientSex = patientSex
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.modality = modality
        self.numberOfFrames = numberOfFrames
        self.storageState = storageState
        self.storedAt = storedAt
        self.spoolID = spoolID
    }
}

public enum AssociationOutcome: String, Sendable, Hashable, Codable {
    /// Accepted and still open.
    case accepted
    case rejected
    case aborted
    case released
}

/// One association attempt, accepted or not.
public struct AssociationRecord: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case id, listenerID = "listenerId", callingAETitle, calledAETitle, peerAddress, startedAt, endedAt, outcome, rejectReason, instancesReceived, instancesFailed, bytesReceived, attempts }

    public var id: UUID
    public var listenerID: UUID
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: AssociationOutcome
    public var rejectReason: String?
    public var instancesReceived: Int
    public var instancesFailed: Int
    public var bytesReceived: Int64
    /// Connection attempts this row stands for: refusals of one peer for one reason are coalesced into
    /// one row per interval (see the listener's rejection log); 1 for every other association.
    public var attempts: Int

    public init(
        id: UUID = UUID(), listenerID: UUID, callingAETitle: String, calledAETitle: String, peerAddress: String,
        startedAt: Date = Date(), endedAt: Date? = nil, outcome: AssociationOutcome = .accepted, rejectReason: String? = nil,
        instancesReceived: Int = 0, instancesFailed: Int = 0, bytesReceived: Int64 = 0, attempts: Int = 1
    ) {
        self.id = id
        self.listenerID = listenerID
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.rejectReason = rejectReason
        self.instancesReceived = instancesReceived
        self.instancesFailed = instancesFailed
        self.bytesReceived = bytesReceived
        self.attempts = attempts
    }
}

/// A study as dashboards see it: the study attributes plus aggregates over its instances.
public struct StudySummary: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case studyInstanceUID, patientID = "patientId", patientName, patientBirthDate, studyDate, studyTime, studyDescription, accessionNumber, modalities, seriesCount, instanceCount, totalBytes, firstReceivedAt, lastReceivedAt }

    public var studyInstanceUID: String
    public var patientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var modalities: [String]
    public var seriesCount: Int
    public var instanceCount: Int
    public var totalBytes: Int64
    public var firstReceivedAt: Date
    public var lastReceivedAt: Date

    public init(
        studyInstanceUID: String, patientID: String? = nil, patientName: String? = nil, patientBirthDate: String? = nil,
        studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil, accessionNumber: String? = nil,
        modalities: [String] = [], seriesCount: Int = 0, instanceCount: Int = 0, totalBytes: Int64 = 0,
        firstReceivedAt: Date, lastReceivedAt: Date
    ) {
        self.studyInstanceUID = studyInstanceUID
        self.patientID = patientID
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.modalities = modalities
        self.seriesCount = seriesCount
        self.instanceCount = instanceCount
        self.totalBytes = totalBytes
        self.firstReceivedAt = firstReceivedAt
        self.lastReceivedAt = lastReceivedAt
    }
}

public struct SeriesSummary: Sendable, Hashable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var modality: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var instanceCount: Int
    public var totalBytes: Int64

    public init(seriesInstanceUID: String, studyInstanceUID: String, modality: String? = nil, seriesNumber: Int? = nil,
                seriesDescription: String? = nil, instanceCount: Int = 0, totalBytes: Int64 = 0) {
        self.seriesInstanceUID = seriesInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.modality = modality
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.instanceCount = instanceCount
        self.totalBytes = totalBytes
    }
}

public struct CatalogStats: Sendable, Hashable, Codable {
    public struct ByListener: Sendable, Hashable, Codable {
        enum CodingKeys: String, CodingKey { case listenerID = "listenerId", instances, bytes }

        public var listenerID: UUID
        public var instances: Int
        public var bytes: Int64
        public init(listenerID: UUID, instances: Int, bytes: Int64) {
            self.listenerID = listenerID
            self.instances = instances
            self.bytes = bytes
        }
    }
    public struct ByDay: Sendable, Hashable, Codable {
        /// `YYYY-MM-DD` (UTC) of `receivedAt`.
        public var date: String
        public var instances: Int
        public var bytes: Int64
        public init(date: String, instances: Int, bytes: Int64) {
            self.date = date
            self.instances = instances
            self.bytes = bytes
        }
    }
    public var instances: Int
    public var studies: Int
    public var series: Int
    /// Sum of `sizeBytes` (Part10 size).
    public var bytes: Int64
    public var byListener: [ByListener]
    public var byDay: [ByDay]
    /// Instances acknowledged from the spool and not yet in their target (and those found lost).
    public var spool: SpoolFigures

    public init(instances: Int, studies: Int, series: Int, bytes: Int64, byListener: [ByListener], byDay: [ByDay],
                spool: SpoolFigures = .empty) {
        self.instances = instances
        self.studies = studies
        self.series = series
        self.bytes = bytes
        self.byListener = byListener
        self.byDay = byDay
        self.spool = spool
    }
}

/// Filters of `GET /v1/studies`. Every field is optional; set fields are ANDed.
public struct StudyFilter: Sendable, Hashable {
    public var patientID: String?
    /// May contain `*` wildcards (DICOM-style), matched case-insensitively.
    public var patientName: String?
    public var accessionNumber: String?
    /// `YYYYMMDD` ... `YYYYMMDD`, both inclusive; `from == to` for one day.
    public var studyDateFrom: String?
    public var studyDateTo: String?
    public var modality: String?
    public var listenerID: UUID?
    public var callingAETitle: String?
    public var receivedFrom: Date?
    public var receivedTo: Date?

    public init(patientID: String? = nil, patientName: String? = nil, accessionNumber: String? = nil,
                studyDateFrom: String? = nil, studyDateTo: String? = nil, modality: String? = nil, listenerID: UUID? = nil,
                callingAETitle: String? = nil, receivedFrom: Date? = nil, receivedTo: Date? = nil) {
        self.patientID = patientID
        self.patientName = patientName
        self.accessionNumber = accessionNumber
        self.studyDateFrom = studyDateFrom
        self.studyDateTo = studyDateTo
        self.modality = modality
        self.listenerID = listenerID
        self.callingAETitle = callingAETitle
        self.receivedFrom = receivedFrom
        self.receivedTo = receivedTo
    }
}

/// Keyset pagination: `cursor` is the opaque `nextCursor` of the previous page (nil for the first).
public struct PageRequest: Sendable, Hashable {
    public var limit: Int
    public var cursor: String?

    public static let defaultLimit = 100
    public static let maximumLimit = 1000

    public init(limit: Int = PageRequest.defaultLimit, cursor: String? = nil) {
        self.limit = limit
        self.cursor = cursor
    }
}

public struct Page<Item: Sendable & Hashable & Codable>: Sendable, Hashable, Codable {
    public var items: [Item]
    /// nil on the last page.
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey { case items, nextCursor }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)  // explicit null on the last page
    }
}

/// What the catalog accepts in an instance row, the same on PostgreSQL and SQLite. The Part10 object and
/// the JSON metadata always keep the values exactly as sent; only the row is normalised, so a value the
/// databases cannot hold (PostgreSQL refuses NUL in `text`, its B-tree entries are limited to about
/// 2.7 kB) never turns an instance into a "poison pill" that every retry fails on again.
///
/// Rules, applied in `InstanceRecord.catalogNormalised()`:
/// - Descriptive text (patient, study and series attributes, AE titles, peer address): control
///   characters (C0 U+0000–U+001F, DEL, C1 U+0080–U+009F) are removed, surrounding spaces trimmed,
///   and the value is cut to the maximum length of its VR (PS3.5 Table 6.2-1, in characters): LO 64,
///   SH 16, CS 16, AE 16, DA 8, TM 16, PN 194 (three component groups of 64 plus two `=`). A value that
///   ends up empty is stored as absent.
/// - Identifiers (SOP Instance/Class, Study, Series, Transfer Syntax UIDs): never altered, since a
///   changed identifier would merge or split instances. One with a control character, or longer than
///   64 bytes (PS3.5 §9.1), is refused with `CatalogValueError`, a permanent error.
public enum CatalogValueRules {
    public static let uidMaximumBytes = 64
    public static let longStringCharacters = 64        // LO
    public static let shortStringCharacters = 16       // SH
    public static let codeStringCharacters = 16        // CS
    public static let aeTitleCharacters = 16           // AE
    public static let dateCharacters = 8               // DA
    public static let timeCharacters = 16              // TM
    public static let personNameCharacters = 194       // PN: 3 × 64 + 2 separators
    /// `[IPv6]:port` is at most 47 characters; room for a zone index.
    public static let peerAddressCharacters = 64

    /// `value` without control characters and surrounding spaces, cut to `maximum` characters; nil when empty.
    public static func text(_ value: String?, maximum: Int) -> String? {
        guard let value else { return nil }
        // The usual value has no control character, no surrounding space and fits: it is kept as it is,
        // without rebuilding it scalar by scalar or counting its Characters.
        var cleaned = value
        if value.unicodeScalars.contains(where: isControl) {
            var scalars = String.UnicodeScalarView()
            for scalar in value.unicodeScalars where !isControl(scalar) { scalars.append(scalar) }
            cleaned = String(scalars)
        }
        cleaned = trimmingWhitespace(cleaned)
        // A Character is at least one UTF-8 byte, so a value of at most `maximum` bytes fits.
        if cleaned.utf8.count > maximum && cleaned.count > maximum {
            cleaned = String(cleaned.prefix(maximum)).trimmingCharacters(in: .whitespaces)
        }
        return cleaned.isEmpty ? nil : cleaned
    }

    /// `text.trimmingCharacters(in: .whitespaces)`, skipped when neither end is whitespace.
    private static func trimmingWhitespace(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return text }
        guard isWhitespace(first) || isWhitespace(last) else { return text }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// Membership in `CharacterSet.whitespaces` (General Category Zs and tab); in ASCII that is space and tab.
    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar == " " || scalar == "\t" }
        return CharacterSet.whitespaces.contains(scalar)
    }

    /// Throws when `value` cannot be an identifier row key (see the type's rules).
    public static func checkUID(_ value: String, field: String) throws {
        guard !value.isEmpty, value.utf8.count <= uidMaximumBytes, !value.unicodeScalars.contains(where: isControl) else {
            throw CatalogValueError(field: field)
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value <= 0x9F)
    }
}

/// An identifier the catalog refuses for good (see `CatalogValueRules`). `field` names it; the value
/// itself is never quoted (it may be PHI or hostile).
public struct CatalogValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public init(field: String) { self.field = field }
    public var description: String { "\(field) is empty, longer than 64 bytes or contains a control character" }
}

extension InstanceRecord {
    /// This row as the catalog stores it (`CatalogValueRules`); throws `CatalogValueError` for an identifier
    /// no retry can store.
    public func catalogNormalised() throws -> InstanceRecord {
        typealias R = CatalogValueRules
        try R.checkUID(sopInstanceUID, field: "sopInstanceUID")
        try R.checkUID(sopClassUID, field: "sopClassUID")
        try R.checkUID(studyInstanceUID, field: "studyInstanceUID")
        try R.checkUID(seriesInstanceUID, field: "seriesInstanceUID")
        try R.checkUID(transferSyntaxUID, field: "transferSyntaxUID")
        var r = self
        r.callingAETitle = R.text(callingAETitle, maximum: R.aeTitleCharacters) ?? ""
        r.calledAETitle = R.text(calledAETitle, maximum: R.aeTitleCharacters) ?? ""
        r.peerAddress = R.text(peerAddress, maximum: R.peerAddressCharacters) ?? ""
        r.patientID = R.text(patientID, maximum: R.longStringCharacters)
        r.patientName = R.text(patientName, maximum: R.personNameCharacters)
        r.patientBirthDate = R.text(patientBirthDate, maximum: R.dateCharacters)
        r.patientSex = R.text(patientSex, maximum: R.codeStringCharacters)
        r.studyDate = R.text(studyDate, maximum: R.dateCharacters)
        r.studyTime = R.text(studyTime, maximum: R.timeCharacters)
        r.studyDescription = R.text(studyDescription, maximum: R.longStringCharacters)
        r.accessionNumber = R.text(accessionNumber, maximum: R.shortStringCharacters)
        r.seriesDescription = R.text(seriesDescription, maximum: R.longStringCharacters)
        r.modality = R.text(modality, maximum: R.codeStringCharacters)
        return r
    }
}
