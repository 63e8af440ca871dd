/* test_svg.c - the loss-curve SVG: well-formed XML, the right content, and
 * valid output for every edge case svg.h promises to handle.
 *
 * Dimension key: E epochs, C curves.
 *
 * The first part is a minimal XML well-formedness checker, with its own
 * negative tests so that a checker that accepts everything cannot pass. It
 * knows elements, attributes, character and entity references, comments and
 * processing instructions; a DOCTYPE or CDATA section is reported as not
 * well-formed, since svg.c never writes one.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "report/svg.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* XML well-formedness checker */

#define XML_MAX_DEPTH 64
#define XML_MAX_NAME 64
#define XML_MAX_ATTRS 32

typedef struct {
    char root[XML_MAX_NAME]; /* name of the root element */
    int elements;            /* elements seen */
    char msg[160];           /* why the document is not well-formed */
} xml_report;

static int xml_bad(xml_report *r, const char *doc, const char *at, const char *why)
{
    snprintf(r->msg, sizeof r->msg, "byte %ld: %s", (long)(at - doc), why);
    return 0;
}

static int name_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c == ':' || c >= 0x80;
}

static int name_char(unsigned char c)
{
    return name_start(c) || isdigit(c) || c == '-' || c == '.';
}

static int xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of the name at p, 0 if there is none (or it is too long to keep). */
static size_t name_len(const char *p)
{
    size_t n = 0;
    if (!name_start((unsigned char)p[0]))
        return 0;
    while (name_char((unsigned char)p[n]))
        n++;
    return n < XML_MAX_NAME ? n : 0;
}

/* Length of the entity or character reference at p ("&amp;" -> 5), 0 if
 * it is not one XML knows without a DTD. */
static size_t ref_len(const char *p)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0)
            return strlen(named[i]);
    if (p[1] != '#')
        return 0;
    int hex = p[2] == 'x';
    size_t i = hex ? 3 : 2, start = i;
    long v = 0;
    while (hex ? isxdigit((unsigned char)p[i]) : isdigit((unsigned char)p[i])) {
        v = v * (hex ? 16 : 10) + (isdigit((unsigned char)p[i]) ? p[i] - '0'
                                                                : tolower((unsigned char)p[i]) - 'a' + 10);
        if (v > 0x10ffff)
            return 0;
        i++;
    }
    if (i == start || p[i] != ';' || v == 0)
        return 0;
    return i + 1;
}

/* Length of the valid UTF-8 character at p, 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
                               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

/* Character data up to (not including) stop: '<' for text, the quote for an
 * attribute value. Returns a pointer to stop, or NULL (reported) on a raw '<'
 * or '&', a control character, invalid UTF-8, or the end of the document. */
static const char *xml_chars(const char *doc, const char *p, char stop, xml_report *r)
{
    while (*p != stop) {
        unsigned char c = (unsigned char)*p;
        size_t k;
        if (c == '\0')
            return xml_bad(r, doc, p, "unexpected end of document"), NULL;
        if (c == '<')
            return xml_bad(r, doc, p, "raw '<' in attribute value"), NULL;
        if (c == '&') {
            if ((k = ref_len(p)) == 0)
                return xml_bad(r, doc, p, "'&' that does not start a valid reference"), NULL;
            p += k;
            continue;
        }
        if (c < 0x20 && !xml_space((char)c))
            return xml_bad(r, doc, p, "control character"), NULL;
        if (stop == '<' && strncmp(p, "]]>", 3) == 0)
            return xml_bad(r, doc, p, "']]>' in text"), NULL;
        if ((k = utf8_len((const unsigned char *)p)) == 0)
            return xml_bad(r, doc, p, "invalid UTF-8"), NULL;
        p += k;
    }
    return p;
}

/* A start tag at p (just after '<'). Pushes its name unless it is empty
 * ("/>"). Returns the position after the tag, or NULL. */
