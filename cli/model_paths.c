#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"

const char *cli_bundled_model(const char *file, char *path, size_t path_len) {
    const char *dirs[] = {getenv("SPECDEC_MODELS_DIR"), SD_SOURCE_MODELS_DIR, SD_INSTALLED_MODELS_DIR};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || !dirs[i][0]) continue;
        snprintf(path, path_len, "%s/%s", dirs[i], file);
        if (access(path, R_OK) == 0) return path;
    }
    return NULL;
}
