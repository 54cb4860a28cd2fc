/* `specdec bench`: the runs summarized: per prompt and mode over the repeats, per mode over every prompt
 * (medians over prompts and totals), and per kind of text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "common/sd_common.h"

void bs_summarize(const run_rec *const *r, int n, summary *s) {
    memset(s, 0, sizeof *s);
    double *pt = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)),
           *dt = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->n_runs = n;
    for (int i = 0; i < n; i++) {
        const run_rec *x = r[i];
        if (pt && dt) pt[i] = x->prompt_tps, dt[i] = x->decode_tps;
        s->n_gen += x->n_gen;
        s->t_gen += x->t_gen;
        s->t_draft += x->t_draft;
        s->t_verify += x->t_verify;
        s->t_sample += x->t_sample;
        s->n_rounds += x->n_rounds;
        s->n_drafted += x->n_drafted;
        s->n_accepted += x->n_accepted;
        s->cpu_s += x->cpu_s;
        s->kv_bytes = fmax(s->kv_bytes, (double)x->kv_bytes);
        for (int j = 0; j < SD_MAX_DRAFT_LEN; j++)
            s->drafted_at[j] += x->drafted_at[j], s->accepted_at[j] += x->accepted_at[j];
        for (int j = 0; j <= SD_MAX_DRAFT_LEN; j++)
            s->k_hist[j] += x->k_hist[j];
    }
    s->prompt_tps = pt && dt ? bs_median(pt, n) : NAN;
    s->decode_tps = pt && dt ? bs_median(dt, n) : NAN;
    free(pt);
    free(dt);
}

/* Per-token acceptance a for the cost model: a geometric fit, accepted / tokens that were tried with all
 * before them accepted. Rounds that tried position i after accepting 0..i-1 are estimated as
 * accepted_at[i-1] x drafted_at[i] / drafted_at[i-1] (exact for a fixed k; for adaptive k it assumes the
 * draft length does not depend on the coming outcome). */
double bs_geometric_a(const summary *s) {
    double acc = 0, tried = 0;
    for (int i = 0; i < SD_MAX_DRAFT_LEN && s->drafted_at[i] > 0; i++) {
        acc += s->accepted_at[i];
        tried += i == 0 ? s->drafted_at[0] : s->accepted_at[i - 1] * s->drafted_at[i] / s->drafted_at[i - 1];
    }
    return bs_ratio(acc, tried);
}

void bs_summarize_prompt(const bench *b, int p, int m, summary *s) {
    const run_rec *sel[BS_MAX_REPEAT];
    for (int r = 0; r < b->o.repeat; r++)
        sel[r] = bs_rec(b, p, m, r);
    bs_summarize(sel, b->o.repeat, s);
}

void bs_aggregate(const bench *b, mode_agg *agg) {
    int n = b->n_prompts, R = b->o.repeat;
    const run_rec **sel = malloc(sizeof *sel * (size_t)(n * R));
    double *sp = malloc(sizeof *sp * (size_t)n), *tps = malloc(sizeof *tps * (size_t)n),
           *ptps = malloc(sizeof *ptps * (size_t)n), *plain = malloc(sizeof *plain * (size_t)n);
    if (!sel || !sp || !tps || !ptps || !plain) goto done;
    for (int m = 0; m < b->n_modes; m++) {
        for (int p = 0; p < n; p++) {
            summary s;
            bs_summarize_prompt(b, p, m, &s);
            if (m == 0) plain[p] = s.decode_tps;
            sp[p] = bs_ratio(s.decode_tps, plain[p]);
            if (b->prompt_speedup) b->prompt_speedup[m * n + p] = sp[p];
            tps[p] = s.decode_tps;
            ptps[p] = s.prompt_tps;
        }
        for (int p = 0; p < n; p++)
            for (int r = 0; r < R; r++)
                sel[p * R + r] = bs_rec(b, p, m, r);
        bs_summarize(sel, n * R, &agg[m].all);
        agg[m].speedup_median = bs_median(sp, n);
        agg[m].decode_tps = bs_median(tps, n);
        agg[m].prompt_tps = bs_median(ptps, n);
        agg[m].speedup_total = bs_ratio(bs_ratio(agg[m].all.n_gen, agg[m].all.t_gen),
                                        bs_ratio(agg[0].all.n_gen, agg[0].all.t_gen));
    }
done:
    free(sel);
    free(sp);
    free(tps);
    free(ptps);
    free(plain);
}

