/* model.c - the layer list, its parameter block, forward/backward, merge.
 *
 * Dimension key: N samples, I in, O out, R rank.
 */
#include "core/model.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"

model_spec model_spec_dense(int in, int out)
{
    model_spec s = {LAYER_DENSE, in, out, 0, 0.0, 0.0f, 0, 1.0, 0.0, 0};
    return s;
}

model_spec model_spec_lora(int in, int out, int rank, double alpha, float scale, int has_base)
{
    model_spec s = {LAYER_LORA, in, out, rank, alpha, scale, has_base, 1.0, 0.0, 0};
    return s;
}

model_spec model_spec_of(const model *m)
{
    const layer *L = &m->layers[0];
    model_spec s = {L->kind,     L->in,           L->out,      L->rank,
                    L->alpha,    L->scale,        L->has_base, L->loraplus_ratio,
                    L->dropout,  L->dora};
    return s;
}

/* ------------------------------------------------------------------------ */
/* the size table: one function says how many floats each tensor takes */

/* The tensors of one layer, in block order: (rows, cols), cols 0 for a
 * vector. Returns how many. */
static int layer_tensor_shapes(const model_spec *s, int rows[3], int cols[3])
{
    if (s->kind == LAYER_DENSE) {
        rows[0] = s->out, cols[0] = s->in;  /* weight (O,I) */
        rows[1] = s->out, cols[1] = 0;      /* bias (O) */
        return 2;
    }
    rows[0] = s->rank, cols[0] = s->in;  /* lora_A.weight (R,I) */
    rows[1] = s->out, cols[1] = s->rank; /* lora_B.weight (O,R) */
    if (!s->dora)
        return 2;
    rows[2] = s->out, cols[2] = 0;       /* lora_magnitude_vector.weight (O) */
    return 3;
}

/* PyTorch's parameter names, the adapter's name left out (PEFT's
 * lora_A.default.weight is lora_A.weight here). */
static const char *const tensor_names[2][3] = {
    {"weight", "bias", NULL}, {"lora_A.weight", "lora_B.weight", "lora_magnitude_vector.weight"}};

/* Parameters of spec, in size_t; -1 on overflow. */
static int spec_params(const model_spec *spec, size_t *n)
{
    int rows[3], cols[3];
    const int nt = layer_tensor_shapes(spec, rows, cols);
    *n = 0;
    for (int i = 0; i < nt; i++) {
        size_t numel = 0;
        if (ld_mul_size(&numel, (size_t)rows[i], (size_t)(cols[i] > 0 ? cols[i] : 1)) != 0 ||
            ld_add_size(n, *n, numel) != 0)
            return -1;
    }
    return 0;
}

size_t model_spec_params(const model_spec *spec)
{
    size_t n = 0;
    return spec_params(spec, &n) == 0 ? n : SIZE_MAX;
}

size_t model_spec_adam_bytes(const model_spec *spec)
{
    return 2 * model_spec_params(spec) * sizeof(float);
}

