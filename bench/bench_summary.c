/* `specdec bench`: the Markdown summary (summary.md, and what the command prints): the table of modes,
 * acceptance by draft position, speed-ups by kind of text and by prompt, the measured pass costs next to
 * the cost model, and --cost-only's projection table. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "cli/usage.h"
#include "common/sd_common.h"

/* A growable string for the Markdown summary. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return; /* the summary is then cut short; nothing else depends on it */
        b->s = s;
        b->cap = cap;
    }
}

static void k_hist_text(strbuf *sb, const summary *s) {
    bool any = false;
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        if (s->k_hist[k] > 0) {
            sb_printf(sb, "%s%d:%.0f", any ? " " : "", k, s->k_hist[k]);
            any = true;
        }
    if (!any) sb_printf(sb, "-");
}

static void projection_table(strbuf *b, const costs *c) {
    sb_printf(b, "### Projected speed-up from measured costs (cost model, NOT measured speed-ups)\n\n");
    sb_printf(b,
              "t_d = %.3f ms per draft token, t_v(1) = %.3f ms; predicted speed-up E(k)/T(k) x t_v(1), "
              "E(k) = (1 - a^(k+1))/(1 - a), T(k) = k t_d + t_v(k+1)\n\n",
              c->t_d * 1e3, c->t_v[0] * 1e3);
    sb_printf(b, "| acceptance a |");
    for (int k = 1; k <= BS_PROJ_K; k++)
        sb_printf(b, " k=%d |", k);
    sb_printf(b, " best k |\n|---|");
    for (int k = 0; k <= BS_PROJ_K; k++)
        sb_printf(b, "---|");
    sb_printf(b, "\n");
    for (int ai = 0; ai < 10; ai++) {
        double a = 0.5 + 0.05 * ai, best = 0;
        int best_k = 1;
        sb_printf(b, "| %.2f |", a);
        for (int k = 1; k <= BS_PROJ_K; k++) {
            double s = bs_predicted_speedup(a, k, c->t_d, c->t_v);
            if (s > best) best = s, best_k = k;
            sb_printf(b, " %.2fx |", s);
        }
        sb_printf(b, " %d (%.2fx) |\n", best_k, best);
    }
}

static void verify_line(strbuf *b, const costs *c) {
    sb_printf(
        b,
        "Target pass cost t_v(n)/t_v(1) (measured after %d tokens of context, median of %d to %d samples):",
        c->prefix, BS_COST_MIN_SAMPLES, BS_COST_SAMPLES);
    bool monotone = true;
    for (int i = 0; i < c->n_max; i++) {
        sb_printf(b, " %d:%.2f", i + 1, c->t_v[i] / c->t_v[0]);
        monotone = monotone && (i == 0 || c->t_v[i] >= c->t_v[i - 1] * 0.95);
    }
    sb_printf(b, "; fastest sample:");
    for (int i = 0; i < c->n_max; i++)
        sb_printf(b, " %d:%.2f", i + 1, c->t_v_min[i] / c->t_v_min[0]);
    if (!monotone)
        sb_printf(b,
                  " (the medians do not grow with n: other processes took the CPUs during the measurement, "
                  "so the cost model below is unreliable; the fastest samples show the pass's own cost)");
    sb_printf(b,
              "; roofline bound at n=%d: %.2f. t_v(1) = %.3f ms = %.0f%% of the read-bandwidth roofline "
              "(%.1f GB/s best, %.1f GB/s median).\n\n",
              c->n_max, bs_roofline_ratio(c, c->n_max), c->t_v[0] * 1e3, 100 * bs_ratio(c->t_mem, c->t_v[0]),
              c->bw_best_bps / 1e9, c->bw_bps / 1e9);
}

static bool any_kind(const bench *b) {
    for (int p = 0; p < b->n_prompts; p++)
        if (strcmp(b->prompts[p].kind, BS_NO_KIND) != 0) return true;
    return false;
}

/* The speculative mode with the highest total speed-up in row ka (shown in bold). */
static int best_mode(const bench *b, const kind_agg *ka) {
    int best = 1;
    for (int m = 2; m < b->n_modes; m++)
        if (ka->speedup_total[m] > ka->speedup_total[best]) best = m;
    return best;
}

static void kind_table_head(strbuf *sb, const bench *b, const char *first) {
    sb_printf(sb, "| kind | %s |", first);
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, " %s |", b->modes[m].name);
    sb_printf(sb, "\n|---|---|");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, "---|");
    sb_printf(sb, "\n");
}

static void kind_speedup_table(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    kind_table_head(sb, b, "prompts");
    for (int i = 0; i < n_rows; i++) {
        int best = best_mode(b, &ka[i]);
        sb_printf(sb, "| %s | %d |", ka[i].name, ka[i].n_prompts);
        for (int m = 1; m < b->n_modes; m++) {
            const char *bold = m == best ? "**" : "";
            sb_printf(sb, " %s%.2fx%s (%.2fx) |", bold, ka[i].speedup_total[m], bold,
                      ka[i].speedup_median[m]);
        }
        sb_printf(sb, "\n");
    }
}

