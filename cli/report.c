#include "report.h"

#include "json.h"

static double rate(double n, double seconds) {
    return seconds > 0 ? n / seconds : 0.0;
}

/* Speed-up over plain decoding: measured when compared, else the ratio to the single-token target pass
 * timed during the run (an estimate: it ignores sampling time and the prompt). 0 when unknown. */
static double speedup(const gen_report *r, bool *measured) {
    const sd_stats *s = r->stats;
    double tps = rate(s->n_gen, s->t_gen_s);
    *measured = r->compared;
    if (r->compared) return r->plain_tps > 0 ? tps / r->plain_tps : 0.0;
    return s->t_target_token_s > 0 ? tps * s->t_target_token_s : 0.0;
}

/* Rounds that proposed no draft token: the controller paused the draft (the floor at plain decoding) or
 * its gate kept none. */
static int rounds_without_draft(const sd_stats *s) {
    int n = 0;
    for (int i = 0; i < s->n_k_trace; i++)
        n += s->k_trace[i] == 0;
    return n;
}

/* One line when most rounds ran no draft: speculation was switched off, and the measured reason. */
static void print_speculation_off(FILE *out, const sd_stats *s) {
    int n_off = rounds_without_draft(s);
    if (s->n_k_trace == 0 || 2 * n_off <= s->n_k_trace) return;
    fprintf(out, "specdec: speculation off in %d of %d rounds: ", n_off, s->n_k_trace);
    if (s->n_drafted == 0) { /* nothing was measured that could say why */
        fprintf(out, "no round drafted (a fixed --draft 0, or the controller's floor from the start)\n");
        return;
    }
    fprintf(out, "drafting did not pay here (acceptance %.2f", (double)s->n_accepted / s->n_drafted);
    /* seconds per drafted token over seconds per one-token target pass: near 1, a draft token costs what
     * the target token it might save does */
    if (s->t_target_token_s > 0)
        fprintf(out, "; a draft token costs %.2fx a one-token target pass",
                s->t_draft_s / s->n_drafted / s->t_target_token_s);
    fprintf(out, "), so the controller decoded plainly, probing the draft now and then\n");
}

static double mib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

/* Memory and CPU time per token, the plain run's beside when compared: the speed-up's energy cost. */
static void print_resources(FILE *out, const gen_report *r) {
    const sd_stats *s = r->stats;
    fprintf(out, "specdec: %speak RSS %.1f MiB, KV cache %.2f MiB, %.3f CPU-ms per token",
            r->draft ? "speculative: " : "", mib(r->peak_rss_bytes), mib(s->kv_bytes),
            r->cpu_s_per_token * 1e3);
    if (s->n_ctx_shifts > 0) fprintf(out, ", %d context shifts", s->n_ctx_shifts);
    fprintf(out, "\n");
    if (!r->compared) return;
    fprintf(out, "specdec: plain:       peak RSS %.1f MiB, KV cache %.2f MiB, %.3f CPU-ms per token",
            mib(r->plain_peak_rss_bytes), mib(r->plain_kv_bytes), r->plain_cpu_s_per_token * 1e3);
    if (r->plain_n_ctx_shifts > 0) fprintf(out, ", %d context shifts", r->plain_n_ctx_shifts);
    fprintf(out, "\n");
}

void print_generate_report(FILE *out, const gen_report *r) {
    const sd_stats *s = r->stats;
    fprintf(out,
            "specdec: prompt %d tokens in %.3f s (%.1f tok/s); generated %d tokens in %.3f s (%.1f tok/s); "
            "stop: %s\n",
            s->n_prompt, s->t_prompt_s, rate(s->n_prompt, s->t_prompt_s), s->n_gen, s->t_gen_s,
            rate(s->n_gen, s->t_gen_s), r->stop);
    print_resources(out, r);
    if (!r->draft) return;
    fprintf(out, "specdec: speculative: %s\n", r->schedule);
    fprintf(out, "specdec: %d rounds, %d drafted, %d accepted (acceptance %.3f), %.2f tokens per round\n",
            s->n_rounds, s->n_drafted, s->n_accepted,
            s->n_drafted ? (double)s->n_accepted / s->n_drafted : 0.0,
            s->n_rounds ? (double)s->n_gen / s->n_rounds : 0.0);
    const int32_t model_drafted = s->n_drafted - s->n_drafted_ngram;
    fprintf(out, "specdec: by source: draft model %d drafted, %d accepted; n-gram %d drafted, %d accepted\n",
            model_drafted, s->n_accepted - s->n_accepted_ngram, s->n_drafted_ngram, s->n_accepted_ngram);
    fprintf(out, "specdec: acceptance by draft position:");
    for (int i = 0; i < SD_MAX_DRAFT_LEN && s->drafted_at[i]; i++)
        fprintf(out, " %d:%.2f", i + 1, (double)s->accepted_at[i] / s->drafted_at[i]);
    fprintf(out, "\nspecdec: draft length per round (k: rounds):");
    int hist[SD_MAX_DRAFT_LEN + 1] = {0};
    for (int i = 0; i < s->n_k_trace; i++)
        hist[s->k_trace[i]]++;
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        if (hist[k]) fprintf(out, " %d:%d", k, hist[k]);
    double other = s->t_gen_s - s->t_draft_s - s->t_verify_s - s->t_sample_s;
    fprintf(out, "\nspecdec: time: draft %.3f s, verify %.3f s, sampling %.3f s, other %.3f s\n",
            s->t_draft_s, s->t_verify_s, s->t_sample_s, other > 0 ? other : 0.0);
    print_speculation_off(out, s);
    bool measured;
    double su = speedup(r, &measured);
    if (measured)
        fprintf(out, "specdec: speed-up %.2fx over plain decoding (measured: plain %.1f tok/s)%s\n", su,
                r->plain_tps, r->greedy ? (r->identical ? "; outputs identical" : "; OUTPUTS DIFFER") : "");
    else if (su > 0)
        fprintf(out,
                "specdec: speed-up %.2fx over plain decoding (estimate from the single-token target pass of "
                "%.3f ms; "
                "--compare measures it)\n",
                su, s->t_target_token_s * 1e3);
}

