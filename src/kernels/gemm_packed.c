/* gemm_packed.c - the blocked, packed GEMM, in the style of BLIS/GotoBLAS,
 * written in plain C that gcc and clang vectorise.
 *
 * Equals the naive twins in matmul.c (matmul_nt_naive, _tn_naive, _nn_naive)
 * bit for bit with accumulate = 0: each element of C is the sequential sum
 * over k in order, and nothing here reassociates it. Chosen by matmul.c
 * (make_plan) for products of at least SMALL_GEMM multiply-adds that the
 * narrow and thin kernels do not take, and by gram.c. Proved by
 * tests/test_matmul.c: check_kernels (shapes across KC, MC, NC and the tile
 * edges, all three code paths, 1-3 threads), check_k_split and check_gram.
 *
 * How: C is cut into KC-deep slabs of K, NC-wide column blocks and MC-high
 * row blocks (gemm.h). The B block (KC x NC) and the A block (MC x KC) are
 * copied ("packed") into scratch in the order the register tile reads them,
 * so any layout (A or A^T, B or B^T) feeds the same tile. The tile keeps
 * MR x NR elements of C in registers and, for each k in order, adds
 * a[i][k] * b[k][j] to every one of them, the NR columns in vector lanes.
 *
 * Tiles: 6 x 8 on the portable path (x86-64 baseline, SSE2); 6 x 16, or
 * 12 x 8 for C at most 8 columns wide, on the AVX2 path; on the AVX-512
 * path 8 x 32 (gemm_avx512.c) for C wider than 16 columns, else the AVX2
 * tiles. No FMA: a fused multiply-add rounds once instead of twice, so the
 * vector paths would stop agreeing with the portable path and the naive
 * twins in the last bit. The packing loops are built per tile, so that the
 * panel width is a constant the compiler vectorises.
 *
 * Dimension key: M rows of C, N columns of C, K the summed dimension.
 */
#include <stddef.h>

#include "gemm.h"

/* ------------------------------------------------------------------------ */
/* packing */

/* Whole panels, with the panel width a constant so that the copies
 * vectorise: the panel is written in order, and the source is read along
 * whichever of its sides is contiguous. */
GEMM_INLINE void pack_a_full(int MR, float *restrict dst, const float *restrict a, ptrdiff_t rsa,
                             ptrdiff_t csa, int kc)
{
    if (csa == 1) {
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < MR; i++)
                dst[k * MR + i] = a[i * rsa + k];
    } else {
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < MR; i++)
                dst[k * MR + i] = a[k * csa + i * rsa];
    }
}

GEMM_INLINE void pack_b_full(int NR, float *restrict dst, const float *restrict b, ptrdiff_t rsb,
                             ptrdiff_t csb, int kc)
{
    if (csb == 1) {
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < NR; j++)
                dst[k * NR + j] = b[k * rsb + j];
    } else {
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < NR; j++)
                dst[k * NR + j] = b[j * csb + k * rsb];
    }
}

/* One whole A panel of MR rows, or B panel of NR columns, per tile shape. */
typedef void (*pack_fn)(float *dst, const float *src, ptrdiff_t rs, ptrdiff_t cs, int kc);

#define PACK_FNS(name, MR, NR, target)                                                        \
    target GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void pack_a_##name(                       \
        float *dst, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int kc)                      \
    {                                                                                          \
        pack_a_full(MR, dst, a, rsa, csa, kc);                                                 \
    }                                                                                          \
    target GEMM_NO_MEMCPY_CALLS GEMM_NOINLINE static void pack_b_##name(                       \
        float *dst, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int kc)                      \
    {                                                                                          \
        pack_b_full(NR, dst, b, rsb, csb, kc);                                                 \
    }

PACK_FNS(6x8, 6, 8, )
#ifdef GEMM_AVX2
PACK_FNS(avx2_6x16, 6, 16, GEMM_AVX2_TARGET)
PACK_FNS(avx2_12x8, 12, 8, GEMM_AVX2_TARGET)
#endif

/* Copy rows [0, mc) x cols [0, kc) of opA into MR-row panels, k-major:
 * ap[p*kc*MR + k*MR + i] = opA(p*MR + i, k), zero past row mc. */
