/* `specdec bench`: report.json, everything the run measured: the machine, the models, the settings,
 * every prompt's results per mode, the aggregates per mode and per kind of text, the pass costs and the
 * losslessness check (or with --cost-only the costs and the cost model's projection). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench_run.h"
#include "cli/args.h"
#include "cli/json.h"
#include "cli/usage.h"

static void add_num(cJSON *o, const char *name, double v) {
    cJSON_AddItemToObject(o, name, cli_json_number(v));
}

static void add_weight_type(const char *type_name, int n_tensors, uint64_t bytes, void *user) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", type_name);
    cJSON_AddNumberToObject(j, "tensors", n_tensors);
    cJSON_AddNumberToObject(j, "bytes", (double)bytes);
    cJSON_AddItemToArray(user, j);
}

static cJSON *model_json(const char *path, sd_model *m) {
    sd_model_info in;
    sd_model_get_info(m, &in);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", path);
    cJSON_AddStringToObject(j, "arch", in.arch);
    cJSON_AddStringToObject(j, "name", in.name);
    cJSON_AddStringToObject(j, "kernels", in.kernels);
    cJSON_AddNumberToObject(j, "params", (double)in.n_params);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)in.weight_bytes);
    cJSON_AddNumberToObject(j, "file_bytes", (double)in.file_bytes);
    cJSON_AddNumberToObject(j, "n_layer", in.n_layer);
    cJSON_AddNumberToObject(j, "n_embd", in.n_embd);
    cJSON_AddNumberToObject(j, "n_vocab", in.n_vocab);
    cJSON *types = cJSON_CreateArray();
    sd_model_foreach_weight_type(m, add_weight_type, types);
    cJSON_AddItemToObject(j, "types", types);
    return j;
}

static double mean_k(const summary *s) {
    double n = 0, sum = 0;
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        n += s->k_hist[k], sum += k * s->k_hist[k];
    return bs_ratio(sum, n);
}

static cJSON *summary_json(const summary *s, bool spec) {
    cJSON *j = cJSON_CreateObject();
    add_num(j, "prompt_tps", s->prompt_tps);
    add_num(j, "decode_tps", s->decode_tps);
    add_num(j, "decode_tps_total", bs_ratio(s->n_gen, s->t_gen));
    add_num(j, "n_gen", s->n_gen);
    add_num(j, "t_gen_s", s->t_gen);
    add_num(j, "cpu_s_per_token", bs_ratio(s->cpu_s, s->n_gen));
    add_num(j, "kv_bytes", s->kv_bytes);
    cJSON *split = cJSON_CreateObject();
    double other = s->t_gen - s->t_draft - s->t_verify - s->t_sample;
    add_num(split, "draft", bs_ratio(s->t_draft, s->t_gen));
    add_num(split, "verify", bs_ratio(s->t_verify, s->t_gen));
    add_num(split, "sample", bs_ratio(s->t_sample, s->t_gen));
    add_num(split, "other", bs_ratio(fmax(0, other), s->t_gen));
    cJSON_AddItemToObject(j, "time_split", split);
    if (!spec) return j;
    add_num(j, "n_rounds", s->n_rounds);
    add_num(j, "n_drafted", s->n_drafted);
    add_num(j, "n_accepted", s->n_accepted);
    add_num(j, "acceptance", bs_ratio(s->n_accepted, s->n_drafted));
    add_num(j, "acceptance_geometric", bs_geometric_a(s));
    add_num(j, "tokens_per_round", bs_ratio(s->n_gen, s->n_rounds));
    add_num(j, "t_d_s", bs_ratio(s->t_draft, s->n_drafted));
    int n_pos = 0;
    while (n_pos < SD_MAX_DRAFT_LEN && s->drafted_at[n_pos] > 0)
        n_pos++;
    double by_pos[SD_MAX_DRAFT_LEN];
    for (int i = 0; i < n_pos; i++)
        by_pos[i] = s->accepted_at[i] / s->drafted_at[i];
    cJSON_AddItemToObject(j, "acceptance_by_position", cli_json_numbers(by_pos, n_pos, false));
    cJSON_AddItemToObject(j, "drafted_at", cli_json_numbers(s->drafted_at, n_pos, false));
    cJSON_AddItemToObject(j, "accepted_at", cli_json_numbers(s->accepted_at, n_pos, false));
    cJSON *hist = cJSON_CreateObject();
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        if (s->k_hist[k] > 0) {
            char key[8];
            snprintf(key, sizeof key, "%d", k);
            add_num(hist, key, s->k_hist[k]);
        }
    cJSON_AddItemToObject(j, "k_histogram", hist);
    add_num(j, "mean_k", mean_k(s));
    return j;
}

static cJSON *costs_json(const costs *c) {
    cJSON *j = cJSON_CreateObject();
    double n[SD_MAX_DRAFT_LEN + 1], rel[SD_MAX_DRAFT_LEN + 1], roof[SD_MAX_DRAFT_LEN + 1];
    for (int i = 0; i < c->n_max; i++) {
        n[i] = i + 1;
        rel[i] = c->t_v[i] / c->t_v[0];
        roof[i] = bs_roofline_ratio(c, i + 1);
    }
    cJSON_AddItemToObject(j, "n", cli_json_numbers(n, c->n_max, false));
    cJSON_AddItemToObject(j, "t_v_s", cli_json_numbers(c->t_v, c->n_max, false));
    cJSON_AddItemToObject(j, "t_v_ratio", cli_json_numbers(rel, c->n_max, false));
    cJSON_AddItemToObject(j, "t_v_min_s", cli_json_numbers(c->t_v_min, c->n_max, false));
    cJSON_AddItemToObject(j, "roofline_ratio", cli_json_numbers(roof, c->n_max, false));
    add_num(j, "t_v_compute_batch", BS_COMPUTE_BATCH);
    add_num(j, "t_v_compute_batch_s", c->t_big);
    add_num(j, "t_mem_s", c->t_mem);
    add_num(j, "decode_roofline_fraction", bs_ratio(c->t_mem, c->t_v[0]));
    add_num(j, "t_d_s", c->t_d);
    add_num(j, "prefix_tokens", c->prefix);
    return j;
}

static cJSON *kinds_json(const bench *b, const kind_agg *ka, int n_rows) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n_rows; i++) {
        cJSON *kj = cJSON_CreateObject(), *modes = cJSON_CreateArray();
        cJSON_AddStringToObject(kj, "kind", ka[i].name);
        add_num(kj, "n_prompts", ka[i].n_prompts);
        for (int m = 0; m < b->n_modes; m++) {
            cJSON *mj = cJSON_CreateObject();
            cJSON_AddStringToObject(mj, "mode", b->modes[m].name);
            add_num(mj, "speedup_total", ka[i].speedup_total[m]);
            add_num(mj, "speedup_median", ka[i].speedup_median[m]);
            if (b->modes[m].k != 0) add_num(mj, "acceptance", ka[i].acceptance[m]);
            int f = b->modes[m].k < 0 ? bs_best_fixed(b, &ka[i], m) : -1;
            if (f >= 0) {
                double rel = bs_ratio(ka[i].speedup_total[m], ka[i].speedup_total[f]);
                cJSON_AddStringToObject(mj, "best_fixed_mode", b->modes[f].name);
                add_num(mj, "over_best_fixed", rel);
                cJSON_AddBoolToObject(mj, "within_5pct_of_best_fixed", rel >= 1 - BS_KIND_TOLERANCE);
                cJSON_AddBoolToObject(mj, "beats_every_fixed", rel > 1);
            }
            cJSON_AddItemToArray(modes, mj);
        }
        cJSON_AddItemToObject(kj, "modes", modes);
        cJSON_AddItemToArray(arr, kj);
    }
    return arr;
}

static cJSON *settings_json(const bench *b, int32_t n_ctx) {
    const spec_opts *o = &b->o;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "prompts_file", o->prompts_path ? o->prompts_path : "");
    add_num(s, "n_prompts", b->n_prompts);
    add_num(s, "n_predict", o->n_predict);
    add_num(s, "temp", o->temp);
    add_num(s, "seed", (double)o->seed);
    double ks[BS_MAX_KS];
    for (int i = 0; i < o->n_ks; i++)
        ks[i] = o->ks[i];
    cJSON_AddItemToObject(s, "k", cli_json_numbers(ks, o->n_ks, false));
    cJSON_AddBoolToObject(s, "adaptive", o->adaptive);
    cJSON *sch = cJSON_CreateArray();
    for (int i = 0; i < o->n_schedules; i++)
        cJSON_AddItemToArray(sch, cJSON_CreateString(cli_schedule_name(o->schedules[i])));
    cJSON_AddItemToObject(s, "schedules", sch);
    add_num(s, "repeat", o->repeat);
    add_num(s, "threads", o->threads);
    add_num(s, "n_ctx", n_ctx);
    cJSON_AddStringToObject(s, "cache_type_k", sd_cache_type_name(o->cache_k));
    cJSON_AddStringToObject(s, "cache_type_v", sd_cache_type_name(o->cache_v));
    cJSON_AddStringToObject(s, "engine", b->engine_desc);
    cJSON_AddBoolToObject(s, "cost_only", o->cost_only);
    if (b->chat)
        cJSON_AddStringToObject(s, "chat_template", sd_chat_template_name(b->chat));
    else
        cJSON_AddNullToObject(s, "chat_template");
    return s;
}

static cJSON *report_base(const bench *b) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "specdec bench");
    cJSON_AddStringToObject(root, "version", SPECDEC_VERSION_STRING);
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    cJSON_AddStringToObject(root, "created", when);
    cJSON *mj = cJSON_CreateObject();
    cJSON_AddStringToObject(mj, "cpu_model", b->mc.cpu_model);
    add_num(mj, "cores", b->mc.n_cpus);
    cJSON_AddStringToObject(mj, "topology", b->mc.topology);
    cJSON_AddItemToObject(mj, "clusters", cJSON_Duplicate(b->mc.clusters, true));
    add_num(mj, "read_bandwidth_gbps", b->cost.have ? b->cost.bw_bps / 1e9 : NAN);
    add_num(mj, "read_bandwidth_best_gbps", b->cost.have ? b->cost.bw_best_bps / 1e9 : NAN);
    cJSON_AddItemToObject(root, "machine", mj);
    cJSON *models = cJSON_CreateObject();
    cJSON_AddItemToObject(models, "target", model_json(b->o.target_path, b->target));
    if (b->draft)
        cJSON_AddItemToObject(models, "draft", model_json(b->o.draft_path, b->draft));
    else
        cJSON_AddNullToObject(models, "draft");
    cJSON_AddItemToObject(root, "models", models);
    return root;
}

/* Per prompt: its id, kind, length and each mode's results over its repeats. */
static cJSON *prompts_json(const bench *b) {
    cJSON *prompts = cJSON_CreateArray();
    for (int p = 0; p < b->n_prompts; p++) {
        cJSON *pj = cJSON_CreateObject(), *results = cJSON_CreateArray();
        cJSON_AddStringToObject(pj, "id", b->prompts[p].id);
        cJSON_AddStringToObject(pj, "kind", b->prompts[p].kind);
        add_num(pj, "n_prompt_tokens", b->n_ptok[p]);
        double plain_tps = NAN;
        for (int m = 0; m < b->n_modes; m++) {
            summary s;
            bs_summarize_prompt(b, p, m, &s);
            if (m == 0) plain_tps = s.decode_tps;
            cJSON *res = summary_json(&s, b->modes[m].k != 0);
            cJSON_AddStringToObject(res, "mode", b->modes[m].name);
            add_num(res, "speedup", bs_ratio(s.decode_tps, plain_tps));
            double reps[BS_MAX_REPEAT];
            for (int r = 0; r < b->o.repeat; r++)
                reps[r] = bs_rec(b, p, m, r)->decode_tps;
            cJSON_AddItemToObject(res, "decode_tps_repeats", cli_json_numbers(reps, b->o.repeat, false));
            if (b->o.temp <= 0) cJSON_AddBoolToObject(res, "identical_to_plain", bs_same_as_plain(b, p, m));
            cJSON_AddItemToArray(results, res);
        }
        cJSON_AddItemToObject(pj, "results", results);
        cJSON_AddItemToArray(prompts, pj);
    }
    return prompts;
}

