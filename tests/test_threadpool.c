/* Thread pool tests: every worker runs exactly once per dispatch, dispatches complete before sd_pool_run
 * returns, pools can be created/freed repeatedly and used concurrently, pinning lands where asked.
 * Prints the mean dispatch round trip (not asserted: the machine is shared). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sd_common.h"
#include "cpu/threadpool.h"

#define MAX_WORKERS 8

static atomic_int failures; /* CHECK may fire on two threads at once */

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

/* One cache line per worker so the counters do not share lines. */
typedef struct {
    _Alignas(64) long count;
    long last_seen;
    int n_seen; /* n_workers argument seen */
    int cpu;
} worker_slot;

typedef struct {
    worker_slot slot[MAX_WORKERS];
    long dispatch; /* id of the current dispatch, set by the caller before sd_pool_run */
    atomic_long sum;
    int bad_index;
} count_ctx;

static void count_task(void *arg, int worker, int n_workers) {
    count_ctx *c = arg;
    if (worker < 0 || worker >= n_workers || worker >= MAX_WORKERS) {
        c->bad_index = 1; /* benign race: only ever set to 1 */
        return;
    }
    c->slot[worker].count++;
    c->slot[worker].last_seen = c->dispatch;
    c->slot[worker].n_seen = n_workers;
    atomic_fetch_add_explicit(&c->sum, worker + 1, memory_order_relaxed);
}

static sd_pool *make_pool(int n, const int *cpus, int n_cpus) {
    char err[128] = "";
    sd_pool *pool = NULL;
    int rc = sd_pool_create(&pool, n, cpus, n_cpus, err, sizeof err);
    CHECK(rc == SD_STATUS_OK && pool, "sd_pool_create(%d) failed: %d %s", n, rc, err);
    return pool;
}

/* Runs `dispatches` dispatches and checks that each one ran every worker once and had finished by the
 * time sd_pool_run returned. */
static void check_dispatches(sd_pool *pool, int n, long dispatches) {
    count_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    atomic_init(&c->sum, 0);
    long bad_barrier = 0;
    for (long d = 1; d <= dispatches; d++) {
        c->dispatch = d;
        sd_pool_run(pool, count_task, c);
        for (int w = 0; w < n; w++)
            bad_barrier += c->slot[w].last_seen != d;
    }
    CHECK(!c->bad_index, "n=%d: a worker index out of range", n);
    CHECK(bad_barrier == 0, "n=%d: %ld worker results missing when sd_pool_run returned", n, bad_barrier);
    for (int w = 0; w < n; w++) {
        CHECK(c->slot[w].count == dispatches, "n=%d: worker %d ran %ld times in %ld dispatches", n, w,
              c->slot[w].count, dispatches);
        CHECK(c->slot[w].n_seen == n, "n=%d: worker %d saw n_workers=%d", n, w, c->slot[w].n_seen);
    }
    for (int w = n; w < MAX_WORKERS; w++)
        CHECK(c->slot[w].count == 0, "n=%d: phantom worker %d ran", n, w);
    long expect = dispatches * (long)n * (n + 1) / 2;
    long got = atomic_load(&c->sum);
    CHECK(got == expect, "n=%d: sum %ld, expected %ld", n, got, expect);
    free(c);
}

static void test_counts(void) {
    for (int n = 1; n <= 4; n++) {
        sd_pool *pool = make_pool(n, NULL, 0);
        if (!pool) continue;
        CHECK(sd_pool_n_workers(pool) == n, "sd_pool_n_workers %d != %d", sd_pool_n_workers(pool), n);
        double t0 = sd_time_seconds();
        check_dispatches(pool, n, 100000);
        printf("  n=%d: 100000 dispatches in %.3f s\n", n, sd_time_seconds() - t0);
        sd_pool_free(pool);
    }
}

static void test_null_pool(void) {
    CHECK(sd_pool_n_workers(NULL) == 1, "NULL pool should have 1 worker");
    check_dispatches(NULL, 1, 10);
    sd_pool_free(NULL);
}

static void test_bad_args(void) {
    char err[128] = "";
    sd_pool *pool = (sd_pool *)&err; /* must be overwritten with NULL */
    int rc = sd_pool_create(&pool, 0, NULL, 0, err, sizeof err);
    CHECK(rc == SD_STATUS_INVALID_ARGUMENT && pool == NULL, "0 threads: rc %d", rc);
    CHECK(err[0] != '\0', "0 threads: no message");
    int bad_cpu[] = {0, -3};
    rc = sd_pool_create(&pool, 2, bad_cpu, 2, err, sizeof err);
    CHECK(rc == SD_STATUS_INVALID_ARGUMENT && pool == NULL, "negative CPU: rc %d", rc);
    rc = sd_pool_create(&pool, 2, NULL, 3, err, sizeof err);
    CHECK(rc == SD_STATUS_INVALID_ARGUMENT && pool == NULL, "NULL CPU list with n_cpus 3: rc %d", rc);
}

