import Domain
import Testing

@Suite("Key templates and storage access")
struct KeyTemplateAndStorageAccessTests {
    private func issues(template: String?) -> [ValidationIssue] {
        var storage = StorageTarget()
        storage.keyTemplate = template
        return ListenerValidation.validate(ListenerConfig(name: "kt", port: 11112, storage: storage))
            .filter { $0.field == "storage.keyTemplate" }
    }

    @Test("a template without {SOPInstanceUID} would overwrite: refused, naming storage.keyTemplate")
    func overwritingTemplatesAreRefused() {
        for template in ["{StudyInstanceUID}", "{StudyInstanceUID}/{SeriesInstanceUID}", "{ListenerName}/{ReceivedDate}", "fixed"] {
            let found = issues(template: template)
            #expect(found.count == 1, "\(template)")
            #expect(found.first?.message.contains("{SOPInstanceUID}") == true, "\(template)")
        }
    }

    @Test("templates that can never produce a valid key are refused")
    func neverValidTemplatesAreRefused() {
        let bad = [
            "", "{Nope}/{SOPInstanceUID}", "{SOPInstanceUID", "/{SOPInstanceUID}", "/abs/{SOPInstanceUID}",
            "../{SOPInstanceUID}", "a/../{SOPInstanceUID}", "./{SOPInstanceUID}", "a//{SOPInstanceUID}", "{SOPInstanceUID}/",
            "a b/{SOPInstanceUID}", #"a\b/{SOPInstanceUID}"#, "a\n/{SOPInstanceUID}", "{sopinstanceuid}",
            String(repeating: "{ListenerName}", count: 12) + "{SOPInstanceUID}",
        ]
        for template in bad {
            #expect(issues(template: template).count == 1, "\(template.debugDescription)")
            // The spec's rule is the pattern and maxLength together.
            #expect(template.count > ListenerValidation.maxKeyTemplateLength
                    || !ListenerValidation.matches(template, ListenerValidation.Pattern.keyTemplate), "\(template.debugDescription)")
        }
    }

    @Test("templates that name every instance apart are accepted, and the pattern agrees")
    func goodTemplatesAreAccepted() {
        let good = [
            "{SOPInstanceUID}", "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}", "by-ae/{CallingAETitle}/{SOPInstanceUID}",
            "{ListenerName}/{ReceivedDate}/{Modality}/{StudyInstanceUID}/{SOPInstanceUID}", "x.{SOPInstanceUID}.v1", ".hidden/{SOPInstanceUID}",
            "..a/{SOPInstanceUID}", "{SOPInstanceUID}/main",
        ]
        for template in good {
            #expect(issues(template: template).isEmpty, "\(template)")
            #expect(ListenerValidation.matches(template, ListenerValidation.Pattern.keyTemplate), "\(template)")
        }
        #expect(issues(template: nil).isEmpty)
    }

    @Test("storage paths: only inside the allowed roots, compared segment by segment and after symlinks")
    func storageRoots() {
        let policy = StorageAccessPolicy(roots: ["/srv/data/"], endpoints: nil)
        func check(_ path: String, resolve: @escaping (String) -> String = { $0 }) -> [String] {
            var storage = StorageTarget()
            storage.path = path
            return policy.validate(storage, resolve: resolve).map(\.field)
        }
        #expect(check("/srv/data").isEmpty)
        #expect(check("/srv/data/objects/a").isEmpty)
        #expect(check("/srv/data/./x//y/").isEmpty)
        #expect(check("/srv/database") == ["storage.path"])
        #expect(check("/srv/data/../etc") == ["storage.path"])
        #expect(check("/etc") == ["storage.path"])
        #expect(check("relative/data") == ["storage.path"])
        #expect(check("/srv/data/link", resolve: { _ in "/etc/cron.d" }) == ["storage.path"])
        // An S3 target's unused path is not checked.
        var s3 = StorageTarget(backend: .s3, bucket: "b", path: "/etc")
        #expect(policy.validate(s3).isEmpty)
        s3.backend = .filesystem
        #expect(policy.validate(s3).map(\.field) == ["storage.path"])
        #expect(StorageAccessPolicy.unrestricted.validate(s3).isEmpty)
    }

    @Test("S3 endpoints: exact, port wildcard, AWS subdomains; nothing that merely looks alike")
    func endpoints() throws {
        let patterns = try ["http://127.0.0.1:*", "https://minio.internal:9000"].map { try #require(StorageAccessPolicy.EndpointPattern($0)) }
        let policy = StorageAccessPolicy(roots: nil, endpoints: patterns + StorageAccessPolicy.EndpointPattern.aws)
        func admitted(_ endpoint: String) -> Bool {
            policy.validate(StorageTarget(backend: .s3, bucket: "b", endpoint: endpoint)).isEmpty
        }
        #expect(admitted("http://127.0.0.1:9000"))
        #expect(admitted("http://127.0.0.1:1/"))
        #expect(admitted("https://minio.internal:9000"))
        #expect(admitted("HTTPS://MINIO.internal:9000/"))
        #expect(admitted("https://s3.eu-west-1.amazonaws.com"))
        #expect(admitted("https://s3.cn-north-1.amazonaws.com.cn:443"))
        #expect(!admitted("https://127.0.0.1:9000"))
        #expect(!admitted("http://127.0.0.2:9000"))
        #expect(!admitted("https://minio.internal"))
        #expect(!admitted("https://minio.internal:9001"))
        #expect(!admitted("https://amazonaws.com"))
        #expect(!admitted("https://s3.amazonaws.com.evil.net"))
        #expect(!admitted("https://evilamazonaws.com"))
        #expect(!admitted("http://s3.eu-west-1.amazonaws.com"))
        #expect(!admitted("http://user@127.0.0.1:9000"))
        #expect(!admitted("http://169.254.169.254"))
        #expect(StorageAccessPolicy.EndpointPattern("ftp://x") == nil)
        #expect(StorageAccessPolicy.EndpointPattern("https://a.*.com") == nil)
    }
}
