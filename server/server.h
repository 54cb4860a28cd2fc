/* `specdec serve`: an OpenAI-compatible HTTP server over the engine API (include/specdec.h only), on
 * libmicrohttpd with one thread per connection. N slots each own an engine (and so its KV caches); a
 * request waits for a free slot in a bounded queue. The server prints nothing: the command reports. */
#ifndef SD_SERVER_SERVER_H
#define SD_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "specdec.h"

typedef struct serve_config {
    const char *host;     /* numeric IPv4 address to listen on */
    uint16_t port;        /* 0: any free port (serve_port tells which) */
    const char *api_key;  /* NULL: no authentication */
    int n_parallel;       /* slots */
    int n_queue;          /* requests that may wait for a slot beyond the busy ones */
    size_t max_body;      /* bytes */
    int32_t n_predict;    /* max_tokens when a request gives none */
    unsigned timeout_s;   /* an idle connection is closed after this many seconds */
    const char *model_id; /* the name /v1/models lists */
    sd_model *target, *draft;
    sd_engine_params engine;           /* for every slot; sampling is the default of each request */
    const sd_chat_template *chat_tmpl; /* NULL: /v1/chat/completions answers 400 */
} serve_config;

typedef struct serve_server serve_server;

/* Creates the slots' engines and starts listening. Returns 0, or a negative SD_ERR_* with err. cfg's
 * strings and models must outlive the server. */
int serve_start(const serve_config *cfg, serve_server **out, char *err, size_t err_len);

/* The port the server listens on. */
uint16_t serve_port(const serve_server *s);

/* Stops cleanly: generations in flight end (streams with an error event), waiting requests get 503, the
 * listener and every connection close; then frees everything. */
void serve_stop(serve_server *s);

#endif
