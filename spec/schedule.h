/* The schedule policy: which CPUs, pools and memory nodes the draft and the target run on, and whether
 * they take turns (sequential) or overlap (pipelined: the next round is drafted while the target
 * verifies this one). One scheduler per engine; it owns every thread but the caller's.
 *
 * CPU sets: explicit lists win; otherwise the topology's split (performance clusters for the target,
 * efficiency clusters for the draft; all CPUs for both on a uniform machine). Given the same CPUs
 * ("shared"), the roles take turns on one pool of them, and the pipelined schedule splits them: a
 * quarter for the draft (at least one CPU), the rest for the target. Given separate CPUs, each role has
 * its own pool under both schedules.
 *
 * The automatic schedule alternates blocks of drafting rounds between the two and keeps the one that
 * produced more tokens per second; rounds that run no draft (the controller paused it) are plain
 * decoding and run sequentially whatever was kept. */
#ifndef SD_SCHEDULE_H
#define SD_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/background.h"
#include "cpu/threadpool.h"
#include "draft/drafter.h"
#include "model/model.h"
#include "target/verifier.h"
#include "specdec.h"

typedef struct sd_scheduler sd_scheduler;

/* Chooses the CPU sets from params (draft_cpus, target_cpus: cpulist syntax or NULL; n_threads,
 * n_threads_draft: 0 for one per CPU) and the topology under /sys, and creates the pools the schedules
 * need. has_draft: whether a draft model will run; without one only the target's pool is made. */
int sd_scheduler_create(const sd_engine_params *params, bool has_draft, sd_scheduler **out, char *err,
                        size_t err_len);
void sd_scheduler_free(sd_scheduler *s);

/* The pool with the most workers that each role will run on: its forward state is sized for it. */
sd_pool *sd_scheduler_largest_target_pool(const sd_scheduler *s);
sd_pool *sd_scheduler_largest_draft_pool(const sd_scheduler *s);

/* NUMA placement: each role's weights and buffers on the memory node of its CPUs. drafter may be NULL
 * (then the draft model is left alone). A no-op on one-node machines; a refusal only costs locality, so
 * it is not an error. */
void sd_scheduler_place_memory(const sd_scheduler *s, const sd_model *target, const sd_verifier *verifier,
                               const sd_model *draft, const sd_drafter *drafter);

/* Settles the first schedule and puts the roles on its pools; drafter may be NULL (plain decoding: always
 * sequential). Starts the drafting thread when the pipelined schedule may run. Fails if the pipelined
 * schedule was asked for but the CPUs cannot be split. Neither role is owned. */
int sd_scheduler_start(sd_scheduler *s, sd_verifier *verifier, sd_drafter *drafter, char *err,
                       size_t err_len);

/* The schedule this round runs, SEQ or PIPE; moves the roles onto its pools if the last round ran the
 * other one. drafts: whether the round runs the draft at all; a round that does not is plain decoding
 * and runs sequentially (on a shared machine the pipelined schedule's target has fewer CPUs). */
sd_schedule sd_scheduler_begin_round(sd_scheduler *s, bool drafts);

/* Books a drafting round's time (seconds, drafting included) and emitted tokens to the schedule it ran,
 * while the automatic schedule is still measuring; decides once both have run enough (rounds without the
 * draft are the same under both and are not booked). */
void sd_scheduler_end_round(sd_scheduler *s, double seconds, int32_t tokens);

/* The drafting thread of pipelined rounds (pinned to the first CPU of the draft's pool); NULL when the
 * pipelined schedule cannot run. */
sd_background *sd_scheduler_background(const sd_scheduler *s);

/* The schedule in use: SEQ or PIPE, or AUTO while still measuring. */
sd_schedule sd_scheduler_decided(const sd_scheduler *s);

/* One line for people: which CPUs and how many threads each role has, and the schedule, e.g.
 * "draft on CPUs [0] 1 thread, target on CPUs [1-3] 3 threads; pipelined schedule". */
void sd_scheduler_describe(const sd_scheduler *s, char *buf, size_t buf_len);

#endif
