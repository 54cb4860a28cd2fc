/* Fuzz target: arbitrary bytes as a `specdec serve` request body through serve_request_parse, for both
 * endpoints (the first byte picks chat or completions).
 * Invariants: the result is 0 or 400, never a crash or a leak; on 0 the request holds a non-empty prompt
 * or 1..SERVE_MAX_MESSAGES messages with non-NULL strings, at most SERVE_MAX_STOPS non-empty stops, and
 * sampling values within their documented ranges; on 400 the message is not empty. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    bool chat = data[0] & 1;
    sd_sampling_params defaults = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .seed = 42};
    serve_request r;
    char err[256] = "";
    int status = serve_request_parse((const char *)data + 1, size - 1, chat, &defaults, &r, err, sizeof err);
    assert(status == 0 || status == 400);
    if (status) {
        assert(err[0]);
        return 0;
    }
    if (chat) {
        assert(r.n_messages >= 1 && r.n_messages <= SERVE_MAX_MESSAGES);
        for (int i = 0; i < r.n_messages; i++)
            assert(r.messages[i].role && r.messages[i].content);
    } else {
        assert(r.prompt && r.prompt[0]);
    }
    assert(r.n_stops >= 0 && r.n_stops <= SERVE_MAX_STOPS);
    for (int i = 0; i < r.n_stops; i++)
        assert(r.stops[i][0]);
    assert(r.max_tokens >= -1 && r.sampling.temp >= 0 && r.sampling.top_p > 0 && r.sampling.top_p <= 1);
    assert(r.sampling.top_k >= 0);
    serve_request_free(&r);
    return 0;
}
