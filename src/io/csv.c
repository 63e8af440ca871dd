/* csv.c - numeric CSV tables: a strict reader. The (X, Y) split is
 * csv_split.c, the writer csv_write.c.
 *
 * Dimension key: N samples (rows), I inputs, O outputs.
 *
 * The reader works on the whole input in memory, one line at a time: a line
 * is cut into cells (quotes removed, spaces/tabs trimmed) in a scratch
 * buffer, then each cell is classified as a number or not. See csv.h for the
 * accepted format and why each rejection is made. Nothing here trusts a count
 * from the input: every buffer grows geometrically as data arrives and every
 * size product is overflow-checked.
 */
#include "io/csv.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_split.h"
#include "io/infile.h"

/* The smallest double that rounds to +inf as a float: FLT_MAX plus half an
 * ulp (2^103). FLT_MAX's mantissa is odd, so the exact tie also rounds up.
 * Checking against this, not FLT_MAX, keeps "3.40282347e+38" (the %.9g form
 * of FLT_MAX, slightly above it as a double) readable; and it means the
 * double->float cast below never overflows. */
#define CSV_FLOAT_OVERFLOW 0x1.ffffffp+127


/* ------------------------------------------------------------------------- */
/* small helpers */

/* Make *p hold at least need elements of size elem. Grows to max(need,
 * 2*cap) so n appends cost O(n). Returns 0, or -1 on overflow or allocation
 * failure (then *p and *cap are unchanged). */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap < 16 ? 16 : *cap;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    size_t bytes;
    if (ld_mul_size(&bytes, ncap, elem) != 0)
        return -1;
    void *np = realloc(*p, bytes);
    if (np == NULL)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static int is_blank_char(char c)
{
    return c == ' ' || c == '\t';
}

/* Render len bytes of s for a message: at most CSV_SHOW_MAX bytes (cut on a
 * UTF-8 character boundary, then "..."), control characters and '\' escaped,
 * so the message stays one printable line whatever the input holds. */
