#ifndef LONGRUN_CLMDB_SHIM_H
#define LONGRUN_CLMDB_SHIM_H
#include <lmdb.h>
#ifdef __linux__
#include <fcntl.h>
#include <sys/vfs.h>
#endif
#if defined(__linux__) && defined(__GLIBC__)
#define CLMDB_HAS_SYNC_FILE_RANGE 1

/// glibc declares `sync_file_range` only under `_GNU_SOURCE`, and defining that macro here would
/// change glibc's own structures (`fd_set`) against the definitions Swift's Glibc module was built
/// with: a clean build fails. The declaration below is glibc's own, so it agrees with fcntl.h
/// wherever both are seen. The flags are the kernel's (include/uapi/linux/fs.h).
extern int sync_file_range(int fd, __off64_t offset, __off64_t count, unsigned int flags);
#endif
#define CLMDB_SYNC_FILE_RANGE_WAIT_BEFORE 1u
#define CLMDB_SYNC_FILE_RANGE_WRITE 2u
#define CLMDB_SYNC_FILE_RANGE_WAIT_AFTER 4u

/// `sync_file_range(fd, offset, count, flags)` with the flags above (glibc on Linux): writes back
/// or waits for the dirty pages of `fd` in [offset, offset + count), without flushing the disk's
/// cache. Elsewhere it does nothing and returns 0: the flush after it does the work.
static inline int clmdb_sync_file_range(int fd, long long offset, long long count, unsigned int flags) {
#ifdef CLMDB_HAS_SYNC_FILE_RANGE
    return sync_file_range(fd, offset, count, flags);
#else
    (void)fd; (void)offset; (void)count; (void)flags;
    return 0;
#endif
}

/// The type of the file system holding `fd` (`statfs`'s `f_type`, Linux), or -1.
static inline long long clmdb_file_system_type(int fd) {
#ifdef __linux__
    struct statfs info;
    return fstatfs(fd, &info) == 0 ? (long long)info.f_type : -1;
#else
    (void)fd;
    return -1;
#endif
}

/// Asks the processor to bring the `length` bytes at `address` into its caches, one cache line at
/// a time, without waiting for them (a hint: no fault, no effect on what is read).
static inline void clmdb_prefetch(const void *address, unsigned long length) {
    const char *p = (const char *)address;
    for (unsigned long offset = 0; offset < length; offset += 64) __builtin_prefetch(p + offset);
}
#endif
