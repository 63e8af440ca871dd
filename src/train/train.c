/* train.c - the training loop: forward, MSE, backward, Adam; and evaluation.
 *
 * Dimension key: N samples, B batch size, I in, O out, R rank.
 *
 * Four ways through an epoch (train.h says when each is used):
 *   forward-backward  y = x W^T + b, MSE, dW = dy^T x, db = sum dy; the
 *                     same arithmetic as model_forward / model_backward;
 *   closed form       dense, full batch: from X^T X and Y^T X (train.h);
 *   LoRA fused        rows in blocks: h = x A^T, y = base + s h B^T, the
 *                     residual, the loss and g = s dL/dy, dh = g B, while the
 *                     block is in cache; then dB += g^T h and dA += dh^T x.
 *                     Every float operation is the one model_forward,
 *                     mse_backward and model_backward do, in the same order;
 *   LoRA narrow       the same for layers narrower than a vector, 16
 *                     samples at a time in the lanes of every vector.
 * The loss is accumulated in double per row (8 lanes), and rows are summed in
 * row order, so it does not depend on the thread count either.
 */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"
#include "kernels/matmul.h"
#include "kernels/simd.h"

/* Row stride of B^T (R, O) in the fused LoRA pass: O plus a cache line, so
 * that its R rows, read together, do not all fall into one L1 set when O is
 * a multiple of 1024. */
static int bt_stride(int O)
{
    return O + 16;
}

/* The row kernels below are inlined into their callers, which are compiled
 * twice (simd.h); a row kernel left out of line would be compiled for the
 * baseline only. */
#if defined(__GNUC__) || defined(__clang__)
#define ROW_INLINE static inline __attribute__((always_inline))
#else
#define ROW_INLINE static inline
#endif

/* Rows per block of the fused LoRA pass and of the closed form's fallback. */
#define ROW_BLOCK 128
/* Parameters below which Adam runs on the calling thread. */
#define ADAM_PARALLEL_MIN 65536

trainer_options trainer_defaults(void)
{
    trainer_options o = {1, 1};
    return o;
}

/* ------------------------------------------------------------------------ */
/* row kernels shared by the methods */

/* Sum of 8 double lanes in a fixed order. */
ROW_INLINE double lanes_sum(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* One row of the MSE: yh (O) is the prediction (before the bias if b is
 * non-NULL: the prediction is then yh + b, as linear_forward forms it).
 * Writes dy = g (pred - y) as mse_backward does and returns the row's
 * sum of (pred - y)^2 in double. */
ROW_INLINE double mse_row(float *restrict dy, const float *restrict yh,
                             const float *restrict b, const float *restrict y, float g, int O)
{
    double lanes[8] = {0};
    int o = 0;
    for (; o + 8 <= O; o += 8) {
        float p[8];
        for (int j = 0; j < 8; j++)
            p[j] = b != NULL ? yh[o + j] + b[o + j] : yh[o + j];
        for (int j = 0; j < 8; j++) {
            const double d = (double)p[j] - (double)y[o + j];
            lanes[j] += d * d;
        }
        for (int j = 0; j < 8; j++)
            dy[o + j] = g * (p[j] - y[o + j]);
    }
    for (int j = 0; o < O; o++, j++) {
        const float p = b != NULL ? yh[o] + b[o] : yh[o];
        const double d = (double)p - (double)y[o];
        lanes[j] += d * d;
        dy[o] = g * (p - y[o]);
    }
    return lanes_sum(lanes);
}

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

/* mse_row for rows rows of (rows, O) arrays. */
ROW_INLINE void mse_rows_body(double *row_sq, float *restrict dy, const float *restrict yh,
                              const float *restrict b, const float *restrict y, float g, int rows,
                              int O)
{
    for (int r = 0; r < rows; r++) {
        const size_t off = (size_t)r * O;
        row_sq[r] = mse_row(dy + off, yh + off, b, y + off, g, O);
    }
}

static void mse_rows_portable(double *row_sq, float *dy, const float *yh, const float *b,
                              const float *y, float g, int rows, int O)
{
    mse_rows_body(row_sq, dy, yh, b, y, g, rows, O);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void mse_rows_avx2(double *row_sq, float *dy, const float *yh, const float *b,
                                         const float *y, float g, int rows, int O)
{
    mse_rows_body(row_sq, dy, yh, b, y, g, rows, O);
}
#endif

static void mse_rows(double *row_sq, float *dy, const float *yh, const float *b, const float *y,
                     float g, int rows, int O)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        mse_rows_avx2(row_sq, dy, yh, b, y, g, rows, O);
        return;
    }
#endif
    mse_rows_portable(row_sq, dy, yh, b, y, g, rows, O);
}

