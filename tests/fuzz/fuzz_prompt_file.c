/* Fuzz target: the CLI's prompt-file path. The input is written to a temporary file, read back with
 * cli_read_file (cli/args.c) and tokenized as `specdec generate -f FILE` does (add_special, no special
 * parsing) with the vocabulary the first byte picks (bit 0: llama-spm or gpt-2).
 * Invariants: the reader returns exactly the file's bytes plus a NUL (embedded NULs, no newline at the
 * end, any size); tokenizing those bytes never fails. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "fuzz_vocabs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One temporary file per process, rewritten for every input and removed at exit. */
static char tmp_path[64];

static void remove_tmp(void) {
    if (tmp_path[0]) unlink(tmp_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_vocabs_get();
    return 0;
}

static const char *tmp_file(void) {
    if (tmp_path[0]) return tmp_path;
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/sd-fuzz-prompt-XXXXXX", dir && strlen(dir) < 32 ? dir : "/tmp");
    int fd = mkstemp(tmp_path);
    FUZZ_REQUIRE(fd >= 0, "cannot create %s", tmp_path);
    close(fd);
    atexit(remove_tmp);
    return tmp_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_vocabs *fv = fuzz_vocabs_get();
    const char *path = tmp_file();
    FILE *f = fopen(path, "wb");
    FUZZ_REQUIRE(f != NULL, "cannot write %s", path);
    FUZZ_REQUIRE(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);

    size_t len = (size_t)-1;
    char *text = cli_read_file(path, &len);
    FUZZ_REQUIRE(text != NULL, "cli_read_file failed on a readable %zu-byte file", size);
    FUZZ_REQUIRE(len == size, "cli_read_file gave %zu bytes of %zu", len, size);
    FUZZ_REQUIRE(memcmp(text, data, size) == 0 && text[len] == '\0', "cli_read_file changed the bytes");

    const sd_vocab *v = fv->v[size ? data[0] & 1 : 0];
    char err[256] = "";
    int n = sd_tokenize(v, text, len, true, false, NULL, 0, err, sizeof err);
    if (n < 0) fuzz_check_message(err);
    FUZZ_REQUIRE(n >= 0, "tokenizing a %zu-byte prompt file failed: %s", len, err);
    int32_t *ids = malloc(((size_t)n ? (size_t)n : 1) * sizeof *ids);
    FUZZ_REQUIRE(ids != NULL, "out of memory");
    FUZZ_REQUIRE(sd_tokenize(v, text, len, true, false, ids, n, err, sizeof err) == n, "count changed");
    free(ids);
    free(text);
    return 0;
}
