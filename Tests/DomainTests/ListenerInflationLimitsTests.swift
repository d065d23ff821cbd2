import Domain
import Foundation
import Testing

/// `limits.maxInflatedBytes` / `limits.maxInflationRatio`: the bounds on a Deflated Explicit VR Little
/// Endian data set (PS3.5 §A.5) per listener.
@Suite struct ListenerInflationLimitsTests {
    @Test func storedLimitsWithoutTheNewMembersDecodeWithDefaults() throws {
        // A limits document as stored before these members existed (limits are stored as JSON text).
        let old = #"{"maxAssociations":5,"maxPDUSize":0,"dimseTimeoutSeconds":30,"networkTimeoutSeconds":60,"cstoreDelayMs":0}"#
        let limits = try JSONDecoder().decode(ListenerLimits.self, from: Data(old.utf8))
        #expect(limits.maxAssociations == 5)
        #expect(limits.maxInflatedBytes == 4 << 30)
        #expect(limits.maxInflationRatio == 200)
        let roundTrip = try JSONDecoder().decode(ListenerLimits.self, from: JSONEncoder().encode(
            ListenerLimits(maxInflatedBytes: 1 << 20, maxInflationRatio: 1033)))
        #expect(roundTrip.maxInflatedBytes == 1 << 20 && roundTrip.maxInflationRatio == 1033)
    }

    @Test(arguments: [
        (0, 200, ["limits.maxInflatedBytes"]),
        ((1 << 20) - 1, 200, ["limits.maxInflatedBytes"]),
        ((64 << 30) + 1, 200, ["limits.maxInflatedBytes"]),
        (4 << 30, 1, ["limits.maxInflationRatio"]),
        (4 << 30, 100_001, ["limits.maxInflationRatio"]),
        (-1, 0, ["limits.maxInflatedBytes", "limits.maxInflationRatio"]),
        (1 << 20, 2, []),
        (64 << 30, 100_000, []),
    ])
    func boundsAreValidated(bytes: Int, ratio: Int, invalid: [String]) {
        var config = ListenerConfig(name: "inflate", port: 11112)
        config.limits.maxInflatedBytes = bytes
        config.limits.maxInflationRatio = ratio
        #expect(ListenerValidation.validate(config).map(\.field) == invalid)
    }
}
