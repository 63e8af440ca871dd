/* matmul.c - matrix kernels (fast) and their naive twins.
 *
 * Dimension key: M result rows, N result columns, K summed dimension.
 * Everything is row-major float32; sums are accumulated in float, as PyTorch
 * does on CPU, so results agree with PyTorch to float rounding.
 */
#include "matmul.h"

#include <stddef.h>
#include <string.h>

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
/* fast kernels */

/* Dot product with 8 independent partial sums, so the compiler can keep them
 * in one vector register without reassociating float adds itself. */
static float dot8(const float *x, const float *y, int K)
{
    float acc[8] = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[k + l] * y[k + l];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; k < K; k++)
        s += x[k] * y[k];
    return s;
}

void matmul_nt(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    for (int i = 0; i < M; i++) {
        const float *ai = a + (size_t)i * K;
        float *ci = c + (size_t)i * N;
        for (int j = 0; j < N; j++) {
            float s = dot8(ai, b + (size_t)j * K, K);
            ci[j] = accumulate ? ci[j] + s : s;
        }
    }
}

/* Rows of C are built as sums of scaled rows of B (axpy), which vectorises
 * along N. */
void matmul_tn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    if (!accumulate)
        memset(c, 0, sizeof(float) * (size_t)M * (size_t)N);
    for (int k = 0; k < K; k++) {
        const float *ak = a + (size_t)k * M;
        const float *bk = b + (size_t)k * N;
        for (int i = 0; i < M; i++) {
            float s = ak[i];
            float *ci = c + (size_t)i * N;
            for (int j = 0; j < N; j++)
                ci[j] += s * bk[j];
        }
    }
}

void matmul_nn(float *c, const float *a, const float *b, int M, int N, int K, int accumulate)
{
    if (!accumulate)
        memset(c, 0, sizeof(float) * (size_t)M * (size_t)N);
    for (int i = 0; i < M; i++) {
        const float *ai = a + (size_t)i * K;
        float *ci = c + (size_t)i * N;
        for (int k = 0; k < K; k++) {
            float s = ai[k];
            const float *bk = b + (size_t)k * N;
            for (int j = 0; j < N; j++)
                ci[j] += s * bk[j];
        }
    }
}
