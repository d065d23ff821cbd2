public import Domain
import Foundation

/// `healthimaging_imports`: the HealthImaging import jobs the `healthimaging` sinks started, polled until
/// they end.
extension SQLCatalog {

    public func recordImport(_ job: HealthImagingImport) async throws {
        _ = try await write { session in
            try await session.query("""
                INSERT INTO healthimaging_imports (\(ImportRow.columns))
                VALUES (\(job.eventID), \(job.sinkID), \(job.part), \(job.studyInstanceUID), \(job.datastoreID),
                    \(job.inputS3URI), \(job.outputS3URI), \(job.clientToken), \(job.jobID), \(job.status.rawValue),
                    \(job.submittedAt), \(job.endedAt), \(job.failureCount), \(job.message), \(job.polling),
                    \(job.nextPollAt), \(job.pollAttempts))
                ON CONFLICT (event_id, sink_id, part) DO NOTHING
                """)
        }
    }

    public func importsToPoll(now: Date, limit: Int) async throws -> [HealthImagingImport] {
        try await read { session in
            try await session.query("""
                SELECT \(ImportRow.columns) FROM healthimaging_imports
                WHERE polling AND next_poll_at <= \(now) ORDER BY next_poll_at LIMIT \(limit)
                """).map(HealthImagingImport.init(row:))
        }
    }

    public func updateImport(_ job: HealthImagingImport) async throws {
        _ = try await write { session in
            try await session.query("""
                UPDATE healthimaging_imports SET status = \(job.status.rawValue), ended_at = \(job.endedAt),
                    failure_count = \(job.failureCount), message = \(job.message), polling = \(job.polling),
                    next_poll_at = \(job.nextPollAt), poll_attempts = \(job.pollAttempts)
                WHERE event_id = \(job.eventID) AND sink_id = \(job.sinkID) AND part = \(job.part)
                """)
        }
    }

    public func imports(studyInstanceUID: String) async throws -> [HealthImagingImport] {
        try await read { session in
            try await session.query("""
                SELECT \(ImportRow.columns) FROM healthimaging_imports WHERE study_instance_uid = \(studyInstanceUID)
                ORDER BY submitted_at, event_id, sink_id, part
                """).map(HealthImagingImport.init(row:))
        }
    }
}

enum ImportRow {
    static let columns = SQLStatement(unsafeSQL: """
        event_id, sink_id, part, study_instance_uid, datastore_id, input_s3_uri, output_s3_uri, client_token, job_id,
        status, submitted_at, ended_at, failure_count, message, polling, next_poll_at, poll_attempts
        """)
}

extension PostgresCatalog: HealthImagingImportStore {}
extension SQLiteCatalog: HealthImagingImportStore {}

extension HealthImagingImport {
    init(row: SQLRow) throws {
        guard let status = HealthImagingJobStatus(rawValue: try row.decode("status")) else {
            throw SQLDecodingError(column: "status", reason: "holds an unknown job status")
        }
        self.init(eventID: try row.decode("event_id"), sinkID: try row.decode("sink_id"), part: try row.decode("part"),
                  studyInstanceUID: try row.decode("study_instance_uid"), datastoreID: try row.decode("datastore_id"),
                  inputS3URI: try row.decode("input_s3_uri"), outputS3URI: try row.decode("output_s3_uri"),
                  clientToken: try row.decode("client_token"), jobID: try row.decode("job_id"), status: status,
                  submittedAt: try row.decode("submitted_at"), endedAt: try row.decode("ended_at"),
                  failureCount: try row.decode("failure_count"), message: try row.decode("message"),
                  polling: try row.decode("polling"), nextPollAt: try row.decode("next_poll_at"),
                  pollAttempts: try row.decode("poll_attempts"))
    }
}
