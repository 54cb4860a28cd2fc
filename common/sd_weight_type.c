#include "sd_weight_type.h"

/* Indexed by ggml type id. Sizes follow ggml's block structs; ids ggml retired are left empty. */
static const sd_type_traits type_traits[SD_TYPE_COUNT] = {
    [SD_TYPE_F32] = {"f32", 1, 4, true},
    [SD_TYPE_F16] = {"f16", 1, 2, true},
    [SD_TYPE_Q4_0] = {"q4_0", 32, 18, true},
    [SD_TYPE_Q4_1] = {"q4_1", 32, 20, true},
    [SD_TYPE_Q5_0] = {"q5_0", 32, 22, true},
    [SD_TYPE_Q5_1] = {"q5_1", 32, 24, true},
    [SD_TYPE_Q8_0] = {"q8_0", 32, 34, true},
    [SD_TYPE_Q8_1] = {"q8_1", 32, 36, false},
    [SD_TYPE_Q2_K] = {"q2_K", 256, 84, true},
    [SD_TYPE_Q3_K] = {"q3_K", 256, 110, true},
    [SD_TYPE_Q4_K] = {"q4_K", 256, 144, true},
    [SD_TYPE_Q5_K] = {"q5_K", 256, 176, true},
    [SD_TYPE_Q6_K] = {"q6_K", 256, 210, true},
    [SD_TYPE_Q8_K] = {"q8_K", 256, 292, false},
    [SD_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66, false},
    [SD_TYPE_IQ2_XS] = {"iq2_xs", 256, 74, false},
    [SD_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98, false},
    [SD_TYPE_IQ1_S] = {"iq1_s", 256, 50, false},
    [SD_TYPE_IQ4_NL] = {"iq4_nl", 32, 18, true},
    [SD_TYPE_IQ3_S] = {"iq3_s", 256, 110, false},
    [SD_TYPE_IQ2_S] = {"iq2_s", 256, 82, false},
    [SD_TYPE_IQ4_XS] = {"iq4_xs", 256, 136, true},
    [SD_TYPE_I8] = {"i8", 1, 1, false},
    [SD_TYPE_I16] = {"i16", 1, 2, false},
    [SD_TYPE_I32] = {"i32", 1, 4, false},
    [SD_TYPE_I64] = {"i64", 1, 8, false},
    [SD_TYPE_F64] = {"f64", 1, 8, false},
    [SD_TYPE_IQ1_M] = {"iq1_m", 256, 56, false},
    [SD_TYPE_BF16] = {"bf16", 1, 2, true},
    [SD_TYPE_TQ1_0] = {"tq1_0", 256, 54, false},
    [SD_TYPE_TQ2_0] = {"tq2_0", 256, 66, false},
    [SD_TYPE_MXFP4] = {"mxfp4", 32, 17, false},
};

const sd_type_traits *sd_type_traits_of(uint32_t type) {
    if (type >= SD_TYPE_COUNT || type_traits[type].name == NULL) return NULL;
    return &type_traits[type];
}

size_t sd_type_row_bytes(uint32_t type, int64_t n) {
    const sd_type_traits *t = sd_type_traits_of(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
