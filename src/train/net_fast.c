/* net_fast.c - the step of a LoRA network on frozen bases (--hidden, fine-tune).
 * It equals the plain step (plain.c: model_forward_train, mse_rows,
 * model_backward, Adam) bit for bit: every float operation is one that
 * layer_forward, activation_*, mse_backward and layer_backward do, in the
 * same order; what changes is where the work goes:
 *   - layer 0's base x W0^T + b0 comes from the trainer's cache (computed
 *     once in trainer_init, like a single layer's); past layer 0 the base's
 *     input changes every step, so its product runs every step, on the
 *     packed GEMM;
 *   - the rank-R work and everything elementwise (bias, s h B^T, the
 *     activation, the MSE, and on the way back dx += dh A, the activation's
 *     derivative and layer 0's dy *= s; on one thread also dy *= s and the
 *     dB, dh, dA products) run per block of ROW_BLOCK rows while the block
 *     is in cache, instead of one pass over (N,O) arrays each;
 *   - nothing is formed that is not needed: no gradient at the input of
 *     layer 0, none for a frozen W0, no (N,O) prediction besides dy.
 *
 * Chosen (train.c, choose_method) for LoRA networks on a frozen base without
 * dropout or DoRA (which stay on the plain step). Proved by
 * tests/test_net_fast.c: bits of the loss, gradients and parameters against
 * the plain step, tanh/relu/gelu, full and mini-batches, 1 to 3 threads,
 * odd shapes, two and three layers, rsLoRA and LoRA+.
 *
 * The kernels sum each element in order from 0, and with accumulate = 1 go
 * on from what C holds (matmul.h): so C = A B (accumulate 0) is the plain
 * step's memset and C += A B, and a product split into blocks of rows of C,
 * or of its summed dimension taken in order, is the product whole.
 *
 * Dimension key: N rows of the batch, I in, O out of one layer, R rank.
 */
#include <stddef.h>
#include <string.h>

#include "core/activation.h"
#include "kernels/matmul.h"
#include "kernels/simd.h"
#include "paths.h"

/* ------------------------------------------------------------------------ */
/* Layer l's activations in acts (model.c's layout, model_acts_of): h_l
 * (N,R), then z_l and a_l (N,O_l) of a hidden layer. */
typedef struct {
    float *h, *z, *a;
} net_acts;

static net_acts acts_at(const model *m, float *acts, int l, int N)
{
    const model_layer_acts o = model_acts_of(m, l, N);
    const net_acts s = {acts + o.h, acts + o.z, acts + o.a};
    return s;
}

/* ------------------------------------------------------------------------ */
/* the row loops, compiled twice (simd.h) */

/* The loops below go 8 elements at a time, with a scalar tail: at -O2 GCC
 * vectorises a fixed count of 8 (and turns the relu's select into a blend),
 * not a loop of unknown count. */

/* z = (z0 + b0) + s t (b0 NULL: z0 + s t), rows (rows,O), as
 * linear_forward's bias and lora_forward's yn[o] += scale * t form it; z may
 * be z0 or t. */
ROW_INLINE void lora_out_body(float *z, const float *z0, const float *b0, const float *t, float s,
                              int rows, int O)
{
    for (int r = 0; r < rows; r++) {
        float *zr = z + (size_t)r * O;
        const float *z0r = z0 + (size_t)r * O, *tr = t + (size_t)r * O;
        int o = 0;
        float v[8];
        if (b0 != NULL) {
            for (; o + 8 <= O; o += 8) {
                for (int j = 0; j < 8; j++)
                    v[j] = (z0r[o + j] + b0[o + j]) + s * tr[o + j];
                for (int j = 0; j < 8; j++)
                    zr[o + j] = v[j];
            }
            for (; o < O; o++)
                zr[o] = (z0r[o] + b0[o]) + s * tr[o];
        } else {
            for (; o + 8 <= O; o += 8) {
                for (int j = 0; j < 8; j++)
                    v[j] = z0r[o + j] + s * tr[o + j];
                for (int j = 0; j < 8; j++)
                    zr[o + j] = v[j];
            }
            for (; o < O; o++)
                zr[o] = z0r[o] + s * tr[o];
        }
    }
}

