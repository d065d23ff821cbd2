public import AsyncHTTPClient
import Crypto
public import Domain
import Foundation
public import NIOCore
import NIOHTTP1

/// POSTs the CloudEvent (structured mode, `application/cloudevents+json`) to the sink's URL.
///
/// The receiver authenticates it with `X-Dicom-Ingest-Signature: sha256=<hex>`, the HMAC-SHA256 under the
/// sink's secret of `<X-Dicom-Ingest-Timestamp>.<body>` (Unix seconds, a dot, the exact body bytes), and
/// can refuse stale timestamps against replay. `X-Dicom-Ingest-Event-Id` repeats the CloudEvents `id`,
/// the same on every attempt, for deduplication. Any 2xx is delivery; anything else is retried.
public struct WebhookTransport: EventTransport {
    public static let signatureHeader = "X-Dicom-Ingest-Signature"
    public static let timestampHeader = "X-Dicom-Ingest-Timestamp"
    public static let eventIdHeader = "X-Dicom-Ingest-Event-Id"

    let httpClient: HTTPClient
    let timeout: TimeAmount

    public init(httpClient: HTTPClient, timeout: TimeAmount = .seconds(10)) {
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// `sha256=` and the lowercase hex HMAC-SHA256 of `timestamp.body` under `secret`.
    public static func signature(secret: String, timestamp: Int64, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + LowercaseHex.string(mac)
    }

    public func deliver(_ delivery: ClaimedDelivery) async throws {
        guard let url = delivery.sink.settings.url else { throw DeliveryError("sink has no url") }
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/cloudevents+json; charset=utf-8")
        request.headers.add(name: Self.timestampHeader, value: String(timestamp))
        request.headers.add(name: Self.eventIdHeader, value: delivery.eventID.uuidString.lowercased())
        if let secret = delivery.sink.secret {
            request.headers.add(name: Self.signatureHeader, value: Self.signature(secret: secret, timestamp: timestamp, body: delivery.body))
        }
        let body = ByteBuffer(string: delivery.body)
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: timeout)
        } catch let error as HTTPClientError {
            throw DeliveryError("transport: \(error)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw DeliveryError("transport: \(type(of: error))")
        }
        // The body is read and dropped so the connection can be reused; at most 64 KiB is kept.
        do {
            _ = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            // A receiver that answered 2xx has accepted the event whatever follows the status line.
        }
        guard (200..<300).contains(response.status.code) else {
            throw DeliveryError("HTTP \(response.status.code)")
        }
    }
}
