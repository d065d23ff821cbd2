import DICOM
import Domain
@testable import Listener
import NIOCore
import Testing

/// `CStoreStateMachine` event by event: the receiver contract (fragments in order, then exactly one of
/// `finish` or `cancel`) and the C-STORE-RSP each path answers (PS3.7 §9.3.1.2).
@Suite("C-STORE state machine")
struct CStoreStateMachineTests {
    typealias Machine = CStoreStateMachine<String>

    static let request = CStoreRequest(messageID: 7, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", affectedSOPInstanceUID: "1.2.3.4")
    static let bytes = ByteBuffer(bytes: [1, 2, 3, 4])
    static let empty = ByteBuffer()

    /// What an action does, reduced to comparable facts.
    enum Step: Equatable, CustomStringConvertible {
        case none
        case receive(String, Int)
        case finish(String)
        case cancel(String, thenSend: UInt16?)
        case send(status: UInt16?, contextID: UInt8, delayed: Bool)

        init(_ action: Machine.Action) {
            switch action {
            case .none: self = .none
            case .receive(let storing, let fragment): self = .receive(storing.receiver, fragment.readableBytes)
            case .finish(let storing): self = .finish(storing.receiver)
            case .cancel(let storing, let response): self = .cancel(storing.receiver, thenSend: response.map { $0.command.status ?? 0xFFFF })
            case .send(let response): self = .send(status: response.command.status, contextID: response.contextID, delayed: response.delayed)
            }
        }

        var description: String {
            switch self {
            case .none: return "none"
            case .receive(let r, let n): return "receive(\(r), \(n))"
            case .finish(let r): return "finish(\(r))"
            case .cancel(let r, let s): return "cancel(\(r), then \(s.map { String($0, radix: 16) } ?? "nothing"))"
            case .send(let s, let c, let d): return "send(\(s.map { String($0, radix: 16) } ?? "-"), ctx \(c), delayed \(d))"
            }
        }
    }

    /// The events a test drives, in order.
    enum Event: CustomStringConvertible {
        case begin
        case discard(status: UInt16?)
        case fragment(last: Bool)
        case emptyFragment(last: Bool)
        case received
        case failed(StoreStatus)
        case finished(StoreStatus)
        case ended

        var description: String {
            switch self {
            case .begin: return "begin"
            case .discard(let s): return "discard(\(s.map { String($0, radix: 16) } ?? "-"))"
            case .fragment(let last): return last ? "last fragment" : "fragment"
            case .emptyFragment(let last): return last ? "empty last fragment" : "empty fragment"
            case .received: return "received"
            case .failed(let s): return "failed(\(s))"
            case .finished(let s): return "finished(\(s))"
            case .ended: return "ended"
            }
        }
    }

    static func run(_ events: [Event]) -> (steps: [Step], idle: Bool) {
        var machine = Machine()
        var steps: [Step] = []
        for event in events {
            switch event {
            case .begin:
                machine.beginStoring("R", request: request, contextID: 3)
            case .discard(let status):
                let response = status.map {
                    Machine.Response(command: StatusOnlyResponse(respondingTo: request.commandSet, status: $0).commandSet,
                                     contextID: 5, delayed: false)
                }
                machine.discardDataSet(thenSend: response)
            case .fragment(let last): steps.append(Step(machine.dataSetFragment(bytes, isLast: last)))
            case .emptyFragment(let last): steps.append(Step(machine.dataSetFragment(empty, isLast: last)))
            case .received: steps.append(Step(machine.receiveSucceeded()))
            case .failed(let status): steps.append(Step(machine.receiveFailed(status)))
            case .finished(let status): steps.append(Step(machine.finished(status)))
            case .ended: steps.append(Step(machine.associationEnded()))
            }
        }
        return (steps, machine.isIdle)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var events: [Event]
        var steps: [Step]
        var idle: Bool
        var testDescription: String { name }
    }

    static let refused = StoreStatus.outOfResources("Object store write failed")
    static let cases: [Case] = [
        Case(name: "one fragment: receive, finish, answer the receiver's status",
             events: [.begin, .fragment(last: true), .received, .finished(.success)],
             steps: [.receive("R", 4), .finish("R"), .send(status: 0x0000, contextID: 3, delayed: true)], idle: true),
        Case(name: "several fragments: finish only after the last",
             events: [.begin, .fragment(last: false), .received, .fragment(last: false), .received, .fragment(last: true), .received,
                      .finished(.dataSetDoesNotMatchSOPClassWarning("x"))],
             steps: [.receive("R", 4), .none, .receive("R", 4), .none, .receive("R", 4), .finish("R"),
                     .send(status: 0xB007, contextID: 3, delayed: true)], idle: true),
        Case(name: "an empty last fragment is not handed over; finish at once",
             events: [.begin, .fragment(last: false), .received, .emptyFragment(last: true), .finished(.success)],
             steps: [.receive("R", 4), .none, .finish("R"), .send(status: 0x0000, contextID: 3, delayed: true)], idle: true),
        Case(name: "an empty fragment in the middle does nothing",
             events: [.begin, .emptyFragment(last: false)],
             steps: [.none], idle: false),
        Case(name: "receive fails on the last fragment: cancel, then answer the failure now",
             events: [.begin, .fragment(last: true), .failed(refused)],
             steps: [.receive("R", 4), .cancel("R", thenSend: 0xA700)], idle: true),
        Case(name: "receive fails mid-stream: cancel, drop the rest, answer after the last fragment",
             events: [.begin, .fragment(last: false), .failed(refused), .fragment(last: false), .fragment(last: true)],
             steps: [.receive("R", 4), .cancel("R", thenSend: nil), .none, .send(status: 0xA700, contextID: 3, delayed: true)],
             idle: true),
        Case(name: "a failed receiver is never finished",
             events: [.begin, .fragment(last: false), .failed(refused), .fragment(last: true), .finished(.success), .ended],
             steps: [.receive("R", 4), .cancel("R", thenSend: nil), .send(status: 0xA700, contextID: 3, delayed: true), .none, .none],
             idle: true),
        Case(name: "association ends between fragments: the receiver is cancelled",
             events: [.begin, .fragment(last: false), .received, .ended],
             steps: [.receive("R", 4), .none, .cancel("R", thenSend: nil)], idle: true),
        Case(name: "association ends during a receive: the receiver is cancelled",
             events: [.begin, .fragment(last: false), .ended],
             steps: [.receive("R", 4), .cancel("R", thenSend: nil)], idle: true),
        Case(name: "association ends while finishing: the receiver owns the outcome, no cancel",
             events: [.begin, .fragment(last: true), .received, .ended, .finished(.success)],
             steps: [.receive("R", 4), .finish("R"), .none, .none], idle: true),
        Case(name: "a refused message's data set is dropped, then its response sent",
             events: [.discard(status: 0x0122), .fragment(last: false), .fragment(last: true)],
             steps: [.none, .send(status: 0x0122, contextID: 5, delayed: false)], idle: true),
        Case(name: "a data set with nothing to answer is dropped silently",
             events: [.discard(status: nil), .fragment(last: true)],
             steps: [.none], idle: true),
        Case(name: "association ends while discarding: nothing to cancel",
             events: [.discard(status: 0x0122), .fragment(last: false), .ended],
             steps: [.none, .none], idle: true),
        Case(name: "events out of turn do nothing",
             events: [.fragment(last: true), .received, .failed(refused), .finished(.success), .ended],
             steps: [.none, .none, .none, .none, .none], idle: true),
        Case(name: "busy until the answer is owed no more",
             events: [.begin, .fragment(last: true), .received],
             steps: [.receive("R", 4), .finish("R")], idle: false),
    ]

    @Test("C-STORE data set paths", arguments: cases)
    func path(_ c: Case) {
        let (steps, idle) = Self.run(c.events)
        #expect(steps == c.steps)
        #expect(idle == c.idle)
    }

    @Test func responseEchoesTheRequestAndCarriesTheErrorComment() throws {
        var machine = Machine()
        machine.beginStoring("R", request: Self.request, contextID: 9)
        _ = machine.dataSetFragment(Self.bytes, isLast: true)
        _ = machine.receiveSucceeded()
        guard case .send(let response) = machine.finished(.cannotUnderstand("Incomplete data set")) else {
            Issue.record("no response")
            return
        }
        let command = response.command
        #expect(command.commandField == CommandField.cStoreResponse.rawValue)
        #expect(command.status == 0xC000)
        #expect(command.uint16(CommandSet.Element.messageIDBeingRespondedTo) == 7)
        #expect(command.uid(CommandSet.Element.affectedSOPInstanceUID) == "1.2.3.4")
        #expect(command.text(CommandSet.Element.errorComment) == "Incomplete data set")
        #expect(response.contextID == 9)
    }
}
