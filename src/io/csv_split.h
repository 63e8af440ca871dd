/* csv_split.h - what the CSV reader (csv.c) and the split (csv_split.c)
 * share: private to src/io/.
 */
#ifndef LORA_DEMO_IO_CSV_SPLIT_H
#define LORA_DEMO_IO_CSV_SPLIT_H

#include <stddef.h>

#include "io/csv.h"

/* How much of an offending cell a message quotes, and the room csv_show
 * needs for it: every byte may become a 4-byte escape, plus "..." and NUL. */
#define CSV_SHOW_MAX 32
#define CSV_SHOW_BUF (CSV_SHOW_MAX * 4 + 16)

/* Render len bytes of s for a message into dst: at most CSV_SHOW_MAX bytes
 * (cut on a UTF-8 character boundary, then "..."), control characters and
 * '\' escaped, so the message stays one printable line (csv.c). */
const char *csv_show(char *dst, size_t dstlen, const char *s, size_t len);

/* The inputs *ni and targets *no a header of x<k>/y<k> names: every name
 * must be one of them, at least one of each, and in_hint and out_hint,
 * where > 0, must agree. The reader checks a file's first line with it. */
ld_status csv_count_named(const csv_table *t, int in_hint, int out_hint, size_t *ni, size_t *no,
                          const char *label, char *err, size_t errlen);

#endif /* LORA_DEMO_IO_CSV_SPLIT_H */
