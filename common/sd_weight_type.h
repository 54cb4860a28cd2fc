/* Weight and activation element types, in ggml's numbering (the ids GGUF files store), and their traits
 * table: name, elements per block, bytes per block. The bottom layer: the GGUF reader checks tensor
 * sizes with it and the kernels (gemm/qtypes.h adds the block structs) dispatch on it, without either
 * depending on the other. */
#ifndef SD_WEIGHT_TYPE_H
#define SD_WEIGHT_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sd_type {
    SD_TYPE_F32 = 0,
    SD_TYPE_F16 = 1,
    SD_TYPE_Q4_0 = 2,
    SD_TYPE_Q4_1 = 3,
    SD_TYPE_Q5_0 = 6,
    SD_TYPE_Q5_1 = 7,
    SD_TYPE_Q8_0 = 8,
    SD_TYPE_Q8_1 = 9,
    SD_TYPE_Q2_K = 10,
    SD_TYPE_Q3_K = 11,
    SD_TYPE_Q4_K = 12,
    SD_TYPE_Q5_K = 13,
    SD_TYPE_Q6_K = 14,
    SD_TYPE_Q8_K = 15,
    SD_TYPE_IQ2_XXS = 16,
    SD_TYPE_IQ2_XS = 17,
    SD_TYPE_IQ3_XXS = 18,
    SD_TYPE_IQ1_S = 19,
    SD_TYPE_IQ4_NL = 20,
    SD_TYPE_IQ3_S = 21,
    SD_TYPE_IQ2_S = 22,
    SD_TYPE_IQ4_XS = 23,
    SD_TYPE_I8 = 24,
    SD_TYPE_I16 = 25,
    SD_TYPE_I32 = 26,
    SD_TYPE_I64 = 27,
    SD_TYPE_F64 = 28,
    SD_TYPE_IQ1_M = 29,
    SD_TYPE_BF16 = 30,
    SD_TYPE_TQ1_0 = 34,
    SD_TYPE_TQ2_0 = 35,
    SD_TYPE_MXFP4 = 39,
    SD_TYPE_COUNT = 40, /* one past the largest id; ids without a traits entry are unknown */
} sd_type;

typedef struct sd_type_traits {
    const char *name;   /* "q4_0", as ggml names it */
    int64_t block_size; /* elements per block (1 for plain types) */
    size_t type_size;   /* bytes per block */
    bool supported;     /* specdec can dequantize and multiply it */
} sd_type_traits;

/* Traits of a type id as stored in a file; NULL for an id that names no known type. */
const sd_type_traits *sd_type_traits_of(uint32_t type);

/* Bytes of one row of n elements, or 0 if n is not a multiple of the block size or the type is unknown. */
size_t sd_type_row_bytes(uint32_t type, int64_t n);

#endif
