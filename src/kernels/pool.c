/* pool.c - worker threads that sleep between jobs (see pool.h).
 *
 * One mutex guards the job slot. pool_run publishes a job by bumping a
 * generation counter and broadcasting `go`; each worker runs the job once per
 * generation and the last one to finish signals `done`.
 */
#define _POSIX_C_SOURCE 200809L
#include "kernels/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pool *p;
    int tid;
} worker_arg;

struct pool {
    int n;                 /* threads, counting the caller */
    int started;           /* workers successfully created */
    pthread_t *threads;    /* (n - 1) */
    worker_arg *args;      /* (n - 1) */
    float *scratch;        /* (n, stride) */
    size_t stride;         /* floats per thread, a multiple of 16 (64 bytes) */

    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;     /* bumped once per job */
    int pending;           /* workers still running the current job */
    int quit;
    pool_fn fn;
    void *ctx;
};

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    pool *p = wa->p;
    unsigned long seen = 0; /* the generation at pool_init: a job may be
                             * published before this thread first runs */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, wa->tid, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
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

void pool_run(pool *p, pool_fn fn, void *ctx)
{
    if (p == NULL || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);

    fn(ctx, 0, p->n);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
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
