/* svg.c - the loss-curve figure described in svg.h.
 *
 * Dimension key: E epochs, C curves.
 *
 * The figure is built in four layers, each a few small static helpers:
 *   text     UTF-8 cleaning, XML escaping, shortening of long strings
 *   numbers  coordinates as fixed-point with two decimals, printed without the
 *            locale; tick labels printed exactly from an integer mantissa and a
 *            power of ten, so "0.1" is never "0.10000000000000001"
 *   axes     data range, "nice" 1-2-5 steps, epoch -> x and log10(loss) -> y
 *   drawing  grid, axes, curves, legend, title
 * Only svg_write_losses touches the file system.
 */
#include "report/svg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io/atomicio.h"

/* ------------------------------------------------------------------------ */
/* layout (px); the plot area is fixed, the canvas grows only for a legend
 * that is taller than the plot */

#define FIG_W 800.0
#define PLOT_TOP 48.0
#define PLOT_H 400.0
#define MARGIN_BOTTOM 52.0
#define FONT_PX 12.0
#define CHAR_W 7.0           /* rough advance of one 12px sans-serif glyph */
#define LEGEND_ROW 18.0
#define LEGEND_MAX_NAME 24   /* characters of a curve name shown in the legend */
#define TITLE_PX 16.0        /* title font size, shrunk down to TITLE_MIN_PX for long titles */
#define TITLE_MIN_PX 11.0
#define TITLE_CHAR_W 0.72    /* generous advance of one bold glyph, in font sizes */
#define YLABEL_MAX 56        /* characters of the y axis title that fit along PLOT_H */
#define MIN_LOG_SPAN 0.01    /* narrowest y range, in decades (a factor 1.023) */
#define MAX_TICKS 64

static const char *const NO_DATA = " (no data)";

/* Okabe & Ito (2008), a palette that stays distinct under the common colour
 * vision deficiencies; its yellow is left out because it is too light on white. */
static const char *const PALETTE[] = {
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
};
#define NCOLOURS ((int)(sizeof PALETTE / sizeof PALETTE[0]))
/* Dash pattern for the 1st, 2nd, ... pass through the palette. */
static const char *const DASHES[] = {NULL, "7 4", "2 3", "9 3 2 3"};
#define NDASHES ((int)(sizeof DASHES / sizeof DASHES[0]))

/* ------------------------------------------------------------------------ */
/* text */

/* Length in bytes of the UTF-8 character at s if XML 1.0 may hold it in text,
 * else 0: invalid or overlong UTF-8, surrogates, U+FFFE/U+FFFF, and control
 * characters (which XML forbids or SVG would only collapse). */
static size_t xml_char_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return (c >= 0x20 && c != 0x7f) ? 1 : 0;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || cp <= 0x9f)
        return 0;
    return n;
}

/* Number of characters text_put shows for s when not shortened. */
static size_t text_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; n++) {
        size_t k = xml_char_len(p);
        p += k > 0 ? k : 1;
    }
    return n;
}

/* Write s so that it is valid both as XML text and inside a quoted attribute:
 * & < > " ' become entities, control whitespace a space, any other byte XML
 * cannot hold a '?'. If s has more than max characters, the first max-1 are
 * written followed by an ellipsis. */
static void text_put(FILE *fp, const char *s, size_t max)
{
    size_t shown = text_len(s) > max ? max - 1 : SIZE_MAX;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; *p != '\0' && i < shown; i++) {
        size_t k = xml_char_len(p);
        if (k == 0) {
            fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : '?', fp);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fwrite(p, 1, k, fp); break;
        }
        p += k;
    }
    if (shown != SIZE_MAX)
        fputs("\xe2\x80\xa6", fp); /* U+2026 HORIZONTAL ELLIPSIS */
}

/* Characters shown for s when cut to max (see text_put). */
static size_t text_shown(const char *s, size_t max)
{
    size_t n = text_len(s);
    return n > max ? max : n;
}

/* ------------------------------------------------------------------------ */
/* numbers */

/* A coordinate printed as fixed point with two decimals. Integer arithmetic
 * rather than "%.2f", so that a caller's setlocale() cannot print a comma.
 * Returned by value: num(x).s lives until the end of the enclosing call. */
typedef struct {
    char s[32];
} numstr;

