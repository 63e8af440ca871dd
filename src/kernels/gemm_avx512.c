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
#endif
