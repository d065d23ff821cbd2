import Domain
import Foundation
import PostgresNIO
@testable import Storage
import Testing

@Suite("PostgreSQL catalog URL")
struct CatalogPostgresURLTests {
    @Test func parsesUserPasswordHostPortDatabase() throws {
        let c = try PostgresURL.configuration("postgres://ingest:p%40ss%2Fword@db.internal:6543/dicom?sslmode=disable")
        #expect(c.host == "db.internal")
        #expect(c.port == 6543)
        #expect(c.username == "ingest")
        #expect(c.password == "p@ss/word")
        #expect(c.database == "dicom")
    }

    @Test func defaultsPortAndAcceptsEveryLibpqSSLMode() throws {
        let c = try PostgresURL.configuration("postgresql://u@localhost/db")
        #expect(c.port == 5432)
        #expect(c.password == nil)
        for mode in ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] {
            _ = try PostgresURL.configuration("postgres://u:p@h:1/d?sslmode=\(mode)")
        }
    }

    /// The pool keeps a few connections open and runs no keep-alive query unless the URL asks for one:
    /// both arm a timer at every return of a connection to the pool.
    @Test func keepsConnectionsOpenAndRunsAKeepAliveQueryOnlyWhenAsked() throws {
        let plain = try PostgresURL.configuration("postgres://u:p@h/d")
        #expect(plain.options.minimumConnections == PostgresURL.minimumConnections)
        #expect(plain.options.minimumConnections > 0)
        #expect(plain.options.minimumConnections < plain.options.maximumConnections)
        #expect(plain.options.keepAliveBehavior == nil)
        let asked = try PostgresURL.configuration("postgres://u:p@h/d?sslmode=disable&keepalives_idle=45")
        #expect(asked.options.keepAliveBehavior?.frequency == .seconds(45))
    }

    @Test(arguments: ["mysql://u:p@h/d", "postgres:///d", "not a url", "postgres://u:p@h/d?sslmode=sometimes",
                      "postgres://u:p@h/d?keepalives_idle=0", "postgres://u:p@h/d?keepalives_idle=soon"])
    func refusesWhatItCannotUse(url: String) async {
        await expectCatalogError(.unavailable) { _ = try PostgresURL.configuration(url) }
    }
}
