/* One thread that runs one job at a time while its owner does something else: the pipelined schedule
 * drafts the next round on it while the target verifies on the calling thread. */
#ifndef SD_BACKGROUND_H
#define SD_BACKGROUND_H

#include <stddef.h>

#include "cpu/threadpool.h"

typedef struct sd_background sd_background;

typedef void (*sd_background_job)(void *arg);

/* Starts the thread; if pin_to is not NULL the thread pins itself to that pool's first CPU (it becomes
 * worker 0 of the pool when the job dispatches on it). */
int sd_background_create(sd_background **out, const sd_pool *pin_to, char *err, size_t err_len);
void sd_background_free(sd_background *b);

/* Hands a job to the thread; the previous job must have been waited for. */
void sd_background_start(sd_background *b, sd_background_job job, void *arg);

/* Returns once the job handed over last has finished (at once if none is running). */
void sd_background_wait(sd_background *b);

#endif
