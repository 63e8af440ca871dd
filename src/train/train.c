/* train.c - the trainer: its buffers, the one place a training method is
 * chosen, the epoch over batches, and evaluation.
 *
 * Dimension key: N training samples, NB rows of a batch, I in, O out, R rank.
 *
 * An epoch is a loop over batches, each one step of the chosen method
 * (train.h): the plain step (plain.c), or a fast path that equals it
 * (closed_form.c, lora_closed.c, lora_fused.c, lora_narrow.c, net_fast.c). All buffers come from one
 * size table (trainer_sizes_for), which the memory estimate reads too.
 */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "kernels/matmul.h"
#include "paths.h"

/* Parameters below which Adam runs on the calling thread: smaller, waking the
 * workers costs more than the update. */
#define ADAM_PARALLEL_MIN 65536

trainer_options trainer_defaults(void)
{
    trainer_options o = {1, 1, 0};
    return o;
}

/* The one place a method is chosen. Each fast path computes what the plain
 * step computes (train.h); it is taken only where it is cheaper. */
static train_method choose_method(const model_spec *spec, int n, int batch,
                                  const trainer_options *opt)
{
    const int full_batch = batch >= n;
    if (!opt->fast_paths)
        return TRAIN_PLAIN; /* the reference, when asked for */
    if (spec->dropout > 0.0)
        return TRAIN_PLAIN; /* LoRA dropout: the fast paths draw no masks */
    if (spec->dora)
        return TRAIN_PLAIN; /* DoRA: the fast paths know no magnitude */
    if (spec->n_hidden > 0)
        /* a network: its base's first product cached, the rest in blocks;
         * dense and scratch LoRA networks have nothing to cache */
        return spec->kind == LAYER_LORA && spec->has_base ? TRAIN_NET_LORA : TRAIN_PLAIN;
    if (spec->kind == LAYER_DENSE)
        /* O I^2 per epoch instead of 2 N I O, worth it while I <= N */
        return full_batch && spec->in <= n ? TRAIN_CLOSED_FORM : TRAIN_PLAIN;
    if (full_batch && lora_closed_cheaper(spec, n))
        return TRAIN_LORA_CLOSED; /* R I (I + 2 O) per epoch instead of N R (2 I + 3 O) */
    if (opt->threads == 1 && lora_narrow_fits(spec))
        return TRAIN_LORA_NARROW; /* 16 samples in the lanes of every vector */
    return TRAIN_LORA_FUSED;      /* one pass over rows, in cache, on the pool */
}

/* ------------------------------------------------------------------------ */
/* the size table */

/* Per thread: the matmul kernels' panels and a block of predictions as
 * wide as the widest layer's output. Nonzero when the size overflows. */
static int thread_scratch_floats(size_t *floats, const model_spec *spec)
{
    size_t widest = (size_t)spec->out;
    for (int l = 0; l < spec->n_hidden; l++)
        widest = (size_t)spec->hidden[l] > widest ? (size_t)spec->hidden[l] : widest;
    int bad = ld_mul_size(floats, ROW_BLOCK, widest);
    bad |= ld_add_size(floats, *floats, matmul_scratch_floats());
    return bad;
}

