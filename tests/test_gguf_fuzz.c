/* Fuzz target for the GGUF reader: any bytes must either be refused with a printable message or open
 * into a handle whose every exposed byte lies inside the input.
 *
 * As a libFuzzer target (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DSD_LIBFUZZER -D_GNU_SOURCE -I. -Iinclude \
 *     tests/test_gguf_fuzz.c gguf/gguf.c common/sd_weight_type.c common/sd_common.c \
 *     common/sd_hash.c common/sd_strtab.c -o fuzz_gguf
 *   ./fuzz_gguf -max_len=65536 corpus/
 * Without SD_LIBFUZZER it is a program that runs the target over the files named on its command line
 * (meson test 'gguf_fuzz_replay' replays the bundled files through it, which catches rot). */
#include "gguf/gguf.h"

#include "common/sd_common.h"
#include "common/sd_weight_type.h"
#include "tests/test_gguf_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte the handle exposes (tests/test_gguf_util.h) and the typed getters on the keys models use;
 * returns a checksum so the reads cannot be optimised away. */
static uint64_t touch_all(const sd_gguf *g) {
    int broken = 0;
    uint64_t sum = gguf_walk(g, &broken);
    if (broken) abort();
    char err[256];
    uint32_t u;
    int32_t s;
    float f;
    bool b;
    sd_gguf_str str;
    const sd_gguf_kv *arr;
    sum += (uint64_t)sd_gguf_get_u32(g, "general.alignment", &u, err, sizeof err);
    sum += (uint64_t)sd_gguf_get_i32(g, "llama.block_count", &s, err, sizeof err);
    sum += (uint64_t)sd_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, err, sizeof err);
    sum += (uint64_t)sd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, err, sizeof err);
    sum += (uint64_t)sd_gguf_get_str(g, "general.architecture", &str, err, sizeof err);
    sum += (uint64_t)sd_gguf_get_arr(g, "tokenizer.ggml.tokens", SD_GGUF_STRING, &arr, err, sizeof err);
    sum += sd_gguf_find_tensor(g, "token_embd.weight") != NULL;
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that ASan sees a read one byte past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    char err[256] = "";
    sd_gguf *g = NULL;
    int rc = sd_gguf_open_memory(copy, size, &g, err, sizeof err);
    if (rc == 0) {
        volatile uint64_t sink = touch_all(g);
        (void)sink;
        sd_gguf_close(g);
    } else {
        if (err[0] == '\0') abort();
        for (const char *c = err; *c; c++) {
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) abort();
        }
    }
    free(copy);
    return 0;
}

#ifndef SD_LIBFUZZER
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
        size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
        fclose(f);
        if (!buf || got != (size_t)n) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            free(buf);
            return 1;
        }
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
    }
    printf("gguf_fuzz_replay: %d file(s) replayed\n", argc - 1);
    return 0;
}
#endif
