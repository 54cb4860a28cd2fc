/* A pool of worker threads pinned to a CPU set, for data-parallel loops with low-latency dispatch.
 * Several pools can coexist (one per core cluster). The calling thread takes part as worker 0, so a
 * pool of n threads starts n - 1 pthreads. */
#ifndef SD_THREADPOOL_H
#define SD_THREADPOOL_H

#include <stddef.h>

typedef struct sd_pool sd_pool;

/* Work for one dispatch: called once for every part index in [0, n_workers) (see sd_pool_run). */
typedef void (*sd_pool_task)(void *ctx, int worker, int n_workers);

/* Creates a pool of n_threads workers (>= 1). cpus[0..n_cpus) lists the CPUs to pin to (worker i on
 * cpus[i % n_cpus]); cpus == NULL or n_cpus == 0 leaves threads unpinned. Pinning that the OS refuses is
 * not an error. Returns SD_STATUS_* and fills err on failure. */
int sd_pool_create(sd_pool **out, int n_threads, const int *cpus, int n_cpus, char *err, size_t err_len);
void sd_pool_free(sd_pool *pool);
int sd_pool_n_workers(const sd_pool *pool);

/* Pins the calling thread (worker 0 of sd_pool_run) to the pool's cpus[0]. sd_pool_create leaves the
 * caller's affinity alone because it outlives the pool; call this from the thread that will dispatch.
 * Returns 1 if pinned, 0 if the pool is unpinned or the OS refused. */
int sd_pool_pin_caller(const sd_pool *pool);

/* Runs task(ctx, i, n) for every part i in [0, n), n = the number of workers, and returns when all have
 * finished. Each part runs exactly once, on whichever thread of the pool claims it first (the caller
 * included): a worker that the OS has descheduled does not hold the dispatch up, its part is taken by
 * another thread. Tasks must therefore not wait for each other. A NULL pool runs the task inline as a
 * single part. Not reentrant: one dispatch at a time per pool. */
void sd_pool_run(sd_pool *pool, sd_pool_task task, void *ctx);

#endif