int trainer_sizes_for(trainer_sizes *sz, const model_spec *spec, int n, int batch,
                      const trainer_options *opt)
{
    const trainer_options o = opt != NULL ? *opt : trainer_defaults();
    memset(sz, 0, sizeof *sz);
    if (batch <= 0 || batch > n)
        batch = n;
    const train_method method = choose_method(spec, n, batch, &o);
    const int mini = batch < n;
    /* a network's base is cached for the first layer only: past it, the
     * base's input changes every step */
    const int cached_base = spec->kind == LAYER_LORA && spec->has_base &&
                            (spec->n_hidden == 0 || method == TRAIN_NET_LORA);
    const size_t NB = (size_t)batch, N = (size_t)n, I = (size_t)spec->in, O = (size_t)spec->out;
    const size_t O0 = (size_t)model_spec_layer_out(spec, 0);
    const size_t R = (size_t)spec->rank;
    const size_t P = method == TRAIN_PLAIN || NB < TRAIN_EVAL_ROWS ? NB : TRAIN_EVAL_ROWS;
    const size_t NBp = (NB + NARROW_S - 1) / NARROW_S * NARROW_S; /* whole blocks */
    size_t *f = sz->floats, *d = sz->doubles;
    int bad = 0;
    sz->method = method;
    sz->yhat_rows = (int)P;
    bad |= ld_mul_size(&f[TBUF_YHAT], P, O);
    f[TBUF_H] = model_acts_floats(spec, NB);     /* N R for one layer */
    f[TBUF_DH] = model_scratch_floats(spec, NB); /* the same */
    bad |= f[TBUF_H] == SIZE_MAX || f[TBUF_DH] == SIZE_MAX;
    bad |= model_act_floats(spec, (int)NB, &f[TBUF_ACT]);
    bad |= ld_mul_size(&f[TBUF_BT], R, O + 16);
    const int closed = method == TRAIN_CLOSED_FORM || method == TRAIN_LORA_CLOSED;
    if (!closed)
        bad |= ld_mul_size(&f[TBUF_DY], NB, O);
    if (mini) {
        bad |= ld_mul_size(&f[TBUF_XB], NB, I);
        bad |= ld_mul_size(&f[TBUF_YB], NB, O);
    }
    if (cached_base) {
        bad |= ld_mul_size(&f[TBUF_BASE_ALL], N, O0);
        if (mini)
            bad |= ld_mul_size(&f[TBUF_BASE_ROWS], NB, O0);
    }
    if (method == TRAIN_CLOSED_FORM) {
        bad |= ld_mul_size(&f[TBUF_GRAM], I, I);
        bad |= ld_mul_size(&f[TBUF_CROSS], O, I);
        bad |= ld_mul_size(&f[TBUF_WG], O, I);
        d[TDBUF_XSUM] = I;
        d[TDBUF_YSUM] = d[TDBUF_YSQ] = d[TDBUF_ROW_ABS] = O;
    }
    if (method == TRAIN_LORA_CLOSED) {
        bad |= ld_mul_size(&f[TBUF_GRAM], I, I);
        bad |= ld_mul_size(&f[TBUF_CROSS], O, I);
        bad |= ld_mul_size(&f[TBUF_LSTAT], R, 2 * I + O);
        d[TDBUF_YSQ] = O;
        d[TDBUF_RR] = 2 * R * R;
    }
    if (method == TRAIN_LORA_NARROW) {
        bad |= ld_mul_size(&f[TBUF_NX], NBp, I);
        bad |= ld_mul_size(&f[TBUF_NXR], NBp, NARROW_I);
        bad |= ld_mul_size(&f[TBUF_NY], NBp, O);
        if (cached_base)
            f[TBUF_NBASE] = f[TBUF_NY];
    }
    d[TDBUF_ROW_SQ] = NB > O ? NB : O;
    /* the narrow pass uses no matrix kernel on the pool (only the frozen
     * base's output does, once) */
    if (!(method == TRAIN_LORA_NARROW && !cached_base))
        bad |= thread_scratch_floats(&sz->scratch_floats, spec);
    size_t floats = 0, doubles = 0, threads_scratch = 0;
    for (int i = 0; i < TBUF_COUNT; i++)
        bad |= ld_add_size(&floats, floats, f[i]);
    for (int i = 0; i < TDBUF_COUNT; i++)
        bad |= ld_add_size(&doubles, doubles, d[i]);
    const size_t threads = (size_t)(o.threads > 1 ? o.threads : 1);
    bad |= ld_mul_size(&threads_scratch, sz->scratch_floats, threads);
    bad |= ld_add_size(&floats, floats, threads_scratch);
    bad |= ld_mul_size(&sz->bytes, floats, sizeof(float));
    bad |= ld_mul_size(&doubles, doubles, sizeof(double));
    bad |= ld_add_size(&sz->bytes, sz->bytes, doubles);
    return bad ? -1 : 0;
}

