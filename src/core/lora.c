/* lora.c - LoRA forward/backward, initialisation and merge.
 *
 * Dimension key: N samples, I in features, R rank, O out features.
 */
#include "core/lora.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/svd.h"
#include "kernels/matmul.h"

void lora_init_peft(float *A, float *B, int I, int R, int O, rng *r)
{
    const float bound = (float)(1.0 / sqrt((double)I));
    for (size_t i = 0; i < (size_t)R * (size_t)I; i++)
        A[i] = rng_uniform_range(r, -bound, bound);
    for (size_t i = 0; i < (size_t)O * (size_t)R; i++)
        B[i] = 0.0f;
}

/* PEFT: LoraLayer.pissa_init, src/peft/tuners/lora/layer.py (huggingface/
 * peft). PEFT takes torch.linalg.svd(W, full_matrices=False) = V S Uh in its
 * own names (our U, S, V^T), divides S[:r] by the scaling, sets
 * lora_A = diag(sqrt(S_r)) Uh[:r] and lora_B = V[:, :r] diag(sqrt(S_r)), and
 * replaces the base weight by W - scaling lora_B @ lora_A. Its SVD runs in
 * float32; ours in double, which differs only in rounding. */
ld_status lora_init_pissa(float *A, float *B, float *W0, float scale, int I, int R, int O,
                          char *err, size_t errlen)
{
    const int k = O < I ? O : I;
    if (R < 1 || R > k)
        return ld_fail(err, errlen, LD_EINPUT, "pissa: rank %d must be 1 to min(%d, %d)", R, O, I);
    double *s = malloc((size_t)k * sizeof *s);
    double *u = malloc((size_t)O * (size_t)k * sizeof *u);  /* (O, k) */
    double *vt = malloc((size_t)k * (size_t)I * sizeof *vt); /* (k, I) */
    ld_status st = s != NULL && u != NULL && vt != NULL
                       ? svd_f32(s, u, vt, W0, O, I, err, errlen)
                       : ld_fail(err, errlen, LD_ENOMEM, "pissa: out of memory for the SVD of "
                                 "the %dx%d base", O, I);
    if (st == LD_OK) {
        for (int r = 0; r < R; r++) {
            const double root = sqrt(s[r] / (double)scale); /* sqrt(S_r / scaling) */
            for (int i = 0; i < I; i++)
                A[(size_t)r * I + i] = (float)(root * vt[(size_t)r * I + i]);
            for (int o = 0; o < O; o++)
                B[(size_t)o * R + r] = (float)(u[(size_t)o * k + r] * root);
        }
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                double t = 0.0;
                for (int r = 0; r < R; r++)
                    t += (double)B[(size_t)o * R + r] * (double)A[(size_t)r * I + i];
                float *w = W0 + (size_t)o * I + i;
                *w = (float)((double)*w - (double)scale * t);
            }
    }
    free(s);
    free(u);
    free(vt);
    return st;
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
