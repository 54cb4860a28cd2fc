/* `specdec bench`: the losslessness check. Greedy decoding is deterministic and speculation is lossless,
 * so with temperature 0 every run of a prompt, in every mode, must produce the tokens of its first plain
 * run. */
#include <stdio.h>

#include "bench_run.h"

/* The first token at which run x differs from run ref; -1 when they are identical. */
static int32_t first_difference(const run_rec *x, const run_rec *ref) {
    int32_t i = 0;
    while (i < x->n_gen && i < ref->n_gen && x->tokens[i] == ref->tokens[i])
        i++;
    return i == x->n_gen && i == ref->n_gen ? -1 : i;
}

bool bs_same_as_plain(const bench *b, int p, int m) {
    for (int r = 0; r < b->o.repeat; r++)
        if (first_difference(bs_rec(b, p, m, r), bs_rec(b, p, 0, 0)) >= 0) return false;
    return true;
}

void bs_check_lossless(bench *b) {
    b->errors = cJSON_CreateArray();
    if (b->o.temp > 0) return;
    for (int p = 0; p < b->n_prompts; p++)
        for (int m = 0; m < b->n_modes; m++)
            for (int r = 0; r < b->o.repeat; r++) {
                int32_t i = first_difference(bs_rec(b, p, m, r), bs_rec(b, p, 0, 0));
                if (i < 0) continue;
                char msg[256];
                snprintf(msg, sizeof msg,
                         "prompt %s, %s, repeat %d: output differs from plain decoding at token %d",
                         b->prompts[p].id, b->modes[m].name, r + 1, i);
                fprintf(stderr, "specdec bench: error: %s\n", msg);
                cJSON_AddItemToArray(b->errors, cJSON_CreateString(msg));
                b->n_mismatch++;
            }
}
