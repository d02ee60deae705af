@testable import LongrunDomain
import Testing

/// given(events) · when(command) · then(events or error): every lifecycle rule, without storage.
@Suite("Lifecycle rules")
struct LifecycleTests {
    static let name = try! OperationName(parsing: "operations/build-1")
    static let producer = Actor(uid: 1000, pid: 10, label: "producer")
    static let consumer = Actor(uid: 1001, pid: 11, label: "consumer")
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let meta = Payload(typeURL: "type.googleapis.com/acme.Meta", value: [1])
    static let response = Payload(typeURL: "type.googleapis.com/acme.Result", value: [2])

    /// Folds `kinds` as successive events of ``name``, one second apart.
    func given(_ kinds: [Event.Kind], actor: Actor = producer) -> OperationState? {
        var state: OperationState?
        for (index, kind) in kinds.enumerated() {
            let event = Event(sequence: UInt64(index + 1), time: Self.t0 + .seconds(index), name: Self.name, actor: actor, kind: kind)
            state = Lifecycle.apply(state, event)
        }
        return state
    }

    func when(_ command: Command, given state: OperationState?, actor: Actor = producer,
              now: Timestamp = t0 + .seconds(100), grace: Duration = .seconds(30),
              prior: OperationState? = nil) throws(DomainError) -> [Event.Draft] {
        try Lifecycle.decide(command, state: state,
                             context: .init(now: now, actor: actor, defaultCancelGrace: grace, priorForRequestID: prior)).events
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

    static let created = Event.Kind.created(.init(metadata: meta))
    static let createdImmediate = Event.Kind.created(.init(cancellation: .immediate))
    static let completedOK = Event.Kind.completed(.response(response))

    // MARK: create

    @Test func createOfANewNameAppendsCreated() throws {
        let create = Command.Create(name: Self.name, metadata: Self.meta, requestID: "r-1")
        let events = try when(.create(create), given: nil)
        #expect(events == [.init(actor: Self.producer, kind: .created(.init(metadata: Self.meta, requestID: "r-1", requestFingerprint: create.fingerprint)))])
        let state = Lifecycle.apply(nil, Event(sequence: 1, time: Self.t0, name: Self.name, actor: Self.producer, kind: events[0].kind))
        #expect(state?.done == false)
        #expect(state?.outcome == nil)
        #expect(state?.version == 1)
        #expect(state?.creator == Self.producer)
    }

    @Test func createOfAnExistingNameIsAlreadyExists() {
        expectError(.alreadyExists, reason: .operationAlreadyExists) {
            try when(.create(.init(name: Self.name)), given: given([Self.created]))
        }
    }

    @Test func namesOfDeletedOperationsAreNeverReused() {
        expectError(.alreadyExists, reason: .operationAlreadyExists) {
            try when(.create(.init(name: Self.name)), given: given([Self.created, .deleted]))
        }
    }

    /// The state a create with `request` left, its fingerprint kept as the fold keeps it.
    func created(by request: Command.Create) throws -> OperationState {
        let events = try when(.create(request), given: nil)
        return try #require(Lifecycle.apply(nil, Event(sequence: 1, time: Self.t0, name: request.name, actor: Self.producer, kind: events[0].kind)))
    }

    func decideCreate(_ request: Command.Create, prior: OperationState) throws -> Lifecycle.Decision {
        try Lifecycle.decide(.create(request), state: nil,
                             context: .init(now: Self.t0, actor: Self.producer, defaultCancelGrace: .seconds(30), priorForRequestID: prior))
    }

    @Test func theSameRequestAgainReturnsTheFirstOperation() throws {
        let request = Command.Create(name: Self.name, metadata: Self.meta, requestID: "r-1", cancellation: .immediate, requestedID: Self.name.id)
        let decision = try decideCreate(request, prior: try created(by: request))
        #expect(decision.events.isEmpty)
        #expect(decision.subject == Self.name)
    }

    @Test(arguments: [
        Command.Create(name: try! OperationName(parsing: "operations/other"), metadata: LifecycleTests.meta, requestID: "r-1", requestedID: "other"),
        Command.Create(name: LifecycleTests.name, metadata: nil, requestID: "r-1", requestedID: LifecycleTests.name.id),
        Command.Create(name: LifecycleTests.name, metadata: LifecycleTests.meta, requestID: "r-1", cancellation: .immediate, requestedID: LifecycleTests.name.id),
        Command.Create(name: LifecycleTests.name, metadata: LifecycleTests.meta, requestID: "r-1", requestedID: nil),
    ])
    func aRequestIDReusedWithAnotherRequestIsRefusedNamingTheFirstOperation(_ other: Command.Create) throws {
        let first = try created(by: Command.Create(name: Self.name, metadata: Self.meta, requestID: "r-1", requestedID: Self.name.id))
        do {
            _ = try decideCreate(other, prior: first)
            Issue.record("a different request with the same request id was accepted")
        } catch let error as DomainError {
            #expect(error.kind == .alreadyExists)
            #expect(error.reason == .requestIDReused)
            #expect(error.metadata["operation"] == Self.name.description)
        }
    }

    @Test func aRepeatedRequestIDReturnsTheFirstOperationAndAppendsNothing() throws {
        let first = given([.created(.init(requestID: "r-1"))])!
        let other = try OperationName(parsing: "operations/other")
        let decision = try Lifecycle.decide(.create(.init(name: other, requestID: "r-1")), state: nil,
                                            context: .init(now: Self.t0, actor: Self.producer, defaultCancelGrace: .seconds(30), priorForRequestID: first))
        #expect(decision.events.isEmpty)
        #expect(decision.subject == Self.name)
    }

    @Test func aRequestIDWhoseOperationWasDeletedIsNotFound() {
        let deleted = given([.created(.init(requestID: "r-1")), .deleted])
        expectError(.notFound, reason: .operationNotFound) {
            try when(.create(.init(name: try! OperationName(parsing: "operations/x"), requestID: "r-1")), given: nil, prior: deleted)
        }
    }

    @Test func aRequestIDWhoseOperationExpiredIsNotFound() {
        // Expired like deleted: a retried create must not hand back what retention removed.
        let expired = given([.created(.init(requestID: "r-1")), Self.completedOK, .expired])
        expectError(.notFound, reason: .operationNotFound) {
            try when(.create(.init(name: try! OperationName(parsing: "operations/x"), requestID: "r-1")), given: nil, prior: expired)
        }
    }

    @Test(arguments: ["", String(repeating: "x", count: 129), "has space", "tab\t", "ünicode"])
    func malformedRequestIDsAreInvalid(_ requestID: String) {
        expectError(.invalidArgument, reason: .invalidRequestID) {
            try when(.create(.init(name: Self.name, requestID: requestID)), given: nil)
        }
    }

    @Test(arguments: [Event.Kind.deleted, .expired])
    func aTombstoneKeepsNoPayloads(_ end: Event.Kind) throws {
        // Retention frees what it expires: the payloads stay in the events, not in the view.
        let succeeded = try #require(given([Self.created, Self.completedOK, end]))
        #expect(succeeded.isDeleted)
        #expect(succeeded.metadata == nil)
        #expect(succeeded.outcome == .response(Payload(typeURL: "", value: [])))
        #expect(succeeded.requestFingerprint == given([Self.created])?.requestFingerprint)
        let failed = try #require(given([Self.created, .completed(.error(Status(code: 9, message: "no disk", details: [Self.meta]))), end]))
        #expect(failed.outcome == .error(Status(code: 9, message: "")))
        let running = try #require(given([Self.created, end]))
        #expect(running.metadata == nil && running.outcome == nil)
    }

    @Test func aNegativeCancelGraceIsInvalid() {
        expectError(.invalidArgument, reason: .invalidCancelGrace) {
            try when(.create(.init(name: Self.name, cancellation: .cooperative(grace: .seconds(-1)))), given: nil)
        }
    }

    // MARK: progress

    @Test func progressReplacesMetadataAndBumpsTheVersion() throws {
        let newMeta = Payload(typeURL: "type.googleapis.com/acme.Meta", value: [9])
        let events = try when(.progress(.init(name: Self.name, metadata: newMeta, expectedVersion: 1)), given: given([Self.created]))
        #expect(events == [.init(actor: Self.producer, kind: .progressed(metadata: newMeta))])
        let state = given([Self.created, .progressed(metadata: newMeta)])
        #expect(state?.metadata == newMeta)
        #expect(state?.version == 2)
        #expect(state?.updateTime == Self.t0 + .seconds(1))
    }

    @Test func progressWithAStaleVersionIsAborted() {
        expectError(.aborted, reason: .versionMismatch) {
            try when(.progress(.init(name: Self.name, metadata: nil, expectedVersion: 1)),
                     given: given([Self.created, .progressed(metadata: nil)]))
        }
    }

    @Test func progressOfADoneOperationIsFailedPrecondition() {
        expectError(.failedPrecondition, reason: .operationAlreadyDone) {
            try when(.progress(.init(name: Self.name, metadata: nil)), given: given([Self.created, Self.completedOK]))
        }
    }

    @Test func progressOfAMissingOrDeletedOperationIsNotFound() {
        expectError(.notFound, reason: .operationNotFound) {
            try when(.progress(.init(name: Self.name, metadata: nil)), given: nil)
        }
        expectError(.notFound, reason: .operationNotFound) {
            try when(.progress(.init(name: Self.name, metadata: nil)), given: given([Self.created, .deleted]))
        }
    }

    @Test func progressAfterACancelRequestTellsTheProducer() throws {
        let state = given([Self.created, .cancelRequested(reason: "user", graceDeadline: Self.t0 + .seconds(31))])!
        #expect(state.isCancelPending)
        let events = try when(.progress(.init(name: Self.name, metadata: nil)), given: state)
        #expect(events.count == 1)
    }

    // MARK: complete

    @Test func completeWithAResponseEndsTheOperation() throws {
        let events = try when(.complete(name: Self.name, outcome: .response(Self.response)), given: given([Self.created]))
        #expect(events == [.init(actor: Self.producer, kind: Self.completedOK)])
        let state = given([Self.created, Self.completedOK])!
        #expect(state.done)
        #expect(state.outcome == .response(Self.response))
        #expect(state.endTime == Self.t0 + .seconds(1))
    }

    @Test func completeWithAnErrorEndsTheOperation() throws {
        let failure = Outcome.error(Status(.internal, "disk on fire"))
        _ = try when(.complete(name: Self.name, outcome: failure), given: given([Self.created]))
        #expect(given([Self.created, .completed(failure)])?.outcome == failure)
    }

    @Test func completeWithAnOKErrorIsInvalid() {
        expectError(.invalidArgument, reason: .invalidErrorStatus) {
            try when(.complete(name: Self.name, outcome: .error(Status(.ok, ""))), given: given([Self.created]))
        }
    }

    @Test func completeTwiceIsFailedPrecondition() {
        expectError(.failedPrecondition, reason: .operationAlreadyDone) {
            try when(.complete(name: Self.name, outcome: .response(Self.response)), given: given([Self.created, Self.completedOK]))
        }
    }

    @Test func applyIgnoresASecondCompletionSoTheFirstOutcomeStands() {
        let state = given([Self.created, Self.completedOK, .completed(.error(Status(.internal, "late")))])
        #expect(state?.outcome == .response(Self.response))
    }

    // MARK: cancel

    @Test func cancelOfACooperativeOperationRecordsWhoAndTheGraceDeadline() throws {
        let now = Self.t0 + .seconds(100)
        let events = try when(.cancel(name: Self.name, reason: "user asked"), given: given([Self.created]), actor: Self.consumer, now: now)
        #expect(events == [.init(actor: Self.consumer, kind: .cancelRequested(reason: "user asked", graceDeadline: now + .seconds(30)))])
    }

    @Test func anOperationsOwnGraceOverridesTheDefault() throws {
        let now = Self.t0 + .seconds(100)
        let events = try when(.cancel(name: Self.name, reason: ""),
                              given: given([.created(.init(cancellation: .cooperative(grace: .seconds(5))))]), now: now)
        #expect(events.first?.kind == .cancelRequested(reason: "", graceDeadline: now + .seconds(5)))
    }

    @Test func cancelOfAnImmediateOperationCompletesItWithCancelled() throws {
        let events = try when(.cancel(name: Self.name, reason: "stop"), given: given([Self.createdImmediate]), actor: Self.consumer)
        #expect(events.count == 2)
        #expect(events[0] == .init(actor: Self.consumer, kind: .cancelRequested(reason: "stop", graceDeadline: nil)))
        #expect(events[1].actor == .engine)
        guard case .completed(.error(let status)) = events[1].kind else { Issue.record("not completed: \(events[1])"); return }
        #expect(status.code == StatusCode.cancelled.rawValue)
    }

    @Test func cancelOfADoneOperationOrARepeatedCancelAppendsNothing() throws {
        #expect(try when(.cancel(name: Self.name, reason: ""), given: given([Self.created, Self.completedOK])).isEmpty)
        #expect(try when(.cancel(name: Self.name, reason: ""),
                         given: given([Self.created, .cancelRequested(reason: "", graceDeadline: Self.t0)])).isEmpty)
    }

    @Test func cancelOfAMissingOrDeletedOperationIsNotFound() {
        expectError(.notFound, reason: .operationNotFound) { try when(.cancel(name: Self.name, reason: ""), given: nil) }
        expectError(.notFound, reason: .operationNotFound) {
            try when(.cancel(name: Self.name, reason: ""), given: given([Self.created, .deleted]))
        }
    }

    @Test func theProducerMayStillCompleteNormallyAfterACancelRequest() throws {
        let state = given([Self.created, .cancelRequested(reason: "", graceDeadline: Self.t0 + .seconds(30))])
        let events = try when(.complete(name: Self.name, outcome: .response(Self.response)), given: state)
        #expect(events.count == 1)
    }

    @Test func graceEnforcementCompletesWithCancelledOnlyOnceTheDeadlinePassed() throws {
        let deadline = Self.t0 + .seconds(30)
        let state = given([Self.created, .cancelRequested(reason: "why", graceDeadline: deadline)])
        #expect(try when(.enforceCancelGrace(name: Self.name), given: state, now: deadline - .seconds(1)).isEmpty)
        let events = try when(.enforceCancelGrace(name: Self.name), given: state, now: deadline)
        #expect(events.count == 1)
        #expect(events.first?.actor == .engine)
        guard case .completed(.error(let status))? = events.first?.kind else { Issue.record("not completed"); return }
        #expect(status.code == 1)
        #expect(status.message.contains("why"))
    }

    @Test func graceEnforcementDoesNothingOnceTheProducerCompletedOrTheOperationWasDeleted() throws {
        let deadline = Self.t0 + .seconds(30)
        let cancelled = Event.Kind.cancelRequested(reason: "", graceDeadline: deadline)
        #expect(try when(.enforceCancelGrace(name: Self.name), given: given([Self.created, cancelled, Self.completedOK]), now: deadline + .seconds(1)).isEmpty)
        #expect(try when(.enforceCancelGrace(name: Self.name), given: given([Self.created, cancelled, .deleted]), now: deadline + .seconds(1)).isEmpty)
        #expect(try when(.enforceCancelGrace(name: Self.name), given: nil).isEmpty)
    }

    // MARK: delete

    @Test func deleteAppendsDeletedAndDoesNotCancel() throws {
        let events = try when(.delete(name: Self.name), given: given([Self.created]), actor: Self.consumer)
        #expect(events == [.init(actor: Self.consumer, kind: .deleted)])
        let state = given([Self.created, .deleted])!
        #expect(state.isDeleted)
        #expect(state.cancelRequest == nil)
        #expect(state.outcome == nil)
    }

    @Test func deleteOfAMissingOrDeletedOperationIsNotFound() {
        expectError(.notFound, reason: .operationNotFound) { try when(.delete(name: Self.name), given: nil) }
        expectError(.notFound, reason: .operationNotFound) { try when(.delete(name: Self.name), given: given([Self.created, .deleted])) }
    }

    @Test func completingADeletedOperationIsNotFound() {
        expectError(.notFound, reason: .operationNotFound) {
            try when(.complete(name: Self.name, outcome: .response(Self.response)), given: given([Self.created, .deleted]))
        }
    }

    // MARK: invariant

    @Test func doneIsExactlyWhenThereIsAnOutcome() {
        for kinds in [[Self.created], [Self.created, Self.completedOK], [Self.created, .progressed(metadata: nil)],
                      [Self.createdImmediate, .cancelRequested(reason: "", graceDeadline: nil), .completed(.error(Status(.cancelled, "")))]] {
            let state = given(kinds)!
            #expect(state.done == (state.outcome != nil))
            #expect(state.done == (state.endTime != nil))
        }
    }
}

