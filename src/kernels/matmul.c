/* matmul.c - matrix kernels (fast) and their naive twins.
 *
 * Dimension key: M result rows, N result columns, K summed dimension.
 * Everything is row-major float32; sums are accumulated in float, as PyTorch
 * does on CPU, so results agree with PyTorch to float rounding.
 *
 * The fast kernels are one blocked, packed GEMM in the style of BLIS/GotoBLAS
 * written in plain C that gcc and clang vectorise:
 *   - C is cut into KC-deep slabs of K, NC-wide column blocks and MC-high
 *     row blocks; the B block (KC x NC) and the A block (MC x KC) are copied
 *     ("packed") into thread scratch in the order the inner kernel reads them,
 *     so any input layout (A or A^T, B or B^T) feeds the same inner kernel;
 *   - the inner kernel keeps an MR x NR tile of C in registers and, for each
 *     k in order, adds a[i][k] * b[k][j] to every element of the tile, with the
 *     NR columns in vector lanes.
 * Each output element is therefore the sequential sum over k that the naive
 * twin forms (see matmul.h); nothing here reassociates a float sum.
 * Products with one small side skip packing the big operand ("narrow" and
 * "thin" kernels, below), and small products run an unpacked loop; all keep
 * the same per-element order. make_plan picks one per product. Tiny products
 * (matmul.h: MATMUL_TINY_WORK) skip all of that and run a plain loop.
 *
 * Code paths. The portable path is compiled for the x86-64 baseline (SSE2),
 * tile 6 x 8. On x86-64 with GCC or clang the same C is also compiled with
 * __attribute__((target("avx2"))), tiles 6 x 16 and 12 x 8 (for results at
 * most 8 columns wide), and picked at run time when the CPU has AVX2
 * (ld_cpu_avx2, simd.h). FMA is
 * deliberately not used: a fused multiply-add rounds once instead of twice,
 * which would make the AVX2 path disagree with the portable path and the
 * naive twins in the last bit. On AMD Zen (the machine this was tuned on)
 * multiplies and adds issue on separate pipes, so mul + add reaches the same
 * peak as FMA.
 */
#include "kernels/matmul.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
/* one GEMM for all layouts: C(i,j) (+)= sum_k opA(i,k) opB(k,j), with
 * opA(i,k) = a[i*rsa + k*csa] and opB(k,j) = b[k*rsb + j*csb] */

typedef struct {
    int M, N, K;
    const float *a;
    ptrdiff_t rsa, csa;
    const float *b;
    ptrdiff_t rsb, csb;
    float *c;
    ptrdiff_t ldc;
    int accumulate;
} gemm_args;

/* Blocking, in floats: a KC x NC block of B (512 KiB) stays in L2, an
 * MC x KC block of A (72 KiB) in L2, and one KC x NR micro-panel of B
 * (16 KiB) in L1 while the MC/MR tiles of a block row pass over it. */
#define KC 256
#define MC 72 /* a multiple of every MR */
#define NC 512 /* a multiple of every NR */
#define MAX_MR 12
#define MAX_NR 16
/* Products of fewer multiply-adds than this skip packing; the narrow and
 * thin kernels, which pack only the small operand, pay off from
 * SMALL_NARROW on, the thin ones for at least THIN_MIN_J columns. */
#define SMALL_GEMM 32768.0
#define SMALL_NARROW 512.0
#define THIN_MIN_J 8

#if defined(__GNUC__) || defined(__clang__)
#define MM_INLINE static inline __attribute__((always_inline))
#define MM_NOINLINE __attribute__((noinline))
#else
#define MM_INLINE static inline
#define MM_NOINLINE
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define MM_AVX2_PATH 1
#endif

/* GCC turns short copies of up to 8 floats into calls to memcpy or memmove,
 * which made packs and tile stores slower than the products; keep them as
 * loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define MM_NO_MEMCPY_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define MM_NO_MEMCPY_CALLS
#endif

size_t matmul_scratch_floats(void)
{
    /* the packed GEMM needs the most; the narrow kernels' panels
     * (NARROW_KC x NARROW_MAX_N) and the thin kernels' packed small operand
     * and accumulators (THIN_KC x 8 + 8 x THIN_JC) fit in it */
    return (size_t)MC * KC + (size_t)KC * NC;
}

