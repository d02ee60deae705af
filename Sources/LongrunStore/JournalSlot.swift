import LongrunDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a ``Store`` keeps its journal, and the gate its opening's writes close.
///
/// An open may serve reads before it has written what it must (the journal's first checkpoint, the
/// journal's entries applied; ``Store/finishOpening(_:)``): until then every commit but the
/// opening's own waits here, so no write comes before the checkpoint that protects the pages of the
/// state a crash left, and none takes a sequence the journal's entries hold.
final class JournalSlot: @unchecked Sendable {
    private enum State {
        /// The opening is writing: commits on `owner`'s thread (its own) go through `journal`, once
        /// it has one; every other waits.
        case opening(owner: pthread_t?, journal: StoreJournal?)
        case open(StoreJournal?)
        /// The opening failed after reads were served: every commit throws this.
        case failed(StoreError)
        /// A batch answered from the journal could not be committed (``fail(_:)``): every commit
        /// throws this, and the journal is left as it is for the next open.
        case broken(StoreError)
    }

    private var state = State.open(nil)
    /// Run once the opening ends (``Store/followCommits(after:_:)``).
    private var whenOpen: [@Sendable () -> Void] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits until the opening has ended, unless this is the opening's thread; holding ``mutex``.
    private func settledLocked() -> State {
        while case .opening(let owner, let journal) = state {
            if let owner, pthread_equal(owner, pthread_self()) != 0 { return .open(journal) }
            pthread_cond_wait(changed, mutex)
        }
        return state
    }

    /// Closes the gate: from now on commits wait for ``finish(_:)``.
    func beginOpening() {
        locked { state = .opening(owner: nil, journal: nil) }
    }

    /// Makes the calling thread the opening's, with `journal` (nil: LMDB flushes its own commits)
    /// for its commits.
    func claim(_ journal: StoreJournal?) {
        locked { state = .opening(owner: pthread_self(), journal: journal) }
    }

    /// Opens the gate: commits go through the journal the opening started, or fail with the error
    /// that ended it.
    func finish(_ result: Result<Void, StoreError>) {
        let waiting = locked { () -> [@Sendable () -> Void] in
            guard case .opening(_, let journal) = state else { return [] }
            switch result {
            case .success: state = .open(journal)
            case .failure(let error): state = .failed(error)
            }
            pthread_cond_broadcast(changed)
            defer { whenOpen = [] }
            return whenOpen
        }
        for body in waiting { body() }
    }

    /// Fails every later commit with `error`: the store cannot go on without being opened again
    /// (``StoreJournal/commitBatch(_:answering:_:)``).
    func fail(_ error: StoreError) {
        locked {
            state = .broken(error)
            pthread_cond_broadcast(changed)
        }
    }

    /// The journal for a commit, once the opening has ended (at once on the opening's thread).
    func forCommit() throws(StoreError) -> StoreJournal? {
        let state = locked { settledLocked() }
        switch state {
        case .open(let journal): return journal
        case .failed(let error), .broken(let error): throw error
        case .opening: return nil
        }
    }

    /// What ended the opening, if it failed after reads were served; nil otherwise (not waiting).
    var failure: StoreError? {
        locked {
            guard case .failed(let error) = state else { return nil }
            return error
        }
    }

    /// Whether the opening is still writing (not waiting).
    var isOpening: Bool {
        locked {
            guard case .opening = state else { return false }
            return true
        }
    }

    /// The journal once the opening has ended; nil when there is none or the opening failed.
    var journal: StoreJournal? { (try? forCommit()) ?? nil }

    /// Takes the journal out once the opening has ended (a close): later commits get none.
    func take() -> StoreJournal? {
        locked {
            guard case .open(let journal) = settledLocked() else { return nil }
            state = .open(nil)
            return journal
        }
    }

    /// Runs `body` once the opening has ended: now, on this thread, when it has.
    func whenOpened(_ body: @escaping @Sendable () -> Void) {
        let now = locked { () -> Bool in
            guard case .opening = state else { return true }
            whenOpen.append(body)
            return false
        }
        if now { body() }
    }
}
