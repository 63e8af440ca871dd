/* train.h - epochs of Adam on MSE for one model, with no allocation inside.
 *
 * Dimension key: N training samples, NB rows of a batch, I in, O out, R rank.
 *
 * Every step is the plain step (src/train/plain.c): forward through the
 * model's layers, the MSE and its gradient, backward through the layers,
 * one Adam step. Where a model and batch have more structure, a fast path
 * computes the same numbers with less work; trainer_init chooses it, in one
 * place (train.c: choose_method):
 *   TRAIN_CLOSED_FORM  dense, full batch: from X^T X and Y^T X (closed_form.c)
 *   TRAIN_LORA_CLOSED  LoRA, full batch: from X^T X and R0^T X (lora_closed.c)
 *   TRAIN_LORA_NARROW  LoRA narrower than a vector, one thread (lora_narrow.c)
 *   TRAIN_LORA_FUSED   any other LoRA: rows in blocks (lora_fused.c)
 *   TRAIN_NET_LORA     a LoRA network on frozen bases: layer 0's base cached,
 *                      rank-R and elementwise work in blocks (net_fast.c)
 * tests/test_train.c trains every path against the plain step.
 *
 * trainer_init allocates every buffer an epoch needs, and starts the worker
 * threads, once. A LoRA model on a frozen base gets the base output
 * x W0^T + b0 for the whole training set computed there (the base never
 * changes; in a network, the first layer's), and the closed form its
 * statistics.
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

typedef enum {
    TRAIN_PLAIN = 0,    /* the plain step: forward, MSE, backward, Adam */
    TRAIN_CLOSED_FORM,  /* dense, full batch: from X^T X, Y^T X and sums */
    TRAIN_LORA_FUSED,   /* LoRA: forward, MSE and backward fused per row block */
    TRAIN_LORA_NARROW,  /* the same, 16 samples at a time, for O, R <= 8 and I <= 16 */
    TRAIN_LORA_CLOSED,  /* LoRA, full batch: from X^T X, R0^T X and |R0|^2 */
    TRAIN_NET_LORA      /* a LoRA network on frozen bases, no dropout or DoRA */
} train_method;

typedef struct {
    int threads;    /* worker threads counting the caller, 1..POOL_MAX_THREADS [1] */
    int fast_paths; /* 1: a fast path where one applies [1]; 0: always the plain step */
    int time_pool;  /* 1: the pool times its jobs from its start (pool_timing_on;
                     * for the benches) [0] */
} trainer_options;

trainer_options trainer_defaults(void);

/* The trainer's buffers, in the order they sit in its allocations. */
enum {
    TBUF_XB,         /* (NB,I) gathered batch inputs (mini-batch only) */
    TBUF_YB,         /* (NB,O) gathered batch targets (mini-batch only) */
    TBUF_BASE_ALL,   /* (N,O0) the frozen base's output on the training set, O0
                      * the first layer's outputs (LoRA closed form: R0 = Y - it,
                      * once set up) */
    TBUF_BASE_ROWS,  /* (NB,O0) its gathered batch rows (mini-batch only) */
    TBUF_YHAT,       /* (P,O) predictions: P = NB for the plain step, else up to
                      * TRAIN_EVAL_ROWS (evaluation only) */
    TBUF_DY,         /* (NB,O) the loss gradient (not for the closed form) */
    TBUF_H,          /* (NB,R) LoRA activation x A^T; a network's saved
                      * activations (model_acts_floats) */
    TBUF_DH,         /* (NB,R) its gradient; a network's backward scratch
                      * (model_scratch_floats) */
    TBUF_ACT,        /* the variants' activations (model_act_floats): LoRA dropout's
                      * dropped input (NB,I), DoRA's u (NB,O) */
    TBUF_BT,         /* (R,O+16) fused LoRA: B^T, rows padded, every step */
    TBUF_GRAM,       /* (I,I) closed forms: X^T X */
    TBUF_CROSS,      /* (O,I) closed forms: Y^T X (dense), R0^T X (LoRA) */
    TBUF_WG,         /* (O,I) closed form: W G, every epoch */
    TBUF_NX,         /* narrow LoRA: x, y and the base rows in blocks of 16 */
    TBUF_NXR,        /*   samples, samples in lanes; x's rows padded to 16 */
    TBUF_NY,
    TBUF_NBASE,
    TBUF_LSTAT,      /* (2R I + O R) LoRA closed form: A G, B^T C, C A^T, every epoch */
    TBUF_COUNT
};
enum {
    TDBUF_XSUM,    /* (I) closed form: X^T 1 */
    TDBUF_YSUM,    /* (O) closed form: Y^T 1 */
    TDBUF_YSQ,     /* (O) closed forms: column sums of Y*Y (dense), R0*R0 (LoRA) */
    TDBUF_ROW_SQ,  /* (max(NB,O)) per-row partial sums of the loss */
    TDBUF_ROW_ABS, /* (O) closed form: per-row sums of the loss terms' magnitudes */
    TDBUF_RR,      /* (2R R) LoRA closed form: A G A^T and B^T B, every epoch */
    TDBUF_COUNT
};

