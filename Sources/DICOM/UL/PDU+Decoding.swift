public import NIOCore

/// Bounds a PDU must respect before its body is read (PS3.8 §9.3, STYLE rule 3: never trust a wire length).
public struct PDULimits: Sendable, Hashable {
    /// Bound on the PDU length field of P-DATA-TF PDUs: our advertised Maximum Length (PS3.8 Annex D.1).
    public var maximumDataTransferLength: UInt32
    /// Bound on every other PDU (A-ASSOCIATE-RQ/AC/RJ, release, abort): fixed, independent of negotiation.
    public var maximumAssociationPDULength: UInt32

    /// False until the association is accepted: then a P-DATA-TF is refused on its first byte, so nothing
    /// but association-phase PDUs (each within `maximumAssociationPDULength`) is ever buffered for a peer
    /// that has not been admitted (PS3.8 Table 9-10: P-DATA-TF is only valid in Sta6/Sta7).
    public var dataTransferAllowed: Bool

    /// 64 KiB: enough for 128 presentation contexts of several transfer syntaxes each.
    public static let defaultAssociationPDULength: UInt32 = 64 * 1024

    public init(maximumDataTransferLength: UInt32, maximumAssociationPDULength: UInt32 = PDULimits.defaultAssociationPDULength,
                dataTransferAllowed: Bool = true) {
        self.maximumDataTransferLength = maximumDataTransferLength
        self.maximumAssociationPDULength = maximumAssociationPDULength
        self.dataTransferAllowed = dataTransferAllowed
    }

    public func maximumLength(for type: PDUType) -> UInt32 {
        type == .dataTransfer ? maximumDataTransferLength : maximumAssociationPDULength
    }
}

extension PDU {
    /// Size of the common PDU header: type, reserved, UInt32 length.
    public static let headerLength = 6

    /// Decodes one PDU from the front of `buffer` when it is complete; returns nil (consuming nothing) while more
    /// bytes are needed. The header is checked against `limits` before waiting for the body, so an over-long PDU
    /// fails at once. P-DATA-TF fragments are slices of `buffer` (no copy).
    public static func decode(from buffer: inout ByteBuffer, limits: PDULimits) throws(PDUError) -> PDU? {
        if !limits.dataTransferAllowed, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == PDUType.dataTransfer.rawValue {
            throw PDUError(.unexpectedPDU, pduType: PDUType.dataTransfer.rawValue, "P-DATA-TF before the association is accepted")
        }
        guard let typeByte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self)
        else {
            // Reject an unknown type as soon as its first byte is here: waiting for a length would let garbage stall us.
            if let typeByte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), PDUType(rawValue: typeByte) == nil {
                throw PDUError(.unrecognizedPDUType, pduType: typeByte, "unknown PDU type")
            }
            return nil
        }
        guard let type = PDUType(rawValue: typeByte) else {
            throw PDUError(.unrecognizedPDUType, pduType: typeByte, "unknown PDU type")
        }
        guard length <= limits.maximumLength(for: type) else {
            throw PDUError(.pduTooLarge, pduType: typeByte, "PDU length above the bound in force")
        }
        guard buffer.readableBytes >= headerLength + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        guard let body = buffer.readSlice(length: Int(length)) else {
            throw PDUError(.invalidLength, pduType: typeByte, "PDU body unavailable")
        }
        return try parse(type: type, body: body)
    }

    /// Parses the variable field of a PDU whose header said `type`.
    public static func parse(type: PDUType, body: ByteBuffer) throws(PDUError) -> PDU {
        var reader = PDUByteReader(body, pduType: type.rawValue)
        switch type {
        case .associateRequest:
            let fixed = try reader.associateFixedFields()
            let items = try reader.associateItems(pduName: "A-ASSOCIATE-RQ", contextItemType: 0x20, otherContextItemType: 0x21) {
                (reader, value) throws(PDUError) in try reader.presentationContextProposal(value)
            }
            var request = AssociateRequest(protocolVersion: fixed.version, calledAETitle: fixed.called, callingAETitle: fixed.calling,
                                           applicationContextName: items.applicationContextName,
                                           presentationContexts: items.presentationContexts, unknownItems: items.unknownItems)
            if let userInformation = items.userInformation { request.userInformation = userInformation }
            return .associateRequest(request)

        case .associateAccept:
            let fixed = try reader.associateFixedFields()
            let items = try reader.associateItems(pduName: "A-ASSOCIATE-AC", contextItemType: 0x21, otherContextItemType: 0x20) {
                (reader, value) throws(PDUError) in try reader.presentationContextResult(value)
            }
            var accept = AssociateAccept(protocolVersion: fixed.version, calledAETitle: fixed.called, callingAETitle: fixed.calling,
                                         applicationContextName: items.applicationContextName,
                                         presentationContexts: items.presentationContexts, unknownItems: items.unknownItems)
            if let userInformation = items.userInformation { accept.userInformation = userInformation }
            return .associateAccept(accept)

        case .associateReject:
            try reader.expectFixedLength(4)
            _ = try reader.u8()
            let result = try reader.u8(), source = try reader.u8(), reason = try reader.u8()
            guard result == 1 || result == 2 else { throw reader.error(.invalidValue, "A-ASSOCIATE-RJ result") }
            guard (1...3).contains(source) else { throw reader.error(.invalidValue, "A-ASSOCIATE-RJ source") }
            return .associateReject(AssociateReject(result: .init(rawValue: result), source: .init(rawValue: source), reason: reason))

        case .dataTransfer:
            var values: [PresentationDataValue] = []
            while reader.remaining > 0 {
                let itemLength = try reader.u32()
                guard itemLength >= 2 else { throw reader.error(.invalidLength, "PDV item shorter than its header") }
                guard Int(itemLength) <= reader.remaining else { throw reader.error(.invalidLength, "PDV item longer than its PDU") }
                let contextID = try reader.u8()
                let header = try reader.u8()
                let data = try reader.slice(Int(itemLength) - 2)
                values.append(PresentationDataValue(contextID: contextID, messageControlHeader: header, data: data))
            }
            guard !values.isEmpty else { throw reader.error(.invalidLength, "P-DATA-TF without PDV items") }
            return .dataTransfer(DataTransfer(values: values))

        case .releaseRequest, .releaseResponse:
            try reader.expectFixedLength(4)
            return type == .releaseRequest ? .releaseRequest : .releaseResponse

        case .abort:
            try reader.expectFixedLength(4)
            _ = try reader.u16()
            let source = try reader.u8(), reason = try reader.u8()
            guard source == 0 || source == 2 else { throw reader.error(.invalidValue, "A-ABORT source") }
            return .abort(Abort(source: .init(rawValue: source), reason: .init(rawValue: reason)))
        }
    }
}

