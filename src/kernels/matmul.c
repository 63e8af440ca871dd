/* matmul.c - the public matrix kernels: their naive twins, and the one place
 * that chooses which fast kernel computes a product.
 *
 * Dimension key: the generic GEMM letters, M rows of C, N columns of C, K the
 * summed dimension; matmul_gram_mt uses the training key, N samples, I in.
 * Everything is row-major float32; sums are accumulated in float, as PyTorch
 * does on CPU, so results agree with PyTorch to float rounding.
 *
 * Each public call becomes one gemm_args (gemm.h) and goes to gemm_run:
 *   1. tiny products go straight to a plain loop (gemm_small.c);
 *   2. make_plan picks one kernel for the whole product, so every thread's
 *      share runs the same code: small loop, narrow, thin or packed;
 *   3. run_share gives each thread whole rows or whole columns of C.
 * Every fast kernel forms each element as the same sequential sum as the
 * naive twins below (matmul.h), so the choice never changes a bit; the tests
 * in tests/test_matmul.c hold each kernel to its twin on both code paths.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "kernels/matmul.h"

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "gemm.h"
#include "kernels/simd.h"

/* ------------------------------------------------------------------------ */
/* naive twins: the definitions, one output element at a time */

void matmul_nt_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += a[(size_t)i * K + k] * b[(size_t)j * K + k];
            c[(size_t)i * N + j] = accumulate ? c[(size_t)i * N + j] + s : s;
        }
    }
}

void matmul_tn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += a[(size_t)k * M + i] * b[(size_t)k * N + j];
            c[(size_t)i * N + j] = accumulate ? c[(size_t)i * N + j] + s : s;
        }
    }
}

void matmul_nn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += a[(size_t)i * K + k] * b[(size_t)k * N + j];
            c[(size_t)i * N + j] = accumulate ? c[(size_t)i * N + j] + s : s;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* code path: portable or AVX2 */

static matmul_isa isa_choice = MATMUL_ISA_AUTO;

void matmul_set_isa(matmul_isa isa)
{
    isa_choice = isa;
}

int matmul_isa_avx2(void)
{
#ifdef GEMM_AVX2
    return isa_choice != MATMUL_ISA_PORTABLE && ld_cpu_avx2();
#else
    return 0;
#endif
}

int matmul_isa_avx512(void)
{
#ifdef GEMM_AVX512
    return (isa_choice == MATMUL_ISA_AUTO || isa_choice == MATMUL_ISA_AVX512) && ld_cpu_avx2() &&
           ld_cpu_avx512f();
#else
    return 0;
#endif
}

/* The code path as gemm_packed_tile takes it: 0 portable, 1 AVX2, 2 AVX-512. */
static int gemm_isa(void)
{
    return matmul_isa_avx512() ? 2 : matmul_isa_avx2();
}

const char *matmul_isa_name(void)
{
    return matmul_isa_avx512() ? "avx512" : matmul_isa_avx2() ? "avx2" : "portable";
}

size_t matmul_scratch_floats(void)
{
    return GEMM_SCRATCH_FLOATS;
}

/* ------------------------------------------------------------------------ */
/* the choice of kernel */

/* Below SMALL_GEMM multiply-adds packing costs more than it saves, so such
 * products run the small loop; the narrow and thin kernels, which pack only
 * the small operand, pay off from SMALL_NARROW on, the thin ones for at least
 * THIN_MIN_J columns. */
#define SMALL_GEMM 32768.0
#define SMALL_NARROW 512.0
#define THIN_MIN_J 8
#define NARROW_MIN_M 16

static int is_tiny(const gemm_args *g)
{
    return g->K <= MATMUL_TINY_MAX_K &&
           (double)g->M * (double)g->N * (double)g->K <= MATMUL_TINY_WORK &&
           (size_t)g->K * (size_t)((g->N + 7) / 8 * 8) <= GEMM_TINY_PANEL;
}

typedef enum { PLAN_SMALL, PLAN_PACKED, PLAN_NARROW, PLAN_THIN, PLAN_THIN_T } plan_kind;

typedef struct {
    plan_kind kind;
    int avx2;
    const gemm_tile *tile; /* PLAN_PACKED */
} plan;

