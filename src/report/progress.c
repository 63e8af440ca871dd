/* progress.c - the one-line progress display on stderr (see progress.h). */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "report/progress.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(progress *p, FILE *fp, int enabled)
{
    memset(p, 0, sizeof *p);
    p->fp = fp;
    p->enabled = enabled && fp != NULL;
    p->delay = PROGRESS_DELAY;
    p->interval = PROGRESS_INTERVAL;
    p->start = now_s();
}

void progress_format_time(char *buf, size_t len, double seconds)
{
    if (!isfinite(seconds) || seconds < 0.0 || seconds > 1e9) {
        snprintf(buf, len, "--:--");
        return;
    }
    const long t = (long)(seconds + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

size_t progress_format(char *buf, size_t len, const experiment_progress *ep, double elapsed,
                       double eta)
{
    char seed[32] = "", el[24], left[24];
    if (len == 0)
        return 0;
    if (ep->repeats > 1)
        snprintf(seed, sizeof seed, "  seed %d/%d", ep->seed_index + 1, ep->repeats);
    progress_format_time(el, sizeof el, elapsed);
    progress_format_time(left, sizeof left, eta);
    const int n = snprintf(buf, len, "%s%s  epoch %d/%d  elapsed %s  ETA %s", ep->model, seed,
                           ep->epoch, ep->epochs, el, left);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}

void progress_update_at(progress *p, const experiment_progress *ep, double now)
{
    if (!p->enabled)
        return;
    const double elapsed = now - p->start;
    if (elapsed < p->delay || (p->drawn && now - p->last < p->interval))
        return;
    /* the time left, assuming every remaining epoch takes as long as the
     * average so far */
    double eta = -1.0;
    if (ep->done > 0 && ep->total >= ep->done)
        eta = elapsed * (double)(ep->total - ep->done) / (double)ep->done;
    char line[PROGRESS_WIDTH + 1];
    progress_format(line, sizeof line, ep, elapsed, eta);
    fprintf(p->fp, "\r%s\033[K", line);
    fflush(p->fp);
    p->drawn = 1;
    p->last = now;
    p->draws++;
}

void progress_update(void *ctx, const experiment_progress *ep)
{
    progress *p = ctx;
    if (p->enabled)
        progress_update_at(p, ep, now_s());
}

void progress_clear(progress *p)
{
    if (!p->enabled || !p->drawn)
        return;
    fputs("\r\033[K", p->fp);
    fflush(p->fp);
    p->drawn = 0;
}
