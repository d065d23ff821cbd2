/// Command Field (0000,0100) values (PS3.7 §E.1, Table E.1-1). Responses are the request value with bit 15 set.
public struct CommandField: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let cStoreRequest = CommandField(rawValue: 0x0001)
    public static let cStoreResponse = CommandField(rawValue: 0x8001)
    public static let cGetRequest = CommandField(rawValue: 0x0010)
    public static let cGetResponse = CommandField(rawValue: 0x8010)
    public static let cFindRequest = CommandField(rawValue: 0x0020)
    public static let cFindResponse = CommandField(rawValue: 0x8020)
    public static let cMoveRequest = CommandField(rawValue: 0x0021)
    public static let cMoveResponse = CommandField(rawValue: 0x8021)
    public static let cEchoRequest = CommandField(rawValue: 0x0030)
    public static let cEchoResponse = CommandField(rawValue: 0x8030)
    public static let nEventReportRequest = CommandField(rawValue: 0x0100)
    public static let nGetRequest = CommandField(rawValue: 0x0110)
    public static let nSetRequest = CommandField(rawValue: 0x0120)
    public static let nActionRequest = CommandField(rawValue: 0x0130)
    public static let nCreateRequest = CommandField(rawValue: 0x0140)
    public static let nDeleteRequest = CommandField(rawValue: 0x0150)
    public static let cCancelRequest = CommandField(rawValue: 0x0FFF)

    /// Requests defined by PS3.7 (C-CANCEL has no response).
    public static let knownRequests: Set<CommandField> = [
        .cStoreRequest, .cGetRequest, .cFindRequest, .cMoveRequest, .cEchoRequest, .nEventReportRequest,
        .nGetRequest, .nSetRequest, .nActionRequest, .nCreateRequest, .nDeleteRequest, .cCancelRequest,
    ]

    public var isResponse: Bool { rawValue & 0x8000 != 0 }

    /// The response command field for a request (bit 15 set).
    public var response: CommandField { CommandField(rawValue: rawValue | 0x8000) }

    public var description: String {
        switch self {
        case .cStoreRequest: "C-STORE-RQ"
        case .cStoreResponse: "C-STORE-RSP"
        case .cGetRequest: "C-GET-RQ"
        case .cFindRequest: "C-FIND-RQ"
        case .cMoveRequest: "C-MOVE-RQ"
        case .cEchoRequest: "C-ECHO-RQ"
        case .cEchoResponse: "C-ECHO-RSP"
        case .cCancelRequest: "C-CANCEL-RQ"
        default: "command-0x\(String(rawValue, radix: 16, uppercase: true))"
        }
    }
}

/// DIMSE status codes used by Verification and Storage (PS3.7 Annex C, PS3.4 B.2.3).
public enum DIMSEStatus {
    public static let success: UInt16 = 0x0000
    /// Refused: SOP class not supported.
    public static let sopClassNotSupported: UInt16 = 0x0122
    /// Refused: not authorized.
    public static let notAuthorized: UInt16 = 0x0124
    /// Duplicate invocation (message ID already in use).
    public static let duplicateInvocation: UInt16 = 0x0210
    /// Unrecognized operation: the command field is not one this SCP performs on this context.
    public static let unrecognizedOperation: UInt16 = 0x0211
    /// Missing Attribute: a required command element is absent (PS3.7 §C.5).
    public static let missingAttribute: UInt16 = 0x0120
    /// Invalid Object Instance: the SOP Instance UID violates the UID construction rules (PS3.7 §C.5).
    public static let invalidObjectInstance: UInt16 = 0x0117
    /// Mistyped argument.
    public static let mistypedArgument: UInt16 = 0x0212
    /// Refused: out of resources (A7xx family; retryable).
    public static let outOfResources: UInt16 = 0xA700
    /// Error: data set does not match SOP class (A9xx family).
    public static let dataSetDoesNotMatchSOPClass: UInt16 = 0xA900
    /// Error: cannot understand (Cxxx family).
    public static let cannotUnderstand: UInt16 = 0xC000
    /// Warning: coercion of data elements.
    public static let coercionOfDataElements: UInt16 = 0xB000
    /// Warning: data set does not match SOP class.
    public static let dataSetDoesNotMatchSOPClassWarning: UInt16 = 0xB007
    /// Warning: elements discarded.
    public static let elementsDiscarded: UInt16 = 0xB006
}