/* ------------------------------------------------------------------------ */
/* the fused LoRA pass for narrow layers, 16 samples at a time
 *
 * When O and R are at most 8 and I at most 16 (the default experiment:
 * 10 -> 5, ranks 1 to 4), the block pass below is mostly overhead: five
 * matrix products of a few hundred to a few thousand multiply-adds, each
 * with its own set-up, and a row loop too narrow for vectors. Here the rows
 * go through h = x A^T, t = h B^T, the prediction, the loss, g and dh = g B
 * 16 at a time, with the 16 samples in the lanes of every vector (arrays of
 * 16: fixed trip counts, so the compilers vectorise them; two AVX2 vectors,
 * which gives each chain of adds a twin to overlap with). dB and dA then add
 * the block's rows one at a time, in row order, with vectors across O and
 * across I (x's rows padded to 16).
 *
 * The float operations are the block pass's, in its order: h, t and dh are
 * sums from 0 over k in order; pred = y0 + s t (y0 = 0 without a base);
 * g = (g (pred - y)) s; the loss rows are lora_row's lanes; and each element
 * of dB and dA adds one product per row, in row order, to the zero that
 * model_zero_grad would leave. So the bits are the block pass's, and the
 * plain path's (tests/test_matmul.c).
 *
 * In a last, partial block the lanes past the batch hold zeros, or what the
 * weights make of zeros; they are never stored or added to a gradient. */
#define NARROW_W 8  /* O and R at most */
#define NARROW_I 16 /* I at most */
#define NARROW_S 16 /* samples per block */
typedef float narrow_vec[NARROW_S]; /* one value for each sample of a block */
/* GCC keeps a sum of 16 lanes in vector registers only when its lane loop
 * is unrolled, and with some loads it leaves the loop scalar unless the
 * scalar factor is read before it (hence the w in the loops below);
 * otherwise every add goes through the stack, 2-3x slower here. clang does
 * both by itself. */
#if defined(__GNUC__) && !defined(__clang__)
#define NARROW_UNROLL _Pragma("GCC unroll 16")
#else
#define NARROW_UNROLL
#endif

static int lora_is_narrow(int in, int out, int rank)
{
    return out <= NARROW_W && rank <= NARROW_W && in <= NARROW_I;
}

/* Rows [0, cnt) of a (cnt, W) in blocks of NARROW_S samples, samples in
 * lanes: dst (ceil(cnt/S), W, S), zero past row cnt. */
static void narrow_blocks(float *dst, const float *a, int cnt, int W)
{
    const int S = NARROW_S;
    memset(dst, 0, (size_t)(cnt + S - 1) / S * S * W * sizeof(float));
    for (int n = 0; n < cnt; n++)
        for (int f = 0; f < W; f++)
            dst[((size_t)(n / S) * W + f) * S + n % S] = a[(size_t)n * W + f];
}

/* Rows [0, cnt) of x (cnt, I), each padded with zeros to NARROW_I:
 * dst (ceil(cnt/S) * S, NARROW_I), zero rows past cnt. */
static void narrow_pad_rows(float *dst, const float *x, int cnt, int I)
{
    const int S = NARROW_S;
    memset(dst, 0, (size_t)(cnt + S - 1) / S * S * NARROW_I * sizeof(float));
    for (int n = 0; n < cnt; n++)
        memcpy(dst + (size_t)n * NARROW_I, x + (size_t)n * I, (size_t)I * sizeof(float));
}

/* One batch of cnt rows, given in blocks (narrow_blocks):
 * xt (I), yt (O), y0t (O) or NULL for no base; and x's rows padded
 * (narrow_pad_rows). Writes each row's sum of squared errors to row_sq
 * (cnt) and the gradients of A and B to m->da and m->dbm (all of them: no
 * model_zero_grad needed). */
