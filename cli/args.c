/* The table-driven flag parser of args.h. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const cli_flag *find_flag(const cli_command *c, const char *arg) {
    for (int i = 0; i < c->n_flags; i++) {
        const cli_flag *f = &c->flags[i];
        if (strcmp(arg, f->name) == 0 || (f->alias && strcmp(arg, f->alias) == 0)) return f;
    }
    return NULL;
}

static bool takes_value(cli_kind k) {
    return k != CLI_HELP && k != CLI_TRUE && k != CLI_FALSE;
}

/* A whole decimal integer in [lo, hi]. */
static bool read_int(const char *s, double lo, double hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || (double)v < lo || (double)v > hi) return false;
    *out = v;
    return true;
}

/* A whole finite number in [lo, hi]. */
static bool read_number(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* "1,2,4": 1 to f->cap integers in [f->lo, f->hi], no empty entries. */
static bool read_int_list(const char *s, const cli_flag *f) {
    int n = 0;
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        char item[32];
        long long v;
        if (len == 0 || len >= sizeof item || n == f->cap) return false;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!read_int(item, f->lo, f->hi, &v)) return false;
        f->out.i[n++] = (int32_t)v;
        p += len;
        if (*p == '\0') break;
    }
    *f->count = n;
    return true;
}

/* Stores value into f's destination; false (nothing printed) if it is not a valid value. */
static bool store(const cli_flag *f, const char *v) {
    long long i;
    double d;
    switch (f->kind) {
    case CLI_STR:
        *f->out.s = v;
        return true;
    case CLI_INT:
        if (!read_int(v, f->lo, f->hi, &i)) return false;
        *f->out.i = (int32_t)i;
        return true;
    case CLI_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || end == v || *end != '\0' || v[0] == '-' || (f->hi > 0 && (double)u > f->hi))
            return false;
        *f->out.u = (uint64_t)u;
        return true;
    }
    case CLI_FLOAT:
        if (!read_number(v, f->lo, f->hi, &d)) return false;
        *f->out.f = (float)d;
        return true;
    case CLI_DOUBLE:
        if (!read_number(v, f->lo, f->hi, &d)) return false;
        *f->out.d = d;
        return true;
    case CLI_INT_LIST:
        return read_int_list(v, f);
    case CLI_CUSTOM:
        return f->parse(v, f);
    case CLI_HELP:
    case CLI_TRUE:
    case CLI_FALSE:
        break;
    }
    return false;
}

void cli_flag_error(const cli_command *c, const char *flag, const char *want, const char *value) {
    fprintf(stderr, "specdec %s: flag '%s' needs %s, got '%s'\n", c->name, flag, want, value);
}

/* The error line for a value store() refused: what the flag needs, from its row. */
static void value_error(const cli_command *c, const cli_flag *f, const char *flag, const char *v) {
    char want[160];
    long long lo = (long long)f->lo, hi = (long long)f->hi;
    switch (f->kind) {
    case CLI_INT:
        snprintf(want, sizeof want, "an integer in [%lld, %lld]", lo, hi);
        break;
    case CLI_U64:
        if (f->hi > 0)
            snprintf(want, sizeof want, "an integer in [0, %lld]", hi);
        else
            snprintf(want, sizeof want, "a non-negative integer");
        break;
    case CLI_FLOAT:
    case CLI_DOUBLE:
        snprintf(want, sizeof want, "a number in [%g, %g]", f->lo, f->hi);
        break;
    case CLI_INT_LIST:
        snprintf(want, sizeof want, "up to %d comma-separated integers in [%lld, %lld]", f->cap, lo, hi);
        break;
    default:
        snprintf(want, sizeof want, "%s", f->want ? f->want : "a valid value");
        break;
    }
    cli_flag_error(c, flag, want, v);
}

