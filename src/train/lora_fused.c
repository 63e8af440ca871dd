/* lora_fused.c - the LoRA step with forward, MSE and backward fused per block
 * of rows. It equals the plain step (plain.c) on a LoRA model bit for bit:
 * every float operation is the one lora_forward, mse_backward and
 * lora_backward do, in the same order; only the blocking differs.
 *
 * Chosen (train.c, choose_method) for every unmerged LoRA model the narrow
 * pass does not take. Proved by tests/test_train.c (bits of the gradients
 * and parameters against the plain step, on and off a frozen base, full and
 * mini-batches, one to three threads).
 *
 * Per block of ROW_BLOCK rows: h = x A^T; then each row's prediction
 * y0 + s h B^T (y0 the frozen base's cached row, or 0), its squared error,
 * and g = s dL/dy; dh = g B; and, on one thread, dB += g^T h and
 * dA += dh^T x while the block is in cache. On several threads the two
 * gradient products are separate passes afterwards, split by columns. Each
 * gradient element is the same sum over the rows in row order either way
 * (the kernels add products one at a time, matmul.h), so the result does not
 * depend on the thread count.
 *
 * Dimension key: NB rows of the batch, I in, O out, R rank.
 */
#include <stddef.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"
#include "paths.h"

/* One row of the fused LoRA pass. The prediction is
 *     pred = y0 + scale * t,  t_o = sum_k h_k B[o][k] (k in order, from 0)
 * with y0 the base row or 0, as lora_forward forms it; the gradient written
 * is (g (pred - y)) * scale, as mse_backward then lora_backward's dy *= scale
 * form it. Returns the row's sum of (pred - y)^2 in double. */
/* The rest of lora_row for 8 outputs whose sums t are done. */
ROW_INLINE void lora_finish8(float *restrict gl, double *restrict lanes, const float *t,
                                const float *restrict y0, const float *restrict y, float scale,
                                float g)
{
    float p[8];
    if (y0 != NULL)
        for (int j = 0; j < 8; j++)
            p[j] = y0[j] + scale * t[j];
    else
        for (int j = 0; j < 8; j++)
            p[j] = 0.0f + scale * t[j];
    for (int j = 0; j < 8; j++) {
        const double d = (double)p[j] - (double)y[j];
        lanes[j] += d * d;
    }
    for (int j = 0; j < 8; j++)
        gl[j] = (g * (p[j] - y[j])) * scale;
}

ROW_INLINE double lora_row(float *restrict gl, const float *restrict h,
                              const float *restrict bt, const float *restrict y0,
                              const float *restrict y, float scale, float g, int R, int O, int ldbt)
{
    double lanes[8] = {0};
    int o = 0;
    /* 32 outputs at a time: four independent sums over k, each 8 wide (four
     * separate arrays, which GCC keeps in registers; one array of 32 it
     * does not) */
    for (; o + 32 <= O; o += 32) {
        float t0[8] = {0}, t1[8] = {0}, t2[8] = {0}, t3[8] = {0};
        for (int k = 0; k < R; k++) {
            const float hk = h[k];
            const float *bk = bt + (size_t)k * ldbt + o;
            for (int j = 0; j < 8; j++)
                t0[j] += hk * bk[j];
            for (int j = 0; j < 8; j++)
                t1[j] += hk * bk[8 + j];
            for (int j = 0; j < 8; j++)
                t2[j] += hk * bk[16 + j];
            for (int j = 0; j < 8; j++)
                t3[j] += hk * bk[24 + j];
        }
        const float *y0o = y0 != NULL ? y0 + o : NULL;
        lora_finish8(gl + o, lanes, t0, y0o, y + o, scale, g);
        lora_finish8(gl + o + 8, lanes, t1, y0 != NULL ? y0o + 8 : NULL, y + o + 8, scale, g);
        lora_finish8(gl + o + 16, lanes, t2, y0 != NULL ? y0o + 16 : NULL, y + o + 16, scale, g);
        lora_finish8(gl + o + 24, lanes, t3, y0 != NULL ? y0o + 24 : NULL, y + o + 24, scale, g);
    }
    for (int j = 0; o < O; o++, j++) {
        float t = 0.0f;
        for (int k = 0; k < R; k++)
            t += h[k] * bt[(size_t)k * ldbt + o];
        const float p = (y0 != NULL ? y0[o] : 0.0f) + scale * t;
        const double d = (double)p - (double)y[o];
        lanes[j & 7] += d * d;
        gl[o] = (g * (p - y[o])) * scale;
    }
    return lanes_sum(lanes);
}

