public import AsyncHTTPClient
public import AWS
public import Foundation
import Domain
public import NIOCore
import NIOHTTP1

/// The two AWS HealthImaging operations the `healthimaging` sink needs, in the service's REST-JSON
/// protocol (`medical-imaging` 2023-07-19), signed with SigV4 like botocore's `SigV4Auth` (signing name
/// `medical-imaging`, no `x-amz-content-sha256`):
///
/// ```
/// POST /startDICOMImportJob/datastore/{datastoreId}      {"clientToken": …, "dataAccessRoleArn": …, …}
/// GET  /getDICOMImportJob/datastore/{datastoreId}/job/{jobId}
/// ```
///
/// The request body is written the way botocore writes it (members sorted by name, `", "` and `": "`
/// separators, non-ASCII as `\uXXXX`), so a request is byte for byte the one botocore sends for the
/// same input.
public struct HealthImagingClient: Sendable {
    /// The service id of the model, for `AWS_ENDPOINT_URL_MEDICAL_IMAGING`.
    public static let serviceID = "Medical Imaging"
    public static let signingName = "medical-imaging"

    /// The input of `StartDICOMImportJob`.
    public struct StartJob: Sendable, Hashable {
        public var datastoreID: String
        public var jobName: String
        public var dataAccessRoleARN: String
        public var clientToken: String
        public var inputS3URI: String
        public var outputS3URI: String
        public var inputOwnerAccountID: String?

        public init(datastoreID: String, jobName: String, dataAccessRoleARN: String, clientToken: String, inputS3URI: String,
                    outputS3URI: String, inputOwnerAccountID: String? = nil) {
            self.datastoreID = datastoreID
            self.jobName = jobName
            self.dataAccessRoleARN = dataAccessRoleARN
            self.clientToken = clientToken
            self.inputS3URI = inputS3URI
            self.outputS3URI = outputS3URI
            self.inputOwnerAccountID = inputOwnerAccountID
        }
    }

    /// What `StartDICOMImportJob` and `GetDICOMImportJob` say about a job.
    public struct Job: Sendable, Hashable {
        public var jobID: String
        public var status: String
        public var submittedAt: Date?
        public var endedAt: Date?
        public var message: String?
    }

    /// The endpoint of the sink: its own `endpoint`, else `AWS_ENDPOINT_URL_MEDICAL_IMAGING` /
    /// `AWS_ENDPOINT_URL`, else `https://medical-imaging.<region>.amazonaws.com`.
    public static func endpoint(configured: String?, region: String, environment: [String: String]) -> String {
        let chosen = configured.flatMap { $0.isEmpty ? nil : $0 }
            ?? AWSEnvironment.endpoint(service: serviceID, in: environment)
            ?? AWSResourceName.defaultEndpoint(service: signingName, region: region)
        return chosen.hasSuffix("/") ? String(chosen.dropLast()) : chosen
    }

    /// The JSON body of `StartDICOMImportJob` as botocore serializes it.
    public static func body(of job: StartJob) -> String {
        var members: [(String, String)] = [
            ("clientToken", job.clientToken), ("dataAccessRoleArn", job.dataAccessRoleARN), ("inputS3Uri", job.inputS3URI),
            ("jobName", job.jobName), ("outputS3Uri", job.outputS3URI),
        ]
        if let account = job.inputOwnerAccountID { members.append(("inputOwnerAccountId", account)) }
        members.sort { $0.0 < $1.0 }
        return "{" + members.map { "\(ASCIIJSON.quoted($0.0)): \(ASCIIJSON.quoted($0.1))" }.joined(separator: ", ") + "}"
    }

    /// `StartDICOMImportJob`, signed for `date`.
    public static func startRequest(_ job: StartJob, endpoint: String, region: String, credentials: AWSCredentials,
                                    date: Date) throws -> AWSServiceRequest {
        try AWSServiceRequest.make(
            path: "/startDICOMImportJob/datastore/" + SigV4Signer.uriEncode(job.datastoreID, keepSlash: false),
            endpoint: endpoint, region: region, service: signingName, headers: [("content-type", "application/json")],
            body: body(of: job), credentials: credentials, date: date)
    }

    /// `GetDICOMImportJob`, signed for `date`.
    public static func getRequest(datastoreID: String, jobID: String, endpoint: String, region: String,
                                  credentials: AWSCredentials, date: Date) throws -> AWSServiceRequest {
        try AWSServiceRequest.make(
            method: "GET",
            path: "/getDICOMImportJob/datastore/" + SigV4Signer.uriEncode(datastoreID, keepSlash: false)
                + "/job/" + SigV4Signer.uriEncode(jobID, keepSlash: false),
            endpoint: endpoint, region: region, service: signingName, headers: [], body: "", credentials: credentials, date: date)
    }

