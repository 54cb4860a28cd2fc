#include "cpu/background.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/sd_common.h"

struct sd_background {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sd_background_job job; /* the job to run; NULL when idle */
    void *arg;
    bool busy; /* a job was handed over and has not finished */
    bool stop;
    const sd_pool *pin_to;
};

static void *background_main(void *p) {
    sd_background *b = p;
    if (b->pin_to) sd_pool_pin_caller(b->pin_to);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->job && !b->stop)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop) break;
        sd_background_job job = b->job;
        void *arg = b->arg;
        pthread_mutex_unlock(&b->mu);
        job(arg);
        pthread_mutex_lock(&b->mu);
        b->job = NULL;
        b->busy = false;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int sd_background_create(sd_background **out, const sd_pool *pin_to, char *err, size_t err_len) {
    *out = NULL;
    sd_background *b = calloc(1, sizeof *b);
    if (!b) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    b->pin_to = pin_to;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, background_main, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "cannot start the drafting thread");
    }
    *out = b;
    return SD_STATUS_OK;
}

void sd_background_free(sd_background *b) {
    if (!b) return;
    sd_background_wait(b);
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

void sd_background_start(sd_background *b, sd_background_job job, void *arg) {
    pthread_mutex_lock(&b->mu);
    b->job = job;
    b->arg = arg;
    b->busy = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void sd_background_wait(sd_background *b) {
    pthread_mutex_lock(&b->mu);
    while (b->busy)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}