static void pack_a(float *ap, int MR, pack_fn full, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                   int mc, int kc)
{
    for (int p = 0; p < mc; p += MR) {
        const int mr = mc - p < MR ? mc - p : MR;
        float *dst = ap + (size_t)p * kc;
        if (mr == MR) {
            full(dst, a + p * rsa, rsa, csa, kc);
            continue;
        }
        for (int k = 0; k < kc; k++) {
            const float *src = a + k * csa + p * rsa;
            for (int i = 0; i < mr; i++)
                dst[k * MR + i] = src[i * rsa];
            for (int i = mr; i < MR; i++)
                dst[k * MR + i] = 0.0f;
        }
    }
}

/* Copy rows [0, kc) x cols [0, nc) of opB into NR-column panels, k-major:
 * bp[q*kc*NR + k*NR + j] = opB(k, q*NR + j), zero past column nc. */
static void pack_b(float *bp, int NR, pack_fn full, const float *b, ptrdiff_t rsb, ptrdiff_t csb,
                   int kc, int nc)
{
    for (int q = 0; q < nc; q += NR) {
        const int nr = nc - q < NR ? nc - q : NR;
        float *dst = bp + (size_t)q * kc;
        if (nr == NR) {
            full(dst, b + q * csb, rsb, csb, kc);
            continue;
        }
        for (int k = 0; k < kc; k++) {
            const float *src = b + k * rsb + q * csb;
            for (int j = 0; j < nr; j++)
                dst[k * NR + j] = src[j * csb];
            for (int j = nr; j < NR; j++)
                dst[k * NR + j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* register tiles */

/* C (MR,NR) = (zero ? 0 : C) + sum over k of the packed column ap[k*MR + .]
 * times the packed row bp[k*NR + .], k in order. */
GEMM_INLINE void tile_body(int MR, int NR, int kc, const float *restrict ap,
                           const float *restrict bp, float *restrict c, ptrdiff_t ldc, int zero)
{
    float acc[GEMM_MAX_MR * GEMM_MAX_NR];
    GEMM_UNROLL(16)
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i * NR + j] = zero ? 0.0f : c[i * ldc + j];
    for (int k = 0; k < kc; k++) {
        GEMM_UNROLL(16)
        for (int i = 0; i < MR; i++) {
            const float ai = ap[(size_t)k * MR + i];
            for (int j = 0; j < NR; j++)
                acc[i * NR + j] += ai * bp[(size_t)k * NR + j];
        }
    }
    GEMM_UNROLL(16)
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[i * ldc + j] = acc[i * NR + j];
}

/* One function per code path and tile shape, each kept out of line so that
 * the compiler allocates the tile's registers with nothing else live
 * (inlined into the blocking loops, GCC spills part of the tile). */
typedef void (*tile_fn)(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc,
                        int zero);

GEMM_NOINLINE static void tile_6x8(int kc, const float *ap, const float *bp, float *c,
                                   ptrdiff_t ldc, int zero)
{
    tile_body(6, 8, kc, ap, bp, c, ldc, zero);
}

#ifdef GEMM_AVX2
GEMM_AVX2_TARGET GEMM_NOINLINE static void tile_avx2_6x16(int kc, const float *ap, const float *bp,
                                                          float *c, ptrdiff_t ldc, int zero)
{
    tile_body(6, 16, kc, ap, bp, c, ldc, zero);
}

GEMM_AVX2_TARGET GEMM_NOINLINE static void tile_avx2_12x8(int kc, const float *ap, const float *bp,
                                                          float *c, ptrdiff_t ldc, int zero)
{
    tile_body(12, 8, kc, ap, bp, c, ldc, zero);
}
#endif

/* A tile function and its shape. */
struct gemm_tile {
    tile_fn fn;
    int mr, nr;
    pack_fn pack_a, pack_b; /* whole panels */
};

static const gemm_tile TILE_6X8 = {tile_6x8, 6, 8, pack_a_6x8, pack_b_6x8};
#ifdef GEMM_AVX2
static const gemm_tile TILE_AVX2_6X16 = {tile_avx2_6x16, 6, 16, pack_a_avx2_6x16, pack_b_avx2_6x16};
static const gemm_tile TILE_AVX2_12X8 = {tile_avx2_12x8, 12, 8, pack_a_avx2_12x8, pack_b_avx2_12x8};
#endif
#ifdef GEMM_AVX512
static const gemm_tile TILE_AVX512_8X32 = {gemm_tile_avx512_8x32, 8, 32, gemm_pack_a_avx512_8,
                                           gemm_pack_b_avx512_32};
#endif

const gemm_tile *gemm_packed_tile(int isa, int N)
{
#ifdef GEMM_AVX512
    if (isa >= 2 && N > 16)
        return &TILE_AVX512_8X32; /* narrower C keeps the AVX2 tiles: no empty lanes */
#endif
#ifdef GEMM_AVX2
    if (isa >= 1)
        return N <= 8 ? &TILE_AVX2_12X8 : &TILE_AVX2_6X16; /* no empty lanes when N <= 8 */
#else
    (void)isa;
    (void)N;
#endif
    return &TILE_6X8;
}

/* A tile cut by the edge of C (mr x nr of it inside): the full tile on a copy. */
static void tile_edge(const gemm_tile *tile, int kc, const float *ap, const float *bp, float *c,
                      ptrdiff_t ldc, int zero, int mr, int nr)
{
    const int MR = tile->mr, NR = tile->nr;
    float t[GEMM_MAX_MR * GEMM_MAX_NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            t[i * NR + j] = (zero || i >= mr || j >= nr) ? 0.0f : c[i * ldc + j];
    tile->fn(kc, ap, bp, t, NR, 0);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = t[i * NR + j];
}

/* ------------------------------------------------------------------------ */
/* the blocking loops */

/* Ask for the mr x nr tile of C at c, which the next tile call loads: C's
 * rows are a whole row of C apart, so its lines come from L3 or memory, and
 * the tile would otherwise wait for them before its first term. */
static void prefetch_c(const float *c, ptrdiff_t ldc, int mr, int nr)
{
#if defined(__GNUC__) || defined(__clang__)
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j += 16) /* one 64-byte line per 16 floats */
            __builtin_prefetch(c + i * ldc + j, 1, 3);
        __builtin_prefetch(c + i * ldc + nr - 1, 1, 3); /* the last line, if C is not aligned */
    }
#else
    (void)c;
    (void)ldc;
    (void)mr;
    (void)nr;
#endif
}

void gemm_packed(const gemm_tile *tile, const gemm_args *g, float *ws)
{
    const int MR = tile->mr, NR = tile->nr;
    float *ap = ws;                                /* (MC, KC) */
    float *bp = ws + (size_t)GEMM_MC * GEMM_KC;    /* (KC, NC) */
    for (int jc = 0; jc < g->N; jc += GEMM_NC) {
        const int nc = g->N - jc < GEMM_NC ? g->N - jc : GEMM_NC;
        for (int pc = 0; pc < g->K; pc += GEMM_KC) {
            const int kc = g->K - pc < GEMM_KC ? g->K - pc : GEMM_KC;
            const int zero = pc == 0 && !g->accumulate;
            pack_b(bp, NR, tile->pack_b, g->b + pc * g->rsb + jc * g->csb, g->rsb, g->csb, kc, nc);
            for (int ic = 0; ic < g->M; ic += GEMM_MC) {
                const int mc = g->M - ic < GEMM_MC ? g->M - ic : GEMM_MC;
                pack_a(ap, MR, tile->pack_a, g->a + ic * g->rsa + pc * g->csa, g->rsa, g->csa, mc,
                       kc);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bpj = bp + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        const float *api = ap + (size_t)ir * kc;
                        float *cij = g->c + (ic + ir) * g->ldc + jc + jr;
                        /* the next tile down, or the top of the next column */
                        const int below = mc - ir - MR, right = nc - jr - NR;
                        if (below > 0)
                            prefetch_c(cij + MR * g->ldc, g->ldc, below < MR ? below : MR, nr);
                        else if (right > 0)
                            prefetch_c(g->c + ic * g->ldc + jc + jr + NR, g->ldc, mc < MR ? mc : MR,
                                       right < NR ? right : NR);
                        if (mr == MR && nr == NR)
                            tile->fn(kc, api, bpj, cij, g->ldc, zero);
                        else
                            tile_edge(tile, kc, api, bpj, cij, g->ldc, zero, mr, nr);
                    }
                }
            }
        }
    }
}
