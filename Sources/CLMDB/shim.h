#ifndef LONGRUN_CLMDB_SHIM_H
#define LONGRUN_CLMDB_SHIM_H
#include <lmdb.h>
#ifdef __linux__
#include <fcntl.h>
#endif
#if defined(__linux__) && defined(__GLIBC__)
#define CLMDB_HAS_SYNC_FILE_RANGE 1

/// glibc declares `sync_file_range` only under `_GNU_SOURCE`, and defining that macro here would
/// change glibc's own structures (`fd_set`) against the definitions Swift's Glibc module was built
/// with: a clean build fails. The declaration below is glibc's own, so it agrees with fcntl.h
/// wherever both are seen. The flags are the kernel's (include/uapi/linux/fs.h).
extern int sync_file_range(int fd, __off64_t offset, __off64_t count, unsigned int flags);
#define CLMDB_SYNC_FILE_RANGE_WAIT_BEFORE 1u
#define CLMDB_SYNC_FILE_RANGE_WRITE 2u
#define CLMDB_SYNC_FILE_RANGE_WAIT_AFTER 4u
#endif

/// Writes back the dirty pages of `fd` in [offset, offset + count) and waits for them, without
/// flushing the disk's cache (`sync_file_range`, with glibc on Linux). Elsewhere it does nothing
/// and returns 0: the flush after it does the work.
static inline int clmdb_write_back(int fd, long long offset, long long count) {
#ifdef CLMDB_HAS_SYNC_FILE_RANGE
    return sync_file_range(fd, offset, count,
                           CLMDB_SYNC_FILE_RANGE_WAIT_BEFORE | CLMDB_SYNC_FILE_RANGE_WRITE |
                               CLMDB_SYNC_FILE_RANGE_WAIT_AFTER);
#else
    (void)fd; (void)offset; (void)count;
    return 0;
#endif
}

/// Asks the processor to bring the `length` bytes at `address` into its caches, one cache line at
/// a time, without waiting for them (a hint: no fault, no effect on what is read).
static inline void clmdb_prefetch(const void *address, unsigned long length) {
    const char *p = (const char *)address;
    for (unsigned long offset = 0; offset < length; offset += 64) __builtin_prefetch(p + offset);
}
#endif
