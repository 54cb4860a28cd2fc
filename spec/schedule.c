/* The schedule policy (see schedule.h). */
#include "spec/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "cpu/numa_place.h"
#include "cpu/topology.h"

/* The automatic schedule alternates blocks of this many rounds between the sequential and the pipelined
 * schedule, and decides once each has run AUTO_BLOCKS blocks. */
#define AUTO_BLOCK_ROUNDS 4
#define AUTO_BLOCKS 3

typedef struct auto_measure {
    double seconds[3]; /* by sd_schedule value (SEQ, PIPE) */
    int32_t tokens[3];
    int32_t rounds; /* rounds measured so far */
} auto_measure;

struct sd_scheduler {
    sd_cpuset target_cpus, draft_cpus;
    bool shared;          /* draft and target were given the same CPUs (a uniform machine) */
    sd_pool *all_pool;    /* shared CPUs: both roles, in turn (sequential schedule) */
    sd_pool *draft_pool;  /* the draft's own CPUs (a cluster, or a slice of a uniform machine) */
    sd_pool *target_pool; /* the target's own CPUs */
    /* The pools each schedule runs the roles on. */
    sd_pool *seq_draft, *seq_target;   /* sequential: drafting, then verifying (may be one pool) */
    sd_pool *pipe_draft, *pipe_target; /* pipelined: disjoint pools; NULL when the CPUs cannot be split */
    sd_background *background;         /* the pipelined schedule's drafting thread */
    sd_schedule requested;             /* the params' schedule */
    sd_verifier *verifier;             /* the roles, once started (not owned) */
    sd_drafter *drafter;
    sd_schedule active;  /* SEQ or PIPE: the pools the roles are on now */
    sd_schedule decided; /* SEQ or PIPE once chosen; AUTO while measuring */
    auto_measure measure;
    bool round_measured; /* the round in progress is booked to the measurement */
};

/* ---- CPU sets and pools ---- */

static int choose_cpus(sd_scheduler *s, const sd_engine_params *p, char *err, size_t err_len) {
    sd_topology *topo = NULL;
    int rc = sd_topology_detect("/sys", &topo, err, err_len);
    if (rc < 0) return rc;
    int split = sd_topology_default_split(topo, &s->draft_cpus, &s->target_cpus);
    sd_topology_free(topo);
    if (split < 0) return sd_error(err, err_len, split, "cannot split the CPUs between draft and target");
    if (p->target_cpus && (rc = sd_cpuset_parse(p->target_cpus, &s->target_cpus, err, err_len)) < 0)
        return rc;
    if (p->draft_cpus && (rc = sd_cpuset_parse(p->draft_cpus, &s->draft_cpus, err, err_len)) < 0) return rc;
    if (s->target_cpus.count == 0 || s->draft_cpus.count == 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "empty CPU list");
    s->shared = s->target_cpus.count == s->draft_cpus.count &&
                memcmp(s->target_cpus.cpu, s->draft_cpus.cpu,
                       (size_t)s->target_cpus.count * sizeof s->target_cpus.cpu[0]) == 0;
    return SD_STATUS_OK;
}

/* Splits shared CPUs for the pipelined schedule: the draft takes a quarter (at least one CPU), the
 * target the rest. False if there is only one CPU. */
static bool split_shared(const sd_cpuset *all, sd_cpuset *draft, sd_cpuset *target) {
    if (all->count < 2) return false;
    int nd = SD_MAX(1, all->count / 4);
    draft->count = nd;
    target->count = all->count - nd;
    memcpy(draft->cpu, all->cpu, (size_t)nd * sizeof all->cpu[0]);
    memcpy(target->cpu, all->cpu + nd, (size_t)target->count * sizeof all->cpu[0]);
    return true;
}

static int make_pool(sd_pool **out, int n_threads, const sd_cpuset *cpus, bool pin, char *err,
                     size_t err_len) {
    int n = n_threads ? n_threads : cpus->count;
    return sd_pool_create(out, n, pin ? cpus->cpu : NULL, pin ? cpus->count : 0, err, err_len);
}

/* Shared CPUs: one unpinned pool for the sequential schedule (other processes may be using some CPUs,
 * so the OS places the threads) and, when the pipelined schedule may run, two pinned pools on disjoint
 * slices. Separate clusters: one pinned pool each, used by both schedules. User-given CPU lists are
 * always pinned to. */
