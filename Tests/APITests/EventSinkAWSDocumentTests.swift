@testable import API
import Domain
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The `eventbridge` and `sns` members of `POST` / `PUT /v1/event-sinks`: every invalid one named at once.
@Suite struct EventSinkAWSDocumentTests {
    static let restricted = AWSEventSinkPolicy(
        defaultRegion: nil, requiresRegion: true,
        endpoints: StorageAccessPolicy.EndpointPattern.aws + ["http://127.0.0.1:4566"].compactMap(StorageAccessPolicy.EndpointPattern.init))

    func decode(_ json: String, current: EventSink? = nil, policy: AWSEventSinkPolicy = .unrestricted) throws -> EventSink {
        try EventSinkDocument.decode(ByteBuffer(string: json), current: current, awsPolicy: policy)
    }

    /// The fields a 400 names, or nil when the body was accepted.
    func invalidFields(_ json: String, current: EventSink? = nil, policy: AWSEventSinkPolicy = .unrestricted) -> [String]? {
        do {
            _ = try decode(json, current: current, policy: policy)
            return nil
        } catch let problem as Problem {
            return (problem.errors ?? []).map(\.field).sorted()
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func eventBridgeSinkKeepsItsMembersAndNeedsNoSecret() throws {
        let sink = try decode(#"{"name":"bus","kind":"eventbridge","eventBusName":"imaging","source":"org.example.pacs","region":"eu-west-1","endpoint":"https://events.eu-west-1.amazonaws.com"}"#,
                              policy: Self.restricted)
        #expect(sink.kind == .eventbridge)
        #expect(sink.settings == EventSinkSettings(eventBusName: "imaging", source: "org.example.pacs", region: "eu-west-1",
                                                   endpoint: "https://events.eu-west-1.amazonaws.com"))
        #expect(sink.secret == nil)
    }

    @Test func snsSinkNeedsATopicARN() throws {
        let sink = try decode(#"{"name":"topic","kind":"sns","topicArn":"arn:aws-us-gov:sns:us-gov-west-1:123456789012:studies.fifo"}"#,
                              policy: Self.restricted)
        #expect(sink.settings.topicArn == "arn:aws-us-gov:sns:us-gov-west-1:123456789012:studies.fifo")
        #expect(invalidFields(#"{"name":"topic","kind":"sns"}"#) == ["topicArn"])
        for bad in ["arn:aws:sns:us-east-1:12345678901:t", "arn:aws:s3:::bucket", "arn:aws:sns:us-east-1:123456789012:",
                    "arn:aws:sns:US:123456789012:t", "arn:aws:sns:us-east-1:123456789012:a.b"] {
            #expect(invalidFields(#"{"name":"topic","kind":"sns","topicArn":"\#(bad)"}"#) == ["topicArn"], "\(bad)")
        }
    }

    @Test func everyInvalidMemberIsNamedAtOnce() {
        let body = #"{"name":"t","kind":"sns","topicArn":"nope","region":"us-east-1","url":"https://example.org/","secret":"0123456789abcdef0","endpoint":"ftp://x","eventBusName":"b"}"#
        #expect(invalidFields(body) == ["endpoint", "eventBusName", "region", "secret", "topicArn", "url"])
        let bus = #"{"name":"b","kind":"eventbridge","eventBusName":"has space","source":"a b","region":"EU","topicArn":"arn:aws:sns:us-east-1:123456789012:t"}"#
        #expect(invalidFields(bus) == ["eventBusName", "region", "source", "topicArn"])
    }

    @Test func webhookSinkRefusesTheAWSMembers() {
        let body = #"{"name":"h","kind":"webhook","url":"https://example.org/","secret":"0123456789abcdef0","source":"x","region":"us-east-1","topicArn":"arn:aws:sns:us-east-1:123456789012:t"}"#
        #expect(invalidFields(body) == ["region", "source", "topicArn"])
    }

