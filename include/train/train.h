/* train.h - epochs of Adam on MSE for one model, with no allocation inside.
 *
 * Dimension key: N samples, B batch size, I in, O out, R rank.
 *
 * trainer_init allocates every buffer an epoch needs, and starts the worker
 * threads, once. One-time precomputations happen there too, so an epoch only
 * does per-epoch work:
 *   - a LoRA model on a frozen base: the base output x W0^T + b0 for the
 *     whole training set (the base never changes);
 *   - a dense model trained on full batches ("closed form"): the statistics
 *     G = X^T X (I,I), C = Y^T X (O,I), s = X^T 1, Y^T 1 and the column sums
 *     of Y*Y, from which every epoch's gradient and loss follow exactly
 *     (below) at a cost of O*I*I instead of 2*N*I*O.
 *
 * The closed form. With R = X W^T + 1 b^T - Y and loss L = |R|^2 / (N O),
 *     dL/dW = (2/(N O)) R^T X = (2/(N O)) (W G + b s^T - C)
 *     dL/db = (2/(N O)) R^T 1 = (2/(N O)) (W s + N b - Y^T 1)
 *     N O L = sum_o [ w_o.(W G)_o + 2 b_o (w_o.s) + N b_o^2
 *                     - 2 w_o.c_o - 2 b_o (Y^T 1)_o + (Y*Y)^T 1_o ]
 * W G is one float matmul; the rest is assembled in double. The loss is a
 * difference of terms that can be much larger than itself; when the sum of
 * their magnitudes exceeds TRAIN_GRAM_KAPPA times the loss, float rounding
 * in W G and C could show in the loss, and that epoch's loss is computed
 * from the forward pass instead (the gradient keeps the closed form: its
 * rounding is of the same order as the forward-backward's).
 *
 * Threads. Every kernel splits work over independent output rows or columns
 * only, and per-row partial sums are reduced in row order, so results are
 * bit-identical for every thread count.
 */
#ifndef LORA_DEMO_TRAIN_H
#define LORA_DEMO_TRAIN_H

#include "core/model.h"
#include "core/optim.h"
#include "kernels/pool.h"
#include "status.h"

/* Loss-to-terms ratio beyond which the closed form's loss is recomputed
 * from the forward pass (see above and tests/test_matmul.c). */
#define TRAIN_GRAM_KAPPA 64.0

typedef enum {
    TRAIN_FORWARD_BACKWARD = 0, /* forward, MSE, backward through each batch */
    TRAIN_CLOSED_FORM,          /* dense, full batch: from G, C, s (above) */
    TRAIN_LORA_FUSED,           /* LoRA: forward, MSE and backward fused per row block */
    TRAIN_LORA_NARROW           /* the same one row at a time, for layers narrower than a
                                 * vector (O, R <= 8, I <= 16) on one thread */
} train_method;

typedef struct {
    int threads;     /* worker threads counting the caller, 1..POOL_MAX_THREADS [1] */
    int closed_form; /* dense full batch: 1 = use the closed form when it is cheaper
                      * (I <= N), 0 = always forward-backward [1] */
} trainer_options;

trainer_options trainer_defaults(void);

typedef struct {
    int n, batch, in, out, rank;
    train_method method;
    const float *x;   /* (N,I) training inputs (borrowed) */
    const float *y;   /* (N,O) training targets (borrowed) */
    pool *pool;       /* worker threads and their scratch */
    float *mem;       /* one allocation for all buffers below */
    float *xb;        /* (B,I) gathered batch inputs (mini-batch only) */
    float *yb;        /* (B,O) gathered batch targets (mini-batch only) */
    float *base_all;  /* (N,O) cached frozen-base output, or NULL */
    float *base_b;    /* (B,O) gathered base rows (mini-batch only) */
    float *yhat;      /* (P,O) predictions: P = B for forward-backward, else up
                       * to TRAIN_EVAL_ROWS (evaluation only) */
    int yhat_rows;    /* P */
    float *dy;        /* (B,O) loss gradient (NULL for the closed form) */
    float *h;         /* (B,R) LoRA activation x A^T */
    float *dh;        /* (B,R) its gradient */
    float *bt;        /* (R,O+16) LoRA B^T, rows padded, refreshed every step */
    float *gram;      /* (I,I) closed form: X^T X */
    float *cross;     /* (O,I) closed form: Y^T X */
    float *wg;        /* (O,I) closed form: W G, per epoch */
    float *nx;        /* narrow LoRA: the batch's x, y and base in blocks of S = 16 */
    float *ny;        /*   samples, samples in lanes: (ceil(B/S), I|O, S); */
    float *nbase;     /*   nbase NULL without a frozen base */
    float *nxr;       /* narrow LoRA: the batch's x rows padded, (ceil(B/S) * S, 16) */
    int narrow_cached; /* 1: nx, nxr, ny, nbase hold the full batch, filled once */
    double *dmem;     /* one allocation for the double buffers below */
    double *xsum;     /* (I) closed form: X^T 1 */
    double *ysum;     /* (O) closed form: Y^T 1 */
    double *ysq;      /* (O) closed form: column sums of Y*Y */
    double *row_sq;   /* (max(B,O)) per-row partial sums of the loss */
    double *row_abs;  /* (O) closed form: per-row sums of the loss terms' magnitudes */
    long gram_fallbacks; /* closed-form epochs after the first whose loss came from a
                          * forward pass because of cancellation */
} trainer;

#define TRAIN_EVAL_ROWS 64

/* batch <= 0 or >= n means full batch. trainer_init uses trainer_defaults();
 * opt may be NULL for the defaults too. */
ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, char *err, size_t errlen);
ld_status trainer_init_opts(trainer *t, const model *m, const float *x, const float *y, int n,
                            int batch, const trainer_options *opt, char *err, size_t errlen);
void trainer_free(trainer *t);

/* One epoch: for each batch in `order` (a permutation of 0..N-1, or NULL for
 * 0,1,2,...; ignored with full batches, where order cannot matter), forward, MSE, backward, one Adam step. Returns the mean of the
 * batch losses, each taken before its own update (the notebook's record). */
float trainer_epoch(trainer *t, model *m, const int *order, adam_config cfg);

/* MSE of m on (x, y) without training, in chunks of t->yhat_rows rows. */
float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n);

#endif /* LORA_DEMO_TRAIN_H */
