/* pool.c - worker threads that wait between jobs (see pool.h).
 *
 * pool_run publishes a job by bumping the generation counter `gen`; each
 * worker runs the job once per generation, and counts itself off `pending`.
 * Waiting is spin-then-sleep: a thread that waits (a worker for the next job,
 * the caller for the last worker) first polls the counter, for up to
 * POOL_SPIN_US and less when polling keeps failing (spin_wait), and only then
 * sleeps on a condition variable (at once, without polling, when there are
 * more threads than CPUs online). Waking a sleeping thread can cost tens to
 * hundreds of microseconds, most in a VM, where the idle vCPU must be woken
 * too (docs/performance.md, "Two threads"): as much as a whole small job, and
 * the LoRA closed form runs five jobs in an epoch of about a millisecond.
 *
 * No wake-up is lost: a sleeper registers itself (sleepers, caller_waits)
 * and re-reads the counter under the mutex before it sleeps, and the thread
 * that changes the counter reads the registration after the change (both
 * sequentially consistent), then signals under the mutex.
 */
#define _POSIX_C_SOURCE 200809L
#include "kernels/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a waiting thread polls before it sleeps. Long enough to bridge
 * the serial code between the jobs of an epoch, short enough that a pool
 * idle between epochs of a slow caller gives its core back. */
#ifndef POOL_SPIN_US /* -DPOOL_SPIN_US=0: sleep at once, for measuring */
#define POOL_SPIN_US 200.0
#endif
#define POOL_SPIN_MIN_US 2.0

typedef struct {
    pool *p;
    int tid;
} worker_arg;

/* Each thread's CPU time in the current job sits on a cache line of its own
 * (CLOCK_STRIDE doubles apart), so threads finishing together do not write
 * the same line. */
#define CLOCK_STRIDE 8

struct pool {
    pthread_t *threads;    /* (n - 1) */
    worker_arg *args;      /* (n - 1) */
    float *scratch;        /* (n, stride) */
    size_t stride;         /* floats per thread, a multiple of 16 (64 bytes) */

    /* the job, written by pool_run before it bumps gen */
    pool_fn fn;
    void *ctx;
    double caller_spin;    /* the caller's spin_wait budget, microseconds */
    double spin_max;       /* POOL_SPIN_US, or 0 with more threads than CPUs */

    atomic_ulong gen;      /* bumped once per job (and to quit) */
    pthread_mutex_t mu;
    pthread_cond_t go, done;

    double *clocks;        /* (n, CLOCK_STRIDE) per thread: [0] this job's CPU
                            * time, [1] its speed (pool_note_work), work per ms */
    double *weights;       /* (n + 1) the speeds' running sums as the current job
                            * started: pool_share_balanced's cuts */
    pool_timing sums;

    int n;                 /* threads, counting the caller */
    int started;           /* workers successfully created */
    int timing;            /* pool_timing_on */
    int balanced;          /* weights are speeds (else pool_share's equal cut) */
    int quit;
    atomic_int pending;    /* workers still running the current job */
    atomic_int sleepers;   /* workers asleep on `go` (or about to be) */
    atomic_int caller_waits; /* the caller asleep on `done` (or about to be) */
};

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Poll until *gen differs from seen, or *pending reaches 0 (gen NULL), for
 * at most *budget microseconds; 1 if it did. With max 0 it does not poll
 * (more threads than CPUs: the thread awaited may be waiting for this
 * thread's CPU). The budget adapts: doubled (up
 * to max) when polling caught the event, halved (down to
 * POOL_SPIN_MIN_US) when it did not. When the cores are taken by other
 * processes the thread awaited is often not running, polling only takes a
 * core from it, and the budget falls so that waits become sleeps. */
static int spin_wait(const atomic_ulong *gen, unsigned long seen, const atomic_int *pending,
                     double *budget, double max)
{
    if (max <= 0.0)
        return 0;
    const double start = clock_ms(CLOCK_MONOTONIC);
    int caught = 0;
    for (;;) {
        for (int i = 0; i < 64 && !caught; i++) {
            caught = gen != NULL ? atomic_load(gen) != seen : atomic_load(pending) == 0;
            cpu_relax();
        }
        if (caught || (clock_ms(CLOCK_MONOTONIC) - start) * 1e3 > *budget)
            break;
    }
    *budget = caught ? *budget * 2.0 : *budget * 0.5;
    *budget = *budget > max ? max : *budget < POOL_SPIN_MIN_US ? POOL_SPIN_MIN_US : *budget;
    return caught;
}

