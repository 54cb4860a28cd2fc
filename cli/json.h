/* JSON output, one way for every command: a document is built as a cJSON tree (cJSON also reads the
 * prompt files) and printed by cJSON. These helpers are what the commands' documents share: numbers that
 * are null when not finite, number arrays, and byte strings that may not be valid UTF-8. */
#ifndef SD_CLI_JSON_H
#define SD_CLI_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* v, or null when v is NaN or infinite. */
cJSON *cli_json_number(double v);

/* v rounded to 6 significant digits (printed as "%.6g" would write it), or null when not finite: for
 * measurements whose further digits are noise. */
cJSON *cli_json_number_6g(double v);

/* Arrays of v[0..n): numbers (null where not finite; rounded as cli_json_number_6g when round_6g) and
 * integers. */
cJSON *cli_json_numbers(const double *v, int n, bool round_6g);
cJSON *cli_json_ints(const int32_t *v, int n);

/* Writes s[0..len) as a JSON string literal into out (at least cli_json_quoted_max(len) bytes, NUL
 * added) and returns its length: quotes, backslashes and control bytes escaped, and each byte that does
 * not begin a valid UTF-8 sequence as U+FFFD, so the literal is always valid JSON. */
size_t cli_json_quote(const char *s, size_t len, char *out);
#define cli_json_quoted_max(len) (6 * (len) + 3)

/* s[0..len) (any bytes, NULs included) as a cJSON string item, escaped as cli_json_quote does; NULL when
 * out of memory. */
cJSON *cli_json_bytes(const char *s, size_t len);

/* Prints doc (on one line, or indented when formatted) and a newline to out, then deletes doc. Returns
 * false when out of memory (doc NULL included). */
bool cli_json_print(FILE *out, cJSON *doc, bool formatted);

#endif
