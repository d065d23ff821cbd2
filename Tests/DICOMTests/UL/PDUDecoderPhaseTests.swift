import DICOM
import NIOCore
import NIOTestUtils
import Testing

/// Before the A-ASSOCIATE-AC the acceptor's decoder takes association-phase PDUs only (PS3.8 Table 9-10).
@Suite("PDU decoder phase")
struct PDUDecoderPhaseTests {
    /// P-DATA-TF header announcing 1 MiB, then a few body bytes.
    static var bigPData: ByteBuffer {
        var buffer = ByteBuffer(bytes: [0x04, 0x00, 0x00, 0x10, 0x00, 0x00])
        buffer.writeBytes([UInt8](repeating: 0, count: 64))
        return buffer
    }

    @Test func pDataIsRefusedOnItsFirstByteBeforeTheAssociation() throws {
        var decoder = PDUDecoder(maximumPDULength: 16 * 1024 * 1024, phase: PDUDecoderPhase())
        var firstByte = ByteBuffer(bytes: [0x04])
        do {
            _ = try decoder.decode(buffer: &firstByte)
            Issue.record("P-DATA-TF accepted before the association")
        } catch let error as PDUError {
            #expect(error.code == .unexpectedPDU)
            #expect(error.abort == Abort(source: .serviceProvider, reason: .unexpectedPDU))
        }
    }

    @Test func pDataIsAcceptedAfterTheAssociationIsAccepted() throws {
        let phase = PDUDecoderPhase()
        var decoder = PDUDecoder(maximumPDULength: 16 * 1024 * 1024, phase: phase)
        phase.associationAccepted()
        var buffer = Self.bigPData
        #expect(try decoder.decode(buffer: &buffer) == nil)  // waiting for the rest of the body, no error
    }

    @Test func withoutAPhaseTheDecoderAcceptsPDataAsARequestorNeeds() throws {
        var decoder = PDUDecoder(maximumPDULength: 16 * 1024 * 1024)
        var buffer = Self.bigPData
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test func associationPDUsAreStillBoundedTo64KiB() throws {
        var decoder = PDUDecoder(maximumPDULength: 16 * 1024 * 1024, phase: PDUDecoderPhase())
        var rq = ByteBuffer(bytes: [0x01, 0x00, 0x00, 0x01, 0x00, 0x01])  // A-ASSOCIATE-RQ of 64 KiB + 1
        do {
            _ = try decoder.decode(buffer: &rq)
            Issue.record("over-long A-ASSOCIATE-RQ accepted")
        } catch let error as PDUError {
            #expect(error.code == .pduTooLarge)
        }
    }

    /// DCMTK's A-ASSOCIATE-RQ before the association, its P-DATA-TF after: byte by byte and all at once.
    @Test func verifierOnCapturedPDUsInBothPhases() throws {
        let request = try ULFixtures.bytes("dcmtk_echoscu_associate_rq")
        var copy = request
        let decodedRequest = try #require(try PDU.decode(from: &copy, limits: PDULimits(maximumDataTransferLength: 0)))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(request, [decodedRequest])]) {
            PDUDecoder(maximumPDULength: 256 * 1024, phase: PDUDecoderPhase())
        }
        let data = try ULFixtures.bytes("dcmtk_echoscu_p_data_c_echo_rq")
        var dataCopy = data
        let decodedData = try #require(try PDU.decode(from: &dataCopy, limits: PDULimits(maximumDataTransferLength: 256 * 1024)))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(data, [decodedData])]) {
            let phase = PDUDecoderPhase()
            phase.associationAccepted()
            return PDUDecoder(maximumPDULength: 256 * 1024, phase: phase)
        }
    }
}
