/* model.h - a model as an ordered list of layers, with one parameter block.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * A layer is dense or LoRA:
 *   dense:  y = x W^T + b                          weight (O,I), bias (O)
 *   LoRA:   y = [x W0^T + b0] + s (x A^T) B^T      lora_A.weight (R,I), lora_B.weight (O,R)
 *           (the bracket only on a frozen base; s = alpha/R, or alpha/sqrt(R) for rsLoRA)
 * A model is one layer (the notebook's) or a network in -> h1 -> ... -> out
 * (--hidden) with an activation between layers, never after the last one:
 *   z_l = layer_l(a_{l-1}),  a_l = act(z_l),  a_{-1} = x,  y = z_{L-1}.
 * Every layer of a network is of the same kind, rank and scale. A LoRA
 * network from scratch (no base) gives each layer a trainable bias `bias`
 * (O), as nn.Linear's; the one-layer LoRA keeps the notebook's bias-free
 * layer. Tensor names: one layer "weight", "bias", "lora_A.weight",
 * "lora_B.weight"; a network "layers.<l>." before each, as PyTorch names the
 * parameters of a module holding nn.ModuleList([...]) in `self.layers`.
 *
 * Every trainable number of the model lives in ONE allocation laid out as
 *     params | grads | adam_m | adam_v        (n_params floats each)
 * with a table (tensors[]) naming each parameter the way PyTorch does and
 * giving its shape and offset. Gradients and Adam moments share the layout,
 * so the optimizer is one flat loop and the state is easy to save or compare
 * (llm.c's fill_in_parameter_sizes). model_spec describes a model before it
 * exists, so the memory estimate reads the same sizes model_init allocates.
 *
 * LoRA+ (Hayou et al. 2024; PEFT's create_loraplus_optimizer, in
 * src/peft/optimizers/loraplus.py) trains lora_B.weight at loraplus_ratio
 * times Adam's learning rate: the ratio is the tensor table's lr_ratio, so
 * the optimizer stays one loop over spans of the block.
 *
 * LoRA dropout (PEFT: lora_B(lora_A(dropout(x))) * scaling, in
 * src/peft/tuners/lora/layer.py, Linear.forward) drops the LoRA branch's
 * input only, in training only (model_forward_train); evaluation and merge
 * see no dropout, as nn.Dropout in eval mode.
 *
 * DoRA (PEFT's DoraLinearLayer, src/peft/tuners/lora/dora.py) adds a
 * trainable magnitude lora_magnitude_vector (O) to a LoRA layer on a frozen
 * base (core/lora.h: dora_forward); the merge folds it in as
 * W = (mag / n)(W0 + s B A).
 *
 * Each variant works on every layer of a network: LoRA+ is per tensor;
 * dropout draws each layer's masks in turn (layer 0 first) and keeps each
 * layer's dropped input and mask, so that the gradient at a layer's input
 * includes the LoRA branch's path through the mask; DoRA keeps each
 * layer's norms and u, and carries (mag/n) dy W0 down (n held).
 *
 * A LoRA layer may carry a frozen base (W0, b0): an owned copy that receives
 * no gradient. model_merge folds s B A into it so the layer predicts as a
 * plain dense one; model_unmerge takes it out again.
 */
#ifndef LORA_DEMO_MODEL_H
#define LORA_DEMO_MODEL_H

#include <stddef.h>

#include "core/activation.h"
#include "core/optim.h"
#include "core/rng.h"
#include "kernels/pool.h"
#include "status.h"

typedef enum { LAYER_DENSE = 0, LAYER_LORA = 1 } layer_kind;

/* At most 8 layers, 7 hidden (--hidden takes up to MODEL_MAX_LAYERS - 1 sizes). */
#define MODEL_MAX_LAYERS 8
#define MODEL_MAX_TENSORS (3 * MODEL_MAX_LAYERS)

/* What a model will be, before it is allocated. Layer l maps I_l -> O_l:
 * I_0 = in, I_l = hidden[l-1], O_l = hidden[l], O_{L-1} = out. */