static void kind_acceptance_table(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    kind_table_head(sb, b, "prompts");
    for (int i = 0; i < n_rows; i++) {
        sb_printf(sb, "| %s | %d |", ka[i].name, ka[i].n_prompts);
        for (int m = 1; m < b->n_modes; m++)
            sb_printf(sb, " %.3f |", ka[i].acceptance[m]);
        sb_printf(sb, "\n");
    }
}

/* One line per kind and adaptive mode: is adaptive within BS_KIND_TOLERANCE of the best fixed k (and on
 * "all", the mixed set, does it beat every fixed k)? */
static void kind_verdicts(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    for (int i = 0; i < n_rows; i++)
        for (int m = 1; m < b->n_modes; m++) {
            int f = b->modes[m].k < 0 ? bs_best_fixed(b, &ka[i], m) : -1;
            if (f < 0) continue;
            double rel = bs_ratio(ka[i].speedup_total[m], ka[i].speedup_total[f]);
            sb_printf(sb, "- %s: %s %.2fx vs the best fixed k (%s) %.2fx: %+.1f%%, %s 5%%", ka[i].name,
                      b->modes[m].name, ka[i].speedup_total[m], b->modes[f].name, ka[i].speedup_total[f],
                      100 * (rel - 1), rel >= 1 - BS_KIND_TOLERANCE ? "within" : "NOT within");
            if (i == n_rows - 1) sb_printf(sb, "; beats every fixed k: %s", rel > 1 ? "yes" : "NO");
            sb_printf(sb, ".\n");
        }
}

static void kind_section(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    if (n_rows == 0) return;
    sb_printf(sb,
              "\n### Speed-up by kind of text\n\nA mode's speed-up on a kind of text is its total tokens / "
              "total decode seconds over that kind's prompts and repeats, divided by the same for plain "
              "decoding; in parentheses the median over the kind's prompts of the per-prompt speed-up. Bold: "
              "the row's best mode (by total). \"all\" is every prompt.\n\n");
    kind_speedup_table(sb, b, ka, n_rows);
    sb_printf(sb, "\nAcceptance (accepted / drafted tokens) by kind of text:\n\n");
    kind_acceptance_table(sb, b, ka, n_rows);
    sb_printf(sb, "\n");
    kind_verdicts(sb, b, ka, n_rows);
}

static void per_prompt_table(strbuf *sb, const bench *b) {
    bool kinds = any_kind(b);
    sb_printf(sb,
              "\n### Speed-up per prompt (median over repeats, against plain on the same prompt)\n\n| prompt "
              "|%s tokens |",
              kinds ? " kind |" : "");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, " %s |", b->modes[m].name);
    sb_printf(sb, "\n|---|%s---|", kinds ? "---|" : "");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, "---|");
    sb_printf(sb, "\n");
    for (int p = 0; p < b->n_prompts; p++) {
        sb_printf(sb, "| %s |", b->prompts[p].id);
        if (kinds) sb_printf(sb, " %s |", b->prompts[p].kind);
        sb_printf(sb, " %d |", b->n_ptok[p]);
        for (int m = 1; m < b->n_modes; m++)
            sb_printf(sb, " %.2fx |", b->prompt_speedup[m * b->n_prompts + p]);
        sb_printf(sb, "\n");
    }
}

