/* Internal helpers shared by every part of libspecdec: status codes, error messages, time.
 * Library code never prints: it fills a caller-supplied message buffer and returns a status. */
#ifndef SD_COMMON_H
#define SD_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Status codes: 0 is success, every failure is negative. The public header mirrors these values. */
enum {
    SD_STATUS_OK = 0,
    SD_STATUS_INVALID_ARGUMENT = -1, /* a parameter out of range, a bad flag value */
    SD_STATUS_IO = -2,               /* a file could not be opened, read or mapped */
    SD_STATUS_FORMAT = -3,           /* a file is corrupt, truncated or hostile */
    SD_STATUS_UNSUPPORTED = -4,      /* valid input that this build cannot handle (arch, weight type) */
    SD_STATUS_NO_MEMORY = -5,        /* an allocation failed */
    SD_STATUS_CONTEXT_FULL = -6,     /* the prompt or generation does not fit the context */
    SD_STATUS_MISMATCH = -7,         /* two inputs that must agree do not (draft vs target vocabulary) */
    SD_STATUS_INTERNAL = -8,         /* a broken invariant: a bug */
};

/* Writes a printf-style message into err[0..err_len) (always NUL-terminated when err_len > 0) and
 * returns `status`, so a failing path reads `return sd_error(err, err_len, SD_STATUS_FORMAT, "...")`.
 * err may be NULL. */
int sd_error(char *err, size_t err_len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Monotonic wall-clock time in seconds. */
double sd_time_seconds(void);

#define SD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SD_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
