/* Minimal JSON output for --json reports (reading JSON uses cJSON). */
#ifndef SD_CLI_JSON_WRITER_H
#define SD_CLI_JSON_WRITER_H

#include <stddef.h>
#include <stdio.h>

/* Writes s[0..len) as a JSON string literal, escaping quotes, control bytes and invalid UTF-8 (as
 * U+FFFD), so the output is always valid JSON. */
void json_write_string(FILE *out, const char *s, size_t len);

/* Writes a finite double, or null for NaN/inf. */
void json_write_number(FILE *out, double v);

#endif
