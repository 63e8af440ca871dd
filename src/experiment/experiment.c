/* experiment.c - the two experiments, each repeated over seeds, and the
 * aggregation of their results (see experiment.h).
 *
 * Dimension key: N samples, P printed test rows, I in, O out, E epochs,
 * R rank, S repeats (seeds), M models.
 *
 * The structure is one function per experiment and seed (run_scratch,
 * run_finetune) that writes its seed's numbers into the result, and
 * experiment_run, which loops over the seeds and then aggregates. Every
 * model is trained by fit(), the epoch loop shared by all of them; it also
 * holds the hooks: the divergence check, the stop flag and the progress
 * callback (experiment.h).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime, sysconf */
#include "experiment/experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/data.h"
#include "experiment/teacher.h"
#include "core/linear.h"
#include "core/lora.h"
#include "kernels/matmul.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "train/train.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ------------------------------------------------------------------------ */
/* shared by both experiments: the epoch loop and its hooks */

/* The state of one run that the epoch loop needs besides the model. */
typedef struct {
    const experiment_hooks *hooks; /* or NULL */
    experiment_result *res;
    experiment_progress prog;      /* seed_index, repeats, done and total live here */
} run_ctx;

static int stop_requested(const run_ctx *rc)
{
    return rc->hooks != NULL && rc->hooks->stop != NULL && *rc->hooks->stop != 0;
}

/* Record where the run stopped (the first time only): in `model` of the
 * current seed, after `trained` of its epochs. */
static void mark_stopped(run_ctx *rc, const char *model, int trained)
{
    experiment_result *res = rc->res;
    if (res->interrupted)
        return;
    res->interrupted = 1;
    res->stop_seed = rc->prog.seed_index;
    snprintf(res->stop_model, sizeof res->stop_model, "%s", model);
    res->stop_epoch = trained;
}

/* 1 if none of the n values is NaN or Inf. x*0 is 0 for finite x and NaN
 * otherwise, so one sum tells, with no branch in the loop. */
static int all_finite(const float *x, size_t n)
{
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += x[i] * 0.0f;
    return acc == 0.0f;
}

/* How one call of fit() ended. */
typedef struct {
    int epochs_done; /* epochs trained (the diverging one included) */
    int diverged_at; /* 1-based epoch whose loss or update was not finite; 0 = none */
} fit_outcome;

/* Train m (named `name` for the hooks) with t for `epochs` epochs of Adam
 * at learning rate lr; losses (E) receives each epoch's loss, NaN where
 * there is none (see experiment.h: divergence, stop), and *ms the time
 * taken. With mini-batches the order is reshuffled every epoch from stream
 * `stream` of `seed`. All allocation happens before the loop. */
static ld_status fit(run_ctx *rc, const char *name, trainer *t, model *m, int epochs, double lr,
                     uint64_t seed, uint64_t stream, float *losses, double *ms, fit_outcome *out,
                     char *err, size_t errlen)
{
    out->epochs_done = 0;
    out->diverged_at = 0;
    *ms = 0.0;
    int *order = NULL;
    const int mini = t->batch < t->n;
    if (mini) {
        order = malloc((size_t)t->n * sizeof *order);
        if (order == NULL)
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory for the batch order");
        for (int i = 0; i < t->n; i++)
            order[i] = i;
    }
    rng shuffle;
    rng_seed(&shuffle, seed, stream);
    const adam_config adam = adam_defaults(lr);
    void (*progress)(void *, const experiment_progress *) =
        rc->hooks != NULL ? rc->hooks->progress : NULL;
    rc->prog.model = name;
    rc->prog.epochs = epochs;
    const double t0 = now_ms();
    for (int e = 0; e < epochs; e++) {
        if (mini)
            rng_shuffle(&shuffle, order, t->n);
        const float loss = trainer_epoch(t, m, order, adam);
        losses[e] = isfinite(loss) ? loss : NAN;
        out->epochs_done = e + 1;
        rc->prog.done++;
        const int diverged = !isfinite(loss) || !all_finite(m->params, m->n_params);
        if (diverged) {
            out->diverged_at = e + 1;
            rc->prog.done += (uint64_t)(epochs - e - 1); /* the epochs it will not train */
        }
        if (progress != NULL) {
            rc->prog.epoch = e + 1;
            progress(rc->hooks->progress_ctx, &rc->prog);
        }
        if (diverged)
            break;
        if (stop_requested(rc)) {
            if (e + 1 < epochs)
                mark_stopped(rc, name, e + 1);
            break;
        }
    }
    for (int e = out->epochs_done; e < epochs; e++)
        losses[e] = NAN;
    *ms = now_ms() - t0;
    free(order);
    return LD_OK;
}

/* A trainer for m on n samples of (x, y), with the run's batch size and
 * --threads. */
static ld_status start_trainer(trainer *t, const model *m, const float *x, const float *y, int n,
                               const config *cfg, char *err, size_t errlen)
{
    trainer_options opt = trainer_defaults();
    opt.threads = cfg->threads;
    return trainer_init_opts(t, m, x, y, n, cfg->batch_size, &opt, err, errlen);
}

/* 1 if the outcome is a model trained for all its epochs without diverging. */
static int completed(const fit_outcome *o, int epochs)
{
    return o->epochs_done == epochs && o->diverged_at == 0;
}

/* The rank of model i: 0 (dense) first, then cfg->ranks in order. */
static int model_rank(const config *cfg, int i)
{
    return i == 0 ? 0 : cfg->ranks[i - 1];
}

/* The per-model facts that depend on neither the seed nor the training, so
 * even a model an interrupt never started has them: name, rank, alpha,
 * scale and sizes (as model_init_* lays the parameters out). */
