/* Pinned thread pool with low-latency dispatch.
 *
 * Protocol (one dispatch):
 *   caller: writes task/ctx, sets `pending` = n_workers - 1, bumps `generation` (seq_cst), wakes sleepers
 *           if any, runs worker 0's share, then waits until `pending` reaches 0.
 *   worker: waits until `generation` differs from the last one it served (spinning a bounded number of
 *           pause iterations, then sleeping on a condition variable), runs its share, decrements
 *           `pending` (release).
 * A decode step issues hundreds of dispatches per token, so the hot path touches only two atomics on
 * separate cache lines and makes no system call while workers are spinning.
 *
 * Sleeping uses a Dekker-style handshake: a worker increments `n_sleeping` and then re-reads `generation`
 * under the mutex; the caller bumps `generation` and then reads `n_sleeping`. Both are seq_cst, so either
 * the caller sees the sleeper and broadcasts, or the sleeper sees the new generation and does not wait. */
#include "cpu/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

#define CACHE_LINE 64

/* Pause iterations a worker (or the waiting caller) spins before it sleeps (or yields). A pause costs
 * about 40-150 cycles depending on the core, so this is roughly 0.3-1 ms: long enough to bridge the
 * serial work between two dispatches of a decode step, short enough not to burn a core when idle. */
#define SPIN_ITERS_DEDICATED 16384
/* When workers outnumber the CPUs they may run on, spinning steals time from the thread being waited
 * for, so they give up almost at once. */
#define SPIN_ITERS_SHARED 64

typedef struct pool_worker {
    struct sd_pool *pool;
    int cpu; /* CPU to pin to, or -1 */
    pthread_t thread;
} pool_worker;

struct sd_pool {
    /* Read by every worker on each poll; written once per dispatch. */
    _Alignas(CACHE_LINE) atomic_uint generation;
    sd_pool_task task; /* valid for the current generation */
    void *ctx;
    atomic_int stop;

    /* Parts of the current dispatch: (generation << 32) | next unclaimed part. Any thread may claim
     * any part, so a worker the OS has descheduled never holds up a dispatch: the others, the caller
     * included, take its share. */
    _Alignas(CACHE_LINE) atomic_uint_fast64_t claim;

    /* Parts finished in the current dispatch; read by the waiting caller. */
    _Alignas(CACHE_LINE) atomic_int done;

    _Alignas(CACHE_LINE) atomic_int n_sleeping;
    pthread_mutex_t mutex;
    pthread_cond_t wake;

    int n_workers;
    int n_started; /* pthreads actually created (n_workers - 1 on success) */
    int spin_iters;
    int caller_cpu;       /* cpus[0], or -1 when unpinned */
    pool_worker *workers; /* [n_workers - 1] */
};

static void pin_thread(pthread_t thread, int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(thread, sizeof set, &set); /* a refusal only costs locality */
}

/* Blocks until `generation` differs from `last`; returns the new value. */
static unsigned wait_for_generation(sd_pool *pool, unsigned last) {
    for (int i = 0; i < pool->spin_iters; i++) {
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != last) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->n_sleeping, 1);
    unsigned g;
    while ((g = atomic_load(&pool->generation)) == last)
        pthread_cond_wait(&pool->wake, &pool->mutex);
    atomic_fetch_sub(&pool->n_sleeping, 1);
    pthread_mutex_unlock(&pool->mutex);
    return g;
}

/* Claims and runs parts of dispatch `gen` until none is left (or a newer dispatch has begun, which
 * cannot happen while a part of this one is still running). */
