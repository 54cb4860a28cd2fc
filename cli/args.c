#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool cli_flag_is(const cli_args *a, const char *name, const char *alias) {
    const char *s = a->argv[a->i];
    return strcmp(s, name) == 0 || (alias && strcmp(s, alias) == 0);
}

bool cli_take_str(cli_args *a, const char **out) {
    if (a->i + 1 >= a->argc) {
        fprintf(stderr, "specdec %s: flag '%s' needs a value\n", a->cmd, a->argv[a->i]);
        return false;
    }
    *out = a->argv[++a->i];
    return true;
}

bool cli_take_int(cli_args *a, int64_t lo, int64_t hi, int32_t *out) {
    const char *flag = a->argv[a->i], *s;
    if (!cli_take_str(a, &s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "specdec %s: flag '%s' needs an integer in [%lld, %lld], got '%s'\n", a->cmd, flag,
                (long long)lo, (long long)hi, s);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_take_u64(cli_args *a, uint64_t *out) {
    const char *flag = a->argv[a->i], *s;
    if (!cli_take_str(a, &s)) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "specdec %s: flag '%s' needs a non-negative integer, got '%s'\n", a->cmd, flag, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_take_float(cli_args *a, double lo, double hi, float *out) {
    const char *flag = a->argv[a->i], *s;
    if (!cli_take_str(a, &s)) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "specdec %s: flag '%s' needs a number in [%g, %g], got '%s'\n", a->cmd, flag, lo, hi,
                s);
        return false;
    }
    *out = (float)v;
    return true;
}

void cli_unknown_flag(const cli_args *a) {
    fprintf(stderr, "specdec %s: unknown flag '%s' (see specdec %s --help)\n", a->cmd, a->argv[a->i], a->cmd);
}

char *cli_read_file(const char *path, size_t *len_out) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "specdec: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "specdec: %s: not a regular file\n", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "specdec: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (cap - len - 1 == 0) {
            char *nb = cap < ((size_t)1 << 34) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "specdec: %s: could not read the file\n", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}