/* What a trainer for one model allocates: the size table that both
 * trainer_init and the memory estimate read. */
typedef struct {
    train_method method;
    size_t floats[TBUF_COUNT];   /* floats of each buffer (0: not used) */
    size_t doubles[TDBUF_COUNT]; /* doubles of each buffer */
    size_t scratch_floats;       /* per thread, in the pool */
    int yhat_rows;               /* P */
    size_t bytes;                /* all of it, pool scratch included */
} trainer_sizes;

/* The sizes for spec on n samples in batches of `batch` (<= 0 or >= n: full
 * batch). Returns -1 if a size overflows size_t. */
int trainer_sizes_for(trainer_sizes *sz, const model_spec *spec, int n, int batch,
                      const trainer_options *opt);

typedef struct {
    int n, batch, in, out, rank;
    int base_cols;    /* O0, the columns of base_all and base_rows */
    train_method method;
    const float *x;   /* (N,I) training inputs (borrowed) */
    const float *y;   /* (N,O) training targets (borrowed) */
    pool *pool;       /* worker threads and their scratch */
    float *mem;       /* one allocation for the float buffers, laid out by trainer_sizes */
    double *dmem;     /* one allocation for the double buffers */
    /* float buffers (shapes in the TBUF_ list above), NULL if unused */
    float *xb, *yb, *base_all, *base_rows, *yhat, *dy, *h, *dh, *act, *bt, *gram, *cross, *wg;
    float *nx, *nxr, *ny, *nbase, *lstat;
    const float *r0;  /* (N,O) LoRA closed form: Y - base output (base_all or y) */
    /* double buffers (the TDBUF_ list) */
    double *xsum, *ysum, *ysq, *row_sq, *row_abs, *rr;
    int yhat_rows;     /* P */
    int kernels_on_pool; /* the pool holds the matrix kernels' scratch (all but the
                          * narrow pass without a base, which needs none) */
    int narrow_cached; /* 1: nx, nxr, ny, nbase hold the full batch, filled once */
    long gram_fallbacks; /* closed-form epochs after the first whose loss came from a
                          * forward pass because of cancellation */
} trainer;

#define TRAIN_EVAL_ROWS 64

/* Set up training of m on (x, y), n samples, in batches of `batch` (<= 0 or
 * >= n: full batch). opt NULL: trainer_defaults(). x and y are borrowed and
 * must outlive the trainer; m must not be merged while it trains. */
ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, const trainer_options *opt, char *err, size_t errlen);
void trainer_free(trainer *t);

/* One epoch: for each batch in `order` (a permutation of 0..N-1, or NULL for
 * 0,1,2,...; ignored with full batches, where order cannot matter), one
 * step. Returns the mean of the batch losses, each taken before its own
 * update (the notebook's record). */
float trainer_epoch(trainer *t, model *m, const int *order, adam_config adam);

/* MSE of m on (x, y) without training, in chunks of t->yhat_rows rows. */
float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n);

#endif /* LORA_DEMO_TRAIN_H */
