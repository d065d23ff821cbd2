public import NIOCore

extension PDU {
    /// Appends the whole PDU (header and variable field, PS3.8 §9.3) to `buffer`.
    /// Throws only when a value does not fit its length field (e.g. a UID longer than 65,535 bytes).
    public func write(into buffer: inout ByteBuffer) throws(PDUError) {
        let start = buffer.writerIndex
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(0))
        let bodyStart = buffer.writerIndex
        switch self {
        case .associateRequest(let request):
            PDUByteWriter.associateFixedFields(version: request.protocolVersion, called: request.calledAETitle,
                                               calling: request.callingAETitle, into: &buffer)
            try PDUByteWriter.item(0x10, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(request.applicationContextName)) }
            for context in request.presentationContexts {
                try PDUByteWriter.item(0x20, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    buffer.writeInteger(context.id)
                    buffer.writeInteger(UInt8(0)); buffer.writeInteger(UInt16(0))
                    try PDUByteWriter.item(0x30, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(context.abstractSyntax)) }
                    for syntax in context.transferSyntaxes {
                        try PDUByteWriter.item(0x40, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(syntax)) }
                    }
                }
            }
            try PDUByteWriter.unknownItems(request.unknownItems, into: &buffer)
            try PDUByteWriter.userInformation(request.userInformation, into: &buffer)
        case .associateAccept(let accept):
            PDUByteWriter.associateFixedFields(version: accept.protocolVersion, called: accept.calledAETitle,
                                               calling: accept.callingAETitle, into: &buffer)
            try PDUByteWriter.item(0x10, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(accept.applicationContextName)) }
            for context in accept.presentationContexts {
                try PDUByteWriter.item(0x21, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    buffer.writeInteger(context.id)
                    buffer.writeInteger(UInt8(0))
                    buffer.writeInteger(context.result.rawValue)
                    buffer.writeInteger(UInt8(0))
                    try PDUByteWriter.item(0x40, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(context.transferSyntax)) }
                }
            }
            try PDUByteWriter.unknownItems(accept.unknownItems, into: &buffer)
            try PDUByteWriter.userInformation(accept.userInformation, into: &buffer)
        case .associateReject(let reject):
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(reject.result.rawValue)
            buffer.writeInteger(reject.source.rawValue)
            buffer.writeInteger(reject.reason)
        case .dataTransfer(let transfer):
            for value in transfer.values {
                guard value.data.readableBytes <= Int(UInt32.max) - 2 else {
                    throw PDUError(.valueTooLongToEncode, pduType: 0x04, "PDV longer than its length field")
                }
                buffer.writeInteger(UInt32(value.data.readableBytes + 2))
                buffer.writeInteger(value.contextID)
                buffer.writeInteger(value.messageControlHeader)
                buffer.writeImmutableBuffer(value.data)
            }
        case .releaseRequest, .releaseResponse:
            buffer.writeInteger(UInt32(0))
        case .abort(let abort):
            buffer.writeInteger(UInt16(0))
            buffer.writeInteger(abort.source.rawValue)
            buffer.writeInteger(abort.reason.rawValue)
        }
        let length = buffer.writerIndex - bodyStart
        guard length <= Int(UInt32.max) else {
            buffer.moveWriterIndex(to: start)
            throw PDUError(.valueTooLongToEncode, pduType: type.rawValue, "PDU longer than its length field")
        }
        buffer.setInteger(UInt32(length), at: start + 2)
    }

    /// The PDU in a new buffer.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(PDUError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        try write(into: &buffer)
        return buffer
    }
}

