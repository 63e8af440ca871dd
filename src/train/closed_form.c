/* closed_form.c - the dense epoch on a full batch, from sufficient statistics.
 * It equals the plain step (plain.c) on a dense model to float rounding: the
 * same loss and gradient, assembled from X^T X instead of a pass over the
 * data.
 *
 * Chosen (train.c, choose_method) for a dense model trained on full batches
 * with I <= N, where one epoch costs O I^2 instead of 2 N I O. Proved by
 * tests/test_train.c (losses, step-0 gradients and final parameters against
 * the plain step, to 1e-5 relative).
 *
 * With R = X W^T + 1 b^T - Y and loss L = |R|^2 / (N O):
 *     dL/dW = (2/(N O)) R^T X = (2/(N O)) (W G + b s^T - C)
 *     dL/db = (2/(N O)) R^T 1 = (2/(N O)) (W s + N b - Y^T 1)
 *     N O L = sum_o [ w_o.(W G)_o + 2 b_o (w_o.s) + N b_o^2
 *                     - 2 w_o.c_o - 2 b_o (Y^T 1)_o + (Y*Y)^T 1_o ]
 * where G = X^T X (I,I), C = Y^T X (O,I) and s = X^T 1 are formed once, in
 * trainer_init. W G is one float matmul; the rest is assembled in double.
 *
 * The loss is a difference of terms that can be much larger than itself.
 * When the sum of their magnitudes exceeds KAPPA times the loss, float
 * rounding in W G and C could show in the loss, and that epoch's loss is
 * taken from a forward pass instead (the gradient keeps the closed form: its
 * rounding is of the order of the plain step's). The first epoch's loss
 * always comes from the forward pass, so every model's starting loss is
 * measured the same way.
 *
 * Dimension key: N samples, I in, O out.
 */
#include <math.h>
#include <stddef.h>

#include "kernels/matmul.h"
#include "paths.h"

/* Loss-to-terms ratio beyond which the loss comes from the forward pass
 * (tests/test_train.c has a near-exact fit that crosses it). */
#define KAPPA 64.0

/* Column sums of a (N,W) in double: s[j] = sum_n a[n][j] (and of squares). */
static void column_sums(double *s, double *sq, const float *a, int N, int W)
{
    for (int j = 0; j < W; j++) {
        s[j] = 0.0;
        if (sq != NULL)
            sq[j] = 0.0;
    }
    for (int n = 0; n < N; n++) {
        const float *an = a + (size_t)n * W;
        for (int j = 0; j < W; j++) {
            const double v = (double)an[j];
            s[j] += v;
            if (sq != NULL)
                sq[j] += v * v;
        }
    }
}

void closed_form_setup(trainer *t)
{
    matmul_gram_mt(t->gram, t->x, t->n, t->in, t->pool);                   /* G = X^T X */
    matmul_tn_mt(t->cross, t->y, t->x, t->out, t->in, t->n, 0, t->pool); /* C = Y^T X */
    column_sums(t->xsum, NULL, t->x, t->n, t->in);
    column_sums(t->ysum, t->ysq, t->y, t->n, t->out);
}

/* Gradient rows and loss terms of this thread's output rows. */
static void gram_rows_job(void *vctx, int tid, int nthreads)
{
    const batch_ctx *c = vctx;
    trainer *t = c->t;
    const layer *L = &c->m->layers[0];
    const int I = t->in, O = t->out;
    const double N = (double)t->n;
    const double gd = 2.0 / (N * (double)O);
    int lo, hi;
    pool_share_balanced(t->pool, O, 1, tid, nthreads, &lo, &hi);
    for (int o = lo; o < hi; o++) {
        const float *w = L->W + (size_t)o * I;
        const float *q = t->wg + (size_t)o * I;
        const float *cr = t->cross + (size_t)o * I;
        float *dw = L->dW + (size_t)o * I;
        const double b = (double)L->b[o];
        double ws[4] = {0}, wq[4] = {0}, wc[4] = {0};
        for (int i = 0; i < I; i++) {
            const double wi = (double)w[i], qi = (double)q[i], ci = (double)cr[i];
            ws[i & 3] += wi * t->xsum[i];
            wq[i & 3] += wi * qi;
            wc[i & 3] += wi * ci;
            dw[i] = (float)(gd * (qi + b * t->xsum[i] - ci));
        }
        const double sws = (ws[0] + ws[1]) + (ws[2] + ws[3]);
        const double swq = (wq[0] + wq[1]) + (wq[2] + wq[3]);
        const double swc = (wc[0] + wc[1]) + (wc[2] + wc[3]);
        L->db[o] = (float)(gd * (sws + N * b - t->ysum[o]));
        t->row_sq[o] = swq + 2.0 * b * sws + N * b * b - 2.0 * swc - 2.0 * b * t->ysum[o] + t->ysq[o];
        t->row_abs[o] = fabs(swq) + 2.0 * fabs(b * sws) + N * b * b + 2.0 * fabs(swc) +
                        2.0 * fabs(b * t->ysum[o]) + t->ysq[o];
    }
}

/* The loss rows of this thread's share by a forward pass, ROW_BLOCK rows at
 * a time into scratch past the matmul scratch. */
static void forward_loss_job(void *vctx, int tid, int nthreads)
{
    const batch_ctx *c = vctx;
    trainer *t = c->t;
    const layer *L = &c->m->layers[0];
    const int I = t->in, O = t->out;
    float *ws = pool_scratch(t->pool, tid);
    float *yh = ws + matmul_scratch_floats();
    int lo, hi;
    pool_share_balanced(t->pool, c->cnt, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        matmul_nt_ws(yh, c->x + (size_t)n0 * I, L->W, rb, O, I, 0, ws);
        for (int r = 0; r < rb; r++) {
            const float *p = yh + (size_t)r * O;
            const float *y = c->y + (size_t)(n0 + r) * O;
            double lanes[8] = {0};
            for (int o = 0; o < O; o++) {
                const double d = (double)(p[o] + L->b[o]) - (double)y[o];
                lanes[o & 7] += d * d;
            }
            t->row_sq[n0 + r] = lanes_sum(lanes);
        }
    }
}

double closed_form_loss(batch_ctx *c, double nol, double terms, pool_fn forward_rows)
{
    trainer *t = c->t;
    const double denom = (double)t->n * (double)t->out;
    if (c->m->step > 0 && nol > 0.0 && terms <= KAPPA * nol)
        return nol / denom;
    pool_run(t->pool, forward_rows, c);
    if (c->m->step > 0)
        t->gram_fallbacks++;
    return sum_rows(t->row_sq, t->n) / denom;
}

double closed_form_epoch(trainer *t, model *m, adam_config adam)
{
    const int I = t->in, O = t->out;
    batch_ctx c = {t, m, t->x, t->y, NULL, t->n, 0.0f};
    matmul_nn_mt(t->wg, m->layers[0].W, t->gram, O, I, I, 0, t->pool); /* W G */
    pool_run(t->pool, gram_rows_job, &c);
    const double loss = closed_form_loss(&c, sum_rows(t->row_sq, O), sum_rows(t->row_abs, O),
                                         forward_loss_job);
    train_adam(t, m, adam);
    return loss;
}
