/* specdec synth: write synthetic GGUF models (synth/synth.h does the work; this file parses flags and
 * reports). */
#include "cmd_synth.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "common/sd_common.h"
#include "synth/synth.h"

static void usage(FILE *out, const cli_command *c) {
    (void)c;
    fprintf(
        out,
        "usage: specdec synth --grow SRC.gguf --params N [--type q4_0|q8_0|f16] [--ff WIDTH] [--seed S]\n"
        "                     [-t THREADS] [--dry-run] -o OUT.gguf\n"
        "       specdec synth --shape NAME [--type q4_0|q8_0|f16|q4_k_m] [--seed S] [-t THREADS] "
        "[--dry-run]\n"
        "                     -o OUT.gguf\n"
        "       specdec synth --list-shapes\n"
        "\n"
        "--grow: a model that computes exactly SRC's function but reads about N parameters per token:\n"
        "  SRC's keys and tensors unchanged, plus extra layers whose norm weights are zero (they add exactly "
        "0)\n"
        "  and whose matrices are random, in --type (default q4_0), FFN width --ff (default: chosen so that\n"
        "  about 80 extra layers reach N). N may be written 1e9, 1000M or 1G.\n"
        "--shape: random weights with the exact shape of a real model (see --list-shapes) and a generated\n"
        "  byte-level BPE vocabulary of its size. --type q4_k_m writes each matrix in the type\n"
        "  llama-quantize's Q4_K_M mix gives it (q4_K, q6_K; q5_0, q8_0 where rows are not 256-wide).\n"
        "--dry-run: plan and report, write nothing. Same --seed, same bytes (default seed 0).\n");
}

bool cli_parse_count(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v <= 0) return false;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mult = 1e3;
            break;
        case 'm':
        case 'M':
            mult = 1e6;
            break;
        case 'g':
        case 'G':
        case 'b':
        case 'B':
            mult = 1e9;
            break;
        default:
            return false;
        }
        if (end[1]) return false;
    }
    v *= mult;
    if (v >= 1e15) return false;
    *out = (uint64_t)llround(v);
    return true;
}

static bool parse_type(const char *s, sd_type *out) {
    if (strcmp(s, "q4_0") == 0 || strcmp(s, "Q4_0") == 0)
        *out = SD_TYPE_Q4_0;
    else if (strcmp(s, "q8_0") == 0 || strcmp(s, "Q8_0") == 0)
        *out = SD_TYPE_Q8_0;
    else if (strcmp(s, "f16") == 0 || strcmp(s, "F16") == 0)
        *out = SD_TYPE_F16;
    else
        return false;
    return true;
}

static void list_shapes(void) {
    printf("%-14s %-6s %7s %5s %6s %5s %4s %6s %7s %8s %6s %s\n", "shape", "arch", "vocab", "width", "layers",
           "heads", "kv", "ffn", "ctx", "rope", "tied", "params");
    for (size_t i = 0; i < sd_synth_n_shapes(); i++) {
        const sd_synth_shape *s = sd_synth_shape_at(i);
        printf("%-14s %-6s %7d %5d %6d %5d %4d %6d %7d %8g %6s %.3fB\n", s->name, s->arch, s->n_vocab,
               s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_ctx_train,
               (double)s->rope_freq_base, s->tied_output ? "yes" : "no", (double)s->published_params / 1e9);
    }
}