/* fn for thread tid, timed on its CPU clock when timing is on. */
static void call_job(pool *p, pool_fn fn, void *ctx, int tid, int timing)
{
    if (!timing) {
        fn(ctx, tid, p->n);
        return;
    }
    const double t0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    fn(ctx, tid, p->n);
    p->clocks[(size_t)tid * CLOCK_STRIDE] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/* The next generation after seen: spin, then sleep on `go`. */
static unsigned long wait_for_job(pool *p, unsigned long seen, double *budget)
{
    if (!spin_wait(&p->gen, seen, NULL, budget, p->spin_max)) {
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->sleepers, 1);
        while (atomic_load(&p->gen) == seen)
            pthread_cond_wait(&p->go, &p->mu);
        atomic_fetch_sub(&p->sleepers, 1);
        pthread_mutex_unlock(&p->mu);
    }
    return atomic_load(&p->gen);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    pool *p = wa->p;
    unsigned long seen = 0; /* the generation at pool_init: a job may be
                             * published before this thread first runs */
    double budget = p->spin_max; /* spin_wait's */
    for (;;) {
        seen = wait_for_job(p, seen, &budget);
        if (p->quit)
            break;
        call_job(p, p->fn, p->ctx, wa->tid, p->timing);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waits)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

ld_status pool_init(pool **out, int threads, size_t scratch_floats, char *err, size_t errlen)
{
    *out = NULL;
    if (threads < 1 || threads > POOL_MAX_THREADS)
        return ld_fail(err, errlen, LD_EINPUT, "thread count %d is not in 1..%d", threads,
                       POOL_MAX_THREADS);
    pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a thread pool");
    p->n = threads;
    p->stride = (scratch_floats + 15) / 16 * 16;
    size_t bytes = 0;
    if (ld_mul3_size(&bytes, p->stride, (size_t)threads, sizeof(float)) != 0) {
        free(p);
        return ld_fail(err, errlen, LD_ENOMEM, "thread scratch of %zu floats does not fit in memory",
                       scratch_floats);
    }
    if (bytes > 0) {
        p->scratch = aligned_alloc(64, bytes); /* bytes is a multiple of 64 */
        if (p->scratch == NULL) {
            free(p);
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory for %zu bytes of thread scratch",
                           bytes);
        }
    }
    const size_t clock_bytes = (size_t)threads * CLOCK_STRIDE * sizeof(double); /* 64 n */
    p->clocks = aligned_alloc(64, clock_bytes);
    if (p->clocks == NULL) {
        free(p->scratch);
        free(p);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a thread pool");
    }
    memset(p->clocks, 0, clock_bytes);
    p->weights = calloc((size_t)threads + 1, sizeof *p->weights);
    if (p->weights == NULL) {
        free(p->clocks);
        free(p->scratch);
        free(p);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a thread pool");
    }
    /* Poll only while every thread can have a CPU of its own. */
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->spin_max = cpus > 0 && threads > cpus ? 0.0 : POOL_SPIN_US;
    p->caller_spin = p->spin_max;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waits, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->threads = calloc((size_t)threads - 1, sizeof *p->threads);
        p->args = calloc((size_t)threads - 1, sizeof *p->args);
        if (p->threads == NULL || p->args == NULL) {
            pool_free(p);
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory for %d threads", threads);
        }
        for (int t = 1; t < threads; t++) {
            p->args[t - 1].p = p;
            p->args[t - 1].tid = t;
            if (pthread_create(&p->threads[t - 1], NULL, worker_main, &p->args[t - 1]) != 0) {
                pool_free(p);
                return ld_fail(err, errlen, LD_ENOMEM, "could not start thread %d of %d", t + 1,
                               threads);
            }
            p->started++;
        }
    }
    *out = p;
    return LD_OK;
}

void pool_free(pool *p)
{
    if (p == NULL)
        return;
    p->quit = 1;
    atomic_fetch_add(&p->gen, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < p->started; t++)
        pthread_join(p->threads[t], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p->scratch);
    free(p->clocks);
    free(p->weights);
    free(p);
}

int pool_threads(const pool *p)
{
    return p != NULL ? p->n : 1;
}

float *pool_scratch(pool *p, int tid)
{
    return p->scratch + (size_t)tid * p->stride;
}

/* Add the job just finished to the sums (the workers' clocks were written
 * before they took the mutex to count themselves done). */