/* Point each buffer at its place in the two allocations, in table order. */
static void point_buffers(trainer *t, const trainer_sizes *sz)
{
    float **slot[TBUF_COUNT] = {
        [TBUF_XB] = &t->xb,       [TBUF_YB] = &t->yb,     [TBUF_BASE_ALL] = &t->base_all,
        [TBUF_BASE_ROWS] = &t->base_rows, [TBUF_YHAT] = &t->yhat, [TBUF_DY] = &t->dy,
        [TBUF_H] = &t->h,         [TBUF_DH] = &t->dh,     [TBUF_ACT] = &t->act,
        [TBUF_BT] = &t->bt,
        [TBUF_GRAM] = &t->gram,   [TBUF_CROSS] = &t->cross, [TBUF_WG] = &t->wg,
        [TBUF_NX] = &t->nx,       [TBUF_NXR] = &t->nxr,   [TBUF_NY] = &t->ny,
        [TBUF_NBASE] = &t->nbase, [TBUF_LSTAT] = &t->lstat,
    };
    double **dslot[TDBUF_COUNT] = {
        [TDBUF_XSUM] = &t->xsum, [TDBUF_YSUM] = &t->ysum, [TDBUF_YSQ] = &t->ysq,
        [TDBUF_ROW_SQ] = &t->row_sq, [TDBUF_ROW_ABS] = &t->row_abs, [TDBUF_RR] = &t->rr,
    };
    float *p = t->mem;
    for (int i = 0; i < TBUF_COUNT; i++) {
        *slot[i] = sz->floats[i] > 0 ? p : NULL;
        p += sz->floats[i];
    }
    double *q = t->dmem;
    for (int i = 0; i < TDBUF_COUNT; i++) {
        *dslot[i] = sz->doubles[i] > 0 ? q : NULL;
        q += sz->doubles[i];
    }
}

/* ------------------------------------------------------------------------ */
/* set-up */

/* The frozen base's output on the whole training set, on the pool:
 * layer_base_forward's arithmetic. L is the first layer. */
static void cache_base_output(trainer *t, const layer *L)
{
    const size_t O = (size_t)L->out;
    matmul_nt_mt(t->base_all, t->x, L->W0, t->n, L->out, L->in, 0, t->pool);
    if (L->b0 != NULL)
        for (int r = 0; r < t->n; r++)
            for (size_t c = 0; c < O; c++)
                t->base_all[(size_t)r * O + c] += L->b0[c];
}

ld_status trainer_init(trainer *t, const model *m, const float *x, const float *y, int n,
                       int batch, const trainer_options *opt, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const trainer_options o = opt != NULL ? *opt : trainer_defaults();
    if (n <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "no training samples");
    const layer *L = &m->layers[0];
    if (L->merged)
        return ld_fail(err, errlen, LD_ESTATE,
                       "a merged model cannot be trained: unmerge it first");
    const model_spec spec = model_spec_of(m);
    trainer_sizes sz;
    if (trainer_sizes_for(&sz, &spec, n, batch, &o) != 0)
        return ld_fail(err, errlen, LD_ENOMEM,
                       "training buffers for %d samples do not fit in memory", n);
    t->n = n;
    t->batch = batch <= 0 || batch > n ? n : batch;
    t->in = m->in;
    t->out = m->out;
    t->rank = L->rank;
    t->base_cols = L->out;
    t->x = x;
    t->y = y;
    t->method = sz.method;
    t->yhat_rows = sz.yhat_rows;
    size_t floats = 0, doubles = 0;
    for (int i = 0; i < TBUF_COUNT; i++)
        floats += sz.floats[i]; /* trainer_sizes_for checked these sums */
    for (int i = 0; i < TDBUF_COUNT; i++)
        doubles += sz.doubles[i];
    t->mem = malloc(floats > 0 ? floats * sizeof(float) : 1);
    t->dmem = malloc(doubles > 0 ? doubles * sizeof(double) : 1);
    if (t->mem == NULL || t->dmem == NULL) {
        trainer_free(t);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory allocating %zu bytes of training buffers",
                       floats * sizeof(float) + doubles * sizeof(double));
    }
    ld_status st = pool_init(&t->pool, o.threads, sz.scratch_floats, err, errlen);
    if (st != LD_OK) {
        trainer_free(t);
        return st;
    }
    pool_timing_on(t->pool, o.time_pool);
    t->kernels_on_pool = sz.scratch_floats > 0;
    point_buffers(t, &sz);
    if (t->base_all != NULL)
        cache_base_output(t, L);
    if (t->method == TRAIN_LORA_NARROW && t->batch == n) {
        /* a full batch is the same rows every epoch: in blocks once */
        lora_narrow_fill(t, x, y, t->base_all, n);
        t->narrow_cached = 1;
    }
    if (t->method == TRAIN_NET_LORA)
        net_lora_setup(t, m);
    if (t->method == TRAIN_CLOSED_FORM)
        closed_form_setup(t);
    if (t->method == TRAIN_LORA_CLOSED)
        lora_closed_setup(t);
    return LD_OK;
}