enum PDUByteWriter {
    /// Text as ISO 8859-1 bytes, the inverse of the decoder's byte-per-scalar mapping (PS3.8 text fields are
    /// ISO 646); a scalar outside Latin-1 becomes "?".
    static func latin1(_ text: String) -> [UInt8] {
        text.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : UInt8(ascii: "?") }
    }

    static func associateFixedFields(version: UInt16, called: String, calling: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(version)
        buffer.writeInteger(UInt16(0))
        aeTitle(called, into: &buffer)
        aeTitle(calling, into: &buffer)
        buffer.writeRepeatingByte(0, count: 32)
    }

    /// 16 bytes, space padded; longer titles are cut (the caller validates AE titles, PS3.5 §6.2).
    static func aeTitle(_ title: String, into buffer: inout ByteBuffer) {
        let bytes = Array(latin1(title).prefix(16))
        buffer.writeBytes(bytes)
        buffer.writeRepeatingByte(0x20, count: 16 - bytes.count)
    }

    /// Writes `type | reserved | UInt16 length | value`, back-patching the length.
    static func item(_ type: UInt8, reserved: UInt8 = 0, into buffer: inout ByteBuffer,
                     _ body: (inout ByteBuffer) throws(PDUError) -> Void) throws(PDUError) {
        let start = buffer.writerIndex
        buffer.writeInteger(type)
        buffer.writeInteger(reserved)
        buffer.writeInteger(UInt16(0))
        try body(&buffer)
        let length = buffer.writerIndex - start - 4
        guard length <= Int(UInt16.max) else {
            buffer.moveWriterIndex(to: start)
            throw PDUError(.valueTooLongToEncode, "item longer than its 16-bit length field")
        }
        buffer.setInteger(UInt16(length), at: start + 2)
    }

    /// A UInt16-length-prefixed field inside a sub-item.
    static func lengthPrefixed(_ bytes: some Collection<UInt8>, into buffer: inout ByteBuffer) throws(PDUError) {
        guard bytes.count <= Int(UInt16.max) else { throw PDUError(.valueTooLongToEncode, "sub-item field longer than 65,535 bytes") }
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    static func unknownItems(_ items: [UnknownItem], into buffer: inout ByteBuffer) throws(PDUError) {
        for unknown in items {
            try item(unknown.type, reserved: unknown.reserved, into: &buffer) { $0.writeBytes(unknown.value) }
        }
    }

    static func userInformation(_ info: UserInformation, into buffer: inout ByteBuffer) throws(PDUError) {
        try item(0x50, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
            if let maximumLength = info.maximumLength {
                try item(0x51, into: &buffer) { $0.writeInteger(maximumLength) }
            }
            if let uid = info.implementationClassUID {
                try item(0x52, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(uid)) }
            }
            if let window = info.asynchronousOperationsWindow {
                try item(0x53, into: &buffer) {
                    $0.writeInteger(window.maximumOperationsInvoked)
                    $0.writeInteger(window.maximumOperationsPerformed)
                }
            }
            for role in info.roleSelections {
                try item(0x54, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    try lengthPrefixed(latin1(role.sopClassUID), into: &buffer)
                    buffer.writeInteger(UInt8(role.scuRole ? 1 : 0))
                    buffer.writeInteger(UInt8(role.scpRole ? 1 : 0))
                }
            }
            if let name = info.implementationVersionName {
                try item(0x55, into: &buffer) { $0.writeBytes(PDUByteWriter.latin1(name)) }
            }
            for extended in info.sopClassExtendedNegotiations {
                try item(0x56, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    try lengthPrefixed(latin1(extended.sopClassUID), into: &buffer)
                    buffer.writeBytes(extended.applicationInformation)
                }
            }
            for common in info.sopClassCommonExtendedNegotiations {
                try item(0x57, reserved: common.version, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    try lengthPrefixed(latin1(common.sopClassUID), into: &buffer)
                    try lengthPrefixed(latin1(common.serviceClassUID), into: &buffer)
                    var related: [UInt8] = []
                    for uid in common.relatedGeneralSOPClassUIDs {
                        let bytes = latin1(uid)
                        guard bytes.count <= Int(UInt16.max) else { throw PDUError(.valueTooLongToEncode, "related SOP class UID too long") }
                        related.append(UInt8(bytes.count >> 8)); related.append(UInt8(bytes.count & 0xFF))
                        related += bytes
                    }
                    try lengthPrefixed(related, into: &buffer)
                }
            }
            if let identity = info.userIdentity {
                try item(0x58, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    buffer.writeInteger(identity.identityType)
                    buffer.writeInteger(UInt8(identity.positiveResponseRequested ? 1 : 0))
                    try lengthPrefixed(identity.primaryField, into: &buffer)
                    try lengthPrefixed(identity.secondaryField, into: &buffer)
                }
            }
            if let response = info.userIdentityResponse {
                try item(0x59, into: &buffer) { (buffer: inout ByteBuffer) throws(PDUError) in
                    try lengthPrefixed(response.serverResponse, into: &buffer)
                }
            }
            try unknownItems(info.unknownSubItems, into: &buffer)
        }
    }
}
