import Domain
import Foundation

/// Totals over the whole catalog, per listener and per UTC receive day.
extension SQLCatalog {
    public func stats() async throws -> CatalogStats {
        // The UTC day of `received_at` as YYYY-MM-DD.
        let day: SQLStatement = dialect == .postgres
            ? "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            : "strftime('%Y-%m-%d', received_at / 1000000, 'unixepoch')"
        return try await read { session in
            let totals = try await session.query("""
                SELECT (SELECT count(*) FROM instances) AS instances,
                    (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM instances) AS bytes,
                    (SELECT count(*) FROM studies) AS studies, (SELECT count(*) FROM series) AS series
                """)
            guard let t = totals.first else {
                throw SQLDecodingError(column: "instances", reason: "is missing: the totals query returned no row")
            }
            let byListener = try await session.query("""
                SELECT listener_id, count(*) AS instances, CAST(SUM(size_bytes) AS BIGINT) AS bytes FROM instances
                GROUP BY listener_id ORDER BY listener_id
                """).map { row in
                CatalogStats.ByListener(listenerID: try row.decode("listener_id"), instances: try row.decode("instances"),
                                        bytes: try row.decode("bytes"))
            }
            let byDay = try await session.query("""
                SELECT \(day) AS day, count(*) AS instances, CAST(SUM(size_bytes) AS BIGINT) AS bytes FROM instances
                GROUP BY day ORDER BY day
                """).map { row in
                CatalogStats.ByDay(date: try row.decode("day"), instances: try row.decode("instances"), bytes: try row.decode("bytes"))
            }
            return CatalogStats(instances: try t.decode("instances"), studies: try t.decode("studies"),
                                series: try t.decode("series"), bytes: try t.decode("bytes"),
                                byListener: byListener, byDay: byDay, spool: try await Self.spoolFigures(in: session))
        }
    }
}