/* Per mode: its summary over every run, medians and speed-ups. */
static cJSON *aggregate_json(const bench *b, const mode_agg *agg) {
    cJSON *aggj = cJSON_CreateArray();
    for (int m = 0; m < b->n_modes; m++) {
        cJSON *a = summary_json(&agg[m].all, b->modes[m].k != 0);
        cJSON_AddStringToObject(a, "mode", b->modes[m].name);
        add_num(a, "k", b->modes[m].k);
        cJSON_AddStringToObject(a, "schedule",
                                b->modes[m].k == 0 ? "none" : cli_schedule_name(b->modes[m].schedule));
        add_num(a, "decode_tps_median", agg[m].decode_tps);
        add_num(a, "prompt_tps_median", agg[m].prompt_tps);
        add_num(a, "speedup_median", agg[m].speedup_median);
        add_num(a, "speedup_total", agg[m].speedup_total);
        if (b->modes[m].k > 0) add_num(a, "predicted_speedup", bs_predicted_for(b, &agg[m], b->modes[m].k));
        cJSON_AddItemToArray(aggj, a);
    }
    return aggj;
}

cJSON *bs_report_json(const bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows,
                      int32_t n_ctx) {
    cJSON *root = report_base(b);
    cJSON_AddItemToObject(root, "settings", settings_json(b, n_ctx));
    cJSON *modes = cJSON_CreateArray();
    for (int m = 0; m < b->n_modes; m++)
        cJSON_AddItemToArray(modes, cJSON_CreateString(b->modes[m].name));
    cJSON_AddItemToObject(root, "modes", modes);
    cJSON_AddItemToObject(root, "prompts", prompts_json(b));
    cJSON_AddItemToObject(root, "aggregate", aggregate_json(b, agg));
    /* every mode's engine lives through the run: one peak for the process, the caches per mode */
    add_num(root, "peak_rss_bytes", (double)cli_usage_now().peak_rss_bytes);
    cJSON_AddItemToObject(root, "kinds", kinds_json(b, ka, n_kind_rows));
    cJSON_AddItemToObject(root, "verify_cost", b->cost.have ? costs_json(&b->cost) : cJSON_CreateNull());
    cJSON *ll = cJSON_CreateObject();
    cJSON_AddBoolToObject(ll, "checked", b->o.temp <= 0);
    add_num(ll, "mismatches", b->n_mismatch);
    cJSON_AddItemToObject(ll, "errors", cJSON_Duplicate(b->errors, true));
    cJSON_AddItemToObject(root, "lossless", ll);
    return root;
}

cJSON *bs_cost_only_json(const bench *b) {
    cJSON *root = report_base(b);
    cJSON_AddItemToObject(root, "settings", settings_json(b, 0));
    cJSON_AddItemToObject(root, "verify_cost", costs_json(&b->cost));
    cJSON *proj = cJSON_CreateArray();
    for (int ai = 0; ai < 10; ai++) {
        double a = 0.5 + 0.05 * ai, s[BS_PROJ_K];
        for (int k = 1; k <= BS_PROJ_K; k++)
            s[k - 1] = bs_predicted_speedup(a, k, b->cost.t_d, b->cost.t_v);
        cJSON *row = cJSON_CreateObject();
        add_num(row, "acceptance", a);
        cJSON_AddItemToObject(row, "predicted_speedup_k1_to_k8", cli_json_numbers(s, BS_PROJ_K, false));
        cJSON_AddItemToArray(proj, row);
    }
    cJSON_AddItemToObject(root, "projection", proj);
    return root;
}
