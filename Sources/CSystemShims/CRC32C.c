#include "CSystemShims.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* CRC-32C: hardware instructions where present, a byte table otherwise.
   The CRC instruction has a latency of three cycles and a throughput of one,
   so long buffers are cut into three lanes whose CRCs are computed at once
   and then combined (the method of Mark Adler's crc32c.c: shifting a CRC
   over n zero bytes is a linear operator, tabulated for the lane lengths). */
#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[256];

static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_matrix_times(mat, mat[n]);
}

/* The operator that appends `length` zero bytes (a power of two) to a CRC. */
static void crc32c_zeros_operator(uint32_t *even, size_t length) {
    uint32_t odd[32];
    odd[0] = CRC32C_POLY;
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_matrix_square(even, odd); /* two zero bits */
    gf2_matrix_square(odd, even); /* four zero bits */
    do {
        gf2_matrix_square(even, odd);
        length >>= 1;
        if (length == 0) return;
        gf2_matrix_square(odd, even);
        length >>= 1;
    } while (length);
    for (int n = 0; n < 32; n++) even[n] = odd[n];
}

static void crc32c_zeros_table(uint32_t zeros[][256], size_t length) {
    uint32_t op[32];
    crc32c_zeros_operator(op, length);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_matrix_times(op, n);
        zeros[1][n] = gf2_matrix_times(op, n << 8);
        zeros[2][n] = gf2_matrix_times(op, n << 16);
        zeros[3][n] = gf2_matrix_times(op, n << 24);
    }
}

static uint32_t crc32c_shift(uint32_t zeros[][256], uint32_t crc) {
    return zeros[0][crc & 0xFF] ^ zeros[1][(crc >> 8) & 0xFF] ^ zeros[2][(crc >> 16) & 0xFF] ^ zeros[3][crc >> 24];
}

#define CRC32C_LONG 8192
#define CRC32C_SHORT 256
static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[i] = c;
    }
    crc32c_zeros_table(crc32c_long, CRC32C_LONG);
    crc32c_zeros_table(crc32c_short, CRC32C_SHORT);
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *p, unsigned long n) {
    while (n--) crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#define CRC_STEP64(c, v) __builtin_ia32_crc32di((c), (v))
#define CRC_STEP8(c, b) __builtin_ia32_crc32qi((c), (b))
#define CRC_TARGET __attribute__((target("sse4.2")))
#define RESUMABLE_HAS_HW_CRC() __builtin_cpu_supports("sse4.2")
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define CRC_STEP64(c, v) __crc32cd((uint32_t)(c), (v))
#define CRC_STEP8(c, b) __crc32cb((c), (b))
#define CRC_TARGET
#define RESUMABLE_HAS_HW_CRC() 1
#endif

#ifdef CRC_STEP64
static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Three lanes of `lane` bytes each, combined; returns the CRC after 3 * lane bytes. */
#define CRC32C_THREE_LANES(lane, zeros)                                                  \
    while (n >= 3 * (lane)) {                                                            \
        uint64_t c1 = 0, c2 = 0;                                                         \
        const uint8_t *end = p + (lane);                                                 \
        do {                                                                             \
            c0 = CRC_STEP64(c0, load64(p));                                              \
            c1 = CRC_STEP64(c1, load64(p + (lane)));                                     \
            c2 = CRC_STEP64(c2, load64(p + 2 * (lane)));                                 \
            p += 8;                                                                      \
        } while (p < end);                                                               \
        c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;                           \
        c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c2;                           \
        p += 2 * (lane);                                                                 \
        n -= 3 * (lane);                                                                 \
    }

CRC_TARGET
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *p, unsigned long n) {
    uint64_t c0 = crc;
    CRC32C_THREE_LANES(CRC32C_LONG, crc32c_long)
    CRC32C_THREE_LANES(CRC32C_SHORT, crc32c_short)
    while (n >= 8) {
        c0 = CRC_STEP64(c0, load64(p));
        p += 8;
        n -= 8;
    }
    uint32_t c = (uint32_t)c0;
    while (n--) c = CRC_STEP8(c, *p++);
    return c;
}
#endif

unsigned int resumable_crc32c(unsigned int crc, const void *data, unsigned long length) {
    uint32_t c = ~crc;
    pthread_once(&crc32c_once, crc32c_init_tables);
#ifdef CRC_STEP64
    if (RESUMABLE_HAS_HW_CRC()) return ~crc32c_hardware(c, (const uint8_t *)data, length);
#endif
    return ~crc32c_software(c, (const uint8_t *)data, length);
}
