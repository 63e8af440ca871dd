/* lora_narrow.c - the fused LoRA step for layers narrower than a vector, 16
 * samples at a time. It equals the plain step (plain.c), and so the block
 * pass of lora_fused.c, bit for bit.
 *
 * Chosen (train.c, choose_method) for an unmerged LoRA model with O and R at
 * most 8 and I at most 16 (the default experiment: 10 -> 5, ranks 1 to 4) on
 * one thread. Proved by tests/test_train.c, on both sides of every limit,
 * with the portable and the AVX2 build.
 *
 * Why: at these sizes the block pass is mostly overhead, five matrix
 * products of a few hundred multiply-adds each, with a row loop too narrow
 * for vectors. Here the rows go through h = x A^T, t = h B^T, the
 * prediction, the loss, g and dh = g B with the 16 samples of a block in the
 * lanes of every vector (arrays of 16: fixed trip counts, which the
 * compilers vectorise). dB and dA then add the block's rows one at a time,
 * in row order, with vectors across O and across I (x's rows padded to 16).
 *
 * Why the bits are the same: h, t and dh are sums from 0 over k in order;
 * pred = y0 + s t (y0 = 0 without a base); g = (g (pred - y)) s; a row's loss
 * is the 8 lanes of lanes_sum; and each element of dB and dA adds one
 * product per row, in row order, to the zero model_zero_grad would leave.
 * In a last, partial block the lanes past the batch hold zeros, or what the
 * weights make of zeros; they are never stored or added to a gradient.
 *
 * Dimension key: NB rows of the batch, I in, O out, R rank, S = NARROW_S
 * samples of a block.
 */
#include <stddef.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"
#include "paths.h"

typedef float narrow_vec[NARROW_S]; /* one value for each sample of a block */

/* GCC keeps a sum of 16 lanes in vector registers only when its lane loop is
 * unrolled, and leaves some loops scalar unless the scalar factor is read
 * before the lane loop (hence the w in the loops below); clang does both by
 * itself. */
#if defined(__GNUC__) && !defined(__clang__)
#define NARROW_UNROLL _Pragma("GCC unroll 16")
#else
#define NARROW_UNROLL
#endif

int lora_narrow_fits(const model_spec *spec)
{
    return spec->kind == LAYER_LORA && spec->out <= NARROW_W && spec->rank <= NARROW_W &&
           spec->in <= NARROW_I;
}

/* ------------------------------------------------------------------------ */
/* the batch in blocks */

/* Rows [0, cnt) of a (cnt, W) in blocks of S samples, samples in lanes:
 * dst (ceil(cnt/S), W, S), zero past row cnt. */
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

void lora_narrow_fill(trainer *t, const float *x, const float *y, const float *base, int cnt)
{
    narrow_blocks(t->nx, x, cnt, t->in);
    narrow_pad_rows(t->nxr, x, cnt, t->in);
    narrow_blocks(t->ny, y, cnt, t->out);
    if (base != NULL)
        narrow_blocks(t->nbase, base, cnt, t->out);
}

/* ------------------------------------------------------------------------ */
/* one block of S samples, in four steps */

/* out[r] (rows, lanes) = sum over k of in[k] * w[r sr + k sk], k in order
 * from 0. h = x A^T (w = A, sr = I, sk = 1), t = h B^T (w = B, sr = R,
 * sk = 1) and dh = g B (w = B, sr = 1, sk = R). */
ROW_INLINE void block_product(narrow_vec *restrict out, const narrow_vec *restrict in,
                              const float *restrict w, int rows, int K, int sr, int sk)
{
    for (int r = 0; r < rows; r++) {
        /* two sums of 8 lanes, not one of 16: in a helper inlined into its
         * caller GCC keeps these in registers, where it would pass a 16-lane
         * sum through the stack */
        float lo[NARROW_S / 2] = {0}, hi[NARROW_S / 2] = {0};
        for (int k = 0; k < K; k++) {
            const float wk = w[(size_t)r * sr + (size_t)k * sk];
            for (int j = 0; j < NARROW_S / 2; j++)
                lo[j] += in[k][j] * wk;
            for (int j = 0; j < NARROW_S / 2; j++)
                hi[j] += in[k][NARROW_S / 2 + j] * wk;
        }
        for (int j = 0; j < NARROW_S / 2; j++) {
            out[r][j] = lo[j];
            out[r][NARROW_S / 2 + j] = hi[j];
        }
    }
}

/* pred = y0 + s t, each row's squared error into row_sq (the first nb
 * samples), and gl = (g (pred - y)) s. sq is the caller's scratch, zero
 * past row O (set once per batch, not per block). */
ROW_INLINE void block_loss(narrow_vec *gl, double *row_sq, double sq[NARROW_W][NARROW_S],
                           const narrow_vec *t, const narrow_vec *y0, const narrow_vec *y,
                           float scale, float g, int O, int nb)
{
    for (int o = 0; o < O; o++)
        for (int j = 0; j < NARROW_S; j++) {
            const float p = y0[o][j] + scale * t[o][j];
            const double d = (double)p - (double)y[o][j];
            sq[o][j] = d * d;
            gl[o][j] = (g * (p - y[o][j])) * scale;
        }
    /* lane o holds output o, as lanes_sum adds them in lora_fused.c */
    for (int j = 0; j < NARROW_S; j++) {
        const double l = ((sq[0][j] + sq[1][j]) + (sq[2][j] + sq[3][j])) +
                         ((sq[4][j] + sq[5][j]) + (sq[6][j] + sq[7][j]));
        if (j < nb)
            row_sq[j] = l;
    }
}

