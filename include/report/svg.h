/* svg.h - plot per-epoch training-loss curves as a self-contained SVG file.
 *
 * One call writes one figure: a log-scale y axis (loss), a linear x axis
 * (epoch 1..epochs), one line per curve in a colour-blind-friendly palette and
 * a legend to the right of the plot. The output is an SVG 1.1 document in
 * UTF-8, written atomically (see atomicio.h), and byte-identical for identical
 * input: no time stamps, and numbers are formatted without the C locale's
 * help.
 *
 * Dimension key: E epochs, C curves.
 */
#ifndef LORA_DEMO_SVG_H
#define LORA_DEMO_SVG_H

#include <stddef.h>

#include "status.h"

/* Write the loss curves to path.
 *
 * values  (E, C) row-major: values[e*C + c] is curve c's loss after epoch e+1.
 *         A value that is NaN, infinite or <= 0 is "missing" (a diverged model
 *         stops, an interrupted run ends early): the line ends there or has a
 *         gap, it is never drawn through. A point with no neighbour on either
 *         side is drawn as a dot.
 * names   (C) curve names for the legend; any bytes are accepted (escaped,
 *         invalid UTF-8 and control characters replaced, long names cut short
 *         in the legend; the full name is kept in a <title> tooltip). A curve
 *         without any usable value is still listed, marked "(no data)".
 * title, y_label  may be NULL for none.
 *
 * epochs >= 0 and ncurves >= 0; either may be 0 (an empty figure is written).
 * names and values may be NULL only when they hold no elements.
 * Returns LD_OK, LD_EINPUT for bad arguments, LD_ENOMEM if E*C overflows, or
 * LD_EIO if the file cannot be written; err gets one line naming path. */
ld_status svg_write_losses(const char *path, const char *title, const char *y_label,
                           const char *const *names, int ncurves,
                           const double *values, int epochs,
                           char *err, size_t errlen);

/* The same figure for any curves over x = 1..npoints: svg_write_losses is
 * this with x_label "epoch" and no dashed curve. A curve with dashed[c] set
 * is drawn dashed (a reference line: a bound, the teacher's shift). */
typedef struct {
    const char *title, *x_label, *y_label; /* each may be NULL for none */
    const char *const *names;   /* (C) */
    int ncurves;                /* C */
    const double *values;       /* (X, C): values[x*C + c] is curve c at x + 1; missing as above */
    int npoints;                /* X */
    const unsigned char *dashed; /* (C), or NULL: none dashed */
    int group;                  /* 0; or curves come in groups of this many (a network's
                                 * layers): curve c takes the colour of its place c % group
                                 * and its group's dash pattern, the first group solid (a
                                 * dashed curve keeps its own dash) */
} svg_lines;
ld_status svg_write_lines(const char *path, const svg_lines *fig, char *err, size_t errlen);

#endif /* LORA_DEMO_SVG_H */
