/* test_pool.c - the thread pool (src/kernels/pool.c) on its own.
 *
 *   - every job runs exactly once on every thread, and pool_run returns only
 *     when all of them have finished: checked over many jobs with no gap
 *     between them (the waiting threads catch the next job while polling)
 *     and with gaps longer than the polling (they catch it asleep);
 *   - pool_timing counts the jobs and each thread's share of them;
 *   - pool_share cuts n items into contiguous shares that cover them once.
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

void test_pool(void)
{
    for (int threads = 1; threads <= 4; threads++)
        check_runs(threads);
    check_share();
}
