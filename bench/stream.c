/* Streaming read bandwidth: every worker of a pool sums its contiguous slice of a buffer much larger
 * than the last-level cache. This is the roofline a memory-bound GEMV is compared against, measured with
 * the same threads the GEMV uses. */
#include "bench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/sd_common.h"

#define HUGE_PAGE (2u << 20)

struct sd_stream {
    uint64_t *words; /* [n_words], mmap'ed */
    size_t n_words;
    size_t map_bytes;
    sd_pool *pool;
    uint64_t sums[64 * 8]; /* per-worker results, one cache line apart (worker i at [8 i]) */
    volatile uint64_t sink;
};

/* Worker w's slice [*lo, *hi) of n words, cut at cache-line (8-word) boundaries. */
static void slice(size_t n, int w, int n_workers, size_t *lo, size_t *hi) {
    size_t lines = n / 8;
    *lo = lines * (size_t)w / (size_t)n_workers * 8;
    *hi = w + 1 == n_workers ? n : lines * (size_t)(w + 1) / (size_t)n_workers * 8;
}

static void fill_task(void *ctx, int w, int n_workers) {
    sd_stream *s = ctx;
    size_t lo, hi;
    slice(s->n_words, w, n_workers, &lo, &hi);
    for (size_t i = lo; i < hi; i++)
        s->words[i] = i * 0x9e3779b97f4a7c15ull;
}

/* Eight independent accumulators so the adds never limit the load rate; integer adds vectorise without
 * reassociation concerns. */
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
    }
    for (; i < n; i++)
        a0 += p[i];
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

static void read_task(void *ctx, int w, int n_workers) {
    sd_stream *s = ctx;
    size_t lo, hi;
    slice(s->n_words, w, n_workers, &lo, &hi);
    s->sums[(size_t)(w % 64) * 8] = sum_words(s->words + lo, hi - lo);
}

int sd_stream_create(sd_stream **out, size_t bytes, sd_pool *pool, char *err, size_t err_len) {
    *out = NULL;
    if (bytes < 64) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "stream buffer too small");
    sd_stream *s = calloc(1, sizeof *s);
    if (!s) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    s->n_words = (bytes + 63) / 64 * 8;
    s->map_bytes = (s->n_words * 8 + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = mmap(NULL, s->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "cannot map %zu bytes for the stream buffer",
                        bytes);
    }
    (void)madvise(p, s->map_bytes, MADV_HUGEPAGE); /* fewer TLB misses; optional */
    s->words = p;
    s->pool = pool;
    sd_pool_run(pool, fill_task, s); /* first touch from the threads that will read it */
    *out = s;
    return SD_STATUS_OK;
}

void sd_stream_free(sd_stream *s) {
    if (!s) return;
    munmap(s->words, s->map_bytes);
    free(s);
}

size_t sd_stream_bytes(const sd_stream *s) {
    return s->n_words * sizeof(uint64_t);
}

double sd_stream_read_pass(sd_stream *s) {
    double t0 = sd_time_seconds();
    sd_pool_run(s->pool, read_task, s);
    double dt = sd_time_seconds() - t0;
    uint64_t total = 0;
    for (int w = 0; w < sd_pool_n_workers(s->pool) && w < 64; w++)
        total += s->sums[w * 8];
    s->sink += total;
    return dt;
}

/* Parses sizes such as "32768K", "1M", "512" (bytes). */
static size_t parse_cache_size(const char *text) {
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text) return 0;
    switch (*end) {
    case 'K':
    case 'k':
        return (size_t)v << 10;
    case 'M':
    case 'm':
        return (size_t)v << 20;
    case 'G':
    case 'g':
        return (size_t)v << 30;
    default:
        return (size_t)v;
    }
}

size_t sd_bench_llc_bytes(size_t fallback) {
    size_t best = 0;
    int best_level = -1;
    for (int i = 0; i < 16; i++) {
        char path[96], text[64];
        int level = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fscanf(f, "%d", &level) != 1) level = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        size_t size = fgets(text, sizeof text, f) ? parse_cache_size(text) : 0;
        fclose(f);
        if (size > 0 && (level > best_level || (level == best_level && size > best))) {
            best = size;
            best_level = level;
        }
    }
    return best > 0 ? best : fallback;
}
