/* gemm_thin.c - A^T B with at most 8 rows or columns, the big side read as
 * it lies.
 *
 * Equals matmul_tn_naive (matmul.c) bit for bit with accumulate = 0: each
 * element is the sequential sum over k in order. Chosen by matmul.c
 * (make_plan) for tn products, opA = A^T and opB = B both with unit steps
 * along M and N, where M <= THIN_MAX_R and N >= THIN_MIN_J, e.g.
 * dA = dh^T x (M = rank), or the same with M and N swapped, e.g.
 * dB = g^T h (N = rank). Proved by tests/test_matmul.c: check_kernels
 * (M or N <= 8 with partial strips, K across THIN_KC, both code paths,
 * 1-3 threads) and check_k_split.
 *
 * Dimension key: out (R,J) (+)= small (K,R)^T big (K,J), R <= THIN_MAX_R
 * (the LoRA rank in dA = dh^T x). out is C (R = M, J = N) or, transposed,
 * C^T (R = N, J = M); out(r, j) lives at c[r*rsc + j*csc], so the same code
 * writes either.
 *
 * The big operand is read in place, row k after row k, in W-wide column
 * strips; the small one is packed 8 to a row (zero-padded). A tile of 8 x W
 * outputs sits in registers, and between K blocks in accumulators in scratch
 * laid out strip by strip (8 x W floats each). K is walked in THIN_KB-row
 * blocks, each copied strip by strip (thin_pack) before the tiles run over
 * it.
 */
#include <stddef.h>

#include "gemm.h"

#define THIN_KC 4096 /* K per pass: the packed small operand is THIN_KC x 8 floats */
#define THIN_KB 64   /* rows of big per block */
#define THIN_MAX_W 8 /* strip width: 4 portable, 8 AVX2 */
#define THIN_JC 1024 /* columns per pass: accumulators 8 x THIN_JC, packed big THIN_KB x THIN_JC */

/* Strips of a packed block lie one cache line more than a power of two
 * apart (see thin_pack). */
#define THIN_STRIDE(kb, W) ((size_t)(kb) * (W) + 16)

_Static_assert(THIN_KC * THIN_MAX_R + THIN_MAX_R * THIN_JC + THIN_KB * THIN_JC + 16 * THIN_JC <=
                   GEMM_SCRATCH_FLOATS,
               "thin buffers fit the scratch");

typedef struct {
    int R, J, K;
    const float *small;
    ptrdiff_t lds; /* small(k, r) = small[k*lds + r] */
    const float *big;
    ptrdiff_t ldb; /* big(k, j) = big[k*ldb + j] */
    float *c;
    ptrdiff_t rsc, csc;
    int accumulate;
} thin_args;

/* ------------------------------------------------------------------------ */
/* tiles and packing */

/* acc (8,W) += sp (kb,8)^T . big (kb rows of W, stride ldb), k in order */
GEMM_INLINE void thin_body(int W, int kb, const float *restrict sp, const float *restrict big,
                           ptrdiff_t ldb, float *restrict acc)
{
    float t[THIN_MAX_R * THIN_MAX_W];
    for (int i = 0; i < THIN_MAX_R * W; i++)
        t[i] = acc[i];
    for (int k = 0; k < kb; k++) {
        const float *bk = big + k * ldb;
        GEMM_UNROLL(8)
        for (int r = 0; r < THIN_MAX_R; r++) {
            const float s = sp[(size_t)k * THIN_MAX_R + r];
            for (int j = 0; j < W; j++)
                t[r * W + j] += s * bk[j];
        }
    }
    for (int i = 0; i < THIN_MAX_R * W; i++)
        acc[i] = t[i];
}

/* One out-of-line function per tile shape and code path, as in
 * gemm_packed.c. */
typedef void (*thin_fn)(int kb, const float *sp, const float *big, ptrdiff_t ldb, float *acc);

GEMM_NOINLINE static void thin_8x4(int kb, const float *sp, const float *big, ptrdiff_t ldb,
                                   float *acc)
{
    thin_body(4, kb, sp, big, ldb, acc);
}

GEMM_NOINLINE static void thin_8x1(int kb, const float *sp, const float *big, ptrdiff_t ldb,
                                   float *acc)
{
    thin_body(1, kb, sp, big, ldb, acc);
}

#ifdef GEMM_AVX2
GEMM_AVX2_TARGET GEMM_NOINLINE static void thin_avx2_8x8(int kb, const float *sp, const float *big,
                                                         ptrdiff_t ldb, float *acc)
{
    thin_body(8, kb, sp, big, ldb, acc);
}
#endif

/* Copy a block of kb rows of big, nstrips strips of W columns, into bpk
 * strip after strip (each strip kb x W contiguous, THIN_STRIDE(kb, W) floats
 * apart), so the tile reads it sequentially: walking down the rows of big
 * directly, one cache line per row and all rows in the same L1 set when a
 * row is 4 KiB, stalls on memory. The stride is not a power of two for the
 * same reason: the stores would otherwise all fall into two L1 sets. */
typedef void (*thin_pack_fn)(int kb, const float *big, ptrdiff_t ldb, int nstrips, float *bpk);