typedef struct {
    layer_kind kind;
    int in, out;  /* the model's I, O */
    int rank;     /* R; 0 for dense */
    double alpha; /* LoRA alpha as given (0 for dense); only scale enters the math */
    float scale;  /* s, the factor on B A (0 for dense) */
    int has_base; /* LoRA on a frozen base W0 (O,I), b0 (O) */
    int n_hidden; /* hidden layers; 0: the one-layer model */
    int hidden[MODEL_MAX_LAYERS - 1]; /* their widths */
    activation_kind act; /* between layers (n_hidden > 0) */
    double loraplus_ratio; /* LoRA+: lora_B's learning rate over lora_A's, >= 1 (1: plain) */
    double dropout;        /* LoRA dropout p on the LoRA branch's input, [0, 1) (0: none) */
    int dora;              /* DoRA: a trainable magnitude (O) on the frozen base (has_base) */
} model_spec;

typedef struct {
    const char *name; /* PyTorch parameter name */
    int ndim;         /* 1 or 2 */
    int shape[2];     /* (rows, cols) or (len, -) */
    size_t offset;    /* in floats, from the start of each span */
    size_t numel;
    double lr_ratio;  /* its learning rate over Adam's lr: LoRA+'s ratio for
                       * lora_B.weight, 1 for every other tensor */
} param_tensor;

typedef struct {
    layer_kind kind;
    int in, out, rank; /* I, O, R (R = 0 for dense) */
    double alpha; /* as in model_spec */
    float scale;
    double loraplus_ratio; /* as in model_spec */
    double dropout;        /* as in model_spec */
    int dora;              /* as in model_spec */
    float *mag, *dmag;     /* DoRA: lora_magnitude_vector (O), a view into the block */
    float *norm;           /* DoRA (owned): (O) row norms of W0 + s B A of the last
                            * forward, or of the merge while merged */
    int norm_held;         /* DoRA: 1 keeps norm as it is in forward (gradient
                            * checks with n held constant, as backward holds it) */
    /* views into the model's params and grads */
    float *W, *b;   /* dense: (O,I), (O); b also a scratch LoRA network's bias */
    float *dW, *db;
    float *A, *B;   /* LoRA: (R,I), (O,R) */
    float *dA, *dB;
    /* LoRA's frozen base (owned): NULL without one, until a merge needs it */
    float *W0;    /* (O,I) */
    float *b0;    /* (O), or NULL: zero bias */
    int has_base; /* built on a frozen base */
    int merged;   /* 1 after model_merge, until model_unmerge */
} layer;

typedef struct {
    int n_layers;
    layer layers[MODEL_MAX_LAYERS];
    int in, out;    /* the first layer's I, the last layer's O */
    activation_kind act; /* between layers */

    size_t n_params;
    float *mem;     /* the one allocation, 4 * n_params floats */
    float *params;  /* (n_params) */
    float *grads;   /* (n_params) */
    float *adam_m;  /* (n_params) */
    float *adam_v;  /* (n_params) */
    long step;      /* Adam steps taken */
    /* LoRA dropout's masks, for model_forward_train: drawn from
     * dropout_rng (the run seeds it: experiment.h, STREAM_DROPOUT_BASE),
     * or replayed from dropout_replay, keep flags (0 or 1) consumed in order,
     * N*I per layer with dropout per step (tests: PyTorch's masks) */
    rng dropout_rng;
    const float *dropout_replay;
    size_t dropout_replay_n, dropout_replay_used;
    int n_tensors;
    param_tensor tensors[MODEL_MAX_TENSORS];
} model;

/* The spec of one dense layer, and of one LoRA layer. */
model_spec model_spec_dense(int in, int out);
model_spec model_spec_lora(int in, int out, int rank, double alpha, float scale, int has_base);

/* spec made a network: n_hidden widths in hidden[], act between layers. */
model_spec model_spec_network(model_spec spec, int n_hidden, const int *hidden,
                              activation_kind act);

/* The spec m was built from. */
model_spec model_spec_of(const model *m);

/* Layers of spec, and layer l's I and O. */
int model_spec_layers(const model_spec *spec);
int model_spec_layer_in(const model_spec *spec, int l);
int model_spec_layer_out(const model_spec *spec, int l);
/* Whether spec's LoRA layers carry a trainable bias: a network without a base. */
int model_spec_lora_bias(const model_spec *spec);

/* Floats of the activations model_forward saves for N rows (`acts`), and of
 * the scratch model_backward needs (`scratch`). One layer: N R each.
 * SIZE_MAX on overflow. */
size_t model_acts_floats(const model_spec *spec, size_t N);
size_t model_scratch_floats(const model_spec *spec, size_t N);

/* Where layer l's saved activations sit in acts (model_acts_floats's
 * layout), in floats from its start: h (N,R), then z and a (N,O_l) of a
 * hidden layer. The one definition of that layout; net_fast.c reads it too. */