/// Bounded big-endian reader over one PDU body or item value: every read is checked against what is left.
struct PDUByteReader {
    private var buffer: ByteBuffer
    let pduType: UInt8

    init(_ buffer: ByteBuffer, pduType: UInt8) {
        self.buffer = buffer
        self.pduType = pduType
    }

    var remaining: Int { buffer.readableBytes }

    func error(_ code: PDUError.Code, _ context: String) -> PDUError {
        PDUError(code, pduType: pduType, context)
    }

    mutating func u8() throws(PDUError) -> UInt8 {
        guard let value = buffer.readInteger(as: UInt8.self) else { throw error(.invalidLength, "truncated field") }
        return value
    }

    mutating func u16() throws(PDUError) -> UInt16 {
        guard let value = buffer.readInteger(endianness: .big, as: UInt16.self) else { throw error(.invalidLength, "truncated field") }
        return value
    }

    mutating func u32() throws(PDUError) -> UInt32 {
        guard let value = buffer.readInteger(endianness: .big, as: UInt32.self) else { throw error(.invalidLength, "truncated field") }
        return value
    }

    mutating func slice(_ length: Int) throws(PDUError) -> ByteBuffer {
        guard length >= 0, let value = buffer.readSlice(length: length) else { throw error(.invalidLength, "field longer than its parent") }
        return value
    }

    func expectFixedLength(_ length: Int) throws(PDUError) {
        guard remaining == length else { throw error(.invalidLength, "fixed-length PDU with wrong length") }
    }

    /// Reads `type | reserved | UInt16 length | value`, the value bounded by what remains of the parent.
    mutating func item() throws(PDUError) -> (type: UInt8, reserved: UInt8, value: ByteBuffer) {
        let type = try u8()
        let reserved = try u8()
        let length = try u16()
        guard Int(length) <= remaining else { throw error(.invalidLength, "item longer than its parent") }
        return (type, reserved, try slice(Int(length)))
    }

    mutating func associateFixedFields() throws(PDUError) -> (version: UInt16, called: String, calling: String) {
        guard remaining >= 68 else { throw error(.invalidLength, "A-ASSOCIATE fixed fields truncated") }
        let version = try u16()
        _ = try u16()
        let called = Self.aeTitle(try slice(16))
        let calling = Self.aeTitle(try slice(16))
        _ = try slice(32)
        return (version, called, calling)
    }