ROW_INLINE void narrow_rows(double *row_sq, model *m, const float *xt, const float *xr,
                            const float *yt, const float *y0t, float g, int cnt)
{
    const int I = m->in, O = m->out, R = m->rank;
    const float scale = m->scale;
    const float *a = m->a, *bm = m->bm; /* (R,I), (O,R) */
    /* one block, samples in lanes: [feature][sample] */
    narrow_vec h[NARROW_W], t[NARROW_W], gl[NARROW_W], dh[NARROW_W];
    double sq[NARROW_W][NARROW_S] = {{0}}; /* rows past O stay 0 */
    const narrow_vec zero[NARROW_W] = {{0}}; /* the base output when there is none */
    /* g transposed, [sample][o], zero past O, for dB */
    float glr[NARROW_S][NARROW_W] = {{0}};
    /* gradients: dB^T (R, lanes o) and dA (R, lanes i) */
    float dbt[NARROW_W][NARROW_W] = {{0}}, da[NARROW_W][NARROW_I] = {{0}};

    for (int n0 = 0; n0 < cnt; n0 += NARROW_S) {
        /* samples in this block: all of them, or cnt % NARROW_S in a last,
         * partial one (written so cppcheck's value flow can follow it) */
        const int nb = n0 / NARROW_S < cnt / NARROW_S ? NARROW_S : cnt % NARROW_S;
        const size_t blk = (size_t)(n0 / NARROW_S) * NARROW_S;
        const narrow_vec *xb = (const narrow_vec *)(xt + blk * I);
        const narrow_vec *yb = (const narrow_vec *)(yt + blk * O);
        const narrow_vec *y0b = y0t != NULL ? (const narrow_vec *)(y0t + blk * O) : zero;
        /* h = x A^T, t = h B^T: each sum in a register, k in order */
        for (int r = 0; r < R; r++) {
            float acc[NARROW_S] = {0};
            for (int i = 0; i < I; i++) {
                const float w = a[(size_t)r * I + i];
                NARROW_UNROLL
                for (int j = 0; j < NARROW_S; j++)
                    acc[j] += xb[i][j] * w;
            }
            NARROW_UNROLL
            for (int j = 0; j < NARROW_S; j++)
                h[r][j] = acc[j];
        }
        for (int o = 0; o < O; o++) {
            float acc[NARROW_S] = {0};
            for (int r = 0; r < R; r++) {
                const float w = bm[(size_t)o * R + r];
                NARROW_UNROLL
                for (int j = 0; j < NARROW_S; j++)
                    acc[j] += h[r][j] * w;
            }
            NARROW_UNROLL
            for (int j = 0; j < NARROW_S; j++)
                t[o][j] = acc[j];
        }
        /* the prediction, its squared error in double, g */
        for (int o = 0; o < O; o++)
            for (int j = 0; j < NARROW_S; j++) {
                const float p = y0b[o][j] + scale * t[o][j];
                const double d = (double)p - (double)yb[o][j];
                sq[o][j] = d * d;
                gl[o][j] = (g * (p - yb[o][j])) * scale;
            }
        /* each row's loss: lora_row's eight lanes (lane o holds output o) */
        for (int j = 0; j < NARROW_S; j++) {
            const double l = ((sq[0][j] + sq[1][j]) + (sq[2][j] + sq[3][j])) +
                             ((sq[4][j] + sq[5][j]) + (sq[6][j] + sq[7][j]));
            if (j < nb)
                row_sq[n0 + j] = l;
        }
        /* dh = g B */
        for (int r = 0; r < R; r++) {
            float acc[NARROW_S] = {0};
            for (int o = 0; o < O; o++) {
                const float w = bm[(size_t)o * R + r];
                NARROW_UNROLL
                for (int j = 0; j < NARROW_S; j++)
                    acc[j] += gl[o][j] * w;
            }
            NARROW_UNROLL
            for (int j = 0; j < NARROW_S; j++)
                dh[r][j] = acc[j];
        }
        /* dB^T += h^T g and dA += dh^T x, row after row; each sum stays in
         * registers for the block */
        for (int o = 0; o < O; o++)
            for (int j = 0; j < NARROW_S; j++)
                glr[j][o] = gl[o][j];
        const float(*xrb)[NARROW_I] = (const float(*)[NARROW_I])(xr + (size_t)n0 * NARROW_I);
        for (int r = 0; r < R; r++) {
            float acc[NARROW_W];
            NARROW_UNROLL
            for (int o = 0; o < NARROW_W; o++)
                acc[o] = dbt[r][o];
            for (int j = 0; j < nb; j++) {
                const float w = h[r][j];
                NARROW_UNROLL
                for (int o = 0; o < NARROW_W; o++)
                    acc[o] += glr[j][o] * w;
            }
            NARROW_UNROLL
            for (int o = 0; o < NARROW_W; o++)
                dbt[r][o] = acc[o];
        }
        for (int r = 0; r < R; r++) {
            float acc[NARROW_I];
            NARROW_UNROLL
            for (int i = 0; i < NARROW_I; i++)
                acc[i] = da[r][i];
            for (int j = 0; j < nb; j++) {
                const float w = dh[r][j];
                NARROW_UNROLL
                for (int i = 0; i < NARROW_I; i++)
                    acc[i] += w * xrb[j][i];
            }
            NARROW_UNROLL
            for (int i = 0; i < NARROW_I; i++)
                da[r][i] = acc[i];
        }
    }
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++)
            m->dbm[(size_t)o * R + r] = dbt[r][o];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < I; i++)
            m->da[(size_t)r * I + i] = da[r][i];
}

