import Domain
import Foundation
import TestSupport
import Testing

/// openapi.yaml declares the same bounds and defaults for `limits.maxInflatedBytes` and
/// `limits.maxInflationRatio` as `ListenerValidation` and `ListenerLimits` enforce.
@Suite struct ListenerInflationSpecTests {
    @Test func specBoundsAndDefaultsAreTheValidatorsAndTheModels() async throws {
        let program = """
            import json, sys, yaml
            schemas = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))["components"]["schemas"]
            facts = {n: [schemas[n]["minimum"], schemas[n]["maximum"]] for n in ["MaxInflatedBytes", "MaxInflationRatio"]}
            facts["defaults"] = [schemas["LimitsInput"]["properties"][m]["default"] for m in ["maxInflatedBytes", "maxInflationRatio"]]
            facts["required"] = schemas["ListenerLimits"]["required"]
            print(json.dumps(facts))
            """
        let result = try await Subprocess.runOffPool("python3", ["-c", program, repositoryRoot.appendingPathComponent("openapi.yaml").path])
        try #require(result.status == 0, "reading openapi.yaml failed (pip install pyyaml):\n\(result.output)")
        let facts = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        #expect(facts["MaxInflatedBytes"] as? [Int] == [ListenerValidation.maxInflatedBytesRange.lowerBound,
                                                        ListenerValidation.maxInflatedBytesRange.upperBound])
        #expect(facts["MaxInflationRatio"] as? [Int] == [ListenerValidation.maxInflationRatioRange.lowerBound,
                                                         ListenerValidation.maxInflationRatioRange.upperBound])
        #expect(facts["defaults"] as? [Int] == [ListenerLimits.defaultMaxInflatedBytes, ListenerLimits.defaultMaxInflationRatio])
        let required = facts["required"] as? [String] ?? []
        #expect(required.contains("maxInflatedBytes") && required.contains("maxInflationRatio"))
    }
}
