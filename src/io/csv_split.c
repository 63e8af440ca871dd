/* csv_split.c - a numeric CSV table split into inputs X and targets Y, by
 * its x<k>/y<k> header or by --in/--out (csv.h). The reader is csv.c.
 *
 * Dimension key: N samples (rows), I inputs, O outputs.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_split.h"
#include "io/csv.h"

/* ------------------------------------------------------------------------- */
/* split into (X, Y) */

/* Parse the <k> of "x<k>": decimal digits, no sign, no leading zero except
 * "0" itself, so every index has exactly one spelling and "x01" cannot
 * silently stand in for x1. Returns 0 and sets *k, or -1. */
static int parse_index(const char *s, size_t *k)
{
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    size_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        size_t d = (size_t)(*s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *k = v;
    return 0;
}

/* Fill map (count) so that map[k] is the column named <letter><k>. The
 * header's names are unique, so each k appears at most once; with count of
 * them, any k >= count means some smaller k is missing. */
static ld_status map_columns(const csv_table *t, char letter, size_t *map, size_t count,
                             const char *label, char *err, size_t errlen)
{
    size_t kmax = 0;
    for (size_t k = 0; k < count; k++)
        map[k] = SIZE_MAX;
    for (size_t j = 0; j < t->cols; j++) {
        size_t k;
        if (t->names[j][0] != letter || parse_index(t->names[j] + 1, &k) != 0)
            continue;
        if (k < count)
            map[k] = j;
        if (k > kmax)
            kmax = k;
    }
    for (size_t k = 0; k < count; k++)
        if (map[k] == SIZE_MAX)
            return ld_fail(err, errlen, LD_EINPUT, "%s: header has %c%zu but no %c%zu", label,
                           letter, kmax, letter, k);
    return LD_OK;
}

/* The numbers of input and output columns of a table with a header: every
 * name must be x<k> or y<k>, and there must be at least one of each.
 * in_hint and out_hint, where > 0, must agree. */
ld_status csv_count_named(const csv_table *t, int in_hint, int out_hint, size_t *ni, size_t *no,
                          const char *label, char *err, size_t errlen)
{
    *ni = *no = 0;
    for (size_t j = 0; j < t->cols; j++) {
        const char *nm = t->names[j];
        size_t k;
        if ((nm[0] != 'x' && nm[0] != 'y') || parse_index(nm + 1, &k) != 0) {
            char buf[CSV_SHOW_BUF];
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: unknown column '%s' (column %zu); columns must be named "
                           "x0, x1, ... and y0, y1, ...",
                           label, csv_show(buf, sizeof buf, nm, strlen(nm)), j + 1);
        }
        if (nm[0] == 'x')
            (*ni)++;
        else
            (*no)++;
    }
    if (*ni == 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: header has no input column x0", label);
    if (*no == 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: header has no output column y0", label);
    if (in_hint > 0 && (size_t)in_hint != *ni)
        return ld_fail(err, errlen, LD_EINPUT, "%s: header has %zu input columns but --in is %d",
                       label, *ni, in_hint);
    if (out_hint > 0 && (size_t)out_hint != *no)
        return ld_fail(err, errlen, LD_EINPUT, "%s: header has %zu output columns but --out is %d",
                       label, *no, out_hint);
    return LD_OK;
}

/* The same for a table without a header: the hints say, and must cover
 * every column. */
static ld_status count_unnamed(const csv_table *t, int in_hint, int out_hint, size_t *ni,
                               size_t *no, const char *label, char *err, size_t errlen)
{
    if (in_hint == 0 || out_hint == 0)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: no header, so --in and --out must say how many of the %zu "
                       "columns are inputs and outputs",
                       label, t->cols);
    if ((size_t)in_hint + (size_t)out_hint != t->cols) /* each is <= INT_MAX: no overflow */
        return ld_fail(err, errlen, LD_EINPUT, "%s: %zu columns but --in %d + --out %d = %zu", label,
                       t->cols, in_hint, out_hint, (size_t)in_hint + (size_t)out_hint);
    *ni = (size_t)in_hint;
    *no = (size_t)out_hint;
    return LD_OK;
}

/* map (cols): the column of x<k> at map[k], then that of y<k> at
 * map[ni + k]; without a header the columns are in that order already. */
static ld_status map_xy(const csv_table *t, size_t ni, size_t no, size_t *map, const char *label,
                        char *err, size_t errlen)
{
    if (t->names == NULL) {
        for (size_t j = 0; j < t->cols; j++)
            map[j] = j;
        return LD_OK;
    }
    ld_status st = map_columns(t, 'x', map, ni, label, err, errlen);
    if (st == LD_OK)
        st = map_columns(t, 'y', map + ni, no, label, err, errlen);
    return st;
}

/* x (N, I) and y (N, O) from the table's rows, the columns taken in map's
 * order. */
static void gather_xy(const csv_table *t, const size_t *map, size_t ni, size_t no, float *x,
                      float *y)
{
    for (size_t r = 0; r < t->rows; r++) {
        const float *row = t->data + r * t->cols;
        for (size_t k = 0; k < ni; k++)
            x[r * ni + k] = row[map[k]];
        for (size_t k = 0; k < no; k++)
            y[r * no + k] = row[map[ni + k]];
    }
}

ld_status csv_table_split_xy(const csv_table *t, int in_hint, int out_hint, float **x,
                             float **y, int *n, int *in, int *out, const char *label,
                             char *err, size_t errlen)
{
    *x = *y = NULL;
    *n = *in = *out = 0;
    if (label == NULL)
        label = "(input)";
    if (t->rows == 0 || t->cols == 0 || t->data == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s: no data rows", label);
    if (t->rows > INT_MAX || t->cols > INT_MAX)
        return ld_fail(err, errlen, LD_EINPUT, "%s: table too large (%zu rows, %zu columns)",
                       label, t->rows, t->cols);
    if (in_hint < 0 || out_hint < 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: negative --in %d or --out %d", label,
                       in_hint, out_hint);
    size_t ni, no; /* every column is one of them: ni + no == cols */
    ld_status st;
    if (t->names != NULL)
        st = csv_count_named(t, in_hint, out_hint, &ni, &no, label, err, errlen);
    else
        st = count_unnamed(t, in_hint, out_hint, &ni, &no, label, err, errlen);
    if (st != LD_OK)
        return st;
    size_t nx, ny;
    if (ld_mul3_size(&nx, t->rows, ni, sizeof(float)) != 0 ||
        ld_mul3_size(&ny, t->rows, no, sizeof(float)) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", label);
    size_t *map = calloc(t->cols, sizeof *map);
    float *xs = malloc(nx > 0 ? nx : 1), *ys = malloc(ny > 0 ? ny : 1);
    if (map == NULL || xs == NULL || ys == NULL)
        st = ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", label);
    else
        st = map_xy(t, ni, no, map, label, err, errlen);
    if (st == LD_OK)
        gather_xy(t, map, ni, no, xs, ys);
    free(map);
    if (st != LD_OK) {
        free(xs);
        free(ys);
        return st;
    }
    *x = xs;
    *y = ys;
    *n = (int)t->rows;
    *in = (int)ni;
    *out = (int)no;
    return LD_OK;
}