static plan make_plan(const gemm_args *g)
{
    plan pl = {PLAN_SMALL, matmul_isa_avx2(), NULL};
    const double work = (double)g->M * (double)g->N * (double)g->K;
    const int tn = g->rsa == 1 && g->csb == 1; /* opA = A^T, opB = B, both unit-stride */
    if (work < SMALL_NARROW)
        return pl; /* the small loop */
    if (g->csa == 1 && g->N <= NARROW_MAX_N && g->M >= NARROW_MIN_M)
        pl.kind = PLAN_NARROW; /* few columns: A is read in place */
    else if (tn && g->M <= THIN_MAX_R && g->N >= THIN_MIN_J)
        pl.kind = PLAN_THIN; /* few rows of A^T B: B is read in place */
    else if (tn && g->N <= THIN_MAX_R && g->M >= THIN_MIN_J)
        pl.kind = PLAN_THIN_T; /* few columns of A^T B: A is read in place */
    else if (work >= SMALL_GEMM)
        pl.kind = PLAN_PACKED; /* large on both sides */
    if (pl.kind == PLAN_PACKED)
        pl.tile = gemm_packed_tile(gemm_isa(), g->N);
    return pl;
}

/* ------------------------------------------------------------------------ */
/* threads: each takes whole rows or whole columns of C */

/* Thread tid's share of g in *s: rows (by_rows) or columns, in units of
 * align, in proportion to the threads' speeds on pool p (pool_share_balanced).
 * 0 if the share is empty. */
static int share_of(gemm_args *s, const gemm_args *g, const pool *p, int by_rows, int align,
                    int tid, int nthreads)
{
    int lo, hi;
    pool_share_balanced(p, by_rows ? g->M : g->N, align, tid, nthreads, &lo, &hi);
    if (hi <= lo)
        return 0;
    *s = *g;
    if (by_rows) {
        s->M = hi - lo;
        s->a += lo * s->rsa;
        s->c += lo * s->ldc;
    } else {
        s->N = hi - lo;
        s->b += lo * s->csb;
        s->c += lo;
    }
    return 1;
}

/* Thread tid's share of the product, computed with scratch ws: whole row
 * tiles of the narrow and packed kernels, whole strips of the thin ones.
 * Returns its multiply-adds. */
static double run_share(const plan *pl, const gemm_args *g, const pool *p, int tid, int nthreads,
                        float *ws)
{
    gemm_args s = {0};
    const int rows = g->M >= g->N;
    switch (pl->kind) {
    case PLAN_SMALL:
        if (tid != 0)
            return 0.0;
        gemm_small(g);
        return (double)g->M * (double)g->N * (double)g->K;
    case PLAN_NARROW:
        if (!share_of(&s, g, p, 1, NARROW_MAX_MR, tid, nthreads))
            return 0.0;
        gemm_narrow(&s, pl->avx2, ws);
        break;
    case PLAN_THIN: /* columns of C: 16 is a whole number of strips on both paths */
        if (!share_of(&s, g, p, 0, 16, tid, nthreads))
            return 0.0;
        gemm_thin(&s, 0, pl->avx2, ws);
        break;
    case PLAN_THIN_T:
        if (!share_of(&s, g, p, 1, 16, tid, nthreads))
            return 0.0;
        gemm_thin(&s, 1, pl->avx2, ws);
        break;
    case PLAN_PACKED:
        if (!share_of(&s, g, p, rows, rows ? GEMM_MAX_MR : GEMM_MAX_NR, tid, nthreads))
            return 0.0;
        gemm_packed(pl->tile, &s, ws);
        break;
    }
    return (double)s.M * (double)s.N * (double)s.K;
}

typedef struct {
    const plan *pl;
    const gemm_args *g;
    pool *p;
} gemm_job;

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Shares of at least this many multiply-adds are timed for pool_note_work:
 * long enough (~0.1 ms) for the clock to measure the thread, not the call. */
#define NOTE_MIN_WORK 4e6

