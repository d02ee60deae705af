@testable import LongrunDomain
import Testing

/// Leases: given(events) · when(command) · then(events or error), without storage.
@Suite("Lifecycle rules: leases")
struct LeaseTests {
    static let name = try! OperationName(parsing: "operations/build-1")
    static let producer = Actor(uid: 1000, pid: 10, label: "producer", host: "host-a")
    static let successor = Actor(uid: 1000, pid: 20, label: "successor", host: "host-b")
    static let stranger = Actor(uid: 1001, pid: 11)
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let ttl = Duration.seconds(30)
    /// An engine that started long before anything here: no restart grace applies.
    static let longAgo = t0 + .seconds(-86_400 * 365)

    /// Folds `events` (offset from t0, actor, kind) as successive events of ``name``.
    func given(_ events: [(Duration, Actor, Event.Kind)]) -> OperationState? {
        var state: OperationState?
        for (index, (offset, actor, kind)) in events.enumerated() {
            state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Self.t0 + offset, name: Self.name, actor: actor, kind: kind))
        }
        return state
    }

    func decide(_ command: Command, _ state: OperationState?, at offset: Duration, actor: Actor = producer,
                access: Access = .unrestricted, engineStart: Timestamp = longAgo) throws(DomainError) -> [Event.Draft] {
        try Lifecycle.decide(command, state: state, context: .init(
            now: Self.t0 + offset, actor: actor, defaultCancelGrace: .seconds(30), access: access, engineStart: engineStart)).events
    }

    func expectError(_ kind: DomainError.Kind, reason: DomainError.Reason, _ body: () throws -> [Event.Draft],
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let events = try body()
            Issue.record("expected \(reason), got events \(events)", sourceLocation: sourceLocation)
        } catch let error as DomainError {
            #expect(error.kind == kind, sourceLocation: sourceLocation)
            #expect(error.reason == reason, sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a DomainError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    static let createdWithLease = Event.Kind.created(.init(leaseTTL: ttl))
    static let owner = Access.owner(uid: 1000, readsOwnOnly: false)

    // MARK: granting

    @Test func aCreateWithALeaseRecordsItAndTheCreatorHoldsIt() throws {
        let events = try decide(.create(.init(name: Self.name, leaseTTL: Self.ttl)), nil, at: .zero)
        #expect(events == [.init(actor: Self.producer, kind: Self.createdWithLease)])
        let state = try #require(given([(.zero, Self.producer, events[0].kind)]))
        #expect(state.lease == .init(holder: Self.producer, ttl: Self.ttl, expireTime: Self.t0 + Self.ttl))
    }

    @Test func aCreateWithoutALeaseHasNone() throws {
        #expect(given([(.zero, Self.producer, .created(.init()))])?.lease == nil)
    }

    @Test(arguments: [Duration.milliseconds(999), .zero, .seconds(-5), .seconds(86_401)])
    func aLeaseOutsideOneSecondToADayIsInvalid(_ ttl: Duration) {
        expectError(.invalidArgument, reason: .invalidLease) {
            try decide(.create(.init(name: Self.name, leaseTTL: ttl)), nil, at: .zero)
        }
    }

    @Test(arguments: [Duration.seconds(1), .seconds(86_400)])
    func theBoundsThemselvesAreValid(_ ttl: Duration) throws {
        #expect(try decide(.create(.init(name: Self.name, leaseTTL: ttl)), nil, at: .zero).count == 1)
    }

    @Test func theLeaseIsPartOfTheRequestSoAReusedRequestIDWithAnotherLeaseIsAnotherRequest() {
        let plain = Command.Create(name: Self.name, requestID: "r"), leased = Command.Create(name: Self.name, requestID: "r", leaseTTL: Self.ttl)
        #expect(plain.fingerprint != leased.fingerprint)
        #expect(leased.fingerprint == Command.Create(name: Self.name, requestID: "r", leaseTTL: Self.ttl).fingerprint)
    }

    // MARK: renewing

    @Test func progressRenewsTheLease() throws {
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(20), Self.producer, .progressed(metadata: nil))]))
        #expect(state.lease?.expireTime == Self.t0 + .seconds(20) + Self.ttl)
        #expect(state.version == 2)
    }

    @Test func aHeartbeatRenewsTheLeaseAndIsNotAVersion() throws {
        let created = try #require(given([(.zero, Self.producer, Self.createdWithLease)]))
        let events = try decide(.heartbeat(name: Self.name), created, at: .seconds(25), access: Self.owner)
        #expect(events == [.init(actor: Self.producer, kind: .leaseRenewed)])
        #expect(Event.Kind.leaseRenewed.isTransition == false)
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(25), Self.producer, .leaseRenewed)]))
        #expect(state.lease?.expireTime == Self.t0 + .seconds(25) + Self.ttl)
        #expect(state.version == created.version)
        #expect(state.updateTime == created.updateTime)
        // So a producer's expected version still holds after any number of heartbeats.
        #expect(try decide(.progress(.init(name: Self.name, metadata: nil, expectedVersion: 1)), state, at: .seconds(26)).count == 1)
    }

    @Test func aHeartbeatIsForTheCreatorTheHolderOrAnAdministrator() throws {
        let state = given([(.zero, Self.producer, Self.createdWithLease)])
        expectError(.permissionDenied, reason: .permissionDenied) {
            try decide(.heartbeat(name: Self.name), state, at: .seconds(1), actor: Self.stranger, access: .owner(uid: 1001, readsOwnOnly: false))
        }
        #expect(try decide(.heartbeat(name: Self.name), state, at: .seconds(1), access: .unrestricted).count == 1)
        // Adopted by root: root holds it, and root's heartbeats are allowed as the holder's.
        let adopted = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Actor(uid: 0, pid: 1), .adopted(leaseTTL: nil))])
        #expect(try decide(.heartbeat(name: Self.name), adopted, at: .seconds(2), actor: Actor(uid: 0), access: .owner(uid: 0, readsOwnOnly: false)).count == 1)
    }

    @Test func aHeartbeatOfADoneLeaselessOrMissingOperationSaysWhy() {
        let done = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .completed(.error(Status(.internal, "x"))))])
        expectError(.failedPrecondition, reason: .operationAlreadyDone) { try decide(.heartbeat(name: Self.name), done, at: .seconds(2)) }
        let leaseless = given([(.zero, Self.producer, .created(.init()))])
        expectError(.failedPrecondition, reason: .noLease) { try decide(.heartbeat(name: Self.name), leaseless, at: .seconds(2)) }
        expectError(.notFound, reason: .operationNotFound) { try decide(.heartbeat(name: Self.name), nil, at: .seconds(2)) }
        let deleted = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .deleted)])
        expectError(.notFound, reason: .operationNotFound) { try decide(.heartbeat(name: Self.name), deleted, at: .seconds(2)) }
    }

    @Test func aDoneOperationHasNoLease() throws {
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .completed(.response(Payload(typeURL: "t/x", value: []))))]))
        #expect(state.lease == nil)
        #expect(Lifecycle.nextEngineDeadline(state, engineStart: Self.longAgo) == nil)
    }

    // MARK: expiring

    @Test func theLeaseExpiresOnlyOnceItsTTLPassedWithoutASignOfLife() throws {
        let state = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(10), Self.producer, .leaseRenewed)])
        #expect(try decide(.expireLease(name: Self.name), state, at: .seconds(39)).isEmpty)
        let events = try decide(.expireLease(name: Self.name), state, at: .seconds(40))
        #expect(events.count == 1)
        #expect(events.first?.actor.label == Actor.engine.label)
    }

    @Test func anExpiredLeaseEndsTheOperationAbortedWithAnErrorInfoNamingTheHolder() throws {
        let state = given([(.zero, Self.producer, Self.createdWithLease)])
        let events = try decide(.expireLease(name: Self.name), state, at: .seconds(31))
        guard case .completed(.error(let status)) = try #require(events.first).kind else {
            Issue.record("expected an error completion, got \(events)")
            return
        }
        #expect(status.code == StatusCode.aborted.rawValue)
        #expect(status.message.contains("producer stopped"))
        #expect(status.message.contains("\(Self.ttl)"))
        #expect(status.message.contains("\(Self.t0 + Self.ttl)"))
        let info = ErrorInfo(reason: "PRODUCER_LEASE_EXPIRED", domain: "longrun.dev", metadata: ["uid": "1000", "pid": "10", "host": "host-a"])
        #expect(status.details == [info.payload])
        let done = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(31), Actor.engine, events[0].kind)]))
        #expect(done.done)
        #expect(done.lease == nil)
    }

    @Test func aLeaseGetsAtLeastItsTTLAfterTheEngineStarted() throws {
        // Created at t0 with 30 s; the daemon was down and restarted at t0 + 100 s.
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease)]))
        let restart = Self.t0 + .seconds(100)
        #expect(try decide(.expireLease(name: Self.name), state, at: .seconds(129), engineStart: restart).isEmpty)
        #expect(try decide(.expireLease(name: Self.name), state, at: .seconds(130), engineStart: restart).count == 1)
        #expect(Lifecycle.nextEngineDeadline(state, engineStart: restart) == restart + Self.ttl)
        // A heartbeat after the restart renews it as usual, and it wins over the pending expiry.
        let renewed = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(120), Self.producer, .leaseRenewed)])
        #expect(try decide(.expireLease(name: Self.name), renewed, at: .seconds(149), engineStart: restart).isEmpty)
    }

    @Test func aLateHeartbeatThatReachesTheWriterFirstWins() throws {
        // Past its expire time but not yet swept: the heartbeat is decided first and renews it.
        let state = given([(.zero, Self.producer, Self.createdWithLease)])
        #expect(try decide(.heartbeat(name: Self.name), state, at: .seconds(35)).count == 1)
        let renewed = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(35), Self.producer, .leaseRenewed)])
        #expect(try decide(.expireLease(name: Self.name), renewed, at: .seconds(36)).isEmpty)
    }

    @Test func expiryDoesNothingToDoneDeletedOrLeaselessOperations() throws {
        let done = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .completed(.error(Status(.internal, "x"))))])
        let deleted = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .deleted)])
        let leaseless = given([(.zero, Self.producer, .created(.init()))])
        for state in [done, deleted, leaseless, nil] {
            #expect(try decide(.expireLease(name: Self.name), state, at: .seconds(1000)).isEmpty)
        }
    }

    @Test func theNextEngineDeadlineIsTheEarlierOfCancelGraceAndLease() throws {
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease),
                                        (.seconds(1), Self.stranger, .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(11)))]))
        #expect(Lifecycle.nextEngineDeadline(state, engineStart: Self.longAgo) == Self.t0 + .seconds(11))
        let leaseFirst = try #require(given([(.zero, Self.producer, .created(.init(leaseTTL: .seconds(5)))),
                                             (.seconds(1), Self.stranger, .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(11)))]))
        #expect(Lifecycle.nextEngineDeadline(leaseFirst, engineStart: Self.longAgo) == Self.t0 + .seconds(5))
    }

    // MARK: adopting

    @Test func adoptionHandsTheLeaseToTheNewActorAndIsATransition() throws {
        let state = try #require(given([(.zero, Self.producer, Self.createdWithLease)]))
        let events = try decide(.adopt(name: Self.name, expectedVersion: 1, leaseTTL: .seconds(60)), state, at: .seconds(50),
                                actor: Self.successor, access: Self.owner)
        #expect(events == [.init(actor: Self.successor, kind: .adopted(leaseTTL: .seconds(60)))])
        let adopted = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(50), Self.successor, events[0].kind)]))
        #expect(adopted.lease == .init(holder: Self.successor, ttl: .seconds(60), expireTime: Self.t0 + .seconds(110)))
        #expect(adopted.version == 2)
        #expect(Event.Kind.adopted(leaseTTL: nil).isTransition)
    }

    @Test func adoptionWithoutATTLKeepsTheLeasesOwn() throws {
        let adopted = try #require(given([(.zero, Self.producer, Self.createdWithLease), (.seconds(5), Self.successor, .adopted(leaseTTL: nil))]))
        #expect(adopted.lease == .init(holder: Self.successor, ttl: Self.ttl, expireTime: Self.t0 + .seconds(35)))
        let leaseless = try #require(given([(.zero, Self.producer, .created(.init())), (.seconds(5), Self.successor, .adopted(leaseTTL: nil))]))
        #expect(leaseless.lease == nil)
        let granted = try #require(given([(.zero, Self.producer, .created(.init())), (.seconds(5), Self.successor, .adopted(leaseTTL: .seconds(9)))]))
        #expect(granted.lease == .init(holder: Self.successor, ttl: .seconds(9), expireTime: Self.t0 + .seconds(14)))
    }

    @Test func adoptionIsAllowedWhetherTheLeaseIsStillHeldOrExpired() throws {
        let state = given([(.zero, Self.producer, Self.createdWithLease)])
        #expect(try decide(.adopt(name: Self.name, expectedVersion: 1, leaseTTL: nil), state, at: .seconds(5), actor: Self.successor, access: Self.owner).count == 1)
        #expect(try decide(.adopt(name: Self.name, expectedVersion: 1, leaseTTL: nil), state, at: .seconds(500), actor: Self.successor, access: Self.owner).count == 1)
    }

    @Test func adoptionChecksTheVersionThePermissionAndTheTTL() {
        let state = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .progressed(metadata: nil))])
        expectError(.aborted, reason: .versionMismatch) {
            try decide(.adopt(name: Self.name, expectedVersion: 1, leaseTTL: nil), state, at: .seconds(2), actor: Self.successor, access: Self.owner)
        }
        expectError(.permissionDenied, reason: .permissionDenied) {
            try decide(.adopt(name: Self.name, expectedVersion: 2, leaseTTL: nil), state, at: .seconds(2), actor: Self.stranger,
                       access: .owner(uid: 1001, readsOwnOnly: false))
        }
        expectError(.invalidArgument, reason: .invalidLease) {
            try decide(.adopt(name: Self.name, expectedVersion: 2, leaseTTL: .milliseconds(10)), state, at: .seconds(2), access: Self.owner)
        }
        let done = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(1), Self.producer, .completed(.error(Status(.internal, "x"))))])
        expectError(.failedPrecondition, reason: .operationAlreadyDone) {
            try decide(.adopt(name: Self.name, expectedVersion: 2, leaseTTL: nil), done, at: .seconds(2), access: Self.owner)
        }
    }

    @Test func anAdoptedOperationsExpiryNamesTheNewHolder() throws {
        let state = given([(.zero, Self.producer, Self.createdWithLease), (.seconds(5), Self.successor, .adopted(leaseTTL: nil))])
        #expect(try decide(.expireLease(name: Self.name), state, at: .seconds(34)).isEmpty)
        let events = try decide(.expireLease(name: Self.name), state, at: .seconds(35))
        guard case .completed(.error(let status)) = try #require(events.first).kind else { Issue.record("no completion"); return }
        #expect(status.details == [ErrorInfo(reason: .producerLeaseExpired, metadata: ["uid": "1000", "pid": "20", "host": "host-b"]).payload])
    }

    // MARK: ErrorInfo

    @Test func errorInfoIsEncodedAsProtobufWithSortedMetadata() {
        let payload = ErrorInfo(reason: "R", domain: "d", metadata: ["k": "v", "a": "b"]).payload
        #expect(payload.typeURL == "type.googleapis.com/google.rpc.ErrorInfo")
        // reason=1 "R", domain=2 "d", metadata=3 {a: b}, metadata=3 {k: v} (map entries: key=1, value=2).
        #expect(payload.value == [0x0A, 1, 0x52, 0x12, 1, 0x64,
                                  0x1A, 6, 0x0A, 1, 0x61, 0x12, 1, 0x62,
                                  0x1A, 6, 0x0A, 1, 0x6B, 0x12, 1, 0x76])
    }
}
