import Foundation
import Logging

/// One JSON object per line on stdout: `ts`, `level`, `logger`, `msg` and the metadata as strings.
/// Suits log shippers (CloudWatch, Loki) that parse JSON lines.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: String] = [:]
        for (key, value) in metadata { object[key] = "\(value)" }
        if let extra = event.metadata {
            for (key, value) in extra { object[key] = "\(value)" }
        }
        object["ts"] = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        object["level"] = event.level.rawValue
        object["logger"] = label
        object["msg"] = event.message.description
        var data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        } catch {
            // Strings only: serialisation cannot fail; keep the event rather than drop it.
            data = Data("{\"level\":\"\(event.level.rawValue)\",\"msg\":\"unserialisable log event\"}".utf8)
        }
        data.append(0x0A)
        FileHandle.standardOutput.write(data)
    }
}
