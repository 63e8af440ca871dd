/* test_matmul.c - the fast kernels against their naive twins.
 *
 * Dimension key: M, N, K as in matmul.h.
 *
 * What is promised, and so checked:
 *   - every fast kernel with accumulate = 0 is bit-identical to its naive
 *     twin, on every code path (portable, AVX2, AVX-512) and thread count, and
 *     with caller-owned scratch (*_ws);
 *   - with accumulate = 1 it agrees with the twin to rounding, and splitting
 *     K in two accumulating calls gives the same bits as one call;
 *   - both hold on either side of the tiny products' limits (matmul.h);
 *   - the closed-form dense epoch (X^T X, Y^T X) matches forward-backward:
 *     losses and step-0 gradients to rtol 1e-5, final parameters to 1e-4;
 *   - the fused LoRA epoch, by row blocks or for narrow layers 16 rows at a
 *     time (on both code paths), is bit-identical to forward-backward in
 *     its parameters, and its losses agree to rtol 1e-6;
 *   - training gives bit-identical losses and parameters for 1, 2, 3 threads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"
#include "kernels/matmul.h"
#include "core/model.h"
#include "core/optim.h"
#include "kernels/pool.h"
#include "core/rng.h"
#include "test.h"
#include "train/train.h"

/* ------------------------------------------------------------------------ */
/* helpers */

static float *randv(size_t n, uint64_t seed)
{
    float *v = malloc((n > 0 ? n : 1) * sizeof(float));
    rng r;
    rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform_range(&r, -1.0f, 1.0f);
    return v;
}

typedef void (*mm_naive)(float *, const float *, const float *, int, int, int, int);
typedef void (*mm_mt)(float *, const float *, const float *, int, int, int, int, pool *);
typedef void (*mm_ws)(float *, const float *, const float *, int, int, int, int, float *);

typedef struct {
    const char *name;
    mm_naive naive;
    mm_mt fast;
    mm_ws ws;
    int a_rows_k; /* 1: A is (K,M) (tn), 0: A is (M,K) */
    int b_rows_n; /* 1: B is (N,K) (nt), 0: B is (K,N) */
} layout;

static const layout LAYOUTS[] = {
    {"nt", matmul_nt_naive, matmul_nt_mt, matmul_nt_ws, 0, 1},
    {"tn", matmul_tn_naive, matmul_tn_mt, matmul_tn_ws, 1, 0},
    {"nn", matmul_nn_naive, matmul_nn_mt, matmul_nn_ws, 0, 0},
};

/* ------------------------------------------------------------------------ */
/* kernels against the twins */

/* Shapes (M, N, K) chosen to reach every kernel and every edge
 * (src/kernels/gemm_*.c): single rows and columns, sizes one off the tiles,
 * K across GEMM_KC = 512 (1023 once, 1100 twice) and the 4096-deep passes
 * (NARROW_KC, THIN_KC), M across GEMM_MC = 144, N across 512 twice and
 * past 4096 on one thread (across GEMM_NC = 2048 twice), N just past 16
 * (the AVX-512 tile's narrowest C, one 32-column edge tile), narrow
 * (N <= 32) and thin (tn with M or N <= 8) products and their partial
 * strips. */
static const int SHAPES[][3] = {
    {1, 1, 1},     {3, 3, 3},     {17, 17, 17},   {1, 1023, 17}, {1023, 1, 17},
    {17, 1023, 1}, {1, 17, 1023}, {5, 7, 1023},   {13, 8, 300},  {300, 8, 1023},
    {50, 20, 100}, {40, 33, 70},  {8, 300, 1023}, {8, 1100, 90}, {300, 5, 700},
    {3, 9, 4500},  {20, 8, 4500}, {40, 3, 4500},  {70, 33, 513}, {100, 530, 260},
    {64, 64, 64},  {0, 5, 5},     {5, 5, 0},      {150, 40, 300}, {20, 1100, 40},
    {33, 17, 30},  {20, 4300, 40}, {40, 70, 1100},
};

