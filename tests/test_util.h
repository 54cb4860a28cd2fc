/* Tiny helpers for specdec's test programs: checks that count failures and paths of bundled data. Every
 * test program uses these (one counter, one failure format, one summary line). */
#ifndef SD_TEST_UTIL_H
#define SD_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int test_checks = 0;   /* CHECKs evaluated */
static int test_failures = 0; /* CHECKs (and hand-counted checks) that failed */

/* Prints "FAIL file:line: cond: message" to stderr; fmt starts with a space (see CHECK). */
__attribute__((format(printf, 4, 5), unused)) static void test_fail(const char *file, int line,
                                                                    const char *cond, const char *fmt, ...) {
    test_failures++;
    fprintf(stderr, "FAIL %s:%d: %s:", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

/* CHECK(cond) or CHECK(cond, "printf format", args...): counts a failure and says where when cond is
 * false. The message must be a string literal (it is pasted after a space). */
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        test_checks++;                                                                                       \
        if (!(cond)) test_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                                  \
    } while (0)

/* $SD_MODELS_DIR/name or $SD_TEST_DATA/name into a static buffer. */
static inline const char *test_path(const char *env, const char *name) {
    static char buf[4][4096];
    static int slot = 0;
    const char *dir = getenv(env);
    if (!dir) {
        fprintf(stderr, "test: environment variable %s is not set\n", env);
        exit(2);
    }
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* $name, or fallback when it is unset or empty. */
static inline const char *test_env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

/* The whole file, malloc'd with a NUL after its *len bytes (so text can be used as a string); NULL if
 * it cannot be read. */
static inline void *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* Writes p[0..n) to path; false on any error. */
static inline bool test_write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* How many times a check that repeats for statistical power runs: n, or n / 4 in a sanitizer build
 * (meson sets SD_TEST_SANITIZED=1 there), where every run costs ~8x and one quarter of the runs covers the
 * same code. The thresholds that use the count must scale with it. */
static inline bool test_sanitized(void) {
    const char *s = getenv("SD_TEST_SANITIZED");
    return s && *s == '1';
}

static inline int test_runs(int n) {
    return test_sanitized() ? n / 4 : n;
}

/* The summary line; returns main's exit status (1 if anything failed). */
static inline int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d check(s) failed (of %d)\n", name, test_failures, test_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, test_checks);
    return 0;
}

#endif