bool print_generate_json(FILE *out, const char *text, size_t text_len, const int32_t *tokens,
                         const gen_report *r) {
    const sd_stats *s = r->stats;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "text", cli_json_bytes(text, text_len));
    cJSON_AddItemToObject(j, "tokens", cli_json_ints(tokens, s->n_gen));
    cJSON_AddNumberToObject(j, "n_prompt", s->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", s->n_gen);
    cJSON_AddItemToObject(j, "prompt_tps", cli_json_number_6g(rate(s->n_prompt, s->t_prompt_s)));
    cJSON_AddItemToObject(j, "tps", cli_json_number_6g(rate(s->n_gen, s->t_gen_s)));
    cJSON_AddStringToObject(j, "mode", r->draft ? "spec" : "plain");
    cJSON_AddStringToObject(j, "stop", r->stop);
    cJSON_AddStringToObject(j, "kernels", r->kernels ? r->kernels : "?");
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)r->peak_rss_bytes);
    cJSON_AddNumberToObject(j, "kv_bytes", (double)s->kv_bytes);
    cJSON_AddItemToObject(j, "cpu_s_per_token", cli_json_number_6g(r->cpu_s_per_token));
    cJSON_AddNumberToObject(j, "n_ctx_shifts", s->n_ctx_shifts);
    if (r->compared) {
        cJSON_AddNumberToObject(j, "plain_peak_rss_bytes", (double)r->plain_peak_rss_bytes);
        cJSON_AddNumberToObject(j, "plain_kv_bytes", (double)r->plain_kv_bytes);
        cJSON_AddItemToObject(j, "plain_cpu_s_per_token", cli_json_number_6g(r->plain_cpu_s_per_token));
        cJSON_AddNumberToObject(j, "plain_n_ctx_shifts", r->plain_n_ctx_shifts);
    }
    if (r->draft) {
        cJSON_AddNumberToObject(j, "n_drafted", s->n_drafted);
        cJSON_AddNumberToObject(j, "n_accepted", s->n_accepted);
        cJSON_AddNumberToObject(j, "n_drafted_ngram", s->n_drafted_ngram);
        cJSON_AddNumberToObject(j, "n_accepted_ngram", s->n_accepted_ngram);
        cJSON_AddItemToObject(j, "acceptance",
                              cli_json_number_6g(s->n_drafted ? (double)s->n_accepted / s->n_drafted : 0.0));
        cJSON_AddItemToObject(j, "tokens_per_round",
                              cli_json_number_6g(s->n_rounds ? (double)s->n_gen / s->n_rounds : 0.0));
        cJSON_AddItemToObject(j, "k_trace", cli_json_ints(s->k_trace, s->n_k_trace));
        cJSON_AddNumberToObject(j, "rounds_without_draft", rounds_without_draft(s));
        cJSON_AddItemToObject(j, "t_draft_s", cli_json_number_6g(s->t_draft_s));
        cJSON_AddItemToObject(j, "t_verify_s", cli_json_number_6g(s->t_verify_s));
        cJSON_AddItemToObject(j, "t_sample_s", cli_json_number_6g(s->t_sample_s));
        bool measured;
        double su = speedup(r, &measured);
        if (measured) {
            cJSON_AddItemToObject(j, "speedup", cli_json_number_6g(su));
            cJSON_AddItemToObject(j, "plain_tps", cli_json_number_6g(r->plain_tps));
            if (r->greedy) cJSON_AddBoolToObject(j, "identical", r->identical);
        } else {
            cJSON_AddItemToObject(j, "speedup_estimate", cli_json_number_6g(su));
        }
    }
    return cli_json_print(out, j, false);
}
