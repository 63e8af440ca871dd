/* gemm_avx512.c - the packed GEMM's AVX-512 register tile.
 *
 * Equals tile_body in gemm_packed.c, and so the naive twins in matmul.c, bit
 * for bit: every element of the 8 x 32 tile of C is the sequential sum over
 * k in order, a multiply then an add (no fused multiply-add, matmul.h), with
 * the 32 columns in two 16-lane vectors. Chosen by gemm_packed_tile
 * (gemm_packed.c) on the AVX-512 path (matmul_isa_avx512) for C wider than
 * 16 columns. Proved by tests/test_matmul.c, which runs every kernel test on
 * the portable, AVX2 and AVX-512 paths.
 *
 * Why intrinsics here when the other tiles are plain C: the tile must keep
 * its 16 accumulators, two rows of B and the products in the 32 vector
 * registers. Built from the plain C tile_body, GCC keeps part of the tile on
 * the stack and the tile runs markedly slower (clang does not); the
 * intrinsics say exactly which register holds what, on both compilers
 * (docs/performance.md, "Machine limits"). The 16 sums of one k step are
 * independent, so the multiplies and adds fill the multiply and add pipes
 * together.
 *
 * The packing of its panels lives here too (gemm_pack_a_avx512_8 and
 * gemm_pack_b_avx512_32): plain copies, so they change no number, written
 * with 8 x 8 in-register transposes because the plain C loops copy one
 * float at a time whenever an operand is read across its rows (A in nt and
 * nn, B in nt), which made packing ~13 % of an nt product.
 *
 * Dimension key: MR = 8 rows, NR = 32 columns of C; kc the summed length.
 */
#include <stddef.h>

#include "gemm.h"

#ifdef GEMM_AVX512
#include <immintrin.h>

/* Rows i of the tile: its two accumulators, loaded or zeroed. */
#define T_LOAD(i)                                                                  \
    __m512 c##i##l = zero ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (i) * ldc); \
    __m512 c##i##h = zero ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (i) * ldc + 16);
/* One k step of row i: c(i, .) += a(i, k) * b(k, .), multiply then add. */
#define T_STEP(i)                                                  \
    {                                                              \
        const __m512 ai = _mm512_set1_ps(a[i]);                    \
        c##i##l = _mm512_add_ps(c##i##l, _mm512_mul_ps(ai, bl));   \
        c##i##h = _mm512_add_ps(c##i##h, _mm512_mul_ps(ai, bh));   \
    }
