import Testing

@testable import Storage

/// The forwarder's memory budget: shares are granted while they fit, first come first served, a share
/// larger than the budget takes all of it, and a cancelled waiter leaves without taking anything.
@Suite struct ForwardBudgetTests {
    @Test func sharesAreGrantedWhileTheyFit() async {
        let budget = ForwardBudget(capacity: 10)
        #expect(await budget.acquire(4) == 4)
        #expect(await budget.acquire(6) == 6)
        #expect(budget.available == 0)
        budget.release(4)
        #expect(await budget.acquire(3) == 3)
        #expect(budget.available == 1)
    }

    @Test func aShareLargerThanTheBudgetTakesAllOfIt() async {
        let budget = ForwardBudget(capacity: 10)
        #expect(await budget.acquire(1_000) == 10)
        budget.release(10)
        #expect(budget.available == 10)
    }

    @Test func waitersAreServedInOrderOnceBytesReturn() async {
        let budget = ForwardBudget(capacity: 10)
        #expect(await budget.acquire(8) == 8)
        await withTaskGroup(of: Int64?.self) { group in
            group.addTask { await budget.acquire(5) }
            // The waiter is queued before the bytes come back.
            while budget.waiting == 0 { await Task.yield() }
            budget.release(8)
            let granted = await group.next()
            #expect(granted == 5)
        }
        #expect(budget.available == 5)
    }

    @Test func aCancelledWaiterTakesNothing() async {
        let budget = ForwardBudget(capacity: 10)
        #expect(await budget.acquire(10) == 10)
        await withTaskGroup(of: Int64?.self) { group in
            group.addTask { await budget.acquire(5) }
            while budget.waiting == 0 { await Task.yield() }
            group.cancelAll()
            let granted = await group.next()
            #expect(granted == Int64?.none)
        }
        #expect(budget.waiting == 0)
        budget.release(10)
        #expect(budget.available == 10)
    }
}