static void gemm_job_fn(void *ctx, int tid, int nthreads)
{
    const gemm_job *job = ctx;
    const double t0 = wall_ms();
    const double work = run_share(job->pl, job->g, job->p, tid, nthreads, pool_scratch(job->p, tid));
    if (work >= NOTE_MIN_WORK)
        pool_note_work(job->p, tid, work, wall_ms() - t0);
}

/* Compute g on pool p, or on the calling thread with scratch ws, or, with
 * neither, with scratch of its own. */
static void gemm_run(const gemm_args *g, pool *p, float *ws)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    if (is_tiny(g)) {
        gemm_tiny(g, matmul_isa_avx2());
        return;
    }
    const plan pl = make_plan(g);
    if (pl.kind == PLAN_SMALL) {
        gemm_small(g);
    } else if (ws != NULL) {
        run_share(&pl, g, NULL, 0, 1, ws);
    } else if (p != NULL) {
        gemm_job job = {&pl, g, p};
        pool_run(p, gemm_job_fn, &job);
    } else {
        /* no pool and no scratch: allocate it, or fall back to the small
         * loop, which gives the same numbers, only slower */
        float *own = malloc(matmul_scratch_floats() * sizeof(float));
        if (own == NULL) {
            gemm_small(g);
            return;
        }
        run_share(&pl, g, NULL, 0, 1, own);
        free(own);
    }
}

/* ------------------------------------------------------------------------ */
/* public kernels: each layout as strides of the one GEMM */

static gemm_args args_nt(float *c, const float *a, const float *b, int M, int N, int K, int acc)
{
    return (gemm_args){M, N, K, a, K, 1, b, 1, K, c, N, acc};
}

static gemm_args args_tn(float *c, const float *a, const float *b, int M, int N, int K, int acc)
{
    return (gemm_args){M, N, K, a, 1, M, b, N, 1, c, N, acc};
}

static gemm_args args_nn(float *c, const float *a, const float *b, int M, int N, int K, int acc)
{
    return (gemm_args){M, N, K, a, K, 1, b, N, 1, c, N, acc};
}

void matmul_nt_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p)
{
    gemm_args g = args_nt(c, a, b, M, N, K, accumulate);
    gemm_run(&g, p, NULL);
}

void matmul_tn_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p)
{
    gemm_args g = args_tn(c, a, b, M, N, K, accumulate);
    gemm_run(&g, p, NULL);
}

void matmul_nn_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p)
{
    gemm_args g = args_nn(c, a, b, M, N, K, accumulate);
    gemm_run(&g, p, NULL);
}

void matmul_nt_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch)
{
    gemm_args g = args_nt(c, a, b, M, N, K, accumulate);
    gemm_run(&g, NULL, scratch);
}

void matmul_tn_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch)
{
    gemm_args g = args_tn(c, a, b, M, N, K, accumulate);
    gemm_run(&g, NULL, scratch);
}

void matmul_nn_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch)
{
    gemm_args g = args_nn(c, a, b, M, N, K, accumulate);
    gemm_run(&g, NULL, scratch);
}

void matmul_nt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    matmul_nt_mt(c, a, b, M, N, K, accumulate, NULL);
}

void matmul_tn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    matmul_tn_mt(c, a, b, M, N, K, accumulate, NULL);
}

void matmul_nn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    matmul_nn_mt(c, a, b, M, N, K, accumulate, NULL);
}

/* G (I,I) = X (N,I)^T X. When the whole product would take the packed GEMM,
 * gram.c computes only the upper triangle and mirrors it; otherwise it is
 * matmul_tn like any other. */
void matmul_gram_mt(float *g, const float *x, int N, int I, pool *p)
{
    const gemm_args full = args_tn(g, x, x, I, I, N, 0);
    if (I <= 0)
        return;
    const plan pl = make_plan(&full);
    if (pl.kind != PLAN_PACKED) {
        gemm_run(&full, p, NULL);
        return;
    }
    if (p != NULL) {
        gram_packed(g, x, N, I, pl.tile, p, NULL);
        return;
    }
    float *own = malloc(matmul_scratch_floats() * sizeof(float));
    if (own == NULL) {
        gemm_small(&full); /* the same numbers, only slower */
        return;
    }
    gram_packed(g, x, N, I, pl.tile, NULL, own);
    free(own);
}
