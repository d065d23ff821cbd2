import Domain
import Testing

@testable import dicom_ingest

@Suite("Spool settings")
struct SpoolSettingsTests {
    @Test("defaults: spool under the data dir, 10 GiB, 32 uploads, stored")
    func defaults() throws {
        let config = try ServiceConfiguration.load(environment: ["DICOM_INGEST_DATA_DIR": "/var/lib/di"], currentDirectory: "/")
        #expect(config.spool.directory == "/var/lib/di/spool")
        #expect(config.spool.maxBytes == 10 << 30)
        #expect(config.spool.forwardConcurrency == 32)
        #expect(config.spool.leaseSeconds == 300)
        #expect(config.spool.defaultAckMode == .stored)
        #expect(config.embeddedDefaultListener().storage.ackMode == .stored)
    }

    @Test("variables, ACK_MODE for the seed listener and DICOM_INGEST_ACK_MODE as the default")
    func variables() throws {
        let env = [
            "DICOM_INGEST_SPOOL_DIR": "spool", "DICOM_INGEST_SPOOL_MAX_BYTES": "1048576",
            "DICOM_INGEST_FORWARD_CONCURRENCY": "4", "DICOM_INGEST_FORWARD_LEASE_SECONDS": "30",
            "DICOM_INGEST_NODE_ID": "node-7", "DICOM_INGEST_ACK_MODE": "spooled", "SCP_PORT": "11112",
        ]
        let config = try ServiceConfiguration.load(environment: env, currentDirectory: "/srv")
        #expect(config.spool.directory == "/srv/spool")
        #expect(config.spool.maxBytes == 1_048_576)
        #expect(config.spool.forwardConcurrency == 4)
        #expect(config.spool.leaseSeconds == 30)
        #expect(config.spool.nodeID == "node-7")
        #expect(config.spool.defaultAckMode == .spooled)
        #expect(config.seedListeners.first?.storage.ackMode == .spooled)

        var seed = env
        seed["ACK_MODE"] = "STORED"
        #expect(try ServiceConfiguration.load(environment: seed, currentDirectory: "/").seedListeners.first?.storage.ackMode == .stored)
    }

    @Test("invalid values name the variable", arguments: [
        ("DICOM_INGEST_SPOOL_MAX_BYTES", "0"), ("DICOM_INGEST_SPOOL_MAX_BYTES", "10G"),
        ("DICOM_INGEST_FORWARD_CONCURRENCY", "0"), ("DICOM_INGEST_FORWARD_LEASE_SECONDS", "-1"),
        ("DICOM_INGEST_ACK_MODE", "later"), ("ACK_MODE", "fast"),
    ])
    func invalid(variable: String, value: String) throws {
        var env = [variable: value]
        if variable == "ACK_MODE" { env["SCP_PORT"] = "11112" }
        #expect {
            _ = try ServiceConfiguration.load(environment: env, currentDirectory: "/")
        } throws: { error in
            (error as? ServiceConfiguration.Invalid)?.variable == variable
        }
    }
}
