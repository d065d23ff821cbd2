import Domain
import Logging

/// The fields every log line of an association carries (no PHI: ids, AE titles, peer address).
extension AssociationContext {
    var logMetadata: Logger.Metadata {
        ["association": "\(associationID)", "listener": "\(listener.name)", "calling_ae": "\(callingAETitle)", "peer": "\(peerAddress)"]
    }
}