int model_spec_bytes(const model_spec *spec, size_t *bytes)
{
    size_t n = 0, base = 0;
    if (spec_params(spec, &n) != 0 || ld_mul3_size(bytes, n, 4, sizeof(float)) != 0)
        return -1;
    /* the frozen base W0 (O,I) and b0 (O), and DoRA's norms (O) */
    if (spec->kind == LAYER_LORA && spec->has_base &&
        (ld_mul3_size(&base, (size_t)spec->out, (size_t)spec->in + 1 + (spec->dora ? 1 : 0),
                      sizeof(float)) != 0 ||
         ld_add_size(bytes, *bytes, base) != 0))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* init and free */

static ld_status check_spec(const model_spec *s, char *err, size_t errlen)
{
    size_t bytes = 0;
    if (s->in <= 0 || s->out <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "invalid layer shape %d x %d", s->out, s->in);
    if (s->kind == LAYER_LORA && s->rank <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA rank %d", s->rank);
    if (!(s->loraplus_ratio >= 1.0 && s->loraplus_ratio <= DBL_MAX))
        return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA+ ratio %g (at least 1)",
                       s->loraplus_ratio);
    if (s->dora && (s->kind != LAYER_LORA || !s->has_base))
        return ld_fail(err, errlen, LD_EINPUT, "DoRA needs a LoRA layer on a frozen base");
    if (!(s->dropout >= 0.0 && s->dropout < 1.0) || (s->kind == LAYER_DENSE && s->dropout > 0.0))
        return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA dropout %g (a LoRA layer's, in [0, 1))",
                       s->dropout);
    /* every layer may come to hold an (O,I) weight: LoRA's merged base */
    if (ld_mul3_size(&bytes, (size_t)s->out, (size_t)s->in, 4 * sizeof(float)) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "a %d x %d layer does not fit in memory", s->out,
                       s->in);
    if (model_spec_bytes(s, &bytes) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "a rank-%d LoRA of %d -> %d does not fit in memory",
                       s->rank, s->in, s->out);
    return LD_OK;
}

/* Point layer L's parameter and gradient views at its tensors from t0. */
static void point_layer(model *m, layer *L, int t0)
{
    float **p0 = L->kind == LAYER_DENSE ? &L->W : &L->A;
    float **p1 = L->kind == LAYER_DENSE ? &L->b : &L->B;
    float **g0 = L->kind == LAYER_DENSE ? &L->dW : &L->dA;
    float **g1 = L->kind == LAYER_DENSE ? &L->db : &L->dB;
    *p0 = m->params + m->tensors[t0].offset;
    *p1 = m->params + m->tensors[t0 + 1].offset;
    *g0 = m->grads + m->tensors[t0].offset;
    *g1 = m->grads + m->tensors[t0 + 1].offset;
    if (L->dora) {
        L->mag = m->params + m->tensors[t0 + 2].offset;
        L->dmag = m->grads + m->tensors[t0 + 2].offset;
    }
}

/* Fill the tensor table from spec and allocate the one block. */
static ld_status alloc_block(model *m, const model_spec *spec, char *err, size_t errlen)
{
    int rows[3], cols[3];
    const int nt = layer_tensor_shapes(spec, rows, cols);
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        param_tensor *t = &m->tensors[m->n_tensors++];
        t->name = tensor_names[spec->kind][i];
        t->ndim = cols[i] > 0 ? 2 : 1;
        t->shape[0] = rows[i];
        t->shape[1] = cols[i];
        t->numel = (size_t)rows[i] * (size_t)(cols[i] > 0 ? cols[i] : 1);
        t->offset = off;
        /* PEFT's LoRA+ groups: lora_B and any 1-d tensor (DoRA's magnitude)
         * at ratio * lr */
        t->lr_ratio = spec->kind == LAYER_LORA && i >= 1 ? spec->loraplus_ratio : 1.0;
        off += t->numel;
    }
    const size_t n = off; /* check_spec proved 4 n floats fit in size_t */
    m->mem = calloc(1, 4 * n * sizeof(float));
    if (m->mem == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes for a model",
                       4 * n * sizeof(float));
    m->n_params = n;
    m->params = m->mem;
    m->grads = m->mem + n;
    m->adam_m = m->mem + 2 * n;
    m->adam_v = m->mem + 3 * n;
    return LD_OK;
}

/* An owned copy of the frozen base W0 (O,I), b0 (O) or zero bias. */
static ld_status copy_base(layer *L, const float *W0, const float *b0, char *err, size_t errlen)
{
    const size_t nw = (size_t)L->out * (size_t)L->in;
    L->W0 = malloc(nw * sizeof(float));
    L->b0 = b0 != NULL ? malloc((size_t)L->out * sizeof(float)) : NULL;
    if (L->W0 == NULL || (b0 != NULL && L->b0 == NULL))
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory copying a %d x %d base", L->out,
                       L->in);
    memcpy(L->W0, W0, nw * sizeof(float));
    if (b0 != NULL)
        memcpy(L->b0, b0, (size_t)L->out * sizeof(float));
    L->has_base = 1;
    return LD_OK;
}

ld_status model_init(model *m, const model_spec *spec, const float *W0, const float *b0, char *err,
                     size_t errlen)
{
    memset(m, 0, sizeof *m);
    ld_status st = check_spec(spec, err, errlen);
    if (st != LD_OK)
        return st;
    if (spec->kind == LAYER_LORA && spec->has_base && W0 == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "a LoRA layer on a frozen base needs its weight");
    m->n_layers = 1;
    rng_seed(&m->dropout_rng, 0, 0); /* a valid stream; a run seeds its own */
    m->in = spec->in;
    m->out = spec->out;
    layer *L = &m->layers[0];
    L->kind = spec->kind;
    L->in = spec->in;
    L->out = spec->out;
    L->rank = spec->rank;
    L->alpha = spec->alpha;
    L->scale = spec->scale;
    L->loraplus_ratio = spec->loraplus_ratio;
    L->dropout = spec->dropout;
    L->dora = spec->dora;
    st = alloc_block(m, spec, err, errlen);
    if (st == LD_OK) {
        point_layer(m, L, 0);
        if (spec->kind == LAYER_LORA && spec->has_base)
            st = copy_base(L, W0, b0, err, errlen);
    }
    if (st == LD_OK && L->dora) {
        L->norm = calloc((size_t)L->out, sizeof(float));
        if (L->norm == NULL)
            st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for DoRA's norms");
    }
    if (st != LD_OK)
        model_free(m);
    return st;
}

