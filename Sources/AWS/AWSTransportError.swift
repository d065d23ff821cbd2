import AsyncHTTPClient
import Foundation

/// Names for what went wrong talking to an AWS endpoint, safe to log and store: no body, no secret.
public enum AWSTransportError {
    /// A short, data-free name for a transport error.
    public static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("refused") { return "connection refused" }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded: return "timeout (deadline exceeded)"
            case .connectTimeout: return "connect timeout"
            case .readTimeout: return "read timeout"
            case .remoteConnectionClosed: return "connection closed by peer"
            default: return "transport error (\(error))"
            }
        }
        if text.localizedCaseInsensitiveContains("reset") { return "connection reset" }
        return "transport error (\(String(describing: type(of: error))): \(text.prefix(120)))"
    }
}