const char *csv_show(char *dst, size_t dstlen, const char *s, size_t len)
{
    size_t n = len, o = 0;
    int cut = 0;
    if (n > CSV_SHOW_MAX) {
        n = CSV_SHOW_MAX;
        /* Do not split a multi-byte character: back off over continuation
         * bytes (10xxxxxx) that would start the dropped part; at most 3, as
         * in valid UTF-8, so invalid input still shows its first bytes. */
        for (int k = 0; k < 3 && ((unsigned char)s[n] & 0xC0) == 0x80; k++)
            n--;
        cut = 1;
    }
    for (size_t i = 0; i < n && o + 8 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\\': esc = "\\\\"; break;
        default: break;
        }
        if (esc != NULL) {
            o += (size_t)snprintf(dst + o, dstlen - o, "%s", esc);
        } else if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    if (cut && o + 4 <= dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

/* ------------------------------------------------------------------------- */
/* numbers */

typedef enum {
    NUM_OK,
    NUM_EMPTY,     /* "" */
    NUM_NONFINITE, /* nan, inf, infinity in any case, with sign or payload */
    NUM_HEX,       /* 0x1p3: strtod takes it, a data file should not */
    NUM_RANGE,     /* finite decimal, but +-inf once rounded to float */
    NUM_BAD,       /* not a number at all */
} num_kind;

/* Classify the NUL-terminated cell s of length len; on NUM_OK store it in
 * *out. Only NUM_BAD counts as "not a number" for header detection: the
 * others are numbers we refuse, and are better reported as such. */
static num_kind parse_float(const char *s, size_t len, float *out)
{
    if (len == 0)
        return NUM_EMPTY;
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s + len)
        return NUM_BAD;
    if (!isfinite(d))
        return errno == ERANGE ? NUM_RANGE : NUM_NONFINITE;
    const char *p = s + (s[0] == '+' || s[0] == '-');
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return NUM_HEX;
    /* strtod skips any leading isspace (\v, \f, \r, ...), which the cell
     * trimming (spaces and tabs only) left in place on purpose. */
    if (!((p[0] >= '0' && p[0] <= '9') || p[0] == '.'))
        return NUM_BAD;
    /* ERANGE with a finite result is underflow: d is then the correctly
     * rounded tiny value or zero, which is what we want. */
    if (fabs(d) >= CSV_FLOAT_OVERFLOW)
        return NUM_RANGE;
    *out = (float)d;
    return NUM_OK;
}

/* ------------------------------------------------------------------------- */
/* reader */

typedef struct {
    size_t off; /* start of the cell's text in parser.text */
    size_t len; /* its length; text[off + len] is NUL */
} csv_cell;

typedef struct {
    const char *label;
    char *err;
    size_t errlen;
    char *text;       /* decoded cells of the current line, each NUL-terminated */
    size_t text_cap;
    csv_cell *cells;  /* (ncells) */
    size_t cells_cap;
    size_t ncells;
} parser;

static ld_status oom(parser *p)
{
    return ld_fail(p->err, p->errlen, LD_ENOMEM, "%s: out of memory", p->label);
}

/* Cut the line s[0..len) (no line end) into cells. Errors name line_no and the
 * 1-based index of the cell being read. */
static ld_status split_line(parser *p, const char *s, size_t len, size_t line_no)
{
    /* Each cell's decoded text is no longer than its raw bytes, plus a NUL;
     * there are at most len + 1 cells. So 2*len + 2 bytes always suffice. */
    size_t need;
    if (ld_mul_size(&need, len, 2) != 0 || ld_add_size(&need, need, 2) != 0)
        return oom(p);
    if (grow((void **)&p->text, &p->text_cap, need, 1) != 0)
        return oom(p);

    char *dst = p->text;
    size_t i = 0, o = 0;
    p->ncells = 0;
    for (;;) {
        size_t col = p->ncells + 1;
        if (grow((void **)&p->cells, &p->cells_cap, col, sizeof *p->cells) != 0)
            return oom(p);
        size_t start = o;
        while (i < len && is_blank_char(s[i]))
            i++;
        if (i < len && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return ld_fail(p->err, p->errlen, LD_EINPUT,
                                   "%s:%zu:%zu: unterminated quoted cell", p->label,
                                   line_no, col);
                char c = s[i];
                if (c == '\0')
                    return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: NUL byte",
                                   p->label, line_no, col);
                if (c == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        dst[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                dst[o++] = c;
                i++;
            }
            while (i < len && is_blank_char(s[i]))
                i++;
            if (i < len && s[i] != ',')
                return ld_fail(p->err, p->errlen, LD_EINPUT,
                               "%s:%zu:%zu: text after the closing quote", p->label,
                               line_no, col);
        } else {
            while (i < len && s[i] != ',') {
                if (s[i] == '\0')
                    return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: NUL byte",
                                   p->label, line_no, col);
                /* A quote inside an unquoted cell means the quoting is
                 * broken; guessing what was meant would hide that. */
                if (s[i] == '"')
                    return ld_fail(p->err, p->errlen, LD_EINPUT,
                                   "%s:%zu:%zu: '\"' inside an unquoted cell", p->label,
                                   line_no, col);
                dst[o++] = s[i++];
            }
            while (o > start && is_blank_char(dst[o - 1]))
                o--;
        }
        p->cells[p->ncells].off = start;
        p->cells[p->ncells].len = o - start;
        dst[o++] = '\0';
        p->ncells++;
        if (i >= len)
            return LD_OK;
        i++; /* the ',' */
    }
}

typedef struct {
    const char *name;
    size_t col;
} named_col;

/* qsort order for header names: by text, then by column, so within a run of
 * equal names the earliest column comes first. (A struct, not a global
 * pointer for the comparator, keeps this thread-safe.) */
static int cmp_named_col(const void *a, const void *b)
{
    const named_col *x = a, *y = b;
    const int order = strcmp(x->name, y->name);
    if (order != 0)
        return order;
    return (x->col > y->col) - (x->col < y->col);
}

