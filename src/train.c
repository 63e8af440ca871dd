/* train.c - the training loop: forward, MSE, backward, Adam; and evaluation.
 *
 * Dimension key: N samples, B batch size, I in, O out, R rank.
 */
#include "train.h"

#include <stdlib.h>
#include <string.h>

ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (n <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "no training samples");
    if (batch <= 0 || batch > n)
        batch = n;
    t->n = n;
    t->batch = batch;
    t->in = m->in;
    t->out = m->out;
    t->rank = m->rank;
    t->x = x;
    t->y = y;
    const int mini = batch < n;
    const int cache_base = m->kind == MODEL_LORA && m->has_base;
    const size_t B = (size_t)batch, I = (size_t)m->in, O = (size_t)m->out, R = (size_t)m->rank;

    /* sizes in floats, each overflow-checked */
    size_t s_xb = 0, s_yb = 0, s_base = 0, s_baseb = 0, s_bo = 0, s_br = 0, total = 0;
    int bad = ld_mul_size(&s_bo, B, O) | ld_mul_size(&s_br, B, R);
    if (mini)
        bad |= ld_mul_size(&s_xb, B, I) | ld_mul_size(&s_yb, B, O);
    if (cache_base) {
        bad |= ld_mul_size(&s_base, (size_t)n, O);
        if (mini)
            s_baseb = s_bo;
    }
    const size_t parts[] = {s_xb, s_yb, s_base, s_baseb, s_bo, s_bo, s_br, s_br};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        bad |= ld_add_size(&total, total, parts[i]);
    size_t bytes = 0;
    bad |= ld_mul_size(&bytes, total, sizeof(float));
    if (bad)
        return ld_fail(err, errlen, LD_ENOMEM, "training buffers for %d samples do not fit in memory", n);
    t->mem = malloc(bytes > 0 ? bytes : 1);
    if (t->mem == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes of training buffers", bytes);

    float *p = t->mem;
    float **slots[] = {&t->xb, &t->yb, &t->base_all, &t->base_b, &t->yhat, &t->dy, &t->h, &t->dh};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *slots[i] = parts[i] > 0 ? p : NULL;
        p += parts[i];
    }
    if (cache_base)
        model_base_forward(m, t->base_all, x, n);
    return LD_OK;
}

void trainer_free(trainer *t)
{
    free(t->mem);
    memset(t, 0, sizeof *t);
}

/* Copy rows idx[0..cnt) of src (N, width) into dst (cnt, width). */
static void gather_rows(float *dst, const float *src, const int *idx, int cnt, int width)
{
    for (int i = 0; i < cnt; i++)
        memcpy(dst + (size_t)i * width, src + (size_t)idx[i] * width, (size_t)width * sizeof(float));
}

float trainer_epoch(trainer *t, model *m, const int *order, adam_config cfg)
{
    const int O = t->out;
    double loss_sum = 0.0;
    int batches = 0;
    /* start += cnt, not += batch: start + batch may pass INT_MAX when n is close to it */
    for (int start = 0, cnt; start < t->n; start += cnt) {
        cnt = t->n - start < t->batch ? t->n - start : t->batch;
        const float *xb, *yb, *base;
        if (order != NULL && t->xb != NULL) {
            /* shuffled mini-batch: gather its rows */
            gather_rows(t->xb, t->x, order + start, cnt, t->in);
            gather_rows(t->yb, t->y, order + start, cnt, O);
            xb = t->xb;
            yb = t->yb;
            base = NULL;
            if (t->base_all != NULL) {
                gather_rows(t->base_b, t->base_all, order + start, cnt, O);
                base = t->base_b;
            }
        } else {
            /* full batch, or batches in data order: point into the data */
            xb = t->x + (size_t)start * t->in;
            yb = t->y + (size_t)start * O;
            base = t->base_all != NULL ? t->base_all + (size_t)start * O : NULL;
        }
        const size_t ny = (size_t)cnt * (size_t)O;
        model_forward(m, t->yhat, t->h, xb, base, cnt);
        loss_sum += mse_forward(t->yhat, yb, ny);
        batches++;
        mse_backward(t->dy, t->yhat, yb, ny, ny);
        model_zero_grad(m);
        model_backward(m, t->dy, t->dh, t->h, xb, cnt);
        model_adam_step(m, cfg);
    }
    return (float)(loss_sum / batches);
}

float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n)
{
    const int O = t->out;
    double sq = 0.0;
    for (int start = 0, cnt; start < n; start += cnt) {
        cnt = n - start < t->batch ? n - start : t->batch;
        const size_t ny = (size_t)cnt * (size_t)O;
        model_forward(m, t->yhat, t->h, x + (size_t)start * t->in, NULL, cnt);
        sq += (double)mse_forward(t->yhat, y + (size_t)start * O, ny) * (double)ny;
    }
    return (float)(sq / ((double)n * (double)O));
}
