#ifndef HOOKLOG_CRC32C_H
#define HOOKLOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Extends a CRC32C (Castagnoli) over `length` bytes. Start with crc = 0; the value returned is
/// final (pre- and post-inversion are done inside), so it can be fed back in to continue.
uint32_t hooklog_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// The same computation with the portable table-driven code only (for tests and benchmarks).
uint32_t hooklog_crc32c_extend_portable(uint32_t crc, const void *data, size_t length);

/// 1 when the SSE4.2 instruction is used, 0 for the portable code.
int hooklog_crc32c_is_hardware_accelerated(void);

#ifdef __cplusplus
}
#endif

#endif