    /// AE titles are 16 bytes, space padded; leading and trailing spaces are not significant (PS3.8 §9.3.2).
    static func aeTitle(_ bytes: ByteBuffer) -> String {
        text(bytes, leading: true)
    }

    /// UIDs in items are not padded (PS3.8 Annex F), but some peers add a trailing NUL or space: drop it.
    static func uid(_ bytes: ByteBuffer) -> String {
        text(bytes, leading: false)
    }

    /// Bytes as ISO 646 / Latin-1 text, without trailing (and optionally leading) spaces and NULs: every byte maps
    /// to one scalar, so any input decodes.
    static func text(_ bytes: ByteBuffer, leading: Bool) -> String {
        bytes.withUnsafeReadableBytes { raw in
            var start = 0, end = raw.count
            while end > start, raw[end - 1] == 0x20 || raw[end - 1] == 0x00 { end -= 1 }
            if leading { while start < end, raw[start] == 0x20 || raw[start] == 0x00 { start += 1 } }
            if raw[start..<end].allSatisfy({ $0 < 0x80 }) {
                return String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self)
            }
            var result = ""
            result.unicodeScalars.reserveCapacity(end - start)
            for byte in raw[start..<end] { result.unicodeScalars.append(Unicode.Scalar(byte)) }
            return result
        }
    }

    /// The variable items of an A-ASSOCIATE-RQ or -AC (PS3.8 Tables 9-11 and 9-17): one application context
    /// (0x10), the presentation contexts of this PDU's kind, at most one user information item (0x50), and
    /// items of unknown types, kept. The other PDU's presentation context type and the sub-item types
    /// (0x30, 0x40, 0x51-0x59) are not allowed at this level.
    mutating func associateItems<Context>(
        pduName: String, contextItemType: UInt8, otherContextItemType: UInt8,
        context: (PDUByteReader, ByteBuffer) throws(PDUError) -> Context
    ) throws(PDUError) -> (applicationContextName: String, presentationContexts: [Context], userInformation: UserInformation?,
                           unknownItems: [UnknownItem]) {
        var applicationContextName = ""
        var presentationContexts: [Context] = []
        var userInformation: UserInformation?
        var unknownItems: [UnknownItem] = []
        var sawApplicationContext = false
        while remaining > 0 {
            let item = try self.item()
            switch item.type {
            case 0x10:
                guard !sawApplicationContext else { throw error(.unexpectedItem, "second application context item") }
                sawApplicationContext = true
                applicationContextName = PDUByteReader.uid(item.value)
            case contextItemType:
                presentationContexts.append(try context(self, item.value))
            case 0x50:
                guard userInformation == nil else { throw error(.unexpectedItem, "second user information item") }
                userInformation = try self.userInformation(item.value)
            case otherContextItemType, 0x30, 0x40, 0x51...0x59:
                throw error(.unrecognizedItem, "item type not allowed in \(pduName)")
            default:
                unknownItems.append(UnknownItem(type: item.type, reserved: item.reserved, value: Array(buffer: item.value)))
            }
        }
        return (applicationContextName, presentationContexts, userInformation, unknownItems)
    }

    func presentationContextProposal(_ value: ByteBuffer) throws(PDUError) -> PresentationContextProposal {
        var reader = PDUByteReader(value, pduType: pduType)
        guard reader.remaining >= 4 else { throw error(.invalidLength, "presentation context item truncated") }
        let id = try reader.u8()
        _ = try reader.u8(); _ = try reader.u16()
        var abstractSyntax: String?
        var transferSyntaxes: [String] = []
        while reader.remaining > 0 {
            let item = try reader.item()
            switch item.type {
            case 0x30:
                guard abstractSyntax == nil else { throw error(.unexpectedItem, "second abstract syntax sub-item") }
                abstractSyntax = Self.uid(item.value)
            case 0x40:
                transferSyntaxes.append(Self.uid(item.value))
            default:
                throw error(.unrecognizedItem, "sub-item type not allowed in presentation context item")
            }
        }
        return PresentationContextProposal(id: id, abstractSyntax: abstractSyntax ?? "", transferSyntaxes: transferSyntaxes)
    }

    func presentationContextResult(_ value: ByteBuffer) throws(PDUError) -> PresentationContextResult {
        var reader = PDUByteReader(value, pduType: pduType)
        guard reader.remaining >= 4 else { throw error(.invalidLength, "presentation context item truncated") }
        let id = try reader.u8()
        _ = try reader.u8()
        let result = try reader.u8()
        _ = try reader.u8()
        guard result <= 4 else { throw error(.invalidValue, "presentation context result") }
        var transferSyntax: String?
        while reader.remaining > 0 {
            let item = try reader.item()
            guard item.type == 0x40 else { throw error(.unrecognizedItem, "sub-item type not allowed in presentation context result") }
            guard transferSyntax == nil else { throw error(.unexpectedItem, "second transfer syntax sub-item in result") }
            transferSyntax = Self.uid(item.value)
        }
        return PresentationContextResult(id: id, result: .init(rawValue: result), transferSyntax: transferSyntax ?? "")
    }

    func userInformation(_ value: ByteBuffer) throws(PDUError) -> UserInformation {
        var reader = PDUByteReader(value, pduType: pduType)
        var info = UserInformation()
        var seen = Set<UInt8>()
        while reader.remaining > 0 {
            let item = try reader.item()
            var sub = PDUByteReader(item.value, pduType: pduType)
            // These sub-items may appear once; role selection and extended negotiation once per SOP class.
            if [0x51, 0x52, 0x53, 0x55, 0x58, 0x59].contains(item.type) {
                guard seen.insert(item.type).inserted else { throw error(.unexpectedItem, "repeated user information sub-item") }
            }
            switch item.type {
            case 0x51:
                try sub.expectFixedLength(4)
                info.maximumLength = try sub.u32()
            case 0x52:
                info.implementationClassUID = Self.uid(item.value)
            case 0x53:
                try sub.expectFixedLength(4)
                info.asynchronousOperationsWindow = AsynchronousOperationsWindow(maximumOperationsInvoked: try sub.u16(),
                                                                                  maximumOperationsPerformed: try sub.u16())
            case 0x54:
                let uid = Self.uid(try sub.slice(Int(try sub.u16())))
                let scu = try sub.u8(), scp = try sub.u8()
                guard sub.remaining == 0 else { throw error(.invalidLength, "role selection sub-item length") }
                guard scu <= 1, scp <= 1 else { throw error(.invalidValue, "role selection value") }
                info.roleSelections.append(RoleSelection(sopClassUID: uid, scuRole: scu == 1, scpRole: scp == 1))
            case 0x55:
                info.implementationVersionName = Self.text(item.value, leading: false)
            case 0x56:
                let uid = Self.uid(try sub.slice(Int(try sub.u16())))
                let information = Array(buffer: try sub.slice(sub.remaining))
                info.sopClassExtendedNegotiations.append(SOPClassExtendedNegotiation(sopClassUID: uid, applicationInformation: information))
            case 0x57:
                let sopClass = Self.uid(try sub.slice(Int(try sub.u16())))
                let serviceClass = Self.uid(try sub.slice(Int(try sub.u16())))
                var related = PDUByteReader(try sub.slice(Int(try sub.u16())), pduType: pduType)
                guard sub.remaining == 0 else { throw error(.invalidLength, "common extended negotiation sub-item length") }
                var relatedUIDs: [String] = []
                while related.remaining > 0 {
                    relatedUIDs.append(Self.uid(try related.slice(Int(try related.u16()))))
                }
                info.sopClassCommonExtendedNegotiations.append(SOPClassCommonExtendedNegotiation(
                    version: item.reserved, sopClassUID: sopClass, serviceClassUID: serviceClass, relatedGeneralSOPClassUIDs: relatedUIDs))
            case 0x58:
                let type = try sub.u8(), positive = try sub.u8()
                let primary = Array(buffer: try sub.slice(Int(try sub.u16())))
                let secondary = Array(buffer: try sub.slice(Int(try sub.u16())))
                guard sub.remaining == 0 else { throw error(.invalidLength, "user identity sub-item length") }
                guard positive <= 1 else { throw error(.invalidValue, "user identity positive-response-requested") }
                info.userIdentity = UserIdentityRequest(identityType: type, positiveResponseRequested: positive == 1,
                                                        primaryField: primary, secondaryField: secondary)
            case 0x59:
                let response = Array(buffer: try sub.slice(Int(try sub.u16())))
                guard sub.remaining == 0 else { throw error(.invalidLength, "user identity response sub-item length") }
                info.userIdentityResponse = UserIdentityResponse(serverResponse: response)
            case 0x10, 0x20, 0x21, 0x30, 0x40, 0x50:
                throw error(.unrecognizedItem, "item type not allowed in user information")
            default:
                info.unknownSubItems.append(UnknownItem(type: item.type, reserved: item.reserved, value: Array(buffer: item.value)))
            }
        }
        return info
    }
}