/* One product of one layout and shape, its operands and C's start. */
typedef struct {
    const layout *L;
    int M, N, K;
    const float *a, *b, *c0;
    size_t nc; /* M*N */
} kernel_case;

/* The code paths every fast kernel is tested on; AUTO is the widest the CPU
 * has (AVX-512 where it has it), and a path the CPU lacks runs the next one
 * down (matmul.h). */
static const matmul_isa PATHS[] = {MATMUL_ISA_PORTABLE, MATMUL_ISA_AVX2, MATMUL_ISA_AUTO};
#define NPATHS (int)(sizeof PATHS / sizeof PATHS[0])

/* The fast kernel (each thread count, and through *_ws with caller scratch)
 * against the naive twin, on every code path. */
static void check_against_twin(const kernel_case *q, int acc, pool *pools[3], float *scratch,
                               float *want, float *got)
{
    const layout *L = q->L;
    memcpy(want, q->c0, q->nc * sizeof(float));
    L->naive(want, q->a, q->b, q->M, q->N, q->K, acc);
    for (int isa = 0; isa < NPATHS; isa++) {
        matmul_set_isa(PATHS[isa]);
        for (int pi = -2; pi < 3; pi++) { /* -2: *_ws, -1: no pool, else pools[pi] */
            memcpy(got, q->c0, q->nc * sizeof(float));
            if (pi == -2)
                L->ws(got, q->a, q->b, q->M, q->N, q->K, acc, scratch);
            else
                L->fast(got, q->a, q->b, q->M, q->N, q->K, acc, pi < 0 ? NULL : pools[pi]);
            char name[96];
            snprintf(name, sizeof name, "%s%s %dx%dx%d acc=%d %s threads=%d", L->name,
                     pi == -2 ? "_ws" : "", q->M, q->N, q->K, acc, matmul_isa_name(),
                     pi < 0 ? 0 : pi + 1);
            if (acc == 0)
                CHECK(same_bits(got, want, q->nc), "%s: not bit-identical to the naive twin at [%zu]",
                      name, first_diff(got, want, q->nc));
            else
                check_close(name, got, want, q->nc, 1e-6 * (q->K + 1), 1e-5);
        }
    }
    matmul_set_isa(MATMUL_ISA_AUTO);
}

/* Accumulate on: the same bits for every thread count and code path. */
static void check_accumulate_bits(const kernel_case *q, pool *pools[3], float *ref, float *got)
{
    const layout *L = q->L;
    memcpy(ref, q->c0, q->nc * sizeof(float));
    L->fast(ref, q->a, q->b, q->M, q->N, q->K, 1, NULL);
    for (int pi = 0; pi < 3; pi++) {
        memcpy(got, q->c0, q->nc * sizeof(float));
        L->fast(got, q->a, q->b, q->M, q->N, q->K, 1, pools[pi]);
        CHECK(same_bits(got, ref, q->nc), "%s %dx%dx%d accumulate: %d threads differ", L->name,
              q->M, q->N, q->K, pi + 1);
    }
    for (int isa = 0; isa < NPATHS - 1; isa++) {
        matmul_set_isa(PATHS[isa]);
        memcpy(got, q->c0, q->nc * sizeof(float));
        L->fast(got, q->a, q->b, q->M, q->N, q->K, 1, NULL);
        const char *path = matmul_isa_name();
        matmul_set_isa(MATMUL_ISA_AUTO);
        CHECK(same_bits(got, ref, q->nc), "%s %dx%dx%d accumulate: %s and %s differ", L->name,
              q->M, q->N, q->K, path, matmul_isa_name());
    }
}

