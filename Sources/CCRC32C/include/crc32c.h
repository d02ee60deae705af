#ifndef LONGRUN_CRC32C_H
#define LONGRUN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, the polynomial 0x1EDC6F41 reflected; iSCSI, RocksDB, ext4) of `length`
/// bytes at `data`, continuing from `crc` (0 to start). Uses the SSE 4.2 instruction when the
/// processor has it, a table otherwise; both give the same result.
uint32_t longrun_crc32c_extend(uint32_t crc, const void *data, size_t length);

#endif
