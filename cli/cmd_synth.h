/* specdec synth: write synthetic GGUF models (grown copies of a small model, random weights of a real
 * model's shape). Returns the process exit code (0 ok, 1 runtime error, 2 usage error). */
#ifndef SD_CLI_CMD_SYNTH_H
#define SD_CLI_CMD_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

int cmd_synth(int argc, char **argv);

/* A parameter count as --params takes it: "1e9", "1000000000", "20M", "1.5G" -> *out; false on anything
 * else (zero, negative, 1e15 and above included). */
bool cli_parse_count(const char *s, uint64_t *out);

#endif