/// C-ECHO-RQ (PS3.7 §9.3.5.1).
public struct CEchoRequest: Sendable, Hashable {
    public var messageID: UInt16
    public var affectedSOPClassUID: String

    public init(messageID: UInt16, affectedSOPClassUID: String = "1.2.840.10008.1.1") {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
    }

    public init(_ command: CommandSet) throws(DIMSEError) {
        guard command.commandField == CommandField.cEchoRequest.rawValue else {
            throw DIMSEError(.malformedCommand, "not a C-ECHO-RQ")
        }
        guard let messageID = command.messageID else { throw DIMSEError(.missingField, "C-ECHO-RQ without Message ID") }
        self.messageID = messageID
        affectedSOPClassUID = command.uid(CommandSet.Element.affectedSOPClassUID) ?? ""
    }

    public var commandSet: CommandSet {
        var command = CommandSet()
        command.setUID(CommandSet.Element.affectedSOPClassUID, affectedSOPClassUID)
        command.setUInt16(CommandSet.Element.commandField, CommandField.cEchoRequest.rawValue)
        command.setUInt16(CommandSet.Element.messageID, messageID)
        command.setUInt16(CommandSet.Element.commandDataSetType, CommandSet.noDataSet)
        return command
    }
}

/// C-ECHO-RSP (PS3.7 §9.3.5.2).
public struct CEchoResponse: Sendable, Hashable {
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String
    public var status: UInt16

    public init(messageIDBeingRespondedTo: UInt16, affectedSOPClassUID: String = "1.2.840.10008.1.1", status: UInt16 = DIMSEStatus.success) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.status = status
    }

    public init(respondingTo request: CEchoRequest, status: UInt16 = DIMSEStatus.success) {
        self.init(messageIDBeingRespondedTo: request.messageID, affectedSOPClassUID: request.affectedSOPClassUID, status: status)
    }

    public init(_ command: CommandSet) throws(DIMSEError) {
        guard command.commandField == CommandField.cEchoResponse.rawValue else {
            throw DIMSEError(.malformedCommand, "not a C-ECHO-RSP")
        }
        guard let id = command.messageIDBeingRespondedTo, let status = command.status else {
            throw DIMSEError(.missingField, "C-ECHO-RSP without Message ID Being Responded To or Status")
        }
        messageIDBeingRespondedTo = id
        self.status = status
        affectedSOPClassUID = command.uid(CommandSet.Element.affectedSOPClassUID) ?? ""
    }

    public var commandSet: CommandSet {
        var command = CommandSet()
        command.setUID(CommandSet.Element.affectedSOPClassUID, affectedSOPClassUID)
        command.setUInt16(CommandSet.Element.commandField, CommandField.cEchoResponse.rawValue)
        command.setUInt16(CommandSet.Element.messageIDBeingRespondedTo, messageIDBeingRespondedTo)
        command.setUInt16(CommandSet.Element.commandDataSetType, CommandSet.noDataSet)
        command.setUInt16(CommandSet.Element.status, status)
        return command
    }
}

