/// A DIMSE-level protocol violation (PS3.7 §6.3, §9.3, PS3.8 Annex E): malformed command set, PDV fragments in
/// an order the standard forbids, a missing required field. The association is aborted (A-ABORT, service-user) —
/// or, for a missing field in a well-formed command, the service answers with a status (see `DIMSEStatus`).
/// The description carries no element values (they may hold PHI).
public struct DIMSEError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case malformedCommand, commandTooLarge, missingField
            case dataBeforeCommand, contextChangedMidMessage, unexpectedDataSet, commandWhileAwaitingDataSet
        }

        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        public static let malformedCommand = Code(.malformedCommand)
        public static let commandTooLarge = Code(.commandTooLarge)
        /// A well-formed command lacks a field its message type requires.
        public static let missingField = Code(.missingField)
        /// A data set fragment arrived while no command announcing a data set was complete.
        public static let dataBeforeCommand = Code(.dataBeforeCommand)
        /// A fragment names another presentation context than the message it continues.
        public static let contextChangedMidMessage = Code(.contextChangedMidMessage)
        /// A data set fragment follows a command whose Command Data Set Type is 0x0101 (none).
        public static let unexpectedDataSet = Code(.unexpectedDataSet)
        /// A command fragment arrived while the data set of the previous command was incomplete.
        public static let commandWhileAwaitingDataSet = Code(.commandWhileAwaitingDataSet)

        public var description: String {
            switch base {
            case .malformedCommand: "malformed-command"
            case .commandTooLarge: "command-too-large"
            case .missingField: "missing-field"
            case .dataBeforeCommand: "data-before-command"
            case .contextChangedMidMessage: "context-changed-mid-message"
            case .unexpectedDataSet: "unexpected-data-set"
            case .commandWhileAwaitingDataSet: "command-while-awaiting-data-set"
            }
        }
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "DIMSEError.\(code): \(context)" }
}