static void check_kernels(pool *pools[3])
{
    float *scratch = malloc(matmul_scratch_floats() * sizeof(float));
    for (size_t li = 0; li < sizeof LAYOUTS / sizeof LAYOUTS[0]; li++) {
        for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
            const int M = SHAPES[si][0], N = SHAPES[si][1], K = SHAPES[si][2];
            const size_t nc = (size_t)M * N, nalloc = (nc > 0 ? nc : 1) * sizeof(float);
            float *a = randv((size_t)M * K, 1 + si);
            float *b = randv((size_t)N * K, 100 + si);
            float *c0 = randv(nc, 200 + si);
            float *want = malloc(nalloc);
            float *got = malloc(nalloc);
            const kernel_case q = {&LAYOUTS[li], M, N, K, a, b, c0, nc};
            check_against_twin(&q, 0, pools, scratch, want, got);
            check_against_twin(&q, 1, pools, scratch, want, got);
            check_accumulate_bits(&q, pools, want, got);
            free(a);
            free(b);
            free(c0);
            free(want);
            free(got);
        }
    }
    free(scratch);
}

/* The edges of the tiny products' loop (matmul.h): shapes at and one past
 * MATMUL_TINY_WORK multiply-adds, MATMUL_TINY_MAX_K terms and the 2048
 * floats of stack panel, rows not a multiple of the 4 done together and
 * columns not a multiple of 8, on both code paths. With accumulate = 0 each
 * must be bit-identical to the naive twin; with accumulate = 1 to the
 * products added to c one at a time, in order, as every fast kernel does. */
static void check_tiny_edges(void)
{
    const int W = MATMUL_TINY_WORK, KM = MATMUL_TINY_MAX_K;
    const int shapes[][3] = {
        {W / 128, 8, 16},     {W / 128 + 1, 8, 16}, /* work at the limit, then past it */
        {W / KM, 1, KM},      {W / KM + 1, 1, KM},
        {2, 3, KM},           {2, 3, KM + 1},       /* the longest sum, then one more term */
        {1, 32, KM},          {1, 33, KM},          /* the stack panel full, then too small */
        {7, 9, 16},           {5, 17, 3},           /* 4 + 3 rows, partial panels */
        {100, 4, 10},         {100, 3, 5},          /* LoRA h = x A^T, dh = g B at the default shape */
    };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        const size_t nc = (size_t)M * N;
        for (size_t li = 0; li < sizeof LAYOUTS / sizeof LAYOUTS[0]; li++) {
            const layout *L = &LAYOUTS[li];
            float *a = randv((size_t)M * K, 600 + si);
            float *b = randv((size_t)N * K, 700 + si);
            float *c0 = randv(nc, 800 + si);
            float *want = malloc(nc * sizeof(float));
            float *got = malloc(nc * sizeof(float));
            for (int acc = 0; acc <= 1; acc++) {
                if (acc == 0) {
                    L->naive(want, a, b, M, N, K, 0);
                } else {
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            float s = c0[(size_t)i * N + j];
                            for (int k = 0; k < K; k++)
                                s += (L->a_rows_k ? a[(size_t)k * M + i] : a[(size_t)i * K + k]) *
                                     (L->b_rows_n ? b[(size_t)j * K + k] : b[(size_t)k * N + j]);
                            want[(size_t)i * N + j] = s;
                        }
                }
                for (int isa = 0; isa < NPATHS; isa++) {
                    matmul_set_isa(PATHS[isa]);
                    memcpy(got, c0, nc * sizeof(float));
                    L->fast(got, a, b, M, N, K, acc, NULL);
                    CHECK(same_bits(got, want, nc),
                          "tiny edge %s %dx%dx%d acc=%d %s: not bit-identical at [%zu]", L->name, M,
                          N, K, acc, matmul_isa_name(), first_diff(got, want, nc));
                }
                matmul_set_isa(MATMUL_ISA_AUTO);
            }
            free(a);
            free(b);
            free(c0);
            free(want);
            free(got);
        }
    }
}

/* C = A1 B1 over the first K1 of K, then C += A2 B2 over the rest: the
 * same bits as the whole product (the fused LoRA pass relies on it). */
