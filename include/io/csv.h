/* csv.h - read and write numeric CSV tables, and split them into (X, Y).
 * The reader is csv.c, the split csv_split.c, the writer csv_write.c.
 *
 * Dimension key: N samples (rows), I inputs, O outputs.
 *
 * What the reader accepts (anything else is LD_EINPUT with a one-line message
 * "<file>:<line>:<column>: <reason>", line and column 1-based, the column
 * being the index of the cell, not of the byte):
 *   - LF or CRLF line ends, a UTF-8 byte order mark at the very start, a
 *     missing final newline, blank lines before the first line and after the
 *     last data row (blank = empty or only spaces/tabs);
 *   - cells separated by ',', with spaces/tabs around them, optionally wrapped
 *     in double quotes ("1.5"); inside quotes "" stands for one '"'. A quoted
 *     cell ends on its own line: quoted line breaks are not supported, since
 *     no numeric table needs them and an unclosed quote is then reported on
 *     the line where it happens instead of swallowing the rest of the file;
 *   - an optional header: the first non-blank line is a header iff one of its
 *     cells is not a number. Cells that look like numbers but are rejected
 *     (empty, NaN/Inf, hex floats, out of float range) do not make a header,
 *     so "1,nan" is reported as a bad value rather than read as names. Header
 *     names must be non-empty and unique;
 *   - numbers in strtod's decimal syntax that fit in a float after rounding.
 *     Values too small for a float round to a subnormal or to (signed) zero,
 *     as a float conversion does; that is the nearest float, not an error.
 *     -0 is kept as -0.0f, so a write/read round trip is bit-exact.
 * What it rejects, on purpose: blank lines between data rows (a careful user
 * wants to know that the file has a hole), ragged rows, empty cells, NaN/Inf,
 * hex floats (0x1p3), NUL bytes, unterminated quotes, a carriage return
 * inside a line (old Mac CR-only line ends, which would make the file one
 * line), a byte order mark anywhere but the very start (two files joined),
 * and a file with no data rows ("<file>: no data rows").
 *
 * Locale: strtod and printf use the decimal point of LC_NUMERIC. lora_demo
 * never calls setlocale, so it runs in the "C" locale and '.' is the decimal
 * point. A program that links this module and changes LC_NUMERIC gets that
 * locale's syntax instead.
 */
#ifndef LORA_DEMO_CSV_H
#define LORA_DEMO_CSV_H

#include <stddef.h>

#include "status.h"

typedef struct {
    size_t rows;   /* data rows, header excluded; >= 1 after a successful read */
    size_t cols;   /* cells per row; >= 1 after a successful read */
    float *data;   /* (rows, cols) row-major */
    char **names;  /* (cols) header names, NULL if the file has no header */
} csv_table;

/* Read the numeric table in the file at path. On success fills *out (free it
 * with csv_table_free). On failure *out is left empty (all zero/NULL), err
 * holds one line, and the status is LD_EIO (cannot open/read: path and
 * strerror), LD_EINPUT (bad contents) or LD_ENOMEM. */
ld_status csv_read_table(const char *path, csv_table *out, char *err, size_t errlen);

/* The same, for len bytes of buf held in memory (buf need not be
 * NUL-terminated and may contain NUL bytes, which are rejected). label names
 * the input in messages, usually its file name. */
ld_status csv_parse_table(const char *buf, size_t len, const char *label, csv_table *out,
                          char *err, size_t errlen);

/* Free what a successful read allocated and zero *t. Safe on a zeroed table. */
void csv_table_free(csv_table *t);

/* Split a table into inputs x (N, I) and outputs y (N, O), both newly
 * malloc'd (the caller frees them), row-major.
 *   With a header, the columns must all be named x<k> or y<k> with
 *   k = 0, 1, 2, ... in decimal without leading zeros and without gaps, in
 *   any order in the file; x and y come out ordered by k. in_hint/out_hint
 *   are checks: 0 means "take it from the header", > 0 must equal the header's
 *   count.
 *   Without a header, in_hint and out_hint must both be > 0: the first
 *   in_hint columns are x, the next out_hint are y, and there must be no
 *   other columns.
 * Messages call the hints --in and --out, the options they come from.
 * Negative hints are LD_EINPUT. On failure *x and *y are NULL and *n, *in,
 * *out are 0. */
ld_status csv_table_split_xy(const csv_table *t, int in_hint, int out_hint, float **x,
                             float **y, int *n, int *in, int *out, const char *label,
                             char *err, size_t errlen);

/* Write x (n, in) and y (n, out) to path as CSV, atomically (atomicio.h):
 * a header "x0,...,x{in-1},y0,...,y{out-1}", then n rows, LF line ends. Each
 * value is printed with %.9g, which is enough digits for every finite float
 * to read back bit-exact (-0.0 included). n, in and out must be >= 1 and
 * every value finite (LD_EINPUT otherwise), so that whatever this writes,
 * csv_read_table reads. */
ld_status csv_write_xy(const char *path, const float *x, const float *y, int n, int in,
                       int out, char *err, size_t errlen);

#endif /* LORA_DEMO_CSV_H */