void model_free(model *m)
{
    for (int l = 0; l < m->n_layers; l++) {
        free(m->layers[l].W0);
        free(m->layers[l].b0);
        free(m->layers[l].norm);
    }
    free(m->mem);
    memset(m, 0, sizeof *m);
}

const param_tensor *model_find(const model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

void model_zero_grad(model *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ------------------------------------------------------------------------ */
/* forward and backward, layer by layer */

void layer_base_forward(const layer *L, float *y, const float *x, int N, pool *p)
{
    if (L->W0 != NULL)
        linear_forward(y, x, L->W0, L->b0, N, L->in, L->out, p);
    else
        memset(y, 0, (size_t)N * (size_t)L->out * sizeof(float));
}

/* y (N,O) = L(x); h (N,R) keeps xl A^T for backward, xl the LoRA branch's
 * input: x, or its dropout (training only). u (N,O): DoRA's saved
 * activation, or NULL (evaluation). */
static void layer_forward(const layer *L, float *y, float *h, float *u, const float *xl,
                          const float *x, const float *base_out, int N, pool *p)
{
    if (L->kind == LAYER_DENSE) {
        linear_forward(y, x, L->W, L->b, N, L->in, L->out, p);
        return;
    }
    if (L->merged) {
        linear_forward(y, x, L->W0, L->b0, N, L->in, L->out, p);
        return;
    }
    if (base_out != NULL)
        memcpy(y, base_out, (size_t)N * (size_t)L->out * sizeof(float));
    else
        layer_base_forward(L, y, x, N, p); /* zeros without a base */
    if (!L->dora) {
        lora_forward(y, h, xl, L->A, L->B, L->scale, N, L->in, L->rank, L->out, p);
        return;
    }
    /* DoRA: n afresh from this step's A and B; with dropout PEFT recomputes
     * the base's part from the dropped input, without bias */
    dora_norm(L->norm, L->W0, L->A, L->B, L->scale, L->in, L->rank, L->out);
    const float *bw = NULL;
    if (xl != x && u != NULL) {
        linear_forward(u, xl, L->W0, NULL, N, L->in, L->out, p);
        bw = u;
    }
    dora_forward(y, h, u, xl, bw, L->b0, L->A, L->B, L->mag, L->norm, L->scale, N, L->in,
                 L->rank, L->out, p);
}

static void layer_backward(layer *L, float *dy, float *dh, const float *h, const float *u,
                           const float *xl, const float *x, int N, pool *p)
{
    if (L->kind == LAYER_DENSE)
        linear_backward(NULL, L->dW, L->db, dy, x, L->W, N, L->in, L->out, p);
    else if (L->dora)
        dora_backward(L->dA, L->dB, L->dmag, dh, dy, h, u, xl, L->B, L->mag, L->norm, L->scale, N,
                      L->in, L->rank, L->out, p);
    else
        lora_backward(L->dA, L->dB, dh, dy, h, xl, L->B, L->scale, N, L->in, L->rank, L->out, p);
}

void model_forward(const model *m, float *y, float *h, const float *x, const float *base_out,
                   int N, pool *p)
{
    for (int l = 0; l < m->n_layers; l++) /* one layer today (model.h) */
        layer_forward(&m->layers[l], y, h, NULL, x, x, base_out, N, p);
}

int model_has_dropout(const model *m)
{
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].dropout > 0.0)
            return 1;
    return 0;
}

int model_act_floats(const model_spec *spec, int N, size_t *n)
{
    size_t xd = 0, u = 0;
    const int lora = spec->kind == LAYER_LORA;
    if ((lora && spec->dropout > 0.0 && ld_mul_size(&xd, (size_t)N, (size_t)spec->in) != 0) ||
        (lora && spec->dora && ld_mul_size(&u, (size_t)N, (size_t)spec->out) != 0))
        return -1;
    return ld_add_size(n, xd, u);
}

/* Layer L's saved activations in act: the dropped input xd (N,I), then
 * DoRA's u (N,O), each only if L has it. */
static void layer_acts(const layer *L, float *act, int N, float **xd, float **u)
{
    const int drop = L->kind == LAYER_LORA && L->dropout > 0.0;
    *xd = act != NULL && drop ? act : NULL;
    *u = act != NULL && L->dora ? act + (drop ? (size_t)N * (size_t)L->in : 0) : NULL;
}

