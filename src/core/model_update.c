/* model_update.c - what changes a model's parameters outside forward and
 * backward: the Adam step over the parameter block (each tensor at its own
 * rate, for LoRA+), DoRA's magnitude at the start, and merge / unmerge of
 * every LoRA layer into its frozen base (core/model.h).
 *
 * Dimension key: I in, O out, R rank.
 */
#include <stdlib.h>

#include "core/lora.h"
#include "core/model.h"
#include "core/optim.h"

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
    if (m->n_layers == 0 || m->layers[0].kind != LAYER_LORA)
        return ld_fail(err, errlen, LD_ESTATE, "only a LoRA model can be merged");
    if (m->layers[0].merged)
        return ld_fail(err, errlen, LD_ESTATE, "LoRA r=%d is already merged", m->layers[0].rank);
    for (int l = 0; l < m->n_layers; l++) { /* every layer has the same kind */
        layer *L = &m->layers[l];
        if (L->W0 == NULL) {
            /* scratch LoRA: the merged weight is s B A on a zero base */
            L->W0 = calloc((size_t)L->out * (size_t)L->in, sizeof(float));
            if (L->W0 == NULL)
                return ld_fail(err, errlen, LD_ENOMEM, "out of memory merging LoRA r=%d",
                               L->rank);
        }
    }
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        if (L->dora) {
            /* PEFT's merge_unsafe: n of W0 + s B A, kept for the unmerge */
            dora_norm(L->norm, L->W0, L->A, L->B, L->scale, L->in, L->rank, L->out);
            dora_merge_into(L->W0, L->A, L->B, L->mag, L->norm, L->scale, 1.0f, L->in, L->rank,
                            L->out);
        } else {
            lora_merge_into(L->W0, L->A, L->B, L->scale, 1.0f, L->in, L->rank, L->out);
        }
        L->merged = 1;
    }
    return LD_OK;
}

ld_status model_unmerge(model *m, char *err, size_t errlen)
{
    if (m->n_layers == 0 || m->layers[0].kind != LAYER_LORA || !m->layers[0].merged)
        return ld_fail(err, errlen, LD_ESTATE, "model is not merged");
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        if (L->dora)
            dora_merge_into(L->W0, L->A, L->B, L->mag, L->norm, L->scale, -1.0f, L->in, L->rank,
                            L->out);
        else
            lora_merge_into(L->W0, L->A, L->B, L->scale, -1.0f, L->in, L->rank, L->out);
        L->merged = 0;
    }
    return LD_OK;
}
