@testable import AWS
import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import Testing

@testable import Storage

@Suite struct ObjectStoreProviderTests {
    func provider(endpoint: String? = nil, region: String? = nil) -> DefaultObjectStoreProvider {
        DefaultObjectStoreProvider(
            httpClient: .shared,
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "a", secretAccessKey: "s")),
            defaultRegion: region, defaultEndpoint: endpoint, logger: Logger(label: "t"))
    }

    @Test func filesystemTargetsUseTheirPath() async throws {
        let store = try await provider().objectStore(for: StorageTarget(backend: .filesystem, path: "/tmp/some-root"))
        let fs = try #require(store as? FilesystemObjectStore)
        #expect(fs.root == "/tmp/some-root")
        await #expect(throws: ObjectStoreError.self) {
            _ = try await provider().objectStore(for: StorageTarget(backend: .filesystem, path: nil))
        }
    }

    @Test func s3TargetsFallBackToDefaultsAndAreCachedPerIdentity() async throws {
        let p = provider(endpoint: "http://127.0.0.1:9", region: "eu-west-1")
        let a = try #require(try await p.objectStore(for: StorageTarget(backend: .s3, bucket: "b1")) as? S3ObjectStore)
        #expect(a.configuration.bucket == "b1")
        #expect(a.configuration.region == "eu-west-1")
        #expect(a.configuration.endpoint == "http://127.0.0.1:9")
        let again = try #require(try await p.objectStore(for: StorageTarget(backend: .s3, bucket: "b1", gzip: false)) as? S3ObjectStore)
        #expect(a === again, "same bucket/region/endpoint → same store")
        let own = try #require(try await p.objectStore(for: StorageTarget(
            backend: .s3, bucket: "b1", region: "us-west-2", endpoint: "http://127.0.0.1:10")) as? S3ObjectStore)
        #expect(own !== a)
        #expect(own.configuration.region == "us-west-2")
        #expect(own.configuration.endpoint == "http://127.0.0.1:10")
        await #expect(throws: ObjectStoreError.self) {
            _ = try await p.objectStore(for: StorageTarget(backend: .s3, bucket: nil))
        }
    }

    @Test func addressingStyle() throws {
        func location(_ configuration: S3Configuration, _ key: String?) throws -> (String, String) {
            let t = try S3Transport(configuration: configuration, credentials: StaticCredentialsProvider(
                AWSCredentials(accessKeyID: "a", secretAccessKey: "s")), httpClient: .shared, logger: Logger(label: "t"))
            let l = t.location(key: key)
            return (l.host, l.canonicalURI)
        }
        // AWS: virtual-hosted by default.
        #expect(try location(S3Configuration(bucket: "my-bucket", region: "eu-west-1"), "a b.dcm")
                == ("my-bucket.s3.eu-west-1.amazonaws.com", "/a%20b.dcm"))
        // Forced path style, and buckets that cannot be a TLS host label.
        #expect(try location(S3Configuration(bucket: "my-bucket", region: "eu-west-1", forcePathStyle: true), "k")
                == ("s3.eu-west-1.amazonaws.com", "/my-bucket/k"))
        #expect(try location(S3Configuration(bucket: "my.dotted.bucket", region: "us-east-1"), "k")
                == ("s3.us-east-1.amazonaws.com", "/my.dotted.bucket/k"))
        // Custom endpoint: path style, port kept, default port dropped.
        #expect(try location(S3Configuration(bucket: "b", endpoint: "http://minio:9000"), nil) == ("minio:9000", "/b"))
        #expect(try location(S3Configuration(bucket: "b", endpoint: "https://s3.example.com:443/"), "x/y")
                == ("s3.example.com", "/b/x/y"))
        #expect(throws: ObjectStoreError.self) { _ = try location(S3Configuration(bucket: "b", endpoint: "ftp://x"), nil) }
    }

    @Test func environmentEndpointAndRegion() {
        #expect(S3Configuration.endpoint(fromEnvironment: ["AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://s3"]) == "http://s3")
        #expect(S3Configuration.endpoint(fromEnvironment: ["AWS_ENDPOINT_URL": "http://a"]) == "http://a")
        #expect(S3Configuration.endpoint(fromEnvironment: [:]) == nil)
        #expect(S3Configuration.region(fromEnvironment: ["AWS_DEFAULT_REGION": "x", "AWS_REGION": "y"]) == "y")
        let c = S3Configuration(bucket: "b", partSize: 1024)
        #expect(c.partSize == S3Configuration.minimumPartSize)
        #expect(c.singlePutThreshold == c.partSize)
        #expect(S3Configuration(bucket: "b").partSize == 5 * 1024 * 1024)
    }

    @Test func xmlScanner() {
        let doc = #"<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>a &lt;b&gt; &amp; &#233;</Message><CodeX>no</CodeX><Empty/></Error>"#
        #expect(AWSXML.value(of: "Code", in: doc) == "SlowDown")
        #expect(AWSXML.value(of: "Message", in: doc) == "a <b> & é")
        #expect(AWSXML.value(of: "Empty", in: doc) == "")
        #expect(AWSXML.value(of: "Missing", in: doc) == nil)
        #expect(AWSXML.values(of: "PartNumber", in: "<P><PartNumber>1</PartNumber><PartNumber>2</PartNumber></P>") == ["1", "2"])
    }
}
