import Foundation
@testable import Storage
import Testing

/// How the SQLite session turns SQLite's storage classes into catalog values.
@Suite("SQLite session")
struct SQLiteSessionTests {
    /// No catalog column is a float, but an expression can yield a REAL: an integral one reads as that
    /// integer, one beyond the 64-bit range reads as NULL instead of trapping the process.
    @Test func realCellsReadAsIntegersOrNull() async throws {
        try await withSQLiteCatalogDatabase { database in
            let row = try await database.read { session in
                try await session.query("SELECT 2.0 AS two, -2.5 AS negative, 1e300 AS huge").first
            }
            let found = try #require(row)
            #expect(try found.decode("two", as: Int64.self) == 2)
            #expect(try found.decode("negative", as: Int64.self) == -2)
            #expect(try found.decode("huge", as: Int64?.self) == nil)
        }
    }
}