    let client: AWSServiceClient
    let environment: [String: String]

    public init(httpClient: HTTPClient, credentials: any AWSCredentialsProvider, environment: [String: String],
                timeout: TimeAmount = .seconds(20)) {
        self.client = AWSServiceClient(httpClient: httpClient, credentials: credentials, environment: environment, timeout: timeout)
        self.environment = environment
    }

    public func start(_ job: StartJob, region: String, endpoint: String?) async throws -> Job {
        let request = try Self.startRequest(job, endpoint: Self.endpoint(configured: endpoint, region: region, environment: environment),
                                            region: region, credentials: try await client.currentCredentials(), date: Date())
        let object = try await send(request, operation: "StartDICOMImportJob")
        return try Self.job(from: object, operation: "StartDICOMImportJob")
    }

    public func get(datastoreID: String, jobID: String, region: String, endpoint: String?) async throws -> Job {
        let request = try Self.getRequest(datastoreID: datastoreID, jobID: jobID,
                                          endpoint: Self.endpoint(configured: endpoint, region: region, environment: environment),
                                          region: region, credentials: try await client.currentCredentials(), date: Date())
        let object = try await send(request, operation: "GetDICOMImportJob")
        guard let properties = object["jobProperties"] as? [String: Any] else {
            throw HealthImagingError(operation: "GetDICOMImportJob", status: 200, code: nil,
                                     message: "response has no jobProperties", retryable: true)
        }
        return try Self.job(from: properties, operation: "GetDICOMImportJob")
    }

    /// Sends the request; a transport failure is a retryable `HealthImagingError`, an error answer one that
    /// says whether to retry.
    private func send(_ request: AWSServiceRequest, operation: String) async throws -> [String: Any] {
        let response: AWSServiceRequest.Response
        do {
            response = try await client.send(request, operation: operation)
        } catch let error as DeliveryError {
            throw HealthImagingError(operation: operation, status: nil, code: nil, message: error.detail, retryable: true)
        }
        // An error answer need not be JSON (a proxy's HTML page): its status still says what happened.
        let object: [String: Any]?
        do {
            object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
        } catch {
            object = nil
        }
        guard (200..<300).contains(response.status) else {
            throw HealthImagingError(response: response, object: object, operation: operation)
        }
        guard let object else {
            throw HealthImagingError(operation: operation, status: response.status, code: nil,
                                     message: "response is not a JSON object", retryable: true)
        }
        return object
    }

    static func job(from object: [String: Any], operation: String) throws -> Job {
        guard let jobID = object["jobId"] as? String, let status = object["jobStatus"] as? String else {
            throw HealthImagingError(operation: operation, status: 200, code: nil, message: "response has no jobId or jobStatus",
                                     retryable: true)
        }
        func date(_ key: String) -> Date? { (object[key] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) } }
        return Job(jobID: jobID, status: status, submittedAt: date("submittedAt"), endedAt: date("endedAt"),
                   message: object["message"] as? String)
    }
}

/// A HealthImaging call that failed: the HTTP status and the error code of the REST-JSON protocol
/// (`x-amzn-ErrorType` or `__type`), safe to store (never the request).
public struct HealthImagingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var status: Int?
    public var code: String?
    public var message: String?
    /// Throttling, 5xx and transport errors are worth retrying; a refused input is not.
    public var retryable: Bool

    public init(operation: String, status: Int?, code: String?, message: String?, retryable: Bool) {
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
    }

    init(response: AWSServiceRequest.Response, object: [String: Any]?, operation: String) {
        let header = response.headers.first { $0.0.lowercased() == "x-amzn-errortype" }?.1
        var code = header ?? (object?["__type"] as? String) ?? (object?["code"] as? String)
        // `aws.protocols#ValidationException:http://…` and `…#ThrottlingException` name the same code.
        if let raw = code {
            var name = Substring(raw)
            if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
            if let hash = name.lastIndex(of: "#") { name = name[name.index(after: hash)...] }
            code = String(name)
        }
        let message = (object?["message"] as? String) ?? (object?["Message"] as? String)
        let status = response.status
        let retryable = status >= 500 || status == 429
            || ["ThrottlingException", "ServiceQuotaExceededException", "InternalServerException", "AccessDeniedException"]
                .contains(code ?? "")
        self.init(operation: operation, status: status, code: code, message: message.map { String($0.prefix(300)) },
                  retryable: retryable)
    }

    public var description: String {
        var text = operation
        if let status { text += ": HTTP \(status)" }
        if let code { text += " \(code)" }
        if let message { text += ": \(message)" }
        return text
    }
}
