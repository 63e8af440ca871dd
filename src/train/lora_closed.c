/* lora_closed.c - the LoRA epoch on a full batch, from sufficient statistics.
 * It equals the plain step (plain.c) on a one-layer LoRA model, from scratch
 * or on a frozen base, to float rounding: the same loss and gradients,
 * assembled from X^T X and R0^T X instead of a pass over the data.
 *
 * Chosen (train.c, choose_method) for a LoRA layer trained on full batches
 * when lora_closed_cheaper says an epoch costs less this way. Proved by
 * tests/test_train.c (check_lora_closed: losses and step-0 gradients to rtol
 * 1e-5, final parameters to 1e-4 against the plain step, on the default
 * shape, odd shapes, a near-exact fit and rsLoRA; 1-3 threads give the same
 * bits).
 *
 * The LoRA layer trains A and B only (no bias of its own: model.c's tensor
 * table). With the frozen part fixed, R0 = Y - (X W0^T + 1 b0^T) (R0 = Y
 * from scratch), the residual is E = s X A^T B^T - R0, and with L = |E|^2/(N O):
 *     N O L = s^2 tr(B Q B^T) - 2 s tr(B A C^T) + |R0|^2,   Q = A G A^T (R,R)
 *     dL/dB = (2s/(N O)) (s B Q - C A^T)
 *     dL/dA = (2s/(N O)) (s B^T B A G - B^T C)
 * where G = X^T X (I,I) and C = R0^T X (O,I) are formed once, in
 * trainer_init (the formulas; PEFT's forward is the same
 * base(x) + lora_B(lora_A(x)) * scaling, peft src/peft/tuners/lora/layer.py,
 * Linear.forward). A G, B^T C and C A^T are float matmuls each epoch; the
 * (R,R) products and the assembly are in double.
 *
 * Accuracy. N O L is a difference of terms that can be much larger than
 * itself. Each term carries a relative rounding error delta from the float
 * products behind it (G, C, A G, C A^T: sums of up to max(N, I) products,
 * delta ~ 1e-7 in practice, docs/performance.md), so the loss is off by at
 * most delta * T / (N O L), T the sum of the terms' magnitudes. Keeping
 * T <= KAPPA N O L with closed_form.c's KAPPA = 64 keeps that under
 * 64 delta ~ 6e-6, inside the tests' 1e-5; past it, that epoch's loss comes
 * from a forward pass (h = x A^T, then s h B^T - R0 by rows), as does the
 * first epoch's (closed_form_loss). The gradients keep the closed form:
 * their rounding is of the order of the plain step's.
 *
 * Dimension key: N samples, I in, O out, R rank.
 */
#include <math.h>
#include <stddef.h>

#include "kernels/matmul.h"
#include "paths.h"

int lora_closed_cheaper(const model_spec *spec, int n)
{
    if (spec->kind != LAYER_LORA || lora_narrow_fits(spec))
        return 0; /* narrow layers: microseconds an epoch either way; the
                   * narrow pass keeps the plain step's bits */
    /* multiply-adds per epoch: A G, C A^T and B^T C against the direct pass's
     * x A^T, h B^T, g B, g^T h and dh^T x */
    const double I = spec->in, O = spec->out, R = spec->rank, N = n;
    return R * I * (I + 2.0 * O) < N * R * (2.0 * I + 3.0 * O);
}

/* Column sums of squares of a (N,W) in double: sq[j] = sum_n a[n][j]^2. */
static void column_squares(double *sq, const float *a, int N, int W)
{
    for (int j = 0; j < W; j++)
        sq[j] = 0.0;
    for (int n = 0; n < N; n++) {
        const float *an = a + (size_t)n * W;
        for (int j = 0; j < W; j++)
            sq[j] += (double)an[j] * (double)an[j];
    }
}

void lora_closed_setup(trainer *t)
{
    const size_t NO = (size_t)t->n * (size_t)t->out;
    if (t->base_all != NULL) { /* the base's output, cached: R0 = Y - it, in place */
        for (size_t i = 0; i < NO; i++)
            t->base_all[i] = t->y[i] - t->base_all[i];
        t->r0 = t->base_all;
    } else {
        t->r0 = t->y;
    }
    matmul_gram_mt(t->gram, t->x, t->n, t->in, t->pool);                    /* G = X^T X */
    matmul_tn_mt(t->cross, t->r0, t->x, t->out, t->in, t->n, 0, t->pool); /* C = R0^T X */
    column_squares(t->ysq, t->r0, t->n, t->out);
}

/* The loss rows of this thread's share by a forward pass, ROW_BLOCK rows at
 * a time: h = x A^T into the trainer's h, then s h B^T - R0 by rows. */
static void forward_loss_job(void *vctx, int tid, int nthreads)
{
    const batch_ctx *c = vctx;
    trainer *t = c->t;
    const layer *L = &c->m->layers[0];
    const int I = t->in, O = t->out, R = t->rank;
    float *ws = pool_scratch(t->pool, tid);
    int lo, hi;
    pool_share_balanced(t->pool, c->cnt, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        float *h = t->h + (size_t)n0 * R;
        matmul_nt_ws(h, c->x + (size_t)n0 * I, L->A, rb, R, I, 0, ws);
        for (int r = 0; r < rb; r++) {
            const float *hr = h + (size_t)r * R;
            const float *r0 = t->r0 + (size_t)(n0 + r) * O;
            double lanes[8] = {0};
            for (int o = 0; o < O; o++) {
                const float *bo = L->B + (size_t)o * R;
                float v = 0.0f;
                for (int k = 0; k < R; k++)
                    v += hr[k] * bo[k];
                const double d = (double)(L->scale * v) - (double)r0[o];
                lanes[o & 7] += d * d;
            }
            t->row_sq[n0 + r] = lanes_sum(lanes);
        }
    }
}

