/// A PDU that cannot be accepted as received (PS3.8 §9.3), or one we cannot encode.
///
/// Each error maps to the A-ABORT that answers it (`abort`: source service-provider, PS3.8 §9.3.8 reasons),
/// so the caller never has to invent one. The description names the PDU and item types only, never values.
public struct PDUError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case unrecognizedPDUType, pduTooLarge, invalidLength, unrecognizedItem, unexpectedItem, invalidValue
            case unexpectedPDU, valueTooLongToEncode
        }

        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// The first byte of the PDU is not one of the seven PDU types.
        public static let unrecognizedPDUType = Code(.unrecognizedPDUType)
        /// The PDU length is above the bound in force (before negotiation, or our advertised maximum after).
        public static let pduTooLarge = Code(.pduTooLarge)
        /// A length field disagrees with its parent (item longer than the PDU, PDV shorter than its header, …).
        public static let invalidLength = Code(.invalidLength)
        /// An item or sub-item type that is not allowed where it appears.
        public static let unrecognizedItem = Code(.unrecognizedItem)
        /// An item that is allowed but appears more often than the standard permits.
        public static let unexpectedItem = Code(.unexpectedItem)
        /// A field holds a value the standard does not allow.
        public static let invalidValue = Code(.invalidValue)
        /// A well-formed PDU that is not allowed in the current association state (state machine, Evt19-like).
        public static let unexpectedPDU = Code(.unexpectedPDU)
        /// Outgoing only: a value does not fit its length field.
        public static let valueTooLongToEncode = Code(.valueTooLongToEncode)

        public var description: String {
            switch base {
            case .unrecognizedPDUType: "unrecognized-pdu-type"
            case .pduTooLarge: "pdu-too-large"
            case .invalidLength: "invalid-length"
            case .unrecognizedItem: "unrecognized-item"
            case .unexpectedItem: "unexpected-item"
            case .invalidValue: "invalid-value"
            case .unexpectedPDU: "unexpected-pdu"
            case .valueTooLongToEncode: "value-too-long-to-encode"
            }
        }
    }

    public let code: Code
    /// Raw PDU type byte, when known.
    public let pduType: UInt8?
    /// A static, value-free explanation (e.g. "presentation context item length exceeds A-ASSOCIATE-RQ").
    public let context: String

    public init(_ code: Code, pduType: UInt8? = nil, _ context: String) {
        self.code = code
        self.pduType = pduType
        self.context = context
    }

    /// PS3.8 §9.3.8 reason for the A-ABORT (source service-provider) that answers this error.
    public var abortReason: Abort.Reason {
        switch code.base {
        case .unrecognizedPDUType: .unrecognizedPDU
        case .unexpectedPDU: .unexpectedPDU
        case .unrecognizedItem: .unrecognizedPDUParameter
        case .unexpectedItem: .unexpectedPDUParameter
        case .pduTooLarge, .invalidLength, .invalidValue, .valueTooLongToEncode: .invalidPDUParameterValue
        }
    }

    /// The A-ABORT PDU to send before closing.
    public var abort: Abort { Abort(source: .serviceProvider, reason: abortReason) }

    public var description: String {
        let type = pduType.map { " (PDU type 0x\(String($0, radix: 16)))" } ?? ""
        return "PDUError.\(code)\(type): \(context)"
    }
}
