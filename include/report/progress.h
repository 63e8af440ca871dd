/* progress.h - the one-line progress display on stderr (a terminal only).
 *
 * main.c hands progress_update to the experiment as its progress hook
 * (experiment_hooks); the experiment itself never prints. The line shows the
 * model, the epoch, elapsed time and an estimate of the time left, e.g.
 *
 *     lora_r2  seed 2/3  epoch 37/100  elapsed 0:03  ETA 0:05
 *
 * and is redrawn in place ("\r", the text, then "ESC [K" to clear the rest
 * of the line). It appears only once a run has lasted `delay` seconds
 * (short runs never show it), is redrawn at most once per `interval`
 * seconds, and progress_clear() erases it before anything else is printed.
 * Nothing is written when the display is disabled (main.c enables it only
 * when stderr is a terminal and --quiet is not given).
 */
#ifndef LORA_DEMO_PROGRESS_H
#define LORA_DEMO_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "experiment/experiment.h"

#define PROGRESS_DELAY 1.0    /* seconds before the line first appears */
#define PROGRESS_INTERVAL 0.1 /* seconds between two redraws: at most 10 per second */
#define PROGRESS_WIDTH 79     /* longest line drawn, in bytes */

typedef struct {
    FILE *fp;         /* where the line goes (stderr) */
    int enabled;
    double delay, interval; /* seconds, PROGRESS_DELAY and PROGRESS_INTERVAL by default */
    double start;     /* monotonic seconds at progress_init */
    double last;      /* monotonic seconds of the last draw */
    int drawn;        /* a line is on the screen */
    long draws;       /* lines drawn so far (for tests) */
} progress;

/* Start the clock; enabled = 0 makes every call a no-op. */
void progress_init(progress *p, FILE *fp, int enabled);

/* The experiment's progress hook: ctx is a progress*. Draws at most once per
 * interval, and only after delay. */
void progress_update(void *ctx, const experiment_progress *ep);

/* progress_update with the time given (monotonic seconds), for tests. */
void progress_update_at(progress *p, const experiment_progress *ep, double now);

/* Erase the line if one is drawn. */
void progress_clear(progress *p);

/* The text of the line, without "\r" or escapes, cut to fit len (at most
 * PROGRESS_WIDTH + 1 is useful). elapsed and eta in seconds; eta < 0 means
 * unknown ("ETA --:--"). Returns the length written. */
size_t progress_format(char *buf, size_t len, const experiment_progress *ep, double elapsed,
                       double eta);

/* Seconds as "m:ss", or "h:mm:ss" from an hour on; "--:--" if negative or
 * not finite. */
void progress_format_time(char *buf, size_t len, double seconds);

#endif /* LORA_DEMO_PROGRESS_H */