/* One epoch's products, shared by its jobs. */
typedef struct {
    layer *L;
    const float *ag;   /* (R,I) A G */
    const float *btc;  /* (R,I) B^T C */
    const float *cat;  /* (O,R) C A^T */
    double *q, *bb;    /* (R,R) A G A^T and B^T B */
    double s, gs;      /* the scale s, and 2s/(N O) */
    const pool *pool;  /* for pool_share_balanced */
    int R, I, O;
} epoch_ctx;

/* This thread's entries (k,l) of q = (A G) A^T and bb = B^T B, in double,
 * each one sum in a fixed order whichever thread forms it. */
static void small_products_job(void *vctx, int tid, int nthreads)
{
    const epoch_ctx *c = vctx;
    const int R = c->R, I = c->I, O = c->O;
    const float *A = c->L->A, *B = c->L->B;
    int lo, hi;
    pool_share(R * R, 1, tid, nthreads, &lo, &hi);
    for (int e = lo; e < hi; e++) {
        const int k = e / R, l = e % R;
        double sq = 0.0, sb = 0.0;
        for (int i = 0; i < I; i++)
            sq += (double)c->ag[(size_t)k * I + i] * (double)A[(size_t)l * I + i];
        for (int o = 0; o < O; o++)
            sb += (double)B[(size_t)o * R + k] * (double)B[(size_t)o * R + l];
        c->q[e] = sq;
        c->bb[e] = sb;
    }
}

/* This thread's rows of dB and share of dA's entries:
 *     dB = (2s/NO) (s B Q - C A^T),   dA = (2s/NO) (s B^T B A G - B^T C). */
static void gradients_job(void *vctx, int tid, int nthreads)
{
    const epoch_ctx *c = vctx;
    const int R = c->R, I = c->I, O = c->O;
    const float *B = c->L->B;
    const double s = c->s, gs = c->gs;
    int lo, hi;
    pool_share_balanced(c->pool, O, 1, tid, nthreads, &lo, &hi);
    for (int o = lo; o < hi; o++)
        for (int k = 0; k < R; k++) {
            double v = 0.0;
            for (int l = 0; l < R; l++)
                v += (double)B[(size_t)o * R + l] * c->q[(size_t)l * R + k];
            c->L->dB[(size_t)o * R + k] = (float)(gs * (s * v - (double)c->cat[(size_t)o * R + k]));
        }
    pool_share_balanced(c->pool, R * I, 16, tid, nthreads, &lo, &hi);
    for (int e = lo; e < hi; e++) {
        const int k = e / I, i = e % I;
        double v = 0.0;
        for (int l = 0; l < R; l++)
            v += c->bb[(size_t)k * R + l] * (double)c->ag[(size_t)l * I + i];
        c->L->dA[e] = (float)(gs * (s * v - (double)c->btc[e]));
    }
}

double lora_closed_epoch(trainer *t, model *m, adam_config adam)
{
    layer *L = &m->layers[0];
    const int I = t->in, O = t->out, R = t->rank;
    float *ag = t->lstat;                    /* (R,I) A G */
    float *btc = ag + (size_t)R * I;         /* (R,I) B^T C */
    float *cat = btc + (size_t)R * I;        /* (O,R) C A^T */
    epoch_ctx e = {L, ag, btc, cat, t->rr, t->rr + (size_t)R * R, (double)L->scale,
                   2.0 * (double)L->scale / ((double)t->n * (double)O), t->pool, R, I, O};
    const double s = e.s;
    matmul_nn_mt(ag, L->A, t->gram, R, I, I, 0, t->pool);
    matmul_tn_mt(btc, L->B, t->cross, R, I, O, 0, t->pool);
    matmul_nt_mt(cat, t->cross, L->A, O, R, I, 0, t->pool);
    pool_run(t->pool, small_products_job, &e);
    /* the loss terms, read before the gradients are written (dB and dA are
     * views of the same block as B and A's gradients, not of B and A) */
    double quad = 0.0, cross = 0.0, cross_abs = 0.0;
    for (size_t j = 0; j < (size_t)R * R; j++)
        quad += e.bb[j] * e.q[j]; /* tr(B Q B^T) = sum (B^T B) .* Q */
    for (size_t j = 0; j < (size_t)O * R; j++) {
        const double v = (double)L->B[j] * (double)cat[j]; /* tr(B A C^T) */
        cross += v;
        cross_abs += fabs(v);
    }
    const double r0sq = sum_rows(t->ysq, O);
    pool_run(t->pool, gradients_job, &e);
    batch_ctx c = {t, m, t->x, t->y, NULL, t->n, 0.0f};
    const double loss = closed_form_loss(&c, s * s * quad - 2.0 * s * cross + r0sq,
                                         s * s * fabs(quad) + 2.0 * fabs(s) * cross_abs + r0sq,
                                         forward_loss_job);
    train_adam(t, m, adam);
    return loss;
}