typedef struct {
    size_t h, z, a;
} model_layer_acts;
model_layer_acts model_acts_of(const model *m, int l, int N);

/* Trainable parameters of a model of this spec (what model_init lays out),
 * and the bytes of their Adam moments m and v. */
size_t model_spec_params(const model_spec *spec);
size_t model_spec_adam_bytes(const model_spec *spec);
/* Bytes model_init allocates for it: the parameter block and a frozen base.
 * Returns -1 on overflow. */
int model_spec_bytes(const model_spec *spec, size_t *bytes);

/* Allocate a model of spec with zeroed parameters. With spec->has_base, W0
 * and b0 are copied: every layer's (O_l,I_l) weight, one after another, and
 * every layer's (O_l) bias the same way (b0 may be NULL: zero biases). */
ld_status model_init(model *m, const model_spec *spec, const float *W0, const float *b0, char *err,
                     size_t errlen);
void model_free(model *m);

/* Look up a parameter by its PyTorch name; NULL if absent. */
const param_tensor *model_find(const model *m, const char *name);

void model_zero_grad(model *m);

/* Output of a LoRA layer's frozen base alone: y (N,O) = x W0^T + b0. */
void layer_base_forward(const layer *L, float *y, const float *x, int N, pool *p);

/* p below: a thread pool for the matrix products, or NULL (core/linear.h). */

/* y (N,O) = model(x). acts (model_acts_floats) saves what backward needs,
 * layer by layer: a LoRA layer's h = x A^T (N,R_l), then for a hidden layer
 * z_l and a_l (N,O_l); for one layer it is just h (N,R), unused for dense.
 * base_out (N,O_0) is the first layer's frozen base output computed before,
 * or NULL to compute it here. A merged layer predicts with its merged weight. */
void model_forward(const model *m, float *y, float *acts, const float *x, const float *base_out,
                   int N, pool *p);

/* 1 if some layer of m has LoRA dropout. */
int model_has_dropout(const model *m);

/* *n = floats of the variants' activations that a training step of N rows
 * saves for backward (`vact`; 0 for plain LoRA and for dense), layer after
 * layer: with dropout the dropped input xd and the mask's derivative keep
 * (N,I_l) each, with DoRA u = bw + s h B^T (N,O_l), in that order. -1 on
 * overflow. */
int model_act_floats(const model_spec *spec, int N, size_t *n);

/* model_forward for a training step: as model_forward, except that a LoRA
 * layer with dropout draws its masks (see model.dropout_rng) and feeds the
 * LoRA branch xd = dropout(x) (layer by layer, in order), and that the
 * variants' activations go to vact
 * (model_act_floats), which backward needs. vact may be NULL when there are
 * none; then this is model_forward. */
void model_forward_train(model *m, float *y, float *acts, float *vact, const float *x,
                         const float *base_out, int N, pool *p);

/* Accumulate grads from dy (N,O) and the saved acts (and vact, what
 * model_forward_train saved, or NULL). dy is overwritten (LoRA scales it in
 * place); scratch (model_scratch_floats) holds dh (N,R) and, in a network,
 * the gradients flowing between layers (none is formed for the first
 * layer's input: it is data) and, with dropout or DoRA, two more buffers
 * for them. */
void model_backward(model *m, float *dy, float *scratch, const float *acts, const float *vact,
                    const float *x, int N, pool *p);

/* DoRA: set every DoRA layer's magnitude to the row norms of W0 + s B A,
 * as PEFT's DoraLinearLayer.update_layer does when the adapter is made. */
void model_dora_init(model *m);

/* One Adam step over the whole parameter block. */
void model_adam_step(model *m, adam_config adam);
/* Adam on the block's elements [lo, hi) at step m->step (already counted),
 * each tensor at its own learning rate adam.lr * lr_ratio (LoRA+), so that
 * shares of the block on several threads give the bits of one call. */
void model_adam_span(model *m, size_t lo, size_t hi, adam_config adam);

/* Merge s B A into every LoRA layer's base (LD_ESTATE if already merged or
 * if the model has no LoRA layer). */
ld_status model_merge(model *m, char *err, size_t errlen);
/* Undo model_merge (LD_ESTATE if not merged). */
ld_status model_unmerge(model *m, char *err, size_t errlen);

#endif /* LORA_DEMO_MODEL_H */