static int create_pools(sd_scheduler *s, const sd_engine_params *p, bool has_draft, char *err,
                        size_t err_len) {
    bool pin_user = p->target_cpus || p->draft_cpus;
    int rc;
    if (!has_draft || s->shared) {
        if ((rc = make_pool(&s->all_pool, p->n_threads, &s->target_cpus, pin_user, err, err_len)) < 0)
            return rc;
        s->seq_draft = s->seq_target = s->all_pool;
        sd_cpuset d, t;
        if (!has_draft || p->schedule == SD_SCHEDULE_SEQ || !split_shared(&s->target_cpus, &d, &t))
            return SD_STATUS_OK;
        if ((rc = make_pool(&s->draft_pool, 0, &d, true, err, err_len)) < 0) return rc;
        if ((rc = make_pool(&s->target_pool, 0, &t, true, err, err_len)) < 0) return rc;
    } else {
        if ((rc = make_pool(&s->draft_pool, p->n_threads_draft, &s->draft_cpus, true, err, err_len)) < 0)
            return rc;
        if ((rc = make_pool(&s->target_pool, p->n_threads, &s->target_cpus, true, err, err_len)) < 0)
            return rc;
        s->seq_draft = s->draft_pool;
        s->seq_target = s->target_pool;
    }
    s->pipe_draft = s->draft_pool;
    s->pipe_target = s->target_pool;
    return SD_STATUS_OK;
}

int sd_scheduler_create(const sd_engine_params *params, bool has_draft, sd_scheduler **out, char *err,
                        size_t err_len) {
    *out = NULL;
    sd_scheduler *s = calloc(1, sizeof *s);
    if (!s) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    s->requested = params->schedule;
    int rc = choose_cpus(s, params, err, err_len);
    if (rc == 0) rc = create_pools(s, params, has_draft, err, err_len);
    if (rc < 0) {
        sd_scheduler_free(s);
        return rc;
    }
    *out = s;
    return SD_STATUS_OK;
}

void sd_scheduler_free(sd_scheduler *s) {
    if (!s) return;
    sd_background_free(s->background);
    sd_pool_free(s->all_pool);
    sd_pool_free(s->draft_pool);
    sd_pool_free(s->target_pool);
    free(s);
}

/* The pool with the most workers among two. */
static sd_pool *larger_pool(sd_pool *a, sd_pool *b) {
    if (!a) return b;
    if (!b) return a;
    return sd_pool_n_workers(a) >= sd_pool_n_workers(b) ? a : b;
}

sd_pool *sd_scheduler_largest_target_pool(const sd_scheduler *s) {
    return larger_pool(s->seq_target, s->pipe_target);
}

sd_pool *sd_scheduler_largest_draft_pool(const sd_scheduler *s) {
    return larger_pool(s->seq_draft, s->pipe_draft);
}

/* ---- NUMA placement ---- */

static void bind_buffer(void *ptr, size_t bytes, void *user) {
    sd_numa_bind(ptr, bytes, *(const int *)user, NULL, 0);
}

void sd_scheduler_place_memory(const sd_scheduler *s, const sd_model *target, const sd_verifier *verifier,
                               const sd_model *draft, const sd_drafter *drafter) {
    int tn = sd_numa_node_of_cpuset(&s->target_cpus), dn = sd_numa_node_of_cpuset(&s->draft_cpus);
    const void *w;
    size_t bytes;
    if (tn >= 0) {
        sd_model_weight_span(target, &w, &bytes);
        sd_numa_bind((void *)w, bytes, tn, NULL, 0);
        sd_verifier_foreach_buffer(verifier, bind_buffer, &tn);
    }
    if (dn >= 0 && drafter) {
        sd_model_weight_span(draft, &w, &bytes);
        sd_numa_bind((void *)w, bytes, dn, NULL, 0);
        sd_drafter_foreach_buffer(drafter, bind_buffer, &dn);
    }
}

/* ---- choosing the schedule, round by round ---- */

/* Puts both roles on the pools of a schedule. */
static void use_schedule(sd_scheduler *s, sd_schedule schedule) {
    s->active = schedule;
    if (!s->drafter) return;
    sd_verifier_set_pool(s->verifier, schedule == SD_SCHEDULE_PIPE ? s->pipe_target : s->seq_target);
    sd_drafter_set_pool(s->drafter, schedule == SD_SCHEDULE_PIPE ? s->pipe_draft : s->seq_draft);
}