/* dB^T += h^T g and dA += dh^T x over the block's nb rows, row after row;
 * each sum stays in registers for the block. xr: the block's padded x rows;
 * glr: the caller's scratch for g transposed, [sample][o], zero past O. */
ROW_INLINE void block_grads(float dbt[NARROW_W][NARROW_W], float da[NARROW_W][NARROW_I],
                            float glr[NARROW_S][NARROW_W], const narrow_vec *h,
                            const narrow_vec *gl, const narrow_vec *dh,
                            const float (*xr)[NARROW_I], int O, int R, int nb)
{
    for (int o = 0; o < O; o++)
        for (int j = 0; j < NARROW_S; j++)
            glr[j][o] = gl[o][j];
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
                acc[i] += w * xr[j][i];
        }
        NARROW_UNROLL
        for (int i = 0; i < NARROW_I; i++)
            da[r][i] = acc[i];
    }
}

/* ------------------------------------------------------------------------ */
/* the batch */

/* One batch of cnt rows in blocks (lora_narrow_fill): xt (I), yt (O), y0t (O)
 * or NULL for no base, and x's rows padded. Writes each row's sum of
 * squares to row_sq (cnt) and all of dA and dB (no model_zero_grad needed). */
ROW_INLINE void narrow_batch(double *row_sq, layer *L, const float *xt, const float *xr,
                             const float *yt, const float *y0t, float g, int cnt)
{
    const int I = L->in, O = L->out, R = L->rank;
    narrow_vec h[NARROW_W], t[NARROW_W], gl[NARROW_W], dh[NARROW_W];
    const narrow_vec zero[NARROW_W] = {{0}}; /* the base output when there is none */
    double sq[NARROW_W][NARROW_S] = {{0}};   /* block_loss's scratch */
    float glr[NARROW_S][NARROW_W] = {{0}};   /* block_grads' scratch */
    float dbt[NARROW_W][NARROW_W] = {{0}}, da[NARROW_W][NARROW_I] = {{0}}; /* dB^T, dA */
    for (int n0 = 0; n0 < cnt; n0 += NARROW_S) {
        /* samples in this block: all of them, or cnt % S in a last, partial
         * one (written so cppcheck's value flow can follow it) */
        const int nb = n0 / NARROW_S < cnt / NARROW_S ? NARROW_S : cnt % NARROW_S;
        const size_t blk = (size_t)(n0 / NARROW_S) * NARROW_S;
        const narrow_vec *xb = (const narrow_vec *)(xt + blk * I);
        const narrow_vec *yb = (const narrow_vec *)(yt + blk * O);
        const narrow_vec *y0b = y0t != NULL ? (const narrow_vec *)(y0t + blk * O) : zero;
        /* read-only views of the block's arrays (C11 does not convert
         * pointers to arrays to their const form by itself) */
        const narrow_vec *ch = (const narrow_vec *)h, *ct = (const narrow_vec *)t;
        const narrow_vec *cgl = (const narrow_vec *)gl, *cdh = (const narrow_vec *)dh;
        block_product(h, xb, L->A, R, I, I, 1); /* h = x A^T */
        block_product(t, ch, L->B, O, R, R, 1); /* t = h B^T */
        block_loss(gl, row_sq + n0, sq, ct, y0b, yb, L->scale, g, O, nb);
        block_product(dh, cgl, L->B, R, O, 1, R); /* dh = g B */
        block_grads(dbt, da, glr, ch, cgl, cdh, (const float(*)[NARROW_I])(xr + (size_t)n0 * NARROW_I),
                    O, R, nb);
    }
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++)
            L->dB[(size_t)o * R + r] = dbt[r][o];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < I; i++)
            L->dA[(size_t)r * I + i] = da[r][i];
}

static void narrow_batch_portable(double *row_sq, layer *L, const float *xt, const float *xr,
                                  const float *yt, const float *y0t, float g, int cnt)
{
    narrow_batch(row_sq, L, xt, xr, yt, y0t, g, cnt);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void narrow_batch_avx2(double *row_sq, layer *L, const float *xt,
                                             const float *xr, const float *yt, const float *y0t,
                                             float g, int cnt)
{
    narrow_batch(row_sq, L, xt, xr, yt, y0t, g, cnt);
}
#endif

double lora_narrow_step(trainer *t, model *m, const batch_ctx *b, adam_config adam)
{
    if (!t->narrow_cached) /* a full batch was put in blocks once, in trainer_init */
        lora_narrow_fill(t, b->x, b->y, b->base, b->cnt);
    const float *y0t = b->base != NULL ? t->nbase : NULL;
    layer *L = &m->layers[0];
#if LD_AVX2_PATH
    if (matmul_isa_avx2())
        narrow_batch_avx2(t->row_sq, L, t->nx, t->nxr, t->ny, y0t, b->g, b->cnt);
    else
#endif
        narrow_batch_portable(t->row_sq, L, t->nx, t->nxr, t->ny, y0t, b->g, b->cnt);
    train_adam(t, m, adam);
    return sum_rows(t->row_sq, b->cnt) / ((double)b->cnt * (double)t->out);
}