static const char *xml_start_tag(const char *doc, const char *p, char stack[][XML_MAX_NAME],
                                 int *depth, xml_report *r)
{
    char attrs[XML_MAX_ATTRS][XML_MAX_NAME];
    int nattrs = 0;
    size_t n = name_len(p);
    if (n == 0)
        return xml_bad(r, doc, p, "'<' not followed by an element name"), NULL;
    if (*depth == 0) {
        if (r->root[0] != '\0')
            return xml_bad(r, doc, p, "second root element"), NULL;
        memcpy(r->root, p, n);
        r->root[n] = '\0';
    }
    if (*depth >= XML_MAX_DEPTH)
        return xml_bad(r, doc, p, "elements nested too deeply for the checker"), NULL;
    memcpy(stack[*depth], p, n);
    stack[*depth][n] = '\0';
    p += n;
    r->elements++;
    for (;;) {
        int spaced = xml_space(*p);
        while (xml_space(*p))
            p++;
        if (*p == '>') {
            (*depth)++;
            return p + 1;
        }
        if (p[0] == '/' && p[1] == '>')
            return p + 2;
        if (!spaced)
            return xml_bad(r, doc, p, "attribute not separated by white space"), NULL;
        size_t an = name_len(p);
        if (an == 0)
            return xml_bad(r, doc, p, "expected an attribute name, '>' or '/>'"), NULL;
        for (int i = 0; i < nattrs; i++)
            if (strlen(attrs[i]) == an && strncmp(attrs[i], p, an) == 0)
                return xml_bad(r, doc, p, "duplicate attribute"), NULL;
        if (nattrs < XML_MAX_ATTRS) {
            memcpy(attrs[nattrs], p, an);
            attrs[nattrs++][an] = '\0';
        }
        p += an;
        while (xml_space(*p))
            p++;
        if (*p != '=')
            return xml_bad(r, doc, p, "attribute without '='"), NULL;
        p++;
        while (xml_space(*p))
            p++;
        if (*p != '"' && *p != '\'')
            return xml_bad(r, doc, p, "attribute value not quoted"), NULL;
        char q = *p;
        if ((p = xml_chars(doc, p + 1, q, r)) == NULL)
            return NULL;
        p++;
    }
}

/* 1 if doc is a well-formed XML document, else 0 with r->msg saying why. */
static int xml_check(const char *doc, xml_report *r)
{
    char stack[XML_MAX_DEPTH][XML_MAX_NAME];
    int depth = 0;
    const char *p = doc;
    memset(r, 0, sizeof *r);
    while (*p != '\0') {
        if (p[0] != '<') {
            if (depth == 0) {
                if (!xml_space(*p))
                    return xml_bad(r, doc, p, "text outside the root element");
                p++;
                continue;
            }
            if ((p = xml_chars(doc, p, '<', r)) == NULL)
                return 0;
            if (*p == '\0')
                break;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0) {
            if (strncmp(p, "<?xml", 5) == 0 && xml_space(p[5]) && p != doc)
                return xml_bad(r, doc, p, "XML declaration not at the start");
            const char *end = strstr(p, "?>");
            if (end == NULL || name_len(p + 2) == 0)
                return xml_bad(r, doc, p, "bad processing instruction");
            p = end + 2;
        } else if (strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p + 4, "--");
            if (end == NULL || end[2] != '>')
                return xml_bad(r, doc, p, "comment not closed by the first '--'");
            p = end + 3;
        } else if (p[1] == '!') {
            return xml_bad(r, doc, p, "DOCTYPE and CDATA are not supported");
        } else if (p[1] == '/') {
            size_t n = name_len(p + 2);
            if (depth == 0 || n == 0 || strlen(stack[depth - 1]) != n ||
                strncmp(stack[depth - 1], p + 2, n) != 0)
                return xml_bad(r, doc, p, "end tag does not match the open element");
            p += 2 + n;
            while (xml_space(*p))
                p++;
            if (*p != '>')
                return xml_bad(r, doc, p, "end tag not closed by '>'");
            p++;
            depth--;
        } else if ((p = xml_start_tag(doc, p + 1, stack, &depth, r)) == NULL) {
            return 0;
        }
    }
    if (depth > 0)
        return xml_bad(r, doc, p, "element not closed");
    if (r->root[0] == '\0')
        return xml_bad(r, doc, p, "no root element");
    return 1;
}

static void test_xml_checker(void)
{
    static const char *const good[] = {
        "<svg/>",
        ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\">"
         "<!-- a comment --><g a='1' b=\"&amp;&lt;&#60;&#x3C;\">x &gt; y \xe2\x80\xa6</g></svg>\n"),
        "<svg><a><b/></a><c  x = \"1\" ></c></svg>",
    };
    static const struct { const char *doc, *why; } bad[] = {
        {"", "empty document"},
        {"<svg><g></svg>", "mismatched end tag"},
        {"<svg><g></g>", "unclosed root"},
        {"<svg a=1/>", "unquoted attribute"},
        {"<svg a=\"1/>", "unterminated attribute"},
        {"<svg a=\"<\"/>", "'<' in attribute"},
        {"<svg a=\"1\" a=\"2\"/>", "duplicate attribute"},
        {"<svg a=\"1\"b=\"2\"/>", "attributes not separated"},
        {"<svg>a<b</svg>", "raw '<' in text"},
        {"<svg>a & b</svg>", "raw '&' in text"},
        {"<svg>&foo;</svg>", "unknown entity"},
        {"<svg>&amp</svg>", "reference without ';'"},
        {"<svg>&#0;</svg>", "character reference to NUL"},
        {"<svg/><svg/>", "two root elements"},
        {"text<svg/>", "text before the root"},
        {"<svg>\x01</svg>", "control character"},
        {"<svg>\xff</svg>", "invalid UTF-8"},
        {"<svg>\xc3</svg>", "truncated UTF-8"},
        {"<svg><!-- a -- b --></svg>", "'--' inside a comment"},
        {"<svg>]]></svg>", "']]>' in text"},
        {"<svg></ svg>", "space before end tag name"},
        {"<svg/>\n<?xml version=\"1.0\"?>", "late XML declaration"},
        {"<!DOCTYPE svg><svg/>", "DOCTYPE (unsupported)"},
    };
    xml_report r;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(xml_check(good[i], &r), "checker rejects good document %zu: %s", i, r.msg);
    CHECK(xml_check(good[0], &r) && strcmp(r.root, "svg") == 0 && r.elements == 1,
          "root '%s', %d elements", r.root, r.elements);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!xml_check(bad[i].doc, &r), "checker accepts a document with %s", bad[i].why);
}