static numstr num(double v)
{
    numstr r;
    if (!(v > -1e9 && v < 1e9)) /* cannot happen for a laid-out figure; stay valid */
        v = 0.0;
    long long h = llround(v * 100.0);
    const char *sign = h < 0 ? "-" : "";
    if (h < 0)
        h = -h;
    snprintf(r.s, sizeof r.s, "%s%lld.%02lld", sign, h / 100, h % 100);
    return r;
}

/* Print the tick value n * 10^k (n > 0) exactly and compactly: "0.01", "0.5",
 * "1", "20", "1000", "1.25", and outside 0.01 .. 9999 "1e-3", "2.5e6". */
static void tick_label(char *buf, size_t len, long long n, int k)
{
    char d[24];
    while (n % 10 == 0 && n != 0) {
        n /= 10;
        k++;
    }
    int nd = snprintf(d, sizeof d, "%lld", n);
    int lead = k + nd - 1; /* power of ten of the leading digit */
    if (lead < -2 || lead > 3) {
        snprintf(buf, len, "%c%s%se%d", d[0], nd > 1 ? "." : "", d + 1, lead);
    } else if (k >= 0) {
        snprintf(buf, len, "%s%.*s", d, k, "000");
    } else if (nd + k > 0) {
        snprintf(buf, len, "%.*s.%s", nd + k, d, d + nd + k);
    } else {
        snprintf(buf, len, "0.%.*s%s", -(nd + k), "00", d);
    }
}

/* ------------------------------------------------------------------------ */
/* axes */

/* A tick at the value n * 10^k, placed at pos: the epoch on the x axis,
 * log10 of the value on the y axis. */
typedef struct {
    double pos;
    long long n;
    int k;
} tick;

typedef struct {
    tick t[MAX_TICKS];
    int n;
} tick_list;

/* Where the plot area is and which data range it shows. */
typedef struct {
    double left, top, right, bottom; /* plot area, px */
    double elo, ehi;                 /* epoch at the left and right edge */
    double llo, lhi;                 /* log10(loss) at the bottom and top edge */
} frame;

static int usable(double v)
{
    return isfinite(v) && v > 0.0;
}

static double x_of(const frame *f, double epoch)
{
    return f->left + (epoch - f->elo) / (f->ehi - f->elo) * (f->right - f->left);
}

static double y_of(const frame *f, double log10v)
{
    return f->bottom - (log10v - f->llo) / (f->lhi - f->llo) * (f->bottom - f->top);
}

static void add_tick(tick_list *tl, double pos, long long n, int k)
{
    if (tl->n < MAX_TICKS)
        tl->t[tl->n++] = (tick){pos, n, k};
}

/* The smallest step m * 10^k >= raw (raw > 0, not tiny) with m in {1, 2, 5}. */
static void nice_step(double raw, int *m, int *k)
{
    int e = (int)floor(log10(raw));
    double f = raw / pow(10.0, e);
    if (f <= 1.0 + 1e-9)
        *m = 1;
    else if (f <= 2.0 + 1e-9)
        *m = 2;
    else if (f <= 5.0 + 1e-9)
        *m = 5;
    else {
        *m = 1;
        e++;
    }
    *k = e;
}

/* log10 range [lo, hi] of the usable values: a flat set is widened by a
 * factor 2 either way, a very narrow one to MIN_LOG_SPAN, and the result is
 * padded by 4% so no line runs along the frame. With no usable value at all
 * the axis shows 0.1 .. 10. */
static void log_range(const double *values, size_t count, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        if (usable(values[i])) {
            double l = log10(values[i]);
            a = fmin(a, l);
            b = fmax(b, l);
        }
    }
    if (a > b) {
        a = -1.0;
        b = 1.0;
    } else if (b - a < 1e-9) {
        a -= log10(2.0);
        b += log10(2.0);
    } else if (b - a < MIN_LOG_SPAN) {
        double mid = 0.5 * (a + b);
        a = mid - 0.5 * MIN_LOG_SPAN;
        b = mid + 0.5 * MIN_LOG_SPAN;
    }
    double pad = 0.04 * (b - a);
    *lo = a - pad;
    *hi = b + pad;
}

/* Ticks for a log10 axis showing [lo, hi], in increasing order:
 *  - 2 decades or more: powers of ten, every 1, 2, 5, 10, ... decades so that
 *    there are at most 8 (if that gives at least 3);
 *  - less: 1, 2 and 5 times powers of ten (if that gives at least 3);
 *  - narrower still: evenly spaced values, as on a linear axis.
 * *minor is set when grid lines at 2..9 times each power of ten would help. */
