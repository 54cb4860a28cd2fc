/* specdec synth: write synthetic GGUF models (grown copies of a small model, random weights of a real
 * model's shape). Returns the process exit code (0 ok, 1 runtime error, 2 usage error). */
#ifndef SD_CLI_CMD_SYNTH_H
#define SD_CLI_CMD_SYNTH_H

int cmd_synth(int argc, char **argv);

#endif
