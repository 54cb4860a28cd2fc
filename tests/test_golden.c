/* Correctness oracle: llama.cpp's greedy continuations and first-step top-5 logits for the shared models
 * (tests/data/golden/ JSON Lines files). The greedy ids must match for at least the first 32 tokens of every
 * line and the top-5 logits within 1e-2 relative. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "cli/args.h"
#include "specdec.h"
#include "test_util.h"

#define MIN_MATCH 32

static int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = malloc(((size_t)*n + 1) * sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return ids;
}

static void check_line(const cJSON *line, int threads) {
    const char *model_file = cJSON_GetObjectItem(line, "model")->valuestring;
    const char *prompt = cJSON_GetObjectItem(line, "prompt")->valuestring;
    int n_prompt, n_gold;
    int32_t *prompt_ids = json_ids(cJSON_GetObjectItem(line, "prompt_ids"), &n_prompt);
    int32_t *gold = json_ids(cJSON_GetObjectItem(line, "greedy_ids"), &n_gold);
    char err[512];
    sd_model *m = NULL;
    int rc = sd_model_load(test_path("SD_MODELS_DIR", model_file), &m, err, sizeof err);
    CHECK(rc == 0, "%s: %s", model_file, err);
    if (rc) goto out;

    int32_t toks[2048];
    int n = sd_model_tokenize(m, prompt, strlen(prompt), true, false, toks, 2048, err, sizeof err);
    CHECK(n == n_prompt && memcmp(toks, prompt_ids, (size_t)n * sizeof *toks) == 0,
          "%s: prompt tokenizes to %d ids, golden has %d", model_file, n, n_prompt);

    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 0.0f;
    p.n_threads = threads;
    sd_engine *e = NULL;
    rc = sd_engine_create(m, NULL, &p, &e, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) goto out;

    /* First-step logits. */
    rc = sd_engine_eval(e, prompt_ids, n_prompt, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    const float *logits = sd_engine_last_logits(e);
    const cJSON *top5 = cJSON_GetObjectItem(line, "top5_step0"), *pair;
    cJSON_ArrayForEach(pair, top5) {
        int id = (int)cJSON_GetArrayItem(pair, 0)->valuedouble;
        double want = cJSON_GetArrayItem(pair, 1)->valuedouble, got = logits[id];
        CHECK(fabs(got - want) <= 1e-2 * fabs(want) + 1e-4, "%s: logit of %d is %.5f, llama.cpp %.5f",
              model_file, id, got, want);
    }

    int32_t *out_ids = malloc(((size_t)n_gold + 1) * sizeof *out_ids);
    sd_stats st;
    rc = sd_engine_generate(e, prompt_ids, n_prompt, n_gold, NULL, NULL, out_ids, n_gold, &st, err,
                            sizeof err);
    CHECK(rc == 0, "%s", err);
    int match = 0;
    while (match < st.n_gen && match < n_gold && out_ids[match] == gold[match])
        match++;
    int need = n_gold < MIN_MATCH ? n_gold : MIN_MATCH;
    CHECK(match >= need, "%s (%d threads): greedy ids match llama.cpp for %d tokens, need %d", model_file,
          threads, match, need);
    printf("%-28s threads %d: %3d/%3d greedy ids match\n", model_file, threads, match, n_gold);
    free(out_ids);
    sd_engine_free(e);
out:
    sd_model_free(m);
    free(prompt_ids);
    free(gold);
}

static void check_file(const char *name) {
    size_t len;
    char *text = cli_read_file(test_path("SD_TEST_DATA", name), &len);
    CHECK(text != NULL, "cannot read %s", name);
    if (!text) return;
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        CHECK(j != NULL, "%s: bad JSON line", name);
        if (!j) continue;
        check_line(j, 1 + lines % 2);
        cJSON_Delete(j);
        lines++;
    }
    CHECK(lines > 0, "%s has no lines", name);
    free(text);
}

int main(void) {
    check_file("golden/stories260K.jsonl");
    check_file("golden/codepair-target.jsonl");
    return test_finish("test_golden");
}