/// C-STORE-RQ (PS3.7 §9.3.1.1). A data set always follows.
public struct CStoreRequest: Sendable, Hashable {
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    /// 0 medium, 1 high, 2 low.
    public var priority: UInt16
    public var moveOriginatorAETitle: String?
    public var moveOriginatorMessageID: UInt16?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String, priority: UInt16 = 0,
                moveOriginatorAETitle: String? = nil, moveOriginatorMessageID: UInt16? = nil) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.priority = priority
        self.moveOriginatorAETitle = moveOriginatorAETitle
        self.moveOriginatorMessageID = moveOriginatorMessageID
    }

    public init(_ command: CommandSet) throws(DIMSEError) {
        guard command.commandField == CommandField.cStoreRequest.rawValue else {
            throw DIMSEError(.malformedCommand, "not a C-STORE-RQ")
        }
        guard let messageID = command.messageID else { throw DIMSEError(.missingField, "C-STORE-RQ without Message ID") }
        guard let sopClass = command.uid(CommandSet.Element.affectedSOPClassUID), !sopClass.isEmpty else {
            throw DIMSEError(.missingField, "C-STORE-RQ without Affected SOP Class UID")
        }
        guard let sopInstance = command.uid(CommandSet.Element.affectedSOPInstanceUID), !sopInstance.isEmpty else {
            throw DIMSEError(.missingField, "C-STORE-RQ without Affected SOP Instance UID")
        }
        self.messageID = messageID
        affectedSOPClassUID = sopClass
        affectedSOPInstanceUID = sopInstance
        priority = command.uint16(CommandSet.Element.priority) ?? 0
        let originator = command.text(CommandSet.Element.moveOriginatorApplicationEntityTitle)
        moveOriginatorAETitle = originator?.isEmpty == false ? originator : nil
        moveOriginatorMessageID = command.uint16(CommandSet.Element.moveOriginatorMessageID)
    }

    public var commandSet: CommandSet {
        var command = CommandSet()
        command.setUID(CommandSet.Element.affectedSOPClassUID, affectedSOPClassUID)
        command.setUInt16(CommandSet.Element.commandField, CommandField.cStoreRequest.rawValue)
        command.setUInt16(CommandSet.Element.messageID, messageID)
        command.setUInt16(CommandSet.Element.priority, priority)
        command.setUInt16(CommandSet.Element.commandDataSetType, 0x0001)
        command.setUID(CommandSet.Element.affectedSOPInstanceUID, affectedSOPInstanceUID)
        if let moveOriginatorAETitle { command.setText(CommandSet.Element.moveOriginatorApplicationEntityTitle, moveOriginatorAETitle) }
        if let moveOriginatorMessageID { command.setUInt16(CommandSet.Element.moveOriginatorMessageID, moveOriginatorMessageID) }
        return command
    }
}

/// C-STORE-RSP (PS3.7 §9.3.1.2).
public struct CStoreResponse: Sendable, Hashable {
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    public var status: UInt16
    /// Error Comment (0000,0902), LO: at most 64 characters, never PHI.
    public var errorComment: String?

    public init(messageIDBeingRespondedTo: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                status: UInt16, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.errorComment = errorComment
    }

    public init(respondingTo request: CStoreRequest, status: UInt16, errorComment: String? = nil) {
        self.init(messageIDBeingRespondedTo: request.messageID, affectedSOPClassUID: request.affectedSOPClassUID,
                  affectedSOPInstanceUID: request.affectedSOPInstanceUID, status: status, errorComment: errorComment)
    }

    public init(_ command: CommandSet) throws(DIMSEError) {
        guard command.commandField == CommandField.cStoreResponse.rawValue else {
            throw DIMSEError(.malformedCommand, "not a C-STORE-RSP")
        }
        guard let id = command.messageIDBeingRespondedTo, let status = command.status else {
            throw DIMSEError(.missingField, "C-STORE-RSP without Message ID Being Responded To or Status")
        }
        messageIDBeingRespondedTo = id
        self.status = status
        affectedSOPClassUID = command.uid(CommandSet.Element.affectedSOPClassUID) ?? ""
        affectedSOPInstanceUID = command.uid(CommandSet.Element.affectedSOPInstanceUID) ?? ""
        errorComment = command.text(CommandSet.Element.errorComment)
    }

