/* gemm.h - what the fast matmul kernels share; private to src/kernels.
 *
 * Dimension key: the generic GEMM letters, M rows of C, N columns of C, K the
 * summed dimension (so N here is not the sample count N of the training
 * code's key).
 *
 * matmul.c turns every public call into one gemm_args, chooses a kernel for
 * it and splits C across threads; each kernel file computes a whole product:
 *   gemm_small.c   tiny and small products, unpacked loops
 *   gemm_packed.c  the blocked, packed GEMM and its register tiles
 *   gemm_avx512.c  the packed GEMM's AVX-512 tile
 *   gemm_narrow.c  C with at most NARROW_MAX_N columns, A read in place
 *   gemm_thin.c    A^T B with at most THIN_MAX_R rows or columns
 *   gram.c         X^T X from its upper triangle
 * Each forms every element of C as the same sequential sum as the naive twins
 * in matmul.c (matmul.h: how the fast kernels sum).
 */
#ifndef LORA_DEMO_GEMM_H
#define LORA_DEMO_GEMM_H

#include <stddef.h>

#include "kernels/pool.h"

/* One GEMM for all layouts: C(i,j) (+)= sum over k of opA(i,k) opB(k,j),
 * with opA(i,k) = a[i*rsa + k*csa] and opB(k,j) = b[k*rsb + j*csb]. */
typedef struct {
    int M, N, K;
    const float *a;
    ptrdiff_t rsa, csa;
    const float *b;
    ptrdiff_t rsb, csb;
    float *c;          /* (M,N), row stride ldc */
    ptrdiff_t ldc;
    int accumulate;
} gemm_args;

/* The packed GEMM's blocking, in floats, after BLIS: the MC x KC block of A
 * (288 KiB) stays in L2 and the KC x NC block of B (4 MiB) in L3, while the
 * MC/MR tiles of a block row of A pass over one KC x NR micro-panel of B.
 * KC is deep because each tile of C is loaded and stored K/KC times, from
 * L3 or memory: at 512 the AVX-512 tile's B micro-panel (64 KiB) no longer
 * fits L1 and streams from L2, and still the products at 1024-2048 measured
 * faster than at KC = 256 (docs/performance.md, "Machine limits"). NC is
 * wide so that A, which the nt and nn layouts transpose while packing, is
 * packed N/NC times, once for N up to 2048. The two packed blocks are the
 * largest scratch any kernel needs (4.3 MiB per pool thread); the others
 * check that theirs fit in GEMM_SCRATCH_FLOATS. */
#define GEMM_KC 512
#define GEMM_MC 144  /* a multiple of every MR */
#define GEMM_NC 2048 /* a multiple of every NR */
#define GEMM_MAX_MR 12
#define GEMM_MAX_NR 32
#define GEMM_SCRATCH_FLOATS (GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC)

/* The limits each kernel is built for. */
#define GEMM_TINY_PANEL 2048 /* floats of stack for opB: K x (N rounded up to 8) */
#define NARROW_MAX_N 32      /* columns of C in the narrow kernel */
#define NARROW_MAX_MR 8      /* rows of its largest tile */
#define THIN_MAX_R 8         /* rows of the thin kernel's result */

/* Attributes. Kernels are written once as an always-inline body and wrapped
 * per tile shape and code path (simd.h explains the wrapping). */
#if defined(__GNUC__) || defined(__clang__)
#define GEMM_INLINE static inline __attribute__((always_inline))
#define GEMM_NOINLINE __attribute__((noinline))
#else
#define GEMM_INLINE static inline
#define GEMM_NOINLINE
#endif

/* GEMM_AVX2: the AVX2 wrappers exist. Unlike simd.h's LD_AVX2_PATH it is
 * also set when the whole build already targets AVX2 (make native), because
 * the AVX2 tiles are wider than the portable ones, not just recompiled. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define GEMM_AVX2 1
#define GEMM_AVX2_TARGET __attribute__((target("avx2")))
/* GEMM_AVX512: the AVX-512 tile exists (gemm_avx512.c); it is chosen only
 * where the CPU and OS run AVX-512 code (matmul_isa_avx512). */
#define GEMM_AVX512 1
#define GEMM_AVX512_TARGET __attribute__((target("avx512f")))
#endif

/* GCC turns short copy loops into calls to memcpy or memmove, which cost
 * more than copying a few floats; this keeps them as loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define GEMM_NO_MEMCPY_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define GEMM_NO_MEMCPY_CALLS
#endif

/* GCC needs some loops over a register tile fully unrolled to keep the tile
 * in registers; clang does that by itself and schedules worse when told to. */
#if !defined(__clang__)
#define GEMM_PRAGMA(x) _Pragma(#x)
#define GEMM_UNROLL(n) GEMM_PRAGMA(GCC unroll n)
#else
#define GEMM_UNROLL(n)
#endif

/* gemm_small.c */
void gemm_tiny(const gemm_args *g, int avx2);
void gemm_small(const gemm_args *g);

/* gemm_packed.c: a register tile (opaque) chosen once per product, so that
 * every thread's share of it runs the same code. isa: 0 portable, 1 AVX2,
 * 2 AVX-512 (gemm_isa in matmul.c). */
typedef struct gemm_tile gemm_tile;
const gemm_tile *gemm_packed_tile(int isa, int N);

/* gemm_avx512.c: C (8,32) (+)= the packed A (kc,8) panel times the packed
 * B (kc,32) panel; zero: start from 0 rather than from C. */
#ifdef GEMM_AVX512
void gemm_tile_avx512_8x32(int kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc,
                           int zero);
/* ... and its packing: one whole panel, as pack_a / pack_b in gemm_packed.c
 * lay it out (dst[k*8 + i] = opA(i, k); dst[k*32 + j] = opB(k, j)). */
void gemm_pack_a_avx512_8(float *dst, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int kc);
void gemm_pack_b_avx512_32(float *dst, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int kc);
#endif
void gemm_packed(const gemm_tile *tile, const gemm_args *g, float *ws);

/* gemm_narrow.c and gemm_thin.c; ws holds GEMM_SCRATCH_FLOATS floats.
 * transposed: the thin result is C^T (N <= THIN_MAX_R) rather than C. */
void gemm_narrow(const gemm_args *g, int avx2, float *ws);
void gemm_thin(const gemm_args *g, int transposed, int avx2, float *ws);

/* gram.c: the upper triangle of G = X^T X with tile, then its mirror; ws is
 * the scratch to use when p is NULL. */
void gram_packed(float *g, const float *x, int N, int I, const gemm_tile *tile, pool *p,
                 float *ws);

#endif /* LORA_DEMO_GEMM_H */