@Suite("Lifecycle rules: retention and holds")
struct RetentionRuleTests {
    static let name = try! OperationName(parsing: "operations/kept")
    static let t0 = Timestamp(seconds: 1_800_000_000)
    static let policy = RetentionPolicy(succeeded: .seconds(60), failed: .seconds(600), cancelled: nil)

    func given(_ kinds: [Event.Kind]) -> OperationState? {
        var state: OperationState?
        for (index, kind) in kinds.enumerated() {
            state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Self.t0, name: Self.name, actor: Actor(label: "p"), kind: kind))
        }
        return state
    }

    func decide(_ command: Command, _ state: OperationState?, at offset: Duration) throws -> [Event.Draft] {
        try Lifecycle.decide(command, state: state, context: .init(now: Self.t0 + offset, actor: Actor(label: "admin"),
                                                                  defaultCancelGrace: .seconds(30), retention: Self.policy)).events
    }

    static let succeeded = Event.Kind.completed(.response(Payload(typeURL: "t/R", value: [])))
    static let failed = Event.Kind.completed(.error(Status(.internal, "x")))
    static let cancelled = Event.Kind.completed(.error(Status(.cancelled, "x")))

    @Test func aDoneOperationExpiresOnlyAfterTheTimeToLiveOfItsOutcome() throws {
        let done = given([.created(.init()), Self.succeeded])
        #expect(try decide(.expire(name: Self.name), done, at: .seconds(59)).isEmpty)
        #expect(try decide(.expire(name: Self.name), done, at: .seconds(60)).map(\.kind) == [.expired])
        #expect(try decide(.expire(name: Self.name), done, at: .seconds(60)).first?.actor == .engine)
        let failure = given([.created(.init()), Self.failed])
        #expect(try decide(.expire(name: Self.name), failure, at: .seconds(61)).isEmpty)
        #expect(try decide(.expire(name: Self.name), failure, at: .seconds(600)).count == 1)
        // No time to live for cancelled ones: kept forever.
        #expect(try decide(.expire(name: Self.name), given([.created(.init()), Self.cancelled]), at: .seconds(1_000_000)).isEmpty)
        // Running operations never expire.
        #expect(try decide(.expire(name: Self.name), given([.created(.init())]), at: .seconds(1_000_000)).isEmpty)
    }

    @Test func aHoldPreventsExpiryUntilReleasedAndBothAreRecorded() throws {
        let held = given([.created(.init()), Self.succeeded, .holdSet(reason: "legal")])
        #expect(held?.hold?.reason == "legal")
        #expect(try decide(.expire(name: Self.name), held, at: .seconds(3600)).isEmpty)
        #expect(try decide(.hold(name: Self.name, reason: "again"), held, at: .zero).isEmpty)
        #expect(try decide(.release(name: Self.name, reason: "done"), held, at: .zero).map(\.kind) == [.holdReleased(reason: "done")])
        let released = given([.created(.init()), Self.succeeded, .holdSet(reason: "legal"), .holdReleased(reason: "done")])
        #expect(released?.hold == nil)
        #expect(try decide(.release(name: Self.name, reason: ""), released, at: .zero).isEmpty)
        #expect(try decide(.expire(name: Self.name), released, at: .seconds(60)).count == 1)
    }

    @Test func aHoldOrItsReleaseIsNoTransitionAndLeavesTheProducersVersionValid() throws {
        var state: OperationState?
        let kinds: [Event.Kind] = [.created(.init()), .progressed(metadata: nil), .holdSet(reason: "audit"), .holdReleased(reason: "done")]
        for (index, kind) in kinds.enumerated() {
            state = Lifecycle.apply(state, Event(sequence: UInt64(index + 1), time: Self.t0 + .seconds(Int64(index)), name: Self.name,
                                                 actor: Actor(label: index < 2 ? "producer" : "admin"), kind: kind))
        }
        #expect(state?.version == 2)
        #expect(state?.updateTime == Self.t0 + .seconds(1))
        #expect(state?.lastSequence == 4)
        #expect(kinds.map(\.isTransition) == [true, true, false, false])
        // The producer read version 2 before the administrator's hold: its update still applies.
        let update = try decide(.progress(.init(name: Self.name, metadata: nil, expectedVersion: 2)), state, at: .seconds(5))
        #expect(update.map(\.kind) == [.progressed(metadata: nil)])
    }

    @Test func anExpiredOperationIsGoneLikeADeletedOneAndItsNameIsNotReused() {
        let expired = given([.created(.init()), Self.succeeded, .expired])
        #expect(expired?.isDeleted == true)
        #expect(expired?.expireTime == Self.t0)
        #expect(throws: DomainError.self) { try decide(.hold(name: Self.name, reason: ""), expired, at: .zero) }
        #expect(throws: DomainError.self) { try decide(.delete(name: Self.name), expired, at: .zero) }
        #expect(throws: DomainError.self) { try decide(.create(.init(name: Self.name)), expired, at: .zero) }
    }

    /// Compaction forgets a dead operation only once every one of its events is compacted, and a
    /// live one never.
    @Test func onlyADeadOperationWhoseEveryEventIsCompactedIsForgotten() throws {
        let expired = try #require(given([.created(.init()), Self.succeeded, .expired]))
        #expect(expired.lastSequence == 3)
        #expect(!Lifecycle.isForgotten(expired, compactedThrough: 2), "its expiry is still in the log")
        #expect(Lifecycle.isForgotten(expired, compactedThrough: 3))
        let done = try #require(given([.created(.init()), Self.succeeded]))
        #expect(!Lifecycle.isForgotten(done, compactedThrough: 1_000), "a live operation is never forgotten")
        let deleted = try #require(given([.created(.init()), .deleted, .repaired(detail: "")]))
        #expect(!Lifecycle.isForgotten(deleted, compactedThrough: 2), "repaired after its deletion")
        #expect(Lifecycle.isForgotten(deleted, compactedThrough: 3))
    }
}