    public var commandSet: CommandSet {
        var command = CommandSet()
        command.setUID(CommandSet.Element.affectedSOPClassUID, affectedSOPClassUID)
        command.setUInt16(CommandSet.Element.commandField, CommandField.cStoreResponse.rawValue)
        command.setUInt16(CommandSet.Element.messageIDBeingRespondedTo, messageIDBeingRespondedTo)
        command.setUInt16(CommandSet.Element.commandDataSetType, CommandSet.noDataSet)
        command.setUInt16(CommandSet.Element.status, status)
        if let errorComment, !errorComment.isEmpty, status != DIMSEStatus.success {
            command.setText(CommandSet.Element.errorComment, String(String.UnicodeScalarView(errorComment.unicodeScalars.filter(\.isASCII).prefix(64))))
        }
        // Affected SOP Instance UID is optional in the response (PS3.7 Table 9.3-2): omitted when empty.
        if !affectedSOPInstanceUID.isEmpty {
            command.setUID(CommandSet.Element.affectedSOPInstanceUID, affectedSOPInstanceUID)
        }
        return command
    }
}

/// A response carrying only a status, for a request this SCP does not perform (e.g. 0x0211 Unrecognized
/// Operation, PS3.7 §C.5.3). Echoes the request's command field with bit 15 set, its Message ID and, when
/// present, its Affected SOP Class / Instance UIDs.
public struct StatusOnlyResponse: Sendable, Hashable {
    public var commandField: CommandField
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var errorComment: String?

    public init(respondingTo request: CommandSet, status: UInt16, errorComment: String? = nil) {
        commandField = CommandField(rawValue: request.commandField ?? 0).response
        messageIDBeingRespondedTo = request.messageID ?? 0
        affectedSOPClassUID = request.uid(CommandSet.Element.affectedSOPClassUID)
            ?? request.uid(CommandSet.Element.requestedSOPClassUID)
        affectedSOPInstanceUID = request.uid(CommandSet.Element.affectedSOPInstanceUID)
            ?? request.uid(CommandSet.Element.requestedSOPInstanceUID)
        self.status = status
        self.errorComment = errorComment
    }

    public var commandSet: CommandSet {
        var command = CommandSet()
        if let affectedSOPClassUID { command.setUID(CommandSet.Element.affectedSOPClassUID, affectedSOPClassUID) }
        command.setUInt16(CommandSet.Element.commandField, commandField.rawValue)
        command.setUInt16(CommandSet.Element.messageIDBeingRespondedTo, messageIDBeingRespondedTo)
        command.setUInt16(CommandSet.Element.commandDataSetType, CommandSet.noDataSet)
        command.setUInt16(CommandSet.Element.status, status)
        if let errorComment, !errorComment.isEmpty {
            command.setText(CommandSet.Element.errorComment, String(String.UnicodeScalarView(errorComment.unicodeScalars.filter(\.isASCII).prefix(64))))
        }
        if let affectedSOPInstanceUID { command.setUID(CommandSet.Element.affectedSOPInstanceUID, affectedSOPInstanceUID) }
        return command
    }
}

/// A decoded request as the SCP dispatches it.
public enum DIMSERequest: Sendable, Hashable {
    case echo(CEchoRequest)
    case store(CStoreRequest)
    /// A request this implementation does not perform (answer with `DIMSEStatus.unrecognizedOperation`),
    /// or a response / C-CANCEL, which an SCP receiving only requests never answers.
    case other(CommandField, CommandSet)

    public init(_ command: CommandSet) throws(DIMSEError) {
        guard let field = command.commandField else { throw DIMSEError(.missingField, "command without Command Field") }
        switch CommandField(rawValue: field) {
        case .cEchoRequest: self = .echo(try CEchoRequest(command))
        case .cStoreRequest: self = .store(try CStoreRequest(command))
        default: self = .other(CommandField(rawValue: field), command)
        }
    }
}
