import Domain
import Testing

@testable import dicom_ingest

@Suite("AWS event sink policy from the environment")
struct AWSEventSinkPolicyConfigurationTests {
    @Test("default: AWS endpoints and the SDK endpoint variables; the region of AWS_REGION, else AWS_DEFAULT_REGION")
    func defaults() throws {
        let policy = try EventConfiguration.awsSinkPolicy(environment: [
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL_SNS": "http://127.0.0.1:4566",
        ])
        #expect(policy.requiresRegion)
        #expect(policy.defaultRegion == "eu-west-1")
        #expect(policy.admits(endpoint: "https://events.eu-west-1.amazonaws.com"))
        #expect(policy.admits(endpoint: "https://sns.cn-north-1.amazonaws.com.cn"))
        #expect(policy.admits(endpoint: "http://127.0.0.1:4566"))
        #expect(!policy.admits(endpoint: "http://127.0.0.1:4567"))
        #expect(!policy.admits(endpoint: "https://collector.example.org"))
        #expect(try EventConfiguration.awsSinkPolicy(environment: ["AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "eu-west-1"])
            .defaultRegion == "us-east-2")
        #expect(try EventConfiguration.awsSinkPolicy(environment: [:]).defaultRegion == nil)
        // A region that is no DNS label is no default.
        #expect(try EventConfiguration.awsSinkPolicy(environment: ["AWS_REGION": "evil.example.org/"]).defaultRegion == nil)
    }

    @Test("DICOM_INGEST_EVENTS_AWS_ENDPOINTS replaces the list; a malformed item names the variable")
    func explicitList() throws {
        let policy = try EventConfiguration.awsSinkPolicy(environment: [
            "DICOM_INGEST_EVENTS_AWS_ENDPOINTS": "http://localhost:*, https://*.vpce.amazonaws.com",
        ])
        #expect(policy.admits(endpoint: "http://localhost:5000"))
        #expect(policy.admits(endpoint: "https://vpce-1.events.us-east-1.vpce.amazonaws.com"))
        #expect(!policy.admits(endpoint: "https://events.us-east-1.amazonaws.com"))
        #expect {
            try EventConfiguration.awsSinkPolicy(environment: ["DICOM_INGEST_EVENTS_AWS_ENDPOINTS": "ftp://x"])
        } throws: { error in
            (error as? ServiceConfiguration.Invalid)?.variable == "DICOM_INGEST_EVENTS_AWS_ENDPOINTS"
        }
        #expect {
            try EventConfiguration.awsSinkPolicy(environment: ["AWS_ENDPOINT_URL_EVENTBRIDGE": "http://host/path"])
        } throws: { error in
            (error as? ServiceConfiguration.Invalid)?.variable == "AWS_ENDPOINT_URL_EVENTBRIDGE"
        }
    }
}
