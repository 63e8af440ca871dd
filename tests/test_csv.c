/* test_csv.c - the CSV reader, the (X, Y) split and the writer.
 *
 * Most cases parse from memory with csv_parse_table, so the input bytes are
 * right next to the message they must produce. Files are used for the round
 * trip and for I/O errors.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "io/csv.h"
#include "io/infile.h"
#include "test.h"

/* Parse a string literal (its NUL terminator excluded, inner NULs kept). */
#define PARSE(lit, out, err) csv_parse_table((lit), sizeof(lit) - 1, "d.csv", (out), (err), sizeof(err))

/* The input must be rejected with LD_EINPUT and exactly this message. */
static void expect_reject(const char *what, const char *buf, size_t len, const char *msg)
{
    csv_table t;
    char err[256] = "";
    ld_status st = csv_parse_table(buf, len, "d.csv", &t, err, sizeof err);
    CHECK(st == LD_EINPUT, "%s: status %d, want bad input (%d)", what, (int)st, (int)LD_EINPUT);
    CHECK(strcmp(err, msg) == 0, "%s: message\n  got  '%s'\n  want '%s'", what, err, msg);
    CHECK(t.data == NULL && t.names == NULL && t.rows == 0 && t.cols == 0,
          "%s: table not left empty on failure", what);
    csv_table_free(&t);
}
#define REJECT(lit, msg) expect_reject(#lit, lit, sizeof(lit) - 1, msg)

/* The input must parse to rows x cols equal to want (row-major) and, if
 * names is non-NULL, a header "a,b,..." given as one comma-joined string. */