static void lora_narrow_rows_portable(double *row_sq, model *m, const float *xt, const float *xr,
                                      const float *yt, const float *y0t, float g, int cnt)
{
    narrow_rows(row_sq, m, xt, xr, yt, y0t, g, cnt);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void lora_narrow_rows_avx2(double *row_sq, model *m, const float *xt,
                                                 const float *xr, const float *yt, const float *y0t,
                                                 float g, int cnt)
{
    narrow_rows(row_sq, m, xt, xr, yt, y0t, g, cnt);
}
#endif

/* The narrow pass on the code path the matrix kernels take (matmul.h). */
static void lora_narrow_rows(double *row_sq, model *m, const float *xt, const float *xr,
                             const float *yt, const float *y0t, float g, int cnt)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        lora_narrow_rows_avx2(row_sq, m, xt, xr, yt, y0t, g, cnt);
        return;
    }
#endif
    lora_narrow_rows_portable(row_sq, m, xt, xr, yt, y0t, g, cnt);
}

/* ------------------------------------------------------------------------ */
/* jobs run on the pool */

typedef struct {
    trainer *t;
    model *m;
    const float *x, *y, *base; /* batch rows: (cnt,I), (cnt,O), (cnt,O) or NULL */
    int cnt;
    float g; /* 2 / (cnt * O) */
    adam_config cfg;
} step_ctx;

/* Fused LoRA rows of this thread's share, ROW_BLOCK rows at a time: h, the
 * rows of the loss and of g = s dL/dy, and dh = g B. On one thread the
 * gradients of the block follow while it is in cache, dB += g^T h and
 * dA += dh^T x, and g only needs one block of rows; on several threads they
 * are separate passes afterwards (step_batch), split by columns. Either way
 * each gradient element is the same sum over the rows in row order (the
 * kernels add products one at a time, see matmul.h), so the result does not
 * depend on the thread count. */
static void lora_rows_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    trainer *t = c->t;
    model *m = c->m;
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
        matmul_nt_ws(h, x, m->a, rb, R, I, 0, ws); /* h = x A^T */
        lora_rows(t->row_sq + n0, gl, h, t->bt, c->base != NULL ? c->base + (size_t)n0 * O : NULL,
                  c->y + (size_t)n0 * O, m->scale, c->g, rb, R, O, bt_stride(O));
        matmul_nn_ws(dh, gl, m->bm, rb, R, O, 0, ws); /* dh = g B */
        if (fused) {
            matmul_tn_ws(m->dbm, gl, h, O, R, rb, 1, ws); /* dB += g^T h */
            matmul_tn_ws(m->da, dh, x, R, I, rb, 1, ws);  /* dA += dh^T x */
        }
    }
}

/* Forward-backward: the residual rows of this thread's share. */
static void dense_rows_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    trainer *t = c->t;
    const int O = t->out;
    int lo, hi;
    pool_share(c->cnt, 1, tid, nthreads, &lo, &hi);
    const size_t off = (size_t)lo * O;
    mse_rows(t->row_sq + lo, t->dy + off, t->yhat + off, c->m->b, c->y + off, c->g, hi - lo, O);
}

/* db (O) += column sums of dy (cnt,O), for this thread's columns, each in
 * row order as linear_backward sums them. */
static void dense_db_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    trainer *t = c->t;
    const int O = t->out;
    int lo, hi;
    pool_share(O, 16, tid, nthreads, &lo, &hi);
    for (int n = 0; n < c->cnt; n++) {
        const float *dyn = t->dy + (size_t)n * O;
        for (int o = lo; o < hi; o++)
            c->m->db[o] += dyn[o];
    }
}

