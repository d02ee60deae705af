@testable import LongrunDomain
import Testing

/// Who may do what (`Access`), decided by the lifecycle in the same step as the command.
@Suite("Access rules")
struct AccessTests {
    static let name = try! OperationName(parsing: "operations/job")
    static let missing = try! OperationName(parsing: "operations/never-created")
    static let owner = Actor(uid: 1000, pid: 10)
    static let other = Actor(uid: 1001, pid: 11)
    static let t0 = Timestamp(seconds: 1_800_000_000)

    static var running: OperationState {
        Lifecycle.apply(nil, Event(sequence: 1, time: t0, name: name, actor: owner, kind: .created(.init())))!
    }

    static func access(_ actor: Actor, ownerOnly: Bool = false) -> Access { .owner(uid: actor.uid!, readsOwnOnly: ownerOnly) }

    func decide(_ command: Command, state: OperationState?, actor: Actor, access: Access, prior: OperationState? = nil) throws(DomainError) -> [Event.Draft] {
        try Lifecycle.decide(command, state: state, context: .init(now: Self.t0 + .seconds(1), actor: actor, defaultCancelGrace: .seconds(30),
                                                                   priorForRequestID: prior, access: access)).events
    }

    static let changes: [Command] = [
        .progress(.init(name: name, metadata: nil)),
        .complete(name: name, outcome: .response(Payload(typeURL: "type.googleapis.com/x.R", value: []))),
        .cancel(name: name, reason: ""),
        .delete(name: name),
    ]

    @Test(arguments: changes)
    func anotherUIDMayNotChangeAnOperationItDidNotCreate(command: Command) {
        do {
            _ = try decide(command, state: Self.running, actor: Self.other, access: Self.access(Self.other))
            Issue.record("expected PERMISSION_DENIED for \(command)")
        } catch {
            #expect(error.kind == .permissionDenied)
            #expect(error.reason == .permissionDenied)
        }
    }

    @Test(arguments: changes)
    func theCreatorAndUnrestrictedCallersMayChangeIt(command: Command) throws {
        #expect(try !decide(command, state: Self.running, actor: Self.owner, access: Self.access(Self.owner)).isEmpty)
        #expect(try !decide(command, state: Self.running, actor: Self.other, access: .unrestricted).isEmpty)
    }

    @Test func onlyUnrestrictedCallersAdministerTheStore() throws {
        try Access.unrestricted.requireAdministration("take a snapshot")
        for access in [Self.access(Self.owner), Self.access(Self.owner, ownerOnly: true)] {
            #expect {
                try access.requireAdministration("take a snapshot")
            } throws: { error in
                guard let error = error as? DomainError else { return false }
                return error.kind == .permissionDenied && error.reason == .permissionDenied
                    && error.message.contains("not allowed to take a snapshot") && error.message.contains("uid 1000")
            }
        }
    }

    /// The version after each event of a history page counts transitions only, as the fold does.
    @Test func versionsCountTransitionsAsTheFoldDoes() {
        let kinds: [Event.Kind] = [.created(.init()), .holdSet(reason: "audit"), .progressed(metadata: nil), .leaseRenewed, .holdReleased(reason: ""), .completed(.response(Payload(typeURL: "t/R", value: [])))]
        let events = kinds.enumerated().map { Event(sequence: UInt64($0.offset + 1), time: Self.t0, name: Self.name, actor: Self.owner, kind: $0.element) }
        #expect(Event.versions(of: events, after: 0) == [1, 1, 2, 2, 2, 3])
        var state: OperationState?
        for event in events { state = Lifecycle.apply(state, event) }
        #expect(state?.version == 3)
        #expect(Event.versions(of: Array(events.dropFirst(2)), after: 1) == [2, 2, 2, 3])
    }

    @Test func permissionIsCheckedBeforeExistenceSoRefusalsRevealNothing() {
        let progress = Command.progress(.init(name: Self.missing, metadata: nil))
        do {
            _ = try decide(progress, state: nil, actor: Self.other, access: Self.access(Self.other))
            Issue.record("expected PERMISSION_DENIED")
        } catch {
            #expect(error.kind == .permissionDenied)
        }
        // An unrestricted caller learns that it does not exist.
        do {
            _ = try decide(progress, state: nil, actor: Self.other, access: .unrestricted)
            Issue.record("expected NOT_FOUND")
        } catch {
            #expect(error.kind == .notFound)
        }
    }

    @Test func holdAndReleaseAreForUnrestrictedCallersEvenAgainstTheOwner() throws {
        for command in [Command.hold(name: Self.name, reason: "audit"), .release(name: Self.name, reason: "")] {
            #expect(throws: DomainError.self) { try decide(command, state: Self.running, actor: Self.owner, access: Self.access(Self.owner)) }
        }
        #expect(try decide(.hold(name: Self.name, reason: "audit"), state: Self.running, actor: Self.other, access: .unrestricted).count == 1)
    }

    @Test func anyoneMayCreateButARequestIDOfAnotherUIDIsNotARetry() throws {
        let create = Command.create(.init(name: try OperationName(parsing: "operations/new"), requestID: "req-1"))
        #expect(try decide(create, state: nil, actor: Self.other, access: Self.access(Self.other)).count == 1)
        // The owner's retry answers with its first operation and appends nothing.
        #expect(try decide(create, state: nil, actor: Self.owner, access: Self.access(Self.owner), prior: Self.running).isEmpty)
        do {
            _ = try decide(create, state: nil, actor: Self.other, access: Self.access(Self.other), prior: Self.running)
            Issue.record("expected REQUEST_ID_IN_USE")
        } catch {
            #expect(error.kind == .alreadyExists)
            #expect(error.reason == .requestIDInUse)
        }
    }

    @Test func readsAreOpenUnlessOwnerOnly() {
        #expect(Self.access(Self.other).mayRead(Self.running))
        #expect(Self.access(Self.other).mayRead(nil))
        #expect(!Self.access(Self.other, ownerOnly: true).mayRead(Self.running))
        #expect(!Self.access(Self.other, ownerOnly: true).mayRead(nil))
        #expect(Self.access(Self.owner, ownerOnly: true).mayRead(Self.running))
        #expect(Access.unrestricted.mayRead(Self.running))
        #expect(Self.access(Self.other, ownerOnly: true).listsOnlyUID == Self.other.uid)
        #expect(Self.access(Self.other).listsOnlyUID == nil)
    }

    @Test func anOperationCreatedWithoutAUIDBelongsToNoPeer() {
        // Created in-process (no uid): only unrestricted callers may change it.
        let embedded = Lifecycle.apply(nil, Event(sequence: 1, time: Self.t0, name: Self.name, actor: Actor(label: "embedder"), kind: .created(.init())))
        #expect(!Self.access(Self.owner).mayChange(embedded))
        #expect(Access.unrestricted.mayChange(embedded))
    }
}
