/* paths.h - what the files of src/train/ share, and nothing else includes:
 * one batch's context, the row helpers (rows.c) and each path's entry points.
 *
 * Dimension key: NB rows of a batch, I in, O out, R rank.
 */
#ifndef LORA_DEMO_TRAIN_PATHS_H
#define LORA_DEMO_TRAIN_PATHS_H

#include "train/train.h"

/* Rows per block of the fused LoRA pass and of the closed form's fallback. */
#define ROW_BLOCK 128

/* The narrow LoRA pass (lora_narrow.c) takes O and R up to NARROW_W and I up
 * to NARROW_I, and NARROW_S samples at a time. */
#define NARROW_W 8
#define NARROW_I 16
#define NARROW_S 16

/* Row stride of B^T (R, O) in the fused LoRA pass: O plus a cache line, so
 * that its R rows, read together, do not all fall into one L1 set when O is
 * a multiple of 1024. */
static inline int bt_stride(int O)
{
    return O + 16;
}

/* The row helpers are inlined into callers that are compiled twice, for the
 * baseline and for AVX2 (kernels/simd.h); out of line they would be
 * compiled for the baseline only. */
#if defined(__GNUC__) || defined(__clang__)
#define ROW_INLINE static inline __attribute__((always_inline))
#else
#define ROW_INLINE static inline
#endif

/* Sum of 8 double lanes in a fixed order: every path's per-row loss. */
ROW_INLINE double lanes_sum(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* One batch of cnt rows: x (cnt,I), y (cnt,O), and the frozen base's output
 * on them (cnt,O) or NULL. g = 2 / (cnt O), MSE's gradient factor. */
typedef struct {
    trainer *t;
    model *m;
    const float *x, *y, *base;
    int cnt;
    float g;
} batch_ctx;

/* rows.c: the MSE of rows rows of predictions yh (+ b, if not NULL), as
 * mse_forward and mse_backward form it: dy = g (pred - y), and each row's
 * sum of squares, in 8 double lanes, in row_sq. */
void mse_rows(double *row_sq, float *dy, const float *yh, const float *b, const float *y, float g,
              int rows, int O);
/* Sum of r[0..n) in order. */
double sum_rows(const double *r, int n);

/* train.c: model_adam_step, split across the trainer's threads when the
 * model is large enough to gain from it (each element is independent). */
void train_adam(trainer *t, model *m, adam_config adam);

/* Each path's step on one batch: forward, MSE, backward, Adam. Each returns
 * the batch's loss before its update. */
double plain_step(trainer *t, model *m, const batch_ctx *b, adam_config adam);
double lora_fused_step(trainer *t, model *m, const batch_ctx *b, adam_config adam);
double lora_narrow_step(trainer *t, model *m, const batch_ctx *b, adam_config adam);
double net_lora_step(trainer *t, model *m, const batch_ctx *b, adam_config adam);
/* The closed forms take whole epochs (one full batch). */
double closed_form_epoch(trainer *t, model *m, adam_config adam);
double lora_closed_epoch(trainer *t, model *m, adam_config adam);
/* closed_form.c: the epoch's loss, nol / (N O) from a closed form's terms
 * (nol = N O L, terms = the sum of their magnitudes), or from forward_rows'
 * t->row_sq (N) on the first epoch and when the terms cancel badly (terms >
 * KAPPA nol; counted in t->gram_fallbacks after the first). */
double closed_form_loss(batch_ctx *c, double nol, double terms, pool_fn forward_rows);

/* Set-up done once in trainer_init. */
void closed_form_setup(trainer *t);
/* lora_closed.c: 1 if a full-batch epoch of spec on n samples costs less by
 * the closed form than by the direct pass; its statistics (the frozen base's
 * output, cached, becomes R0 in place). */
int lora_closed_cheaper(const model_spec *spec, int n);
void lora_closed_setup(trainer *t);
/* net_fast.c: touches the buffers the network step writes, so that their
 * pages are mapped in set-up rather than in the first epoch. */
void net_lora_setup(trainer *t, const model *m);
int lora_narrow_fits(const model_spec *spec);
/* The batch's rows in the narrow pass's blocks (every step with mini-batches,
 * once for a full batch). */
void lora_narrow_fill(trainer *t, const float *x, const float *y, const float *base, int cnt);

#endif /* LORA_DEMO_TRAIN_PATHS_H */
