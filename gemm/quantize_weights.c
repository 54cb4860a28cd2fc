/* Weight quantizers (reference implementations with ggml's rounding). */
#include "quantize_weights.h"

#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "quant.h"

void sd_quantize_row_q4_0_ref(const float *x, sd_block_q4_0 *y, int64_t k) {
    const int64_t nb = k / SD_QK4_0;
    for (int64_t i = 0; i < nb; i++, x += SD_QK4_0) {
        float amax = 0.0f, max = 0.0f; /* largest magnitude, and that value with its sign */
        for (int j = 0; j < SD_QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        /* The extreme value becomes -8 * d, so the 16 levels -8..7 cover it exactly on its side. */
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = sd_fp32_to_fp16(d);
        for (int j = 0; j < SD_QK4_0 / 2; j++) {
            /* x * id + 8.5 lies in [0.5, 16.5]: the int8 cast truncates, i.e. rounds half up. */
            int q0 = (int8_t)(x[j] * id + 8.5f);
            int q1 = (int8_t)(x[j + SD_QK4_0 / 2] * id + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void sd_quantize_row_f16_ref(const float *x, uint16_t *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = sd_fp32_to_fp16(x[i]);
}

int sd_quantize_type_supported(sd_type type) {
    return type == SD_TYPE_F32 || type == SD_TYPE_F16 || type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0;
}

int sd_quantize_rows(sd_type type, const float *x, void *dst, int64_t n_rows, int64_t k) {
    if (!sd_quantize_type_supported(type)) return SD_STATUS_UNSUPPORTED;
    const size_t row_bytes = sd_type_row_bytes(type, k);
    if (row_bytes == 0) return SD_STATUS_INVALID_ARGUMENT;
    uint8_t *out = dst;
    for (int64_t r = 0; r < n_rows; r++, x += k, out += row_bytes) {
        switch (type) {
        case SD_TYPE_F32:
            memcpy(out, x, row_bytes);
            break;
        case SD_TYPE_F16:
            sd_quantize_row_f16_ref(x, (uint16_t *)(void *)out, k);
            break;
        case SD_TYPE_Q4_0:
            sd_quantize_row_q4_0_ref(x, (sd_block_q4_0 *)(void *)out, k);
            break;
        default: /* SD_TYPE_Q8_0 */
            sd_quantize_row_q8_0_ref(x, (sd_block_q8_0 *)(void *)out, k);
            break;
        }
    }
    return SD_STATUS_OK;
}