extension LifecycleTests {
    // MARK: repair

    @Test func aRepairIsRecordedForUnrestrictedCallersOnlyAndChangesNoVersion() throws {
        let running = given([.created(.init(metadata: Self.meta)), .progressed(metadata: Self.meta)])
        let drafts = try Lifecycle.decide(.recordRepair(name: Self.name, detail: "damaged_record in operations"), state: running,
                                          context: .init(now: Self.t0, actor: .engine, defaultCancelGrace: .seconds(30))).events
        #expect(drafts.map(\.kind) == [.repaired(detail: "damaged_record in operations")])
        let repaired = Lifecycle.apply(running, Event(sequence: 9, time: Self.t0 + .seconds(500), name: Self.name, actor: .engine, kind: drafts[0].kind))
        // A producer's expected version stays valid, and the update time is the last transition's.
        #expect(repaired?.version == running?.version)
        #expect(repaired?.updateTime == running?.updateTime)
        #expect(repaired?.lastSequence == 9)

        expectError(.permissionDenied, reason: .permissionDenied) {
            try Lifecycle.decide(.recordRepair(name: Self.name, detail: ""), state: running,
                                 context: .init(now: Self.t0, actor: Self.producer, defaultCancelGrace: .seconds(30),
                                                access: .owner(uid: 1000, readsOwnOnly: false))).events
        }
        expectError(.notFound, reason: .operationNotFound) {
            try Lifecycle.decide(.recordRepair(name: Self.name, detail: ""), state: nil,
                                 context: .init(now: Self.t0, actor: .engine, defaultCancelGrace: .seconds(30))).events
        }
        // Deleted operations keep their history, so they can be repaired too.
        let deleted = given([.created(.init()), .deleted])
        #expect(try when(.recordRepair(name: Self.name, detail: "x"), given: deleted, actor: .engine).count == 1)
    }
}
