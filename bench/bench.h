/* Benchmarks of the GEMM library against the machine's memory bandwidth and OpenBLAS.
 * This is CLI code: the entry points print to stdout/stderr and return a process exit code. */
#ifndef SD_BENCH_H
#define SD_BENCH_H

#include <stddef.h>

#include "cpu/threadpool.h"

/* `specdec bench-gemm [options]`. argv[0] names the command (used in messages), options follow; so the
 * CLI calls sd_bench_gemm_main(argc - 1, argv + 1) with argv[1] == "bench-gemm". Returns 0 on success,
 * 1 on a runtime failure, 2 on bad flags (one-line message on stderr). */
int sd_bench_gemm_main(int argc, char **argv);

/* `specdec bench-forward -m MODEL`: one forward pass of n tokens (all logits, as verification runs it)
 * split by operation, for each batch size n (bench_forward.c). Same calling convention and exit codes as
 * sd_bench_gemm_main. */
int sd_bench_forward_main(int argc, char **argv);

/* `specdec bench`: speculative vs plain decoding for a model pair on this machine (bench_spec.c). Same
 * calling convention and exit codes as sd_bench_gemm_main; 1 also when a greedy speculative output differs
 * from plain decoding. */
int sd_bench_spec_main(int argc, char **argv);

/* `specdec bench-replay`: draft-length policies replayed over recorded greedy drafts with fixed costs, no
 * timing noise (bench_replay.c). Same calling convention and exit codes as sd_bench_gemm_main. */
int sd_bench_replay_main(int argc, char **argv);

/* A buffer for measuring the machine's streaming read bandwidth with a pool's threads. */
typedef struct sd_stream sd_stream;

/* Allocates and first-touches (from the pool's workers) a buffer of `bytes` bytes (rounded up to whole
 * cache lines). Returns SD_STATUS_*. */
int sd_stream_create(sd_stream **out, size_t bytes, sd_pool *pool, char *err, size_t err_len);
void sd_stream_free(sd_stream *s);

/* Reads the whole buffer once, split evenly over the pool's workers, summing it so the loads cannot be
 * elided. Returns the wall time of the pass in seconds. */
double sd_stream_read_pass(sd_stream *s);

/* Bytes one pass reads. */
size_t sd_stream_bytes(const sd_stream *s);

/* Size in bytes of the last-level cache of CPU 0 as /sys reports it, or `fallback` if unreadable. */
size_t sd_bench_llc_bytes(size_t fallback);

#endif
