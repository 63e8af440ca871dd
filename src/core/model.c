/* model.c - the layer list, its parameter block, forward/backward (the
 * optimizer step, DoRA's start, merge and unmerge are in model_update.c).
 *
 * Dimension key: N samples, I in, O out, R rank.
 */
#include "core/model.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"
#include "kernels/matmul.h"

model_spec model_spec_dense(int in, int out)
{
    model_spec s;
    memset(&s, 0, sizeof s);
    s.kind = LAYER_DENSE;
    s.in = in;
    s.out = out;
    s.loraplus_ratio = 1.0; /* LoRA+ off */
    return s;
}

model_spec model_spec_lora(int in, int out, int rank, double alpha, float scale, int has_base)
{
    model_spec s = model_spec_dense(in, out);
    s.kind = LAYER_LORA;
    s.rank = rank;
    s.alpha = alpha;
    s.scale = scale;
    s.has_base = has_base;
    return s;
}

model_spec model_spec_network(model_spec spec, int n_hidden, const int *hidden,
                              activation_kind act)
{
    spec.n_hidden = n_hidden;
    for (int l = 0; l < n_hidden; l++)
        spec.hidden[l] = hidden[l];
    spec.act = act;
    return spec;
}

model_spec model_spec_of(const model *m)
{
    const layer *L = &m->layers[0];
    model_spec s = model_spec_lora(m->in, m->out, L->rank, L->alpha, L->scale, L->has_base);
    s.kind = L->kind;
    s.n_hidden = m->n_layers - 1;
    for (int l = 0; l + 1 < m->n_layers; l++)
        s.hidden[l] = m->layers[l].out;
    s.act = m->act;
    s.loraplus_ratio = L->loraplus_ratio;
    s.dropout = L->dropout;
    s.dora = L->dora;
    return s;
}

int model_spec_layers(const model_spec *spec)
{
    return spec->n_hidden + 1;
}

int model_spec_layer_in(const model_spec *spec, int l)
{
    return l == 0 ? spec->in : spec->hidden[l - 1];
}

int model_spec_layer_out(const model_spec *spec, int l)
{
    return l == spec->n_hidden ? spec->out : spec->hidden[l];
}

int model_spec_lora_bias(const model_spec *spec)
{
    return spec->kind == LAYER_LORA && spec->n_hidden > 0 && !spec->has_base;
}

/* ------------------------------------------------------------------------ */
/* the size table: one function says how many floats each tensor takes */

/* The spec of layer l alone: what it allocates and how it computes. */
static model_spec layer_spec(const model_spec *spec, int l)
{
    model_spec s = *spec;
    s.in = model_spec_layer_in(spec, l);
    s.out = model_spec_layer_out(spec, l);
    s.n_hidden = 0;
    return s;
}

/* The tensors of layer l of spec, in block order: (rows, cols), cols 0 for a
 * vector, and the index of each one's name in tensor_names. Returns how many. */
static int layer_tensor_shapes(const model_spec *spec, int l, int rows[3], int cols[3],
                               int name[3])
{
    const model_spec s = layer_spec(spec, l);
    if (s.kind == LAYER_DENSE) {
        rows[0] = s.out, cols[0] = s.in, name[0] = 0;   /* weight (O,I) */
        rows[1] = s.out, cols[1] = 0, name[1] = 1;      /* bias (O) */
        return 2;
    }
    rows[0] = s.rank, cols[0] = s.in, name[0] = 2;      /* lora_A.weight (R,I) */
    rows[1] = s.out, cols[1] = s.rank, name[1] = 3;     /* lora_B.weight (O,R) */
    if (model_spec_lora_bias(spec)) {
        rows[2] = s.out, cols[2] = 0, name[2] = 1;      /* bias (O) */
        return 3;
    }
    if (s.dora) { /* on a frozen base, so never with the scratch bias */
        rows[2] = s.out, cols[2] = 0, name[2] = 4;      /* lora_magnitude_vector.weight (O) */
        return 3;
    }
    return 2;
}

/* PyTorch's names: one layer, then layer l of a network ("layers.<l>.").
 * The adapter's name is left out (PEFT's lora_A.default.weight is
 * lora_A.weight here). */
