/* Tiny helpers for specdec's test programs: checks that count failures and paths of bundled data. */
#ifndef SD_TEST_UTIL_H
#define SD_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static int test_failures = 0;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            test_failures++;                                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                  \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
        }                                                                                                    \
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

static inline int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