/* Closed form: gradient rows and loss terms of this thread's output rows. */
static void gram_rows_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    trainer *t = c->t;
    model *m = c->m;
    const int I = t->in, O = t->out;
    const double N = (double)t->n;
    const double gd = 2.0 / (N * (double)O);
    int lo, hi;
    pool_share(O, 1, tid, nthreads, &lo, &hi);
    for (int o = lo; o < hi; o++) {
        const float *w = m->w + (size_t)o * I;
        const float *q = t->wg + (size_t)o * I;
        const float *cr = t->cross + (size_t)o * I;
        float *dw = m->dw + (size_t)o * I;
        const double b = (double)m->b[o];
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
        m->db[o] = (float)(gd * (sws + N * b - t->ysum[o]));
        t->row_sq[o] = swq + 2.0 * b * sws + N * b * b - 2.0 * swc - 2.0 * b * t->ysum[o] + t->ysq[o];
        t->row_abs[o] = fabs(swq) + 2.0 * fabs(b * sws) + N * b * b + 2.0 * fabs(swc) +
                        2.0 * fabs(b * t->ysum[o]) + t->ysq[o];
    }
}

/* Closed form's fallback: the loss rows of this thread's share by a forward
 * pass, ROW_BLOCK rows at a time into scratch past the matmul scratch. */
static void forward_loss_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    trainer *t = c->t;
    const model *m = c->m;
    const int I = t->in, O = t->out;
    float *ws = pool_scratch(t->pool, tid);
    float *yh = ws + matmul_scratch_floats();
    int lo, hi;
    pool_share(c->cnt, ROW_BLOCK, tid, nthreads, &lo, &hi);
    for (int n0 = lo; n0 < hi; n0 += ROW_BLOCK) {
        const int rb = hi - n0 < ROW_BLOCK ? hi - n0 : ROW_BLOCK;
        matmul_nt_ws(yh, c->x + (size_t)n0 * I, m->w, rb, O, I, 0, ws);
        for (int r = 0; r < rb; r++) {
            const float *p = yh + (size_t)r * O;
            const float *y = c->y + (size_t)(n0 + r) * O;
            double lanes[8] = {0};
            for (int o = 0; o < O; o++) {
                const double d = (double)(p[o] + m->b[o]) - (double)y[o];
                lanes[o & 7] += d * d;
            }
            t->row_sq[n0 + r] = lanes_sum(lanes);
        }
    }
}

static void adam_job(void *vctx, int tid, int nthreads)
{
    const step_ctx *c = vctx;
    model *m = c->m;
    int lo, hi;
    pool_share((int)m->n_params, 64, tid, nthreads, &lo, &hi);
    if (hi > lo)
        adam_step(m->params + lo, m->grads + lo, m->adam_m + lo, m->adam_v + lo, (size_t)(hi - lo),
                  m->step, c->cfg);
}

/* model_adam_step, with the flat update split across the threads (each
 * element's update is independent of the others). */
static void adam_mt(trainer *t, model *m, adam_config cfg)
{
    if (m->n_params < ADAM_PARALLEL_MIN || m->n_params > (size_t)2147483647) {
        model_adam_step(m, cfg);
        return;
    }
    m->step++;
    step_ctx c = {t, m, NULL, NULL, NULL, 0, 0.0f, cfg};
    pool_run(t->pool, adam_job, &c);
}

static double sum_rows(const double *r, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += r[i];
    return s;
}

/* ------------------------------------------------------------------------ */
/* setup */

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

ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, char *err, size_t errlen)
{
    return trainer_init_opts(t, m, x, y, n, batch, NULL, err, errlen);
}

