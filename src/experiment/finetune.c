/* finetune.c - one seed of the fine-tune experiment: a dense layer is
 * pretrained on task 1 (or read, --base-weights), then adapted to task 2
 * (teacher.h). "dense" is full fine-tuning from the pretrained weights;
 * "lora_r<k>" freezes them and trains only A and B (PEFT's init, B = 0; or
 * with --init pissa, A and B from the base's top singular triplets and the
 * residual base frozen instead), then is merged (W = W0 + s B A) and
 * predicts with the merged weight.
 * A --hidden network does the same on every layer; its tasks come from
 * finetune_net.c. See docs/finetune.md.
 *
 * Dimension key: N samples, NT held-out samples, P printed test rows,
 * I in, O out, R rank.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"
#include "core/rng.h"
#include "core/svd.h"
#include "experiment/teacher.h"
#include "runs.h"

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float d = fabsf(a[i] - b[i]);
        if (d > worst || isnan(d))
            worst = d;
    }
    return worst;
}

static float max_abs(const float *a, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i]) > worst)
            worst = fabsf(a[i]);
    return worst;
}

/* Everything one seed holds while its models fine-tune, freed together. */
typedef struct {
    teacher tc[MODEL_MAX_LAYERS]; /* layer l's teacher (one layer: tc[0]) */
    dataset task1, train, test;
    model pre;        /* the pretrained dense layer (unless --base-weights; a network:
                       * the base given, as a model) */
    float *pre_curve; /* (pretrain_epochs) */
    float *yu;        /* (NT,O) held-out predictions, unmerged (or dense) */
    float *ym;        /* (NT,O) held-out predictions, merged */
    float *h;         /* (NT,R) LoRA activation, R the largest rank; a network's acts */
    float *base_mem;  /* a network's base, gathered: every weight, then every bias */
    float *wres;      /* --init pissa: the residual base weights of the model in
                       * training, every layer's (O_l,I_l), one after another */
    const float *W0, *b0; /* (O,I), (O): the base every model starts from (a network:
                           * every layer's, one after another) */
    shift_basis sb[MODEL_MAX_LAYERS]; /* first seed with a teacher: each layer's dW to
                                       * compare its updates with */
} ft_seed;

static void ft_seed_free(ft_seed *f)
{
    free(f->pre_curve);
    free(f->yu);
    free(f->ym);
    free(f->h);
    free(f->base_mem);
    free(f->wres);
    model_free(&f->pre);
    dataset_free(&f->task1);
    dataset_free(&f->train);
    dataset_free(&f->test);
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        teacher_free(&f->tc[l]);
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        shift_basis_free(&f->sb[l]);
}

/* ------------------------------------------------------------------------ */
/* one model */

/* Merge, predict with the merged weight, check it against the unmerged
 * predictions f->yu, unmerge and check that the frozen base came back
 * (W0, or with PiSSA the residual f->wres). */
static ld_status merge_and_check(model *m, model_result *mr, const ft_seed *f, char *err,
                                 size_t errlen)
{
    const size_t ny = (size_t)f->test.n * (size_t)m->out;
    ld_status st = model_merge(m, err, errlen);
    if (st != LD_OK)
        return st;
    model_forward(m, f->ym, f->h, f->test.x, NULL, f->test.n, NULL);
    const float d = max_abs_diff(f->ym, f->yu, ny);
    const float ref = max_abs(f->yu, ny);
    const float rel = ref > 0.0f ? d / ref : d;
    if (d > mr->merge_max_diff || isnan(d))
        mr->merge_max_diff = d;
    if (rel > mr->merge_rel_diff || isnan(rel))
        mr->merge_rel_diff = rel;
    st = model_unmerge(m, err, errlen);
    if (st != LD_OK)
        return st;
    const float *w0 = f->wres != NULL ? f->wres : f->W0;
    for (int l = 0; l < m->n_layers; l++) {
        const layer *L = &m->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        const float du = max_abs_diff(L->W0, w0, nw);
        if (du > mr->unmerge_max_diff || isnan(du))
            mr->unmerge_max_diff = du;
        w0 += nw;
    }
    return LD_OK;
}

/* --init pissa, on every layer: A, B and the residual base from that
 * layer's SVD (lora_init_pissa); the residuals, layer after layer, are kept
 * in f->wres for the unmerge check and, first seed with --save-weights, in
 * the model's result for export. A base that is not finite (pretraining
 * diverged) keeps PEFT's default init: the model then diverges at its first
 * epoch, which the run reports. */