void trainer_free(trainer *t)
{
    pool_free(t->pool);
    free(t->mem);
    free(t->dmem);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------ */
/* Adam on the pool */

typedef struct {
    model *m;
    adam_config adam;
    const pool *pool;
} adam_ctx;

static void adam_job(void *vctx, int tid, int nthreads)
{
    const adam_ctx *c = vctx;
    model *m = c->m;
    int lo, hi;
    pool_share_balanced(c->pool, (int)m->n_params, 64, tid, nthreads, &lo, &hi);
    if (hi > lo)
        model_adam_span(m, (size_t)lo, (size_t)hi, c->adam);
}

void train_adam(trainer *t, model *m, adam_config adam)
{
    if (m->n_params < ADAM_PARALLEL_MIN || m->n_params > (size_t)2147483647) {
        model_adam_step(m, adam);
        return;
    }
    m->step++; /* what model_adam_step does, then its loop in shares */
    adam_ctx c = {m, adam, t->pool};
    pool_run(t->pool, adam_job, &c);
}

/* ------------------------------------------------------------------------ */
/* epochs */

/* Copy rows idx[0..cnt) of src (N, width) into dst (cnt, width). */
static void gather_rows(float *dst, const float *src, const int *idx, int cnt, int width)
{
    for (int i = 0; i < cnt; i++)
        memcpy(dst + (size_t)i * width, src + (size_t)idx[i] * width,
               (size_t)width * sizeof(float));
}

/* The rows of batch [start, start+cnt): gathered in `order`'s order, or
 * pointed at in place (full batch, or batches in data order). */
static batch_ctx batch_rows(trainer *t, model *m, const int *order, int start, int cnt)
{
    const int I = t->in, O = t->out;
    batch_ctx b = {t, m, NULL, NULL, NULL, cnt, 2.0f / (float)((size_t)cnt * (size_t)O)};
    if (order != NULL && t->xb != NULL) {
        gather_rows(t->xb, t->x, order + start, cnt, I);
        gather_rows(t->yb, t->y, order + start, cnt, O);
        b.x = t->xb;
        b.y = t->yb;
        if (t->base_all != NULL) {
            gather_rows(t->base_rows, t->base_all, order + start, cnt, t->base_cols);
            b.base = t->base_rows;
        }
    } else {
        b.x = t->x + (size_t)start * I;
        b.y = t->y + (size_t)start * O;
        b.base = t->base_all != NULL ? t->base_all + (size_t)start * t->base_cols : NULL;
    }
    return b;
}

float trainer_epoch(trainer *t, model *m, const int *order, adam_config adam)
{
    if (t->method == TRAIN_CLOSED_FORM)
        return (float)closed_form_epoch(t, m, adam);
    if (t->method == TRAIN_LORA_CLOSED)
        return (float)lora_closed_epoch(t, m, adam);
    double loss_sum = 0.0;
    int batches = 0;
    /* start += cnt, not += batch: start + batch may pass INT_MAX when n is close to it */
    for (int start = 0, cnt; start < t->n; start += cnt) {
        cnt = t->n - start < t->batch ? t->n - start : t->batch;
        const batch_ctx b = batch_rows(t, m, order, start, cnt);
        double loss;
        switch (t->method) {
        case TRAIN_LORA_NARROW: loss = lora_narrow_step(t, m, &b, adam); break;
        case TRAIN_LORA_FUSED: loss = lora_fused_step(t, m, &b, adam); break;
        case TRAIN_NET_LORA: loss = net_lora_step(t, m, &b, adam); break;
        default: loss = plain_step(t, m, &b, adam); break;
        }
        loss_sum += (double)(float)loss;
        batches++;
    }
    return (float)(loss_sum / batches);
}

float trainer_eval(trainer *t, const model *m, const float *x, const float *y, int n)
{
    const int O = t->out;
    const int rows = t->yhat_rows;
    double sq = 0.0;
    /* start += cnt, not += rows: start + rows may pass INT_MAX when n is close to it */
    for (int start = 0, cnt; start < n; start += cnt) {
        cnt = n - start < rows ? n - start : rows;
        const size_t ny = (size_t)cnt * (size_t)O;
        model_forward(m, t->yhat, t->h, x + (size_t)start * t->in, NULL, cnt,
                      t->kernels_on_pool ? t->pool : NULL);
        sq += (double)mse_forward(t->yhat, y + (size_t)start * O, ny) * (double)ny;
    }
    return (float)(sq / ((double)n * (double)O));
}