/* ------------------------------------------------------------------------ */
/* reading the generated file back */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

static int count_str(const char *doc, const char *needle)
{
    int n = 0;
    for (const char *p = doc; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Write a figure and read it back; NULL (and a failed check) on error. */
static char *plot(const char *dir, const char *file, const char *title,
                  const char *const *names, int ncurves, const double *values, int epochs)
{
    char err[256] = "";
    char *path = path_join(dir, file);
    ld_status st = svg_write_losses(path, title, "training MSE (log scale)", names, ncurves,
                                    values, epochs, err, sizeof err);
    CHECK(st == LD_OK, "%s: svg_write_losses: %s", file, err);
    char *doc = st == LD_OK ? slurp(path) : NULL;
    CHECK(st != LD_OK || doc != NULL, "%s: cannot read back", file);
    free(path);
    return doc;
}

/* Well-formed, one svg root with the SVG namespace and a viewBox. */
static int check_document(const char *doc, const char *what)
{
    xml_report r;
    int ok = xml_check(doc, &r);
    CHECK(ok, "%s: not well-formed: %s", what, r.msg);
    CHECK(ok && strcmp(r.root, "svg") == 0, "%s: root is '%s'", what, r.root);
    const char *root = strstr(doc, "<svg ");
    const char *root_end = root ? strchr(root, '>') : NULL;
    const char *ns = strstr(doc, "xmlns=\"http://www.w3.org/2000/svg\"");
    const char *vb = strstr(doc, "viewBox=\"");
    CHECK(root_end != NULL && ns != NULL && ns < root_end && vb != NULL && vb < root_end,
          "%s: root svg lacks xmlns or viewBox", what);
    return ok;
}

/* Parse the viewBox "0 0 W H". */
static void view_box(const char *doc, double *w, double *h)
{
    *w = *h = -1.0;
    const char *vb = strstr(doc, "viewBox=\"");
    if (vb != NULL && sscanf(vb + 9, "0 0 %lf %lf", w, h) != 2)
        *w = *h = -1.0;
}

/* The points of the path d="M x,y L x,y ..." of element id="curve-<c>":
 * returns the number of points (up to max) and the number of "M" pieces;
 * -1 if there is no such path. */
static int curve_points(const char *doc, int c, double *xs, double *ys, int max, int *pieces)
{
    char id[32];
    snprintf(id, sizeof id, "id=\"curve-%d\"", c);
    const char *p = strstr(doc, id);
    if (p == NULL)
        return -1;
    const char *end = strchr(p, '>');
    p = strstr(p, " d=\"");
    if (p == NULL || p > end)
        return -1;
    p += 4;
    int n = 0;
    *pieces = 0;
    while (*p != '"' && *p != '\0') {
        if (*p == 'M' || *p == 'L') {
            double x, y;
            int used = 0;
            *pieces += *p == 'M';
            if (sscanf(p + 1, "%lf,%lf%n", &x, &y, &used) != 2)
                return -1;
            if (n < max) {
                xs[n] = x;
                ys[n] = y;
            }
            n++;
            p += 1 + used;
        } else {
            p++;
        }
    }
    return n;
}

/* Every coordinate in the document, attributes and path points, lies in the
 * viewBox. Returns the number of coordinates checked. */
static int check_coords(const char *doc, const char *what)
{
    static const struct { const char *attr; int vertical; } attrs[] = {
        {" x=\"", 0}, {" x1=\"", 0}, {" x2=\"", 0}, {" cx=\"", 0},
        {" y=\"", 1}, {" y1=\"", 1}, {" y2=\"", 1}, {" cy=\"", 1},
    };
    double w, h;
    view_box(doc, &w, &h);
    CHECK(w > 0 && h > 0, "%s: no viewBox", what);
    int checked = 0, bad = 0;
    for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++) {
        for (const char *p = doc; (p = strstr(p, attrs[a].attr)) != NULL; p++) {
            char *end;
            double v = strtod(p + strlen(attrs[a].attr), &end);
            double lim = attrs[a].vertical ? h : w;
            checked++;
            if (*end != '"' || !(v >= 0 && v <= lim)) {
                if (bad++ == 0)
                    CHECK(0, "%s: %s%.40s outside 0..%g", what, attrs[a].attr, p + strlen(attrs[a].attr), lim);
            }
        }
    }
    for (int c = 0; c < 1000; c++) {
        double xs[4000], ys[4000];
        int pieces, n = curve_points(doc, c, xs, ys, 4000, &pieces);
        for (int i = 0; i < n && i < 4000; i++, checked++) {
            if (!(xs[i] >= 0 && xs[i] <= w && ys[i] >= 0 && ys[i] <= h) && bad++ == 0)
                CHECK(0, "%s: curve %d point %d (%g, %g) outside the viewBox", what, c, i, xs[i], ys[i]);
        }
    }
    if (bad == 0)
        CHECK(checked > 0, "%s: no coordinates found", what);
    return checked;
}

/* Text and y of every <text class="ytick"> label, in document order. */
static int ytick_labels(const char *doc, char labels[][32], double *ys, int max)
{
    int n = 0;
    for (const char *p = doc; (p = strstr(p, "<text class=\"ytick\"")) != NULL && n < max; p++) {
        const char *y = strstr(p, " y=\"");
        const char *gt = strchr(p, '>');
        const char *lt = gt ? strchr(gt, '<') : NULL;
        if (y == NULL || gt == NULL || lt == NULL || lt - gt - 1 >= 32)
            break;
        ys[n] = strtod(y + 4, NULL);
        memcpy(labels[n], gt + 1, (size_t)(lt - gt - 1));
        labels[n][lt - gt - 1] = '\0';
        n++;
    }
    return n;
}

static int find_label(char labels[][32], int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strcmp(labels[i], want) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* the figures */

/* Five curves, one of which spans 1e-3 .. 10 exactly on decades, one stops
 * after epoch 3, one has a gap, one uses values that count as missing, and one
 * has a name that needs escaping. */
static void test_content(const char *dir)
{
    enum { E = 5, C = 5 };
    const char *names[C] = {"decades", "stops", "a<b&c", "gap", "junk"};
    const double nan = NAN;
    const double values[E * C] = {
        /* decades stops  a<b&c  gap    junk */
        1e-3,      0.5,   0.9,   0.4,   -1.0,
        1e-2,      0.4,   0.8,   0.35,  0.0,
        1e-1,      0.3,   0.7,   nan,   0.3,
        1.0,       nan,   0.6,   0.2,   INFINITY,
        10.0,      nan,   0.5,   0.1,   0.2,
    };
    char *doc = plot(dir, "content.svg", "losses of <5> models & \"more\"", names, C, values, E);
    if (doc == NULL)
        return;
    check_document(doc, "content");
    check_coords(doc, "content");

    CHECK(strstr(doc, "losses of &lt;5&gt; models &amp; &quot;more&quot;") != NULL,
          "escaped title missing");
    CHECK(strstr(doc, "training MSE (log scale)") != NULL, "y axis title missing");
    CHECK(strstr(doc, ">epoch</text>") != NULL, "x axis title missing");
    CHECK(count_str(doc, "class=\"curve\"") == C, "%d curve paths, want %d",
          count_str(doc, "class=\"curve\""), C);
    for (int c = 0; c < C; c++) {
        char want[64];
        snprintf(want, sizeof want, ">%s<title>", c == 2 ? "a&lt;b&amp;c" : names[c]);
        CHECK(strstr(doc, want) != NULL, "legend entry '%s' missing", want);
    }
    CHECK(strstr(doc, "a<b&c") == NULL, "raw name 'a<b&c' written unescaped");

    /* Distinct colours: the stroke of each curve path differs from the others. */
    char strokes[C][16];
    for (int c = 0; c < C; c++) {
        char id[32];
        snprintf(id, sizeof id, "id=\"curve-%d\"", c);
        const char *p = strstr(doc, id);
        const char *s = p ? strstr(p, "stroke=\"") : NULL;
        strokes[c][0] = '\0';
        if (s != NULL)
            sscanf(s + 8, "%15[^\"]", strokes[c]);
        for (int d = 0; d < c; d++)
            CHECK(strcmp(strokes[c], strokes[d]) != 0, "curves %d and %d share colour %s", d, c,
                  strokes[c]);
    }

    /* Decade labels spanning the data, placed where the curve's values are. */
    char labels[32][32];
    double label_y[32];
    int nl = ytick_labels(doc, labels, label_y, 32);
    double xs[E], ys[E], fx[E], fy[E];
    int pieces, n = curve_points(doc, 0, xs, ys, E, &pieces);
    CHECK(n == E && pieces == 1, "decades curve: %d points in %d pieces", n, pieces);
    /* The data fill the plot frame in both directions, less a small margin. */
    double fxl = 0, fyt = 0, fw = 0, fh = 0;
    const char *frame = strstr(doc, "<rect class=\"frame\"");
    CHECK(frame != NULL && sscanf(frame, "<rect class=\"frame\" x=\"%lf\" y=\"%lf\" width=\"%lf\" "
                                         "height=\"%lf\"", &fxl, &fyt, &fw, &fh) == 4,
          "plot frame not found");
    if (n == E && fw > 0 && fh > 0) {
        CHECK(xs[0] > fxl && xs[E - 1] < fxl + fw && xs[E - 1] - xs[0] > 0.9 * fw,
              "epochs 1..%d span x %.2f..%.2f in a frame %.2f..%.2f", E, xs[0], xs[E - 1], fxl,
              fxl + fw);
        CHECK(ys[0] < fyt + fh && ys[E - 1] > fyt && ys[0] - ys[E - 1] > 0.9 * fh,
              "values 1e-3..10 span y %.2f..%.2f in a frame %.2f..%.2f", ys[0], ys[E - 1], fyt,
              fyt + fh);
        for (int i = 2; i < E; i++) /* equal ratios, equal steps: the scale is logarithmic */
            CHECK(fabs((ys[i] - ys[i - 1]) - (ys[1] - ys[0])) < 0.03, "decade %d is %.2f px, the first %.2f",
                  i, ys[i - 1] - ys[i], ys[0] - ys[1]);
    }
    static const char *const decades[] = {"1e-3", "0.01", "0.1", "1", "10"};
    for (int i = 0; i < 5; i++) {
        int at = find_label(labels, nl, decades[i]);
        CHECK(at >= 0, "y tick label %s missing", decades[i]);
        /* labels sit 4 px below their grid line (baseline offset) */
        if (at >= 0 && n == E)
            CHECK(fabs(label_y[at] - 4.0 - ys[i]) < 0.011, "value %s drawn at y %.2f, its tick at %.2f",
                  decades[i], ys[i], label_y[at] - 4.0);
    }
    for (int i = 0; i < nl; i++) {
        int power_of_ten = strcmp(labels[i], "1") == 0 || strcmp(labels[i], "10") == 0 ||
                           strcmp(labels[i], "0.1") == 0 || strcmp(labels[i], "0.01") == 0 ||
                           strncmp(labels[i], "1e", 2) == 0;
        CHECK(power_of_ten, "y tick label '%s' is not a power of ten over 4 decades", labels[i]);
        if (i > 0)
            CHECK(label_y[i] < label_y[i - 1], "y tick labels not increasing upwards");
    }

    /* NaN after epoch 3: exactly three points, the last at epoch 3's x. */
    double sx[E], sy[E];
    int sn = curve_points(doc, 1, sx, sy, E, &pieces);
    n = curve_points(doc, 2, fx, fy, E, &pieces);
    CHECK(sn == 3 && n == E, "stopping curve has %d points, full curve %d", sn, n);
    if (sn == 3 && n == E) {
        CHECK(fabs(sx[2] - fx[2]) < 1e-9, "last point at x %.2f, epoch 3 is at %.2f", sx[2], fx[2]);
        for (int i = 0; i < sn; i++)
            CHECK(sx[i] <= fx[2] + 1e-9, "stopping curve has a point beyond epoch 3");
        for (int i = 1; i < E; i++)
            CHECK(fx[i] > fx[i - 1], "epochs not increasing to the right");
    }

    /* A gap splits the line: two pieces, no segment across epoch 3. */
    n = curve_points(doc, 3, xs, ys, E, &pieces);
    CHECK(n == 4 && pieces == 2, "gap curve: %d points in %d pieces, want 4 in 2", n, pieces);
    const char *gap = strstr(doc, "id=\"curve-3\"");
    const char *d = gap ? strstr(gap, " d=\"") : NULL;
    CHECK(d != NULL && strncmp(d + 4, "M", 1) == 0 && strstr(d, " M") != NULL &&
              strstr(d, " M") < strstr(d, "\">"),
          "gap curve does not restart with M");

    /* -1, 0 and inf are missing: the junk curve keeps epochs 3 and 5, which
     * have no neighbours, so each is a piece of its own and gets a dot. */
    n = curve_points(doc, 4, xs, ys, E, &pieces);
    CHECK(n == 2 && pieces == 2, "junk curve: %d points in %d pieces, want 2 in 2", n, pieces);
    CHECK(count_str(doc, "<circle") == 2, "%d dots, want 2 (the junk curve's lone points)",
          count_str(doc, "<circle"));

    /* Identical input, identical bytes. */
    char *again = plot(dir, "content2.svg", "losses of <5> models & \"more\"", names, C, values, E);
    CHECK(again != NULL && strcmp(doc, again) == 0, "two identical calls differ");
    free(again);
    free(doc);
}

/* The realistic example: dense and four LoRA ranks over 100 epochs. */
static void realistic(double *values, int epochs)
{
    static const double final[5] = {0.60, 0.90, 0.78, 0.70, 0.64};
    static const double rate[5] = {0.08, 0.03, 0.045, 0.06, 0.07};
    for (int e = 0; e < epochs; e++)
        for (int c = 0; c < 5; c++)
            values[e * 5 + c] = final[c] + (1.3 - final[c]) * exp(-rate[c] * e);
}

static void test_realistic(const char *dir)
{
    enum { E = 100, C = 5 };
    const char *names[C] = {"dense", "lora_r1", "lora_r2", "lora_r3", "lora_r4"};
    double values[E * C];
    realistic(values, E);
    char *doc = plot(dir, "realistic.svg", "training loss", names, C, values, E);
    if (doc != NULL) {
        check_document(doc, "realistic");
        check_coords(doc, "realistic");
        CHECK(count_str(doc, "class=\"curve\"") == C, "realistic: not one path per curve");
        char labels[32][32];
        double ys[32];
        int nl = ytick_labels(doc, labels, ys, 32);
        CHECK(nl >= 3 && find_label(labels, nl, "1") >= 0, "0.6..1.3 needs >= 3 y labels incl. 1");
        CHECK(strstr(doc, ">1</text>") && strstr(doc, ">100</text>"), "x ticks 1 and 100 missing");
    }
    free(doc);

    /* lora_r4 diverges: its loss grows after epoch 25 and is NaN after 40. */
    for (int e = 25; e < E; e++)
        values[e * C + 4] = e < 40 ? values[24 * C + 4] * exp(0.45 * (e - 24)) : NAN;
    doc = plot(dir, "diverging.svg", "lora_r4 diverges", names, C, values, E);
    if (doc != NULL) {
        check_document(doc, "diverging");
        check_coords(doc, "diverging");
        double xs[E], ys[E], fx[E], fy[E];
        int pieces, n = curve_points(doc, 4, xs, ys, E, &pieces);
        int fn = curve_points(doc, 0, fx, fy, E, &pieces);
        CHECK(n == 40 && fn == E && fabs(xs[39] - fx[39]) < 1e-9,
              "diverging curve: %d points, want 40 ending at epoch 40", n);
    }
    free(doc);
}

static void test_edge_cases(const char *dir)
{
    const char *names[] = {"dense", "lora_r1", "lora_r2"};
    char *doc;

    /* One epoch: nothing to connect, so each value is a dot. */
    const double one[2] = {0.5, 0.7};
    if ((doc = plot(dir, "one_epoch.svg", "one epoch", names, 2, one, 1)) != NULL) {
        check_document(doc, "one epoch");
        check_coords(doc, "one epoch");
        CHECK(count_str(doc, "<circle") == 2, "one epoch: %d dots, want 2", count_str(doc, "<circle"));
    }
    free(doc);

    /* All values equal: the range is widened, the line is flat. */
    double flat[20];
    for (int i = 0; i < 20; i++)
        flat[i] = 0.25;
    if ((doc = plot(dir, "flat.svg", "flat", names, 1, flat, 20)) != NULL) {
        check_document(doc, "flat");
        check_coords(doc, "flat");
        char labels[32][32];
        double ys[32], px[20], py[20];
        int pieces, n = curve_points(doc, 0, px, py, 20, &pieces);
        CHECK(ytick_labels(doc, labels, ys, 32) >= 2, "flat: fewer than 2 y labels");
        CHECK(n == 20 && py[0] == py[19] && py[0] > 60.0 && py[0] < 440.0,
              "flat: line not flat inside the plot");
    }
    free(doc);

    /* A curve with no usable value is listed as such and not drawn. */
    const double some[3 * 3] = {1.0, NAN, 0.5, 0.8, -2.0, NAN, 0.6, NAN, 0.4};
    if ((doc = plot(dir, "no_data.svg", "no data for one", names, 3, some, 3)) != NULL) {
        check_document(doc, "no data");
        check_coords(doc, "no data");
        CHECK(strstr(doc, ">lora_r1 (no data)<title>") != NULL, "'(no data)' entry missing");
        CHECK(strstr(doc, "id=\"curve-1\"") == NULL, "curve without data drawn");
        CHECK(count_str(doc, "class=\"curve\"") == 2, "no data: want 2 paths");
    }
    free(doc);

    /* No curves, and curves without epochs: empty axes saying so. */
    if ((doc = plot(dir, "zero_curves.svg", "nothing", NULL, 0, NULL, 10)) != NULL) {
        check_document(doc, "zero curves");
        check_coords(doc, "zero curves");
        CHECK(strstr(doc, ">no data</text>") != NULL && strstr(doc, "class=\"curve\"") == NULL,
              "zero curves: no 'no data' note");
    }
    free(doc);
    if ((doc = plot(dir, "zero_epochs.svg", NULL, names, 2, NULL, 0)) != NULL) {
        check_document(doc, "zero epochs");
        check_coords(doc, "zero epochs");
        CHECK(count_str(doc, " (no data)<title>") == 2, "zero epochs: legend should mark both");
    }
    free(doc);

    /* Huge range: decade labels every 10 decades. */
    double huge[2 * 50];
    for (int e = 0; e < 50; e++) {
        huge[(size_t)e * 2] = pow(10.0, 30.0 - 60.0 * e / 49.0);
        huge[(size_t)e * 2 + 1] = 1.0;
    }
    if ((doc = plot(dir, "huge.svg", "huge", names, 2, huge, 50)) != NULL) {
        check_document(doc, "huge range");
        check_coords(doc, "huge range");
        char labels[32][32];
        double ys[32];
        int nl = ytick_labels(doc, labels, ys, 32);
        static const char *const want[] = {"1e-30", "1e-20", "1e-10", "1", "1e10", "1e20", "1e30"};
        CHECK(nl == 7, "huge: %d y labels, want 7", nl);
        for (int i = 0; i < 7 && i < nl; i++)
            CHECK(strcmp(labels[i], want[i]) == 0, "huge: label %d is '%s', want '%s'", i,
                  labels[i], want[i]);
    }
    free(doc);

    /* Extremes of double: still finite coordinates. */
    const double extreme[4] = {1.7e308, 4.9e-324, 1e-300, 1e300};
    if ((doc = plot(dir, "extreme.svg", "extreme", names, 2, extreme, 2)) != NULL) {
        check_document(doc, "extreme");
        check_coords(doc, "extreme");
        CHECK(strstr(doc, "nan") == NULL && strstr(doc, "inf") == NULL, "extreme: nan/inf printed");
    }
    free(doc);

    /* Long, hostile names and title: shortened in the legend, kept whole in the
     * tooltip, invalid UTF-8 and control characters replaced. */
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memcpy(longname, "\xc3\xa9t\xc3\xa9_", 6); /* "été_" then x... */
    const char *odd[3] = {longname, "bad \xff\xfe utf8 \x01\x7f", "tab\there\nnewline '\"'"};
    double v3[3 * 4];
    for (int i = 0; i < 12; i++)
        v3[i] = 1.0 / (i + 1);
    char title[600];
    memset(title, 'T', sizeof title - 1);
    title[sizeof title - 1] = '\0';
    if ((doc = plot(dir, "names.svg", title, odd, 3, v3, 4)) != NULL) {
        check_document(doc, "odd names");
        check_coords(doc, "odd names");
        CHECK(strstr(doc, longname) != NULL, "long name not kept whole in a <title>");
        CHECK(strstr(doc, "x\xe2\x80\xa6<title>") != NULL, "long name not shortened with an ellipsis");
        CHECK(strstr(doc, "\xff") == NULL && strstr(doc, "\x01") == NULL, "invalid bytes copied");
        CHECK(strstr(doc, "tab here newline &#39;&quot;&#39;") != NULL, "control whitespace not replaced");
        double w, h;
        view_box(doc, &w, &h);
        const char *lg = strstr(doc, "<g class=\"legend\">");
        double lx = 0, lw = 0;
        CHECK(lg != NULL && sscanf(lg, "<g class=\"legend\">\n<rect x=\"%lf\" y=\"%*f\" width=\"%lf\"",
                                   &lx, &lw) == 2 && lx + lw <= w,
              "legend box (x %.2f, width %.2f) runs off the %.0f px canvas", lx, lw, w);
    }
    free(doc);

    /* More curves than colours: the second pass is dashed; the canvas grows
     * to hold the legend. */
    enum { MANY = 40 };
    const char *many[MANY];
    char mnames[MANY][24];
    double mv[MANY * 3];
    for (int c = 0; c < MANY; c++) {
        snprintf(mnames[c], sizeof mnames[c], "curve %d", c);
        many[c] = mnames[c];
        for (int e = 0; e < 3; e++)
            mv[e * MANY + c] = (c + 1.0) / (e + 1.0);
    }
    if ((doc = plot(dir, "many.svg", "forty curves", many, MANY, mv, 3)) != NULL) {
        check_document(doc, "many curves");
        check_coords(doc, "many curves");
        const char *c0 = strstr(doc, "id=\"curve-0\"");
        const char *c7 = strstr(doc, "id=\"curve-7\"");
        CHECK(c0 && c7 && strstr(c0, "stroke-dasharray") > strstr(c0, " d=\"") &&
                  strstr(c7, "stroke-dasharray") < strstr(c7, " d=\""),
              "curve 0 should be solid and curve 7 dashed");
    }
    free(doc);
}

static void test_errors(const char *dir)
{
    const char *names[2] = {"a", NULL};
    const double v[2] = {1.0, 2.0};
    char err[256];
    char *path = path_join(dir, "err.svg");
    CHECK(svg_write_losses(NULL, "t", "y", names, 1, v, 1, err, sizeof err) == LD_EINPUT,
          "NULL path accepted");
    err[0] = '\0';
    CHECK(svg_write_losses(path, "t", "y", names, -1, v, 1, err, sizeof err) == LD_EINPUT &&
              strstr(err, "err.svg") != NULL,
          "negative ncurves: '%s'", err);
    CHECK(svg_write_losses(path, "t", "y", names, 1, v, -3, err, sizeof err) == LD_EINPUT,
          "negative epochs accepted");
    CHECK(svg_write_losses(path, "t", "y", NULL, 1, v, 1, err, sizeof err) == LD_EINPUT,
          "NULL names accepted");
    CHECK(svg_write_losses(path, "t", "y", names, 2, v, 1, err, sizeof err) == LD_EINPUT &&
              strstr(err, "curve 1") != NULL,
          "NULL name accepted: '%s'", err);
    CHECK(svg_write_losses(path, "t", "y", names, 1, NULL, 1, err, sizeof err) == LD_EINPUT,
          "NULL values accepted");
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL, "a rejected call wrote %s", path);
    if (f != NULL)
        fclose(f);
    char *bad = path_join(dir, "missing/dir/x.svg");
    CHECK(svg_write_losses(bad, "t", "y", names, 1, v, 2, err, sizeof err) == LD_EIO &&
              strstr(err, "missing/dir") != NULL,
          "unwritable path: '%s'", err);
    free(bad);
    free(path);
}

/* The stroke attributes of curve c's path: its colour and dash pattern
 * ("" when solid), or 0 if it is not there. */
static int curve_stroke(const char *doc, int c, char *colour, char *dash)
{
    char id[32];
    snprintf(id, sizeof id, "id=\"curve-%d\"", c);
    const char *p = strstr(doc, id), *d = p != NULL ? strstr(p, " d=\"") : NULL;
    const char *st = p != NULL ? strstr(p, "stroke=\"") : NULL;
    if (st == NULL || d == NULL || st > d || sscanf(st, "stroke=\"%7[^\"]\"", colour) != 1)
        return 0;
    const char *da = strstr(p, "stroke-dasharray=\"");
    dash[0] = '\0';
    if (da != NULL && da < d && sscanf(da, "stroke-dasharray=\"%15[^\"]\"", dash) != 1)
        return 0;
    return 1;
}

/* svg_lines.group: curves in groups of 3 (a network's layers, three curves
 * each, the third dashed): a curve's colour is its place in its group, the
 * first group is solid, the second has its own pattern, and a dashed curve
 * keeps the dash of the ungrouped figure in every group. */
static void test_groups(const char *dir)
{
    enum { G = 3, C = 2 * G, X = 3 };
    const char *names[C] = {"a, layer 0", "b, layer 0", "s, layer 0",
                            "a, layer 1", "b, layer 1", "s, layer 1"};
    const unsigned char dashed[C] = {0, 0, 1, 0, 0, 1};
    double v[X * C];
    for (int i = 0; i < X * C; i++)
        v[i] = 1.0 + i;
    char err[256] = "";
    char *path = path_join(dir, "groups.svg");
    const svg_lines fig = {"groups", "x", "y", names, C, v, X, dashed, G};
    const ld_status st = path != NULL ? svg_write_lines(path, &fig, err, sizeof err) : LD_ENOMEM;
    CHECK(st == LD_OK, "groups.svg: %s", err);
    char *doc = st == LD_OK ? slurp(path) : NULL;
    free(path);
    char col[C][8], dash[C][16];
    int ok = doc != NULL;
    for (int c = 0; ok && c < C; c++)
        ok = curve_stroke(doc, c, col[c], dash[c]);
    CHECK(ok, "groups.svg: every curve's stroke");
    if (ok) {
        CHECK(strcmp(col[0], col[3]) == 0 && strcmp(col[1], col[4]) == 0 &&
                  strcmp(col[2], col[5]) == 0 && strcmp(col[0], col[1]) != 0,
              "groups: a curve's colour is its place in the group (%s %s, %s %s)", col[0], col[3],
              col[1], col[4]);
        CHECK(dash[0][0] == '\0' && dash[1][0] == '\0' && dash[3][0] != '\0' &&
                  strcmp(dash[3], dash[4]) == 0 && strcmp(dash[2], dash[5]) == 0 &&
                  dash[2][0] != '\0' && strcmp(dash[2], dash[3]) != 0,
              "groups: group 0 solid, group 1 '%s', the dashed curves '%s' and '%s'", dash[3],
              dash[2], dash[5]);
    }
    free(doc);
}

void test_svg(void)
{
    const char *dir = test_tmpdir("svg");
    test_xml_checker();
    test_content(dir);
    test_realistic(dir);
    test_edge_cases(dir);
    test_errors(dir);
    test_groups(dir);
}