static void test_create_free(void) {
    for (int i = 0; i < 200; i++) {
        int n = 1 + i % 4;
        sd_pool *pool = make_pool(n, NULL, 0);
        if (!pool) return;
        if (i % 2) check_dispatches(pool, n, 3); /* odd rounds free a pool that has worked */
        sd_pool_free(pool);
    }
}

typedef struct {
    int n;
    long dispatches;
} concurrent_arg;

static void *concurrent_main(void *p) {
    concurrent_arg *a = p;
    sd_pool *pool = make_pool(a->n, NULL, 0);
    if (pool) check_dispatches(pool, a->n, a->dispatches);
    sd_pool_free(pool);
    return NULL;
}

/* Two pools driven from two threads at once must not interfere. */
static void test_two_pools(void) {
    pthread_t t[2];
    concurrent_arg args[2] = {{2, 20000}, {3, 20000}};
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, concurrent_main, &args[i]) == 0, "thread");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}

static void record_cpu(void *arg, int worker, int n_workers) {
    count_ctx *c = arg;
    (void)n_workers;
    c->slot[worker].cpu = sched_getcpu();
}

static void test_pinning(const int *cpus, int n_cpus, int n) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    cpu_set_t saved = allowed;
    sd_pool *pool = make_pool(n, cpus, n_cpus);
    if (!pool) return;
    int caller_pinned = sd_pool_pin_caller(pool);
    count_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    for (int rep = 0; rep < 50; rep++) {
        sd_pool_run(pool, record_cpu, c);
        /* Any thread may run any part, so each part must have run on one of the pool's CPUs (when the
         * caller is pinned too; an unpinned caller may run parts anywhere). */
        if (!caller_pinned) continue;
        for (int w = 0; w < n; w++) {
            bool on_pool_cpu = false, all_allowed = true;
            for (int i = 0; i < n_cpus; i++) {
                on_pool_cpu |= c->slot[w].cpu == cpus[i];
                all_allowed &= CPU_ISSET(cpus[i], &allowed) != 0;
            }
            if (!all_allowed) continue; /* the OS may refuse a pin: not an error */
            CHECK(on_pool_cpu, "pin list of %d: part %d ran on CPU %d, outside the pool's CPUs", n_cpus, w,
                  c->slot[w].cpu);
        }
    }
    free(c);
    sd_pool_free(pool);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved); /* undo sd_pool_pin_caller */
}

/* Workers that outlasted their spin sleep on the condition variable; a dispatch must still wake them all. */
static void test_wake_from_sleep(void) {
    const int n = 2, rounds = 20;
    sd_pool *pool = make_pool(n, NULL, 0);
    if (!pool) return;
    count_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    double total = 0;
    for (int r = 1; r <= rounds; r++) {
        struct timespec pause = {0, 3000000}; /* 3 ms: far beyond the spin phase */
        nanosleep(&pause, NULL);
        c->dispatch = r;
        double t0 = sd_time_seconds();
        sd_pool_run(pool, count_task, c);
        total += sd_time_seconds() - t0;
        for (int w = 0; w < n; w++)
            CHECK(c->slot[w].last_seen == r, "after sleep: worker %d missed round %d", w, r);
    }
    printf("  n=%d: mean round trip from sleeping workers %.1f us\n", n, total / rounds * 1e6);
    free(c);
    sd_pool_free(pool);
}

static void empty_task(void *arg, int worker, int n_workers) {
    (void)arg;
    (void)worker;
    (void)n_workers;
}

static void measure_latency(int n) {
    sd_pool *pool = make_pool(n, NULL, 0);
    if (!pool) return;
    for (int i = 0; i < 2000; i++)
        sd_pool_run(pool, empty_task, NULL); /* get workers spinning */
    const int reps = 100000;
    double t0 = sd_time_seconds();
    for (int i = 0; i < reps; i++)
        sd_pool_run(pool, empty_task, NULL);
    double dt = sd_time_seconds() - t0;
    printf("  n=%d: mean dispatch+barrier round trip %.2f us (%d empty dispatches)\n", n, dt / reps * 1e6,
           reps);
    sd_pool_free(pool);
}

int main(void) {
    test_bad_args();
    test_null_pool();
    printf("counts and sums:\n");
    test_counts();
    test_create_free();
    test_two_pools();
    int cpu0[] = {0}, cpu01[] = {0, 1};
    test_pinning(cpu0, 1, 1);
    test_pinning(cpu0, 1, 2);
    test_pinning(cpu01, 2, 2);
    test_pinning(cpu01, 2, 3);
    printf("latency:\n");
    measure_latency(1);
    measure_latency(2);
    test_wake_from_sleep();
    if (failures) {
        fprintf(stderr, "test_threadpool: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_threadpool: ok\n");
    return 0;
}
