import DICOM
import Foundation
import NIOCore
import TestSupport
import Testing

/// Runs the Python oracle scripts (pydicom) and DCMTK, and feeds files to our codec.
enum Oracle {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Runs a program to completion (python3 with pydicom 3, or DCMTK).
    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
        try Subprocess.run(executable, arguments, installHint: "Install it (python3 with pydicom 3, DCMTK).")
    }

    static func python(_ arguments: [String]) throws -> ProcessOutput {
        try run("python3", arguments)
    }

    static func script(_ name: String, _ arguments: [String]) throws -> ProcessOutput {
        let output = try python([scripts.appendingPathComponent(name).path] + arguments)
        return output
    }

    /// pydicom's bundled data folder (test_files, charset_files).
    static func pydicomData() throws -> URL {
        let output = try python(["-c", "import pydicom,os;print(os.path.dirname(pydicom.__file__))"])
        guard output.status == 0 else {
            throw TestSetupError("python3 cannot import pydicom (pip install pydicom==3.0.2): \(output.stderr)")
        }
        return URL(fileURLWithPath: output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).appendingPathComponent("data")
    }

    static func temporaryDirectory(_ name: String) throws -> URL {
        try makeTemporaryDirectory("dicom-tests-\(name)")
    }

    /// Synthetic files written by pydicom (gen_synthetic.py), generated once per test process.
    static func syntheticFiles() throws -> URL {
        let directory = try temporaryDirectory("synthetic")
        let output = try script("gen_synthetic.py", [directory.path])
        guard output.status == 0 else { throw TestSetupError("gen_synthetic.py failed: \(output.stderr)") }
        return directory
    }

    struct Entry {
        var path: String
        var ok: Bool
        var error: String?
        var datasetOffset: Int?
        var transferSyntax: String?
    }

    /// Runs pydicom_oracle.py over `inputs` and returns its manifest entries (and the manifest path).
    static func manifest(inputs: [String], threshold: Int, into directory: URL) throws -> (URL, [Entry]) {
        let output = try script("pydicom_oracle.py", [directory.path, String(threshold)] + inputs)
        guard output.status == 0 else { throw TestSetupError("pydicom_oracle.py failed: \(output.stderr)") }
        let url = directory.appendingPathComponent("manifest.json")
        let list = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]] ?? []
        return (url, list.map { item in
            Entry(path: item["path"] as? String ?? "", ok: item["ok"] as? Bool ?? false, error: item["error"] as? String,
                  datasetOffset: item["dataset_offset"] as? Int, transferSyntax: item["transfer_syntax"] as? String)
        })
    }

    static let bulkDataURI: @Sendable (BulkDataReference) -> String = { reference in
        "bulk:\(reference.tag.hexString):\(reference.length)"
    }

    /// Feeds `bytes` to a fresh extractor in chunks of `chunkSize` (slices of one buffer, as PDVs are).
    static func extract(_ bytes: [UInt8], transferSyntaxUID: String, chunkSize: Int,
                        options: MetadataOptions = MetadataOptions(bulkDataURI: bulkDataURI)) throws(DataSetError) -> ExtractedMetadata {
        var extractor = try MetadataExtractor(transferSyntaxUID: transferSyntaxUID, options: options)
        var buffer = ByteBuffer(bytes: bytes)
        while buffer.readableBytes > 0 {
            let chunk = buffer.readSlice(length: min(chunkSize, buffer.readableBytes))!
            try extractor.consume(chunk)
        }
        return try extractor.finish()
    }

    static func attributesJSON(_ attributes: CatalogAttributes) -> [String: Any] {
        func value(_ string: String?) -> Any { string ?? NSNull() }
        func value(_ int: Int?) -> Any { int ?? NSNull() }
        return [
            "patientID": value(attributes.patientID), "patientName": value(attributes.patientName),
            "patientBirthDate": value(attributes.patientBirthDate), "patientSex": value(attributes.patientSex),
            "studyInstanceUID": value(attributes.studyInstanceUID), "studyDate": value(attributes.studyDate),
            "studyTime": value(attributes.studyTime), "studyDescription": value(attributes.studyDescription),
            "accessionNumber": value(attributes.accessionNumber), "seriesInstanceUID": value(attributes.seriesInstanceUID),
            "seriesNumber": value(attributes.seriesNumber), "seriesDescription": value(attributes.seriesDescription),
            "modality": value(attributes.modality), "sopClassUID": value(attributes.sopClassUID),
            "sopInstanceUID": value(attributes.sopInstanceUID), "instanceNumber": value(attributes.instanceNumber),
            "numberOfFrames": value(attributes.numberOfFrames),
        ]
    }
}
