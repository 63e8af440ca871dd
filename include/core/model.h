/* model.h - one trainable model (dense or LoRA) and its parameter block.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * Every model keeps all of its trainable state in ONE allocation laid out as
 *     params | grads | adam_m | adam_v        (n_params floats each)
 * with a table (tensors[]) naming each parameter the way PyTorch does and
 * giving its shape and offset. Gradients and Adam moments share the layout,
 * so the optimizer is one flat loop and the state is easy to save or compare.
 *
 *   dense:  weight (O,I), bias (O)                 y = x W^T + b
 *   LoRA:   lora_A.weight (R,I), lora_B.weight (O,R)
 *           y = [x W0^T + b0] + s * (x A^T) B^T   (bracket only with a base)
 *
 * A LoRA model may carry a frozen base (W0, b0): an owned copy that receives
 * no gradient. model_merge folds s*B.A into it so the model predicts as a
 * plain dense layer; model_unmerge takes it out again.
 */
#ifndef LORA_DEMO_MODEL_H
#define LORA_DEMO_MODEL_H

#include <stddef.h>

#include "core/optim.h"
#include "status.h"

typedef enum { MODEL_DENSE = 0, MODEL_LORA = 1 } model_kind;

#define MODEL_MAX_TENSORS 2

typedef struct {
    const char *name; /* PyTorch parameter name */
    int ndim;         /* 1 or 2 */
    int shape[2];     /* (rows, cols) or (len, -) */
    size_t offset;    /* in floats, from the start of each span */
    size_t numel;
} param_tensor;

typedef struct {
    model_kind kind;
    int in, out, rank; /* rank 0 for dense */
    float alpha;       /* LoRA alpha (0 for dense) */
    float scale;       /* factor on B.A: alpha/R or alpha/sqrt(R) (0 for dense) */

    size_t n_params;
    float *mem;     /* the one allocation, 4 * n_params floats */
    float *params;  /* (n_params) */
    float *grads;   /* (n_params) */
    float *adam_m;  /* (n_params) */
    float *adam_v;  /* (n_params) */
    long step;      /* Adam steps taken */
    int n_tensors;
    param_tensor tensors[MODEL_MAX_TENSORS];

    /* views into params / grads */
    float *w, *b;   /* dense: (O,I), (O) */
    float *dw, *db; /* dense grads */
    float *a, *bm;  /* LoRA: A (R,I), B (O,R) */
    float *da, *dbm;

    /* frozen base for LoRA (owned); NULL for dense and for scratch LoRA
     * until a merge needs one */
    float *base_w; /* (O,I) */
    float *base_b; /* (O) or NULL: zero bias */
    int has_base;  /* 1 if the model was built on a frozen base */
    int merged;    /* 1 after model_merge, until model_unmerge */
} model;

/* Allocate a dense model with zeroed parameters. */
ld_status model_init_dense(model *m, int in, int out, char *err, size_t errlen);
/* Allocate a LoRA model with zeroed A, B. base_w (O,I) and base_b (O) are
 * copied if non-NULL (base_b may be NULL with base_w set: zero bias). */
ld_status model_init_lora(model *m, int in, int out, int rank, float alpha, float scale,
                          const float *base_w, const float *base_b, char *err, size_t errlen);
void model_free(model *m);

/* Look up a parameter by its PyTorch name; NULL if absent. */
const param_tensor *model_find(const model *m, const char *name);

void model_zero_grad(model *m);

/* Output of the frozen base alone: y (N,O) = x W0^T + b0 (zeros if no base). */
void model_base_forward(const model *m, float *y, const float *x, int N);

/* y (N,O) = model(x). h (N,R) saves the LoRA activation x A^T (unused for
 * dense). base_out (N,O) is the precomputed base output, or NULL to compute
 * it here. A merged model predicts with its merged dense weight. */
void model_forward(const model *m, float *y, float *h, const float *x, const float *base_out,
                   int N);

/* Accumulate grads from dy (N,O). dy is used as scratch (overwritten). */
void model_backward(model *m, float *dy, float *dh, const float *h, const float *x, int N);

/* One Adam step over the whole parameter block. */
void model_adam_step(model *m, adam_config cfg);

/* Merge s*B.A into the base (LD_ESTATE if already merged or dense). */
ld_status model_merge(model *m, char *err, size_t errlen);
/* Undo model_merge (LD_ESTATE if not merged). */
ld_status model_unmerge(model *m, char *err, size_t errlen);

/* Number of trainable parameters and bytes of Adam state. */
size_t model_trainable(const model *m);
size_t model_optimizer_bytes(const model *m);

#endif /* LORA_DEMO_MODEL_H */