static void describe_models(experiment_result *res, const config *cfg)
{
    const size_t I = (size_t)cfg->in, O = (size_t)cfg->out;
    for (int i = 0; i < res->n_models; i++) {
        model_result *mr = &res->models[i];
        const int r = model_rank(cfg, i);
        mr->rank = r;
        if (r == 0) {
            snprintf(mr->name, sizeof mr->name, "dense");
            mr->trainable = O * I + O;
        } else {
            snprintf(mr->name, sizeof mr->name, "lora_r%d", r);
            mr->alpha = config_alpha(cfg, r);
            mr->scale = config_scale(cfg, r);
            mr->trainable = (size_t)r * (I + O);
        }
        mr->optimizer_bytes = 2 * mr->trainable * sizeof(float);
        mr->trainable_fraction = (double)mr->trainable / (double)(O * I + O);
    }
}

/* Before model i of a seed starts: 1 (and the stop recorded) if the stop
 * flag says it must not. */
static int stop_before(run_ctx *rc, const char *model)
{
    if (!stop_requested(rc))
        return 0;
    mark_stopped(rc, model, 0);
    return 1;
}

/* For --save-weights: a copy of m's parameter block in *dst (the initial or
 * the final one) and the table that names its tensors. */
static ld_status keep_params(model_result *mr, const model *m, float **dst, char *err, size_t errlen)
{
    *dst = malloc(m->n_params * sizeof(float));
    if (*dst == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory keeping the weights to save");
    memcpy(*dst, m->params, m->n_params * sizeof(float));
    mr->n_tensors = m->n_tensors;
    memcpy(mr->tensors, m->tensors, sizeof mr->tensors);
    mr->n_params = m->n_params;
    mr->has_base = m->has_base;
    return LD_OK;
}

/* The seed's data from the files: --test-data as read, or --data with the
 * seed's held-out rows drawn from stream STREAM_HOLDOUT. */
static ld_status file_data(const run_inputs *in, uint64_t seed, dataset *train, dataset *test,
                           char *err, size_t errlen)
{
    rng r;
    rng_seed(&r, seed, STREAM_HOLDOUT);
    return inputs_split(in, &r, train, test, err, errlen);
}

/* For --save-data: the first seed's data, kept in res. */
static ld_status keep_data(experiment_result *res, const dataset *train, const dataset *test,
                           char *err, size_t errlen)
{
    ld_status st = dataset_clone(&res->train, train, err, errlen);
    if (st == LD_OK)
        st = dataset_clone(&res->test, test, err, errlen);
    return st;
}

/* ------------------------------------------------------------------------ */
/* scratch: the notebook's experiment */

/* Build model `rank` (0 = dense) with its initial weights. */
static ld_status build_scratch_model(model *m, const config *cfg, uint64_t seed, int rank,
                                     char *err, size_t errlen)
{
    rng r;
    rng_seed(&r, seed, STREAM_INIT_BASE + (uint64_t)rank);
    ld_status st;
    if (rank == 0) {
        st = model_init_dense(m, cfg->in, cfg->out, err, errlen);
        if (st == LD_OK)
            linear_init(m->w, m->b, cfg->in, cfg->out, &r);
    } else {
        st = model_init_lora(m, cfg->in, cfg->out, rank, config_alpha(cfg, rank),
                             config_scale(cfg, rank), NULL, NULL, err, errlen);
        if (st == LD_OK)
            lora_init_scratch(m->a, m->bm, cfg->in, rank, cfg->out, &r);
    }
    return st;
}

/* Train the built model m of seed index s for cfg->epochs and record the
 * run in mr: its curve, time, epochs done, divergence, and with
 * --save-weights (first seed) its initial and final parameters. *t is left
 * initialised for the caller to evaluate with and free, whatever the result.
 * *finished is 1 when every epoch ran (no divergence, no interrupt). */
static ld_status train_recorded(run_ctx *rc, model_result *mr, float *curve, int s,
                                const config *cfg, uint64_t seed, int rank, model *m, trainer *t,
                                const dataset *train, int *finished, char *err, size_t errlen)
{
    const int keep = s == 0 && cfg->save_weights;
    double ms = 0.0;
    fit_outcome fo;
    *finished = 0;
    memset(t, 0, sizeof *t);
    ld_status st = keep ? keep_params(mr, m, &mr->init_params, err, errlen) : LD_OK;
    if (st == LD_OK)
        st = start_trainer(t, m, train->x, train->y, train->n, cfg, err, errlen);
    if (st == LD_OK)
        st = fit(rc, mr->name, t, m, cfg->epochs, cfg->lr, seed,
                 STREAM_SHUFFLE_BASE + (uint64_t)rank, curve, &ms, &fo, err, errlen);
    if (st != LD_OK)
        return st;
    mr->train_ms += ms;
    mr->epochs_done[s] = fo.epochs_done;
    mr->diverged_at[s] = fo.diverged_at;
    if (!completed(&fo, cfg->epochs))
        return LD_OK;
    *finished = 1;
    mr->n_completed++;
    /* LoRA: the trained A and B, before any merge touches the base */
    return keep ? keep_params(mr, m, &mr->final_params, err, errlen) : LD_OK;
}

/* Train one model of seed index s; its curve (E) goes to `curve`. */
static ld_status scratch_model(run_ctx *rc, model_result *mr, float *curve, int s,
                               const config *cfg, uint64_t seed, int rank, const dataset *train,
                               const dataset *test, int n_pred, char *err, size_t errlen)
{
    model m;
    trainer t;
    int finished = 0;
    ld_status st = build_scratch_model(&m, cfg, seed, rank, err, errlen);
    if (st != LD_OK) {
        model_free(&m);
        return st;
    }
    st = train_recorded(rc, mr, curve, s, cfg, seed, rank, &m, &t, train, &finished, err, errlen);
    if (st != LD_OK || !finished)
        goto done; /* no test loss or predictions for a model that did not finish */
    mr->test_losses[s] = trainer_eval(&t, &m, test->x, test->y, test->n);
    if (s == 0) {
        /* predictions on the first held-out rows, shown beside their targets */
        float *h = malloc((size_t)n_pred * (size_t)(rank > 0 ? rank : 1) * sizeof(float));
        if (h == NULL) {
            st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for predictions");
            goto done;
        }
        model_forward(&m, mr->pred, h, test->x, NULL, n_pred);
        free(h);
    }
done:
    trainer_free(&t);
    model_free(&m);
    return st;
}

/* One seed of the scratch experiment; curves is (M,E) for this seed. */
static ld_status run_scratch(run_ctx *rc, const config *cfg, const run_inputs *in,
                             uint64_t seed, int s,
                             experiment_result *res, float *curves, char *err, size_t errlen)
{
    dataset train, test;
    ld_status st;
    if (in != NULL && in->has_data) {
        st = file_data(in, seed, &train, &test, err, errlen);
        if (st != LD_OK)
            return st;
    } else {
        st = dataset_alloc(&train, cfg->samples, cfg->in, cfg->out, err, errlen);
        if (st != LD_OK)
            return st;
        st = dataset_alloc(&test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
        if (st != LD_OK) {
            dataset_free(&train);
            return st;
        }
        rng r;
        rng_seed(&r, seed, STREAM_TRAIN_DATA);
        dataset_make_random(&train, &r);
        rng_seed(&r, seed, STREAM_TEST_DATA);
        dataset_make_random(&test, &r);
    }
    if (s == 0 && cfg->save_data)
        st = keep_data(res, &train, &test, err, errlen);
    if (s == 0) {
        memcpy(res->pred_x, test.x, (size_t)res->n_pred * (size_t)cfg->in * sizeof(float));
        memcpy(res->pred_y, test.y, (size_t)res->n_pred * (size_t)cfg->out * sizeof(float));
    }
    for (int i = 0; i < res->n_models && st == LD_OK; i++) {
        if (res->interrupted || stop_before(rc, res->models[i].name))
            break;
        st = scratch_model(rc, &res->models[i], curves + (size_t)i * (size_t)cfg->epochs, s, cfg,
                           seed, model_rank(cfg, i), &train, &test, res->n_pred, err, errlen);
    }
    dataset_free(&train);
    dataset_free(&test);
    return st;
}

/* ------------------------------------------------------------------------ */
/* finetune: a frozen pretrained layer adapted by LoRA, against full fine-tuning */

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

/* Scratch space of one seed's fine-tuning, allocated once. */
typedef struct {
    float *yu;  /* (Nt,O) held-out predictions, unmerged (or dense) */
    float *ym;  /* (Nt,O) held-out predictions, merged */
    float *h;   /* (Nt,R) LoRA activation, R the largest rank */
} ft_scratch;

/* Fine-tune one model from the pretrained (w0, b0) on train; evaluate on
 * test. rank 0: full fine-tuning, every parameter trained. rank r: w0, b0
 * frozen, A and B trained from lora_init_peft (B = 0), then merged. */
static ld_status finetune_model(run_ctx *rc, model_result *mr, float *curve, int s,
                                const config *cfg, uint64_t seed, int rank, const float *w0,
                                const float *b0, const dataset *train, const dataset *test,
                                const ft_scratch *fs, int n_pred, char *err, size_t errlen)
{
    const size_t I = (size_t)cfg->in, O = (size_t)cfg->out, ny = (size_t)test->n * O;
    model m;
    trainer t;
    ld_status st;
    if (rank == 0) {
        st = model_init_dense(&m, cfg->in, cfg->out, err, errlen);
        if (st == LD_OK) {
            memcpy(m.w, w0, O * I * sizeof(float));
            memcpy(m.b, b0, O * sizeof(float));
        }
    } else {
        st = model_init_lora(&m, cfg->in, cfg->out, rank, config_alpha(cfg, rank),
                             config_scale(cfg, rank), w0, b0, err, errlen);
        if (st == LD_OK) {
            rng r;
            rng_seed(&r, seed, STREAM_INIT_BASE + (uint64_t)rank);
            lora_init_peft(m.a, m.bm, cfg->in, rank, cfg->out, &r);
        }
    }
    if (st != LD_OK) {
        model_free(&m);
        return st;
    }
    int finished = 0;
    st = train_recorded(rc, mr, curve, s, cfg, seed, rank, &m, &t, train, &finished, err, errlen);
    trainer_free(&t);
    if (st != LD_OK || !finished)
        goto done; /* no test loss, merge or predictions for a model that did not finish */

    const float *yhat = fs->yu;
    model_forward(&m, fs->yu, fs->h, test->x, NULL, test->n);
    if (rank > 0) {
        /* Merge W = W0 + s B A and predict with the merged dense weight; the
         * unmerged predictions are the reference it must agree with. */
        st = model_merge(&m, err, errlen);
        if (st != LD_OK)
            goto done;
        model_forward(&m, fs->ym, fs->h, test->x, NULL, test->n);
        yhat = fs->ym;
        const float d = max_abs_diff(fs->ym, fs->yu, ny);
        const float ref = max_abs(fs->yu, ny);
        const float rel = ref > 0.0f ? d / ref : d;
        if (d > mr->merge_max_diff || isnan(d))
            mr->merge_max_diff = d;
        if (rel > mr->merge_rel_diff || isnan(rel))
            mr->merge_rel_diff = rel;
        st = model_unmerge(&m, err, errlen);
        if (st != LD_OK)
            goto done;
        const float du = max_abs_diff(m.base_w, w0, O * I);
        if (du > mr->unmerge_max_diff || isnan(du))
            mr->unmerge_max_diff = du;
    }
    mr->test_losses[s] = mse_forward(yhat, test->y, ny);
    if (s == 0)
        memcpy(mr->pred, yhat, (size_t)n_pred * O * sizeof(float));
done:
    model_free(&m);
    return st;
}

/* One seed of the finetune experiment; curves is (M,E) for this seed.
 * Task 2's data is generated by the teacher, or read (--data); the base is
 * pretrained on task 1, or read (--base-weights). */
static ld_status run_finetune(run_ctx *rc, const config *cfg, const run_inputs *in, uint64_t seed,
                              int s,
                              experiment_result *res, float *curves, char *err, size_t errlen)
{
    const size_t O = (size_t)cfg->out, I = (size_t)cfg->in;
    const int from_file = in != NULL && in->has_data;
    const int given_base = in != NULL && in->base_w != NULL;
    teacher tc;
    dataset task1, train, test;
    model pre;
    trainer t;
    ft_scratch fs = {NULL, NULL, NULL};
    float *pre_curve = NULL;
    memset(&tc, 0, sizeof tc);
    memset(&task1, 0, sizeof task1);
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    memset(&pre, 0, sizeof pre);
    memset(&t, 0, sizeof t);

    ld_status st = LD_OK;
    rng r;
    if (from_file) {
        st = file_data(in, seed, &train, &test, err, errlen);
    } else {
        rng rb, rd;
        rng_seed(&rb, seed, STREAM_TEACHER);
        rng_seed(&rd, seed, STREAM_DELTA);
        st = teacher_make(&tc, cfg->in, cfg->out, cfg->delta_rank, &rb, &rd, err, errlen);
        if (st == LD_OK && !given_base)
            st = dataset_alloc(&task1, cfg->samples, cfg->in, cfg->out, err, errlen);
        if (st == LD_OK)
            st = dataset_alloc(&train, cfg->samples, cfg->in, cfg->out, err, errlen);
        if (st == LD_OK)
            st = dataset_alloc(&test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
        if (st == LD_OK) {
            if (!given_base) {
                rng_seed(&r, seed, STREAM_PRETRAIN_DATA);
                teacher_make_data(&task1, tc.w_base, tc.b, cfg->noise, &r);
            }
            rng_seed(&r, seed, STREAM_TRAIN_DATA);
            teacher_make_data(&train, tc.w_task2, tc.b, cfg->noise, &r);
            rng_seed(&r, seed, STREAM_TEST_DATA);
            teacher_make_data(&test, tc.w_task2, tc.b, cfg->noise, &r);
        }
    }
    if (st == LD_OK && s == 0 && cfg->save_data)
        st = keep_data(res, &train, &test, err, errlen);
    if (st != LD_OK)
        goto done;
    if (s == 0) {
        memcpy(res->pred_x, test.x, (size_t)res->n_pred * I * sizeof(float));
        memcpy(res->pred_y, test.y, (size_t)res->n_pred * O * sizeof(float));
    }

    int max_rank = 1;
    for (int i = 0; i < cfg->n_ranks; i++)
        if (cfg->ranks[i] > max_rank)
            max_rank = cfg->ranks[i];
    const size_t ny = (size_t)test.n * O;
    fs.yu = malloc(ny * sizeof(float));
    fs.ym = malloc(ny * sizeof(float));
    fs.h = malloc((size_t)test.n * (size_t)max_rank * sizeof(float));
    if (!given_base)
        pre_curve = malloc((size_t)cfg->pretrain_epochs * sizeof(float));
    if (fs.yu == NULL || fs.ym == NULL || fs.h == NULL || (!given_base && pre_curve == NULL)) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for fine-tuning buffers");
        goto done;
    }

    const float *w0, *b0; /* (O,I), (O) the base every model starts from */
    if (given_base) {
        w0 = in->base_w;
        b0 = in->base_b;
        res->pretrain_losses[s] = NAN; /* nothing was pretrained */
    } else {
        /* Pretrain a dense layer on task 1 from nn.Linear's init: W0, b0. */
        st = model_init_dense(&pre, cfg->in, cfg->out, err, errlen);
        if (st != LD_OK)
            goto done;
        rng_seed(&r, seed, STREAM_PRETRAIN_INIT);
        linear_init(pre.w, pre.b, cfg->in, cfg->out, &r);
        st = start_trainer(&t, &pre, task1.x, task1.y, task1.n, cfg, err, errlen);
        if (st != LD_OK)
            goto done;
        double ms = 0.0;
        fit_outcome fo;
        st = fit(rc, "pretrain", &t, &pre, cfg->pretrain_epochs, cfg->lr, seed,
                 STREAM_PRETRAIN_SHUFFLE, pre_curve, &ms, &fo, err, errlen);
        if (st != LD_OK)
            goto done;
        res->pretrain_epochs_done[s] = fo.epochs_done;
        res->pretrain_diverged_at[s] = fo.diverged_at;
        if (fo.epochs_done < cfg->pretrain_epochs && fo.diverged_at == 0)
            goto done; /* stopped: no model is fine-tuned */
        /* A pretraining that diverged leaves a base that is not finite; the
         * models are still fine-tuned from it, and each one's own check
         * reports its divergence (at epoch 1). */
        res->pretrain_losses[s] = pre_curve[cfg->pretrain_epochs - 1];
        w0 = pre.w;
        b0 = pre.b;
        /* Pretraining is over: its trainer (closed-form buffers, threads) and
         * the task-1 data are not needed while the models fine-tune. */
        trainer_free(&t);
        dataset_free(&task1);
    }
    if (s == 0 && cfg->save_weights) {
        res->base_w = malloc(O * I * sizeof(float));
        res->base_b = malloc(O * sizeof(float));
        if (res->base_w == NULL || res->base_b == NULL) {
            st = ld_fail(err, errlen, LD_ENOMEM, "out of memory keeping the base to save");
            goto done;
        }
        memcpy(res->base_w, w0, O * I * sizeof(float));
        memcpy(res->base_b, b0, O * sizeof(float));
    }

    /* The base alone on task 2: where every model starts. */
    linear_forward(fs.yu, test.x, w0, b0, test.n, cfg->in, cfg->out);
    res->base_test_losses[s] = mse_forward(fs.yu, test.y, ny);

    for (int i = 0; i < res->n_models && st == LD_OK; i++) {
        if (res->interrupted || stop_before(rc, res->models[i].name))
            break;
        st = finetune_model(rc, &res->models[i], curves + (size_t)i * (size_t)cfg->epochs, s, cfg,
                            seed, model_rank(cfg, i), w0, b0, &train, &test, &fs, res->n_pred, err,
                            errlen);
    }
done:
    free(pre_curve);
    free(fs.yu);
    free(fs.ym);
    free(fs.h);
    trainer_free(&t);
    model_free(&pre);
    dataset_free(&task1);
    dataset_free(&train);
    dataset_free(&test);
    teacher_free(&tc);
    return st;
}

/* ------------------------------------------------------------------------ */
/* repeats: run every seed, then aggregate */

/* Mean and sample standard deviation (divisor k-1; 0 when k = 1) of the k
 * finite values among x[0], x[stride], ..., x[(n-1)*stride], two-pass in
 * double. Both are NaN if `poisoned` (a seed diverged) or if k = 0: a mean
 * over the seeds that did not diverge would hide the one that did. */
static void mean_std(const float *x, size_t n, size_t stride, int poisoned, float *mean, float *std)
{
    double sum = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i * stride])) {
            sum += (double)x[i * stride];
            k++;
        }
    }
    if (poisoned || k == 0) {
        *mean = *std = NAN;
        return;
    }
    const double mu = sum / (double)k;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i * stride])) {
            const double d = (double)x[i * stride] - mu;
            ss += d * d;
        }
    }
    *mean = (float)mu;
    *std = k > 1 ? (float)sqrt(ss / (double)(k - 1)) : 0.0f;
}