static void expect_table(const char *what, const char *buf, size_t len, size_t rows,
                         size_t cols, const float *want, const char *names)
{
    csv_table t;
    char err[256] = "";
    ld_status st = csv_parse_table(buf, len, "d.csv", &t, err, sizeof err);
    CHECK(st == LD_OK, "%s: %s", what, err);
    if (st != LD_OK)
        return;
    CHECK(t.rows == rows && t.cols == cols, "%s: shape %zux%zu, want %zux%zu", what, t.rows,
          t.cols, rows, cols);
    if (t.rows == rows && t.cols == cols)
        CHECK(memcmp(t.data, want, rows * cols * sizeof *want) == 0, "%s: values differ", what);
    if (names == NULL) {
        CHECK(t.names == NULL, "%s: unexpected header", what);
    } else if (t.names == NULL) {
        CHECK(0, "%s: header not detected", what);
    } else {
        char joined[256] = "";
        for (size_t j = 0; j < t.cols; j++) {
            const size_t used = strlen(joined);
            snprintf(joined + used, sizeof joined - used, "%s%s", j > 0 ? "," : "", t.names[j]);
        }
        CHECK(strcmp(joined, names) == 0, "%s: names '%s', want '%s'", what, joined, names);
    }
    csv_table_free(&t);
}
#define ACCEPT(lit, rows, cols, want, names) \
    expect_table(#lit, lit, sizeof(lit) - 1, rows, cols, want, names)

static void test_accepted_forms(void)
{
    static const float v12[] = {1.5f, -2.0f, 3.0f, 4.25f};
    ACCEPT("x0,y0\n1.5,-2\n3,4.25\n", 2, 2, v12, "x0,y0");
    ACCEPT("x0,y0\r\n1.5,-2\r\n3,4.25\r\n", 2, 2, v12, "x0,y0");
    ACCEPT("\xEF\xBB\xBFx0,y0\n1.5,-2\n3,4.25\n", 2, 2, v12, "x0,y0");
    ACCEPT("x0,y0\n1.5,-2\n3,4.25", 2, 2, v12, "x0,y0");
    ACCEPT("x0,y0\r\n1.5,-2\r\n3,4.25", 2, 2, v12, "x0,y0");
    ACCEPT("\"x0\",\"y0\"\n\"1.5\",\"-2\"\n3,\"4.25\"\n", 2, 2, v12, "x0,y0");
    ACCEPT(" x0 ,\ty0\t\n  1.5\t, -2 \n\t\"3\" , \"4.25\"\t\n", 2, 2, v12, "x0,y0");
    ACCEPT("x0,y0\n1.5,-2\n3,4.25\n\n\r\n  \n\t\n", 2, 2, v12, "x0,y0");
    ACCEPT("\n\r\n  \nx0,y0\n1.5,-2\n3,4.25\n", 2, 2, v12, "x0,y0");
    ACCEPT("1.5,-2\n3,4.25\n", 2, 2, v12, NULL);
    /* other characters that start with byte EF are not a byte order mark */
    ACCEPT("\xEF\xBC\x8C,y\n1.5,-2\n3,4.25\n", 2, 2, v12, "\xEF\xBC\x8C,y");
    ACCEPT("\xEF\xBB\xBF" "1.5,-2\r\n3,4.25", 2, 2, v12, NULL);
    /* "" inside a quoted header name is one quote; quotes keep inner spaces. */
    ACCEPT("\"a\"\"b\",\" c \",\"\"\"\"\n1.5,-2,3\n", 1, 3, ((const float[]){1.5f, -2.0f, 3.0f}),
           "a\"b, c ,\"");
    /* Decimal forms strtod takes: exponent, leading '+', bare '.', denormal. */
    ACCEPT("+1e2,.5,5.,-1E-2,1e-45\n", 1, 5,
           ((const float[]){100.0f, 0.5f, 5.0f, -0.01f, 1e-45f}), NULL);
    /* Too small for a float rounds to zero, keeping the sign; FLT_MAX's own
     * %.9g text is above FLT_MAX as a double but rounds to it. */
    ACCEPT("1e-60,-1e-400,3.40282347e+38\n", 1, 3, ((const float[]){0.0f, -0.0f, FLT_MAX}),
           NULL);
}

static void test_rejections(void)
{
    REJECT("", "d.csv: no data rows");
    REJECT("\xEF\xBB\xBF", "d.csv: no data rows");
    REJECT("\n\r\n \n", "d.csv: no data rows");
    REJECT("x0,y0\n", "d.csv: no data rows");
    REJECT("x0,y0\n\n\n", "d.csv: no data rows");
    REJECT("x0,y0\n1,2\n3\n", "d.csv:3:2: expected 2 cells, found 1");
    REJECT("x0,y0\n1,2\n3,4,5\n", "d.csv:3:3: expected 2 cells, found 3");
    REJECT("x0,y0\n1,2\n3,4,\n", "d.csv:3:3: expected 2 cells, found 3");
    REJECT("1,2\n3,abc\n", "d.csv:2:2: not a number: 'abc'");
    REJECT("x0,y0\n1,2\n3,1.5.2\n", "d.csv:3:2: not a number: '1.5.2'");
    REJECT("x0,y0\n1,\" 2\"\n", "d.csv:2:2: not a number: ' 2'");
    REJECT("x0,y0\r\n1,2\r\r\n",
           "d.csv:2:2: carriage return inside a line (old Mac CR-only line ends?); lines must end "
           "in LF or CRLF");
    /* old Mac CR-only line ends: the whole file is one line */
    REJECT("x0,y0\r1,2\r3,4\r",
           "d.csv:1:2: carriage return inside a line (old Mac CR-only line ends?); lines must end "
           "in LF or CRLF");
    REJECT("1,2\r3,4",
           "d.csv:1:2: carriage return inside a line (old Mac CR-only line ends?); lines must end "
           "in LF or CRLF");
    REJECT("x0,y0\n1,2\n3\r,4\n",
           "d.csv:3:1: carriage return inside a line (old Mac CR-only line ends?); lines must end "
           "in LF or CRLF");
    /* a byte order mark past the very start: written twice, two files joined, in a cell */
    REJECT("\xEF\xBB\xBF\xEF\xBB\xBFx0,y0\n1,2\n",
           "d.csv:1:1: byte order mark (U+FEFF) inside the file; only its very start may have one "
           "(two files joined?)");
    REJECT("\xEF\xBB\xBFx0,y0\n1,2\n\xEF\xBB\xBFx0,y0\n3,4\n",
           "d.csv:3:1: byte order mark (U+FEFF) inside the file; only its very start may have one "
           "(two files joined?)");
    REJECT("x0,y0\n1,\"\xEF\xBB\xBF" "2\"\n",
           "d.csv:2:2: byte order mark (U+FEFF) inside the file; only its very start may have one "
           "(two files joined?)");
    REJECT("x0,y0\n1,2\xEF\xBB\n", "d.csv:2:2: not a number: '2\xEF\xBB'");
    /* other leading space in a cell is not trimmed, and not a number */
    REJECT("x0,y0\n1,\x0b" "2\n", "d.csv:2:2: not a number: '\\x0b2'");
    REJECT("x0,y0\n1,\x0c" "2\n", "d.csv:2:2: not a number: '\\x0c2'");
    /* Long cells are cut to 32 bytes, on a UTF-8 boundary (e2 82 ac = euro). */
    REJECT("x0,y0\n1,abcdefghijklmnopqrstuvwxyz01234567\n",
           "d.csv:2:2: not a number: 'abcdefghijklmnopqrstuvwxyz012345...'");
    REJECT("x0,y0\n1,abcdefghijklmnopqrstuvwxyz01234\xe2\x82\xac\n",
           "d.csv:2:2: not a number: 'abcdefghijklmnopqrstuvwxyz01234...'");
    REJECT("x0,y0\n1,\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
           "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\n",
           "d.csv:2:2: not a number: '\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
           "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80...'");
    REJECT("x0,y0\n1,2\n3,\n", "d.csv:3:2: empty cell");
    REJECT("x0,y0\n,2\n", "d.csv:2:1: empty cell");
    REJECT("x0,y0\n1,\"\"\n", "d.csv:2:2: empty cell");
    REJECT("x0,y0\n1,2\n3,nan\n", "d.csv:3:2: NaN/Inf not allowed: 'nan'");
    REJECT("x0,y0\n1,2\n3,-Infinity\n", "d.csv:3:2: NaN/Inf not allowed: '-Infinity'");
    REJECT("x0,y0\n1,2\n3,INF\n", "d.csv:3:2: NaN/Inf not allowed: 'INF'");
    REJECT("x0,y0\n1,NaN(123)\n", "d.csv:2:2: NaN/Inf not allowed: 'NaN(123)'");
    /* A first line of numbers and NaN is data with a bad cell, not a header. */
    REJECT("1,nan\n1,2\n", "d.csv:1:2: NaN/Inf not allowed: 'nan'");
    REJECT("x0,y0\n0x1p3,2\n", "d.csv:2:1: hex float not allowed: '0x1p3'");
    REJECT("x0,y0\n1,-0X10\n", "d.csv:2:2: hex float not allowed: '-0X10'");
    REJECT("x0,y0\n1,1e39\n", "d.csv:2:2: out of float range: '1e39'");
    REJECT("x0,y0\n1,-3.5e38\n", "d.csv:2:2: out of float range: '-3.5e38'");
    REJECT("x0,y0\n1,1e999\n", "d.csv:2:2: out of float range: '1e999'");
    /* FLT_MAX + half an ulp is the first value that rounds to infinity. */
    REJECT("x0,y0\n1,340282356779733661637539395458142568448\n",
           "d.csv:2:2: out of float range: '34028235677973366163753939545814...'");
    REJECT("x0,y0\n1,2\n\n3,4\n",
           "d.csv:3:1: blank line inside the table (blank lines are allowed only at the end)");
    REJECT("x0,y0\r\n\r\n1,2\r\n",
           "d.csv:2:1: blank line inside the table (blank lines are allowed only at the end)");
    REJECT("1,2\n \t\n\n3,4\n",
           "d.csv:2:1: blank line inside the table (blank lines are allowed only at the end)");
    REJECT("x0,y0\n1,\"2\n", "d.csv:2:2: unterminated quoted cell");
    REJECT("x0,y0\n\"1,2\n3,4\n", "d.csv:2:1: unterminated quoted cell");
    REJECT("x0,y0\n\"1\"x,2\n", "d.csv:2:1: text after the closing quote");
    REJECT("x0,y0\n1,2\"3\n", "d.csv:2:2: '\"' inside an unquoted cell");
    REJECT("x0,y0\n1,2\0\n", "d.csv:2:2: NUL byte");
    REJECT("x0,y0\n1,\"\0\"\n", "d.csv:2:2: NUL byte");
    REJECT("x0,y0\n1,2\n\0", "d.csv:3:1: NUL byte");
    REJECT("x0,,y0\n1,2,3\n", "d.csv:1:2: empty column name in the header");
    REJECT("x0,y0,\"\"\n1,2,3\n", "d.csv:1:3: empty column name in the header");
    REJECT("x0,y0,x1,y0,x0\n1,2,3,4,5\n", "d.csv:1:4: duplicate column name 'y0' (also column 2)");
    REJECT("a,b,c,c,b\n1,2,3,4,5\n", "d.csv:1:4: duplicate column name 'c' (also column 3)");
    /* The earliest repeat wins even when its name sorts first. */
    REJECT("b,a,a,b\n1,2,3,4\n", "d.csv:1:3: duplicate column name 'a' (also column 2)");
    REJECT("\"x\ty\",\"x\ty\"\n1,2\n", "d.csv:1:2: duplicate column name 'x\\ty' (also column 1)");
    REJECT("\n\nx0,y0\n1\n", "d.csv:4:2: expected 2 cells, found 1");
}

/* Split src (a literal) and compare with the expected x, y and dimensions. */
static void expect_split(const char *what, const char *src, size_t len, int in_hint,
                         int out_hint, int n, int in, int out, const float *wx,
                         const float *wy)
{
    csv_table t;
    char err[256] = "";
    if (csv_parse_table(src, len, "d.csv", &t, err, sizeof err) != LD_OK) {
        CHECK(0, "%s: parse: %s", what, err);
        return;
    }
    float *x, *y;
    int gn, gi, go;
    ld_status st = csv_table_split_xy(&t, in_hint, out_hint, &x, &y, &gn, &gi, &go, "d.csv", err,
                                      sizeof err);
    CHECK(st == LD_OK, "%s: split: %s", what, err);
    if (st == LD_OK) {
        CHECK(gn == n && gi == in && go == out, "%s: dims %d,%d,%d want %d,%d,%d", what, gn, gi,
              go, n, in, out);
        if (gn == n && gi == in && go == out) {
            CHECK(memcmp(x, wx, (size_t)(n * in) * sizeof *x) == 0, "%s: x differs", what);
            CHECK(memcmp(y, wy, (size_t)(n * out) * sizeof *y) == 0, "%s: y differs", what);
        }
    }
    free(x);
    free(y);
    csv_table_free(&t);
}
#define SPLIT_OK(lit, ih, oh, n, in, out, wx, wy) \
    expect_split(#lit, lit, sizeof(lit) - 1, ih, oh, n, in, out, wx, wy)

static void expect_split_fail(const char *what, const char *src, size_t len, int in_hint,
                              int out_hint, const char *msg)
{
    csv_table t;
    char err[256] = "";
    if (csv_parse_table(src, len, "d.csv", &t, err, sizeof err) != LD_OK) {
        CHECK(0, "%s: parse: %s", what, err);
        return;
    }
    float *x = (float *)&t, *y = (float *)&t; /* must come back NULL */
    int n = -1, in = -1, out = -1;
    ld_status st = csv_table_split_xy(&t, in_hint, out_hint, &x, &y, &n, &in, &out, "d.csv", err,
                                      sizeof err);
    CHECK(st == LD_EINPUT, "%s: status %d, want bad input (%d)", what, (int)st, (int)LD_EINPUT);
    CHECK(strcmp(err, msg) == 0, "%s: message\n  got  '%s'\n  want '%s'", what, err, msg);
    CHECK(x == NULL && y == NULL && n == 0 && in == 0 && out == 0, "%s: outputs not cleared",
          what);
    csv_table_free(&t);
}
#define SPLIT_FAIL(lit, ih, oh, msg) expect_split_fail(#lit, lit, sizeof(lit) - 1, ih, oh, msg)

static void test_split(void)
{
    /* Header in file order y1,x1,y0,x0: output ordered by k. */
    SPLIT_OK("y1,x1,y0,x0\n1,2,3,4\n5,6,7,8\n", 0, 0, 2, 2, 2,
             ((const float[]){4, 2, 8, 6}), ((const float[]){3, 1, 7, 5}));
    SPLIT_OK("x0,y0,x1\n1,2,3\n", 2, 1, 1, 2, 1, ((const float[]){1, 3}),
             ((const float[]){2}));
    SPLIT_OK("x0,y0,x1\n1,2,3\n", 2, 0, 1, 2, 1, ((const float[]){1, 3}),
             ((const float[]){2}));
    /* No header: the hints say where x ends. */
    SPLIT_OK("1,2,3\n4,5,6\n", 2, 1, 2, 2, 1, ((const float[]){1, 2, 4, 5}),
             ((const float[]){3, 6}));
    SPLIT_OK("1,2,3\n4,5,6\n", 1, 2, 2, 1, 2, ((const float[]){1, 4}),
             ((const float[]){2, 3, 5, 6}));

    SPLIT_FAIL("x0,y0,z\n1,2,3\n", 0, 0,
               "d.csv: unknown column 'z' (column 3); columns must be named x0, x1, ... and "
               "y0, y1, ...");
    SPLIT_FAIL("x0,x01,y0\n1,2,3\n", 0, 0,
               "d.csv: unknown column 'x01' (column 2); columns must be named x0, x1, ... and "
               "y0, y1, ...");
    SPLIT_FAIL("x0,y0,X1\n1,2,3\n", 0, 0,
               "d.csv: unknown column 'X1' (column 3); columns must be named x0, x1, ... and "
               "y0, y1, ...");
    SPLIT_FAIL("x0,x1,x2\n1,2,3\n", 0, 0, "d.csv: header has no output column y0");
    SPLIT_FAIL("y0,y1\n1,2\n", 0, 0, "d.csv: header has no input column x0");
    SPLIT_FAIL("x0,x1,x3,y0\n1,2,3,4\n", 0, 0, "d.csv: header has x3 but no x2");
    SPLIT_FAIL("x0,y1,y2\n1,2,3\n", 0, 0, "d.csv: header has y2 but no y0");
    SPLIT_FAIL("x0,x99999999999999999999999,y0\n1,2,3\n", 0, 0,
               "d.csv: unknown column 'x99999999999999999999999' (column 2); columns must be "
               "named x0, x1, ... and y0, y1, ...");
    SPLIT_FAIL("x0,x1,y0\n1,2,3\n", 8, 0, "d.csv: header has 2 input columns but --in is 8");
    SPLIT_FAIL("x0,x1,y0\n1,2,3\n", 2, 3, "d.csv: header has 1 output columns but --out is 3");
    SPLIT_FAIL("1,2,3\n", 0, 1,
               "d.csv: no header, so --in and --out must say how many of the 3 columns are "
               "inputs and outputs");
    SPLIT_FAIL("1,2,3\n", 2, 0,
               "d.csv: no header, so --in and --out must say how many of the 3 columns are "
               "inputs and outputs");
    SPLIT_FAIL("1,2,3\n", 2, 2, "d.csv: 3 columns but --in 2 + --out 2 = 4");
    SPLIT_FAIL("1,2,3\n", -1, 2, "d.csv: negative --in -1 or --out 2");
}

/* Writer -> reader -> split must give back the very same bits. */
static void test_round_trip(void)
{
    enum { N = 300, I = 3, O = 2 };
    static float x[N * I], y[N * O];
    const float special[] = {
        1e-38f,  -1e-38f, 3.4e38f,  -3.4e38f, 0.1f,    -0.0f,    0.0f,     FLT_MAX,
        -FLT_MAX, FLT_MIN, 1e-45f /* smallest subnormal */, 1.0f / 3.0f, 16777217.0f,
        123456789.0f, 2.5e-39f, 0.3f, 1.17549421e-38f /* largest subnormal */, -7.0f,
    };
    size_t ns = sizeof special / sizeof special[0];
    /* The rest are random finite bit patterns: every exponent, every sign. */
    uint32_t s = 12345u;
    for (size_t i = 0; i < (size_t)N * (I + O); i++) {
        float v;
        if (i < ns) {
            v = special[i];
        } else {
            do {
                s = s * 1664525u + 1013904223u;
                uint32_t bits = s ^ (s >> 13);
                memcpy(&v, &bits, sizeof v);
            } while (!(v - v == 0.0f)); /* finite: inf - inf and NaN give NaN */
        }
        if (i < (size_t)N * I)
            x[i] = v;
        else
            y[i - (size_t)N * I] = v;
    }
    char err[256] = "";
    char *path = path_join(test_tmpdir("csv"), "xy.csv");
    CHECK(csv_write_xy(path, x, y, N, I, O, err, sizeof err) == LD_OK, "write: %s", err);

    /* The file is exactly header + N lines with LF ends. */
    FILE *f = fopen(path, "rb");
    char line[64] = "";
    if (f != NULL && fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    CHECK(strcmp(line, "x0,x1,x2,y0,y1\n") == 0, "header line '%s'", line);
    int lines = 0, cr = 0, c;
    while (f != NULL && (c = fgetc(f)) != EOF) {
        lines += c == '\n';
        cr += c == '\r';
    }
    if (f != NULL)
        fclose(f);
    CHECK(lines == N && cr == 0, "%d data lines, %d CRs", lines, cr);

    csv_table t;
    ld_status st = csv_read_table(path, &t, err, sizeof err);
    CHECK(st == LD_OK, "read: %s", err);
    if (st == LD_OK) {
        float *gx, *gy;
        int n, in, out;
        st = csv_table_split_xy(&t, I, O, &gx, &gy, &n, &in, &out, path, err, sizeof err);
        CHECK(st == LD_OK, "split: %s", err);
        if (st == LD_OK) {
            CHECK(n == N && in == I && out == O, "dims %d %d %d", n, in, out);
            CHECK(memcmp(gx, x, sizeof x) == 0, "x not bit-exact after round trip");
            CHECK(memcmp(gy, y, sizeof y) == 0, "y not bit-exact after round trip");
            /* -0.0 keeps its sign (special[5] is x[1][2]). */
            CHECK(memcmp(&gx[5], &special[5], sizeof(float)) == 0, "-0.0 lost its sign");
        }
        free(gx);
        free(gy);
    }
    csv_table_free(&t);

    /* The writer refuses what the reader would refuse. */
    float bad[2] = {1.0f, 0.0f};
    bad[1] = INFINITY;
    st = csv_write_xy(path, bad, bad, 1, 1, 2, err, sizeof err);
    char want[300];
    snprintf(want, sizeof want, "%s: y[0][1] is not finite (%g)", path, (double)bad[1]);
    CHECK(st == LD_EINPUT && strcmp(err, want) == 0, "write inf: %s", err);
    st = csv_write_xy(path, x, y, 0, I, O, err, sizeof err);
    CHECK(st == LD_EINPUT, "write n=0 should fail");
    free(path);
}

static void test_io_errors(void)
{
    char err[256] = "";
    csv_table t;
    char *path = path_join(test_tmpdir("csv_io"), "missing.csv");
    ld_status st = csv_read_table(path, &t, err, sizeof err);
    char want[300];
    snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
    CHECK(st == LD_EIO && strcmp(err, want) == 0, "missing file: %s", err);
    CHECK(t.data == NULL && t.rows == 0, "table not empty after failed read");
    free(path);

    /* A directory opens but cannot be read. */
    const char *dir = test_tmpdir("csv_io");
    st = csv_read_table(dir, &t, err, sizeof err);
    snprintf(want, sizeof want, "%s: %s", dir, strerror(EISDIR));
    CHECK(st == LD_EIO && strcmp(err, want) == 0, "directory: %s", err);

    /* Messages from a file read carry the path as the label. */
    char *p2 = path_join(dir, "bad.csv");
    CHECK(atomic_write_bytes(p2, "x0,y0\n1,oops\n", 13, err, sizeof err) == LD_OK, "%s", err);
    st = csv_read_table(p2, &t, err, sizeof err);
    snprintf(want, sizeof want, "%s:2:2: not a number: 'oops'", p2);
    CHECK(st == LD_EINPUT && strcmp(err, want) == 0, "file label: %s", err);
    free(p2);
}

/* Inputs are read bounded: a file over the limit is refused before it is
 * read, and one whose first line is not a table of ours is refused having
 * read little more than that line. */
static void test_bounded_reads(void)
{
    const char *dir = test_tmpdir("csv_bounded");
    char err[512] = "", want[700];
    csv_table t;

    char *big = path_join(dir, "big.csv");
    CHECK(test_sparse_file(big, "x0,y0\n1,2\n", 10, (long long)INFILE_MAX_BYTES + 1) == 0,
          "could not make %s", big);
    ld_status st = csv_read_table(big, &t, err, sizeof err);
    snprintf(want, sizeof want, "%s: file is 1073741825 bytes, more than the 1073741824-byte limit of an input file",
             big);
    CHECK(st == LD_EINPUT && strcmp(err, want) == 0, "over the limit: %s", err);
    remove(big);
    free(big);

    /* 512 MiB of NUL bytes after a first line that is no header of ours:
     * only the first chunk may be read. */
    char *garbage = path_join(dir, "garbage.csv");
    CHECK(test_sparse_file(garbage, "garbage line\n", 13, 512LL << 20) == 0, "could not make %s",
          garbage);
    const long long before = test_bytes_read();
    st = csv_read_table(garbage, &t, err, sizeof err);
    const long long read = test_bytes_read() - before;
    snprintf(want, sizeof want, "%s: unknown column 'garbage line' (column 1)", garbage);
    CHECK(st == LD_EINPUT && strncmp(err, want, strlen(want)) == 0, "bad first line: %s", err);
    if (before >= 0)
        CHECK(read < (1 << 20), "read %lld bytes of a 512 MiB file whose first line is bad", read);
    else
        printf("csv: /proc/self/io not available, bytes read not checked\n");
    remove(garbage);
    free(garbage);

    /* Blank lines and a byte order mark before the first line, and a first
     * line longer than one read: still the first line that is checked. */
    char *late = path_join(dir, "late.csv");
    static char head[200000];
    size_t n = 0;
    memcpy(head, "\xEF\xBB\xBF\r\n \t\n\n", 9);
    n = 9;
    for (int k = 0; n + 16 < sizeof head - 2; k++)
        n += (size_t)snprintf(head + n, sizeof head - n, "%sx%d", k ? "," : "", k);
    memcpy(head + n, ",oops\n", 7);
    n += 7;
    CHECK(test_sparse_file(late, head, n, 256LL << 20) == 0, "could not make %s", late);
    const long long before2 = test_bytes_read();
    st = csv_read_table(late, &t, err, sizeof err);
    const long long read2 = test_bytes_read() - before2;
    CHECK(st == LD_EINPUT && strstr(err, "unknown column 'oops'") != NULL, "late first line: %s", err);
    if (before2 >= 0)
        CHECK(read2 < (1 << 20), "read %lld bytes of a 256 MiB file whose first line is bad", read2);
    remove(late);
    free(late);
}

void test_csv(void)
{
    test_accepted_forms();
    test_rejections();
    test_split();
    test_round_trip();
    test_io_errors();
    test_bounded_reads();
}
