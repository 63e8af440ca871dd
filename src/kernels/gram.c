/* gram.c - the Gram matrix G = X^T X from its upper triangle.
 *
 * Equals matmul_tn_naive(g, x, x, I, I, N, 0) (matmul.c) bit for bit: the
 * upper triangle is the packed GEMM's, and the mirror copies it, which is
 * exact because x_ni x_nj and x_nj x_ni are the same float product. Chosen by
 * matmul_gram_mt (matmul.c) when the whole product would take the packed
 * GEMM. Proved by tests/test_matmul.c: check_gram (1-3 threads).
 *
 * Dimension key: X (N,I), N samples, I in features; G (I,I).
 */
#include <stddef.h>

#include "gemm.h"

#define GRAM_NB 128 /* columns per block of the upper triangle */

typedef struct {
    float *g;          /* (I,I) */
    const float *x;    /* (N,I) */
    int N, I;
    const gemm_tile *tile;
    pool *p;
    float *ws;         /* scratch when there is no pool */
} gram_job;

/* Column blocks [c0, c0 + GRAM_NB) of the upper triangle, rows 0 to the
 * block's last column, are dealt to the threads back and forth (0 1 1 0 0 1
 * ... on 2 threads), which pairs short blocks with tall ones: on 2 threads
 * and 8 blocks (I = 1024) each thread gets the same area, where dealing
 * round-robin gave one of them 2560 / 4608 of it. */
static void gram_upper_fn(void *ctx, int tid, int nthreads)
{
    const gram_job *job = ctx;
    float *ws = job->p != NULL ? pool_scratch(job->p, tid) : job->ws;
    const int I = job->I;
    for (int b = 0; b * GRAM_NB < I; b++) {
        const int pos = b % nthreads, owner = (b / nthreads) % 2 == 0 ? pos : nthreads - 1 - pos;
        if (owner != tid)
            continue;
        const int c0 = b * GRAM_NB;
        const int cols = I - c0 < GRAM_NB ? I - c0 : GRAM_NB;
        /* G[0:c0+cols, c0:c0+cols] = X[:, 0:c0+cols]^T X[:, c0:c0+cols] */
        gemm_args s = {c0 + cols, cols, job->N, job->x, 1, I, job->x + c0, I, 1, job->g + c0, I, 0};
        gemm_packed(job->tile, &s, ws);
    }
}

/* The lower triangle from the upper, rows shared out between the threads. */
static void gram_mirror_fn(void *ctx, int tid, int nthreads)
{
    const gram_job *job = ctx;
    const int I = job->I;
    int lo, hi;
    pool_share(I, 1, tid, nthreads, &lo, &hi);
    for (int i = lo; i < hi; i++)
        for (int j = 0; j < i; j++)
            job->g[(size_t)i * I + j] = job->g[(size_t)j * I + i];
}

void gram_packed(float *g, const float *x, int N, int I, const gemm_tile *tile, pool *p,
                 float *ws)
{
    gram_job job = {g, x, N, I, tile, p, ws};
    pool_run(p, gram_upper_fn, &job);
    pool_run(p, gram_mirror_fn, &job);
}