void experiment_result_free(experiment_result *res)
{
    if (res->models != NULL) {
        for (int i = 0; i < res->n_models; i++) {
            model_result *mr = &res->models[i];
            free(mr->losses);
            free(mr->losses_std);
            free(mr->final_losses);
            free(mr->test_losses);
            free(mr->epochs_done);
            free(mr->diverged_at);
            free(mr->pred);
            free(mr->init_params);
            free(mr->final_params);
        }
    }
    free(res->models);
    free(res->seeds);
    free(res->pred_x);
    free(res->pred_y);
    free(res->pretrain_losses);
    free(res->base_test_losses);
    free(res->pretrain_epochs_done);
    free(res->pretrain_diverged_at);
    dataset_free(&res->train);
    dataset_free(&res->test);
    free(res->base_w);
    free(res->base_b);
    memset(res, 0, sizeof *res);
}

static void fill_nan(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* Allocate every array of res for cfg; 0 on success. Values that a run may
 * never reach (per-seed losses, predictions) start as NaN, counters at 0. */
static int alloc_result(experiment_result *res, const config *cfg)
{
    const size_t E = (size_t)cfg->epochs, S = (size_t)cfg->repeats, P = (size_t)res->n_pred;
    res->models = calloc((size_t)res->n_models, sizeof *res->models);
    res->seeds = malloc(S * sizeof *res->seeds);
    res->pred_x = malloc(P * (size_t)cfg->in * sizeof(float));
    res->pred_y = malloc(P * (size_t)cfg->out * sizeof(float));
    int ok = res->models != NULL && res->seeds != NULL && res->pred_x != NULL && res->pred_y != NULL;
    if (ok) { /* the first seed fills them, unless an interrupt comes first */
        fill_nan(res->pred_x, P * (size_t)cfg->in);
        fill_nan(res->pred_y, P * (size_t)cfg->out);
    }
    if (ok && cfg->experiment == EXPERIMENT_FINETUNE) {
        res->pretrain_losses = malloc(S * sizeof(float));
        res->base_test_losses = malloc(S * sizeof(float));
        res->pretrain_epochs_done = calloc(S, sizeof(int));
        res->pretrain_diverged_at = calloc(S, sizeof(int));
        ok = res->pretrain_losses != NULL && res->base_test_losses != NULL &&
             res->pretrain_epochs_done != NULL && res->pretrain_diverged_at != NULL;
        if (ok) {
            fill_nan(res->pretrain_losses, S);
            fill_nan(res->base_test_losses, S);
        }
    }
    for (int i = 0; ok && i < res->n_models; i++) {
        model_result *mr = &res->models[i];
        mr->losses = malloc(E * sizeof(float));
        mr->losses_std = malloc(E * sizeof(float));
        mr->final_losses = malloc(S * sizeof(float));
        mr->test_losses = malloc(S * sizeof(float));
        mr->epochs_done = calloc(S, sizeof(int));
        mr->diverged_at = calloc(S, sizeof(int));
        mr->pred = malloc(P * (size_t)cfg->out * sizeof(float));
        ok = mr->losses != NULL && mr->losses_std != NULL && mr->final_losses != NULL &&
             mr->test_losses != NULL && mr->epochs_done != NULL && mr->diverged_at != NULL &&
             mr->pred != NULL;
        if (ok) {
            fill_nan(mr->test_losses, S);
            fill_nan(mr->pred, P * (size_t)cfg->out);
        }
    }
    return ok ? 0 : -1;
}

/* From the per-seed curves (S,M,E) and scalars, the means and stds, under
 * the rules for missing values in experiment.h. */
static void aggregate(experiment_result *res, const float *curves)
{
    const size_t S = (size_t)res->repeats, M = (size_t)res->n_models, E = (size_t)res->epochs;
    float base_mean = 0.0f, base_std = 0.0f;
    if (res->base_test_losses != NULL)
        mean_std(res->base_test_losses, S, 1, 0, &base_mean, &base_std);
    for (size_t i = 0; i < M; i++) {
        model_result *mr = &res->models[i];
        int any_diverged = 0, ran = 0;
        mr->diverged_first = 0;
        for (size_t s = 0; s < S; s++) {
            const int d = mr->diverged_at[s];
            if (d != 0 && (mr->diverged_first == 0 || d < mr->diverged_first))
                mr->diverged_first = d;
            any_diverged |= d != 0;
            ran += mr->epochs_done[s] > 0;
        }
        for (size_t e = 0; e < E; e++) {
            /* a seed that had diverged by epoch e+1 and has no value there */
            int poisoned = 0;
            for (size_t s = 0; s < S && !poisoned; s++) {
                const int d = mr->diverged_at[s];
                poisoned = d != 0 && e + 1 >= (size_t)d && isnan(curves[(s * M + i) * E + e]);
            }
            mean_std(curves + i * E + e, S, M * E, poisoned, &mr->losses[e], &mr->losses_std[e]);
        }
        for (size_t s = 0; s < S; s++)
            mr->final_losses[s] = curves[(s * M + i) * E + E - 1];
        mr->first_loss = mr->losses[0];
        mean_std(mr->final_losses, S, 1, any_diverged, &mr->final_loss, &mr->final_loss_std);
        mean_std(mr->test_losses, S, 1, any_diverged, &mr->test_loss, &mr->test_loss_std);
        mr->train_ms = ran > 0 ? mr->train_ms / (double)ran : 0.0;
        mr->test_loss_before = base_mean;
        if (mr->n_completed == 0 && mr->rank > 0 && res->experiment == EXPERIMENT_FINETUNE)
            mr->merge_max_diff = mr->merge_rel_diff = mr->unmerge_max_diff = NAN;
    }
    for (size_t i = 0; i < M; i++) {
        model_result *mr = &res->models[i];
        mr->test_ratio = mr->test_loss / res->models[0].test_loss;
        int have = 0;
        mr->test_ratio_min = mr->test_ratio_max = NAN;
        for (size_t s = 0; s < S; s++) {
            const float r = mr->test_losses[s] / res->models[0].test_losses[s];
            if (!isfinite(r))
                continue; /* either model did not complete this seed */
            if (!have || r < mr->test_ratio_min)
                mr->test_ratio_min = r;
            if (!have || r > mr->test_ratio_max)
                mr->test_ratio_max = r;
            have = 1;
        }
    }
}

ld_status experiment_run(const config *cfg, experiment_result *res, char *err, size_t errlen)
{
    return experiment_run_with(cfg, NULL, res, err, errlen);
}

/* 1 if the files in agree with cfg's sizes (inputs_load set them). */
static int inputs_match(const config *cfg, const run_inputs *in)
{
    if (cfg->experiment == EXPERIMENT_FINETUNE && in->has_data && in->base_w == NULL)
        return 0; /* no task 1 to pretrain on */
    if (cfg->experiment == EXPERIMENT_SCRATCH && in->base_w != NULL)
        return 0;
    if (in->has_data &&
        (in->all.in != cfg->in || in->all.out != cfg->out ||
         (in->has_test ? in->test.n != cfg->test_samples || in->test.in != cfg->in ||
                             in->test.out != cfg->out || in->all.n != cfg->samples
                       : in->n_test != cfg->test_samples || in->all.n - in->n_test != cfg->samples)))
        return 0;
    return 1;
}

ld_status experiment_run_with(const config *cfg, const run_inputs *in, experiment_result *res,
                              char *err, size_t errlen)
{
    return experiment_run_hooked(cfg, in, NULL, res, err, errlen);
}

ld_status experiment_run_hooked(const config *cfg, const run_inputs *in,
                                const experiment_hooks *hooks, experiment_result *res, char *err,
                                size_t errlen)
{
    memset(res, 0, sizeof *res);
    const int need_pretrain = in == NULL || in->base_w == NULL;
    if (cfg->repeats < 1 || cfg->epochs < 1 || cfg->n_ranks < 0 || cfg->n_ranks > CONFIG_MAX_RANKS ||
        (cfg->experiment == EXPERIMENT_FINETUNE && need_pretrain && cfg->pretrain_epochs < 1))
        return ld_fail(err, errlen, LD_EINPUT, "invalid configuration (repeats, epochs or ranks)");
    if (in != NULL && !inputs_match(cfg, in))
        return ld_fail(err, errlen, LD_EINPUT, "the configuration does not match the input files");
    ld_status st = experiment_check_memory(cfg, 0, err, errlen);
    if (st != LD_OK)
        return st;
    res->experiment = cfg->experiment;
    res->epochs = cfg->epochs;
    res->repeats = cfg->repeats;
    res->n_models = 1 + cfg->n_ranks;
    res->in = cfg->in;
    res->out = cfg->out;
    res->n_pred = cfg->test_samples < EXPERIMENT_PRED_ROWS ? cfg->test_samples : EXPERIMENT_PRED_ROWS;
    res->noise_floor = cfg->experiment == EXPERIMENT_FINETUNE ? cfg->noise * cfg->noise : 0.0;
    if (cfg->experiment == EXPERIMENT_FINETUNE && in != NULL && in->has_data)
        res->noise_floor = NAN; /* the noise of a file's data is unknown */

    /* every seed's curves, (S,M,E), so means and stds are exact two-pass sums */
    size_t n_curves = 0;
    float *curves = NULL;
    if (ld_mul3_size(&n_curves, (size_t)cfg->repeats, (size_t)res->n_models, (size_t)cfg->epochs) != 0 ||
        n_curves > SIZE_MAX / sizeof(float))
        return ld_fail(err, errlen, LD_ENOMEM, "%d repeats of %d epochs do not fit in memory",
                       cfg->repeats, cfg->epochs);
    curves = malloc(n_curves > 0 ? n_curves * sizeof(float) : 1); /* never 0; malloc(0) may be NULL */
    if (curves == NULL || alloc_result(res, cfg) != 0) {
        free(curves);
        experiment_result_free(res);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for the results");
    }
    fill_nan(curves, n_curves);
    describe_models(res, cfg);

    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.hooks = hooks;
    rc.res = res;
    rc.prog.repeats = cfg->repeats;
    const uint64_t per_seed_epochs =
        (uint64_t)res->n_models * (uint64_t)cfg->epochs +
        (cfg->experiment == EXPERIMENT_FINETUNE && need_pretrain ? (uint64_t)cfg->pretrain_epochs : 0u);
    rc.prog.total = per_seed_epochs * (uint64_t)cfg->repeats;

    const size_t per_seed = (size_t)res->n_models * (size_t)cfg->epochs;
    for (int s = 0; s < cfg->repeats; s++)
        res->seeds[s] = cfg->seed + (uint64_t)s;
    for (int s = 0; s < cfg->repeats && st == LD_OK && !res->interrupted; s++) {
        rc.prog.seed_index = s;
        if (stop_before(&rc, cfg->experiment == EXPERIMENT_FINETUNE && need_pretrain ? "pretrain"
                                                                          : res->models[0].name))
            break;
        float *c = curves + (size_t)s * per_seed;
        if (cfg->experiment == EXPERIMENT_FINETUNE)
            st = run_finetune(&rc, cfg, in, res->seeds[s], s, res, c, err, errlen);
        else
            st = run_scratch(&rc, cfg, in, res->seeds[s], s, res, c, err, errlen);
    }
    if (st == LD_OK)
        aggregate(res, curves);
    else
        experiment_result_free(res);
    free(curves);
    return st;
}

/* ------------------------------------------------------------------------ */
/* memory: the estimate that refuses a run before it allocates anything */

/* *acc += a*b*c, with *bad set on overflow. */
static void add3(size_t *acc, size_t a, size_t b, size_t c, int *bad)
{
    size_t p = 0;
    if (ld_mul3_size(&p, a, b, c) != 0 || ld_add_size(acc, *acc, p) != 0)
        *bad = 1;
}

int experiment_memory_needed(const config *cfg, experiment_memory *mem)
{
    const int ft = cfg->experiment == EXPERIMENT_FINETUNE;
    const size_t F = sizeof(float), I = (size_t)cfg->in, O = (size_t)cfg->out;
    const size_t N = (size_t)cfg->samples, NT = (size_t)cfg->test_samples;
    const size_t E = (size_t)cfg->epochs, S = (size_t)cfg->repeats, M = 1 + (size_t)cfg->n_ranks;
    const size_t P = NT < EXPERIMENT_PRED_ROWS ? NT : EXPERIMENT_PRED_ROWS;
    const size_t B = cfg->batch_size > 0 && (size_t)cfg->batch_size < N ? (size_t)cfg->batch_size : N;
    size_t R = 1;
    for (int i = 0; i < cfg->n_ranks; i++)
        if ((size_t)cfg->ranks[i] > R)
            R = (size_t)cfg->ranks[i];
    int bad = 0;
    size_t IO = 0, OI1 = 0, RIO = 0, biggest = 0;
    /* one call per statement: the operands of | are evaluated in no fixed order */
    bad |= ld_add_size(&IO, I, O);
    bad |= ld_mul_size(&OI1, O, I);
    bad |= ld_add_size(&OI1, OI1, O); /* dense: weight and bias */
    bad |= ld_mul_size(&RIO, R, IO);  /* LoRA: A and B */
    biggest = OI1 > RIO ? OI1 : RIO;
    experiment_memory m = {0, 0, 0, 0, 0};

    /* data: the training and held-out sets (finetune: and task 1), (N, I+O) each */
    add3(&m.data, N, IO, F, &bad);
    add3(&m.data, NT, IO, F, &bad);
    if (ft)
        add3(&m.data, N, IO, F, &bad);
    /* models: one trained at a time, params + grads + Adam m and v, with a
     * frozen or merged base (O,I) + (O); finetune keeps the pretrained
     * model and the teacher (base, bias, shift, task-2 weight; U and V in
     * double) alive beside it */
    add3(&m.models, 4, biggest, F, &bad);
    if (ft) {
        add3(&m.models, 1, OI1, F, &bad);
        add3(&m.models, 4, OI1, F, &bad);
        add3(&m.models, 3, OI1, F, &bad);
        add3(&m.models, IO, (size_t)cfg->delta_rank, sizeof(double), &bad);
    }
    /* trainer buffers (train.h): predictions and their gradient (B,O) x 2,
     * the LoRA activation and its gradient (B,R) x 2; with mini-batches the
     * gathered batch (B, I+O) and the batch order (N) ints; finetune: the
     * cached base output (N,O) (and its batch rows (B,O)), held-out
     * predictions (NT,O) x 2 and (NT,R), and the pretraining curve */
    add3(&m.buffers, 2 * B, O, F, &bad);
    add3(&m.buffers, 2 * B, R, F, &bad);
    add3(&m.buffers, P, R, F, &bad);
    /* B^T padded (R, O+16); the closed form of a dense full batch: X^T X
     * (I,I), Y^T X and W G (O,I) x 2, and its sums in double; each thread's
     * scratch (matmul's panels and a block of rows) */
    add3(&m.buffers, R, O + 16, F, &bad);
    add3(&m.buffers, I, I, F, &bad);
    add3(&m.buffers, 2 * O, I, F, &bad);
    add3(&m.buffers, I + 3 * O + (B > O ? B : O), 1, sizeof(double), &bad);
    add3(&m.buffers, cfg->threads > 1 ? (size_t)cfg->threads : 1,
         matmul_scratch_floats() + 128 * O, F, &bad);
    /* the narrow LoRA pass (train.c, small layers): the batch padded to
     * whole blocks of 16 samples, (B+16) x (I + 16 + 2 O) */
    add3(&m.buffers, B + 16, I + 16 + 2 * O, F, &bad);
    if (B < N) {
        add3(&m.buffers, B, IO, F, &bad);
        add3(&m.buffers, N, 1, sizeof(int), &bad);
    }
    if (ft) {
        add3(&m.buffers, N, O, F, &bad);
        if (B < N)
            add3(&m.buffers, B, O, F, &bad);
        add3(&m.buffers, 2 * NT, O, F, &bad);
        add3(&m.buffers, NT, R, F, &bad);
        add3(&m.buffers, (size_t)cfg->pretrain_epochs, 1, F, &bad);
    }
    /* input files: --data (and --test-data) as read, beside each seed's
     * copy of them; --base-weights. Outputs kept for export.c: the first
     * seed's data (--save-data), every model's initial and final weights
     * and the base (--save-weights) */
    if (cfg->data != NULL) {
        add3(&m.data, N, IO, F, &bad);
        add3(&m.data, NT, IO, F, &bad);
    }
    if (cfg->base_weights != NULL)
        add3(&m.models, 1, OI1, F, &bad);
    if (cfg->save_data) {
        add3(&m.results, N, IO, F, &bad);
        add3(&m.results, NT, IO, F, &bad);
    }
    if (cfg->save_weights) {
        add3(&m.results, 2 * M, biggest, F, &bad);
        add3(&m.results, 1, OI1, F, &bad);
    }
    /* results: every seed's curves (S,M,E); per model the mean and std
     * curves, per-seed losses and counters, predictions; the seeds; the
     * curves again in double for losses.svg */
    add3(&m.results, S * M, E, F, &bad);
    add3(&m.results, M, 2 * E, F, &bad);
    add3(&m.results, M, 2 * S, F + sizeof(int), &bad);
    add3(&m.results, M, P, O * F, &bad);
    add3(&m.results, S, 1, sizeof(uint64_t) + 2 * F + 2 * sizeof(int), &bad);
    add3(&m.results, P, IO, F, &bad);
    add3(&m.results, M, E, sizeof(double), &bad);
    bad |= ld_add_size(&m.total, m.data, m.models);
    bad |= ld_add_size(&m.total, m.total, m.buffers);
    bad |= ld_add_size(&m.total, m.total, m.results);
    if (mem != NULL)
        *mem = m;
    return bad ? -1 : 0;
}

/* Physical memory in bytes, 0 if sysconf cannot tell. */
static size_t physical_memory(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t bytes = 0;
    if (pages <= 0 || page <= 0)
        return 0;
    if (ld_mul_size(&bytes, (size_t)pages, (size_t)page) != 0)
        return SIZE_MAX;
    return bytes;
}

/* "1.5 GiB", "12.0 MiB", "900 B" */
static void format_bytes(char *buf, size_t len, size_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%zu B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

ld_status experiment_check_memory(const config *cfg, size_t limit, char *err, size_t errlen)
{
    experiment_memory m;
    if (experiment_memory_needed(cfg, &m) != 0)
        return ld_fail(err, errlen, LD_ENOMEM,
                       "this run does not fit in memory: its size in bytes overflows (--in %d, --out %d, "
                       "--samples %d, --test-samples %d, --epochs %d, --repeats %d)",
                       cfg->in, cfg->out, cfg->samples, cfg->test_samples, cfg->epochs, cfg->repeats);
    const int physical = limit == 0;
    if (physical)
        limit = physical_memory();
    if (limit == 0 || m.total <= limit)
        return LD_OK;
    char total[32], data[32], models[32], buffers[32], results[32], lim[32];
    format_bytes(total, sizeof total, m.total);
    format_bytes(data, sizeof data, m.data);
    format_bytes(models, sizeof models, m.models);
    format_bytes(buffers, sizeof buffers, m.buffers);
    format_bytes(results, sizeof results, m.results);
    format_bytes(lim, sizeof lim, limit);
    return ld_fail(err, errlen, LD_ENOMEM,
                   "this run needs about %s of memory (data %s, models %s, training buffers %s, "
                   "results %s), more than the %s %s",
                   total, data, models, buffers, results, lim,
                   physical ? "of physical memory" : "allowed");
}
