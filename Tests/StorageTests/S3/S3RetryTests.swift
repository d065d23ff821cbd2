@testable import AWS
import AsyncHTTPClient
import Domain
import Foundation
import Logging
import MetricsTestKit
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import Storage

/// A fault-injecting proxy in front of moto: it answers 503 SlowDown where `fail` says so and
/// forwards everything else unchanged (Host header included, so signatures still verify).
actor FaultLog {
    var requests: [String] = []
    var injected = 0
    func record(_ line: String, injected: Bool) {
        requests.append(line)
        if injected { self.injected += 1 }
    }
}

func withFaultProxy<T: Sendable>(
    to env: S3TestEnvironment, fail: @escaping @Sendable (_ index: Int, _ head: HTTPRequestHead) -> Bool,
    hold: (@Sendable (_ head: HTTPRequestHead) async -> Void)? = nil,
    _ body: @Sendable (_ endpoint: String, _ log: FaultLog) async throws -> T
) async throws -> T {
    let log = FaultLog()
    let counter = FaultLog()
    return try await TestHTTPServer.with(handler: { request in
        await counter.record("", injected: false)
        let index = await counter.requests.count - 1
        let line = "\(request.head.method) \(request.head.uri)"
        await hold?(request.head)
        if fail(index, request.head) {
            await log.record(line, injected: true)
            return TestHTTPResponse(status: .serviceUnavailable, headers: ["content-type": "application/xml"],
                                    body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
        }
        await log.record(line, injected: false)
        var forward = HTTPClientRequest(url: env.endpoint + request.head.uri)
        forward.method = request.head.method
        for (name, value) in request.head.headers
        where !["content-length", "transfer-encoding", "connection"].contains(name.lowercased()) {
            forward.headers.add(name: name, value: value)
        }
        forward.body = .bytes(request.body)
        do {
            let response = try await HTTPClient.shared.execute(forward, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            var headers = HTTPHeaders()
            for (name, value) in response.headers
            where !["content-length", "transfer-encoding", "connection"].contains(name.lowercased()) {
                headers.add(name: name, value: value)
            }
            return TestHTTPResponse(status: response.status, headers: headers, buffer: bytes)
        } catch {
            return TestHTTPResponse(status: .badGateway, body: "proxy: \(error)")
        }
    }) { port in
        try await body("http://127.0.0.1:\(port)", log)
    }
}

@Suite struct S3RetryTests {
    static let mib = 1024 * 1024
    static let fastRetry = S3RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200),
                                         maxTotalTime: .seconds(20))

    @Test func firstRequestsAnswered503AreRetriedToSuccess() async throws {
        let env = try S3TestEnvironment.load()
        let prefix = S3TestEnvironment.uniquePrefix("retry")
        let small = prefix + "/small.dcm"
        let large = prefix + "/large.dcm"
        let (smallSHA, largeSHA) = try await withFaultProxy(to: env, fail: { index, _ in index < 3 || index % 4 == 0 }) { endpoint, log in
            let store = try env.store(partSize: 5 * Self.mib, endpoint: endpoint, retry: Self.fastRetry)
            let smallUpload = try await store.beginUpload(key: small, options: ObjectPutOptions(contentType: "application/dicom"))
            let smallSHA = try await TestData(total: 1000).forEachChunk { try await smallUpload.write($0) }
            _ = try await smallUpload.finish()
            #expect(await log.injected == 3)
            #expect(await log.requests.count == 4)  // three 503s, then the same PUT forwarded

            // From here every 4th request fails once more (CreateMultipartUpload, parts, Complete alike):
            // parts are re-sent from their buffer.
            let largeUpload = try await store.beginUpload(key: large, options: ObjectPutOptions(contentType: "application/dicom"))
            let largeSHA = try await TestData(total: 11 * Self.mib).forEachChunk { try await largeUpload.write($0) }
            _ = try await largeUpload.finish()
            #expect(await log.injected > 3)
            return (smallSHA, largeSHA)
        }
        let inspection = try env.inspect(keys: [small, large])
        #expect(inspection.objects[small]?.sha256 == smallSHA)
        #expect(inspection.objects[large]?.sha256 == largeSHA)
        #expect(inspection.objects[large]?.eTag.hasSuffix("-3\"") == true)
    }

    @Test func requestsAndRetriesAreCounted() async throws {
        let env = try S3TestEnvironment.load()
        let key = S3TestEnvironment.uniquePrefix("retry-metrics") + "/m.dcm"
        let metrics = TestMetrics()
        try await withFaultProxy(to: env, fail: { index, _ in index < 2 }) { endpoint, _ in
            let store = try env.store(endpoint: endpoint, retry: Self.fastRetry, metricsFactory: metrics)
            _ = try await store.put(key: key, body: ByteBuffer(string: "m"), options: ObjectPutOptions(contentType: "application/dicom"))
        }
        #expect(try metrics.expectCounter("s3_requests_total", [("operation", "PutObject"), ("status", "503")]).totalValue == 2)
        #expect(try metrics.expectCounter("s3_requests_total", [("operation", "PutObject"), ("status", "200")]).totalValue == 1)
        #expect(try metrics.expectCounter("s3_retries_total", [("operation", "PutObject")]).totalValue == 2)
    }

    @Test func partRetriesResendTheBufferedPart() async throws {
        let env = try S3TestEnvironment.load()
        let key = S3TestEnvironment.uniquePrefix("retry-parts") + "/parts.dcm"
        let sha = try await withFaultProxy(to: env, fail: { index, head in
            // Fail the first attempt of every UploadPart.
            head.uri.contains("partNumber=") && index % 2 == 1
        }) { endpoint, log in
            let store = try env.store(partSize: 5 * Self.mib, endpoint: endpoint, retry: Self.fastRetry)
            let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom", gzipLevel: 1))
            let sha = try await TestData(total: 12 * Self.mib).forEachChunk { try await upload.write($0) }
            _ = try await upload.finish()
            #expect(await log.injected >= 1)
            return sha
        }
        let info = try #require(try env.inspect(keys: [key]).objects[key])
        #expect(info.sha256 == sha)
        #expect(info.contentEncoding == "gzip")
    }

    @Test func persistent503EndsInUnavailableNamingOperationAndStatus() async throws {
        let env = try S3TestEnvironment.load()
        let key = S3TestEnvironment.uniquePrefix("retry-exhausted") + "/x.dcm"
        let policy = S3RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxTotalTime: .seconds(10))
        let error = try await withFaultProxy(to: env, fail: { _, _ in true }) { endpoint, log in
            let store = try env.store(endpoint: endpoint, retry: policy)
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.put(key: key, body: ByteBuffer(string: "secret body"), options: ObjectPutOptions(contentType: "application/dicom"))
            }
            #expect(await log.injected == 4)
            return error
        }
        #expect(error?.code == .unavailable)
        #expect(error?.detail.contains("PutObject") == true)
        #expect(error?.detail.contains("503 SlowDown") == true)
        #expect(error?.detail.contains("secret body") == false)
    }

    /// Shutdown cancels an upload past its grace period: the request in its retry loop makes no further attempt
    /// and fails saying so, instead of retrying for the rest of its time bound.
    @Test func aCancelledRequestStopsRetrying() async throws {
        let env = try S3TestEnvironment.load()
        let key = S3TestEnvironment.uniquePrefix("retry-cancelled") + "/x.dcm"
        let policy = S3RetryPolicy(maxAttempts: 10_000, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20), maxTotalTime: .seconds(600))
        try await withFaultProxy(to: env, fail: { _, _ in true }) { endpoint, log in
            let store = try env.store(endpoint: endpoint, retry: policy)
            let put = Task {
                try await store.put(key: key, body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
            }
            while await log.injected < 3 { try await Task.sleep(for: .milliseconds(10)) }
            put.cancel()
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await put.value }
            #expect(error?.code == .unavailable)
            #expect(error?.detail.contains("cancelled") == true, "\(error?.detail ?? "")")
            // The attempt cancelled in flight may still reach the proxy; any later one would be a retry
            // (they come every 10-20 ms).
            try await Task.sleep(for: .milliseconds(200))
            let attempts = await log.injected
            try await Task.sleep(for: .milliseconds(300))
            #expect(await log.injected == attempts, "attempts went on after the request failed")
        }
    }

    /// Cancellation also ends an attempt that S3 never answers (not only the retries after it).
    @Test func aCancelledRequestEndsItsAttemptInFlight() async throws {
        let arrived = AsyncStream<Void>.makeStream()
        let policy = S3RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20),
                                   maxTotalTime: .seconds(600), attemptTimeout: .seconds(600))
        try await TestHTTPServer.with(handler: { _ in
            arrived.continuation.yield()
            try? await Task.sleep(for: .seconds(600))
            return TestHTTPResponse(status: .ok, body: "")
        }) { port in
            let store = try S3ObjectStore(
                configuration: S3Configuration(bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:\(port)", retry: policy),
                credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "a", secretAccessKey: "s")),
                httpClient: .shared, logger: Logger(label: "t"))
            let put = Task {
                try await store.put(key: "k.dcm", body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
            }
            var requests = arrived.stream.makeAsyncIterator()
            await requests.next()
            put.cancel()
            let ended = try await Self.endsWithin(.seconds(30)) {
                let error = await #expect(throws: ObjectStoreError.self) { _ = try await put.value }
                #expect(error?.detail.contains("cancelled") == true, "\(error?.detail ?? "")")
            }
            #expect(ended, "the attempt in flight outlived the cancellation")
        }
    }

    /// A multipart upload cancelled while a part hangs: the part is cancelled, and the upload is still aborted,
    /// so no multipart upload stays behind. `whileWriting`: the cancellation reaches the writer while it waits
    /// for the part; otherwise while it does something else, and its `abort()` has to end the part.
    @Test(arguments: [true, false])
    func aCancelledMultipartUploadIsAborted(whileWriting: Bool) async throws {
        let env = try S3TestEnvironment.load()
        let prefix = S3TestEnvironment.uniquePrefix("retry-cancel-part")
        let key = prefix + "/x.dcm"
        let stalled = AsyncStream<Void>.makeStream()
        let policy = S3RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20),
                                   maxTotalTime: .seconds(600), attemptTimeout: .seconds(600))
        try await withFaultProxy(to: env, fail: { _, _ in false }, hold: { head in
            guard head.uri.contains("partNumber=2") else { return }
            stalled.continuation.yield()
            // Held until the proxy stops at the end of the test: a part S3 never answers.
            try? await Task.sleep(for: .seconds(600))
        }) { endpoint, log in
            let store = try env.store(partSize: 5 * Self.mib, endpoint: endpoint, retry: policy)
            let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
            let writing = Task {
                do {
                    // 16 MiB: sending part 3 waits for part 2. 11 MiB: part 2 is sent, then the writer waits elsewhere.
                    _ = try await TestData(total: (whileWriting ? 16 : 11) * Self.mib).forEachChunk { try await upload.write($0) }
                    try await Task.sleep(for: .seconds(600))
                    _ = try await upload.finish()
                } catch {
                    await upload.abort()
                    throw error
                }
            }
            var parts = stalled.stream.makeAsyncIterator()
            await parts.next()
            // Let the writer reach its wait (not a figure: if it has not, the other path is taken).
            try await Task.sleep(for: .milliseconds(200))
            writing.cancel()
            let ended = try await Self.endsWithin(.seconds(60)) {
                await #expect(throws: (any Error).self) { try await writing.value }
            }
            #expect(ended, "the cancelled upload did not end")
            #expect(await log.requests.contains { $0.hasPrefix("DELETE") && $0.contains("uploadId=") })
        }
        #expect(try env.inspect(keys: [key], uploadsPrefix: prefix).uploads == [])
    }

    /// Runs `body`; false when it has not ended within `bound` (a hang, not a speed figure).
    static func endsWithin(_ bound: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                try await Task.sleep(for: bound)
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// A cancelled upload's AbortMultipartUpload answered 503 (S3 and its emulators give 500 and 503 now and
    /// then): the cleanup is retried although its task is cancelled, so no multipart upload stays behind.
    @Test func aCancelledUploadRetriesItsAbortAfterA503() async throws {
        let env = try S3TestEnvironment.load()
        let prefix = S3TestEnvironment.uniquePrefix("retry-cancel-abort")
        let key = prefix + "/x.dcm"
        let deletes = DeleteCount()
        try await withFaultProxy(to: env, fail: { _, head in
            head.method == .DELETE && head.uri.contains("uploadId=") && deletes.next() == 1
        }) { endpoint, log in
            let store = try env.store(partSize: 5 * Self.mib, endpoint: endpoint, retry: Self.fastRetry)
            let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
            // The writer's task is cancelled once part 1 is sent: its next write sees it and aborts the upload.
            let writing = upload.writeCancellingItself(total: 16 * Self.mib, cancelAfter: 11 * Self.mib)
            await #expect(throws: CancellationError.self) { try await writing.value }
            let aborts = await log.requests.filter { $0.hasPrefix("DELETE") && $0.contains("uploadId=") }
            // At least the 503 and one retry; a retry whose answer is lost on its connection (moto closes every
            // connection) is sent again, and the DELETE of an upload already aborted succeeds as well.
            #expect(aborts.count >= 2, "the abort answered 503, then retried: \(aborts)")
            #expect(await log.injected == 1)
        }
        let after = try env.inspect(keys: [key], uploadsPrefix: prefix)
        #expect(after.uploads == [])
        #expect(after.missing == [key])
    }

    /// Counts the proxy's DELETE requests of a multipart upload (its `fail` closure is synchronous).
    final class DeleteCount: Sendable {
        private let count = Mutex(0)
        func next() -> Int { count.withLock { $0 += 1; return $0 } }
    }

    @Test func failingPartAbortsTheMultipartUpload() async throws {
        let env = try S3TestEnvironment.load()
        let prefix = S3TestEnvironment.uniquePrefix("retry-abort")
        let key = prefix + "/x.dcm"
        let policy = S3RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxTotalTime: .seconds(10))
        try await withFaultProxy(to: env, fail: { _, head in head.uri.contains("partNumber=2") }) { endpoint, _ in
            let store = try env.store(partSize: 5 * Self.mib, endpoint: endpoint, retry: policy)
            let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await TestData(total: 16 * Self.mib).forEachChunk { try await upload.write($0) }
                _ = try await upload.finish()
            }
            #expect(error?.detail.contains("UploadPart") == true)
        }
        let after = try env.inspect(keys: [key], uploadsPrefix: prefix)
        #expect(after.uploads == [])
        #expect(after.missing == [key])
    }

    @Test func connectionRefusedEndsWithinTheBoundWithAClearError() async throws {
        let port = try closedLoopbackPort()
        let policy = S3RetryPolicy(maxAttempts: 50, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500),
                                   maxTotalTime: .seconds(3), attemptTimeout: .seconds(2))
        let store = try S3ObjectStore(
            configuration: S3Configuration(bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:\(port)", retry: policy),
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "a", secretAccessKey: "s")),
            httpClient: .shared, logger: Logger(label: "t"))
        let started = ContinuousClock.now
        let error = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.put(key: "k.dcm", body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
        }
        let elapsed = ContinuousClock.now - started
        print("connection refused: \(error.map { "\($0)" } ?? "no error") after \(elapsed)")
        #expect(error?.code == .unavailable)
        #expect(error?.detail.contains("PutObject") == true)
        #expect(error?.detail.contains("connection refused") == true, "\(error?.detail ?? "")")
        // The bound is 3 s. This is not a speed assertion: the machine may be loaded by parallel suites,
        // so only a hang (no bound at all) must fail it.
        #expect(elapsed < .seconds(60), "took \(elapsed)")
    }
}
