#define _GNU_SOURCE
#include "CSystemShims.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int resumable_rename_noreplace(const char *from, const char *to) {
#ifdef RENAME_NOREPLACE
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int resumable_rename_exchange(const char *a, const char *b) {
#ifdef RENAME_EXCHANGE
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int resumable_sync_file_range_write(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int resumable_drop_page_cache(int fd) {
    return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/// Makes this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER),
/// so a supervisor can reap a child's grandchildren. Returns 0, or -1 with errno.
int resumable_become_child_subreaper(void) {
#ifdef __linux__
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* CRC-32C: hardware instructions where present (about 8 bytes per 3 cycles
   on one core), a byte table otherwise. */
#include <stdint.h>
#include <string.h>

static uint32_t crc32c_table[256];
static int crc32c_table_ready;

static void crc32c_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
    crc32c_table_ready = 1;
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *p, unsigned long n) {
    if (!crc32c_table_ready) crc32c_init_table();
    while (n--) crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *p, unsigned long n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#define RESUMABLE_HAS_HW_CRC() __builtin_cpu_supports("sse4.2")
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *p, unsigned long n) {
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32cd(crc, v);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
#define RESUMABLE_HAS_HW_CRC() 1
#endif

unsigned int resumable_crc32c(unsigned int crc, const void *data, unsigned long length) {
    uint32_t c = ~crc;
#ifdef RESUMABLE_HAS_HW_CRC
    if (RESUMABLE_HAS_HW_CRC()) return ~crc32c_hardware(c, (const uint8_t *)data, length);
#endif
    return ~crc32c_software(c, (const uint8_t *)data, length);
}