static void log_ticks(double lo, double hi, tick_list *tl, int *minor)
{
    tl->n = 0;
    *minor = 0;
    if (hi - lo >= 2.0) {
        int m, k;
        nice_step((hi - lo) / 7.0, &m, &k);
        int step = k < 0 ? 1 : m * (int)llround(pow(10.0, k));
        for (int j = (int)ceil(lo / step); j <= (int)floor(hi / step); j++)
            add_tick(tl, (double)j * step, 1, j * step);
        if (tl->n >= 3) {
            *minor = step == 1 && hi - lo <= 6.0;
            return;
        }
        tl->n = 0; /* just over 2 decades may hold only 2 powers of ten */
    }
    static const int m125[] = {1, 2, 5};
    for (int d = (int)floor(lo); d <= (int)ceil(hi); d++) {
        for (int i = 0; i < 3; i++) {
            double pos = d + log10(m125[i]);
            if (pos >= lo && pos <= hi)
                add_tick(tl, pos, m125[i], d);
        }
    }
    if (tl->n >= 3)
        return;

    /* Work with v = value / 10^base, which lies in (0.01, 10), so that pow()
     * stays exact enough even for losses like 1e-300. */
    tl->n = 0;
    int base = (int)floor(hi);
    double vlo = pow(10.0, lo - base), vhi = pow(10.0, hi - base);
    int m, k;
    nice_step((vhi - vlo) / 5.0, &m, &k);
    double step = m * pow(10.0, k);
    for (long long i = (long long)ceil(vlo / step); (double)i * step <= vhi; i++) {
        double pos = log10((double)(i * m)) + k + base;
        if (pos >= lo && pos <= hi)
            add_tick(tl, pos, i * m, k + base);
    }
}

/* Epoch ticks: multiples of a 1-2-5 step giving about 8 labels, and epoch 1
 * where the axis starts, unless the step is so small that "1" would crowd
 * the first multiple. */
static void epoch_ticks(int epochs, tick_list *tl)
{
    tl->n = 0;
    if (epochs < 2) {
        add_tick(tl, 1.0, 1, 0);
        return;
    }
    int m, k;
    nice_step((epochs - 1) / 7.0, &m, &k);
    long long step = k < 0 ? 1 : m * (long long)llround(pow(10.0, k));
    if (step != 2)
        add_tick(tl, 1.0, 1, 0);
    for (long long e = step; e <= epochs; e += step)
        if (e > 1)
            add_tick(tl, (double)e, e, 0);
}

/* ------------------------------------------------------------------------ */
/* drawing */

static int curve_has_data(const double *values, int ncurves, int epochs, int c)
{
    for (int e = 0; e < epochs; e++)
        if (usable(values[(size_t)e * (size_t)ncurves + (size_t)c]))
            return 1;
    return 0;
}

/* The palette entry of curve c: c's own, or in groups (svg_lines.group)
 * its place in its group's. */
static int colour_of(int c, int group)
{
    return (group > 0 ? c % group : c) % NCOLOURS;
}

/* stroke="..." and, from the second pass through the palette on (or when
 * the caller asks for it), a dash pattern; in groups, the group's pattern
 * (the first solid, DASHES[1] left to the dashed curves). */
static void put_stroke(FILE *fp, int c, const unsigned char *dashed, int group)
{
    const char *dash = dashed != NULL && dashed[c] ? DASHES[1]
                       : group > 0 ? (c / group) % (NDASHES - 1) == 0
                                         ? NULL
                                         : DASHES[1 + (c / group) % (NDASHES - 1)]
                                   : DASHES[(c / NCOLOURS) % NDASHES];
    fprintf(fp, "stroke=\"%s\"", PALETTE[colour_of(c, group)]);
    if (dash != NULL)
        fprintf(fp, " stroke-dasharray=\"%s\"", dash);
}

static void put_grid(FILE *fp, const frame *f, const tick_list *xt, const tick_list *yt,
                     int minor)
{
    fputs("<g class=\"grid\" stroke-width=\"1\">\n", fp);
    if (minor) {
        for (int d = (int)floor(f->llo); d <= (int)ceil(f->lhi); d++) {
            for (int j = 2; j <= 9; j++) {
                double pos = d + log10(j);
                if (pos <= f->llo || pos >= f->lhi)
                    continue;
                double y = y_of(f, pos);
                fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#f0f0f0\"/>\n",
                        num(f->left).s, num(y).s, num(f->right).s, num(y).s);
            }
        }
    }
    for (int i = 0; i < yt->n; i++) {
        double y = y_of(f, yt->t[i].pos);
        fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#dddddd\"/>\n",
                num(f->left).s, num(y).s, num(f->right).s, num(y).s);
    }
    for (int i = 0; i < xt->n; i++) {
        double x = x_of(f, xt->t[i].pos);
        fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#dddddd\"/>\n",
                num(x).s, num(f->top).s, num(x).s, num(f->bottom).s);
    }
    fputs("</g>\n", fp);
}