int sd_scheduler_start(sd_scheduler *s, sd_verifier *verifier, sd_drafter *drafter, char *err,
                       size_t err_len) {
    bool can_pipe = drafter && s->pipe_draft && s->pipe_target;
    if (s->requested == SD_SCHEDULE_PIPE && drafter && !can_pipe)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "the pipelined schedule needs separate CPUs for draft and target");
    s->verifier = verifier;
    s->drafter = drafter;
    s->decided = !drafter                                        ? SD_SCHEDULE_SEQ
                 : s->requested == SD_SCHEDULE_AUTO && !can_pipe ? SD_SCHEDULE_SEQ
                                                                 : s->requested;
    if (can_pipe && s->decided != SD_SCHEDULE_SEQ) {
        int rc = sd_background_create(&s->background, s->pipe_draft, err, err_len);
        if (rc < 0) return rc;
    }
    use_schedule(s, s->decided == SD_SCHEDULE_PIPE ? SD_SCHEDULE_PIPE : SD_SCHEDULE_SEQ);
    return SD_STATUS_OK;
}

sd_schedule sd_scheduler_begin_round(sd_scheduler *s, bool drafts) {
    /* A round without the draft is plain decoding, on plain decoding's pools; while measuring,
     * alternating blocks of drafting rounds. */
    sd_schedule want = !drafts                                            ? SD_SCHEDULE_SEQ
                       : s->decided != SD_SCHEDULE_AUTO                   ? s->decided
                       : (s->measure.rounds / AUTO_BLOCK_ROUNDS) % 2 == 0 ? SD_SCHEDULE_SEQ
                                                                          : SD_SCHEDULE_PIPE;
    if (want != s->active) use_schedule(s, want);
    s->round_measured = drafts && s->decided == SD_SCHEDULE_AUTO;
    return s->active;
}

void sd_scheduler_end_round(sd_scheduler *s, double seconds, int32_t tokens) {
    if (!s->round_measured) return;
    auto_measure *m = &s->measure;
    m->seconds[s->active] += seconds;
    m->tokens[s->active] += tokens;
    if (++m->rounds < 2 * AUTO_BLOCK_ROUNDS * AUTO_BLOCKS) return;
    double seq = m->tokens[SD_SCHEDULE_SEQ] / m->seconds[SD_SCHEDULE_SEQ];
    double pipe = m->tokens[SD_SCHEDULE_PIPE] / m->seconds[SD_SCHEDULE_PIPE];
    s->decided = pipe > seq ? SD_SCHEDULE_PIPE : SD_SCHEDULE_SEQ;
}

sd_background *sd_scheduler_background(const sd_scheduler *s) {
    return s->background;
}

sd_schedule sd_scheduler_decided(const sd_scheduler *s) {
    return s->decided;
}

/* ---- description ---- */

static void describe_pool(const sd_pool *pool, char *buf, size_t len) {
    int n = sd_pool_n_workers(pool);
    snprintf(buf, len, "%d thread%s", n, n == 1 ? "" : "s");
}

void sd_scheduler_describe(const sd_scheduler *s, char *buf, size_t buf_len) {
    char tc[128], dc[128], tp[32], dp[32];
    sd_cpuset_format(&s->target_cpus, tc, sizeof tc);
    sd_cpuset_format(&s->draft_cpus, dc, sizeof dc);
    if (!s->drafter) {
        describe_pool(s->all_pool, tp, sizeof tp);
        snprintf(buf, buf_len, "target on CPUs [%s], %s", tc, tp);
        return;
    }
    const char *sched = s->decided == SD_SCHEDULE_PIPE  ? "pipelined"
                        : s->decided == SD_SCHEDULE_SEQ ? "sequential"
                                                        : "auto (still measuring)";
    if (s->shared && s->decided != SD_SCHEDULE_PIPE) {
        describe_pool(s->all_pool, tp, sizeof tp);
        snprintf(buf, buf_len, "draft and target take turns on CPUs [%s], %s; %s schedule", tc, tp, sched);
        return;
    }
    sd_cpuset d = s->draft_cpus, t = s->target_cpus;
    if (s->shared) split_shared(&s->target_cpus, &d, &t);
    sd_cpuset_format(&t, tc, sizeof tc);
    sd_cpuset_format(&d, dc, sizeof dc);
    describe_pool(s->draft_pool, dp, sizeof dp);
    describe_pool(s->target_pool, tp, sizeof tp);
    snprintf(buf, buf_len, "draft on CPUs [%s] %s, target on CPUs [%s] %s; %s schedule", dc, dp, tc, tp,
             sched);
}
