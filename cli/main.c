/* specdec: command-line entry point; dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cmd_synth.h"
#include "commands.h"

static void usage(FILE *out) {
    fprintf(
        out,
        "specdec %s - speculative decoding for LLMs on CPUs\n"
        "\n"
        "usage: specdec COMMAND [flags]   (specdec COMMAND --help for its flags)\n"
        "\n"
        "commands:\n"
        "  demo           show what speculation buys: a grown 1e9-parameter target, plain vs speculative\n"
        "  generate       generate text from a prompt (default: the bundled model)\n"
        "  chat           talk to a model in its chat template, turn by turn (the cache is kept)\n"
        "  serve          an OpenAI-compatible HTTP server (completions, chat, streaming, metrics)\n"
        "  tokenize       print the tokens of a text\n"
        "  info           describe a GGUF model file\n"
        "  chat-template  print the prompt a JSON conversation becomes in a model's chat template\n"
        "  synth          write a synthetic model (grown copy of a model, or a real model's shape)\n"
        "  bench          speculative vs plain decoding for a model pair on this machine: speed-ups and why\n"
        "  bench-gemm     benchmark the quantized matrix products against memory bandwidth\n"
        "  bench-forward  time one forward pass of n tokens, split by operation (verify cost)\n"
        "  bench-replay   compare draft-length policies on recorded drafts, without timing noise\n"
        "  help           this text\n"
        "  version        print the version\n",
        SPECDEC_VERSION_STRING);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: specdec COMMAND [flags] (see specdec --help)\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "demo") == 0) return cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "generate") == 0) return cmd_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "chat") == 0) return cmd_chat(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "chat-template") == 0) return cmd_chat_template(argc - 1, argv + 1);
    if (strcmp(cmd, "synth") == 0) return cmd_synth(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return sd_bench_spec_main(argc - 1, argv + 1);
    if (strcmp(cmd, "bench-gemm") == 0) return sd_bench_gemm_main(argc - 1, argv + 1);
    if (strcmp(cmd, "bench-forward") == 0) return sd_bench_forward_main(argc - 1, argv + 1);
    if (strcmp(cmd, "bench-replay") == 0) return sd_bench_replay_main(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("specdec %s\n", SPECDEC_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "specdec: unknown command '%s' (see specdec --help)\n", cmd);
    return 2;
}
