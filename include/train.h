/* train.h - epochs of Adam on MSE for one model, with no allocation inside.
 *
 * Dimension key: N samples, B batch size, I in, O out, R rank.
 *
 * trainer_init allocates every buffer an epoch needs, once. For a LoRA model
 * on a frozen base it also computes the base output x W0^T + b0 for the whole
 * training set, once: the base never changes, so no epoch recomputes it.
 */
#ifndef LORA_DEMO_TRAIN_H
#define LORA_DEMO_TRAIN_H

#include "model.h"
#include "optim.h"
#include "status.h"

typedef struct {
    int n, batch, in, out, rank;
    const float *x;   /* (N,I) training inputs (borrowed) */
    const float *y;   /* (N,O) training targets (borrowed) */
    float *mem;       /* one allocation for all buffers below */
    float *xb;        /* (B,I) gathered batch inputs (mini-batch only) */
    float *yb;        /* (B,O) gathered batch targets (mini-batch only) */
    float *base_all;  /* (N,O) cached frozen-base output, or NULL */
    float *base_b;    /* (B,O) gathered base rows (mini-batch only) */
    float *yhat;      /* (B,O) predictions */
    float *dy;        /* (B,O) loss gradient */
    float *h;         /* (B,R) LoRA activation x A^T */
    float *dh;        /* (B,R) its gradient */
} trainer;

/* batch <= 0 or >= n means full batch. */
ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, char *err, size_t errlen);
void trainer_free(trainer *t);

/* One epoch: for each batch in `order` (a permutation of 0..N-1, or NULL for
 * 0,1,2,...; ignored with full batches, where order cannot matter), forward, MSE, backward, one Adam step. Returns the mean of the
 * batch losses, each taken before its own update (the notebook's record). */
float trainer_epoch(trainer *t, model *m, const int *order, adam_config cfg);

/* MSE of m on (x, y) without training; scratch comes from t when n <= t->batch,
 * otherwise the data are processed in batch-sized chunks. */
float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n);

#endif /* LORA_DEMO_TRAIN_H */
