import Domain
import Foundation
@testable import Storage
import Testing

/// `SQLStatement`: every interpolated value becomes a bound parameter in the dialect's placeholder
/// syntax, text enters the SQL only from literals or `unsafeRaw`, and rows are read by column name.
@Suite("SQL statement")
struct SQLStatementTests {
    // MARK: Rendering

    @Test func literalRendersUnchangedWithoutParameters() {
        let statement: SQLStatement = "SELECT 1"
        #expect(statement.sql(for: .postgres) == "SELECT 1")
        #expect(statement.sql(for: .sqlite) == "SELECT 1")
        #expect(statement.binds.isEmpty)
    }

    @Test func valuesBecomeNumberedPlaceholdersOfEachDialect() {
        let name = "CT-1"
        let port = 11112
        let statement: SQLStatement = "SELECT id FROM listeners WHERE name = \(name) AND port = \(port)"
        #expect(statement.sql(for: .postgres) == "SELECT id FROM listeners WHERE name = $1 AND port = $2")
        #expect(statement.sql(for: .sqlite) == "SELECT id FROM listeners WHERE name = ?1 AND port = ?2")
        #expect(statement.binds == [.text("CT-1"), .int(11112)])
    }

    /// A `?` inside a quoted literal is text, not a placeholder: only interpolations are parameters.
    @Test func questionMarksInTheTextAreNotParameters() {
        let a = "x", b = "y"
        let statement: SQLStatement = "SELECT \(a) WHERE a = '?' AND b = \(b)"
        #expect(statement.sql(for: .postgres) == "SELECT $1 WHERE a = '?' AND b = $2")
        #expect(statement.sql(for: .sqlite) == "SELECT ?1 WHERE a = '?' AND b = ?2")
    }

