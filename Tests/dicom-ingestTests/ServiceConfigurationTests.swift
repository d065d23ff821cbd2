import Domain
import Logging
import Testing

@testable import dicom_ingest

@Suite("Service configuration")
struct ServiceConfigurationTests {
    @Test("no settings: embedded default, loopback fallback, SQLite")
    func embeddedDefault() throws {
        let config = try ServiceConfiguration.load(environment: [:], currentDirectory: "/srv/app")
        #expect(config.httpHost == "0.0.0.0")
        #expect(config.httpHostIsDefault)
        #expect(config.httpPort == 8080)
        #expect(config.dataDirectory == "/srv/app/data")
        #expect(config.databaseURL == nil)
        #expect(config.adminTokens.isEmpty)
        #expect(config.seedListeners.isEmpty)
        #expect(config.wantsEmbeddedDefaultListener)
        let listener = config.embeddedDefaultListener()
        #expect(listener.name == "default")
        #expect(listener.port == 11112)
        #expect(listener.storage.backend == .filesystem)
        #expect(listener.storage.path == "/srv/app/data/objects")
        #expect(listener.storage.gzip == false)
    }

    @Test("service variables and flags (flags win)")
    func serviceVariables() throws {
        let env = [
            "DICOM_INGEST_HTTP_HOST": "10.1.2.3", "DICOM_INGEST_HTTP_PORT": "9000", "DICOM_INGEST_DATA_DIR": "/var/lib/di",
            "DICOM_INGEST_DATABASE_URL": "postgres://u:p@db:5432/x", "DICOM_INGEST_ADMIN_TOKENS": "a1, a2 ,",
            "DICOM_INGEST_READ_TOKENS": "r1", "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://minio:9000",
            "LOG_LEVEL": "WARNING", "DICOM_INGEST_LOG_FORMAT": "json",
        ]
        let config = try ServiceConfiguration.load(environment: env, overrides: ["DICOM_INGEST_HTTP_PORT": "9100"], currentDirectory: "/")
        #expect(config.httpHost == "10.1.2.3")
        #expect(!config.httpHostIsDefault)
        #expect(config.httpPort == 9100)
        #expect(config.dataDirectory == "/var/lib/di")
        #expect(config.databaseURL == "postgres://u:p@db:5432/x")
        #expect(config.adminTokens == ["a1", "a2"])
        #expect(config.readTokens == ["r1"])
        #expect(config.awsRegion == "eu-west-1")
        #expect(config.s3Endpoint == "http://minio:9000")
        #expect(config.logLevel == .warning)
        #expect(config.logFormat == .json)
    }

    @Test("seed environment defines the default listener")
    func seedEnvironment() throws {
        let env = [
            "SCP_PORT": "11112", "STUNNEL_PORT": "11113", "RECEIVE_BUCKET": "bucket-1", "AWS_REGION": "us-east-2",
            "DICOM_PREFIX": "", "METADATA_PREFIX": "META", "ADD_STUDYUID_PREFIX": "True", "GZIP_FILES": "False",
            "GZIP_LEVEL": "5", "CREATE_METADATA": "false", "CSTORE_DELAY_MS": "25", "DIMSE_TIMEOUT": "45",
            "MAXIMUM_ASSOCIATIONS": "7", "MAXIMUM_PDU_SIZE": "65536", "NETWORK_TIMEOUT": "90",
            "S3_UPLOAD_WORKERS": "10", "BOTO_MAX_POOL_CONNECTIONS": "50",
            "DICOM_INGEST_TLS_CERTIFICATE_FILE": "/certs/server.pem", "DICOM_INGEST_TLS_PRIVATE_KEY_FILE": "/certs/server.key",
        ]
        let config = try ServiceConfiguration.load(environment: env, currentDirectory: "/")
        #expect(!config.wantsEmbeddedDefaultListener)
        #expect(config.s3MaxConnections == 50)
        #expect(config.seedListeners.map(\.name) == ["default", "default-tls"])
        let plain = config.seedListeners[0]
        #expect(plain.port == 11112)
        #expect(plain.tls == nil)
        #expect(plain.storage.backend == .s3)
        #expect(plain.storage.bucket == "bucket-1")
        #expect(plain.storage.region == "us-east-2")
        #expect(plain.storage.dicomPrefix == "")
        #expect(plain.storage.metadataPrefix == "META")
        #expect(plain.storage.addStudyUIDPrefix)
        #expect(!plain.storage.gzip)
        #expect(plain.storage.gzipLevel == 5)
        #expect(!plain.storage.createMetadata)
        #expect(plain.limits == ListenerLimits(maxAssociations: 7, maxPDUSize: 65536, dimseTimeoutSeconds: 45, networkTimeoutSeconds: 90, cstoreDelayMs: 25))
        let tls = config.seedListeners[1]
        #expect(tls.port == 11113)
        #expect(tls.tls?.certificateFile == "/certs/server.pem")
        #expect(tls.storage == plain.storage)
    }

    @Test("invalid values name the variable")
    func invalidValues() {
        #expect(throws: ServiceConfiguration.Invalid.self) {
            try ServiceConfiguration.load(environment: ["SCP_PORT": "70000"], currentDirectory: "/")
        }
        do {
            _ = try ServiceConfiguration.load(environment: ["SCP_PORT": "11112", "GZIP_FILES": "maybe"], currentDirectory: "/")
            Issue.record("accepted GZIP_FILES=maybe")
        } catch let error as ServiceConfiguration.Invalid {
            #expect(error.variable == "GZIP_FILES")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: ServiceConfiguration.Invalid.self) {
            try ServiceConfiguration.load(environment: ["LOG_LEVEL": "LOUD"], currentDirectory: "/")
        }
    }
}
