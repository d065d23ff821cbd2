import Foundation

/// Just enough XML for the AWS query and REST-XML protocols (S3, STS, SNS responses): the text of leaf elements by name. S3's response
/// documents are flat and small (`<Error><Code>…`, `<UploadId>`, `<Credentials><AccessKeyId>…`), so
/// a scanner is enough and avoids a libxml2 dependency.
public enum AWSXML {
    /// Texts of every `<name>…</name>` (also `<name attr="…">`), entity-decoded, in document order.
    public static func values(of name: String, in document: String) -> [String] {
        var results: [String] = []
        let close = "</\(name)>"
        var rest = document[...]
        while let open = rest.range(of: "<\(name)") {
            let afterName = rest[open.upperBound...]
            guard let first = afterName.first, first == ">" || first == " " || first == "\t" || first == "\n" || first == "\r" || first == "/" else {
                rest = afterName
                continue
            }
            guard let tagEnd = afterName.firstIndex(of: ">") else { break }
            if tagEnd > afterName.startIndex, afterName[afterName.index(before: tagEnd)] == "/" {  // <name/>
                results.append("")
                rest = afterName[afterName.index(after: tagEnd)...]
                continue
            }
            let contentStart = afterName.index(after: tagEnd)
            guard let end = afterName[contentStart...].range(of: close) else { break }
            results.append(decodeEntities(String(afterName[contentStart..<end.lowerBound])))
            rest = afterName[end.upperBound...]
        }
        return results
    }

    public static func value(of name: String, in document: String) -> String? {
        values(of: name, in: document).first
    }

    public static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else {
                out += rest[amp...]
                return out
            }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var scalar: Unicode.Scalar?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst(), radix: 10).flatMap(Unicode.Scalar.init)
                }
                if let scalar { out.unicodeScalars.append(scalar) } else { out += rest[amp...semi] }
            }
            rest = rest[rest.index(after: semi)...]
        }
        out += rest
        return out
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }
}
