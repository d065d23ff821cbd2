import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands the admin token generated for a run without tokens to the person who started it, never to the
/// log (logs are shipped and kept; a token in them is a credential anyone with log access holds).
/// On a terminal it is printed once to stderr; otherwise it is written to `<data dir>/admin-token`
/// (0600, replaced each run) and the log says where.
enum GeneratedToken {
    static let fileName = "admin-token"

    static func hand(_ token: String, dataDirectory: String, httpHost: String, logger: Logger) throws {
        if isatty(STDERR_FILENO) == 1 {
            FileHandle.standardError.write(Data("dicom-ingest: generated admin token for this run: \(token)\n".utf8))
            logger.warning("No DICOM_INGEST_ADMIN_TOKENS configured: REST API bound to \(httpHost); the generated admin token was printed to the terminal")
            return
        }
        let path = dataDirectory + "/" + fileName
        try write(token + "\n", to: path)
        logger.warning("No DICOM_INGEST_ADMIN_TOKENS configured: REST API bound to \(httpHost); generated admin token written to \(path) (mode 0600)")
    }

    /// Creates or replaces the file owner-only; a symlink in its place is refused, not followed.
    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TokenFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // An existing file keeps its mode through O_CREAT: tighten it before the token is in it.
        guard fchmod(fd, 0o600) == 0 else { throw TokenFileError(path: path, reason: String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TokenFileError(path: path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }

    struct TokenFileError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "cannot write the generated admin token to \(path): \(reason)" }
    }
}

/// write(2) under a name that does not collide with `FileHandle.write` lookups.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
