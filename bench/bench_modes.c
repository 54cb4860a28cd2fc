/* `specdec bench`: running every mode on the prompt set. A mode is plain decoding or speculative
 * decoding with a fixed or adaptive draft length and a schedule, each with its own engine. The runs are
 * interleaved (prompt-major; within a prompt each repeat visits every mode, the order rotated between
 * repeats) so that machine noise hits all modes alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_run.h"
#include "cli/args.h"
#include "cli/usage.h"
#include "common/sd_common.h"

run_rec *bs_rec(const bench *b, int p, int m, int r) {
    return &b->runs[((size_t)p * (size_t)b->n_modes + (size_t)m) * (size_t)b->o.repeat + (size_t)r];
}

void bs_build_modes(bench *b) {
    const spec_opts *o = &b->o;
    mode *m = b->modes;
    b->n_modes = 0;
    m[b->n_modes++] = (mode){.name = "plain", .k = 0, .schedule = SD_SCHEDULE_SEQ};
    const unsigned default_set = 0;
    const unsigned *sets = o->n_source_sets ? o->source_sets : &default_set;
    const int n_sets = o->n_source_sets ? o->n_source_sets : 1;
    if (!b->draft && !o->n_source_sets) return; /* the default without a draft model: plain only */
    for (int q = 0; q < n_sets; q++) {
        for (int s = 0; s < o->n_schedules; s++) {
            for (int i = 0; i <= o->n_ks; i++) {
                int k = i < o->n_ks ? o->ks[i] : -1;
                if (k < 0 && !o->adaptive) continue;
                mode *x = &m[b->n_modes++];
                *x = (mode){.k = k, .spec = sets[q], .schedule = o->schedules[s]};
                char kname[16];
                if (k < 0)
                    snprintf(kname, sizeof kname, "adaptive");
                else
                    snprintf(kname, sizeof kname, "k=%d", k);
                const char *src = sets[q] == (SD_SPEC_DRAFT | SD_SPEC_NGRAM) ? " draft+ngram"
                                  : sets[q] == SD_SPEC_DRAFT                 ? " draft"
                                  : sets[q] == SD_SPEC_NGRAM                 ? " ngram"
                                                                             : "";
                if (o->n_schedules > 1)
                    snprintf(x->name, sizeof x->name, "spec %s%s %s", kname, src,
                             cli_schedule_name(o->schedules[s]));
                else
                    snprintf(x->name, sizeof x->name, "spec %s%s", kname, src);
            }
        }
    }
}

int bs_create_engines(bench *b, int32_t n_ctx, char *err, size_t err_len) {
    for (int i = 0; i < b->n_modes; i++) {
        mode *m = &b->modes[i];
        sd_engine_params p = sd_engine_default_params();
        p.n_ctx = n_ctx;
        p.n_threads = b->o.threads;
        p.n_threads_draft = b->o.threads;
        p.sampling.temp = b->o.temp;
        p.sampling.seed = b->o.seed;
        p.sampling.ignore_eos = b->o.ignore_eos;
        p.schedule = m->schedule;
        p.draft_k = m->k > 0 ? m->k : -1;
        p.cache_type_k = p.cache_type_k_draft = b->o.cache_k;
        p.cache_type_v = p.cache_type_v_draft = b->o.cache_v;
        p.spec = m->spec;
        /* an n-gram-only mode runs without the draft model, as generate --spec ngram does */
        sd_model *draft = m->k == 0 || (m->spec && !(m->spec & SD_SPEC_DRAFT)) ? NULL : b->draft;
        int rc = sd_engine_create(b->target, draft, &p, &m->engine, err, err_len);
        if (rc < 0) return rc;
        if (m->k != 0 && !b->engine_desc[0])
            sd_engine_describe(m->engine, b->engine_desc, sizeof b->engine_desc);
    }
    return SD_STATUS_OK;
}

int bs_tokenize_prompts(bench *b, int32_t *longest, char *err, size_t err_len) {
    b->ptok = calloc((size_t)b->n_prompts, sizeof *b->ptok);
    b->n_ptok = calloc((size_t)b->n_prompts, sizeof *b->n_ptok);
    if (!b->ptok || !b->n_ptok) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    *longest = 0;
    for (int i = 0; i < b->n_prompts; i++) {
        const bs_prompt *p = &b->prompts[i];
        const char *text = p->text;
        size_t len = p->len;
        char *rendered = NULL;
        if (b->chat) { /* one user turn, the assistant's opened; its control texts are control tokens */
            if (strlen(p->text) != p->len)
                return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "prompt %s holds a NUL byte",
                                p->id);
            const sd_chat_message msg = {"user", p->text};
            int need = sd_chat_apply(b->chat, &msg, 1, true, NULL, 0, err, err_len);
            if (need < 0) return need;
            if (!(rendered = malloc((size_t)need + 1)))
                return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
            sd_chat_apply(b->chat, &msg, 1, true, rendered, (size_t)need + 1, err, err_len);
            text = rendered;
            len = (size_t)need;
        }
        const bool special = b->chat != NULL;
        int n = sd_model_tokenize(b->target, text, len, true, special, NULL, 0, err, err_len);
        if (n <= 0) free(rendered);
        if (n < 0) return n;
        if (n == 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "prompt %s is empty", p->id);
        b->ptok[i] = malloc((size_t)n * sizeof **b->ptok);
        if (!b->ptok[i]) {
            free(rendered);
            return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        }
        sd_model_tokenize(b->target, text, len, true, special, b->ptok[i], n, err, err_len);
        free(rendered);
        b->n_ptok[i] = n;
        *longest = SD_MAX(*longest, n);
    }
    return SD_STATUS_OK;
}