ld_status trainer_init_opts(trainer *t, const model *m, const float *x, const float *y, int n,
                            int batch, const trainer_options *opt, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const trainer_options o = opt != NULL ? *opt : trainer_defaults();
    if (n <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "no training samples");
    if (batch <= 0 || batch > n)
        batch = n;
    t->n = n;
    t->batch = batch;
    t->in = m->in;
    t->out = m->out;
    t->rank = m->rank;
    t->x = x;
    t->y = y;
    const int mini = batch < n;
    const int cache_base = m->kind == MODEL_LORA && m->has_base;
    if (m->kind == MODEL_DENSE && !mini && o.closed_form && m->in <= n)
        t->method = TRAIN_CLOSED_FORM;
    else if (m->kind == MODEL_LORA && !m->merged && o.threads == 1 &&
             lora_is_narrow(m->in, m->out, m->rank))
        t->method = TRAIN_LORA_NARROW;
    else if (m->kind == MODEL_LORA && !m->merged)
        t->method = TRAIN_LORA_FUSED;
    else
        t->method = TRAIN_FORWARD_BACKWARD;
    const size_t B = (size_t)batch, I = (size_t)m->in, O = (size_t)m->out, R = (size_t)m->rank;
    const size_t P = t->method == TRAIN_FORWARD_BACKWARD || B < TRAIN_EVAL_ROWS ? B : TRAIN_EVAL_ROWS;
    t->yhat_rows = (int)P;

    /* sizes in floats, each overflow-checked */
    size_t s_xb = 0, s_yb = 0, s_base = 0, s_baseb = 0, s_yhat = 0, s_dy = 0, s_br = 0, s_bt = 0;
    size_t s_gram = 0, s_cross = 0, total = 0;
    int bad = ld_mul_size(&s_yhat, P, O) | ld_mul_size(&s_br, B, R) | ld_mul_size(&s_bt, R, (size_t)bt_stride(m->out));
    if (t->method != TRAIN_CLOSED_FORM)
        bad |= ld_mul_size(&s_dy, B, O);
    if (mini)
        bad |= ld_mul_size(&s_xb, B, I) | ld_mul_size(&s_yb, B, O);
    if (cache_base) {
        bad |= ld_mul_size(&s_base, (size_t)n, O);
        if (mini)
            s_baseb = s_dy;
    }
    if (t->method == TRAIN_CLOSED_FORM)
        bad |= ld_mul_size(&s_gram, I, I) | ld_mul_size(&s_cross, O, I);
    size_t s_nx = 0, s_nxr = 0, s_ny = 0, s_nbase = 0;
    if (t->method == TRAIN_LORA_NARROW) {
        const size_t Bp = (B + NARROW_S - 1) / NARROW_S * NARROW_S; /* whole blocks */
        bad |= ld_mul_size(&s_nx, Bp, I) | ld_mul_size(&s_nxr, Bp, NARROW_I) |
               ld_mul_size(&s_ny, Bp, O);
        s_nbase = cache_base ? s_ny : 0;
    }
    const size_t parts[] = {s_xb, s_yb, s_base, s_baseb, s_yhat, s_dy, s_br, s_br, s_bt,
                            s_gram, s_cross, s_cross, s_nx, s_nxr, s_ny, s_nbase};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        bad |= ld_add_size(&total, total, parts[i]);
    size_t bytes = 0;
    bad |= ld_mul_size(&bytes, total, sizeof(float));
    const size_t rows = B > O ? B : O;
    const size_t dparts[] = {t->method == TRAIN_CLOSED_FORM ? I : 0,
                             t->method == TRAIN_CLOSED_FORM ? O : 0,
                             t->method == TRAIN_CLOSED_FORM ? O : 0, rows,
                             t->method == TRAIN_CLOSED_FORM ? O : 0};
    size_t dtotal = 0, dbytes = 0;
    for (size_t i = 0; i < sizeof dparts / sizeof dparts[0]; i++)
        bad |= ld_add_size(&dtotal, dtotal, dparts[i]);
    bad |= ld_mul_size(&dbytes, dtotal, sizeof(double));
    size_t scratch = matmul_scratch_floats(), fb = 0;
    /* two statements: the operands of | are evaluated in no fixed order, and
     * the sum reads the product */
    bad |= ld_mul_size(&fb, ROW_BLOCK, O);
    bad |= ld_add_size(&scratch, scratch, fb);
    if (bad)
        return ld_fail(err, errlen, LD_ENOMEM, "training buffers for %d samples do not fit in memory", n);
    if (t->method == TRAIN_LORA_NARROW && !cache_base)
        scratch = 0; /* no matrix kernel on the pool (the frozen base's output, below, needs
                      * one): no 584 KiB of scratch */
    t->mem = malloc(bytes > 0 ? bytes : 1);
    t->dmem = malloc(dbytes > 0 ? dbytes : 1);
    if (t->mem == NULL || t->dmem == NULL) {
        trainer_free(t);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes of training buffers",
                       bytes + dbytes);
    }
    ld_status st = pool_init(&t->pool, o.threads, scratch, err, errlen);
    if (st != LD_OK) {
        trainer_free(t);
        return st;
    }

    float *p = t->mem;
    float **slots[] = {&t->xb, &t->yb, &t->base_all, &t->base_b, &t->yhat, &t->dy, &t->h, &t->dh,
                       &t->bt, &t->gram, &t->cross, &t->wg, &t->nx, &t->nxr, &t->ny, &t->nbase};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *slots[i] = parts[i] > 0 ? p : NULL;
        p += parts[i];
    }
    double *d = t->dmem;
    double **dslots[] = {&t->xsum, &t->ysum, &t->ysq, &t->row_sq, &t->row_abs};
    for (size_t i = 0; i < sizeof dparts / sizeof dparts[0]; i++) {
        *dslots[i] = dparts[i] > 0 ? d : NULL;
        d += dparts[i];
    }

    if (cache_base) {
        /* model_base_forward's arithmetic, on the pool */
        matmul_nt_mt(t->base_all, x, m->base_w, n, m->out, m->in, 0, t->pool);
        if (m->base_b != NULL)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < m->out; c++)
                    t->base_all[(size_t)r * O + c] += m->base_b[c];
    }
    if (t->method == TRAIN_LORA_NARROW && !mini) {
        /* a full batch is the same rows every epoch: in blocks once */
        narrow_blocks(t->nx, x, n, m->in);
        narrow_pad_rows(t->nxr, x, n, m->in);
        narrow_blocks(t->ny, y, n, m->out);
        if (cache_base)
            narrow_blocks(t->nbase, t->base_all, n, m->out);
        t->narrow_cached = 1;
    }
    if (t->method == TRAIN_CLOSED_FORM) {
        matmul_gram_mt(t->gram, x, n, m->in, t->pool);
        matmul_tn_mt(t->cross, y, x, m->out, m->in, n, 0, t->pool);
        column_sums(t->xsum, NULL, x, n, m->in);
        column_sums(t->ysum, t->ysq, y, n, m->out);
    }
    return LD_OK;
}