static void summary_text(const bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows,
                         strbuf *sb) {
    sd_model_info ti;
    sd_model_get_info(b->target, &ti);
    sb_printf(sb, "## specdec bench\n\n");
    sb_printf(sb, "Machine: %s, %s, %s kernels. Target: %s (%.1f M params, %.1f MB weights)", b->mc.cpu_model,
              b->mc.topology, ti.kernels, b->o.target_path, ti.n_params / 1e6, ti.weight_bytes / 1e6);
    if (b->draft) {
        sd_model_info di;
        sd_model_get_info(b->draft, &di);
        sb_printf(sb, "; draft: %s (%.1f M params, %.1f MB weights); %s", b->o.draft_path, di.n_params / 1e6,
                  di.weight_bytes / 1e6, b->engine_desc);
    }
    sb_printf(
        sb,
        ".\n%d prompts x %d repeats, %d tokens each, temp %g%s. Rates are medians; speed-ups are against "
        "plain decoding measured in the same run.\n\n",
        b->n_prompts, b->o.repeat, b->o.n_predict, b->o.temp,
        b->o.temp <= 0 ? (b->n_mismatch ? ", greedy: OUTPUTS DIFFER FROM PLAIN"
                                        : ", greedy: all outputs identical to plain")
                       : "");
    sb_printf(sb,
              "KV cache %s/%s; peak resident memory %.1f MiB (the process, every mode's engine alive); "
              "CPU-ms/token: user + system CPU time of the process per generated token, its prompt's "
              "included.\n\n",
              sd_cache_type_name(b->o.cache_k), sd_cache_type_name(b->o.cache_v),
              (double)cli_usage_now().peak_rss_bytes / (1024.0 * 1024.0));
    sb_printf(sb,
              "| mode | decode tok/s | speed-up (median) | speed-up (total) | prompt tok/s | CPU-ms/token | "
              "KV MiB | acceptance | tokens/round | draft / verify / sample / other | k (k:rounds) |\n");
    sb_printf(sb, "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int m = 0; m < b->n_modes; m++) {
        const mode_agg *a = &agg[m];
        const summary *s = &a->all;
        double other = fmax(0, s->t_gen - s->t_draft - s->t_verify - s->t_sample);
        sb_printf(sb, "| %s | %.1f | %.2fx | %.2fx | %.1f | %.3f | %.2f | ", b->modes[m].name, a->decode_tps,
                  a->speedup_median, a->speedup_total, a->prompt_tps, 1e3 * bs_ratio(s->cpu_s, s->n_gen),
                  s->kv_bytes / (1024.0 * 1024.0));
        if (b->modes[m].k == 0)
            sb_printf(sb, "- | 1.00 | ");
        else
            sb_printf(sb, "%.3f | %.2f | ", bs_ratio(s->n_accepted, s->n_drafted),
                      bs_ratio(s->n_gen, s->n_rounds));
        sb_printf(sb, "%.0f%% / %.0f%% / %.0f%% / %.0f%% | ", 100 * bs_ratio(s->t_draft, s->t_gen),
                  100 * bs_ratio(s->t_verify, s->t_gen), 100 * bs_ratio(s->t_sample, s->t_gen),
                  100 * bs_ratio(other, s->t_gen));
        if (b->modes[m].k == 0)
            sb_printf(sb, "-");
        else
            k_hist_text(sb, s);
        sb_printf(sb, " |\n");
    }
    if (b->n_modes > 1) {
        int n_pos = 0;
        for (int m = 1; m < b->n_modes; m++)
            while (n_pos < SD_MAX_DRAFT_LEN && agg[m].all.drafted_at[n_pos] > 0)
                n_pos++;
        sb_printf(sb, "\n### Acceptance by draft position (accepted / proposed at position i)\n\n| mode |");
        for (int i = 0; i < n_pos; i++)
            sb_printf(sb, " %d |", i + 1);
        sb_printf(sb, "\n|---|");
        for (int i = 0; i < n_pos; i++)
            sb_printf(sb, "---|");
        sb_printf(sb, "\n");
        for (int m = 1; m < b->n_modes; m++) {
            sb_printf(sb, "| %s |", b->modes[m].name);
            for (int i = 0; i < n_pos; i++) {
                const summary *s = &agg[m].all;
                if (s->drafted_at[i] > 0)
                    sb_printf(sb, " %.2f |", s->accepted_at[i] / s->drafted_at[i]);
                else
                    sb_printf(sb, " |");
            }
            sb_printf(sb, "\n");
        }
    }
    kind_section(sb, b, ka, n_kind_rows);
    if (b->n_modes > 1 && b->prompt_speedup) per_prompt_table(sb, b);
    if (b->cost.have) {
        sb_printf(sb, "\n### Cost model vs measurement\n\n");
        verify_line(sb, &b->cost);
        if (b->n_modes > 1) {
            sb_printf(
                sb,
                "Cost model: predicted speed-up E(k)/T(k) x t_v(1), E(k) = (1 - a^(k+1))/(1 - a), "
                "T(k) = k t_d + t_v(k+1), with each mode's measured a (geometric fit) and t_d (draft s per "
                "drafted token) and the measured t_v(n):");
            for (int m = 1; m < b->n_modes; m++) {
                const mode_agg *a = &agg[m];
                if (b->modes[m].k <= 0) continue;
                sb_printf(sb, " k=%d (a %.2f, t_d %.3f ms): predicted %.2fx, measured %.2fx;", b->modes[m].k,
                          bs_geometric_a(&a->all), 1e3 * bs_ratio(a->all.t_draft, a->all.n_drafted),
                          bs_predicted_for(b, a, b->modes[m].k), a->speedup_total);
            }
            sb_printf(sb,
                      " (plain decoding measured %.3f ms/token, of which %.3f ms in target passes, vs t_v(1) "
                      "%.3f ms: sampling and bookkeeping are outside the model).\n",
                      1e3 * bs_ratio(agg[0].all.t_gen, agg[0].all.n_gen),
                      1e3 * bs_ratio(agg[0].all.t_verify, agg[0].all.n_gen), 1e3 * b->cost.t_v[0]);
        }
    }
}

char *bs_summary_md(const bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows) {
    strbuf sb = {0};
    summary_text(b, agg, ka, n_kind_rows, &sb);
    return sb.s;
}

char *bs_cost_only_md(const bench *b) {
    strbuf sb = {0};
    sb_printf(&sb, "## specdec bench --cost-only\n\nMachine: %s, %s. Target: %s; draft: %s.\n\n",
              b->mc.cpu_model, b->mc.topology, b->o.target_path, b->o.draft_path);
    verify_line(&sb, &b->cost);
    projection_table(&sb, &b->cost);
    return sb.s;
}
