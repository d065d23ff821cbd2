/// The AWS SDKs' shared environment settings, read the way botocore reads them.
public enum AWSEnvironment {
    /// The region: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    public static func region(in environment: [String: String]) -> String? {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// A custom endpoint for one service: `AWS_ENDPOINT_URL_<SERVICE>` (the service id upper-cased, spaces
    /// and dashes as underscores, e.g. `S3`, `SNS`, `EVENTBRIDGE`), else `AWS_ENDPOINT_URL`.
    public static func endpoint(service: String, in environment: [String: String]) -> String? {
        let key = "AWS_ENDPOINT_URL_" + service.uppercased().map { $0 == " " || $0 == "-" ? "_" : $0 }.map(String.init).joined()
        for name in [key, "AWS_ENDPOINT_URL"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }
}