/* Validate the header cells of line line_no and copy them into *names. */
static ld_status take_header(parser *p, size_t line_no, char ***names)
{
    size_t n = p->ncells; /* <= line length + 1, so n * 16 cannot overflow */
    char **nm = calloc(n, sizeof *nm);
    named_col *order = malloc(n * sizeof *order);
    ld_status st = LD_OK;
    if (nm == NULL || order == NULL)
        st = oom(p);
    for (size_t j = 0; j < n && st == LD_OK; j++) {
        const csv_cell *cell = &p->cells[j];
        if (cell->len == 0) {
            st = ld_fail(p->err, p->errlen, LD_EINPUT,
                         "%s:%zu:%zu: empty column name in the header", p->label, line_no,
                         j + 1);
            break;
        }
        nm[j] = malloc(cell->len + 1);
        if (nm[j] == NULL) {
            st = oom(p);
            break;
        }
        memcpy(nm[j], p->text + cell->off, cell->len + 1);
        order[j].name = nm[j];
        order[j].col = j;
    }
    if (st == LD_OK) {
        /* Sort rather than compare all pairs: O(n log n), also for a hostile
         * header of millions of names. Report the earliest column whose name
         * already appeared (what a left-to-right scan would find): in each
         * run of equal names, the second entry is the first repeat. */
        qsort(order, n, sizeof *order, cmp_named_col);
        size_t dup = SIZE_MAX, orig = 0;
        for (size_t r = 1; r < n; r++) {
            if (strcmp(order[r - 1].name, order[r].name) == 0 && order[r].col < dup &&
                (r < 2 || strcmp(order[r - 2].name, order[r].name) != 0)) {
                dup = order[r].col;
                orig = order[r - 1].col;
            }
        }
        if (dup != SIZE_MAX) {
            char buf[CSV_SHOW_BUF];
            st = ld_fail(p->err, p->errlen, LD_EINPUT,
                         "%s:%zu:%zu: duplicate column name '%s' (also column %zu)", p->label,
                         line_no, dup + 1, csv_show(buf, sizeof buf, nm[dup], strlen(nm[dup])),
                         orig + 1);
        }
    }
    free(order);
    if (st != LD_OK) {
        if (nm != NULL)
            for (size_t j = 0; j < n; j++)
                free(nm[j]);
        free(nm);
        return st;
    }
    *names = nm;
    return LD_OK;
}

static ld_status cell_error(parser *p, num_kind kind, size_t line_no, size_t col,
                            const csv_cell *cell)
{
    char buf[CSV_SHOW_BUF];
    const char *txt = p->text + cell->off;
    switch (kind) {
    case NUM_EMPTY:
        return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: empty cell", p->label,
                       line_no, col);
    case NUM_NONFINITE:
        return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: NaN/Inf not allowed: '%s'",
                       p->label, line_no, col, csv_show(buf, sizeof buf, txt, cell->len));
    case NUM_HEX:
        return ld_fail(p->err, p->errlen, LD_EINPUT,
                       "%s:%zu:%zu: hex float not allowed: '%s'", p->label, line_no, col,
                       csv_show(buf, sizeof buf, txt, cell->len));
    case NUM_RANGE:
        return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: out of float range: '%s'",
                       p->label, line_no, col, csv_show(buf, sizeof buf, txt, cell->len));
    case NUM_BAD:
    case NUM_OK:
        break;
    }
    return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: not a number: '%s'", p->label,
                   line_no, col, csv_show(buf, sizeof buf, txt, cell->len));
}

/* Append the cells of line line_no as one data row of t. */
static ld_status take_row(parser *p, size_t line_no, csv_table *t, size_t *data_cap)
{
    if (p->ncells != t->cols) {
        /* Point at the first missing or the first extra cell. */
        size_t col = (p->ncells < t->cols ? p->ncells : t->cols) + 1;
        return ld_fail(p->err, p->errlen, LD_EINPUT, "%s:%zu:%zu: expected %zu cells, found %zu",
                       p->label, line_no, col, t->cols, p->ncells);
    }
    size_t rows1, need;
    if (ld_add_size(&rows1, t->rows, 1) != 0 || ld_mul_size(&need, rows1, t->cols) != 0)
        return oom(p);
    if (grow((void **)&t->data, data_cap, need, sizeof *t->data) != 0)
        return oom(p);
    float *row = t->data + t->rows * t->cols;
    for (size_t j = 0; j < t->cols; j++) {
        const csv_cell *cell = &p->cells[j];
        const num_kind kind = parse_float(p->text + cell->off, cell->len, &row[j]);
        if (kind != NUM_OK)
            return cell_error(p, kind, line_no, j + 1, cell);
    }
    t->rows = rows1;
    return LD_OK;
}

