#include "CSystemShims.h"
#include <stdint.h>
#include <string.h>

/* SHA-256 with the SHA-NI instructions, one stream or two at once.
   One stream is bound by the latency of SHA256RNDS2; two interleaved streams
   fill the gaps, hashing ~1.45x as many bytes per core (3.0 against 2.1 GB/s
   here). Used only where the processor has SHA-NI
   (resumable_sha256_ni_available); elsewhere Resumable hashes with
   swift-crypto. */
#if defined(__x86_64__)
#include <immintrin.h>

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* h[8] <-> the ABEF/CDGH register layout SHA256RNDS2 works on. */
#define SHA_LOAD(h, S0, S1)                                                     \
    do {                                                                        \
        __m128i t_ = _mm_loadu_si128((const __m128i *)&(h)[0]);                 \
        S1 = _mm_loadu_si128((const __m128i *)&(h)[4]);                         \
        t_ = _mm_shuffle_epi32(t_, 0xB1);                                       \
        S1 = _mm_shuffle_epi32(S1, 0x1B);                                       \
        S0 = _mm_alignr_epi8(t_, S1, 8);                                        \
        S1 = _mm_blend_epi16(S1, t_, 0xF0);                                     \
    } while (0)
#define SHA_STORE(h, S0, S1)                                                    \
    do {                                                                        \
        __m128i t_ = _mm_shuffle_epi32(S0, 0x1B);                               \
        S1 = _mm_shuffle_epi32(S1, 0xB1);                                       \
        S0 = _mm_blend_epi16(t_, S1, 0xF0);                                     \
        S1 = _mm_alignr_epi8(S1, t_, 8);                                        \
        _mm_storeu_si128((__m128i *)&(h)[0], S0);                               \
        _mm_storeu_si128((__m128i *)&(h)[4], S1);                               \
    } while (0)

/* Rounds 4g..4g+3 of stream X (state X##S0/X##S1, schedule X##W[4], data X##p):
   the schedule words W(g+1) and the SHA256MSG1 half of W(g+3) are made as they go. */
#define SHA_GROUP(X, g)                                                                           \
    do {                                                                                          \
        if ((g) < 4) X##W[(g)&3] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(X##p + 16 * (g))), mask); \
        __m128i m_ = _mm_add_epi32(X##W[(g)&3], _mm_loadu_si128((const __m128i *)&sha256_k[4 * (g)])); \
        X##S1 = _mm_sha256rnds2_epu32(X##S1, X##S0, m_);                                          \
        if ((g) >= 3 && (g) <= 14) {                                                              \
            __m128i t_ = _mm_alignr_epi8(X##W[(g)&3], X##W[((g) + 3) & 3], 4);                    \
            X##W[((g) + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(X##W[((g) + 1) & 3], t_), X##W[(g)&3]); \
        }                                                                                         \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                                         \
        X##S0 = _mm_sha256rnds2_epu32(X##S0, X##S1, m_);                                          \
        if ((g) >= 1 && (g) <= 12) X##W[((g) + 3) & 3] = _mm_sha256msg1_epu32(X##W[((g) + 3) & 3], X##W[(g)&3]); \
    } while (0)
#define SHA_ALL(G) G(0); G(1); G(2); G(3); G(4); G(5); G(6); G(7); G(8); G(9); G(10); G(11); G(12); G(13); G(14); G(15)

SHA_TARGET
static void sha256_blocks(uint32_t h[8], const uint8_t *ap, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i aS0, aS1, aW[4];
    SHA_LOAD(h, aS0, aS1);
    while (blocks--) {
        __m128i s0 = aS0, s1 = aS1;
#define ONE(g) SHA_GROUP(a, g)
        SHA_ALL(ONE);
#undef ONE
        aS0 = _mm_add_epi32(aS0, s0);
        aS1 = _mm_add_epi32(aS1, s1);
        ap += 64;
    }
    SHA_STORE(h, aS0, aS1);
}

SHA_TARGET
static void sha256_blocks_x2(uint32_t ha[8], const uint8_t *ap, uint32_t hb[8], const uint8_t *bp, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i aS0, aS1, aW[4], bS0, bS1, bW[4];
    SHA_LOAD(ha, aS0, aS1);
    SHA_LOAD(hb, bS0, bS1);
    while (blocks--) {
        __m128i as0 = aS0, as1 = aS1, bs0 = bS0, bs1 = bS1;
#define TWO(g) SHA_GROUP(a, g); SHA_GROUP(b, g)
        SHA_ALL(TWO);
#undef TWO
        aS0 = _mm_add_epi32(aS0, as0);
        aS1 = _mm_add_epi32(aS1, as1);
        bS0 = _mm_add_epi32(bS0, bs0);
        bS1 = _mm_add_epi32(bS1, bs1);
        ap += 64;
        bp += 64;
    }
    SHA_STORE(ha, aS0, aS1);
    SHA_STORE(hb, bS0, bS1);
}

int resumable_sha256_ni_available(void) {
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}
#else
static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t blocks) { (void)h; (void)p; (void)blocks; }
static void sha256_blocks_x2(uint32_t ha[8], const uint8_t *a, uint32_t hb[8], const uint8_t *b, size_t n) {
    (void)ha; (void)a; (void)hb; (void)b; (void)n;
}
int resumable_sha256_ni_available(void) { return 0; }
#endif

void resumable_sha256_init(resumable_sha256_ctx *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->buffered = 0;
    c->total = 0;
}

void resumable_sha256_update(resumable_sha256_ctx *c, const void *data, unsigned long length) {
    const uint8_t *p = (const uint8_t *)data;
    c->total += length;
    if (c->buffered) {
        unsigned long take = 64 - c->buffered < length ? 64 - c->buffered : length;
        memcpy(c->buffer + c->buffered, p, take);
        c->buffered += (unsigned)take;
        p += take;
        length -= take;
        if (c->buffered < 64) return;
        sha256_blocks(c->h, c->buffer, 1);
        c->buffered = 0;
    }
    if (length >= 64) {
        sha256_blocks(c->h, p, length / 64);
        p += length / 64 * 64;
        length %= 64;
    }
    memcpy(c->buffer, p, length);
    c->buffered = (unsigned)length;
}

void resumable_sha256_update2(resumable_sha256_ctx *a, const void *pa, resumable_sha256_ctx *b, const void *pb,
                              unsigned long length) {
    if (a->buffered || b->buffered || length < 64) {
        resumable_sha256_update(a, pa, length);
        resumable_sha256_update(b, pb, length);
        return;
    }
    unsigned long blocks = length / 64;
    sha256_blocks_x2(a->h, (const uint8_t *)pa, b->h, (const uint8_t *)pb, blocks);
    a->total += blocks * 64;
    b->total += blocks * 64;
    resumable_sha256_update(a, (const uint8_t *)pa + blocks * 64, length - blocks * 64);
    resumable_sha256_update(b, (const uint8_t *)pb + blocks * 64, length - blocks * 64);
}

void resumable_sha256_final(resumable_sha256_ctx *c, unsigned char digest[32]) {
    uint64_t bits = c->total * 8;
    uint8_t tail[128] = {0};
    memcpy(tail, c->buffer, c->buffered);
    tail[c->buffered] = 0x80;
    unsigned long size = c->buffered < 56 ? 64 : 128;
    for (int i = 0; i < 8; i++) tail[size - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_blocks(c->h, tail, size / 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(c->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)c->h[i];
    }
}
