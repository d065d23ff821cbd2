import Foundation

/// Catalog timestamps are whole microseconds (PostgreSQL's `timestamptz` resolution), in both dialects.
///
/// The conversion goes through `timeIntervalSinceReferenceDate` (the value `Date` stores), so a
/// Date read back from the catalog converts to exactly the same integer again: keyset cursors compare
/// integers, never re-rounded doubles.
enum CatalogTime {
    /// 2001-01-01 (Foundation's reference date) minus 1970-01-01, in microseconds.
    static let referenceToUnixMicros: Int64 = 978_307_200_000_000
    /// 2000-01-01 (PostgreSQL's epoch) minus 1970-01-01, in microseconds.
    static let postgresToUnixMicros: Int64 = 946_684_800_000_000

    /// Microseconds since 1970-01-01 UTC, rounded to the nearest microsecond.
    static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSinceReferenceDate * 1_000_000).rounded()) + referenceToUnixMicros
    }

    static func date(_ unixMicros: Int64) -> Date {
        Date(timeIntervalSinceReferenceDate: Double(unixMicros - referenceToUnixMicros) / 1_000_000)
    }

    /// `date` as the catalog will store and return it.
    static func rounded(_ date: Date) -> Date { self.date(micros(date)) }
}