static void check_k_split(void)
{
    /* {16, 8, 90}: the whole product is past MATMUL_TINY_MAX_K, its two
     * parts are tiny, so this also holds the tiny loop's accumulation to
     * the other kernels' bits */
    const int shapes[][3] = {{8, 1100, 300}, {1030, 8, 300}, {40, 70, 600}, {3, 5, 9}, {16, 8, 90}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], K1 = K / 3 + 1;
        float *a = randv((size_t)K * M, 300 + si); /* (K,M) */
        float *b = randv((size_t)K * N, 400 + si); /* (K,N) */
        float *whole = randv((size_t)M * N, 500 + si);
        float *split = malloc((size_t)M * N * sizeof(float));
        memcpy(split, whole, (size_t)M * N * sizeof(float));
        matmul_tn(whole, a, b, M, N, K, 1);
        matmul_tn(split, a, b, M, N, K1, 1);
        matmul_tn(split, a + (size_t)K1 * M, b + (size_t)K1 * N, M, N, K - K1, 1);
        CHECK(same_bits(split, whole, (size_t)M * N), "tn %dx%dx%d split at %d: not bit-identical",
              M, N, K, K1);
        free(a);
        free(b);
        free(whole);
        free(split);
    }
}

static void check_gram(pool *pools[3])
{
    const int shapes[][2] = {{1, 1}, {3, 17}, {1023, 17}, {17, 100}, {300, 150}, {50, 300}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int N = shapes[si][0], I = shapes[si][1];
        float *x = randv((size_t)N * I, 600 + si);
        float *want = malloc((size_t)I * I * sizeof(float));
        float *got = malloc((size_t)I * I * sizeof(float));
        matmul_tn_naive(want, x, x, I, I, N, 0);
        for (int isa = 0; isa < NPATHS; isa++) {
            matmul_set_isa(PATHS[isa]);
            for (int pi = -1; pi < 3; pi++) {
                memset(got, 0xff, (size_t)I * I * sizeof(float));
                matmul_gram_mt(got, x, N, I, pi < 0 ? NULL : pools[pi]);
                CHECK(same_bits(got, want, (size_t)I * I),
                      "gram N=%d I=%d threads=%d %s: not bit-identical to X^T X at [%zu]", N, I,
                      pi < 0 ? 0 : pi + 1, matmul_isa_name(), first_diff(got, want, (size_t)I * I));
            }
        }
        matmul_set_isa(MATMUL_ISA_AUTO);
        free(x);
        free(want);
        free(got);
    }
}


void test_matmul(void)
{
    pool *pools[3] = {NULL, NULL, NULL};
    char err[128];
    for (int i = 0; i < 3; i++)
        CHECK(pool_init(&pools[i], i + 1, matmul_scratch_floats(), err, sizeof err) == LD_OK,
              "pool_init(%d): %s", i + 1, err);
    /* unequal speeds, so that the threads' shares (pool_share_balanced) are
     * cut elsewhere than in equal parts: no bit may change */
    if (pools[1] != NULL && pools[2] != NULL) {
        pool_note_work(pools[1], 0, 1.0, 1.0);
        pool_note_work(pools[1], 1, 3.0, 1.0);
        for (int t = 0; t < 3; t++)
            pool_note_work(pools[2], t, (double)(2 * t + 1), 1.0);
    }
    pool *bad = NULL;
    CHECK(pool_init(&bad, 0, 16, err, sizeof err) == LD_EINPUT && bad == NULL,
          "pool_init accepted 0 threads");
    CHECK(pool_init(&bad, POOL_MAX_THREADS + 1, 16, err, sizeof err) == LD_EINPUT,
          "pool_init accepted %d threads", POOL_MAX_THREADS + 1);

    check_kernels(pools);
    check_tiny_edges();
    check_k_split();
    check_gram(pools);
    for (int i = 0; i < 3; i++)
        pool_free(pools[i]);

}
