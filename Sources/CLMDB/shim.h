#ifndef LONGRUN_CLMDB_SHIM_H
#define LONGRUN_CLMDB_SHIM_H
#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#endif
#include <lmdb.h>

/// Writes back the dirty pages of `fd` in [offset, offset + count) and waits for them, without
/// flushing the disk's cache (Linux `sync_file_range`, which glibc declares only with
/// `_GNU_SOURCE`). Elsewhere it does nothing and returns 0: the flush after it does the work.
static inline int clmdb_write_back(int fd, long long offset, long long count) {
#ifdef __linux__
    return sync_file_range(fd, offset, count,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
#else
    (void)fd; (void)offset; (void)count;
    return 0;
#endif
}
#endif