/* Frame, tick marks and labels, axis titles. A label that would touch the
 * previous one is left out (its grid line stays). */
static void put_axes(FILE *fp, const frame *f, const tick_list *xt, const tick_list *yt,
                     const char *x_label, const char *y_label)
{
    char lab[48];
    fprintf(fp, "<rect class=\"frame\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" "
                "stroke=\"#444444\" stroke-width=\"1\"/>\n",
            num(f->left).s, num(f->top).s, num(f->right - f->left).s,
            num(f->bottom - f->top).s);

    fputs("<g class=\"xticks\" text-anchor=\"middle\" fill=\"#222222\">\n", fp);
    double last_x = -1e9, last_w = 0.0;
    for (int i = 0; i < xt->n; i++) {
        tick_label(lab, sizeof lab, xt->t[i].n, xt->t[i].k);
        double x = x_of(f, xt->t[i].pos), w = CHAR_W * (double)strlen(lab);
        if (x - last_x < 0.5 * (w + last_w) + 8.0)
            continue;
        fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#444444\"/>\n",
                num(x).s, num(f->bottom).s, num(x).s, num(f->bottom + 5.0).s);
        fprintf(fp, "<text class=\"xtick\" x=\"%s\" y=\"%s\">%s</text>\n", num(x).s,
                num(f->bottom + 19.0).s, lab);
        last_x = x;
        last_w = w;
    }
    fputs("</g>\n", fp);

    fputs("<g class=\"yticks\" text-anchor=\"end\" fill=\"#222222\">\n", fp);
    double last_y = 1e9;
    for (int i = 0; i < yt->n; i++) {
        double y = y_of(f, yt->t[i].pos);
        if (last_y - y < FONT_PX + 2.0)
            continue;
        tick_label(lab, sizeof lab, yt->t[i].n, yt->t[i].k);
        fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#444444\"/>\n",
                num(f->left - 5.0).s, num(y).s, num(f->left).s, num(y).s);
        fprintf(fp, "<text class=\"ytick\" x=\"%s\" y=\"%s\">%s</text>\n", num(f->left - 8.0).s,
                num(y + 4.0).s, lab);
        last_y = y;
    }
    fputs("</g>\n", fp);

    fprintf(fp, "<text class=\"xlabel\" x=\"%s\" y=\"%s\" text-anchor=\"middle\">",
            num(0.5 * (f->left + f->right)).s, num(f->bottom + 42.0).s);
    text_put(fp, x_label, YLABEL_MAX);
    fputs("</text>\n", fp);
    if (y_label != NULL && y_label[0] != '\0') {
        double ym = 0.5 * (f->top + f->bottom);
        fprintf(fp, "<text class=\"ylabel\" x=\"18.00\" y=\"%s\" text-anchor=\"middle\" "
                    "transform=\"rotate(-90 18.00 %s)\">",
                num(ym).s, num(ym).s);
        text_put(fp, y_label, YLABEL_MAX);
        fputs("</text>\n", fp);
    }
}

/* Curve c as one path; missing values break it into pieces ("M" starts a
 * piece). A point with no usable neighbour also gets a dot, as a one-point
 * piece draws nothing. */
