public import Foundation

/// What the committed row of an instance says about its objects: the listener that holds the SOP Instance
/// UID and the URIs the row names. The sink reads it on every receive, before choosing the slot it writes
/// and again under the instance's lock, so a catalog reads these three columns instead of the whole row. For a
/// spooled row it also says where its spool files are (the listener's subfolder, the keys of the URIs): the
/// forwarder's sweep keeps the files the spooled rows name.
public struct CommittedInstanceObjects: Sendable, Hashable {
    public var listenerID: UUID
    public var objectURI: String
    public var metadataURI: String?

    public init(listenerID: UUID, objectURI: String, metadataURI: String?) {
        self.listenerID = listenerID
        self.objectURI = objectURI
        self.metadataURI = metadataURI
    }

    public init(_ row: InstanceRecord) {
        self.init(listenerID: row.listenerID, objectURI: row.objectURI, metadataURI: row.metadataURI)
    }
}

extension IngestRecorder {
    /// From the whole row, for a recorder without a narrower read.
    public func committedObjects(sopInstanceUID: String) async throws -> CommittedInstanceObjects? {
        try await instance(sopInstanceUID: sopInstanceUID).map(CommittedInstanceObjects.init)
    }
}
