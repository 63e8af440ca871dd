/* gemm_narrow.c - products whose C has few columns, with A read in place.
 *
 * Equals matmul_nt_naive and matmul_nn_naive (matmul.c) bit for bit with
 * accumulate = 0: each element of C is the sequential sum over k in order.
 * Chosen by matmul.c (make_plan) when opA is row-major, C has at most
 * NARROW_MAX_N columns and at least 16 rows, e.g. h = x A^T (N = rank) or
 * dh = g B. Proved by tests/test_matmul.c: check_kernels (N up to 33, K
 * across NARROW_KC, both code paths, 1-3 threads).
 *
 * Packing A, the big operand, would copy it for only N multiply-adds per
 * element, so the tile reads MR rows of A directly. B is packed into 8-wide
 * panels (zero-padded), and an MR x 8 tile of C sits in registers, lanes
 * across the 8 columns.
 *
 * Dimension key: M rows of C, N columns of C, K the summed dimension.
 */
#include <stddef.h>

#include "gemm.h"

#define NARROW_KC 4096 /* K per pass: the B panels take NARROW_KC x NARROW_MAX_N floats */

_Static_assert(NARROW_KC * NARROW_MAX_N <= GEMM_SCRATCH_FLOATS, "narrow panels fit the scratch");

/* acc (MR,8) += a (MR rows, stride lda) . p (kc,8), k in order */
GEMM_INLINE void narrow_body(int MR, int kc, const float *restrict a, ptrdiff_t lda,
                             const float *restrict p, float *restrict acc)
{
    float t[NARROW_MAX_MR * 8];
    for (int i = 0; i < MR * 8; i++)
        t[i] = acc[i];
    for (int k = 0; k < kc; k++) {
        GEMM_UNROLL(8)
        for (int m = 0; m < MR; m++) {
            const float am = a[m * lda + k];
            for (int j = 0; j < 8; j++)
                t[m * 8 + j] += am * p[(size_t)k * 8 + j];
        }
    }
    for (int i = 0; i < MR * 8; i++)
        acc[i] = t[i];
}

/* One out-of-line function per tile shape and code path, as in
 * gemm_packed.c. */
typedef void (*narrow_fn)(int kc, const float *a, ptrdiff_t lda, const float *p, float *acc);

GEMM_NOINLINE static void narrow_4x8(int kc, const float *a, ptrdiff_t lda, const float *p,
                                     float *acc)
{
    narrow_body(4, kc, a, lda, p, acc);
}

GEMM_NOINLINE static void narrow_1x8(int kc, const float *a, ptrdiff_t lda, const float *p,
                                     float *acc)
{
    narrow_body(1, kc, a, lda, p, acc);
}

#ifdef GEMM_AVX2
GEMM_AVX2_TARGET GEMM_NOINLINE static void narrow_avx2_8x8(int kc, const float *a, ptrdiff_t lda,
                                                           const float *p, float *acc)
{
    narrow_body(8, kc, a, lda, p, acc);
}
#endif

/* Columns [0, N) of opB rows [k0, k0 + kc) into 8-column panels, k-major,
 * zero past column N: ws[q*kc*8 + k*8 + j] = opB(k0 + k, q*8 + j). */
static void narrow_pack_b(float *ws, const gemm_args *g, int k0, int kc)
{
    const int npan = (g->N + 7) / 8;
    for (int col = 0; col < npan * 8; col++) {
        float *dst = ws + (size_t)(col / 8) * kc * 8 + col % 8;
        if (col < g->N) {
            const float *src = g->b + k0 * g->rsb + col * g->csb;
            for (int k = 0; k < kc; k++)
                dst[(size_t)k * 8] = src[k * g->rsb];
        } else {
            for (int k = 0; k < kc; k++)
                dst[(size_t)k * 8] = 0.0f;
        }
    }
}

void gemm_narrow(const gemm_args *g, int avx2, float *ws)
{
    narrow_fn tile = narrow_4x8;
    int MR = 4;
#ifdef GEMM_AVX2
    if (avx2) {
        tile = narrow_avx2_8x8;
        MR = 8;
    }
#else
    (void)avx2;
#endif
    const int N = g->N, npan = (N + 7) / 8;
    float acc[NARROW_MAX_MR * 8];
    for (int k0 = 0; k0 < g->K; k0 += NARROW_KC) {
        const int kc = g->K - k0 < NARROW_KC ? g->K - k0 : NARROW_KC;
        const int zero = k0 == 0 && !g->accumulate;
        narrow_pack_b(ws, g, k0, kc);
        for (int i = 0; i < g->M; i += MR) {
            const int mr = g->M - i < MR ? g->M - i : MR;
            const float *ai = g->a + i * g->rsa + k0;
            /* full row tiles take the MR-row kernel, the last few rows go
             * one at a time */
            const int step = mr == MR ? MR : 1;
            for (int q = 0; q < npan; q++) {
                const int n = q < N / 8 ? 8 : N % 8; /* a last, partial panel has N % 8 columns */
                const float *pq = ws + (size_t)q * kc * 8;
                float *cq = g->c + i * g->ldc + (ptrdiff_t)q * 8;
                for (int m0 = 0; m0 < mr; m0 += step) {
                    for (int m = 0; m < step; m++)
                        for (int j = 0; j < 8; j++)
                            acc[m * 8 + j] = (zero || j >= n) ? 0.0f : cq[(m0 + m) * g->ldc + j];
                    if (step == MR)
                        tile(kc, ai, g->rsa, pq, acc);
                    else
                        narrow_1x8(kc, ai + m0 * g->rsa, g->rsa, pq, acc);
                    for (int m = 0; m < step; m++)
                        for (int j = 0; j < n; j++)
                            cq[(m0 + m) * g->ldc + j] = acc[m * 8 + j];
                }
            }
        }
    }
}