cli_parse_status cli_parse(const cli_command *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const cli_flag *f = find_flag(c, arg);
        if (!f) {
            fprintf(stderr, "specdec %s: unknown flag '%s' (see specdec %s --help)\n", c->name, arg, c->name);
            return CLI_BAD_FLAGS;
        }
        if (f->kind == CLI_HELP) {
            c->usage(stdout, c);
            return CLI_HELP_ASKED;
        }
        if (f->seen) *f->seen = true;
        if (f->kind == CLI_TRUE || f->kind == CLI_FALSE) {
            *f->out.b = f->kind == CLI_TRUE;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "specdec %s: flag '%s' needs a value\n", c->name, arg);
            return CLI_BAD_FLAGS;
        }
        const char *v = argv[++i];
        if (!store(f, v)) {
            value_error(c, f, arg, v);
            return CLI_BAD_FLAGS;
        }
    }
    return CLI_PARSED;
}

int cli_exit_code(cli_parse_status st) {
    return st == CLI_HELP_ASKED ? 0 : 2;
}

/* "-m, --model FILE", "    --no-draft" or the row's own label. */
static void flag_label(const cli_command *c, const cli_flag *f, char *buf, size_t len) {
    if (f->label) {
        snprintf(buf, len, "%s", f->label);
        return;
    }
    bool long_only = !f->alias && strncmp(f->name, "--", 2) == 0;
    snprintf(buf, len, "%s%s%s%s%s%s", long_only && c->help_align_long ? "    " : "", f->name,
             f->alias ? ", " : "", f->alias ? f->alias : "", f->arg && takes_value(f->kind) ? " " : "",
             f->arg && takes_value(f->kind) ? f->arg : "");
}

void cli_print_flags(FILE *out, const cli_command *c) {
    for (int i = 0; i < c->n_flags; i++) {
        const cli_flag *f = &c->flags[i];
        if (!f->help) continue;
        char label[96];
        flag_label(c, f, label, sizeof label);
        fprintf(out, "  %-*s ", c->help_width - 1, label);
        for (const char *line = f->help;;) {
            size_t n = strcspn(line, "\n");
            fprintf(out, "%.*s\n", (int)n, line);
            if (line[n] == '\0') break;
            line += n + 1;
            fprintf(out, "  %*s", c->help_width, "");
        }
    }
}

/* --schedule's names, indexed by sd_schedule. */
static const char *const schedule_names[] = {
    [SD_SCHEDULE_AUTO] = "auto", [SD_SCHEDULE_SEQ] = "seq", [SD_SCHEDULE_PIPE] = "pipe"};

const char *cli_schedule_name(sd_schedule s) {
    return (int)s >= 0 && (int)s < CLI_COUNT(schedule_names) ? schedule_names[s] : "?";
}

static bool schedule_of(const char *name, size_t len, sd_schedule *out) {
    for (int i = 0; i < CLI_COUNT(schedule_names); i++)
        if (strlen(schedule_names[i]) == len && strncmp(name, schedule_names[i], len) == 0) {
            *out = (sd_schedule)i;
            return true;
        }
    return false;
}

bool cli_read_schedule(const char *value, const cli_flag *f) {
    return schedule_of(value, strlen(value), f->out.any);
}

bool cli_read_cache_type(const char *value, const cli_flag *f) {
    return sd_cache_type_from_name(value, f->out.any, NULL, 0) == SD_OK;
}

bool cli_read_schedule_list(const char *value, const cli_flag *f) {
    sd_schedule *out = f->out.any;
    int n = 0;
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        if (n == f->cap || !schedule_of(p, len, &out[n++])) return false;
        p += len;
        if (*p == '\0') break;
    }
    *f->count = n;
    return true;
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

/* --spec: draft sources, comma-separated: draft, ngram, and llama.cpp's --spec-type names where they
 * map (draft-simple, ngram-simple). */
bool cli_read_spec_sources(const char *value, const cli_flag *f) {
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"draft", SD_SPEC_DRAFT},
                 {"draft-simple", SD_SPEC_DRAFT},
                 {"ngram", SD_SPEC_NGRAM},
                 {"ngram-simple", SD_SPEC_NGRAM}};
    unsigned sources = 0;
    for (const char *p = value;; p++) {
        const size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < CLI_COUNT(names) && !(strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0))
            i++;
        if (i == CLI_COUNT(names)) return false;
        sources |= names[i].bit;
        p += len;
        if (*p == '\0') break;
    }
    *(unsigned *)f->out.any = sources;
    return true;
}
