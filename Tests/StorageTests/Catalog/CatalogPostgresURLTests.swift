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

    @Test(arguments: ["mysql://u:p@h/d", "postgres:///d", "not a url", "postgres://u:p@h/d?sslmode=sometimes"])
    func refusesWhatItCannotUse(url: String) async {
        await expectCatalogError(.unavailable) { _ = try PostgresURL.configuration(url) }
    }
}
