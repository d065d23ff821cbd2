import Events
import Testing

@Suite struct BackoffTests {
    @Test func nominalDoublesUpToTheCap() {
        let backoff = Backoff(base: .seconds(1), cap: .seconds(10))
        #expect(backoff.nominal(afterAttempt: 1) == .seconds(1))
        #expect(backoff.nominal(afterAttempt: 2) == .seconds(2))
        #expect(backoff.nominal(afterAttempt: 4) == .seconds(8))
        #expect(backoff.nominal(afterAttempt: 5) == .seconds(10))
        #expect(backoff.nominal(afterAttempt: 500) == .seconds(10))
    }

    @Test func jitterStaysBetweenHalfAndAllOfTheNominalWait() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(60))
        var generator = SystemRandomNumberGenerator()
        var seen = Set<Duration>()
        for attempt in 1...12 {
            for _ in 0..<50 {
                let delay = backoff.delay(afterAttempt: attempt, using: &generator)
                let nominal = backoff.nominal(afterAttempt: attempt)
                #expect(delay >= nominal / 2 && delay <= nominal)
                seen.insert(delay)
            }
        }
        #expect(seen.count > 12)
    }
}