static ld_status pissa_start(model *m, const seed_run *sr, model_result *mr, const ft_seed *f,
                             char *err, size_t errlen)
{
    size_t off = 0;
    /* threads for the SVDs' vectors when a layer takes the bidiagonal route
     * (svd.h; the same bits on any number), started for these SVDs only */
    pool *pl = NULL;
    int big = 0;
    for (int l = 0; l < m->n_layers; l++)
        big |= (m->layers[l].out < m->layers[l].in ? m->layers[l].out : m->layers[l].in) >=
               SVD_BIDIAG_MIN;
    if (big && sr->cfg->threads > 1) {
        const ld_status st = pool_init(&pl, sr->cfg->threads, 0, err, errlen);
        if (st != LD_OK)
            return st;
    }
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        ld_status st =
            lora_init_pissa(L->A, L->B, L->W0, L->scale, L->in, L->rank, L->out, pl, err, errlen);
        if (st == LD_EINPUT)
            st = LD_OK; /* not finite: W0, A and B are as they were */
        if (st != LD_OK) {
            pool_free(pl);
            return st;
        }
        memcpy(f->wres + off, L->W0, nw * sizeof(float));
        off += nw;
    }
    pool_free(pl);
    if (sr->s == 0 && sr->cfg->save_weights && off > 0) {
        free(mr->pissa_base);
        mr->pissa_base = malloc(off * sizeof(float));
        if (mr->pissa_base == NULL)
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory keeping the PiSSA base to save");
        memcpy(mr->pissa_base, f->wres, off * sizeof(float));
    }
    return LD_OK;
}

/* Model i from the base: rank 0, every parameter from W0, b0; rank r, W0
 * and b0 frozen and A, B from lora_init_peft (B = 0), layer l's A from
 * stream STREAM_INIT_BASE + r + l * STREAM_LAYER_STRIDE, or with --init
 * pissa from pissa_start. */
static ld_status build_finetune_model(model *m, const seed_run *sr, int i, int rank,
                                      const ft_seed *f, char *err, size_t errlen)
{
    const model_spec spec = run_model_spec(sr->cfg, rank, rank > 0);
    ld_status st = model_init(m, &spec, f->W0, f->b0, err, errlen);
    if (st != LD_OK)
        return st;
    seed_model_streams(m, sr->seed, rank);
    const float *w0 = f->W0, *b0 = f->b0;
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        if (rank == 0) {
            memcpy(L->W, w0, nw * sizeof(float));
            memcpy(L->b, b0, (size_t)L->out * sizeof(float));
        } else {
            rng r;
            rng_seed(&r, sr->seed,
                     STREAM_INIT_BASE + (uint64_t)rank + (uint64_t)l * STREAM_LAYER_STRIDE);
            lora_init_peft(L->A, L->B, L->in, rank, L->out, &r);
        }
        w0 += nw;
        b0 += L->out;
    }
    if (rank > 0 && sr->cfg->init == LORA_INIT_PISSA)
        st = pissa_start(m, sr, &sr->rc->res->models[i], f, err, errlen);
    if (st == LD_OK && rank > 0)
        model_dora_init(m); /* --dora: the magnitude from W0 + s B A, after PiSSA as in PEFT */
    if (st != LD_OK)
        model_free(m);
    return st;
}

/* Fine-tune model i on task 2; evaluate it (merged, for LoRA) on the
 * held-out set. */
static ld_status finetune_model(const seed_run *sr, int i, const ft_seed *f, char *err,
                                size_t errlen)
{
    model_result *mr = &sr->rc->res->models[i];
    const int rank = model_rank(sr->cfg, i);
    const size_t ny = (size_t)f->test.n * (size_t)sr->cfg->out;
    model m;
    trainer t;
    int finished = 0;
    ld_status st = build_finetune_model(&m, sr, i, rank, f, err, errlen);
    if (st != LD_OK)
        return st;
    st = train_recorded(sr, i, &m, &t, &f->train, &finished, err, errlen);
    if (st == LD_OK && finished) { /* no test loss, merge or predictions otherwise */
        const float *yhat = f->yu;
        model_forward(&m, f->yu, f->h, f->test.x, NULL, f->test.n, NULL);
        if (rank > 0) {
            st = merge_and_check(&m, mr, f, err, errlen);
            yhat = f->ym;
        }
        if (st == LD_OK) {
            mr->test_losses[sr->s] = mse_forward(yhat, f->test.y, ny);
            if (sr->s == 0)
                memcpy(mr->pred, yhat,
                       (size_t)sr->rc->res->n_pred * (size_t)sr->cfg->out * sizeof(float));
        }
    }
    /* the first seed's spectrum of the update (dense W - W0, LoRA s B A;
     * PiSSA's residual + s B A - W0; DoRA's merge - W0), layer by layer,
     * on the trainer's threads */
    if (st == LD_OK && sr->s == 0 && finished)
        st = spectra_of_model(mr, &m, f->W0, f->wres, f->sb, t.pool, err, errlen);
    else if (st == LD_OK && sr->s == 0)
        spectra_unfinished(mr, m.n_layers);
    trainer_free(&t);
    model_free(&m);
    return st;
}