static void run_parts(sd_pool *pool, unsigned gen) {
    const uint64_t tag = (uint64_t)gen << 32;
    const uint64_t n = (uint64_t)pool->n_workers;
    uint64_t c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    while ((c & ~(uint64_t)0xffffffffu) == tag && (c & 0xffffffffu) < n) {
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* c now holds the current value */
        pool->task(pool->ctx, (int)(c & 0xffffffffu), pool->n_workers);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
        c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    pool_worker *self = arg;
    sd_pool *pool = self->pool;
    pin_thread(pthread_self(), self->cpu);
    /* The pool starts at generation 0 before any thread exists, so starting from 0 (rather than reading
     * the counter) cannot miss a dispatch issued before this thread first looks. */
    unsigned last = 0;
    for (;;) {
        last = wait_for_generation(pool, last);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
        run_parts(pool, last);
    }
    return NULL;
}

/* Publishes a new generation and wakes workers that went to sleep. */
static void publish(sd_pool *pool) {
    atomic_fetch_add(&pool->generation, 1); /* seq_cst: pairs with n_sleeping in wait_for_generation */
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
}

/* Stops and joins the n_started workers, then frees everything. */
static void pool_destroy(sd_pool *pool) {
    if (pool->n_started > 0) {
        atomic_store_explicit(&pool->stop, 1, memory_order_release);
        publish(pool);
        for (int i = 0; i < pool->n_started; i++)
            pthread_join(pool->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

/* CPUs this process may run on, or 0 if unknown. */
static int allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

/* Distinct CPUs that the pool's threads will share: the pin list if given, else the allowed set. */
static int distinct_cpus(const int *cpus, int n_cpus) {
    if (!cpus || n_cpus == 0) return allowed_cpu_count();
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < n_cpus; i++)
        CPU_SET(cpus[i], &set);
    return CPU_COUNT(&set);
}

int sd_pool_create(sd_pool **out, int n_threads, const int *cpus, int n_cpus, char *err, size_t err_len) {
    if (!out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_pool_create: out is NULL");
    *out = NULL;
    if (n_threads < 1)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "thread count %d must be >= 1", n_threads);
    if (n_cpus < 0 || (n_cpus > 0 && !cpus))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "bad CPU list (n_cpus %d)", n_cpus);
    if (!cpus) n_cpus = 0;
    for (int i = 0; i < n_cpus; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE)
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "CPU id %d out of range [0, %d)",
                            cpus[i], CPU_SETSIZE);
    }

    size_t pool_bytes = (sizeof(sd_pool) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    sd_pool *pool = aligned_alloc(CACHE_LINE, pool_bytes);
    if (!pool) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for thread pool");
    memset(pool, 0, sizeof *pool);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->n_sleeping, 0);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->n_workers = n_threads;
    pool->caller_cpu = n_cpus > 0 ? cpus[0] : -1;
    int shared_by = distinct_cpus(cpus, n_cpus);
    pool->spin_iters = (shared_by > 0 && n_threads > shared_by) ? SPIN_ITERS_SHARED : SPIN_ITERS_DEDICATED;

    if (n_threads > 1) {
        pool->workers = calloc((size_t)(n_threads - 1), sizeof *pool->workers);
        if (!pool->workers) {
            pool_destroy(pool);
            return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for %d workers", n_threads);
        }
    }
    for (int i = 1; i < n_threads; i++) {
        pool_worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->cpu = n_cpus > 0 ? cpus[i % n_cpus] : -1;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            pool_destroy(pool);
            return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "cannot start worker thread %d of %d: %s", i,
                            n_threads, strerror(rc));
        }
        pool->n_started++;
    }
    *out = pool;
    return SD_STATUS_OK;
}

void sd_pool_free(sd_pool *pool) {
    if (pool) pool_destroy(pool);
}

int sd_pool_n_workers(const sd_pool *pool) {
    return pool ? pool->n_workers : 1;
}

int sd_pool_pin_caller(const sd_pool *pool) {
    if (!pool || pool->caller_cpu < 0) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(pool->caller_cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void sd_pool_run(sd_pool *pool, sd_pool_task task, void *ctx) {
    if (!pool || pool->n_workers == 1) {
        task(ctx, 0, 1);
        return;
    }
    /* No worker reads task/ctx until it has claimed a part of the new dispatch, and no part of the
     * previous one is still running (the last dispatch returned only when all were done), so plain
     * stores are race-free here. The claim counter is tagged before the generation is published. */
    pool->task = task;
    pool->ctx = ctx;
    unsigned gen = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->claim, (uint64_t)gen << 32, memory_order_release);
    publish(pool);

    run_parts(pool, gen);

    int spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) != pool->n_workers) {
        if (spins < pool->spin_iters) {
            spins++;
            cpu_relax();
        } else {
            sched_yield(); /* a part is running on a descheduled worker: let it run */
        }
    }
}