/* relu_forward (activation.c): a = z > 0 ? z : 0. */
ROW_INLINE void relu_body(float *restrict a, const float *restrict z, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            a[i + j] = z[i + j] > 0.0f ? z[i + j] : 0.0f;
    for (; i < n; i++)
        a[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

/* relu_backward in place, d = a > 0 ? d : 0, then (scaled: layer 0's
 * gradient) lora_backward's dy *= scale. */
ROW_INLINE void relu_back_body(float *restrict d, const float *restrict a, float s, int scaled,
                               size_t n)
{
    const float k = scaled ? s : 1.0f;
    size_t i = 0;
    if (scaled) {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                d[i + j] = (a[i + j] > 0.0f ? d[i + j] : 0.0f) * k;
        for (; i < n; i++)
            d[i] = (a[i] > 0.0f ? d[i] : 0.0f) * k;
        return;
    }
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            d[i + j] = a[i + j] > 0.0f ? d[i + j] : 0.0f;
    for (; i < n; i++)
        d[i] = a[i] > 0.0f ? d[i] : 0.0f;
}

ROW_INLINE void scale_body(float *restrict d, float s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            d[i + j] *= s;
    for (; i < n; i++)
        d[i] *= s;
}

static void lora_out_portable(float *z, const float *z0, const float *b0, const float *t, float s,
                              int rows, int O)
{
    lora_out_body(z, z0, b0, t, s, rows, O);
}
static void relu_portable(float *a, const float *z, size_t n)
{
    relu_body(a, z, n);
}
static void relu_back_portable(float *d, const float *a, float s, int scaled, size_t n)
{
    relu_back_body(d, a, s, scaled, n);
}
static void scale_portable(float *d, float s, size_t n)
{
    scale_body(d, s, n);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void lora_out_avx2(float *z, const float *z0, const float *b0,
                                         const float *t, float s, int rows, int O)
{
    lora_out_body(z, z0, b0, t, s, rows, O);
}
LD_AVX2_TARGET static void relu_avx2(float *a, const float *z, size_t n)
{
    relu_body(a, z, n);
}
LD_AVX2_TARGET static void relu_back_avx2(float *d, const float *a, float s, int scaled, size_t n)
{
    relu_back_body(d, a, s, scaled, n);
}
LD_AVX2_TARGET static void scale_avx2(float *d, float s, size_t n)
{
    scale_body(d, s, n);
}
#define PICK(f, ...) (matmul_isa_avx2() ? f##_avx2(__VA_ARGS__) : f##_portable(__VA_ARGS__))
#else
#define PICK(f, ...) f##_portable(__VA_ARGS__)
#endif

/* a = act(z), n elements. */
static void act_forward(activation_kind k, float *a, const float *z, size_t n)
{
    if (k == ACT_RELU)
        PICK(relu, a, z, n);
    else
        activation_forward(k, a, z, n);
}

/* d = act'(d) at (z, a), in place, then times s if scaled. */
static void act_backward(activation_kind k, float *d, const float *z, const float *a, float s,
                         int scaled, size_t n)
{
    if (k == ACT_RELU) {
        PICK(relu_back, d, a, s, scaled, n);
        return;
    }
    activation_backward(k, d, d, z, a, n);
    if (scaled)
        PICK(scale, d, s, n);
}

/* ------------------------------------------------------------------------ */
/* forward: one layer, per block of rows */

typedef struct {
    trainer *t;
    const layer *L;
    activation_kind act;
    const float *in;   /* (N,I) the layer's input */
    const float *z0;   /* (N,O) its base output: layer 0's cached rows, or z (no bias yet) */
    const float *b0;   /* (O) the bias still to add to z0, or NULL */
    float *z, *a, *h;  /* (N,O), (N,O) (hidden layers), (N,R) */
    const float *y;    /* (N,O) targets (last layer): then z is unused and the */
    float *dy;         /* (N,O) loss gradient g (pred - y) is written */
    float g;
    int N;
} fwd_ctx;

static void forward_job(void *vctx, int tid, int nthreads)
{
    const fwd_ctx *c = vctx;
    const layer *L = c->L;
    const int I = L->in, O = L->out, R = L->rank;
    float *ws = pool_scratch(c->t->pool, tid);
    float *tb = ws + matmul_scratch_floats(); /* (ROW_BLOCK,O) */
    int lo, hi;
    pool_share(c->N, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        const size_t ro = (size_t)n0 * O;
        float *h = c->h + (size_t)n0 * R;
        matmul_nt_ws(h, c->in + (size_t)n0 * I, L->A, rb, R, I, 0, ws); /* h = x A^T */
        matmul_nt_ws(tb, h, L->B, rb, O, R, 0, ws);                     /* t = h B^T */
        if (c->y != NULL) { /* the prediction, in tb, then its MSE */
            PICK(lora_out, tb, c->z0 + ro, c->b0, tb, L->scale, rb, O);
            mse_rows(c->t->row_sq + n0, c->dy + ro, tb, NULL, c->y + ro, c->g, rb, O);
        } else {
            PICK(lora_out, c->z + ro, c->z0 + ro, c->b0, tb, L->scale, rb, O);
            act_forward(c->act, c->a + ro, c->z + ro, (size_t)rb * O);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* backward: per block of rows */

/* Layer L's LoRA gradients from rows [n0, n0+rb) of g (already scaled):
 * lora_backward's three products on those rows. */
static void lora_grads_rows(layer *L, float *dh, const float *g, const float *h, const float *xl,
                            int n0, int rb, float *ws)
{
    const int I = L->in, O = L->out, R = L->rank;
    const float *gr = g + (size_t)n0 * O, *hr = h + (size_t)n0 * R;
    float *dhr = dh + (size_t)n0 * R;
    matmul_tn_ws(L->dB, gr, hr, O, R, rb, 1, ws);                  /* dB += g^T h */
    matmul_nn_ws(dhr, gr, L->B, rb, R, O, 0, ws);                  /* dh  = g B   */
    matmul_tn_ws(L->dA, dhr, xl + (size_t)n0 * I, R, I, rb, 1, ws); /* dA += dh^T x */
}

/* The backward pass of layer l >= 1 after dx = g W0, whose rows it finishes
 * (dx += dh A, the activation below, and times layer 0's scale if the layer
 * below is layer 0). fused (one thread): per block, first lora_backward's
 * dy *= scale and its products on the block, and, for l = 1, layer 0's
 * products on the gradient just formed; each gradient is then the same sum
 * over rows in row order as the whole products (matmul.h), which on
 * several threads run as passes of their own, by columns. */
typedef struct {
    trainer *t;
    model *m;
    int l;
    float *g;                   /* (N,O) gradient at layer l's output (unscaled if fused) */
    float *dx;                  /* (N,I) gradient at its input, then at the z below */
    const float *x;             /* (N,I0) the batch's inputs (layer 0's) */
    int N;
} back_ctx;

static void backward_job(void *vctx, int tid, int nthreads)
{
    const back_ctx *c = vctx;
    model *m = c->m;
    layer *L = &m->layers[c->l], *Lb = &m->layers[c->l - 1];
    const int I = L->in, O = L->out, R = L->rank, N = c->N;
    const net_acts s = acts_at(m, c->t->h, c->l, N), below = acts_at(m, c->t->h, c->l - 1, N);
    const float *xb = c->l - 1 > 0 ? acts_at(m, c->t->h, c->l - 2, N).a : c->x; /* below's input */
    float *dh = c->t->dh;
    const int fused = nthreads == 1;
    float *ws = pool_scratch(c->t->pool, tid);
    int lo, hi;
    pool_share(N, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        const size_t ro = (size_t)n0 * I;
        if (fused) {
            PICK(scale, c->g + (size_t)n0 * O, L->scale, (size_t)rb * O);
            lora_grads_rows(L, dh, c->g, s.h, below.a, n0, rb, ws);
        }
        matmul_nn_ws(c->dx + ro, dh + (size_t)n0 * R, L->A, rb, I, R, 1, ws); /* += dh A */
        act_backward(m->act, c->dx + ro, below.z + ro, below.a + ro, Lb->scale, c->l == 1,
                     (size_t)rb * I);
        if (fused && c->l == 1)
            lora_grads_rows(Lb, dh, c->dx, below.h, xb, n0, rb, ws);
    }
}

/* lora_backward's products over all N rows, on the pool, g scaled. */
static void lora_grads_all(layer *L, float *dh, const float *g, const float *h, const float *xl,
                           int N, pool *p)
{
    matmul_tn_mt(L->dB, g, h, L->out, L->rank, N, 1, p);       /* dB += g^T h */
    matmul_nn_mt(dh, g, L->B, N, L->rank, L->out, 0, p);       /* dh  = g B   */
    matmul_tn_mt(L->dA, dh, xl, L->rank, L->in, N, 1, p);      /* dA += dh^T x */
}

/* ------------------------------------------------------------------------ */
/* the step */

/* The backward's scratch in t->dh (model_scratch_floats's size): dh (N,R),
 * then the gradients at the hidden layers, in turns: turn[0] and, with two
 * hidden layers or more, turn[1], (N, widest hidden) each. Returns the
 * floats of the scratch used. */
static size_t backward_turns(const model *m, float *dh, int N, float *turn[2])
{
    size_t widest = 0;
    for (int l = 0; l + 1 < m->n_layers; l++)
        widest = (size_t)m->layers[l].out > widest ? (size_t)m->layers[l].out : widest;
    const size_t NR = (size_t)N * (size_t)m->layers[0].rank, NH = (size_t)N * widest;
    turn[0] = dh + NR;
    turn[1] = m->n_layers > 2 ? turn[0] + NH : NULL;
    return NR + (m->n_layers > 2 ? 2 : 1) * NH;
}

void net_lora_setup(trainer *t, const model *m)
{
    const int N = t->batch, last = m->n_layers - 1;
    const net_acts s = acts_at(m, t->h, last, N); /* the last layer's h ends them */
    const size_t acts = (size_t)(s.h - t->h) + (size_t)N * (size_t)m->layers[last].rank;
    float *turn[2];
    memset(t->h, 0, acts * sizeof(float));
    memset(t->dy, 0, (size_t)N * (size_t)m->out * sizeof(float));
    memset(t->dh, 0, backward_turns(m, t->dh, N, turn) * sizeof(float));
}

double net_lora_step(trainer *t, model *m, const batch_ctx *b, adam_config adam)
{
    const int N = b->cnt, last = m->n_layers - 1;
    pool *p = t->pool;
    const int fused = pool_threads(p) == 1;
    /* forward, layer by layer */
    const float *in = b->x;
    for (int l = 0; l <= last; l++) {
        const layer *L = &m->layers[l];
        const net_acts s = acts_at(m, t->h, l, N);
        fwd_ctx c = {t, L, m->act, in, NULL, NULL, s.z, s.a, s.h, NULL, NULL, b->g, N};
        if (l == 0) {
            c.z0 = b->base; /* x W0^T + b0, cached */
        } else {
            float *base = l == last ? t->dy : s.z; /* dy: free until the MSE */
            matmul_nt_mt(base, in, L->W0, N, L->out, L->in, 0, p); /* x W0^T */
            c.z0 = base;
            c.b0 = L->b0;
        }
        if (l == last) {
            c.y = b->y;
            c.dy = t->dy;
        }
        pool_run(p, forward_job, &c);
        in = s.a;
    }
    const double loss = sum_rows(t->row_sq, N) / ((double)N * (double)m->out);
    /* backward: g is the gradient at layer l's output; the one at layer 0's
     * comes scaled from the pass above it */
    model_zero_grad(m);
    float *turn[2];
    backward_turns(m, t->dh, N, turn);
    float *g = t->dy;
    for (int l = last; l >= 1; l--) {
        layer *L = &m->layers[l];
        float *dx = g == turn[0] ? turn[1] : turn[0];
        matmul_nn_mt(dx, g, L->W0, N, L->in, L->out, 0, p); /* dx = g W0 */
        if (!fused) {
            PICK(scale, g, L->scale, (size_t)N * (size_t)L->out); /* lora_backward's dy *= s */
            lora_grads_all(L, t->dh, g, acts_at(m, t->h, l, N).h, acts_at(m, t->h, l - 1, N).a,
                           N, p);
        }
        back_ctx c = {t, m, l, g, dx, b->x, N};
        pool_run(p, backward_job, &c);
        g = dx;
    }
    if (!fused)
        lora_grads_all(&m->layers[0], t->dh, g, acts_at(m, t->h, 0, N).h, b->x, N, p);
    train_adam(t, m, adam);
    return loss;
}
