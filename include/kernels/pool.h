/* pool.h - a fixed team of POSIX threads that run one job at a time.
 *
 * pool_run(p, fn, ctx) calls fn(ctx, tid, n) once for every tid in 0..n-1,
 * the calling thread taking tid 0, and returns when all calls have returned.
 * The job decides from (tid, n) which part of the work is its own. To keep
 * results bit-identical for every thread count, jobs in lora_demo only split
 * work across independent output elements (rows or columns of a result), and
 * every output element is computed by the same code in the same order
 * whichever thread computes it.
 *
 * Each thread also owns a scratch block (pool_scratch) of the size asked for
 * at pool_init, e.g. for packing matrix panels, so no job allocates.
 *
 * Threads are created once, in pool_init. Between jobs they poll for a short
 * while, then sleep on a condition variable (pool.c says why); a pool of one
 * thread creates none and runs jobs inline.
 */
#ifndef LORA_DEMO_POOL_H
#define LORA_DEMO_POOL_H

#include <stddef.h>

#include "status.h"

#define POOL_MAX_THREADS 256

typedef struct pool pool;

/* The job: called once per thread. */
typedef void (*pool_fn)(void *ctx, int tid, int nthreads);

/* Start a pool of `threads` threads (1..POOL_MAX_THREADS, counting the
 * caller), each with scratch_floats floats of 64-byte aligned scratch. */
ld_status pool_init(pool **out, int threads, size_t scratch_floats, char *err, size_t errlen);
/* Stop and join the threads and free everything; NULL is a no-op. */
void pool_free(pool *p);

/* Number of threads, counting the caller; 1 for a NULL pool. */
int pool_threads(const pool *p);
/* Thread tid's scratch block (scratch_floats floats). */
float *pool_scratch(pool *p, int tid);

/* Run fn on every thread and wait for all of them. Not reentrant: fn must not
 * call pool_run on the same pool. */
void pool_run(pool *p, pool_fn fn, void *ctx);

/* The contiguous share [*lo, *hi) of n items that thread tid of nthreads
 * takes, in whole units of `align` items (the last share takes the rest). */
void pool_share(int n, int align, int tid, int nthreads, int *lo, int *hi);

/* pool_share with shares in proportion to the threads' speeds, as measured
 * by pool_note_work before the current job started (equal until every
 * thread has been measured; on a pool of one thread, or a NULL pool, or with
 * nthreads other than the pool's, pool_share itself). For cores that are not
 * equally fast, e.g. vCPUs whose memory is not equally near
 * (docs/performance.md, "Two threads"). Which items a thread takes never
 * changes a result in lora_demo (the note above), only how long a job takes. */
void pool_share_balanced(const pool *p, int n, int align, int tid, int nthreads, int *lo, int *hi);
/* Thread tid of pool p did `work` units of a job in wall_ms milliseconds:
 * its speed, a running average, sets its next balanced shares. */
void pool_note_work(pool *p, int tid, double work, double wall_ms);

/* CPU time spent in jobs, for measuring how well the work is shared: with
 * timing on, each pool_run reads every thread's CPU clock
 * (CLOCK_THREAD_CPUTIME_ID) around its call of fn. Off by default. */
typedef struct {
    long jobs;           /* pool_run calls since timing was switched on */
    double wait_ms;      /* the caller's CPU time waiting for the workers */
    double path_ms;      /* sum over jobs of the slowest thread's CPU time in
                          * it: the jobs' wall time on free cores, wakes aside */
    double job_ms[POOL_MAX_THREADS]; /* thread tid's CPU time in jobs */
} pool_timing;

/* Switch timing on (and zero the sums) or off. */
void pool_timing_on(pool *p, int on);
/* The sums since timing was last switched on. */
void pool_timing_read(const pool *p, pool_timing *out);

#endif /* LORA_DEMO_POOL_H */