GEMM_INLINE void thin_pack(int W, int kb, const float *restrict big, ptrdiff_t ldb, int nstrips,
                           float *restrict bpk)
{
    for (int k = 0; k < kb; k++) {
        const float *src = big + k * ldb;
        for (int s = 0; s < nstrips; s++)
            for (int j = 0; j < W; j++)
                bpk[(size_t)s * THIN_STRIDE(kb, W) + (size_t)k * W + j] = src[s * W + j];
    }
}

GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void thin_pack_4(int kb, const float *big, ptrdiff_t ldb,
                                                           int nstrips, float *bpk)
{
    thin_pack(4, kb, big, ldb, nstrips, bpk);
}

#ifdef GEMM_AVX2
GEMM_AVX2_TARGET GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void
thin_pack_avx2_8(int kb, const float *big, ptrdiff_t ldb, int nstrips, float *bpk)
{
    thin_pack(8, kb, big, ldb, nstrips, bpk);
}
#endif

/* ------------------------------------------------------------------------ */
/* the passes over K and J */

/* Load the accumulators of columns [j0, j0 + jc) from C, or zeros (store
 * = 0), or store them back (store = 1). Full strips of W columns are (8, W)
 * blocks, the columns past the last full strip (8, 1) blocks. */
static void thin_accs_io(const thin_args *t, int W, int full, int jc, int j0, float *accs, int store)
{
    for (int j = 0; j < jc; j += (j < full ? W : 1)) {
        const int w = j < full ? W : 1;
        float *a = accs + (size_t)j * THIN_MAX_R;
        for (int jj = 0; jj < w; jj++) {
            float *cj = t->c + (j0 + j + jj) * t->csc;
            if (store) {
                for (int r = 0; r < t->R; r++)
                    cj[r * t->rsc] = a[r * w + jj];
            } else {
                for (int r = 0; r < THIN_MAX_R; r++)
                    a[r * w + jj] = (t->accumulate && r < t->R) ? cj[r * t->rsc] : 0.0f;
            }
        }
    }
}

/* Rows [k0, k0 + kc) of small into sp (kc, 8), zero past column R. */
static void thin_pack_small(float *sp, const thin_args *t, int k0, int kc)
{
    for (int k = 0; k < kc; k++) {
        const float *src = t->small + (k0 + k) * t->lds;
        for (int r = 0; r < THIN_MAX_R; r++)
            sp[(size_t)k * THIN_MAX_R + r] = r < t->R ? src[r] : 0.0f;
    }
}

static void thin_run(const thin_args *t, int W, thin_fn tile, thin_pack_fn pack, float *ws)
{
    float *sp = ws;                                    /* (THIN_KC, 8) */
    float *accs = ws + (size_t)THIN_KC * THIN_MAX_R;   /* (THIN_JC / W, 8, W) */
    float *bpk = accs + (size_t)THIN_MAX_R * THIN_JC;  /* THIN_JC / W strips, see thin_pack */
    for (int j0 = 0; j0 < t->J; j0 += THIN_JC) {
        const int jc = t->J - j0 < THIN_JC ? t->J - j0 : THIN_JC;
        /* accumulators start at 0, or at C when accumulating; a partial
         * strip at the end runs one column at a time */
        const int full = jc / W * W;
        thin_accs_io(t, W, full, jc, j0, accs, 0);
        for (int k0 = 0; k0 < t->K; k0 += THIN_KC) {
            const int kc = t->K - k0 < THIN_KC ? t->K - k0 : THIN_KC;
            thin_pack_small(sp, t, k0, kc);
            for (int kb0 = 0; kb0 < kc; kb0 += THIN_KB) {
                const int kb = kc - kb0 < THIN_KB ? kc - kb0 : THIN_KB;
                const float *spk = sp + (size_t)kb0 * THIN_MAX_R;
                const float *bk = t->big + (k0 + kb0) * t->ldb + j0;
                pack(kb, bk, t->ldb, full / W, bpk);
                for (int j = 0; j < full; j += W)
                    tile(kb, spk, bpk + (size_t)(j / W) * THIN_STRIDE(kb, W), W,
                         accs + (size_t)j * THIN_MAX_R);
                for (int j = full; j < jc; j++)
                    thin_8x1(kb, spk, bk + j, t->ldb,
                             accs + (size_t)full * THIN_MAX_R + (size_t)(j - full) * THIN_MAX_R);
            }
        }
        thin_accs_io(t, W, full, jc, j0, accs, 1);
    }
}

void gemm_thin(const gemm_args *g, int transposed, int avx2, float *ws)
{
    /* out = C: small = opA^T, big = opB; out = C^T: small = opB, big = opA^T */
    const thin_args t =
        transposed
            ? (thin_args){g->N, g->M, g->K, g->b, g->rsb, g->a, g->csa, g->c, 1, g->ldc, g->accumulate}
            : (thin_args){g->M, g->N, g->K, g->a, g->csa, g->b, g->rsb, g->c, g->ldc, 1, g->accumulate};
#ifdef GEMM_AVX2
    if (avx2) {
        thin_run(&t, 8, thin_avx2_8x8, thin_pack_avx2_8, ws);
        return;
    }
#else
    (void)avx2;
#endif
    thin_run(&t, 4, thin_8x4, thin_pack_4, ws);
}
