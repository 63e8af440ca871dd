/* fuzz_csv.c - libFuzzer target for the CSV reader and the (X, Y) split.
 *
 * Build and run (from the repository root):
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_csv.c src/io/csv.c src/io/csv_split.c src/io/infile.c src/status.c -lm -o fuzz_csv
 *   ./fuzz_csv -max_total_time=60 tests/fuzz/corpus/csv
 *
 * Input: the first byte picks the --in/--out hints, the rest is the CSV text.
 * Besides crashes and sanitizer reports, it traps when a documented promise
 * breaks: a message that is not one printable line, a table not left empty
 * on failure, a non-finite value accepted, a split whose shape or values do
 * not match the table, or a table that does not survive being printed with
 * %.9g and parsed again bit-exact.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/csv.h"

#define REQUIRE(cond)          \
    do {                       \
        if (!(cond))           \
            __builtin_trap();  \
    } while (0)

/* A message is non-empty, NUL-terminated in its buffer, one line without
 * control characters, and starts with the label. */
static void check_message(const char *err, size_t errlen)
{
    const char *nul = memchr(err, '\0', errlen);
    REQUIRE(nul != NULL && nul != err);
    size_t n = (size_t)(nul - err);
    for (size_t i = 0; i < n; i++)
        REQUIRE((unsigned char)err[i] >= 0x20 && err[i] != 0x7F);
    REQUIRE(strncmp(err, "f.csv", 5) == 0);
}

/* Print t as CSV with %.9g (header if any) into a malloc'd buffer. */
static char *print_table(const csv_table *t, size_t *len)
{
    size_t cap = 64, n = 0;
    char *b = malloc(cap);
    REQUIRE(b != NULL);
    for (size_t r = 0; r < t->rows + (t->names != NULL); r++) {
        for (size_t j = 0; j < t->cols; j++) {
            char cell[64];
            const char *s = cell;
            if (t->names != NULL && r == 0) {
                s = NULL; /* names are written quoted, below */
            } else {
                size_t row = r - (t->names != NULL);
                snprintf(cell, sizeof cell, "%.9g", (double)t->data[row * t->cols + j]);
            }
            size_t need = (s != NULL ? strlen(s) : 2 * strlen(t->names[j]) + 2) + 2;
            while (n + need >= cap) {
                cap *= 2;
                char *bigger = realloc(b, cap);
                REQUIRE(bigger != NULL);
                b = bigger;
            }
            if (s != NULL) {
                n += (size_t)sprintf(b + n, "%s", s);
            } else {
                b[n++] = '"';
                for (const char *p = t->names[j]; *p != '\0'; p++) {
                    if (*p == '"')
                        b[n++] = '"';
                    b[n++] = *p;
                }
                b[n++] = '"';
            }
            b[n++] = j + 1 < t->cols ? ',' : '\n';
        }
    }
    *len = n;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* Hints 0..7 each; the top two bits set make --in negative. */
    int in_hint = data[0] & 7, out_hint = (data[0] >> 3) & 7;
    if ((data[0] & 0xC0) == 0xC0)
        in_hint = -in_hint - 1;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;

    char err[200];
    memset(err, 'Z', sizeof err);
    csv_table t;
    ld_status st = csv_parse_table(buf, len, "f.csv", &t, err, sizeof err);
    if (st != LD_OK) {
        REQUIRE(st == LD_EINPUT || st == LD_ENOMEM);
        check_message(err, sizeof err);
        REQUIRE(t.rows == 0 && t.cols == 0 && t.data == NULL && t.names == NULL);
        return 0;
    }
    REQUIRE(t.rows >= 1 && t.cols >= 1 && t.data != NULL);
    for (size_t i = 0; i < t.rows * t.cols; i++)
        REQUIRE(isfinite(t.data[i]));
    if (t.names != NULL) {
        for (size_t j = 0; j < t.cols; j++) {
            REQUIRE(t.names[j] != NULL && t.names[j][0] != '\0');
            for (size_t k = 0; k < j && t.cols <= 512; k++)
                REQUIRE(strcmp(t.names[j], t.names[k]) != 0);
        }
    }

    /* Printing the table and reading it back gives the same bits. */
    size_t plen;
    char *printed = print_table(&t, &plen);
    csv_table t2;
    st = csv_parse_table(printed, plen, "f.csv", &t2, err, sizeof err);
    REQUIRE(st == LD_OK);
    REQUIRE(t2.rows == t.rows && t2.cols == t.cols && (t2.names == NULL) == (t.names == NULL));
    REQUIRE(memcmp(t2.data, t.data, t.rows * t.cols * sizeof(float)) == 0);
    csv_table_free(&t2);
    free(printed);

    float *x, *y;
    int n, in, out;
    memset(err, 'Z', sizeof err);
    st = csv_table_split_xy(&t, in_hint, out_hint, &x, &y, &n, &in, &out, "f.csv", err,
                            sizeof err);
    if (st != LD_OK) {
        REQUIRE(st == LD_EINPUT || st == LD_ENOMEM);
        check_message(err, sizeof err);
        REQUIRE(x == NULL && y == NULL && n == 0 && in == 0 && out == 0);
    } else {
        REQUIRE(x != NULL && y != NULL && (size_t)n == t.rows && in >= 1 && out >= 1);
        REQUIRE((size_t)in + (size_t)out == t.cols);
        if (in_hint > 0)
            REQUIRE(in == in_hint);
        if (out_hint > 0)
            REQUIRE(out == out_hint);
        if (t.names == NULL) {
            for (int r = 0; r < n; r++) {
                const float *row = t.data + (size_t)r * t.cols;
                REQUIRE(memcmp(x + (size_t)r * in, row, (size_t)in * sizeof(float)) == 0);
                REQUIRE(memcmp(y + (size_t)r * out, row + in, (size_t)out * sizeof(float)) == 0);
            }
        } else {
            /* x<k> is column j whose name is "x<k>". */
            for (size_t j = 0; j < t.cols; j++) {
                const char *nm = t.names[j];
                int k = atoi(nm + 1);
                REQUIRE(nm[0] == 'x' || nm[0] == 'y');
                REQUIRE(k >= 0 && k < (nm[0] == 'x' ? in : out));
                for (int r = 0; r < n; r++) {
                    float v = nm[0] == 'x' ? x[(size_t)r * in + k] : y[(size_t)r * out + k];
                    REQUIRE(memcmp(&v, &t.data[(size_t)r * t.cols + j], sizeof v) == 0);
                }
            }
        }
    }
    free(x);
    free(y);
    csv_table_free(&t);
    return 0;
}