typedef struct progress {
    bool tty;
    double t0, last;
    int done, total;
} progress;

static void progress_update(progress *p, const char *what) {
    double now = sd_time_seconds();
    if (!p->tty || (now - p->last < 0.1 && p->done < p->total) || now - p->t0 < 1.0) return;
    p->last = now;
    double eta = p->done > 0 ? (now - p->t0) / p->done * (p->total - p->done) : 0;
    char bar[31];
    int fill = p->total ? 30 * p->done / p->total : 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %d/%d runs, %s, ETA %d:%02d   ", bar, p->done, p->total, what, (int)eta / 60,
            (int)eta % 60);
    fflush(stderr);
}

static void progress_end(progress *p) {
    double dt = sd_time_seconds() - p->t0;
    if (p->tty && dt >= 1.0) fprintf(stderr, "\r%-90s\r", "");
    fprintf(stderr, "specdec bench: %d runs in %.1f s\n", p->done, dt);
}

static int run_one(mode *m, const int32_t *prompt, int32_t n_prompt, int32_t n_predict, run_rec *r, char *err,
                   size_t err_len) {
    sd_stats st;
    memset(r, 0, sizeof *r);
    r->tokens = malloc((size_t)n_predict * sizeof *r->tokens);
    if (!r->tokens) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    const cli_usage u0 = cli_usage_now();
    int rc = sd_engine_generate(m->engine, prompt, n_prompt, n_predict, NULL, NULL, r->tokens, n_predict, &st,
                                err, err_len);
    if (rc < 0) return rc;
    r->cpu_s = cli_usage_now().cpu_s - u0.cpu_s;
    r->kv_bytes = st.kv_bytes;
    r->n_gen = st.n_gen;
    r->t_gen = st.t_gen_s;
    r->t_prompt = st.t_prompt_s;
    r->prompt_tps = bs_ratio(st.n_prompt, st.t_prompt_s);
    r->decode_tps = bs_ratio(st.n_gen, st.t_gen_s);
    r->t_draft = st.t_draft_s;
    r->t_verify = st.t_verify_s;
    r->t_sample = st.t_sample_s;
    r->n_rounds = st.n_rounds;
    r->n_drafted = st.n_drafted;
    r->n_accepted = st.n_accepted;
    memcpy(r->drafted_at, st.drafted_at, sizeof r->drafted_at);
    memcpy(r->accepted_at, st.accepted_at, sizeof r->accepted_at);
    for (int i = 0; i < st.n_k_trace; i++)
        if (st.k_trace[i] >= 0 && st.k_trace[i] <= SD_MAX_DRAFT_LEN) r->k_hist[st.k_trace[i]]++;
    return SD_STATUS_OK;
}

/* Untimed: every engine once on a short prompt and generation, so page faults and first-touch costs stay
 * out of the measurements (short, so that slow builds such as ASan stay fast). */
int bs_warm_up(bench *b, char *err, size_t err_len) {
    for (int m = 0; m < b->n_modes; m++) {
        run_rec r;
        int rc = run_one(&b->modes[m], b->ptok[0], SD_MIN(b->n_ptok[0], 16), SD_MIN(b->o.n_predict, 8), &r,
                         err, err_len);
        free(r.tokens);
        if (rc < 0) return rc;
    }
    return SD_STATUS_OK;
}

int bs_run_all(bench *b, char *err, size_t err_len) {
    progress pg = {
        .tty = isatty(2), .t0 = sd_time_seconds(), .total = b->n_prompts * b->o.repeat * b->n_modes};
    for (int p = 0; p < b->n_prompts; p++)
        for (int r = 0; r < b->o.repeat; r++)
            for (int j = 0; j < b->n_modes; j++) {
                int m = (j + r + p) % b->n_modes; /* rotate the order between repeats and prompts */
                char what[96];
                snprintf(what, sizeof what, "prompt %d/%d %s", p + 1, b->n_prompts, b->modes[m].name);
                progress_update(&pg, what);
                int rc = run_one(&b->modes[m], b->ptok[p], b->n_ptok[p], b->o.n_predict, bs_rec(b, p, m, r),
                                 err, err_len);
                if (rc < 0) {
                    progress_end(&pg);
                    return rc;
                }
                pg.done++;
            }
    progress_update(&pg, "done");
    progress_end(&pg);
    return SD_STATUS_OK;
}
