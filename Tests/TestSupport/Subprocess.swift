public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left: its exit status and everything it wrote.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdoutData: Data
    public var stderrData: Data

    public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    public var stderr: String { String(decoding: stderrData, as: UTF8.self) }
    /// Standard output followed by standard error, for failure messages.
    public var output: String { stdout + stderr }
    public var succeeded: Bool { status == 0 }
    /// Standard output parsed as JSON (the peer scripts print one JSON document), nil if it is not JSON.
    public var json: Any? { try? JSONSerialization.jsonObject(with: stdoutData) }
    /// `json` when it is an object.
    public var jsonObject: [String: Any]? { json as? [String: Any] }
}

/// Runs the external tools the tests take their truth from (Python with pydicom/pynetdicom/boto3, DCMTK,
/// gzip, openssl). A tool that is not installed is a `TestSetupError` naming what to install: the test
/// fails, it never skips.
public enum Subprocess {
    /// Runs `executable` (an absolute path, or a name looked up in PATH) to completion. Standard output
    /// and standard error are read concurrently and `stdin` is written from another thread, so no pipe
    /// can fill up and block the child.
    public static func run(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
        currentDirectory: URL? = nil, installHint: String? = nil
    ) throws -> ProcessOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try resolve(executable, installHint: installHint))
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        do {
            try process.run()
        } catch {
            throw TestSetupError("cannot start \(executable): \(error)" + (installHint.map { ". \($0)" } ?? ""))
        }
        if let stdin {
            let writer = Thread {
                input.fileHandleForWriting.write(stdin)
                try? input.fileHandleForWriting.close()
            }
            writer.start()
        }
        let group = DispatchGroup()
        nonisolated(unsafe) var stderrData = Data()
        group.enter()
        DispatchQueue.global().async {
            stderrData = readToEndRetryingEINTR(err.fileHandleForReading)
            group.leave()
        }
        let stdoutData = readToEndRetryingEINTR(out.fileHandleForReading)
        group.wait()
        process.waitUntilExit()
        return ProcessOutput(status: process.terminationStatus, stdoutData: stdoutData, stderrData: stderrData)
    }

    /// Runs `executable` to completion without holding any thread while it runs: standard output and
    /// standard error go to temporary files and the exit is awaited through `terminationHandler`. Tests
    /// that run peers against a server in the same process use this, so a waiting child never takes a
    /// thread from Swift's cooperative pool (two threads on a two-core machine), which that server needs.
    public static func runOffPool(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
        currentDirectory: URL? = nil, installHint: String? = nil
    ) async throws -> ProcessOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try resolve(executable, installHint: installHint))
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let directory = try TemporaryDirectory("subprocess")
        let out = directory.url.appendingPathComponent("stdout")
        let err = directory.url.appendingPathComponent("stderr")
        try Data().write(to: out)
        try Data().write(to: err)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let input = directory.url.appendingPathComponent("stdin")
            try stdin.write(to: input)
            process.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: TestSetupError(
                    "cannot start \(executable): \(error)" + (installHint.map { ". \($0)" } ?? "")))
            }
        }
        return ProcessOutput(status: status, stdoutData: try Data(contentsOf: out), stderrData: try Data(contentsOf: err))
    }

    /// `python3` from PATH with `arguments` (a script path or `-c PROGRAM`, then its arguments).
    public static func python(
        _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:], installHint: String? = nil
    ) throws -> ProcessOutput {
        try run("python3", arguments, stdin: stdin, environment: environment,
                installHint: installHint ?? "Install Python 3 with the packages in scripts/requirements-test.txt")
    }

    /// The absolute path of `executable`; a missing tool is an error that says what to install.
    static func resolve(_ executable: String, installHint: String?) throws -> String {
        let hint = installHint.map { ": \($0)" } ?? ""
        if executable.hasPrefix("/") {
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                throw TestSetupError("\(executable) is not installed\(hint)")
            }
            return executable
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let found = path.split(separator: ":").map({ "\($0)/\(executable)" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestSetupError("\(executable) not found in PATH\(hint)")
        }
        return found
    }
}

/// Reads a pipe to its end. Foundation's `readDataToEndOfFile()` traps when read(2) is interrupted by a
/// signal (EINTR: children exiting while many suites run in parallel); this retries instead.
public func readToEndRetryingEINTR(_ handle: FileHandle) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    let descriptor = handle.fileDescriptor
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            data.append(contentsOf: buffer[0..<count])
        } else if count == 0 || errno != EINTR {
            return data
        }
    }
}
