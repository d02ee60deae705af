#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread read-write lock that prefers writers, so that growing the map is not starved by a
/// steady stream of readers. One thread must not hold it twice: a second shared hold waits behind
/// a waiting writer, which waits for the first. Debug builds (the tests) stop at such a hold.
final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    #if DEBUG
    /// Set on a thread while it holds the lock.
    private var held = pthread_key_t()
    #endif

    init() {
        lock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        #if canImport(Glibc)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        let rc = pthread_rwlock_init(lock, &attributes)
        precondition(rc == 0, "pthread_rwlock_init failed: \(rc)")
        pthread_rwlockattr_destroy(&attributes)
        #if DEBUG
        precondition(pthread_key_create(&held, nil) == 0, "pthread_key_create failed")
        #endif
    }

    deinit {
        #if DEBUG
        pthread_key_delete(held)
        #endif
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func lockShared() {
        willLock()
        let rc = pthread_rwlock_rdlock(lock)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
    }

    func lockExclusive() {
        willLock()
        let rc = pthread_rwlock_wrlock(lock)
        precondition(rc == 0, "pthread_rwlock_wrlock failed: \(rc)")
    }

    func unlock() {
        #if DEBUG
        pthread_setspecific(held, nil)
        #endif
        pthread_rwlock_unlock(lock)
    }

    private func willLock() {
        #if DEBUG
        precondition(pthread_getspecific(held) == nil, "the map's resize lock taken twice by one thread (it can wait forever behind a growth)")
        pthread_setspecific(held, UnsafeRawPointer(bitPattern: 1))
        #endif
    }
}