#define LAYER_NAMES(l)                                                                      \
    {"layers." #l ".weight", "layers." #l ".bias", "layers." #l ".lora_A.weight",           \
     "layers." #l ".lora_B.weight", "layers." #l ".lora_magnitude_vector.weight"}
static const char *const tensor_names[5] = {"weight", "bias", "lora_A.weight", "lora_B.weight",
                                            "lora_magnitude_vector.weight"};
static const char *const network_names[MODEL_MAX_LAYERS][5] = {
    LAYER_NAMES(0), LAYER_NAMES(1), LAYER_NAMES(2), LAYER_NAMES(3),
    LAYER_NAMES(4), LAYER_NAMES(5), LAYER_NAMES(6), LAYER_NAMES(7)};

/* Parameters of spec, in size_t; -1 on overflow. */
static int spec_params(const model_spec *spec, size_t *n)
{
    *n = 0;
    for (int l = 0; l < model_spec_layers(spec); l++) {
        int rows[3], cols[3], name[3];
        const int nt = layer_tensor_shapes(spec, l, rows, cols, name);
        for (int i = 0; i < nt; i++) {
            size_t numel = 0;
            if (ld_mul_size(&numel, (size_t)rows[i], (size_t)(cols[i] > 0 ? cols[i] : 1)) != 0 ||
                ld_add_size(n, *n, numel) != 0)
                return -1;
        }
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
    size_t n = 0;
    if (spec_params(spec, &n) != 0 || ld_mul3_size(bytes, n, 4, sizeof(float)) != 0)
        return -1;
    if (spec->kind != LAYER_LORA || !spec->has_base)
        return 0;
    /* each layer's frozen base W0 (O,I) and b0 (O), and DoRA's norms (O) */
    for (int l = 0; l < model_spec_layers(spec); l++) {
        size_t base = 0;
        if (ld_mul3_size(&base, (size_t)model_spec_layer_out(spec, l),
                         (size_t)model_spec_layer_in(spec, l) + 1 + (spec->dora ? 1 : 0),
                         sizeof(float)) != 0 ||
            ld_add_size(bytes, *bytes, base) != 0)
            return -1;
    }
    return 0;
}

size_t model_acts_floats(const model_spec *spec, size_t N)
{
    size_t n = 0, t = 0;
    int bad = 0;
    for (int l = 0; l < model_spec_layers(spec); l++) {
        bad |= ld_mul_size(&t, N, (size_t)spec->rank); /* h_l (N,R); R = 0 for dense */
        bad |= ld_add_size(&n, n, t);
        if (l < spec->n_hidden) {
            bad |= ld_mul3_size(&t, 2, N, (size_t)spec->hidden[l]); /* z_l, a_l (N,O_l) */
            bad |= ld_add_size(&n, n, t);
        }
    }
    return bad ? SIZE_MAX : n;
}

size_t model_scratch_floats(const model_spec *spec, size_t N)
{
    size_t widest = 0, n = 0, t = 0;
    int bad = 0;
    for (int l = 0; l < spec->n_hidden; l++)
        if ((size_t)spec->hidden[l] > widest)
            widest = (size_t)spec->hidden[l];
    bad |= ld_mul_size(&n, N, (size_t)spec->rank);   /* dh (N,R) */
    bad |= ld_mul3_size(&t, 2, N, widest);           /* two (N,H) */
    bad |= ld_add_size(&n, n, t);
    if (spec->n_hidden > 0 && spec->kind == LAYER_LORA && (spec->dropout > 0.0 || spec->dora)) {
        /* a network's dropout or DoRA: two (N, widest layer side) more for
         * the gradient at a layer's input (model_backward) */
        size_t side = (size_t)(spec->in > spec->out ? spec->in : spec->out);
        side = widest > side ? widest : side;
        bad |= ld_mul3_size(&t, 2, N, side);
        bad |= ld_add_size(&n, n, t);
    }
    return bad ? SIZE_MAX : n;
}

/* ------------------------------------------------------------------------ */
/* init and free */

static ld_status check_spec(const model_spec *spec, char *err, size_t errlen)
{
    size_t bytes = 0;
    if (spec->n_hidden < 0 || spec->n_hidden >= MODEL_MAX_LAYERS)
        return ld_fail(err, errlen, LD_EINPUT, "invalid number of hidden layers %d",
                       spec->n_hidden);
    if (!(spec->loraplus_ratio >= 1.0 && spec->loraplus_ratio <= DBL_MAX))
        return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA+ ratio %g (at least 1)",
                       spec->loraplus_ratio);
    if (spec->dora && (spec->kind != LAYER_LORA || !spec->has_base))
        return ld_fail(err, errlen, LD_EINPUT, "DoRA needs a LoRA layer on a frozen base");
    if (!(spec->dropout >= 0.0 && spec->dropout < 1.0) ||
        (spec->kind == LAYER_DENSE && spec->dropout > 0.0))
        return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA dropout %g (a LoRA layer's, in [0, 1))",
                       spec->dropout);
    for (int l = 0; l < model_spec_layers(spec); l++) {
        const model_spec s = layer_spec(spec, l);
        if (s.in <= 0 || s.out <= 0)
            return ld_fail(err, errlen, LD_EINPUT, "invalid layer shape %d x %d", s.out, s.in);
        if (s.kind == LAYER_LORA && s.rank <= 0)
            return ld_fail(err, errlen, LD_EINPUT, "invalid LoRA rank %d", s.rank);
        /* every layer may come to hold an (O,I) weight: LoRA's merged base */
        if (ld_mul3_size(&bytes, (size_t)s.out, (size_t)s.in, 4 * sizeof(float)) != 0)
            return ld_fail(err, errlen, LD_ENOMEM, "a %d x %d layer does not fit in memory", s.out,
                           s.in);
    }
    if (model_spec_bytes(spec, &bytes) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "a rank-%d LoRA of %d -> %d does not fit in memory",
                       spec->rank, spec->in, spec->out);
    return LD_OK;
}

/* Point layer L's parameter and gradient views at its tensors [t0, t0+nt),
 * by the kind of name each has (layer_tensor_shapes). */
static void point_layer(model *m, layer *L, int t0, int nt, const int name[3])
{
    for (int i = 0; i < nt; i++) {
        float *p = m->params + m->tensors[t0 + i].offset;
        float *g = m->grads + m->tensors[t0 + i].offset;
        switch (name[i]) {
        case 0: L->W = p, L->dW = g; break;
        case 1: L->b = p, L->db = g; break;
        case 2: L->A = p, L->dA = g; break;
        case 3: L->B = p, L->dB = g; break;
        default: L->mag = p, L->dmag = g; break;
        }
    }
}

/* Fill the tensor table from spec, allocate the one block and point every
 * layer into it. */
static ld_status alloc_block(model *m, const model_spec *spec, char *err, size_t errlen)
{
    size_t off = 0;
    int first[MODEL_MAX_LAYERS], count[MODEL_MAX_LAYERS], names[MODEL_MAX_LAYERS][3];
    for (int l = 0; l < m->n_layers; l++) {
        int rows[3], cols[3];
        count[l] = layer_tensor_shapes(spec, l, rows, cols, names[l]);
        first[l] = m->n_tensors;
        for (int i = 0; i < count[l]; i++) {
            param_tensor *t = &m->tensors[m->n_tensors++];
            t->name = spec->n_hidden > 0 ? network_names[l][names[l][i]] : tensor_names[names[l][i]];
            t->ndim = cols[i] > 0 ? 2 : 1;
            t->shape[0] = rows[i];
            t->shape[1] = cols[i];
            t->numel = (size_t)rows[i] * (size_t)(cols[i] > 0 ? cols[i] : 1);
            t->offset = off;
            /* PEFT's LoRA+ groups: lora_B and any 1-d tensor (DoRA's
             * magnitude, a scratch network's bias) at ratio * lr */
            t->lr_ratio = spec->kind == LAYER_LORA && names[l][i] != 2 ? spec->loraplus_ratio : 1.0;
            off += t->numel;
        }
    }
    const size_t n = off; /* check_spec proved 4 n floats fit in size_t */
    if (n == 0) /* every layer has a weight of at least 1 x 1: not reached */
        return ld_fail(err, errlen, LD_EINPUT, "a model with no parameters");
    m->mem = calloc(1, 4 * n * sizeof(float));
    if (m->mem == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes for a model",
                       4 * n * sizeof(float));
    m->n_params = n;
    m->params = m->mem;
    m->grads = m->mem + n;
    m->adam_m = m->mem + 2 * n;
    m->adam_v = m->mem + 3 * n;
    for (int l = 0; l < m->n_layers; l++)
        point_layer(m, &m->layers[l], first[l], count[l], names[l]);
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
    m->n_layers = model_spec_layers(spec);
    m->in = spec->in;
    m->out = spec->out;
    m->act = spec->act;
    rng_seed(&m->dropout_rng, 0, 0); /* a valid stream; a run seeds its own */
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        L->kind = spec->kind;
        L->in = model_spec_layer_in(spec, l);
        L->out = model_spec_layer_out(spec, l);
        L->rank = spec->rank;
        L->alpha = spec->alpha;
        L->scale = spec->scale;
        L->loraplus_ratio = spec->loraplus_ratio;
        L->dropout = spec->dropout;
        L->dora = spec->dora;
    }
    st = alloc_block(m, spec, err, errlen);
    /* each layer's base follows the one before it in W0 and b0 */
    for (int l = 0; l < m->n_layers && st == LD_OK && spec->kind == LAYER_LORA && spec->has_base;
         l++) {
        layer *L = &m->layers[l];
        st = copy_base(L, W0, b0, err, errlen);
        W0 += (size_t)L->out * (size_t)L->in;
        if (b0 != NULL)
            b0 += L->out;
    }
    for (int l = 0; l < m->n_layers && st == LD_OK && spec->dora; l++) {
        layer *L = &m->layers[l];
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

/* y (N,O) += b (O), each row; nothing for b NULL. */
static void add_bias(float *y, const float *b, int N, int O)
{
    if (b == NULL)
        return;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            y[(size_t)n * O + o] += b[o];
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
        add_bias(y, L->b, N, L->out); /* a scratch network's trainable bias */
        return;
    }
    if (base_out != NULL)
        memcpy(y, base_out, (size_t)N * (size_t)L->out * sizeof(float));
    else
        layer_base_forward(L, y, x, N, p); /* zeros without a base */
    add_bias(y, L->b, N, L->out);
    if (!L->dora) {
        lora_forward(y, h, xl, L->A, L->B, L->scale, N, L->in, L->rank, L->out, p);
        return;
    }
    /* DoRA: n afresh from this step's A and B (unless a gradient check
     * holds it); with dropout PEFT recomputes the base's part from the
     * dropped input, without bias */
    if (!L->norm_held)
        dora_norm(L->norm, L->W0, L->A, L->B, L->scale, L->in, L->rank, L->out);
    const float *bw = NULL;
    if (xl != x && u != NULL) {
        linear_forward(u, xl, L->W0, NULL, N, L->in, L->out, p);
        bw = u;
    }
    dora_forward(y, h, u, xl, bw, L->b0, L->A, L->B, L->mag, L->norm, L->scale, N, L->in, L->rank,
                 L->out, p);
}

/* dx (N,I) += keep * t (N,I), elementwise. */
static void add_masked(float *dx, const float *keep, const float *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += keep[i] * t[i];
}

/* The gradients a layer's backward reads and the work space it may use:
 * xl the LoRA branch's input (x, or its dropout), keep (N,I) the dropout's
 * d xl / dx or NULL (no dropout), u DoRA's saved activation; tmp_o (N,O)
 * and tmp_i (N,I) scratch, needed only when dx is formed with dropout or
 * DoRA. */
typedef struct {
    const float *h, *u, *xl, *keep, *x;
    float *tmp_o, *tmp_i;
} layer_saved;

/* Accumulate L's gradients from dy (N,O), overwritten; and dx (N,I) +=
 * the gradient at L's input, unless dx is NULL (the first layer's).
 * With dropout the LoRA branch (and DoRA's (g - 1) W0 xd term, PEFT's
 * form) reaches x through the mask: dx gets keep * (their gradient at xd),
 * the frozen base's dy W0 directly. Without dropout, DoRA gives
 * dx = (g dy) W0 + dh A, g = mag / n (n held). */
static void layer_backward(layer *L, float *dx, float *dy, float *dh, const layer_saved *sv,
                           int N, pool *p)
{
    const size_t NI = (size_t)N * (size_t)L->in;
    if (L->kind == LAYER_DENSE) {
        linear_backward(dx, L->dW, L->db, dy, sv->x, L->W, N, L->in, L->out, p);
        return;
    }
    if (L->dora) {
        if (dx != NULL) {
            /* before dora_backward scales dy: tmp_o = (g - 1 or g) dy */
            const float off = sv->keep != NULL ? 1.0f : 0.0f;
            for (int n = 0; n < N; n++)
                for (int o = 0; o < L->out; o++)
                    sv->tmp_o[(size_t)n * L->out + o] =
                        (L->mag[o] / L->norm[o] - off) * dy[(size_t)n * L->out + o];
            if (sv->keep != NULL) {
                matmul_nn_mt(dx, dy, L->W0, N, L->in, L->out, 1, p); /* base(x) */
                matmul_nn_mt(sv->tmp_i, sv->tmp_o, L->W0, N, L->in, L->out, 0, p);
            } else {
                matmul_nn_mt(dx, sv->tmp_o, L->W0, N, L->in, L->out, 1, p);
            }
        }
        dora_backward(L->dA, L->dB, L->dmag, dh, dy, sv->h, sv->u, sv->xl, L->B, L->mag, L->norm,
                      L->scale, N, L->in, L->rank, L->out, p);
        if (dx != NULL && sv->keep != NULL) {
            matmul_nn_mt(sv->tmp_i, dh, L->A, N, L->in, L->rank, 1, p); /* + dh A */
            add_masked(dx, sv->keep, sv->tmp_i, NI);
        } else if (dx != NULL) {
            matmul_nn_mt(dx, dh, L->A, N, L->in, L->rank, 1, p); /* dx += dh A */
        }
        return;
    }
    if (L->db != NULL) /* before lora_backward scales dy */
        for (int n = 0; n < N; n++)
            for (int o = 0; o < L->out; o++)
                L->db[o] += dy[(size_t)n * L->out + o];
    if (dx != NULL && L->W0 != NULL)
        matmul_nn_mt(dx, dy, L->W0, N, L->in, L->out, 1, p); /* dx += dy W0 */
    lora_backward(L->dA, L->dB, dh, dy, sv->h, sv->xl, L->B, L->scale, N, L->in, L->rank, L->out,
                  p);
    if (dx != NULL && sv->keep != NULL) {
        matmul_nn_mt(sv->tmp_i, dh, L->A, N, L->in, L->rank, 0, p); /* dh A, at xd */
        add_masked(dx, sv->keep, sv->tmp_i, NI);
    } else if (dx != NULL) {
        matmul_nn_mt(dx, dh, L->A, N, L->in, L->rank, 1, p); /* dx += dh A */
    }
}

model_layer_acts model_acts_of(const model *m, int l, int N)
{
    model_layer_acts la = {0, 0, 0};
    size_t at = 0;
    for (int k = 0; k <= l; k++) {
        const size_t NO = (size_t)N * (size_t)m->layers[k].out;
        la.h = at;
        at += (size_t)N * (size_t)m->layers[k].rank;
        la.z = at;
        la.a = at + NO;
        if (k + 1 < m->n_layers)
            at += 2 * NO;
    }
    return la;
}

/* base + off, or NULL when base is: a dense single layer's caller passes
 * no activations or scratch, and an offset from NULL, even 0, is undefined
 * behaviour (clang's UBSan stops on it). */
static float *offset_of(float *base, size_t off)
{
    return base != NULL ? base + off : NULL;
}

/* Layer l's variant activations in vact (model_act_floats's layout, layer
 * after layer): the dropped input xd and the mask's derivative keep
 * (N,I_l) each, then DoRA's u (N,O_l), each only if the layer has it; NULL
 * otherwise or when vact is NULL. */
static void vacts_of(const model *m, int l, float *vact, int N, float **xd, float **keep,
                     float **u)
{
    *xd = *keep = *u = NULL;
    if (vact == NULL)
        return;
    size_t at = 0;
    for (int k = 0; k <= l; k++) {
        const layer *L = &m->layers[k];
        const int drop = L->kind == LAYER_LORA && L->dropout > 0.0;
        const int dora = L->kind == LAYER_LORA && L->dora;
        const size_t NI = (size_t)N * (size_t)L->in;
        if (k == l) {
            *xd = drop ? vact + at : NULL;
            *keep = drop ? vact + at + NI : NULL;
            *u = dora ? vact + at + (drop ? 2 * NI : 0) : NULL;
        }
        at += (drop ? 2 * NI : 0) + (dora ? (size_t)N * (size_t)L->out : 0);
    }
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
    *n = 0;
    if (spec->kind != LAYER_LORA)
        return 0;
    for (int l = 0; l < model_spec_layers(spec); l++) {
        size_t xd = 0, u = 0;
        if ((spec->dropout > 0.0 &&
             ld_mul3_size(&xd, 2, (size_t)N, (size_t)model_spec_layer_in(spec, l)) != 0) ||
            (spec->dora && ld_mul_size(&u, (size_t)N, (size_t)model_spec_layer_out(spec, l)) != 0) ||
            ld_add_size(n, *n, xd) != 0 || ld_add_size(n, *n, u) != 0)
            return -1;
    }
    return 0;
}

/* The LoRA branch's input of layer L in a training step: x, or x through
 * dropout into xd (and its derivative into keep) with masks from m's replay
 * or stream. */
static const float *branch_input(model *m, const layer *L, float *xd, float *keep, const float *x,
                                 int N)
{
    if (xd == NULL)
        return x;
    const size_t n = (size_t)N * (size_t)L->in;
    const float *replay = NULL;
    if (m->dropout_replay != NULL && m->dropout_replay_n - m->dropout_replay_used >= n) {
        replay = m->dropout_replay + m->dropout_replay_used;
        m->dropout_replay_used += n;
    }
    lora_dropout_forward_keep(xd, keep, x, L->dropout, replay, &m->dropout_rng, N, L->in);
    return xd;
}

/* model_forward and model_forward_train: vact NULL evaluates (m is then
 * only read). */
static void forward(model *m, float *y, float *acts, float *vact, const float *x,
                    const float *base_out, int N, pool *p)
{
    const float *in = x;
    for (int l = 0; l < m->n_layers; l++) {
        const layer *L = &m->layers[l];
        const model_layer_acts la = model_acts_of(m, l, N);
        const int last = l + 1 == m->n_layers;
        float *z = last ? y : acts + la.z;
        float *xd, *keep, *u;
        vacts_of(m, l, vact, N, &xd, &keep, &u);
        layer_forward(L, z, offset_of(acts, la.h), u, branch_input(m, L, xd, keep, in, N), in,
                      l == 0 ? base_out : NULL, N, p);
        if (!last) {
            activation_forward(m->act, acts + la.a, z, (size_t)N * (size_t)L->out);
            in = acts + la.a;
        }
    }
}

void model_forward(const model *m, float *y, float *acts, const float *x, const float *base_out,
                   int N, pool *p)
{
    forward((model *)m, y, acts, NULL, x, base_out, N, p); /* vact NULL: m only read */
}

void model_forward_train(model *m, float *y, float *acts, float *vact, const float *x,
                         const float *base_out, int N, pool *p)
{
    forward(m, y, acts, vact, x, base_out, N, p);
}

void model_backward(model *m, float *dy, float *scratch, const float *acts, const float *vact,
                    const float *x, int N, pool *p)
{
    /* scratch: dh (N,R), then two (N,H) buffers that take turns holding the
     * gradient at a layer's output and at its input, then (a network with
     * dropout or DoRA) two (N, widest side) for layer_backward */
    size_t widest = 0, side = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const layer *L = &m->layers[l];
        if (l + 1 < m->n_layers && (size_t)L->out > widest)
            widest = (size_t)L->out;
        side = (size_t)L->in > side ? (size_t)L->in : side;
        side = (size_t)L->out > side ? (size_t)L->out : side;
    }
    float *dh = scratch;
    float *turn0 = offset_of(scratch, (size_t)N * (size_t)m->layers[0].rank);
    float *turn1 = offset_of(turn0, (size_t)N * widest);
    float *tmp_o = offset_of(turn1, (size_t)N * widest);
    float *tmp_i = offset_of(tmp_o, (size_t)N * side); /* only as model_scratch_floats allows */
    float *g = dy; /* at layer l's output */
    for (int l = m->n_layers - 1; l >= 0; l--) {
        layer *L = &m->layers[l];
        const model_layer_acts la = model_acts_of(m, l, N);
        float *xd, *keep, *u;
        vacts_of(m, l, (float *)vact, N, &xd, &keep, &u); /* only read here */
        layer_saved sv = {acts != NULL ? acts + la.h : NULL, u, NULL, keep, x, tmp_o, tmp_i};
        if (l == 0) { /* the input is data: no dx */
            sv.xl = xd != NULL ? xd : x;
            layer_backward(L, NULL, g, dh, &sv, N, p);
            break;
        }
        const model_layer_acts below = model_acts_of(m, l - 1, N);
        sv.x = acts + below.a;
        sv.xl = xd != NULL ? xd : sv.x;
        float *dx = g == turn0 ? turn1 : turn0;
        memset(dx, 0, (size_t)N * (size_t)L->in * sizeof(float));
        layer_backward(L, dx, g, dh, &sv, N, p);
        /* through the activation, in place: d a_{l-1} -> d z_{l-1} */
        activation_backward(m->act, dx, dx, acts + below.z, acts + below.a,
                            (size_t)N * (size_t)L->in);
        g = dx;
    }
}
