import Domain
import Foundation
import Storage
import Testing

/// Inserts of instance rows through `recordInstance`, sequential and from 8 concurrent tasks. As a test
/// it checks the counts on a small run; `scripts/bench catalog` runs it large
/// (CATALOG_BENCH_COUNT) and reads the printed rates. No timing is asserted.
@Suite("Catalog benchmark", .serialized)
struct CatalogBenchmarkTests {
    static let count = Int(ProcessInfo.processInfo.environment["CATALOG_BENCH_COUNT"] ?? "") ?? 200

    @Test(arguments: CatalogKind.allCases)
    func instanceInsertThroughput(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let n = Self.count
            let association = AssociationRecord(listenerID: UUID(), callingAETitle: "BENCH", calledAETitle: "STORESCP", peerAddress: "p")
            try await catalog.startAssociation(association)
            func instance(_ i: Int, _ prefix: String) -> InstanceRecord {
                // 100 instances per series, 4 series per study, like a small CT.
                makeInstance(sop: "\(prefix).\(i)", series: "\(prefix).s\(i / 100)", study: "\(prefix).st\(i / 400)", number: i % 100,
                             size: 500_000, at: Date(), association: association.id)
            }

            let clock = ContinuousClock()
            let sequential = try await clock.measure {
                for i in 0..<n { try await catalog.recordInstance(instance(i, "seq")) }
            }
            let tasks = 8
            let concurrent = try await clock.measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for t in 0..<tasks {
                        group.addTask {
                            for i in stride(from: t, to: n, by: tasks) { try await catalog.recordInstance(instance(i, "con")) }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let stats = try await catalog.stats()
            #expect(stats.instances == 2 * n)
            #expect(stats.bytes == Int64(2 * n) * 500_000)
            let study = try #require(try await catalog.study(uid: "con.st0"))
            #expect(study.instanceCount == min(n, 400))
            func rate(_ d: Duration) -> Int {
                let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                return Int(Double(n) / max(seconds, 1e-9))
            }
            print("catalog-bench \(kind.rawValue): \(n) instances, sequential \(rate(sequential)) inserts/s, \(tasks) tasks \(rate(concurrent)) inserts/s")
        }
    }
}
