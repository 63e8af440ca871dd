/* lora.c - LoRA forward/backward, initialisation and merge.
 *
 * Dimension key: N samples, I in features, R rank, O out features.
 */
#include "core/lora.h"

#include <math.h>
#include <stddef.h>

#include "kernels/matmul.h"

void lora_init_peft(float *A, float *B, int I, int R, int O, rng *r)
{
    const float bound = (float)(1.0 / sqrt((double)I));
    for (size_t i = 0; i < (size_t)R * (size_t)I; i++)
        A[i] = rng_uniform_range(r, -bound, bound);
    for (size_t i = 0; i < (size_t)O * (size_t)R; i++)
        B[i] = 0.0f;
}

void lora_init_scratch(float *A, float *B, int I, int R, int O, rng *r)
{
    const float bound_a = (float)(1.0 / sqrt((double)I));
    const float bound_b = (float)(1.0 / sqrt((double)R));
    for (size_t i = 0; i < (size_t)R * (size_t)I; i++)
        A[i] = rng_uniform_range(r, -bound_a, bound_a);
    for (size_t i = 0; i < (size_t)O * (size_t)R; i++)
        B[i] = rng_uniform_range(r, -bound_b, bound_b);
}

void lora_forward(float *y, float *h, const float *x, const float *A, const float *B, float scale,
                  int N, int I, int R, int O, pool *p)
{
    matmul_nt_mt(h, x, A, N, R, I, 0, p);
    for (int n = 0; n < N; n++) {
        const float *hn = h + (size_t)n * R;
        float *yn = y + (size_t)n * O;
        for (int o = 0; o < O; o++) {
            const float *bo = B + (size_t)o * R;
            float t = 0.0f;
            for (int k = 0; k < R; k++)
                t += hn[k] * bo[k];
            yn[o] += scale * t; /* PEFT: base + lora_B(lora_A(x)) * scaling */
        }
    }
}

void lora_backward(float *dA, float *dB, float *dh, float *dy, const float *h, const float *x,
                   const float *B, float scale, int N, int I, int R, int O, pool *p)
{
    /* dx is not formed: the input is data, not a parameter. */
    const size_t ny = (size_t)N * (size_t)O;
    for (size_t i = 0; i < ny; i++)
        dy[i] *= scale;
    matmul_tn_mt(dB, dy, h, O, R, N, 1, p); /* dB (O,R) += g^T h */
    matmul_nn_mt(dh, dy, B, N, R, O, 0, p); /* dh (N,R)  = g B   */
    matmul_tn_mt(dA, dh, x, R, I, N, 1, p); /* dA (R,I) += dh^T x */
}

void lora_dropout_forward(float *xd, const float *x, double p, const float *replay, rng *r, int N,
                          int I)
{
    /* torch: noise.bernoulli_(1 - p).div_(1 - p); x * noise. The factor is
     * the float of 1 / (1 - p), the product a float one. */
    const float keep_scale = (float)(1.0 / (1.0 - p));
    const size_t n = (size_t)N * (size_t)I;
    for (size_t i = 0; i < n; i++) {
        const int keep = replay != NULL ? replay[i] != 0.0f : rng_uniform(r) >= p;
        xd[i] = keep ? x[i] * keep_scale : 0.0f;
    }
}

void lora_merge_into(float *W, const float *A, const float *B, float scale, float sign, int I,
                     int R, int O)
{
    for (int o = 0; o < O; o++) {
        const float *bo = B + (size_t)o * R;
        float *wo = W + (size_t)o * I;
        for (int i = 0; i < I; i++) {
            float t = 0.0f;
            for (int k = 0; k < R; k++)
                t += bo[k] * A[(size_t)k * I + i];
            wo[i] += sign * scale * t;
        }
    }
}