/* lora_row for rows rows (one call per block: for small layers the call
 * itself would cost as much as the row). row_sq (rows) gets each row's sum
 * of squares; y0 may be NULL. */
ROW_INLINE void lora_rows_body(double *row_sq, float *restrict gl, const float *restrict h,
                               const float *restrict bt, const float *restrict y0,
                               const float *restrict y, float scale, float g, int rows, int R,
                               int O, int ldbt)
{
    for (int r = 0; r < rows; r++)
        row_sq[r] = lora_row(gl + (size_t)r * O, h + (size_t)r * R, bt,
                             y0 != NULL ? y0 + (size_t)r * O : NULL, y + (size_t)r * O, scale, g, R,
                             O, ldbt);
}

static void lora_rows_portable(double *row_sq, float *gl, const float *h, const float *bt,
                               const float *y0, const float *y, float scale, float g, int rows,
                               int R, int O, int ldbt)
{
    lora_rows_body(row_sq, gl, h, bt, y0, y, scale, g, rows, R, O, ldbt);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void lora_rows_avx2(double *row_sq, float *gl, const float *h,
                                          const float *bt, const float *y0, const float *y,
                                          float scale, float g, int rows, int R, int O, int ldbt)
{
    lora_rows_body(row_sq, gl, h, bt, y0, y, scale, g, rows, R, O, ldbt);
}
#endif

static void lora_rows(double *row_sq, float *gl, const float *h, const float *bt, const float *y0,
                      const float *y, float scale, float g, int rows, int R, int O, int ldbt)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        lora_rows_avx2(row_sq, gl, h, bt, y0, y, scale, g, rows, R, O, ldbt);
        return;
    }
#endif
    lora_rows_portable(row_sq, gl, h, bt, y0, y, scale, g, rows, R, O, ldbt);
}

/* This thread's share of the batch's rows, ROW_BLOCK rows at a time. */
static void lora_rows_job(void *vctx, int tid, int nthreads)
{
    const batch_ctx *c = vctx;
    trainer *t = c->t;
    const layer *L = &c->m->layers[0];
    const int I = t->in, O = t->out, R = t->rank;
    const int fused = nthreads == 1;
    float *ws = pool_scratch(t->pool, tid);
    int lo, hi;
    pool_share(c->cnt, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        const float *x = c->x + (size_t)n0 * I;
        float *h = t->h + (size_t)n0 * R;
        float *dh = t->dh + (size_t)n0 * R;
        float *gl = fused ? t->dy : t->dy + (size_t)n0 * O;
        matmul_nt_ws(h, x, L->A, rb, R, I, 0, ws); /* h = x A^T */
        lora_rows(t->row_sq + n0, gl, h, t->bt, c->base != NULL ? c->base + (size_t)n0 * O : NULL,
                  c->y + (size_t)n0 * O, L->scale, c->g, rb, R, O, bt_stride(O));
        matmul_nn_ws(dh, gl, L->B, rb, R, O, 0, ws); /* dh = g B */
        if (fused) {
            matmul_tn_ws(L->dB, gl, h, O, R, rb, 1, ws); /* dB += g^T h */
            matmul_tn_ws(L->dA, dh, x, R, I, rb, 1, ws); /* dA += dh^T x */
        }
    }
}

double lora_fused_step(trainer *t, model *m, const batch_ctx *b, adam_config adam)
{
    const int I = t->in, O = t->out, R = t->rank;
    const layer *L = &m->layers[0];
    for (int r = 0; r < R; r++) /* B^T, for the row kernel's sums over k */
        for (int o = 0; o < O; o++)
            t->bt[(size_t)r * bt_stride(O) + o] = L->B[(size_t)o * R + r];
    model_zero_grad(m);
    batch_ctx c = *b; /* pool_run hands its jobs a mutable context */
    pool_run(t->pool, lora_rows_job, &c);
    if (pool_threads(t->pool) > 1) {
        matmul_tn_mt(L->dB, t->dy, t->h, O, R, b->cnt, 1, t->pool); /* dB += g^T h */
        matmul_tn_mt(L->dA, t->dh, b->x, R, I, b->cnt, 1, t->pool); /* dA += dh^T x */
    }
    train_adam(t, m, adam);
    return sum_rows(t->row_sq, b->cnt) / ((double)b->cnt * (double)O);
}