int cmd_synth(int argc, char **argv) {
    const char *grow = NULL, *shape = NULL, *out = NULL, *type_s = "q4_0", *params_s = NULL;
    sd_synth_params p = sd_synth_default_params();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p.n_threads = ncpu > 0 ? (int)SD_MIN(ncpu, 64) : 1;
    bool dry = false, list = false;
    /* The flags are described in usage()'s prose. */
    const cli_flag flags[] = {
        {"--list-shapes", NULL, CLI_TRUE, .out.b = &list},
        {"--grow", NULL, CLI_STR, .out.s = &grow},
        {"--shape", NULL, CLI_STR, .out.s = &shape},
        {"--params", NULL, CLI_STR, .out.s = &params_s},
        {"--type", NULL, CLI_STR, .out.s = &type_s},
        {"--ff", NULL, CLI_INT, .out.i = &p.ff_width, 32, 1 << 20},
        {"--seed", NULL, CLI_U64, .out.u = &p.seed},
        {"-t", "--threads", CLI_INT, .out.i = &p.n_threads, 1, 256},
        {"-o", "--output", CLI_STR, .out.s = &out},
        {"--dry-run", NULL, CLI_TRUE, .out.b = &dry},
        {"-h", "--help", .kind = CLI_HELP},
    };
    const cli_command c = {"synth", flags, CLI_COUNT(flags), usage, 0, false, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (list) {
        list_shapes();
        return 0;
    }
    if (!grow == !shape) {
        fprintf(stderr, "specdec synth: give exactly one of --grow SRC.gguf or --shape NAME (see --help)\n");
        return 2;
    }
    p.q4_k_m = strcmp(type_s, "q4_k_m") == 0 || strcmp(type_s, "Q4_K_M") == 0;
    if (!p.q4_k_m && !parse_type(type_s, &p.type)) {
        fprintf(stderr, "specdec synth: --type must be q4_0, q8_0, f16 or (with --shape) q4_k_m, got '%s'\n",
                type_s);
        return 2;
    }
    if (p.q4_k_m && grow) {
        fprintf(stderr, "specdec synth: --type q4_k_m applies to --shape only\n");
        return 2;
    }
    if (grow && !params_s) {
        fprintf(stderr, "specdec synth: --grow needs --params N\n");
        return 2;
    }
    if (params_s && (!grow || !cli_parse_count(params_s, &p.n_params))) {
        fprintf(stderr,
                grow ? "specdec synth: --params needs a positive count (1e9, 500M), got '%s'\n"
                     : "specdec synth: --params applies to --grow only ('%s')\n",
                params_s);
        return 2;
    }
    if (p.ff_width && (!grow || p.ff_width % 32 != 0)) {
        fprintf(stderr, "specdec synth: --ff applies to --grow only and must be a multiple of 32, got %d\n",
                p.ff_width);
        return 2;
    }
    if (!out && !dry) {
        fprintf(stderr, "specdec synth: give the output file with -o OUT.gguf (or --dry-run)\n");
        return 2;
    }
    char err[512];
    sd_synth_report rep;
    double t0 = sd_time_seconds();
    int rc = grow ? sd_synth_grow(grow, &p, dry ? NULL : out, &rep, err, sizeof err)
                  : sd_synth_shape_write(shape, &p, dry ? NULL : out, &rep, err, sizeof err);
    double secs = sd_time_seconds() - t0;
    if (rc < 0) {
        fprintf(stderr, "specdec synth: %s\n", err);
        return rc == SD_STATUS_INVALID_ARGUMENT ? 2 : 1;
    }
    const char *verb = dry ? "would write" : "wrote";
    const char *dest = dry ? (out ? out : "(dry run)") : out;
    if (grow)
        printf("%s %s: %d layers (%d source + %d extra, FFN width %d), %" PRIu64
               " parameters (%.3f B; source %" PRIu64 "), %" PRIu64 " tensors, %" PRIu64
               " bytes (%.1f MiB), %s, in %.2f s\n",
               verb, dest, rep.n_layer, rep.n_layer_src, rep.n_layer - rep.n_layer_src, rep.n_ff_extra,
               rep.n_params, (double)rep.n_params / 1e9, rep.n_params_src, rep.n_tensors, rep.file_bytes,
               (double)rep.file_bytes / (1024.0 * 1024.0), type_s, secs);
    else
        printf("%s %s: shape %s, %d layers, vocabulary %d, %" PRIu64 " parameters (%.3f B), %" PRIu64
               " tensors, %" PRIu64 " bytes (%.1f MiB), %s, in %.2f s\n",
               verb, dest, shape, rep.n_layer, rep.n_vocab, rep.n_params, (double)rep.n_params / 1e9,
               rep.n_tensors, rep.file_bytes, (double)rep.file_bytes / (1024.0 * 1024.0), type_s, secs);
    return 0;
}
