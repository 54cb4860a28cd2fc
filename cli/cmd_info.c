/* specdec info: describe a model file. */
#include <inttypes.h>
#include <stdio.h>

#include "args.h"
#include "commands.h"

/* One weight type's line; user: the file's size in bytes (uint64_t), for the type's share of it. */
static void print_type(const char *type_name, int n_tensors, uint64_t bytes, void *user) {
    const uint64_t file_bytes = *(const uint64_t *)user;
    printf("  %-8s %4d tensors  %10.2f MiB  %5.1f%% of the file\n", type_name, n_tensors,
           (double)bytes / (1024.0 * 1024.0), file_bytes ? 100.0 * (double)bytes / (double)file_bytes : 0.0);
}

/* The draft's vocabulary against the model's, one line; 1 when the draft cannot be loaded. */
static int print_relation(const sd_model *m, const char *draft_path) {
    sd_model *d = cli_load_model(draft_path, NULL);
    if (!d) return 1;
    char err[256];
    sd_vocab_relation r;
    int rc = sd_model_vocab_relation(m, d, &r, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "specdec info: %s\n", err);
    } else if (r.same) {
        printf("draft vocabulary: the same (%d tokens", r.n_draft);
        if (r.n_padding) printf(", %d of padding", r.n_padding);
        printf("): drafts are target ids\n");
    } else {
        printf(
            "draft vocabulary: different, %d tokens; %d token strings shared (%.1f%% of the draft's, %.1f%% "
            "of the model's %d): %s\n",
            r.n_draft, r.n_shared, r.n_draft ? 100.0 * r.n_shared / r.n_draft : 0.0,
            r.n_target ? 100.0 * r.n_shared / r.n_target : 0.0, r.n_target,
            r.n_shared ? "a cross-vocabulary draft, by text" : "cannot draft for it");
    }
    sd_model_free(d);
    return rc < 0 ? 1 : 0;
}

static void info_usage(FILE *out, const cli_command *c) {
    (void)c;
    fprintf(out,
            "usage: specdec info [-m MODEL.gguf] [-md DRAFT.gguf]\n\nDescribes a GGUF model: architecture, "
            "dimensions, parameters, weight types, vocabulary, file size. With -md, also how the draft's "
            "vocabulary relates to the model's: the same, or the token strings both have.\n");
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL, *draft_path = NULL;
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &path},
        {"-md", "--model-draft", CLI_STR, .out.s = &draft_path},
        {"-h", "--help", .kind = CLI_HELP},
    };
    const cli_command c = {"info", flags, CLI_COUNT(flags), info_usage, 0, false, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    char path_buf[4096];
    if (!path && !(path = cli_bundled_model("codepair-target-q4_0.gguf", path_buf, sizeof path_buf))) {
        fprintf(stderr, "specdec: the bundled model was not found; give one with -m\n");
        return 1;
    }
    sd_model *m = cli_load_model(path, NULL);
    if (!m) return 1;
    sd_model_info in;
    sd_model_get_info(m, &in);
    printf("file:          %s\n", path);
    printf("file size:     %.2f MiB (GGUF v%u)\n", (double)in.file_bytes / (1024.0 * 1024.0),
           in.gguf_version);
    printf("architecture:  %s\n", in.arch);
    if (in.name[0]) printf("name:          %s\n", in.name);
    printf("parameters:    %" PRIu64 " (%.2f M), %.2f MiB of weights\n", in.n_params,
           (double)in.n_params / 1e6, (double)in.weight_bytes / (1024.0 * 1024.0));
    printf("layers:        %d\n", in.n_layer);
    printf("width:         %d (feed-forward %d)\n", in.n_embd, in.n_ff);
    printf("heads:         %d query, %d key/value, head dim %d\n", in.n_head, in.n_head_kv, in.head_dim);
    printf("context:       %d tokens (trained)\n", in.n_ctx_train);
    printf("rope base:     %g\n", (double)in.rope_freq_base);
    printf("output:        %s\n", in.tied_output ? "tied to the token embedding" : "own matrix");
    printf("vocabulary:    %d tokens, tokenizer %s (pre-tokenizer %s), BOS %d, EOS %d\n", in.n_vocab,
           in.tokenizer, in.pre_tokenizer, in.bos, in.eos);
    printf("weight types:\n");
    uint64_t file_bytes = in.file_bytes;
    sd_model_foreach_weight_type(m, print_type, &file_bytes);
    int rc = draft_path ? print_relation(m, draft_path) : 0;
    sd_model_free(m);
    return rc;
}