    @Test func eachSwiftTypeBindsAsItsSQLValue() {
        let id = UUID()
        let date = Date(timeIntervalSince1970: 1_750_000_000.123456)
        let absentText: String? = nil
        let presentNumber: Int? = 7
        let statement: SQLStatement = """
            VALUES (\("t"), \(42), \(Int64.max), \(true), \(id), \(date), \(absentText), \(presentNumber), \(SQLValue.time(5)))
            """
        #expect(statement.binds == [
            .text("t"), .int(42), .int(Int64.max), .bool(true), .uuid(id), .time(1_750_000_000_123_456), .null, .int(7), .time(5),
        ])
        #expect(statement.sql(for: .postgres) == "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
    }

    /// A value that looks like SQL stays a value: it never reaches the statement text.
    @Test func textThatLooksLikeSQLIsBoundNotSpliced() {
        let hostile = "x'; DROP TABLE listeners; --"
        let statement: SQLStatement = "SELECT id FROM listeners WHERE name = \(hostile)"
        #expect(statement.sql(for: .postgres) == "SELECT id FROM listeners WHERE name = $1")
        #expect(!statement.sql(for: .sqlite).contains("DROP"))
        #expect(statement.binds == [.text(hostile)])
    }

    @Test func unsafeRawSplicesTextAndBindsNothing() {
        let column = "started_at"
        let statement: SQLStatement = "SELECT id FROM associations WHERE id = \(UUID()) ORDER BY \(unsafeRaw: column) DESC"
        #expect(statement.sql(for: .postgres) == "SELECT id FROM associations WHERE id = $1 ORDER BY started_at DESC")
        #expect(statement.binds.count == 1)
        #expect(SQLStatement(unsafeSQL: "DELETE FROM t").sql(for: .sqlite) == "DELETE FROM t")
        #expect(SQLStatement(unsafeSQL: "DELETE FROM t").binds.isEmpty)
    }

    /// Embedded statements, `+=` and `joined` keep their values bound and number placeholders across
    /// the whole statement.
    @Test func composedStatementsNumberPlaceholdersInOrder() {
        let filter: SQLStatement = "a = \(1) AND b = \(2)"
        var statement: SQLStatement = "SELECT * FROM t WHERE x = \("x") AND \(filter)"
        statement += " LIMIT \(10)"
        #expect(statement.sql(for: .postgres) == "SELECT * FROM t WHERE x = $1 AND a = $2 AND b = $3 LIMIT $4")
        #expect(statement.sql(for: .sqlite) == "SELECT * FROM t WHERE x = ?1 AND a = ?2 AND b = ?3 LIMIT ?4")
        #expect(statement.binds == [.text("x"), .int(1), .int(2), .int(10)])

        let values = SQLStatement.joined(["c", "d", "e"].map { "\($0)" })
        let insert: SQLStatement = "INSERT INTO t (\(unsafeRaw: "c1, c2, c3")) VALUES (\(values))" + " RETURNING \(unsafeRaw: "c1")"
        #expect(insert.sql(for: .postgres) == "INSERT INTO t (c1, c2, c3) VALUES ($1, $2, $3) RETURNING c1")
        #expect(insert.binds == [.text("c"), .text("d"), .text("e")])
        #expect(SQLStatement.joined([]).sql(for: .postgres).isEmpty)
    }

    /// Logs may show a statement: its description holds the SQL and the number of values, never a value.
    @Test func descriptionLeaksNoValue() {
        let statement: SQLStatement = "SELECT 1 WHERE patient_name = \("Doe^John")"
        #expect(!"\(statement)".contains("Doe"))
        #expect("\(statement)".contains("$1"))
    }

    // MARK: Rows

    @Test func rowsDecodeByColumnName() throws {
        let id = UUID()
        let row = SQLRow(columns: SQLColumns(["id", "name", "port", "enabled", "error", "started_at", "flag"]),
                         values: [.text(id.uuidString), .text("CT"), .int(104), .int(1), .null, .int(5_000_000), .bool(true)])
        #expect(try row.decode("id", as: UUID.self) == id)
        #expect(try row.decode("name", as: String.self) == "CT")
        #expect(try row.decode("port", as: Int.self) == 104)
        #expect(try row.decode("enabled", as: Bool.self) == true)
        #expect(try row.decode("error", as: String?.self) == nil)
        #expect(try row.decode("name", as: String?.self) == "CT")
        #expect(try row.decode("started_at", as: Date.self) == Date(timeIntervalSince1970: 5))
        #expect(try row.micros("started_at") == 5_000_000)
        #expect(try row.decode("flag", as: Int64.self) == 1)
    }

    @Test func aMissingColumnOrAnotherTypeIsADecodingErrorNamingTheColumn() throws {
        let row = SQLRow(columns: SQLColumns(["name", "error"]), values: [.text("CT"), .null])
        #expect(throws: SQLDecodingError.self) { try row.decode("port", as: Int.self) }
        #expect(throws: SQLDecodingError.self) { try row.decode("name", as: Int.self) }
        #expect(throws: SQLDecodingError.self) { try row.decode("error", as: String.self) }
        #expect(throws: SQLDecodingError.self) { try row.decode("name", as: Int?.self) }
        do {
            _ = try row.decode("port", as: Int.self)
        } catch let error as SQLDecodingError {
            #expect(error.column == "port")
            #expect(!error.description.contains("CT"))
        }
    }

    // MARK: Against the databases

    /// Every kind of value goes to the database as a parameter and comes back by column name unchanged,
    /// in each dialect's placeholder syntax.
    @Test(arguments: CatalogKind.allCases)
    func valuesRoundTripThroughTheDatabase(kind: CatalogKind) async throws {
        let id = UUID()
        let date = Date(timeIntervalSince1970: 1_750_000_000.654321)
        let hostile = "it's; -- $1 ?1 \\"
        try await withSQLDatabase(kind) { database in
            let row = try await database.read { session in
                try await session.query("""
                    SELECT \(hostile) AS text, \(Int64.min) AS number, \(false) AS flag, \(id) AS id, \(date) AS at,
                        \(String?.none) AS absent
                    """).first
            }
            let found = try #require(row)
            #expect(try found.decode("text", as: String.self) == hostile)
            #expect(try found.decode("number", as: Int64.self) == Int64.min)
            #expect(try found.decode("flag", as: Bool.self) == false)
            #expect(try found.decode("id", as: UUID.self) == id)
            #expect(try found.decode("at", as: Date.self) == CatalogTime.rounded(date))
            #expect(try found.decode("absent", as: String?.self) == nil)
        }
    }

    /// Runs `body` with the database layer of a catalog of `kind`, unmigrated.
    private func withSQLDatabase(_ kind: CatalogKind, _ body: (any CatalogDatabase) async throws -> Void) async throws {
        switch kind {
        case .postgres:
            try await withFreshPostgresDatabase { server, name in
                try await withRunningPostgresCatalog(url: server.url(database: name)) { catalog in
                    try await body(catalog.database)
                }
            }
        case .sqlite:
            try await withTemporaryDirectory { dir in
                let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("statement.sqlite").path, logger: catalogTestLogger)
                do {
                    try await body(catalog.database)
                } catch {
                    await catalog.close()
                    throw error
                }
                await catalog.close()
            }
        }
    }
}
