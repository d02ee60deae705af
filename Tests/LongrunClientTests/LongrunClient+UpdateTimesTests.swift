import Foundation
@testable import LongrunClient
import LongrunProto
import LongrunProtoTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Update times")
struct UpdateTimesTests {
    @Test func updateTimesAreReadBoundedlyConcurrently() async throws {
        let fake = FakeLongrun()
        fake.setTime(t0)
        var names: [String] = []
        for index in 0..<20 {
            let name = "operations/op-\(index)"
            fake.seed(name)
            if index % 2 == 0 {
                fake.advance(by: .seconds(1))
                _ = try await fake.client.updateOperation(name, metadata: nil)
            }
            names.append(name)
        }
        fake.state.withLock { $0.detailsDelay = .milliseconds(20) }
        let times = await fake.client.updateTimes(of: names + ["operations/gone"], concurrency: 8)
        #expect(times.count == 20)
        for name in names {
            #expect(times[name] == fake.stored(name)?.updateTime)
        }
        #expect(times["operations/op-2"] == at(2))
        #expect(times["operations/op-3"] == at(2))
        #expect(fake.count("GetOperationDetails") == 21)
        let most = fake.state.withLock { $0.maxDetailsInFlight }
        #expect(most <= 8)
        #expect(most >= 2)
    }

    @Test func updateTimesGiveUpOnUnimplemented() async throws {
        let fake = FakeLongrun()
        let names = (0..<20).map { "operations/op-\($0)" }
        names.forEach { fake.seed($0) }
        fake.state.withLock { $0.detailsImplemented = false }
        #expect(await fake.client.updateTimes(of: names, concurrency: 4).isEmpty)
        #expect(fake.count("GetOperationDetails") == 4)
    }
}