static void add_job_times(pool *p, double wait_ms)
{
    p->sums.wait_ms += wait_ms;
    double slowest = 0.0;
    for (int t = 0; t < p->n; t++) {
        const double ms = p->clocks[(size_t)t * CLOCK_STRIDE];
        p->sums.job_ms[t] += ms;
        if (ms > slowest)
            slowest = ms;
    }
    p->sums.path_ms += slowest;
    p->sums.jobs++;
}

/* The running sums of the threads' speeds into weights, for the job about to
 * start: equal shares until every thread has a speed. Each speed counts at
 * least a quarter of the fastest, so that one slow measurement (a thread
 * preempted once) cannot starve a thread of work for long. */
static void snapshot_weights(pool *p)
{
    double fastest = 0.0;
    int all = 1;
    for (int t = 0; t < p->n; t++) {
        const double v = p->clocks[(size_t)t * CLOCK_STRIDE + 1];
        all &= v > 0.0;
        fastest = v > fastest ? v : fastest;
    }
    p->balanced = all;
    p->weights[0] = 0.0;
    for (int t = 0; t < p->n; t++) {
        double v = all ? p->clocks[(size_t)t * CLOCK_STRIDE + 1] : 1.0;
        if (all && v < 0.25 * fastest)
            v = 0.25 * fastest;
        p->weights[t + 1] = p->weights[t] + v;
    }
}

void pool_run(pool *p, pool_fn fn, void *ctx)
{
    if (p == NULL) {
        fn(ctx, 0, 1);
        return;
    }
    const int timing = p->timing;
    if (p->n == 1) {
        call_job(p, fn, ctx, 0, timing);
        if (timing)
            add_job_times(p, 0.0);
        return;
    }
    snapshot_weights(p);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1); /* publishes fn, ctx and pending */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }

    call_job(p, fn, ctx, 0, timing);

    const double w0 = timing ? clock_ms(CLOCK_THREAD_CPUTIME_ID) : 0.0;
    if (!spin_wait(NULL, 0, &p->pending, &p->caller_spin, p->spin_max)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waits, 1);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waits, 0);
        pthread_mutex_unlock(&p->mu);
    }
    if (timing)
        add_job_times(p, clock_ms(CLOCK_THREAD_CPUTIME_ID) - w0);
}

/* Unit u of `units` where the share of thread t begins: its weights' fraction
 * of the whole, rounded; the same double arithmetic for the thread ending
 * there and the one beginning there, so the shares meet exactly. */
static long balanced_cut(const pool *p, long units, int t, int nthreads)
{
    if (t <= 0)
        return 0;
    if (t >= nthreads)
        return units;
    const double f = p->weights[t] / p->weights[nthreads];
    const long u = (long)((double)units * f + 0.5);
    return u < 0 ? 0 : u > units ? units : u;
}

void pool_share_balanced(const pool *p, int n, int align, int tid, int nthreads, int *lo, int *hi)
{
    if (p == NULL || nthreads != p->n || nthreads == 1 || !p->balanced) {
        pool_share(n, align, tid, nthreads, lo, hi);
        return;
    }
    if (align < 1)
        align = 1;
    const long units = ((long)n + align - 1) / align;
    const long a = balanced_cut(p, units, tid, nthreads) * align;
    const long b = balanced_cut(p, units, tid + 1, nthreads) * align;
    *lo = (int)(a < n ? a : n);
    *hi = (int)(b < n ? b : n);
}

void pool_note_work(pool *p, int tid, double work, double wall_ms)
{
    if (p == NULL || p->n == 1 || work <= 0.0 || wall_ms <= 0.0)
        return;
    double *v = &p->clocks[(size_t)tid * CLOCK_STRIDE + 1];
    const double now = work / wall_ms;
    *v = *v > 0.0 ? 0.75 * *v + 0.25 * now : now;
}

void pool_timing_on(pool *p, int on)
{
    if (p == NULL)
        return;
    memset(&p->sums, 0, sizeof p->sums);
    p->timing = on != 0;
}

void pool_timing_read(const pool *p, pool_timing *out)
{
    memset(out, 0, sizeof *out);
    if (p != NULL)
        *out = p->sums;
}

void pool_share(int n, int align, int tid, int nthreads, int *lo, int *hi)
{
    if (align < 1)
        align = 1;
    const long units = ((long)n + align - 1) / align;
    const long u0 = units * tid / nthreads;
    const long u1 = units * (tid + 1) / nthreads;
    long a = u0 * align, b = u1 * align;
    *lo = (int)(a < n ? a : n);
    *hi = (int)(b < n ? b : n);
}