/* Small products, unpacked, with the fast kernels' order: each element's
 * sum starts from 0 (or from c when accumulating) and adds the products in
 * order. C is built as sums of scaled rows of opB, which vectorise along N;
 * a transposed opB (nt) is first copied row-major when it is small enough
 * for the stack. */
#define SMALL_BT 4096

static void gemm_ref(const gemm_args *g)
{
    float bt[SMALL_BT];
    const float *b = g->b;
    ptrdiff_t rsb = g->rsb, csb = g->csb;
    if (csb != 1 && (size_t)g->K * (size_t)g->N <= SMALL_BT) {
        for (int k = 0; k < g->K; k++)
            for (int j = 0; j < g->N; j++)
                bt[k * g->N + j] = g->b[k * g->rsb + j * g->csb];
        b = bt;
        rsb = g->N;
        csb = 1;
    }
    if (csb == 1) {
        if (!g->accumulate)
            for (int i = 0; i < g->M; i++)
                for (int j = 0; j < g->N; j++)
                    g->c[i * g->ldc + j] = 0.0f;
        /* k outermost: all M*N sums advance together, so no one sum's
         * chain of dependent adds sets the pace */
        for (int k = 0; k < g->K; k++) {
            const float *bk = b + k * rsb;
            for (int i = 0; i < g->M; i++) {
                const float aik = g->a[i * g->rsa + k * g->csa];
                float *ci = g->c + i * g->ldc;
                for (int j = 0; j < g->N; j++)
                    ci[j] += aik * bk[j];
            }
        }
        return;
    }
    for (int i = 0; i < g->M; i++) {
        for (int j = 0; j < g->N; j++) {
            float *cij = g->c + i * g->ldc + j;
            float s = g->accumulate ? *cij : 0.0f;
            for (int k = 0; k < g->K; k++)
                s += g->a[i * g->rsa + k * g->csa] * b[k * rsb + j * csb];
            *cij = s;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* tiny products: no plan, no scratch, no pool
 *
 * Below MATMUL_TINY_WORK multiply-adds (every product of a 10 -> 5 layer on
 * 100 samples, for one) setting up the kernels below costs more than the
 * arithmetic: choosing a plan, packing into scratch, filling and emptying
 * register tiles cut by the edges of C. gemm_run sends these products here
 * first. opB is copied once into 8-column panels on the stack, k-major and
 * zero past column N; rows of C are then formed four at a time, 8 columns
 * at a time, k in order, in arrays of 8 that the compiler keeps in vector
 * registers (fixed trip counts of 8, so GCC vectorises them at -O2 too).
 * Sums longer than MATMUL_TINY_MAX_K stay with the kernels below: with few
 * rows of C this loop would wait on each sum's chain of adds, where the
 * thin kernels run eight sums side by side. */
#define TINY_PANEL 2048 /* floats of stack: K x (N rounded up to 8) */

static int is_tiny(const gemm_args *g)
{
    return g->K <= MATMUL_TINY_MAX_K &&
           (double)g->M * (double)g->N * (double)g->K <= MATMUL_TINY_WORK &&
           (size_t)g->K * (size_t)((g->N + 7) / 8 * 8) <= TINY_PANEL;
}

/* Rows [i, i + MR) of C, columns [q*8, q*8 + n) (n <= 8) from panel p. */
MM_INLINE void tiny_rows(int MR, const gemm_args *g, int i, int q, int n, const float *restrict p)
{
    float acc[4][8] = {{0}};
    if (g->accumulate)
        for (int m = 0; m < MR; m++)
            for (int j = 0; j < n; j++)
                acc[m][j] = g->c[(i + m) * g->ldc + (ptrdiff_t)q * 8 + j];
    const float *a = g->a + i * g->rsa;
    for (int k = 0; k < g->K; k++) {
#if !defined(__clang__)
#pragma GCC unroll 4
#endif
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

MM_INLINE void tiny_gemm(const gemm_args *g)
{
    float bp[TINY_PANEL];
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

MM_NO_MEMCPY_CALLS MM_NOINLINE static void tiny_portable(const gemm_args *g)
{
    tiny_gemm(g);
}

#ifdef MM_AVX2_PATH
__attribute__((target("avx2"))) MM_NO_MEMCPY_CALLS MM_NOINLINE static void
tiny_avx2(const gemm_args *g)
{
    tiny_gemm(g);
}
#endif

/* Copy rows [0, mc) x cols [0, kc) of opA into MR-row panels, k-major:
 * ap[p*kc*MR + k*MR + i] = opA(p*MR + i, k), zero past row mc. */
static void pack_a(float *ap, int MR, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int mc, int kc)
{
    for (int p = 0; p < mc; p += MR) {
        const int mr = mc - p < MR ? mc - p : MR;
        float *dst = ap + (size_t)p * kc;
        if (csa == 1) {
            for (int i = 0; i < mr; i++) {
                const float *src = a + (p + i) * rsa;
                for (int k = 0; k < kc; k++)
                    dst[k * MR + i] = src[k];
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = a + k * csa + p * rsa;
                for (int i = 0; i < mr; i++)
                    dst[k * MR + i] = src[i * rsa];
            }
        }
        for (int i = mr; i < MR; i++)
            for (int k = 0; k < kc; k++)
                dst[k * MR + i] = 0.0f;
    }
}

/* Copy rows [0, kc) x cols [0, nc) of opB into NR-column panels, k-major:
 * bp[q*kc*NR + k*NR + j] = opB(k, q*NR + j), zero past column nc. */
static void pack_b(float *bp, int NR, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int kc, int nc)
{
    for (int q = 0; q < nc; q += NR) {
        const int nr = nc - q < NR ? nc - q : NR;
        float *dst = bp + (size_t)q * kc;
        if (csb == 1) {
            for (int k = 0; k < kc; k++) {
                const float *src = b + k * rsb + q;
                for (int j = 0; j < nr; j++)
                    dst[k * NR + j] = src[j];
            }
        } else {
            for (int j = 0; j < nr; j++) {
                const float *src = b + (q + j) * csb;
                for (int k = 0; k < kc; k++)
                    dst[k * NR + j] = src[k * rsb];
            }
        }
        for (int k = 0; k < kc; k++)
            for (int j = nr; j < NR; j++)
                dst[k * NR + j] = 0.0f;
    }
}

/* The register tile: C (MR,NR) = (zero ? 0 : C) + sum over k of the packed
 * column ap[k*MR + .] times the packed row bp[k*NR + .], k in order.
 *
 * GCC needs the row loops fully unrolled to keep the tile in registers;
 * clang does that by itself and schedules worse when told to, hence the
 * pragma is for GCC only. */
MM_INLINE void micro_tile(int MR, int NR, int kc, const float *restrict ap,
                          const float *restrict bp, float *restrict c, ptrdiff_t ldc, int zero)
{
    float acc[MAX_MR * MAX_NR];
#if !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i * NR + j] = zero ? 0.0f : c[i * ldc + j];
    for (int k = 0; k < kc; k++) {
#if !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (int i = 0; i < MR; i++) {
            const float ai = ap[(size_t)k * MR + i];
            for (int j = 0; j < NR; j++)
                acc[i * NR + j] += ai * bp[(size_t)k * NR + j];
        }
    }
#if !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[i * ldc + j] = acc[i * NR + j];
}

/* One register-tile kernel per code path and tile shape. Each is its own
 * (not inlined) function so that the compiler allocates the tile's registers
 * with nothing else live; inlined into the blocking loops, GCC spills part
 * of the tile to the stack and runs at half speed. */
typedef void (*tile_fn)(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc,
                        int zero);

MM_NOINLINE static void tile_6x8(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc,
                                 int zero)
{
    micro_tile(6, 8, kc, ap, bp, c, ldc, zero);
}

#ifdef MM_AVX2_PATH
__attribute__((target("avx2"))) MM_NOINLINE static void
tile_avx2_6x16(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc, int zero)
{
    micro_tile(6, 16, kc, ap, bp, c, ldc, zero);
}

__attribute__((target("avx2"))) MM_NOINLINE static void
tile_avx2_12x8(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc, int zero)
{
    micro_tile(12, 8, kc, ap, bp, c, ldc, zero);
}
#endif

/* A code path: its tile kernel and the tile's shape. */
typedef struct {
    tile_fn tile;
    int mr, nr;
} gemm_kernel;

/* A tile cut by the edge of C: run the full tile on a copy. */
static void tile_edge(const gemm_kernel *kern, int kc, const float *ap, const float *bp, float *c,
                      ptrdiff_t ldc, int zero, int mr, int nr)
{
    const int MR = kern->mr, NR = kern->nr;
    float t[MAX_MR * MAX_NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            t[i * NR + j] = (zero || i >= mr || j >= nr) ? 0.0f : c[i * ldc + j];
    kern->tile(kc, ap, bp, t, NR, 0);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = t[i * NR + j];
}

static void gemm_blocked(const gemm_kernel *kern, const gemm_args *g, float *ws)
{
    const int MR = kern->mr, NR = kern->nr;
    float *ap = ws;
    float *bp = ws + (size_t)MC * KC;
    for (int jc = 0; jc < g->N; jc += NC) {
        const int nc = g->N - jc < NC ? g->N - jc : NC;
        for (int pc = 0; pc < g->K; pc += KC) {
            const int kc = g->K - pc < KC ? g->K - pc : KC;
            const int zero = pc == 0 && !g->accumulate;
            pack_b(bp, NR, g->b + pc * g->rsb + jc * g->csb, g->rsb, g->csb, kc, nc);
            for (int ic = 0; ic < g->M; ic += MC) {
                const int mc = g->M - ic < MC ? g->M - ic : MC;
                pack_a(ap, MR, g->a + ic * g->rsa + pc * g->csa, g->rsa, g->csa, mc, kc);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bpj = bp + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        const float *api = ap + (size_t)ir * kc;
                        float *cij = g->c + (ic + ir) * g->ldc + jc + jr;
                        if (mr == MR && nr == NR)
                            kern->tile(kc, api, bpj, cij, g->ldc, zero);
                        else
                            tile_edge(kern, kc, api, bpj, cij, g->ldc, zero, mr, nr);
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* narrow products: C (M,N) with N <= NARROW_MAX_N, A read in place
 *
 * e.g. h = x A^T (N = rank) or dh = g B. Packing A (the big operand) would
 * copy it for only N multiply-adds per element, so the tile reads MR rows of
 * A directly; B is packed into 8-wide panels (zero-padded), and an MR x 8
 * tile of C sits in registers, lanes across the 8 columns. */

#define NARROW_MAX_N 32
#define NARROW_KC 4096 /* panels: NARROW_KC x NARROW_MAX_N floats of scratch */
#define NARROW_MAX_MR 8

typedef void (*narrow_fn)(int kc, const float *a, ptrdiff_t lda, const float *p, float *acc);

/* acc (MR,8) += a (MR rows, stride lda) . p (kc,8), k in order */
MM_INLINE void narrow_tile(int MR, int kc, const float *restrict a, ptrdiff_t lda,
                           const float *restrict p, float *restrict acc)
{
    float t[NARROW_MAX_MR * 8];
    for (int i = 0; i < MR * 8; i++)
        t[i] = acc[i];
    for (int k = 0; k < kc; k++) {
#if !defined(__clang__)
#pragma GCC unroll 8
#endif
        for (int m = 0; m < MR; m++) {
            const float am = a[m * lda + k];
            for (int j = 0; j < 8; j++)
                t[m * 8 + j] += am * p[(size_t)k * 8 + j];
        }
    }
    for (int i = 0; i < MR * 8; i++)
        acc[i] = t[i];
}

MM_NOINLINE static void narrow_4(int kc, const float *a, ptrdiff_t lda, const float *p, float *acc)
{
    narrow_tile(4, kc, a, lda, p, acc);
}

MM_NOINLINE static void narrow_1(int kc, const float *a, ptrdiff_t lda, const float *p, float *acc)
{
    narrow_tile(1, kc, a, lda, p, acc);
}

#ifdef MM_AVX2_PATH
__attribute__((target("avx2"))) MM_NOINLINE static void
narrow_avx2_8(int kc, const float *a, ptrdiff_t lda, const float *p, float *acc)
{
    narrow_tile(8, kc, a, lda, p, acc);
}
#endif

/* ------------------------------------------------------------------------ */
/* thin products: out (R,J) (+)= small (K,R)^T . big (K,J) with R <= 8
 *
 * e.g. da = dh^T x (R = rank) or, transposed, db = g^T h. The big operand is
 * read in place, row k after row k, in W-wide column strips; the small one is
 * packed 8 to a row (zero-padded); a tile of 8 x W outputs sits in
 * registers, and between K blocks in an accumulator buffer in scratch laid
 * out strip by strip (8 x W floats each). K is walked in THIN_KB-row blocks,
 * each copied strip by strip (thin_pack) before the tiles run over it.
 * out(r, j) lives at c[r*rsc + j*csc], so the same code writes C or C^T. */

#define THIN_MAX_R 8
#define THIN_KC 4096 /* packed small: THIN_KC x 8 floats of scratch */
#define THIN_KB 64
#define THIN_MAX_W 8
#define THIN_JC 1024 /* columns per pass: accumulators 8 x THIN_JC, packed big THIN_KB x THIN_JC */

_Static_assert(NARROW_KC * NARROW_MAX_N <= MC * KC + KC * NC, "narrow panels fit the scratch");
_Static_assert(THIN_KC * THIN_MAX_R + THIN_MAX_R * THIN_JC + THIN_KB * THIN_JC + 16 * THIN_JC <=
                   MC * KC + KC * NC,
               "thin buffers fit the scratch");

typedef void (*thin_fn)(int kb, const float *sp, const float *big, ptrdiff_t ldb, float *acc);

/* acc (8,W) += sp (kb,8)^T . big (kb rows of W, stride ldb), k in order */
MM_INLINE void thin_tile(int W, int kb, const float *restrict sp, const float *restrict big,
                         ptrdiff_t ldb, float *restrict acc)
{
    float t[THIN_MAX_R * THIN_MAX_W];
    for (int i = 0; i < THIN_MAX_R * W; i++)
        t[i] = acc[i];
    for (int k = 0; k < kb; k++) {
        const float *bk = big + k * ldb;
#if !defined(__clang__)
#pragma GCC unroll 8
#endif
        for (int r = 0; r < THIN_MAX_R; r++) {
            const float s = sp[(size_t)k * THIN_MAX_R + r];
            for (int j = 0; j < W; j++)
                t[r * W + j] += s * bk[j];
        }
    }
    for (int i = 0; i < THIN_MAX_R * W; i++)
        acc[i] = t[i];
}

MM_NOINLINE static void thin_4(int kb, const float *sp, const float *big, ptrdiff_t ldb, float *acc)
{
    thin_tile(4, kb, sp, big, ldb, acc);
}

MM_NOINLINE static void thin_1(int kb, const float *sp, const float *big, ptrdiff_t ldb, float *acc)
{
    thin_tile(1, kb, sp, big, ldb, acc);
}

#ifdef MM_AVX2_PATH
__attribute__((target("avx2"))) MM_NOINLINE static void
thin_avx2_8(int kb, const float *sp, const float *big, ptrdiff_t ldb, float *acc)
{
    thin_tile(8, kb, sp, big, ldb, acc);
}
#endif

/* Copy a block of kb rows of big, nstrips strips of W columns, into bpk
 * strip after strip (each strip kb x W contiguous, strips THIN_STRIDE(kb, W)
 * floats apart), so the thin tile reads it sequentially: walking down rows
 * of big directly, one cache line per row and all rows in the same L1 set
 * when a row is 4 KiB, stalls on memory. The strips are one cache line more
 * than a power of two apart for the same reason: the pack's stores would
 * otherwise all fall into two L1 sets. */
#define THIN_STRIDE(kb, W) ((size_t)(kb) * (W) + 16)
typedef void (*thin_pack_fn)(int kb, const float *big, ptrdiff_t ldb, int nstrips, float *bpk);

MM_INLINE void thin_pack(int W, int kb, const float *restrict big, ptrdiff_t ldb, int nstrips,
                         float *restrict bpk)
{
    for (int k = 0; k < kb; k++) {
        const float *src = big + k * ldb;
        for (int s = 0; s < nstrips; s++)
            for (int j = 0; j < W; j++)
                bpk[(size_t)s * THIN_STRIDE(kb, W) + (size_t)k * W + j] = src[s * W + j];
    }
}

MM_NO_MEMCPY_CALLS MM_NOINLINE static void thin_pack_4(int kb, const float *big, ptrdiff_t ldb, int nstrips, float *bpk)
{
    thin_pack(4, kb, big, ldb, nstrips, bpk);
}

#ifdef MM_AVX2_PATH
__attribute__((target("avx2"))) MM_NO_MEMCPY_CALLS MM_NOINLINE static void
thin_pack_avx2_8(int kb, const float *big, ptrdiff_t ldb, int nstrips, float *bpk)
{
    thin_pack(8, kb, big, ldb, nstrips, bpk);
}
#endif

/* ------------------------------------------------------------------------ */
/* plans: which kernel computes a product, chosen once for the whole product
 * so that every thread's share of it runs the same code */

typedef enum { PLAN_REF, PLAN_PACKED, PLAN_NARROW, PLAN_THIN_M, PLAN_THIN_N } plan_kind;

typedef struct {
    plan_kind kind;
    gemm_kernel packed;
    narrow_fn narrow;
    int narrow_mr;
    thin_fn thin;
    thin_pack_fn thin_pack;
    int thin_w;
} plan;

static matmul_isa isa_choice = MATMUL_ISA_AUTO;

void matmul_set_isa(matmul_isa isa)
{
    isa_choice = isa;
}

static int use_avx2(void)
{
#ifdef MM_AVX2_PATH
    return isa_choice != MATMUL_ISA_PORTABLE && ld_cpu_avx2();
#else
    return 0;
#endif
}

int matmul_isa_avx2(void)
{
    return use_avx2();
}

const char *matmul_isa_name(void)
{
    return use_avx2() ? "avx2" : "portable";
}

static plan make_plan(const gemm_args *g)
{
    plan pl = {PLAN_REF, {tile_6x8, 6, 8}, narrow_4, 4, thin_4, thin_pack_4, 4};
#ifdef MM_AVX2_PATH
    if (use_avx2()) {
        pl.packed = g->N <= 8 ? (gemm_kernel){tile_avx2_12x8, 12, 8}
                              : (gemm_kernel){tile_avx2_6x16, 6, 16};
        pl.narrow = narrow_avx2_8;
        pl.narrow_mr = 8;
        pl.thin = thin_avx2_8;
        pl.thin_pack = thin_pack_avx2_8;
        pl.thin_w = 8;
    }
#endif
    const double work = (double)g->M * (double)g->N * (double)g->K;
    /* pl.kind starts as PLAN_REF: tiny products, and small ones that no
     * special kernel takes, keep the reference loop */
    if (work >= SMALL_NARROW) {
        if (g->csa == 1 && g->N <= NARROW_MAX_N && g->M >= 16)
            pl.kind = PLAN_NARROW;
        else if (g->rsa == 1 && g->csb == 1 && g->M <= THIN_MAX_R && g->N >= THIN_MIN_J)
            pl.kind = PLAN_THIN_M;
        else if (g->rsa == 1 && g->csb == 1 && g->N <= THIN_MAX_R && g->M >= THIN_MIN_J)
            pl.kind = PLAN_THIN_N;
        else if (work >= SMALL_GEMM)
            pl.kind = PLAN_PACKED;
    }
    return pl;
}

/* Rows [lo, hi) of a narrow product. */
static void narrow_rows(const plan *pl, const gemm_args *g, int lo, int hi, float *ws)
{
    const int MR = pl->narrow_mr, N = g->N;
    const int npan = (N + 7) / 8;
    float acc[NARROW_MAX_MR * 8];
    for (int k0 = 0; k0 < g->K; k0 += NARROW_KC) {
        const int kc = g->K - k0 < NARROW_KC ? g->K - k0 : NARROW_KC;
        const int zero = k0 == 0 && !g->accumulate;
        for (int col = 0; col < npan * 8; col++) {
            float *dst = ws + (size_t)(col / 8) * kc * 8 + col % 8;
            if (col < N) {
                const float *src = g->b + k0 * g->rsb + col * g->csb;
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * 8] = src[k * g->rsb];
            } else {
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * 8] = 0.0f;
            }
        }
        for (int i = lo; i < hi; i += MR) {
            const int mr = hi - i < MR ? hi - i : MR;
            const float *ai = g->a + i * g->rsa + k0;
            for (int q = 0; q < npan; q++) {
                const int n = q < N / 8 ? 8 : N % 8; /* a last, partial panel has N % 8 columns */
                const float *pq = ws + (size_t)q * kc * 8;
                float *cq = g->c + i * g->ldc + (ptrdiff_t)q * 8;
                /* full row tiles take the MR-row kernel, the last few rows
                 * go one at a time */
                const int step = mr == MR ? MR : 1;
                for (int m0 = 0; m0 < mr; m0 += step) {
                    for (int m = 0; m < step; m++)
                        for (int j = 0; j < 8; j++)
                            acc[m * 8 + j] = (zero || j >= n) ? 0.0f : cq[(m0 + m) * g->ldc + j];
                    if (step == MR)
                        pl->narrow(kc, ai, g->rsa, pq, acc);
                    else
                        narrow_1(kc, ai + m0 * g->rsa, g->rsa, pq, acc);
                    for (int m = 0; m < step; m++)
                        for (int j = 0; j < n; j++)
                            cq[(m0 + m) * g->ldc + j] = acc[m * 8 + j];
                }
            }
        }
    }
}

/* Columns [lo, hi) of out (R,J) (+)= small^T big; see the thin kernels. */
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

static thin_args thin_of(const plan *pl, const gemm_args *g)
{
    thin_args t;
    if (pl->kind == PLAN_THIN_M) { /* out = C: small = opA^T, big = opB */
        t = (thin_args){g->M, g->N, g->K, g->a, g->csa, g->b, g->rsb, g->c, g->ldc, 1, g->accumulate};
    } else { /* out = C^T: small = opB, big = opA^T */
        t = (thin_args){g->N, g->M, g->K, g->b, g->rsb, g->a, g->csa, g->c, 1, g->ldc, g->accumulate};
    }
    return t;
}

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

static void thin_cols(const plan *pl, const thin_args *t, int lo, int hi, float *ws)
{
    const int W = pl->thin_w;
    float *sp = ws;                                 /* (THIN_KC, 8) */
    float *accs = ws + (size_t)THIN_KC * THIN_MAX_R; /* (THIN_JC / W, 8, W) */
    float *bpk = accs + (size_t)THIN_MAX_R * THIN_JC; /* THIN_JC / W strips, see thin_pack */
    for (int j0 = lo; j0 < hi; j0 += THIN_JC) {
        const int jc = hi - j0 < THIN_JC ? hi - j0 : THIN_JC;
        /* accumulators start at 0, or at C when accumulating; a partial
         * strip at the end runs one column at a time */
        const int full = jc / W * W;
        thin_accs_io(t, W, full, jc, j0, accs, 0);
        for (int k0 = 0; k0 < t->K; k0 += THIN_KC) {
            const int kc = t->K - k0 < THIN_KC ? t->K - k0 : THIN_KC;
            for (int k = 0; k < kc; k++) {
                const float *src = t->small + (k0 + k) * t->lds;
                for (int r = 0; r < THIN_MAX_R; r++)
                    sp[(size_t)k * THIN_MAX_R + r] = r < t->R ? src[r] : 0.0f;
            }
            for (int kb0 = 0; kb0 < kc; kb0 += THIN_KB) {
                const int kb = kc - kb0 < THIN_KB ? kc - kb0 : THIN_KB;
                const float *spk = sp + (size_t)kb0 * THIN_MAX_R;
                const float *bk = t->big + (k0 + kb0) * t->ldb + j0;
                pl->thin_pack(kb, bk, t->ldb, full / W, bpk);
                for (int j = 0; j < full; j += W)
                    pl->thin(kb, spk, bpk + (size_t)(j / W) * THIN_STRIDE(kb, W), W,
                             accs + (size_t)j * THIN_MAX_R);
                for (int j = full; j < jc; j++)
                    thin_1(kb, spk, bk + j, t->ldb,
                           accs + (size_t)full * THIN_MAX_R + (size_t)(j - full) * THIN_MAX_R);
            }
        }
        thin_accs_io(t, W, full, jc, j0, accs, 1);
    }
}

/* Thread tid's share of the product, computed with scratch ws. */
static void run_share(const plan *pl, const gemm_args *g, int tid, int nthreads, float *ws)
{
    int lo, hi;
    gemm_args s = *g;
    switch (pl->kind) {
    case PLAN_REF:
        if (tid == 0)
            gemm_ref(g);
        return;
    case PLAN_NARROW:
        pool_share(g->M, NARROW_MAX_MR, tid, nthreads, &lo, &hi);
        if (hi > lo)
            narrow_rows(pl, g, lo, hi, ws);
        return;
    case PLAN_THIN_M:
    case PLAN_THIN_N: {
        thin_args t = thin_of(pl, g);
        pool_share(t.J, 16, tid, nthreads, &lo, &hi);
        if (hi > lo)
            thin_cols(pl, &t, lo, hi, ws);
        return;
    }
    case PLAN_PACKED:
        if (s.M >= s.N) { /* whole rows of C */
            pool_share(s.M, MAX_MR, tid, nthreads, &lo, &hi);
            s.M = hi - lo;
            s.a += lo * s.rsa;
            s.c += lo * s.ldc;
        } else { /* whole columns of C */
            pool_share(s.N, MAX_NR, tid, nthreads, &lo, &hi);
            s.N = hi - lo;
            s.b += lo * s.csb;
            s.c += lo;
        }
        if (hi > lo)
            gemm_blocked(&pl->packed, &s, ws);
        return;
    }
}

typedef struct {
    const plan *pl;
    const gemm_args *g;
    pool *p;
} gemm_job;

static void gemm_job_fn(void *ctx, int tid, int nthreads)
{
    const gemm_job *job = ctx;
    run_share(job->pl, job->g, tid, nthreads, pool_scratch(job->p, tid));
}

static void gemm_run(const gemm_args *g, pool *p, float *ws)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    if (is_tiny(g)) {
#ifdef MM_AVX2_PATH
        if (use_avx2()) {
            tiny_avx2(g);
            return;
        }
#endif
        tiny_portable(g);
        return;
    }
    const plan pl = make_plan(g);
    if (pl.kind == PLAN_REF) {
        gemm_ref(g);
    } else if (ws != NULL) {
        run_share(&pl, g, 0, 1, ws);
    } else if (p != NULL) {
        gemm_job job = {&pl, g, p};
        pool_run(p, gemm_job_fn, &job);
    } else {
        /* no pool and no scratch: allocate it, or fall back to the small
         * products' loop, which gives the same numbers, only slower */
        float *own = malloc(matmul_scratch_floats() * sizeof(float));
        if (own == NULL) {
            gemm_ref(g);
            return;
        }
        run_share(&pl, g, 0, 1, own);
        free(own);
    }
}

/* ------------------------------------------------------------------------ */
/* public kernels */

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

/* ------------------------------------------------------------------------ */
/* Gram matrix: the upper triangle in column blocks, then a mirror */

#define GRAM_NB 128

typedef struct {
    float *g;
    const float *x;
    int n, dim;
    plan pl;
    pool *p;
    float *ws; /* scratch when there is no pool */
} gram_job;

/* Column block b (columns [b*GRAM_NB, +GRAM_NB)) of the upper triangle:
 * rows 0 to the block's last column. Blocks go round-robin to the threads,
 * which balances their growing heights well enough. */
static void gram_upper_fn(void *ctx, int tid, int nthreads)
{
    const gram_job *job = ctx;
    float *ws = job->p != NULL ? pool_scratch(job->p, tid) : job->ws;
    const int I = job->dim;
    for (int c0 = tid * GRAM_NB; c0 < I; c0 += nthreads * GRAM_NB) {
        const int cols = I - c0 < GRAM_NB ? I - c0 : GRAM_NB;
        gemm_args s = {c0 + cols, cols, job->n, job->x, 1, I, job->x + c0, I, 1, job->g + c0, I, 0};
        gemm_blocked(&job->pl.packed, &s, ws);
    }
}

static void gram_mirror_fn(void *ctx, int tid, int nthreads)
{
    const gram_job *job = ctx;
    const int I = job->dim;
    int lo, hi;
    pool_share(I, 1, tid, nthreads, &lo, &hi);
    for (int i = lo; i < hi; i++)
        for (int j = 0; j < i; j++)
            job->g[(size_t)i * I + j] = job->g[(size_t)j * I + i];
}

void matmul_gram_mt(float *g, const float *x, int N, int I, pool *p)
{
    gemm_args full = args_tn(g, x, x, I, I, N, 0);
    if (I <= 0)
        return;
    gram_job job = {g, x, N, I, make_plan(&full), p, NULL};
    if (job.pl.kind != PLAN_PACKED) {
        gemm_run(&full, p, NULL);
        return;
    }
    if (p == NULL) {
        job.ws = malloc(matmul_scratch_floats() * sizeof(float));
        if (job.ws == NULL) {
            gemm_ref(&full);
            return;
        }
    }
    pool_run(p, gram_upper_fn, &job);
    pool_run(p, gram_mirror_fn, &job);
    free(job.ws);
}