void trainer_free(trainer *t)
{
    pool_free(t->pool);
    free(t->mem);
    free(t->dmem);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------ */
/* epochs */

/* Copy rows idx[0..cnt) of src (N, width) into dst (cnt, width). */
static void gather_rows(float *dst, const float *src, const int *idx, int cnt, int width)
{
    for (int i = 0; i < cnt; i++)
        memcpy(dst + (size_t)i * width, src + (size_t)idx[i] * width, (size_t)width * sizeof(float));
}

/* Forward, MSE, backward and an Adam step on one batch; returns its loss. */
static double step_batch(trainer *t, model *m, const float *xb, const float *yb, const float *base,
                         int cnt, adam_config cfg)
{
    const int I = t->in, O = t->out, R = t->rank;
    const size_t ny = (size_t)cnt * (size_t)O;
    step_ctx c = {t, m, xb, yb, base, cnt, 2.0f / (float)ny, cfg};
    if (t->method == TRAIN_LORA_NARROW && !m->merged) {
        /* the full batch was put in blocks once, in trainer_init */
        if (!t->narrow_cached) {
            narrow_blocks(t->nx, xb, cnt, I);
            narrow_pad_rows(t->nxr, xb, cnt, I);
            narrow_blocks(t->ny, yb, cnt, O);
            if (base != NULL)
                narrow_blocks(t->nbase, base, cnt, O);
        }
        lora_narrow_rows(t->row_sq, m, t->nx, t->nxr, t->ny, base != NULL ? t->nbase : NULL, c.g, cnt);
    } else if (t->method == TRAIN_LORA_FUSED && !m->merged) {
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++)
                t->bt[(size_t)r * bt_stride(O) + o] = m->bm[(size_t)o * R + r];
        model_zero_grad(m);
        pool_run(t->pool, lora_rows_job, &c);
        if (pool_threads(t->pool) > 1) {
            matmul_tn_mt(m->dbm, t->dy, t->h, O, R, cnt, 1, t->pool); /* dB += g^T h */
            matmul_tn_mt(m->da, t->dh, xb, R, I, cnt, 1, t->pool);    /* dA += dh^T x */
        }
    } else if (m->kind == MODEL_DENSE) {
        matmul_nt_mt(t->yhat, xb, m->w, cnt, O, I, 0, t->pool);    /* x W^T (+ b below) */
        pool_run(t->pool, dense_rows_job, &c);
        model_zero_grad(m);
        matmul_tn_mt(m->dw, t->dy, xb, O, I, cnt, 1, t->pool);     /* dW += dy^T x */
        pool_run(t->pool, dense_db_job, &c);                       /* db += sum dy */
    } else {
        /* a LoRA model merged after trainer_init: the plain path, as before */
        model_forward(m, t->dy, t->h, xb, base, cnt);
        for (int n = 0; n < cnt; n++) {
            float *row = t->dy + (size_t)n * O;
            memcpy(t->yhat, row, (size_t)O * sizeof(float));
            mse_rows(t->row_sq + n, row, t->yhat, NULL, yb + (size_t)n * O, c.g, 1, O);
        }
        model_zero_grad(m);
        model_backward(m, t->dy, t->dh, t->h, xb, cnt);
    }
    adam_mt(t, m, cfg);
    return sum_rows(t->row_sq, cnt) / (double)ny;
}