/* ------------------------------------------------------------------------ */
/* the seed */

/* Task 2's data from the teacher (and task 1's, unless the base is given),
 * or from the files. */
static ld_status task_data(const seed_run *sr, ft_seed *f, int given_base, char *err,
                           size_t errlen)
{
    const config *cfg = sr->cfg;
    if (sr->in != NULL && sr->in->has_data)
        return file_data(sr, &f->train, &f->test, err, errlen);
    rng rb, rd, r;
    rng_seed(&rb, sr->seed, STREAM_TEACHER);
    rng_seed(&rd, sr->seed, STREAM_DELTA);
    ld_status st =
        teacher_make(&f->tc[0], cfg->in, cfg->out, cfg->delta_rank, &rb, &rd, err, errlen);
    if (st == LD_OK && !given_base)
        st = dataset_alloc(&f->task1, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(&f->train, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(&f->test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
    if (st != LD_OK)
        return st;
    if (!given_base) {
        rng_seed(&r, sr->seed, STREAM_PRETRAIN_DATA);
        teacher_make_data(&f->task1, f->tc[0].w_base, f->tc[0].b, cfg->noise, &r);
    }
    rng_seed(&r, sr->seed, STREAM_TRAIN_DATA);
    teacher_make_data(&f->train, f->tc[0].w_task2, f->tc[0].b, cfg->noise, &r);
    rng_seed(&r, sr->seed, STREAM_TEST_DATA);
    teacher_make_data(&f->test, f->tc[0].w_task2, f->tc[0].b, cfg->noise, &r);
    return LD_OK;
}

/* Pretrain a dense layer on task 1 from nn.Linear's init: W0, b0. *stopped
 * is 1 if the stop flag cut it short (then no model is fine-tuned). A
 * pretraining that diverged leaves a base that is not finite; the models
 * are still fine-tuned from it, and each one's own check reports its
 * divergence (at epoch 1). */
static ld_status pretrain(const seed_run *sr, ft_seed *f, int *stopped, char *err, size_t errlen)
{
    const config *cfg = sr->cfg;
    experiment_result *res = sr->rc->res;
    const model_spec spec = run_model_spec(cfg, 0, 0);
    trainer t;
    memset(&t, 0, sizeof t);
    *stopped = 0;
    ld_status st = model_init(&f->pre, &spec, NULL, NULL, err, errlen);
    if (st != LD_OK)
        return st;
    for (int l = 0; l < f->pre.n_layers; l++) { /* layer l from its own stream */
        layer *L = &f->pre.layers[l];
        rng r;
        rng_seed(&r, sr->seed, STREAM_PRETRAIN_INIT + (uint64_t)l * STREAM_LAYER_STRIDE);
        linear_init(L->W, L->b, L->in, L->out, &r);
    }
    st = start_trainer(&t, &f->pre, f->task1.x, f->task1.y, f->task1.n, cfg, err, errlen);
    double ms = 0.0;
    fit_outcome fo = {0, 0};
    if (st == LD_OK)
        st = fit(sr->rc, "pretrain", &t, &f->pre, cfg->pretrain_epochs, cfg->lr, sr->seed,
                 STREAM_PRETRAIN_SHUFFLE, f->pre_curve, &ms, &fo, err, errlen);
    /* pretraining is over: its trainer (closed-form buffers, threads) and the
     * task-1 data are not needed while the models fine-tune */
    trainer_free(&t);
    dataset_free(&f->task1);
    if (st != LD_OK)
        return st;
    res->pretrain_epochs_done[sr->s] = fo.epochs_done;
    res->pretrain_diverged_at[sr->s] = fo.diverged_at;
    *stopped = fo.epochs_done < cfg->pretrain_epochs && fo.diverged_at == 0;
    if (!*stopped)
        res->pretrain_losses[sr->s] = f->pre_curve[cfg->pretrain_epochs - 1];
    f->W0 = f->pre.layers[0].W;
    f->b0 = f->pre.layers[0].b;
    return LD_OK;
}

/* A network pretrained: its teachers, task 1 and pretraining; the base
 * gathered (finetune_net.c). */
static ld_status network_pretrain(const seed_run *sr, ft_seed *f, int *stopped, char *err,
                                  size_t errlen)
{
    const config *cfg = sr->cfg;
    model net;
    memset(&net, 0, sizeof net);
    rng r;
    ld_status st = net_teachers(f->tc, cfg, sr->seed, err, errlen);
    if (st == LD_OK)
        st = net_task1_teacher(&net, cfg, f->tc, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(&f->task1, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK) {
        rng_seed(&r, sr->seed, STREAM_PRETRAIN_DATA);
        st = net_make_data(&f->task1, &net, cfg->noise, &r, err, errlen);
    }
    model_free(&net);
    if (st == LD_OK)
        st = pretrain(sr, f, stopped, err, errlen);
    size_t nw = 0, nb = 0;
    const model_spec spec = run_model_spec(cfg, 0, 0);
    net_base_floats(&spec, &nw, &nb);
    if (st == LD_OK && (f->base_mem = malloc((nw + nb) * sizeof(float))) == NULL)
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for a network's base");
    if (st == LD_OK) {
        net_gather(&f->pre, f->base_mem, f->base_mem + nw);
        f->W0 = f->base_mem;
        f->b0 = f->base_mem + nw;
    }
    return st;
}

/* A network's base from --base-weights, standing for the pretrained one;
 * with --data, task 2's data from the files, else the teachers (for their
 * shifts: no task 1 is drawn). */
static ld_status network_given_base(const seed_run *sr, ft_seed *f, char *err, size_t errlen)
{
    f->W0 = sr->in->base_w;
    f->b0 = sr->in->base_b;
    sr->rc->res->pretrain_losses[sr->s] = NAN; /* nothing was pretrained */
    ld_status st = net_from_base(&f->pre, sr->cfg, f->W0, f->b0, err, errlen);
    if (st == LD_OK && sr->in->has_data)
        return file_data(sr, &f->train, &f->test, err, errlen);
    return st == LD_OK ? net_teachers(f->tc, sr->cfg, sr->seed, err, errlen) : st;
}

/* A network's tasks: the base (pretrained, or given), then task 2 from it
 * and the shifts (finetune_net.c), unless --data gave task 2. */
static ld_status network_tasks(const seed_run *sr, ft_seed *f, int given_base, int *stopped,
                               char *err, size_t errlen)
{
    const config *cfg = sr->cfg;
    model net;
    memset(&net, 0, sizeof net);
    rng r;
    ld_status st = given_base ? network_given_base(sr, f, err, errlen)
                              : network_pretrain(sr, f, stopped, err, errlen);
    if (st != LD_OK || (given_base && sr->in->has_data))
        return st;
    st = net_task2_teacher(&net, cfg, f->W0, f->b0, f->tc, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(&f->train, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(&f->test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK) {
        rng_seed(&r, sr->seed, STREAM_TRAIN_DATA);
        st = net_make_data(&f->train, &net, cfg->noise, &r, err, errlen);
    }
    if (st == LD_OK) {
        rng_seed(&r, sr->seed, STREAM_TEST_DATA);
        st = net_make_data(&f->test, &net, cfg->noise, &r, err, errlen);
    }
    model_free(&net);
    return st;
}

/* For --save-weights: the first seed's base, kept in the result. */
static ld_status keep_base(const seed_run *sr, const ft_seed *f, char *err, size_t errlen)
{
    experiment_result *res = sr->rc->res;
    const model_spec spec = run_model_spec(sr->cfg, 0, 0);
    size_t nw = 0, nb = 0;
    net_base_floats(&spec, &nw, &nb); /* one layer: O I and O */
    res->base_w = malloc(nw * sizeof(float));
    res->base_b = malloc(nb * sizeof(float));
    if (res->base_w == NULL || res->base_b == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory keeping the base to save");
    memcpy(res->base_w, f->W0, nw * sizeof(float));
    memcpy(res->base_b, f->b0, nb * sizeof(float));
    return LD_OK;
}

/* The held-out buffers, sized for the largest rank, and the pretraining curve. */
static ld_status alloc_buffers(const seed_run *sr, ft_seed *f, int given_base, char *err,
                               size_t errlen)
{
    const config *cfg = sr->cfg;
    int max_rank = 1;
    for (int i = 0; i < cfg->n_ranks; i++)
        if (cfg->ranks[i] > max_rank)
            max_rank = cfg->ranks[i];
    const size_t NT = (size_t)cfg->test_samples, ny = NT * (size_t)cfg->out;
    size_t nh = NT * (size_t)max_rank; /* a network: its largest model's acts */
    for (int i = 0; cfg->n_hidden > 0 && i <= cfg->n_ranks; i++) {
        const model_spec spec = run_model_spec(cfg, model_rank(cfg, i), i > 0);
        const size_t na = model_acts_floats(&spec, NT);
        nh = na > nh ? na : nh;
    }
    f->yu = malloc(ny * sizeof(float));
    f->ym = malloc(ny * sizeof(float));
    f->h = nh != SIZE_MAX ? malloc(nh * sizeof(float)) : NULL;
    if (!given_base)
        f->pre_curve = malloc((size_t)cfg->pretrain_epochs * sizeof(float));
    if (cfg->init == LORA_INIT_PISSA) {
        const model_spec spec = run_model_spec(cfg, 0, 0);
        size_t nw = 0, nb = 0;
        net_base_floats(&spec, &nw, &nb);
        f->wres = malloc(nw * sizeof(float));
    }
    if (f->yu == NULL || f->ym == NULL || f->h == NULL || (!given_base && f->pre_curve == NULL) ||
        (cfg->init == LORA_INIT_PISSA && f->wres == NULL))
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for fine-tuning buffers");
    return LD_OK;
}

ld_status run_finetune(const seed_run *sr, char *err, size_t errlen)
{
    const config *cfg = sr->cfg;
    experiment_result *res = sr->rc->res;
    const int given_base = sr->in != NULL && sr->in->base_w != NULL;
    ft_seed f;
    memset(&f, 0, sizeof f);
    int stopped = 0;
    const int net = cfg->n_hidden > 0;
    ld_status st = net ? alloc_buffers(sr, &f, given_base, err, errlen)
                       : task_data(sr, &f, given_base, err, errlen);
    if (st == LD_OK && net)
        st = network_tasks(sr, &f, given_base, &stopped, err, errlen); /* pretrains too */
    if (st == LD_OK)
        st = keep_first_seed_data(sr, &f.train, &f.test, err, errlen);
    /* the teacher's dW, which updates are compared with; a network's, every
     * layer's shift of its pretrained base */
    if (st == LD_OK && !net && sr->s == 0 && f.tc[0].dw != NULL) {
        res->shift_rank = cfg->delta_rank;
        res->n_shift_layers = 1;
        st = shift_basis_make(&f.sb[0], &res->shift[0], &res->shift_energy, f.tc[0].dw,
                              cfg->out, cfg->in, cfg->delta_rank, err, errlen);
    } else if (st == LD_OK && net && sr->s == 0 && (sr->in == NULL || !sr->in->has_data)) {
        st = net_shift_bases(f.sb, res, cfg, f.W0, f.tc, err, errlen);
    }
    if (st == LD_OK && !net)
        st = alloc_buffers(sr, &f, given_base, err, errlen);
    if (st == LD_OK && !net && given_base) {
        f.W0 = sr->in->base_w;
        f.b0 = sr->in->base_b;
        res->pretrain_losses[sr->s] = NAN; /* nothing was pretrained */
    } else if (st == LD_OK && !net) {
        st = pretrain(sr, &f, &stopped, err, errlen);
    }
    if (st == LD_OK && !stopped && sr->s == 0 && cfg->save_weights)
        st = keep_base(sr, &f, err, errlen);
    if (st == LD_OK && !stopped) {
        /* the base alone on task 2: where every model starts */
        if (net)
            model_forward(&f.pre, f.yu, f.h, f.test.x, NULL, f.test.n, NULL);
        else
            linear_forward(f.yu, f.test.x, f.W0, f.b0, f.test.n, cfg->in, cfg->out, NULL);
        res->base_test_losses[sr->s] =
            mse_forward(f.yu, f.test.y, (size_t)f.test.n * (size_t)cfg->out);
    }
    for (int i = 0; i < res->n_models && st == LD_OK && !stopped; i++) {
        if (res->interrupted || stop_before(sr->rc, res->models[i].name))
            break;
        st = finetune_model(sr, i, &f, err, errlen);
    }
    ft_seed_free(&f);
    return st;
}