/* 1 if the line s[0..len) holds only spaces and tabs. */
static int is_blank_line(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank_char(s[i]))
            return 0;
    return 1;
}

/* The 1-based index of the cell that byte i of line s is in (commas before
 * it, quotes not counted: for a message only). */
static size_t cell_of(const char *s, size_t i)
{
    size_t col = 1;
    for (size_t k = 0; k < i; k++)
        col += s[k] == ',';
    return col;
}

/* Refuse what only a file in another convention has, with a message that
 * says so: a CR inside a line (old Mac CR-only line ends make the whole
 * file one line) and a byte order mark past the very start (two files
 * joined, or a BOM written twice). */
static ld_status check_line_bytes(const char *s, size_t len, size_t line_no, const char *label,
                                  char *err, size_t errlen)
{
    const char *cr = memchr(s, '\r', len);
    if (cr != NULL)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s:%zu:%zu: carriage return inside a line (old Mac CR-only line ends?); "
                       "lines must end in LF or CRLF",
                       label, line_no, cell_of(s, (size_t)(cr - s)));
    for (const char *p = s; (p = memchr(p, 0xEF, len - (size_t)(p - s))) != NULL; p++)
        if (len - (size_t)(p - s) >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s:%zu:%zu: byte order mark (U+FEFF) inside the file; only its very "
                           "start may have one (two files joined?)",
                           label, line_no, cell_of(s, (size_t)(p - s)));
    return LD_OK;
}

void csv_table_free(csv_table *t)
{
    if (t == NULL)
        return;
    if (t->names != NULL) {
        for (size_t j = 0; j < t->cols; j++)
            free(t->names[j]);
        free(t->names);
    }
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* csv_parse_table, which needs_rows; without, a header alone is a table
 * too (csv_read_table checks the first line with it). */
static ld_status parse_lines(const char *buf, size_t len, const char *label, int need_rows,
                             csv_table *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (label == NULL)
        label = "(input)";
    if (buf == NULL)
        len = 0;
    parser p = {.label = label, .err = err, .errlen = errlen};
    csv_table t = {0};
    size_t data_cap = 0;
    int seen_first = 0;    /* header or first data row taken */
    size_t blank_line = 0; /* first blank line after the first row, 0 if none */
    ld_status st = LD_OK;

    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    for (size_t line_no = 1; pos < len && st == LD_OK; line_no++) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        if (n > 0 && s[n - 1] == '\r')
            n--;
        st = check_line_bytes(s, n, line_no, label, err, errlen);
        if (st != LD_OK)
            break;

        if (is_blank_line(s, n)) {
            /* Leading blank lines are skipped; later ones are fine only if
             * nothing but blank lines follows them. */
            if (seen_first && blank_line == 0)
                blank_line = line_no;
            continue;
        }
        if (blank_line != 0) {
            st = ld_fail(err, errlen, LD_EINPUT,
                         "%s:%zu:1: blank line inside the table (blank lines are allowed "
                         "only at the end)",
                         label, blank_line);
            break;
        }
        st = split_line(&p, s, n, line_no);
        if (st != LD_OK)
            break;
        if (!seen_first) {
            seen_first = 1;
            t.cols = p.ncells;
            int header = 0;
            for (size_t j = 0; j < p.ncells && !header; j++) {
                float dummy;
                header = parse_float(p.text + p.cells[j].off, p.cells[j].len, &dummy) == NUM_BAD;
            }
            if (header) {
                st = take_header(&p, line_no, &t.names);
                continue;
            }
        }
        st = take_row(&p, line_no, &t, &data_cap);
    }
    free(p.text);
    free(p.cells);
    if (st == LD_OK && t.rows == 0 && need_rows)
        st = ld_fail(err, errlen, LD_EINPUT, "%s: no data rows", label);
    if (st != LD_OK) {
        csv_table_free(&t);
        return st;
    }
    /* Give back the slack of the last doubling; failing to is harmless. */
    float *shrunk = t.rows > 0 ? realloc(t.data, t.rows * t.cols * sizeof *t.data) : NULL;
    if (shrunk != NULL)
        t.data = shrunk;
    *out = t;
    return LD_OK;
}