    @Test func eventBridgeRegionComesFromTheSinkTheBusARNOrTheEnvironment() {
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge"}"#, policy: Self.restricted) == ["region"])
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge","region":"us-east-1"}"#, policy: Self.restricted) == nil)
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge","eventBusName":"arn:aws:events:eu-west-1:123456789012:event-bus/x"}"#,
                              policy: Self.restricted) == nil)
        var withEnvironment = Self.restricted
        withEnvironment.defaultRegion = "eu-central-1"
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge"}"#, policy: withEnvironment) == nil)
    }

    @Test func endpointMustBeOneTheOperatorAllows() {
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge","region":"us-east-1","endpoint":"https://collector.example.org"}"#,
                              policy: Self.restricted) == ["endpoint"])
        #expect(invalidFields(#"{"name":"b","kind":"eventbridge","region":"us-east-1","endpoint":"http://127.0.0.1:4566"}"#,
                              policy: Self.restricted) == nil)
        #expect(invalidFields(#"{"name":"t","kind":"sns","topicArn":"arn:aws:sns:us-east-1:123456789012:t","endpoint":"https://sns.us-east-1.amazonaws.com"}"#,
                              policy: Self.restricted) == nil)
        #expect(invalidFields(#"{"name":"t","kind":"sns","topicArn":"arn:aws:sns:us-east-1:123456789012:t","endpoint":"https://x/path"}"#)
                == ["endpoint"])
    }

    @Test func aSinkKeepsItsKindOnReplace() throws {
        let webhook = try decode(#"{"name":"h","kind":"webhook","url":"https://example.org/","secret":"0123456789abcdef0"}"#)
        let topic = try decode(#"{"name":"t","kind":"sns","topicArn":"arn:aws:sns:us-east-1:123456789012:t"}"#)
        // Another kind, otherwise valid (a webhook without a secret included): 409 naming kind.
        for (body, current) in [(#"{"name":"h","kind":"sns","topicArn":"arn:aws:sns:us-east-1:123456789012:t"}"#, webhook),
                                (#"{"name":"t","kind":"webhook","url":"https://example.org/"}"#, topic)] {
            #expect {
                try decode(body, current: current)
            } throws: { error in
                let problem = error as? Problem
                return problem?.status == .conflict && problem?.errors?.map(\.field) == ["kind"]
            }
        }
        // An invalid body is a 400 naming its fields, whatever the kind.
        #expect(invalidFields(#"{"name":"t","kind":"webhook","url":"ftp://x"}"#, current: topic) == ["url"])
        // The same kind replaces; a webhook's absent secret keeps the stored one.
        #expect(try decode(#"{"name":"h2","kind":"webhook","url":"https://example.org/b"}"#, current: webhook).secret == "0123456789abcdef0")
        #expect(try decode(#"{"name":"t","kind":"sns","topicArn":"arn:aws:sns:us-east-1:123456789012:u"}"#, current: topic)
            .settings.topicArn == "arn:aws:sns:us-east-1:123456789012:u")
    }

    /// openapi.yaml states the same patterns the server applies, so a schema-valid body is accepted.
    @Test func openAPIPatternsAreTheValidatorsPatterns() async throws {
        let script = """
        import json, yaml
        s = yaml.safe_load(open("openapi.yaml"))["components"]["schemas"]
        print(json.dumps({"eventBusName": s["EventBridgeSinkWrite"]["properties"]["eventBusName"]["pattern"],
                          "source": s["EventBridgeSinkWrite"]["properties"]["source"]["pattern"],
                          "topicArn": s["SNSSinkWrite"]["properties"]["topicArn"]["pattern"],
                          "region": s["Region"]["pattern"],
                          "snsMembers": sorted(s["SNSSinkWrite"]["properties"]),
                          "eventBridgeMembers": sorted(s["EventBridgeSinkWrite"]["properties"])}))
        """
        let result = try await Subprocess.runOffPool("python3", ["-c", script], currentDirectory: repositoryRoot)
        try #require(result.status == 0, "reading openapi.yaml failed (pip install pyyaml):\n\(result.output)")
        let facts = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        #expect(facts["eventBusName"] as? String == AWSResourceName.eventBusNamePattern)
        #expect(facts["source"] as? String == AWSResourceName.eventSourcePattern)
        #expect(facts["topicArn"] as? String == AWSResourceName.topicARNPattern)
        #expect(facts["region"] as? String == AWSResourceName.regionPattern)
        let common = ["enabled", "eventTypes", "kind", "listenerIds", "name"]
        #expect(facts["snsMembers"] as? [String] == (common + Array(EventSinkDocument.kindMembers[.sns] ?? [])).sorted())
        #expect(facts["eventBridgeMembers"] as? [String] == (common + Array(EventSinkDocument.kindMembers[.eventbridge] ?? [])).sorted())
    }
}
