import DICOM
import Foundation
import NIOCore
import TestSupport
import Testing

/// Every file of pydicom's test_files and charset_files folders, plus synthetic files written by pydicom:
/// our DICOM JSON and catalog attributes must equal pydicom's (differences only as listed in
/// Fixtures/json-differences.json), identically for 1-byte, 7-byte and 64 KiB chunks; files pydicom
/// cannot read must give a typed `DataSetError`.
@Suite struct PydicomCorpusTests {
    @Test func jsonAndAttributesEqualPydicom() throws {
        let data = try Oracle.pydicomData()
        let synthetic = try Oracle.syntheticFiles()
        let work = try Oracle.temporaryDirectory("corpus")
        defer {
            try? FileManager.default.removeItem(at: work)
            try? FileManager.default.removeItem(at: synthetic)
        }
        let (manifestURL, entries) = try Oracle.manifest(
            inputs: [data.appendingPathComponent("test_files").path, data.appendingPathComponent("charset_files").path, synthetic.path],
            threshold: 1024, into: work)
        #expect(entries.count > 150, "expected the whole pydicom corpus, found \(entries.count) files")

        let ours = work.appendingPathComponent("ours")
        try FileManager.default.createDirectory(at: ours, withIntermediateDirectories: true)
        var chunkingMismatches: [String] = []
        for (index, entry) in entries.enumerated() {
            var result: [String: Any] = ["ok": false]
            if let offset = entry.datasetOffset, let syntax = entry.transferSyntax {
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: entry.path)).dropFirst(offset))
                var outcomes: [Result<ExtractedMetadata, DataSetError>] = []
                for chunkSize in [65536, 7, 1] {
                    outcomes.append(Result { () throws(DataSetError) in
                        try Oracle.extract(bytes, transferSyntaxUID: syntax, chunkSize: chunkSize)
                    })
                }
                switch outcomes[0] {
                case .success(let metadata):
                    result = ["ok": true, "attributes": Oracle.attributesJSON(metadata.attributes)]
                    try Data(metadata.json.readableBytesView).write(to: ours.appendingPathComponent("\(index).dicom.json"))
                case .failure(let error):
                    result = ["ok": false, "error": error.description]
                }
                for other in outcomes.dropFirst() where !Self.same(outcomes[0], other) {
                    chunkingMismatches.append(entry.path)
                }
            } else {
                result["error"] = "no data set offset from the oracle"
            }
            let data = try JSONSerialization.data(withJSONObject: result)
            try data.write(to: ours.appendingPathComponent("\(index).result.json"))
        }
        #expect(chunkingMismatches.isEmpty, "chunk size changed the result for: \(chunkingMismatches)")

        let compare = try Oracle.script("compare_json.py", [
            manifestURL.path, ours.path, Oracle.fixtures.appendingPathComponent("json-differences.json").path,
        ])
        #expect(compare.status == 0, "differences from pydicom:\n\(compare.stdout)\n\(compare.stderr)")
    }

    static func same(_ a: Result<ExtractedMetadata, DataSetError>, _ b: Result<ExtractedMetadata, DataSetError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): return x.json == y.json && x.attributes == y.attributes
        case (.failure(let x), .failure(let y)): return x == y
        default: return false
        }
    }
}
