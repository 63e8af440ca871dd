/* matmul.h - the few matrix kernels every layer uses, each with a naive twin.
 *
 * Dimension key: M rows of the result, N columns of the result, K the summed
 * dimension. All matrices are row-major float32. When `accumulate` is nonzero
 * the product is added to C, otherwise C is overwritten.
 *
 * The *_naive twins are the plain triple loops, kept as the test oracle for
 * the fast kernels (tests/test_matmul.c). The fast kernels may sum in a
 * different order, so they agree with the twins to rounding, not bit for bit.
 */
#ifndef LORA_DEMO_MATMUL_H
#define LORA_DEMO_MATMUL_H

/* C (M,N) (+)= A (M,K) . B (N,K)^T   e.g. y = x W^T */
void matmul_nt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
/* C (M,N) (+)= A (K,M)^T . B (K,N)   e.g. dW = dy^T x */
void matmul_tn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
/* C (M,N) (+)= A (M,K) . B (K,N)     e.g. dx = dy W */
void matmul_nn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);

void matmul_nt_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
void matmul_tn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);
void matmul_nn_naive(float *c, const float *a, const float *b, int M, int N, int K, int accumulate);

#endif /* LORA_DEMO_MATMUL_H */