ld_status csv_parse_table(const char *buf, size_t len, const char *label, csv_table *out,
                          char *err, size_t errlen)
{
    return parse_lines(buf, len, label, 1, out, err, errlen);
}

/* The end of the first non-blank line of buf[0..len), just past its '\n':
 * 1 and *end set if that line is complete. *from is where the search goes
 * on next time (the blank lines before it are passed once). */
static int first_line_end(const char *buf, size_t len, size_t *from, size_t *end)
{
    while (*from < len) {
        const char *s = buf + *from;
        const char *nl = memchr(s, '\n', len - *from);
        if (nl == NULL)
            return 0;
        size_t skip = *from == 0 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        size_t n = (size_t)(nl - s);
        if (n > skip && s[n - 1] == '\r')
            n--;
        if (!is_blank_line(s + skip, n > skip ? n - skip : 0)) {
            *end = (size_t)(nl - buf) + 1;
            return 1;
        }
        *from = (size_t)(nl - buf) + 1;
    }
    return 0;
}

/* The first line, buf[0..len), as the reader and the split will take it:
 * its cells, and if it is a header, its names. */
static ld_status check_first_line(const char *buf, size_t len, const char *label, char *err,
                                  size_t errlen)
{
    csv_table t;
    ld_status st = parse_lines(buf, len, label, 0, &t, err, errlen);
    size_t ni, no;
    if (st == LD_OK && t.names != NULL)
        st = csv_count_named(&t, 0, 0, &ni, &no, label, err, errlen);
    csv_table_free(&t);
    return st;
}

ld_status csv_read_table(const char *path, csv_table *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f;
    uint64_t size;
    ld_status st = infile_open(path, &f, &size, err, errlen);
    if (st != LD_OK)
        return st;
    /* Read to EOF rather than trusting the size: a file that changes under
     * us is read as it then is, up to the limit. The first line is checked
     * as soon as it is in, so a file that is not ours is refused before the
     * rest of it is read. */
    char *buf = NULL;
    size_t cap = 0, len = 0, from = 0, first_end = 0;
    int first_checked = 0;
    for (;;) {
        /* 64 KiB at a time until the first line is checked; then room for
         * the rest as fstat sized it, and a byte to see the end, at once
         * (growing by doubling would take up to twice the file). */
        size_t need;
        if (ld_add_size(&need, len, 65536) != 0) {
            st = ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
            break;
        }
        if (first_checked && need < (size_t)size + 1 && cap < (size_t)size + 1) {
            char *nb = realloc(buf, (size_t)size + 1);
            if (nb == NULL) {
                st = ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = (size_t)size + 1;
        }
        if (grow((void **)&buf, &cap, need, 1) != 0) {
            st = ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
            break;
        }
        size_t want = cap - len;
        errno = 0;
        size_t got = fread(buf + len, 1, want, f);
        len += got;
        if (len > INFILE_MAX_BYTES) {
            st = infile_too_large(path, len, err, errlen);
            break;
        }
        const int at_end = got < want;
        if (at_end && ferror(f)) {
            st = ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno != 0 ? errno : EIO));
            break;
        }
        if (!first_checked && (first_line_end(buf, len, &from, &first_end) || at_end)) {
            first_checked = 1;
            st = check_first_line(buf, first_end > 0 ? first_end : len, path, err, errlen);
            if (st != LD_OK)
                break;
        }
        if (at_end)
            break;
    }
    fclose(f);
    if (st == LD_OK)
        st = csv_parse_table(buf, len, path, out, err, errlen);
    free(buf);
    return st;
}