static void put_curve(FILE *fp, const frame *f, const double *values, int ncurves, int epochs,
                      int c, const char *name, const unsigned char *dashed, int group)
{
#define V(e) values[(size_t)(e) * (size_t)ncurves + (size_t)c] /* (E, C) */
    fprintf(fp, "<path id=\"curve-%d\" class=\"curve\" fill=\"none\" ", c);
    put_stroke(fp, c, dashed, group);
    fputs(" stroke-width=\"1.8\" stroke-linejoin=\"round\" d=\"", fp);
    int prev_ok = 0, npts = 0;
    for (int e = 0; e < epochs; e++) {
        int ok = usable(V(e));
        if (ok) {
            fprintf(fp, "%s%s%s,%s", npts == 0 ? "" : (npts % 8 == 0 ? "\n" : " "),
                    prev_ok ? "L" : "M", num(x_of(f, e + 1)).s, num(y_of(f, log10(V(e)))).s);
            npts++;
        }
        prev_ok = ok;
    }
    fputs("\"><title>", fp);
    text_put(fp, name, SIZE_MAX);
    fputs("</title></path>\n", fp);
    for (int e = 0; e < epochs; e++) {
        int alone = usable(V(e)) && (e == 0 || !usable(V(e - 1))) &&
                    (e == epochs - 1 || !usable(V(e + 1)));
        if (alone)
            fprintf(fp, "<circle class=\"point\" cx=\"%s\" cy=\"%s\" r=\"3.00\" fill=\"%s\"/>\n",
                    num(x_of(f, e + 1)).s, num(y_of(f, log10(V(e)))).s, PALETTE[colour_of(c, group)]);
    }
#undef V
}

/* Legend box width for these names: swatch, gap, the longest shown name. */
static double legend_width(const char *const *names, int ncurves, const double *values,
                           int epochs)
{
    size_t chars = 8;
    for (int c = 0; c < ncurves; c++) {
        size_t n = text_shown(names[c], LEGEND_MAX_NAME);
        if (!curve_has_data(values, ncurves, epochs, c))
            n += strlen(NO_DATA);
        if (n > chars)
            chars = n;
    }
    return 58.0 + CHAR_W * (double)chars;
}

static void put_legend(FILE *fp, double x, double y, double w, const char *const *names,
                       int ncurves, const double *values, int epochs, const unsigned char *dashed,
                       int group)
{
    double h = 8.0 + LEGEND_ROW * ncurves;
    fprintf(fp, "<g class=\"legend\">\n<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
                "fill=\"#ffffff\" stroke=\"#bbbbbb\"/>\n",
            num(x).s, num(y).s, num(w).s, num(h).s);
    for (int c = 0; c < ncurves; c++) {
        double ym = y + 4.0 + LEGEND_ROW * (c + 0.5);
        fprintf(fp, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke-width=\"2.2\" ",
                num(x + 10.0).s, num(ym).s, num(x + 38.0).s, num(ym).s);
        put_stroke(fp, c, dashed, group);
        fputs("/>\n", fp);
        /* A curve without data is greyed out as a whole: a leading space
         * inside a <tspan> would be collapsed away by some renderers. */
        int has_data = curve_has_data(values, ncurves, epochs, c);
        fprintf(fp, "<text class=\"legend-name\" x=\"%s\" y=\"%s\"%s>", num(x + 46.0).s,
                num(ym + 4.0).s, has_data ? "" : " fill=\"#888888\"");
        text_put(fp, names[c], LEGEND_MAX_NAME);
        if (!has_data)
            fputs(NO_DATA, fp);
        fputs("<title>", fp);
        text_put(fp, names[c], SIZE_MAX);
        fputs("</title></text>\n", fp);
    }
    fputs("</g>\n", fp);
}

/* The title, centred across the canvas: a long one gets a smaller font, and
 * one too long even for that is cut short. */
static void put_title(FILE *fp, const char *title)
{
    double room = FIG_W - 40.0;
    double chars = (double)text_len(title);
    double px = fmax(TITLE_MIN_PX, fmin(TITLE_PX, room / (TITLE_CHAR_W * chars)));
    size_t max = (size_t)(room / (TITLE_CHAR_W * px));
    fprintf(fp, "<text class=\"title\" x=\"%s\" y=\"30.00\" text-anchor=\"middle\" "
                "font-size=\"%s\" font-weight=\"bold\">",
            num(0.5 * FIG_W).s, num(px).s);
    text_put(fp, title, max);
    fputs("</text>\n", fp);
}