#define T_STORE(i)                             \
    _mm512_storeu_ps(c + (i) * ldc, c##i##l);  \
    _mm512_storeu_ps(c + (i) * ldc + 16, c##i##h);
#define T_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* C (8,32) = (zero ? 0 : C) + sum over k of ap[k*8 + .] bp[k*32 + .]. */
GEMM_AVX512_TARGET GEMM_NOINLINE void gemm_tile_avx512_8x32(int kc, const float *ap,
                                                            const float *bp, float *c,
                                                            ptrdiff_t ldc, int zero)
{
    T_ROWS(T_LOAD)
    for (int k = 0; k < kc; k++) {
        const float *a = ap + (size_t)k * 8;
        const __m512 bl = _mm512_loadu_ps(bp + (size_t)k * 32);
        const __m512 bh = _mm512_loadu_ps(bp + (size_t)k * 32 + 16);
        T_ROWS(T_STEP)
    }
    T_ROWS(T_STORE)
}

/* ------------------------------------------------------------------------ */
/* packing */

/* dst[r * dstride + i] = src[i * stride + r] for i, r in 0..7: eight rows of
 * eight floats in, their transpose out. Interleave pairs of rows, then pairs
 * of pairs, then swap 128-bit halves (the usual 8 x 8 transpose in 24
 * shuffles; s_j holds column j of rows 0-3 in its low half and column j + 4
 * in its high half, t_j the same for rows 4-7). */
GEMM_AVX512_TARGET GEMM_INLINE void transpose_8x8(float *dst, ptrdiff_t dstride, const float *src,
                                                  ptrdiff_t stride)
{
    __m256 r[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * stride);
    for (int i = 0; i < 8; i += 2) {
        u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* (i0 i+1,0 i1 i+1,1 | i4 ...) */
        u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* (i2 i+1,2 i3 i+1,3 | i6 ...) */
    }
    for (int h = 0; h < 8; h += 4) { /* rows h..h+3 */
        r[h + 0] = _mm256_shuffle_ps(u[h], u[h + 2], 0x44);     /* columns 0 | 4 */
        r[h + 1] = _mm256_shuffle_ps(u[h], u[h + 2], 0xEE);     /* columns 1 | 5 */
        r[h + 2] = _mm256_shuffle_ps(u[h + 1], u[h + 3], 0x44); /* columns 2 | 6 */
        r[h + 3] = _mm256_shuffle_ps(u[h + 1], u[h + 3], 0xEE); /* columns 3 | 7 */
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(dst + j * dstride, _mm256_permute2f128_ps(r[j], r[j + 4], 0x20));
        _mm256_storeu_ps(dst + (j + 4) * dstride, _mm256_permute2f128_ps(r[j], r[j + 4], 0x31));
    }
}

/* One whole A panel: dst[k*8 + i] = opA(i, k) = a[i*rsa + k*csa], k < kc. */
GEMM_AVX512_TARGET GEMM_NOINLINE void gemm_pack_a_avx512_8(float *dst, const float *a,
                                                           ptrdiff_t rsa, ptrdiff_t csa, int kc)
{
    int k = 0;
    if (csa == 1) { /* rows of A contiguous (nt, nn): transpose 8 x 8 blocks */
        for (; k + 8 <= kc; k += 8)
            transpose_8x8(dst + (size_t)k * 8, 8, a + k, rsa);
    } else if (rsa == 1) { /* columns of A contiguous (tn): copy */
        for (; k < kc; k++)
            _mm256_storeu_ps(dst + (size_t)k * 8, _mm256_loadu_ps(a + k * csa));
    }
    for (; k < kc; k++)
        for (int i = 0; i < 8; i++)
            dst[(size_t)k * 8 + i] = a[i * rsa + k * csa];
}

/* One whole B panel: dst[k*32 + j] = opB(k, j) = b[k*rsb + j*csb], k < kc. */
GEMM_AVX512_TARGET GEMM_NOINLINE void gemm_pack_b_avx512_32(float *dst, const float *b,
                                                            ptrdiff_t rsb, ptrdiff_t csb, int kc)
{
    int k = 0;
    if (csb == 1) { /* rows of B contiguous (tn, nn): copy */
        for (; k < kc; k++) {
            _mm512_storeu_ps(dst + (size_t)k * 32, _mm512_loadu_ps(b + k * rsb));
            _mm512_storeu_ps(dst + (size_t)k * 32 + 16, _mm512_loadu_ps(b + k * rsb + 16));
        }
    } else if (rsb == 1) {
        /* columns of B contiguous (nt): transpose 8 x 8 blocks, 16 k at a
         * time so that each 64-byte line of the 32 columns is read whole
         * before the next (at a stride of 4 KiB the 32 lines share one set
         * of L1, and would otherwise be evicted between their halves) */
        for (; k + 16 <= kc; k += 16)
            for (int j = 0; j < 32; j += 8) {
                transpose_8x8(dst + (size_t)k * 32 + j, 32, b + j * csb + k, csb);
                transpose_8x8(dst + (size_t)(k + 8) * 32 + j, 32, b + j * csb + k + 8, csb);
            }
        for (; k + 8 <= kc; k += 8)
            for (int j = 0; j < 32; j += 8)
                transpose_8x8(dst + (size_t)k * 32 + j, 32, b + j * csb + k, csb);
    }
    for (; k < kc; k++)
        for (int j = 0; j < 32; j++)
            dst[(size_t)k * 32 + j] = b[k * rsb + j * csb];
}
#endif
