// CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
// x86-64 with SSE4.2 uses the crc32 instruction, chosen at run time; everything else uses a
// slicing-by-8 table walk. Tables are built once on first use.

#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_tables[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        crc_tables[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_tables[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc_tables[0][c & 0xff] ^ (c >> 8);
            crc_tables[t][n] = c;
        }
    }
}

static uint32_t extend_portable(uint32_t crc, const uint8_t *p, size_t n) {
    pthread_once(&tables_once, build_tables);
    uint32_t c = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = crc_tables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        // Little-endian load: the low four bytes fold into the running CRC.
        uint32_t lo = (uint32_t)word ^ c;
        uint32_t hi = (uint32_t)(word >> 32);
        c = crc_tables[7][lo & 0xff] ^ crc_tables[6][(lo >> 8) & 0xff] ^
            crc_tables[5][(lo >> 16) & 0xff] ^ crc_tables[4][lo >> 24] ^
            crc_tables[3][hi & 0xff] ^ crc_tables[2][(hi >> 8) & 0xff] ^
            crc_tables[1][(hi >> 16) & 0xff] ^ crc_tables[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        c = crc_tables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    return ~c;
}

uint32_t hooklog_crc32c_extend_portable(uint32_t crc, const void *data, size_t length) {
    return extend_portable(crc, (const uint8_t *)data, length);
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t extend_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    return ~(uint32_t)c;
}

static int has_sse42(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    return cached;
}

uint32_t hooklog_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    if (has_sse42()) {
        return extend_sse42(crc, (const uint8_t *)data, length);
    }
    return extend_portable(crc, (const uint8_t *)data, length);
}

int hooklog_crc32c_is_hardware_accelerated(void) { return has_sse42(); }

#else

uint32_t hooklog_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    return extend_portable(crc, (const uint8_t *)data, length);
}

int hooklog_crc32c_is_hardware_accelerated(void) { return 0; }

#endif
