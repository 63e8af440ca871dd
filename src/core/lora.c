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
                          pool *pl, char *err, size_t errlen)
{
    const int k = O < I ? O : I;
    if (R < 1 || R > k)
        return ld_fail(err, errlen, LD_EINPUT, "pissa: rank %d must be 1 to min(%d, %d)", R, O, I);
    double *s = malloc((size_t)k * sizeof *s);
    double *u = malloc((size_t)O * (size_t)k * sizeof *u);  /* (O, k) */
    double *vt = malloc((size_t)k * (size_t)I * sizeof *vt); /* (k, I) */
    ld_status st = s != NULL && u != NULL && vt != NULL
                       ? svd_f32_ex(s, u, vt, W0, O, I, &(svd_options){.pool = pl}, NULL, err,
                                    errlen)
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

/* (h B^T)[n][o], summed in float over the rank. */
static float hb_elem(const float *h, const float *B, int n, int o, int R)
{
    const float *hn = h + (size_t)n * R, *bo = B + (size_t)o * R;
    float t = 0.0f;
    for (int k = 0; k < R; k++)
        t += hn[k] * bo[k];
    return t;
}

void lora_forward(float *y, float *h, const float *x, const float *A, const float *B, float scale,
                  int N, int I, int R, int O, pool *p)
{
    matmul_nt_mt(h, x, A, N, R, I, 0, p);
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * O;
        for (int o = 0; o < O; o++) /* PEFT: base + lora_B(lora_A(x)) * scaling */
            yn[o] += scale * hb_elem(h, B, n, o, R);
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
    lora_dropout_forward_keep(xd, NULL, x, p, replay, r, N, I);
}

void lora_dropout_forward_keep(float *xd, float *keep, const float *x, double p,
                               const float *replay, rng *r, int N, int I)
{
    /* torch: noise.bernoulli_(1 - p).div_(1 - p); x * noise. The factor is
     * the float of 1 / (1 - p), the product a float one. */
    const float keep_scale = (float)(1.0 / (1.0 - p));
    const size_t n = (size_t)N * (size_t)I;
    for (size_t i = 0; i < n; i++) {
        const int k = replay != NULL ? replay[i] != 0.0f : rng_uniform(r) >= p;
        xd[i] = k ? x[i] * keep_scale : 0.0f;
        if (keep != NULL)
            keep[i] = k ? keep_scale : 0.0f; /* d xd / dx */
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

/* ------------------------------------------------------------------------ */
/* DoRA */

/* (B A)[o][i] summed in float over the rank, as lora_merge_into does. */
static float ba_elem(const float *A, const float *B, int o, int i, int I, int R)
{
    const float *bo = B + (size_t)o * R;
    float t = 0.0f;
    for (int k = 0; k < R; k++)
        t += bo[k] * A[(size_t)k * I + i];
    return t;
}

void dora_norm(float *norm, const float *W0, const float *A, const float *B, float scale, int I,
               int R, int O)
{
    for (int o = 0; o < O; o++) {
        double ss = 0.0;
        for (int i = 0; i < I; i++) {
            /* PEFT: weight + scaling * lora_weight, in float */
            const float w = W0[(size_t)o * I + i] + scale * ba_elem(A, B, o, i, I, R);
            ss += (double)w * (double)w;
        }
        norm[o] = (float)sqrt(ss);
    }
}

void dora_forward(float *y, float *h, float *u, const float *x, const float *bw, const float *b0,
                  const float *A, const float *B, const float *mag, const float *norm, float scale,
                  int N, int I, int R, int O, pool *p)
{
    matmul_nt_mt(h, x, A, N, R, I, 0, p);
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * O;
        for (int o = 0; o < O; o++) {
            const float t = hb_elem(h, B, n, o, R);
            const float g = mag[o] / norm[o]; /* PEFT's mag_norm_scale */
            const float b = bw != NULL ? bw[(size_t)n * O + o]
                                       : yn[o] - (b0 != NULL ? b0[o] : 0.0f);
            yn[o] += (g - 1.0f) * b + g * t * scale;
            if (u != NULL)
                u[(size_t)n * O + o] = b + t * scale;
        }
    }
}

void dora_backward(float *dA, float *dB, float *dmag, float *dh, float *dy, const float *h,
                   const float *u, const float *x, const float *B, const float *mag,
                   const float *norm, float scale, int N, int I, int R, int O, pool *p)
{
    /* d/dmag of (mag/n - 1) bw + (mag/n) t s is (bw + t s) / n: n is held */
    for (int o = 0; o < O; o++) {
        double s = 0.0;
        for (int n = 0; n < N; n++)
            s += (double)dy[(size_t)n * O + o] * (double)u[(size_t)n * O + o];
        dmag[o] += (float)s / norm[o];
    }
    /* the LoRA branch sees g dy */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            dy[(size_t)n * O + o] *= mag[o] / norm[o];
    lora_backward(dA, dB, dh, dy, h, x, B, scale, N, I, R, O, p);
}

void dora_merge_into(float *W, const float *A, const float *B, const float *mag,
                     const float *norm, float scale, float sign, int I, int R, int O)
{
    for (int o = 0; o < O; o++) {
        const float g = mag[o] / norm[o];
        for (int i = 0; i < I; i++) {
            float *w = W + (size_t)o * I + i;
            const float delta = scale * ba_elem(A, B, o, i, I, R); /* get_delta_weight */
            *w = sign > 0.0f ? g * (*w + delta) : *w / g - delta;
        }
    }
}
