/* Not part of the library: one function per (weight type, n) holding the tile kernel the NEON driver
 * runs for n activation rows, so `llvm-mca` can time its block loop (docs/bench/kernels-neon-mca.sh
 * compiles this with -S and extracts the loops; docs/bench/kernels-neon.md has the results).
 *
 * Compile with -DMCA_SRC='"/abs/path/gemm_neon.c"' (the current file or an older commit's) and the
 * -march / -DSD_NEON_LEVEL of the set to measure. The tile shape comes from that file's own
 * tile_rows_max / group_rows, as in tile_driver.h's tile_rows (the first, largest tile), and is written
 * into the assembly as a "mca-shape" comment: R weight rows, T activation rows, tiles per n rows.
 * With MCA_PACKED the tiles see a non-NULL packed pointer the compiler can prove, so Q4_0's 4-row loop
 * holds the repacked path only (as it runs after sd_weight_init). */
#include <string.h>

#include <gemm/qtypes.h> /* the measured version's, before the macro below */

/* Older kernels widened the weights' fp16 scales with sd_fp16_to_fp32, whose branches (zero, subnormal,
 * inf) llvm-mca cannot follow in a straight-line block; count its usual path as the one fcvt it is in
 * the current kernels (which makes the older kernels' figures, if anything, optimistic). */
static inline float mca_fp16_to_fp32(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}
#define sd_fp16_to_fp32(h) mca_fp16_to_fp32(h)

#include MCA_SRC

INLINE void mca_tile(const tile_args *p, const sd_type type, const int n) {
#if MCA_PACKED
    extern const uint8_t mca_packed[];
    tile_args q = *p;
    q.packed = mca_packed;
    p = &q;
#endif
    const int n_tiles = (n + tile_rows_max(type) - 1) / tile_rows_max(type);
    const int T = (n + n_tiles - 1) / n_tiles;
    const int R = group_rows(type, T);
    __asm__ volatile("// mca-shape R=%0 T=%1 tiles=%2" ::"i"(R), "i"(T), "i"(n_tiles));
    tile_any(p, type, R, T);
}

#define MCA_FN(tname, TYPE, N)                                                                               \
    __attribute__((noinline)) void mca_##tname##_n##N(const tile_args *p) {                                  \
        mca_tile(p, TYPE, N);                                                                                \
    }
#define MCA_TYPE(tname, TYPE)                                                                                \
    MCA_FN(tname, TYPE, 1) MCA_FN(tname, TYPE, 2) MCA_FN(tname, TYPE, 4) MCA_FN(tname, TYPE, 8)

MCA_TYPE(q4_0, SD_TYPE_Q4_0)
MCA_TYPE(q8_0, SD_TYPE_Q8_0)
MCA_TYPE(q4_k, SD_TYPE_Q4_K)
MCA_TYPE(q6_k, SD_TYPE_Q6_K)