double bs_predicted_for(const bench *b, const mode_agg *a, int k) {
    if (!b->cost.have || k <= 0 || k >= b->cost.n_max) return NAN;
    double t_d = bs_ratio(a->all.t_draft, a->all.n_drafted);
    return bs_predicted_speedup(bs_geometric_a(&a->all), k, t_d, b->cost.t_v);
}

/* Writes the distinct kinds of the prompts, in order of first appearance, to names[0..n_prompts). */
static int distinct_kinds(const bench *b, const char **names) {
    int n = 0;
    for (int p = 0; p < b->n_prompts; p++) {
        int i = 0;
        while (i < n && strcmp(names[i], b->prompts[p].kind) != 0)
            i++;
        if (i == n) names[n++] = b->prompts[p].kind;
    }
    return n;
}

/* Fills *ka for the prompts of kind `name` (NULL: every prompt, as "all") from the runs and
 * b->prompt_speedup. Returns false when out of memory. */
static bool kind_aggregate(const bench *b, const char *name, kind_agg *ka) {
    int n = b->n_prompts, R = b->o.repeat;
    const run_rec **sel = malloc(sizeof *sel * (size_t)(n * R));
    double *sp = malloc(sizeof *sp * (size_t)n), plain_tps = NAN;
    bool ok = sel && sp;
    ka->name = name ? name : "all";
    for (int m = 0; ok && m < b->n_modes; m++) {
        int n_sel = 0, n_in = 0;
        for (int p = 0; p < n; p++) {
            if (name && strcmp(b->prompts[p].kind, name) != 0) continue;
            sp[n_in++] = b->prompt_speedup[m * n + p];
            for (int r = 0; r < R; r++)
                sel[n_sel++] = bs_rec(b, p, m, r);
        }
        summary s;
        bs_summarize(sel, n_sel, &s);
        if (m == 0) plain_tps = bs_ratio(s.n_gen, s.t_gen);
        ka->n_prompts = n_in;
        ka->speedup_total[m] = bs_ratio(bs_ratio(s.n_gen, s.t_gen), plain_tps);
        ka->speedup_median[m] = bs_median(sp, n_in);
        ka->acceptance[m] = b->modes[m].k == 0 ? NAN : bs_ratio(s.n_accepted, s.n_drafted);
    }
    free(sel);
    free(sp);
    return ok;
}

/* The by-kind rows, one per kind of text and then "all", when the prompts hold at least two kinds and
 * there are speculative modes to compare; else none. Returns the row count; the caller frees *out. */
int bs_kind_rows(const bench *b, kind_agg **out) {
    *out = NULL;
    const char **names = malloc(sizeof *names * (size_t)b->n_prompts);
    if (!names || !b->prompt_speedup || b->n_modes < 2) {
        free(names);
        return 0;
    }
    int n_kinds = distinct_kinds(b, names);
    kind_agg *ka = n_kinds >= 2 ? calloc((size_t)n_kinds + 1, sizeof *ka) : NULL;
    bool ok = ka != NULL;
    for (int i = 0; ok && i <= n_kinds; i++)
        ok = kind_aggregate(b, i < n_kinds ? names[i] : NULL, &ka[i]);
    free(names);
    if (!ok) {
        free(ka);
        return 0;
    }
    *out = ka;
    return n_kinds + 1;
}

/* The fixed-k mode with the highest total speed-up in row ka among those of mode m's schedule; -1: none. */
int bs_best_fixed(const bench *b, const kind_agg *ka, int m) {
    int best = -1;
    for (int f = 1; f < b->n_modes; f++) {
        if (b->modes[f].k <= 0 || b->modes[f].schedule != b->modes[m].schedule) continue;
        if (best < 0 || ka->speedup_total[f] > ka->speedup_total[best]) best = f;
    }
    return best;
}
