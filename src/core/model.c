/* model.c - parameter block, forward/backward dispatch, merge.
 *
 * Dimension key: N samples, I in, O out, R rank.
 */
#include "core/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"

static void add_tensor(model *m, const char *name, int rows, int cols, size_t *offset)
{
    param_tensor *t = &m->tensors[m->n_tensors++];
    t->name = name;
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 0;
    t->numel = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    t->offset = *offset;
    *offset += t->numel;
}

/* Allocate the block for the tensors already in the table. */
static ld_status alloc_block(model *m, char *err, size_t errlen)
{
    size_t n = 0, bytes = 0;
    for (int i = 0; i < m->n_tensors; i++)
        n += m->tensors[i].numel; /* each numel was size-checked by the caller */
    if (ld_mul3_size(&bytes, n, 4, sizeof(float)) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "model of %zu parameters does not fit in memory", n);
    m->mem = calloc(1, bytes > 0 ? bytes : 1); /* never 0 here; calloc(0) may return NULL */
    if (m->mem == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes for a model", bytes);
    m->n_params = n;
    m->params = m->mem;
    m->grads = m->mem + n;
    m->adam_m = m->mem + 2 * n;
    m->adam_v = m->mem + 3 * n;
    return LD_OK;
}

static ld_status check_dims(size_t *wsize, int rows, int cols, char *err, size_t errlen)
{
    if (rows <= 0 || cols <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "invalid layer shape %d x %d", rows, cols);
    if (ld_mul3_size(wsize, (size_t)rows, (size_t)cols, 4 * sizeof(float)) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "a %d x %d layer does not fit in memory", rows, cols);
    return LD_OK;
}

ld_status model_init_dense(model *m, int in, int out, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t sz;
    ld_status st = check_dims(&sz, out, in, err, errlen);
    if (st != LD_OK)
        return st;
    m->kind = MODEL_DENSE;
    m->in = in;
    m->out = out;
    size_t off = 0;
    add_tensor(m, "weight", out, in, &off);
    add_tensor(m, "bias", out, 0, &off);
    st = alloc_block(m, err, errlen);
    if (st != LD_OK)
        return st;
    m->w = m->params + m->tensors[0].offset;
    m->b = m->params + m->tensors[1].offset;
    m->dw = m->grads + m->tensors[0].offset;
    m->db = m->grads + m->tensors[1].offset;
    return LD_OK;
}

ld_status model_init_lora(model *m, int in, int out, int rank, float alpha, float scale,
                          const float *base_w, const float *base_b, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t sz;
    ld_status st = check_dims(&sz, out, in, err, errlen);
    /* A (R,I) and B (O,R) together: R*(I+O), with I+O summed in size_t (it
     * overflows int for I, O near INT_MAX) */
    if (st == LD_OK && (rank <= 0 || ld_mul3_size(&sz, (size_t)rank, (size_t)in + (size_t)out,
                                                  4 * sizeof(float)) != 0))
        st = rank <= 0 ? ld_fail(err, errlen, LD_EINPUT, "invalid LoRA rank %d", rank)
                       : ld_fail(err, errlen, LD_ENOMEM, "a rank-%d LoRA of %d -> %d does not fit in memory",
                                 rank, in, out);
    if (st != LD_OK)
        return st;
    m->kind = MODEL_LORA;
    m->in = in;
    m->out = out;
    m->rank = rank;
    m->alpha = alpha;
    m->scale = scale;
    size_t off = 0;
    add_tensor(m, "lora_A.weight", rank, in, &off);
    add_tensor(m, "lora_B.weight", out, rank, &off);
    st = alloc_block(m, err, errlen);
    if (st != LD_OK)
        return st;
    m->a = m->params + m->tensors[0].offset;
    m->bm = m->params + m->tensors[1].offset;
    m->da = m->grads + m->tensors[0].offset;
    m->dbm = m->grads + m->tensors[1].offset;
    if (base_w != NULL) {
        size_t nw = (size_t)out * (size_t)in;
        m->base_w = malloc(nw * sizeof(float));
        m->base_b = base_b != NULL ? malloc((size_t)out * sizeof(float)) : NULL;
        if (m->base_w == NULL || (base_b != NULL && m->base_b == NULL)) {
            model_free(m);
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory copying a %d x %d base", out, in);
        }
        memcpy(m->base_w, base_w, nw * sizeof(float));
        if (base_b != NULL)
            memcpy(m->base_b, base_b, (size_t)out * sizeof(float));
        m->has_base = 1;
    }
    return LD_OK;
}

void model_free(model *m)
{
    free(m->mem);
    free(m->base_w);
    free(m->base_b);
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

void model_base_forward(const model *m, float *y, const float *x, int N)
{
    if (m->base_w != NULL)
        linear_forward(y, x, m->base_w, m->base_b, N, m->in, m->out);
    else
        memset(y, 0, (size_t)N * (size_t)m->out * sizeof(float));
}

void model_forward(const model *m, float *y, float *h, const float *x, const float *base_out,
                   int N)
{
    const size_t ny = (size_t)N * (size_t)m->out;
    if (m->kind == MODEL_DENSE) {
        linear_forward(y, x, m->w, m->b, N, m->in, m->out);
        return;
    }
    if (m->merged) {
        linear_forward(y, x, m->base_w, m->base_b, N, m->in, m->out);
        return;
    }
    if (base_out != NULL)
        memcpy(y, base_out, ny * sizeof(float));
    else if (m->has_base)
        model_base_forward(m, y, x, N);
    else
        memset(y, 0, ny * sizeof(float));
    lora_forward(y, h, x, m->a, m->bm, m->scale, N, m->in, m->rank, m->out);
}

void model_backward(model *m, float *dy, float *dh, const float *h, const float *x, int N)
{
    if (m->kind == MODEL_DENSE)
        linear_backward(NULL, m->dw, m->db, dy, x, m->w, N, m->in, m->out);
    else
        lora_backward(m->da, m->dbm, dh, dy, h, x, m->bm, m->scale, N, m->in, m->rank, m->out);
}

void model_adam_step(model *m, adam_config cfg)
{
    m->step++;
    adam_step(m->params, m->grads, m->adam_m, m->adam_v, m->n_params, m->step, cfg);
}

ld_status model_merge(model *m, char *err, size_t errlen)
{
    if (m->kind != MODEL_LORA)
        return ld_fail(err, errlen, LD_ESTATE, "only a LoRA model can be merged");
    if (m->merged)
        return ld_fail(err, errlen, LD_ESTATE, "LoRA r=%d is already merged", m->rank);
    if (m->base_w == NULL) {
        /* scratch LoRA: the merged weight is s*B.A on a zero base */
        m->base_w = calloc((size_t)m->out * (size_t)m->in, sizeof(float));
        if (m->base_w == NULL)
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory merging LoRA r=%d", m->rank);
    }
    lora_merge_into(m->base_w, m->a, m->bm, m->scale, 1.0f, m->in, m->rank, m->out);
    m->merged = 1;
    return LD_OK;
}

ld_status model_unmerge(model *m, char *err, size_t errlen)
{
    if (m->kind != MODEL_LORA || !m->merged)
        return ld_fail(err, errlen, LD_ESTATE, "model is not merged");
    lora_merge_into(m->base_w, m->a, m->bm, m->scale, -1.0f, m->in, m->rank, m->out);
    m->merged = 0;
    return LD_OK;
}

size_t model_trainable(const model *m)
{
    return m->n_params;
}

size_t model_optimizer_bytes(const model *m)
{
    return 2 * m->n_params * sizeof(float);
}
