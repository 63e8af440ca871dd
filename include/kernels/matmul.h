/* matmul.h - the few matrix kernels every layer uses, each with a naive twin.
 *
 * Dimension key: the generic GEMM letters, M rows of the result, N columns
 * of the result, K the summed dimension; matmul_gram_mt uses the training
 * key, N samples, I in. All matrices are row-major float32. When
 * `accumulate` is nonzero the product is added to C, otherwise C is
 * overwritten.
 *
 * The *_naive twins are the plain triple loops, kept as the test oracle for
 * the fast kernels (tests/test_matmul.c). src/kernels/matmul.c holds them and
 * chooses the fast kernel for each product; src/kernels/gemm.h lists the
 * files of the fast kernels.
 *
 * How the fast kernels sum. Every fast kernel forms each output element as
 * the same sequential float sum as its naive twin, c = ((0 + a0 b0) + a1 b1)
 * + ..., k = 0, 1, 2, ... in order, with a separate multiply and add (no fused
 * multiply-add; the Makefile builds with -ffp-contract=off). Blocking,
 * register tiles and vector lanes only change which output elements are
 * computed together, never the order inside one element. Hence:
 *   - with accumulate = 0 a fast kernel is bit-identical to its naive twin;
 *     with accumulate = 1 it adds the products to c one at a time,
 *     ((c + a0 b0) + a1 b1) + ..., so it agrees with the twin (c + sum) to
 *     rounding, and C (+)= A1 B1 then C += A2 B2 (K split in two) is
 *     bit-identical to the product over the whole K;
 *   - results are bit-identical for every thread count, and between the
 *     portable, AVX2 and AVX-512 code paths.
 *
 * Threads. The *_mt variants split the result's rows or columns across the
 * threads of a pool (pool.h) and use each thread's pool scratch, which must
 * hold matmul_scratch_floats() floats; with pool == NULL they run on the
 * calling thread and allocate their scratch (falling back to a plain loop
 * with the same order if that fails). The plain variants are the *_mt ones
 * with pool == NULL.
 */
#ifndef LORA_DEMO_MATMUL_H
#define LORA_DEMO_MATMUL_H

#include <stddef.h>

#include "kernels/pool.h"

/* C (M,N) (+)= A (M,K) . B (N,K)^T   e.g. y = x W^T */
void matmul_nt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
/* C (M,N) (+)= A (K,M)^T . B (K,N)   e.g. dW = dy^T x */
void matmul_tn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
/* C (M,N) (+)= A (M,K) . B (K,N)     e.g. dx = dy W */
void matmul_nn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);

void matmul_nt_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p);
void matmul_tn_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p);
void matmul_nn_mt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  pool *p);

/* The same on the calling thread with caller-owned scratch of
 * matmul_scratch_floats() floats: for jobs that already run on a pool. */
void matmul_nt_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch);
void matmul_tn_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch);
void matmul_nn_ws(float *c, const float *a, const float *b, int M, int N, int K, int accumulate,
                  float *scratch);

/* The Gram matrix G (I,I) = X (N,I)^T X: matmul_tn(g, x, x, I, I, N, 0), but
 * only the upper triangle is computed and then mirrored. x_ni x_nj and
 * x_nj x_ni are the same float product, so the result is bit-identical to
 * the full matmul_tn (and to its naive twin). */
void matmul_gram_mt(float *g, const float *x, int N, int I, pool *p);

void matmul_nt_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
void matmul_tn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
void matmul_nn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);

/* Tiny products: at most MATMUL_TINY_WORK multiply-adds (M*N*K) with sums
 * of at most MATMUL_TINY_MAX_K terms (and opB small enough to copy onto the
 * stack: K times N rounded up to 8 at most 2048 floats) run on the calling
 * thread in a plain loop, without a plan, scratch or the pool; the same
 * order, so the same bits, as every other path. */
#define MATMUL_TINY_WORK 8192
#define MATMUL_TINY_MAX_K 64

/* Floats of per-thread scratch the *_mt kernels need from their pool. */
size_t matmul_scratch_floats(void);

/* Which code path the fast kernels take. AUTO picks AVX-512 when the CPU has
 * it, else AVX2 when it has that (x86-64 with GCC or clang), else PORTABLE.
 * The AVX-512 path is the AVX2 path with the packed GEMM's widest tile
 * (gemm_avx512.c) and the SVD's rotations (kernels/bidiag.c); every other
 * kernel runs its AVX2 build there. Tests and
 * benchmarks may force PORTABLE or AVX2; forcing a path the CPU lacks is
 * ignored. All paths give the same bits (how the fast kernels sum, above).
 * Not thread-safe: set it before starting work. */
typedef enum {
    MATMUL_ISA_AUTO = 0,
    MATMUL_ISA_PORTABLE,
    MATMUL_ISA_AVX2,
    MATMUL_ISA_AVX512
} matmul_isa;
void matmul_set_isa(matmul_isa isa);
/* "avx512", "avx2" or "portable": the path the kernels take now.
 * matmul_isa_avx2() is 1 on the AVX2 and AVX-512 paths: other modules with
 * a kernel of their own in both builds (train.c) follow it. */
const char *matmul_isa_name(void);
int matmul_isa_avx2(void);
/* 1 on the AVX-512 path. */
int matmul_isa_avx512(void);

#endif /* LORA_DEMO_MATMUL_H */
