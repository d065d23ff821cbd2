@testable import AWS
import AsyncHTTPClient
import Crypto
import Domain
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport
import Testing

@testable import Storage

/// The moto S3 emulator started by scripts/test (or `scripts/services start /tmp/devsvc`), with
/// SigV4 authentication switched on.
struct S3TestEnvironment: Sendable {
    var endpoint: String
    var accessKeyID: String
    var secretAccessKey: String
    var bucket: String
    var region: String

    static func load() throws -> S3TestEnvironment {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            guard let v = env[name], !v.isEmpty else {
                throw TestSetupError("\(name) is not set: these tests need the moto S3 emulator with auth on. "
                    + "Run them through scripts/test, or `scripts/services start /tmp/devsvc && source /tmp/devsvc/env`.")
            }
            return v
        }
        return S3TestEnvironment(endpoint: try value("TEST_S3_ENDPOINT"), accessKeyID: try value("TEST_S3_ACCESS_KEY_ID"),
                                 secretAccessKey: try value("TEST_S3_SECRET_ACCESS_KEY"),
                                 bucket: try value("TEST_S3_BUCKET"), region: try value("TEST_S3_REGION"))
    }

    var credentials: AWSCredentials {
        AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey)
    }

    func store(partSize: Int = S3Configuration.minimumPartSize, endpoint: String? = nil,
               secret: String? = nil, retry: S3RetryPolicy = S3RetryPolicy(maxTotalTime: .seconds(60)),
               metricsFactory: (any MetricsFactory)? = nil) throws -> S3ObjectStore {
        let configuration = S3Configuration(bucket: bucket, region: region, endpoint: endpoint ?? self.endpoint,
                                            partSize: partSize, retry: retry)
        let creds = AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret ?? secretAccessKey)
        return try S3ObjectStore(configuration: configuration, credentials: StaticCredentialsProvider(creds),
                                 httpClient: .shared, logger: Logger(label: "s3-test"), metricsFactory: metricsFactory)
    }

    /// A key prefix no other test run uses.
    static func uniquePrefix(_ name: String) -> String {
        "tests/\(name)/\(UUID().uuidString)"
    }

    // MARK: - Reading back with boto3 (truth from outside)

    struct ObjectInfo: Decodable {
        var sha256: String
        var length: Int
        var storedLength: Int
        var contentType: String?
        var contentEncoding: String?
        var storageClass: String?
        var serverSideEncryption: String?
        var eTag: String
    }

    struct Inspection: Decodable {
        var objects: [String: ObjectInfo]
        var missing: [String]
        var uploads: [String]?
    }

    /// Streams each object through SHA-256 in boto3 (gunzipping when it is stored gzip-encoded), and
    /// optionally lists the multipart uploads in progress under a prefix.
    func inspect(keys: [String], uploadsPrefix: String? = nil) throws -> Inspection {
        var command: [String: Any] = ["keys": keys]
        if let uploadsPrefix { command["uploads_prefix"] = uploadsPrefix }
        let json = try JSONSerialization.data(withJSONObject: command)
        let out = try runPython(Self.inspectScript, arguments: [String(decoding: json, as: UTF8.self)])
        return try JSONDecoder().decode(Inspection.self, from: out)
    }

    func runPython(_ script: String, arguments: [String]) throws -> Data {
        let result = try Subprocess.python(["-c", script] + arguments, environment: [
            "TEST_S3_ENDPOINT": endpoint, "TEST_S3_ACCESS_KEY_ID": accessKeyID,
            "TEST_S3_SECRET_ACCESS_KEY": secretAccessKey, "TEST_S3_BUCKET": bucket, "TEST_S3_REGION": region,
        ], installHint: "pip install boto3")
        guard result.status == 0 else {
            throw TestSetupError("python3 (boto3) failed with \(result.status): \(result.stderr.suffix(2000))")
        }
        return result.stdoutData
    }

    static let inspectScript = #"""
