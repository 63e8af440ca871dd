/* test_pool.c - the thread pool (src/kernels/pool.c) on its own.
 *
 *   - every job runs exactly once on every thread, and pool_run returns only
 *     when all of them have finished: checked over many jobs with no gap
 *     between them (the waiting threads catch the next job while polling)
 *     and with gaps longer than the polling (they catch it asleep);
 *   - pool_timing counts the jobs and each thread's share of them;
 *   - pool_share cuts n items into contiguous shares that cover them once;
 *   - pool_share_balanced does too, in proportion to the speeds that
 *     pool_note_work recorded before the job (equal before any).
 */
#define _POSIX_C_SOURCE 199309L
#include <string.h>
#include <time.h>

#include "kernels/pool.h"
#include "test.h"

#define JOBS 300
#define SPIN_GAP_MS 2 /* longer than pool.c's POOL_SPIN_US: the workers sleep */

typedef struct {
    int calls[4];          /* per thread, calls in this job */
    int seen_n[4];         /* the nthreads each was told */
    double sink[4];        /* a little work, so threads finish at different times */
} count_ctx;

static void count_job(void *vctx, int tid, int nthreads)
{
    count_ctx *c = vctx;
    double s = 0.0;
    for (int i = 0; i < 2000 * (tid + 1); i++)
        s += (double)i * 0.5;
    c->sink[tid] = s;
    c->calls[tid]++;
    c->seen_n[tid] = nthreads;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void check_runs(int threads)
{
    pool *p = NULL;
    char err[128];
    CHECK(pool_init(&p, threads, 16, err, sizeof err) == LD_OK, "pool_init(%d): %s", threads, err);
    if (p == NULL)
        return;
    pool_timing_on(p, 1);
    int bad = 0;
    for (int j = 0; j < JOBS; j++) {
        if (j % 3 == 2)
            sleep_ms(SPIN_GAP_MS); /* every third job finds the workers asleep */
        count_ctx c;
        memset(&c, 0, sizeof c);
        pool_run(p, count_job, &c);
        for (int t = 0; t < threads; t++)
            if (c.calls[t] != 1 || c.seen_n[t] != threads)
                bad++;
    }
    CHECK(bad == 0, "%d threads: %d thread-jobs did not run exactly once before pool_run returned",
          threads, bad);
    pool_timing tm;
    pool_timing_read(p, &tm);
    CHECK(tm.jobs == JOBS, "%d threads: pool_timing counted %ld jobs, not %d", threads, tm.jobs,
          JOBS);
    double most = 0.0;
    int positive = 1;
    for (int t = 0; t < threads; t++) {
        positive &= tm.job_ms[t] > 0.0;
        most = tm.job_ms[t] > most ? tm.job_ms[t] : most;
    }
    CHECK(positive && tm.path_ms >= most && tm.job_ms[threads] == 0.0,
          "%d threads: job times not positive for each thread, or the path (%g ms) shorter than "
          "one thread's (%g ms)", threads, tm.path_ms, most);
    pool_timing_on(p, 0);
    count_ctx c;
    memset(&c, 0, sizeof c);
    pool_run(p, count_job, &c);
    pool_timing_read(p, &tm);
    CHECK(tm.jobs == 0, "%d threads: timing off still counted %ld jobs", threads, tm.jobs);
    pool_free(p);
}

static void check_share(void)
{
    const int ns[] = {0, 1, 7, 64, 100, 1000};
    const int aligns[] = {1, 16, 64};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof aligns / sizeof aligns[0]; b++)
            for (int threads = 1; threads <= 5; threads++) {
                int next = 0, ok = 1;
                for (int t = 0; t < threads; t++) {
                    int lo, hi;
                    pool_share(ns[a], aligns[b], t, threads, &lo, &hi);
                    ok &= lo == next && hi >= lo && (lo % aligns[b] == 0 || lo == ns[a]);
                    next = hi;
                }
                CHECK(ok && next == ns[a], "pool_share(%d, align %d) over %d threads", ns[a],
                      aligns[b], threads);
            }
}

typedef struct {
    const pool *p;
    int n, align;
    int lo[4], hi[4];
} share_ctx;

static void share_job(void *vctx, int tid, int nthreads)
{
    share_ctx *c = vctx;
    pool_share_balanced(c->p, c->n, c->align, tid, nthreads, &c->lo[tid], &c->hi[tid]);
}

/* Shares of c->n items on `threads` threads: contiguous, covering them once,
 * on whole units; *most gets the largest share's thread. */
static int shares_cover(const share_ctx *c, int threads, int *most)
{
    int next = 0, ok = 1, big = -1;
    *most = 0;
    for (int t = 0; t < threads; t++) {
        ok &= c->lo[t] == next && c->hi[t] >= c->lo[t] &&
              (c->lo[t] % c->align == 0 || c->lo[t] == c->n);
        next = c->hi[t];
        if (c->hi[t] - c->lo[t] > big) {
            big = c->hi[t] - c->lo[t];
            *most = t;
        }
    }
    return ok && next == c->n;
}

static void check_balanced(void)
{
    char err[128];
    for (int threads = 2; threads <= 4; threads++) {
        pool *p = NULL;
        CHECK(pool_init(&p, threads, 16, err, sizeof err) == LD_OK, "pool_init: %s", err);
        if (p == NULL)
            return;
        share_ctx c = {p, 1000, 16, {0}, {0}};
        pool_run(p, share_job, &c);
        int most = 0, lo0, hi0;
        pool_share(c.n, c.align, 0, threads, &lo0, &hi0);
        CHECK(shares_cover(&c, threads, &most) && c.hi[0] == hi0,
              "%d threads, no speeds yet: not pool_share's equal cut (thread 0 has %d, not %d)",
              threads, c.hi[0] - c.lo[0], hi0 - lo0);
        /* the last thread three times as fast as the others */
        for (int t = 0; t < threads; t++)
            pool_note_work(p, t, t == threads - 1 ? 3.0 : 1.0, 1.0);
        const int ns[] = {0, 5, 1000, 4099};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            c.n = ns[i];
            pool_run(p, share_job, &c);
            const int ok = shares_cover(&c, threads, &most);
            const int want = threads + 2; /* the fast thread's share, in sixths etc. */
            const double frac = c.n > 0 ? (double)(c.hi[threads - 1] - c.lo[threads - 1]) / c.n : 0;
            CHECK(ok && (c.n < 1000 || (most == threads - 1 && frac > 3.0 / want - 0.02 &&
                                        frac < 3.0 / want + 0.02)),
                  "%d threads, n = %d: balanced shares do not cover the items once or do not "
                  "follow the speeds (the fast thread has %.3f, want %.3f)",
                  threads, c.n, frac, 3.0 / want);
        }
        pool_free(p);
    }
}

void test_pool(void)
{
    for (int threads = 1; threads <= 4; threads++)
        check_runs(threads);
    check_share();
    check_balanced();
}
