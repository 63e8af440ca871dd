/* gemm_small.c - tiny and small products: loops without packing or threads.
 *
 * Equals the naive twins in matmul.c (matmul_nt_naive, _tn_naive, _nn_naive)
 * bit for bit with accumulate = 0: each element's sum starts from 0, or from
 * c when accumulating, and adds the products k = 0, 1, 2, ... in order.
 * Chosen by matmul.c: gemm_tiny for products within MATMUL_TINY_WORK and
 * MATMUL_TINY_MAX_K (matmul.h), before any plan; gemm_small for the small
 * products that no other kernel takes, and as the fallback when scratch
 * cannot be allocated. Proved by tests/test_matmul.c: check_tiny_edges (the
 * tiny limits, both code paths), check_kernels and check_k_split.
 *
 * Dimension key: M rows of C, N columns of C, K the summed dimension.
 */
#include <stddef.h>

#include "gemm.h"

/* ------------------------------------------------------------------------ */
/* small products: C as sums of scaled rows of opB */

/* Floats of stack for a row-major copy of a transposed opB (nt). */
#define SMALL_BT 4096

/* C += opA opB with opB row-major (csb = 1), k outermost: all M*N sums
 * advance together, so no one sum's chain of dependent adds sets the pace,
 * and the inner loop vectorises along N. */
static void small_rows_of_b(const gemm_args *g, const float *b, ptrdiff_t rsb)
{
    if (!g->accumulate)
        for (int i = 0; i < g->M; i++)
            for (int j = 0; j < g->N; j++)
                g->c[i * g->ldc + j] = 0.0f;
    for (int k = 0; k < g->K; k++) {
        const float *bk = b + k * rsb;
        for (int i = 0; i < g->M; i++) {
            const float aik = g->a[i * g->rsa + k * g->csa];
            float *ci = g->c + i * g->ldc;
            for (int j = 0; j < g->N; j++)
                ci[j] += aik * bk[j];
        }
    }
}

void gemm_small(const gemm_args *g)
{
    if (g->csb == 1) {
        small_rows_of_b(g, g->b, g->rsb);
        return;
    }
    if ((size_t)g->K * (size_t)g->N <= SMALL_BT) {
        float bt[SMALL_BT];
        for (int k = 0; k < g->K; k++)
            for (int j = 0; j < g->N; j++)
                bt[k * g->N + j] = g->b[k * g->rsb + j * g->csb];
        small_rows_of_b(g, bt, g->N);
        return;
    }
    /* opB too big to copy: one element at a time */
    for (int i = 0; i < g->M; i++) {
        for (int j = 0; j < g->N; j++) {
            float *cij = g->c + i * g->ldc + j;
            float s = g->accumulate ? *cij : 0.0f;
            for (int k = 0; k < g->K; k++)
                s += g->a[i * g->rsa + k * g->csa] * g->b[k * g->rsb + j * g->csb];
            *cij = s;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* tiny products: no plan, no scratch, no pool
 *
 * For these (every product of a 10 -> 5 layer on 100 samples, for one)
 * choosing a plan, packing into scratch and filling register tiles cut by
 * the edges of C would cost more than the arithmetic. opB is copied once into
 * 8-column panels on the stack, k-major and zero past column N; rows of C are
 * then formed four at a time, 8 columns at a time, k in order, in arrays of 8
 * that the compiler keeps in vector registers (fixed trip counts of 8, so GCC
 * vectorises them at -O2 too). Longer sums stay with the other kernels: with
 * few rows of C this loop would wait on each sum's chain of adds, where the
 * thin kernel runs eight sums side by side. */

/* Rows [i, i + MR) of C, columns [q*8, q*8 + n) (n <= 8) from panel p. */
GEMM_INLINE void tiny_rows(int MR, const gemm_args *g, int i, int q, int n, const float *restrict p)
{
    float acc[4][8] = {{0}};
    if (g->accumulate)
        for (int m = 0; m < MR; m++)
            for (int j = 0; j < n; j++)
                acc[m][j] = g->c[(i + m) * g->ldc + (ptrdiff_t)q * 8 + j];
    const float *a = g->a + i * g->rsa;
    for (int k = 0; k < g->K; k++) {
        GEMM_UNROLL(4)
        for (int m = 0; m < MR; m++) {
            const float amk = a[m * g->rsa + k * g->csa];
            for (int j = 0; j < 8; j++)
                acc[m][j] += amk * p[k * 8 + j];
        }
    }
    for (int m = 0; m < MR; m++) {
        float *c = g->c + (i + m) * g->ldc + (ptrdiff_t)q * 8;
        if (n == 8) {
            for (int j = 0; j < 8; j++)
                c[j] = acc[m][j];
        } else {
            for (int j = 0; j < n; j++)
                c[j] = acc[m][j];
        }
    }
}

GEMM_INLINE void tiny_body(const gemm_args *g)
{
    float bp[GEMM_TINY_PANEL];
    const int K = g->K, npan = (g->N + 7) / 8;
    for (int q = 0; q < npan; q++) {
        const int n = q < g->N / 8 ? 8 : g->N % 8; /* a last, partial panel has N % 8 columns */
        float *dst = bp + (size_t)q * K * 8;
        for (int k = 0; k < K; k++) {
            const float *src = g->b + k * g->rsb + (ptrdiff_t)q * 8 * g->csb;
            for (int j = 0; j < 8; j++)
                dst[k * 8 + j] = j < n ? src[j * g->csb] : 0.0f;
        }
    }
    /* four rows at a time: four independent sums per column, so the adds
     * of one sum do not wait on each other */
    for (int q = 0; q < npan; q++) {
        const int n = g->N - q * 8 < 8 ? g->N - q * 8 : 8;
        const float *p = bp + (size_t)q * K * 8;
        int i = 0;
        for (; i + 4 <= g->M; i += 4)
            tiny_rows(4, g, i, q, n, p);
        for (; i < g->M; i++)
            tiny_rows(1, g, i, q, n, p);
    }
}

GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void tiny_portable(const gemm_args *g)
{
    tiny_body(g);
}

#ifdef GEMM_AVX2
GEMM_AVX2_TARGET GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void tiny_avx2(const gemm_args *g)
{
    tiny_body(g);
}
#endif

void gemm_tiny(const gemm_args *g, int avx2)
{
#ifdef GEMM_AVX2
    if (avx2) {
        tiny_avx2(g);
        return;
    }
#else
    (void)avx2;
#endif
    tiny_portable(g);
}
