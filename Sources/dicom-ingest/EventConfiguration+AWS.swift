import AWS
import Domain
import Foundation

extension EventConfiguration {
    /// The AWS event sinks' policy: the service's region (`AWS_REGION` / `AWS_DEFAULT_REGION`), and the
    /// endpoints a sink's `endpoint` may name: `DICOM_INGEST_EVENTS_AWS_ENDPOINTS` (comma-separated
    /// `http(s)://host[:port]`, host may start with `*.`, port may be `*`), by default the AWS endpoints and
    /// the endpoints the environment names for the SDKs (`AWS_ENDPOINT_URL_EVENTBRIDGE`,
    /// `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL`), which are also where sinks without `endpoint` go.
    static func awsSinkPolicy(environment env: [String: String]) throws -> AWSEventSinkPolicy {
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        var endpoints = StorageAccessPolicy.EndpointPattern.aws
        for name in ["AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "AWS_ENDPOINT_URL"] {
            guard let endpoint = value(name) else { continue }
            guard let pattern = StorageAccessPolicy.EndpointPattern(endpoint) else {
                throw ServiceConfiguration.Invalid(variable: name, message: "expected an http(s) URL of scheme, host and optional port, got '\(endpoint)'")
            }
            endpoints.append(pattern)
        }
        if let raw = value("DICOM_INGEST_EVENTS_AWS_ENDPOINTS") {
            endpoints = []
            for item in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                guard let pattern = StorageAccessPolicy.EndpointPattern(item) else {
                    throw ServiceConfiguration.Invalid(variable: "DICOM_INGEST_EVENTS_AWS_ENDPOINTS",
                                                       message: "expected http(s)://host[:port] items (host may start with '*.', port may be '*'), got '\(item)'")
                }
                endpoints.append(pattern)
            }
        }
        // A region that is no DNS label is no default: sinks must then name theirs.
        let region = AWSEnvironment.region(in: env.compactMapValues { $0.trimmingCharacters(in: .whitespaces) })
            .flatMap { ListenerValidation.matches($0, AWSResourceName.regionPattern) ? $0 : nil }
        return AWSEventSinkPolicy(defaultRegion: region, requiresRegion: true, endpoints: endpoints)
    }
}