/* The whole document. */
static void put_figure(FILE *fp, const svg_lines *fig)
{
    const char *title = fig->title, *y_label = fig->y_label;
    const char *const *names = fig->names;
    const int ncurves = fig->ncurves, epochs = fig->npoints;
    const double *values = fig->values;
    size_t count = (size_t)epochs * (size_t)ncurves;
    frame f;
    tick_list xt, yt;
    int minor;
    char lab[48];

    log_range(values, count, &f.llo, &f.lhi);
    log_ticks(f.llo, f.lhi, &yt, &minor);
    epoch_ticks(epochs, &xt);
    /* 2% margin so the first and last epochs do not sit on the frame */
    double xpad = epochs >= 2 ? 0.02 * (epochs - 1) : 1.0;
    f.elo = 1.0 - xpad;
    f.ehi = (epochs >= 2 ? epochs : 1) + xpad;

    size_t lab_chars = 1;
    for (int i = 0; i < yt.n; i++) {
        tick_label(lab, sizeof lab, yt.t[i].n, yt.t[i].k);
        if (strlen(lab) > lab_chars)
            lab_chars = strlen(lab);
    }
    double legend_w = ncurves > 0 ? legend_width(names, ncurves, values, epochs) : 0.0;
    f.left = 34.0 + CHAR_W * (double)lab_chars;
    f.top = PLOT_TOP;
    f.right = ncurves > 0 ? FIG_W - 12.0 - legend_w - 16.0 : FIG_W - 24.0;
    f.bottom = PLOT_TOP + PLOT_H;
    double legend_h = 8.0 + LEGEND_ROW * ncurves;
    double fig_h = fmax(PLOT_TOP + PLOT_H + MARGIN_BOTTOM, PLOT_TOP + legend_h + 12.0);

    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%s\" "
                "height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"DejaVu Sans, Helvetica, "
                "Arial, sans-serif\" font-size=\"12\">\n",
            num(FIG_W).s, num(fig_h).s, num(FIG_W).s, num(fig_h).s);
    if (title != NULL && title[0] != '\0') {
        fputs("<title>", fp);
        text_put(fp, title, SIZE_MAX);
        fputs("</title>\n", fp);
    }
    fprintf(fp, "<rect x=\"0\" y=\"0\" width=\"%s\" height=\"%s\" fill=\"#ffffff\"/>\n",
            num(FIG_W).s, num(fig_h).s);
    if (title != NULL && title[0] != '\0')
        put_title(fp, title);

    put_grid(fp, &f, &xt, &yt, minor);
    put_axes(fp, &f, &xt, &yt, fig->x_label != NULL ? fig->x_label : "", y_label);

    int any = 0;
    fputs("<g class=\"curves\">\n", fp);
    for (int c = 0; c < ncurves; c++) {
        if (curve_has_data(values, ncurves, epochs, c)) {
            put_curve(fp, &f, values, ncurves, epochs, c, names[c], fig->dashed, fig->group);
            any = 1;
        }
    }
    fputs("</g>\n", fp);
    if (!any)
        fprintf(fp, "<text class=\"empty\" x=\"%s\" y=\"%s\" text-anchor=\"middle\" "
                    "fill=\"#888888\" font-size=\"16\">no data</text>\n",
                num(0.5 * (f.left + f.right)).s, num(0.5 * (f.top + f.bottom)).s);
    if (ncurves > 0)
        put_legend(fp, f.right + 16.0, f.top, legend_w, names, ncurves, values, epochs,
                   fig->dashed, fig->group);
    fputs("</svg>\n", fp);
}

/* ------------------------------------------------------------------------ */

ld_status svg_write_lines(const char *path, const svg_lines *fig, char *err, size_t errlen)
{
    if (path == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "svg: no output path given");
    const int ncurves = fig->ncurves, epochs = fig->npoints;
    if (ncurves < 0 || epochs < 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: need ncurves >= 0 and points >= 0, got %d and %d",
                       path, ncurves, epochs);
    size_t count;
    if (ld_mul_size(&count, (size_t)epochs, (size_t)ncurves) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: %d points x %d curves is too large",
                       path, epochs, ncurves);
    if (ncurves > 0 && fig->names == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s: no curve names given", path);
    for (int c = 0; c < ncurves; c++)
        if (fig->names[c] == NULL)
            return ld_fail(err, errlen, LD_EINPUT, "%s: name of curve %d is NULL", path, c);
    if (count > 0 && fig->values == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s: no values given", path);

    atomic_file af;
    ld_status st = atomic_open(&af, path, err, errlen);
    if (st != LD_OK)
        return st;
    put_figure(af.fp, fig);
    return atomic_commit(&af, err, errlen);
}

ld_status svg_write_losses(const char *path, const char *title, const char *y_label,
                           const char *const *names, int ncurves,
                           const double *values, int epochs,
                           char *err, size_t errlen)
{
    const svg_lines fig = {title, "epoch", y_label, names, ncurves, values, epochs, NULL, 0};
    return svg_write_lines(path, &fig, err, errlen);
}