/* The closed form's epoch (full batch); returns the loss before the step. */
static double step_closed_form(trainer *t, model *m, adam_config cfg)
{
    const int I = t->in, O = t->out;
    step_ctx c = {t, m, t->x, t->y, NULL, t->n, 0.0f, cfg};
    matmul_nn_mt(t->wg, m->w, t->gram, O, I, I, 0, t->pool); /* W G */
    pool_run(t->pool, gram_rows_job, &c);
    const double nol = sum_rows(t->row_sq, O);
    const double terms = sum_rows(t->row_abs, O);
    const double denom = (double)t->n * (double)O;
    double loss = nol / denom;
    if (m->step == 0 || !(nol > 0.0) || terms > TRAIN_GRAM_KAPPA * nol) {
        /* The first epoch's loss always comes from the forward pass, so every
         * model's starting loss is measured the same way (fine-tuned models
         * that start as the same base report bit-identical first losses).
         * Later on, the forward pass stands in where cancellation could show. */
        pool_run(t->pool, forward_loss_job, &c);
        loss = sum_rows(t->row_sq, t->n) / denom;
        if (m->step > 0)
            t->gram_fallbacks++;
    }
    adam_mt(t, m, cfg);
    return loss;
}

float trainer_epoch(trainer *t, model *m, const int *order, adam_config cfg)
{
    if (t->method == TRAIN_CLOSED_FORM)
        return (float)step_closed_form(t, m, cfg);
    const int O = t->out;
    double loss_sum = 0.0;
    int batches = 0;
    /* start += cnt, not += batch: start + batch may pass INT_MAX when n is close to it */
    for (int start = 0, cnt; start < t->n; start += cnt) {
        cnt = t->n - start < t->batch ? t->n - start : t->batch;
        const float *xb, *yb, *base;
        if (order != NULL && t->xb != NULL) {
            /* shuffled mini-batch: gather its rows */
            gather_rows(t->xb, t->x, order + start, cnt, t->in);
            gather_rows(t->yb, t->y, order + start, cnt, O);
            xb = t->xb;
            yb = t->yb;
            base = NULL;
            if (t->base_all != NULL) {
                gather_rows(t->base_b, t->base_all, order + start, cnt, O);
                base = t->base_b;
            }
        } else {
            /* full batch, or batches in data order: point into the data */
            xb = t->x + (size_t)start * t->in;
            yb = t->y + (size_t)start * O;
            base = t->base_all != NULL ? t->base_all + (size_t)start * O : NULL;
        }
        loss_sum += (double)(float)step_batch(t, m, xb, yb, base, cnt, cfg);
        batches++;
    }
    return (float)(loss_sum / batches);
}

float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n)
{
    const int O = t->out;
    const int rows = t->yhat_rows;
    double sq = 0.0;
    /* start += cnt, not += rows: start + rows may pass INT_MAX when n is close to it */
    for (int start = 0, cnt; start < n; start += cnt) {
        cnt = n - start < rows ? n - start : rows;
        const size_t ny = (size_t)cnt * (size_t)O;
        model_forward(m, t->yhat, t->h, x + (size_t)start * t->in, NULL, cnt);
        sq += (double)mse_forward(t->yhat, y + (size_t)start * O, ny) * (double)ny;
    }
    return (float)(sq / ((double)n * (double)O));
}