/* The LoRA branch's input of layer L in a training step: x, or x through
 * dropout into xd with masks from m's replay or stream. */
static const float *branch_input(model *m, const layer *L, float *xd, const float *x, int N)
{
    if (xd == NULL)
        return x;
    const size_t n = (size_t)N * (size_t)L->in;
    const float *replay = NULL;
    if (m->dropout_replay != NULL && m->dropout_replay_n - m->dropout_replay_used >= n) {
        replay = m->dropout_replay + m->dropout_replay_used;
        m->dropout_replay_used += n;
    }
    lora_dropout_forward(xd, x, L->dropout, replay, &m->dropout_rng, N, L->in);
    return xd;
}

void model_forward_train(model *m, float *y, float *h, float *act, const float *x,
                         const float *base_out, int N, pool *p)
{
    for (int l = 0; l < m->n_layers; l++) {
        const layer *L = &m->layers[l];
        float *xd, *u;
        layer_acts(L, act, N, &xd, &u);
        layer_forward(L, y, h, u, branch_input(m, L, xd, x, N), x, base_out, N, p);
    }
}

void model_backward(model *m, float *dy, float *dh, const float *h, const float *act,
                    const float *x, int N, pool *p)
{
    for (int l = m->n_layers - 1; l >= 0; l--) {
        layer *L = &m->layers[l];
        float *xd, *u;
        layer_acts(L, (float *)act, N, &xd, &u); /* only read here */
        layer_backward(L, dy, dh, h, u, xd != NULL ? xd : x, x, N, p);
    }
}

void model_dora_init(model *m)
{
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        if (L->dora)
            dora_norm(L->mag, L->W0, L->A, L->B, L->scale, L->in, L->rank, L->out);
    }
}

void model_adam_step(model *m, adam_config adam)
{
    m->step++;
    model_adam_span(m, 0, m->n_params, adam);
}

void model_adam_span(model *m, size_t lo, size_t hi, adam_config adam)
{
    for (int k = 0; k < m->n_tensors; k++) {
        const param_tensor *t = &m->tensors[k];
        const size_t a = t->offset > lo ? t->offset : lo;
        const size_t b = t->offset + t->numel < hi ? t->offset + t->numel : hi;
        if (a >= b)
            continue;
        adam_config c = adam;
        c.lr = adam.lr * t->lr_ratio; /* a Python float product, as in PEFT's param groups */
        adam_step(m->params + a, m->grads + a, m->adam_m + a, m->adam_v + a, b - a, m->step, c);
    }
}

/* ------------------------------------------------------------------------ */
/* merge */

ld_status model_merge(model *m, char *err, size_t errlen)
{
    layer *L = &m->layers[0];
    if (m->n_layers == 0 || L->kind != LAYER_LORA)
        return ld_fail(err, errlen, LD_ESTATE, "only a LoRA model can be merged");
    if (L->merged)
        return ld_fail(err, errlen, LD_ESTATE, "LoRA r=%d is already merged", L->rank);
    if (L->W0 == NULL) {
        /* scratch LoRA: the merged weight is s B A on a zero base */
        L->W0 = calloc((size_t)L->out * (size_t)L->in, sizeof(float));
        if (L->W0 == NULL)
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory merging LoRA r=%d", L->rank);
    }
    if (L->dora) {
        /* PEFT's merge_unsafe: n of W0 + s B A, kept for the unmerge */
        dora_norm(L->norm, L->W0, L->A, L->B, L->scale, L->in, L->rank, L->out);
        dora_merge_into(L->W0, L->A, L->B, L->mag, L->norm, L->scale, 1.0f, L->in, L->rank,
                        L->out);
    } else {
        lora_merge_into(L->W0, L->A, L->B, L->scale, 1.0f, L->in, L->rank, L->out);
    }
    L->merged = 1;
    return LD_OK;
}

ld_status model_unmerge(model *m, char *err, size_t errlen)
{
    layer *L = &m->layers[0];
    if (m->n_layers == 0 || L->kind != LAYER_LORA || !L->merged)
        return ld_fail(err, errlen, LD_ESTATE, "model is not merged");
    if (L->dora)
        dora_merge_into(L->W0, L->A, L->B, L->mag, L->norm, L->scale, -1.0f, L->in, L->rank,
                        L->out);
    else
        lora_merge_into(L->W0, L->A, L->B, L->scale, -1.0f, L->in, L->rank, L->out);
    L->merged = 0;
    return LD_OK;
}
