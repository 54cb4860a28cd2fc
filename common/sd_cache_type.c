/* The KV cache types' names (include/specdec.h), as llama.cpp's -ctk/-ctv spell them. */
#include <string.h>

#include "common/sd_common.h"
#include "specdec.h"

static const char *const cache_type_names[] = {
    [SD_CACHE_F16] = "f16", [SD_CACHE_F32] = "f32", [SD_CACHE_Q8_0] = "q8_0"};

const char *sd_cache_type_name(sd_cache_type type) {
    return (unsigned)type < sizeof cache_type_names / sizeof cache_type_names[0] ? cache_type_names[type]
                                                                                 : "?";
}

int sd_cache_type_from_name(const char *name, sd_cache_type *out, char *err, size_t err_len) {
    for (unsigned t = 0; name && t < sizeof cache_type_names / sizeof cache_type_names[0]; t++)
        if (strcmp(name, cache_type_names[t]) == 0) {
            *out = (sd_cache_type)t;
            return SD_STATUS_OK;
        }
    return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown KV cache type '%s' (f16, f32, q8_0)",
                    name ? name : "(null)");
}