import hashlib, json, os, sys, zlib
import boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["TEST_S3_ENDPOINT"], region_name=os.environ["TEST_S3_REGION"],
                  aws_access_key_id=os.environ["TEST_S3_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["TEST_S3_SECRET_ACCESS_KEY"])
bucket = os.environ["TEST_S3_BUCKET"]
cmd = json.loads(sys.argv[1])
out = {"objects": {}, "missing": []}
for key in cmd.get("keys", []):
    try:
        r = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            out["missing"].append(key)
            continue
        raise
    gz = r.get("ContentEncoding") == "gzip"
    d = zlib.decompressobj(31) if gz else None
    plain, stored, n = hashlib.sha256(), 0, 0
    first = True
    for chunk in r["Body"].iter_chunks(1 << 20):
        if first and gz and not chunk.startswith(b"\x1f\x8b"):
            d = None  # the HTTP stack already decoded it
        first = False
        stored += len(chunk)
        p = d.decompress(chunk) if d else chunk
        plain.update(p); n += len(p)
    if d:
        p = d.flush(); plain.update(p); n += len(p)
        assert d.eof, "gzip stream truncated"
    out["objects"][key] = {"sha256": plain.hexdigest(), "length": n, "storedLength": stored,
        "contentType": r.get("ContentType"), "contentEncoding": r.get("ContentEncoding"),
        "storageClass": r.get("StorageClass"), "serverSideEncryption": r.get("ServerSideEncryption"),
        "eTag": r["ETag"]}
if "uploads_prefix" in cmd:
    # No Prefix parameter: moto's signature check mis-handles an encoded '/' in the query string.
    r = s3.list_multipart_uploads(Bucket=bucket)
    out["uploads"] = [u["Key"] for u in r.get("Uploads", []) if u["Key"].startswith(cmd["uploads_prefix"])]
print(json.dumps(out))
"""#
}

/// Deterministic pseudo-random bytes produced chunk by chunk, hashed as they go, so a 200 MiB object
/// never exists in memory at once.
struct TestData {
    let total: Int
    let chunkSize: Int
    private let block: [UInt8]

    init(total: Int, chunkSize: Int = 64 * 1024 + 3, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        self.total = total
        self.chunkSize = chunkSize
        var state = seed
        var block = [UInt8](repeating: 0, count: chunkSize)
        for i in 0..<chunkSize {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            block[i] = UInt8(truncatingIfNeeded: state)
        }
        self.block = block
    }

    /// Calls `body` with each chunk in order; returns the SHA-256 (hex) of all bytes.
    func forEachChunk(_ body: (ByteBuffer) async throws -> Void) async rethrows -> String {
        var sha = SHA256()
        var offset = 0
        var index: UInt64 = 0
        while offset < total {
            let n = min(chunkSize, total - offset)
            var buffer = ByteBuffer()
            buffer.reserveCapacity(n)
            buffer.writeBytes(block[0..<n])
            // Stamp the chunk index so no two chunks are equal.
            if n >= 8 { buffer.setInteger(index, at: 0) }
            buffer.withUnsafeReadableBytes { sha.update(bufferPointer: $0) }
            try await body(buffer)
            offset += n
            index += 1
        }
        return SigV4Signer.hex(sha.finalize())
    }
}

enum ProcessMemory {
    /// Resident set size in bytes, from /proc/self/status (VmRSS).
    static func residentBytes() -> Int { status("VmRSS:") }

    /// Peak resident set size of the process so far (VmHWM).
    static func highWaterMark() -> Int { status("VmHWM:") }

    private static func status(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return digits * 1024
        }
        return 0
    }
}

// MARK: - A tiny HTTP/1.1 server on loopback for fakes and fault injection

struct TestHTTPRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
}

struct TestHTTPResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders = HTTPHeaders()
    var body: ByteBuffer = ByteBuffer()

    init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: String = "") {
        self.status = status
        self.headers = headers
        self.body = ByteBuffer(string: body)
    }

    init(status: HTTPResponseStatus, headers: HTTPHeaders, buffer: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = buffer
    }
}

enum TestHTTPServer {
    typealias Handler = @Sendable (TestHTTPRequest) async -> TestHTTPResponse

    /// Runs a server on 127.0.0.1 (free port) for the duration of `body`.
    static func with<T: Sendable>(handler: @escaping Handler, _ body: @Sendable (Int) async throws -> T) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let port = server.channel.localAddress!.port!
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            connections.addTask {
                                do { try await serve(connection, handler) } catch {}
                            }
                        }
                    }
                }
            }
            do {
                let result = try await body(port)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              _ handler: Handler) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = ByteBuffer()
                case .body(var b):
                    body.writeBuffer(&b)
                case .end:
                    guard let head else { return }
                    var response = await handler(TestHTTPRequest(head: head, body: body))
                    response.headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: response.status,
                                                                    headers: response.headers)))
                    try await outbound.write(.body(.byteBuffer(response.body)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

/// Which port nothing listens on: bind one, note it, close it.
func closedLoopbackPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress!.port!
    try channel.close().wait()
    return port
}

extension ObjectUpload {
    /// Writes `total` bytes of `TestData` from a task of its own that cancels itself once `cancelAfter` bytes
    /// are written: the upload sees the cancellation on its next write and aborts itself. Returns the task.
    func writeCancellingItself(total: Int, cancelAfter: Int) -> Task<Void, any Error> {
        Task {
            var written = 0
            _ = try await TestData(total: total).forEachChunk { chunk in
                if written >= cancelAfter { withUnsafeCurrentTask { $0?.cancel() } }
                try await self.write(chunk)
                written += chunk.readableBytes
            }
        }
    }
}
