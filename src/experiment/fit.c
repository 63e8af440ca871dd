/* fit.c - the epoch loop every model is trained by, with its hooks (the
 * divergence check, the stop flag, the progress callback; experiment.h),
 * and what each model's training records.
 *
 * Dimension key: N samples, E epochs.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "runs.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

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

int stop_before(run_ctx *rc, const char *model)
{
    if (!stop_requested(rc))
        return 0;
    mark_stopped(rc, model, 0);
    return 1;
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

/* Train m (named `name` for the hooks) with t for `epochs` epochs of Adam
 * at learning rate lr; losses (E) receives each epoch's loss, NaN where
 * there is none (experiment.h: divergence, stop), and *ms the time taken.
 * With mini-batches the order is reshuffled every epoch from stream
 * `stream` of `seed`. All allocation happens before the loop. */
ld_status fit(run_ctx *rc, const char *name, trainer *t, model *m, int epochs, double lr,
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

ld_status start_trainer(trainer *t, const model *m, const float *x, const float *y, int n,
                        const config *cfg, char *err, size_t errlen)
{
    trainer_options opt = trainer_defaults();
    opt.threads = cfg->threads;
    return trainer_init(t, m, x, y, n, cfg->batch_size, &opt, err, errlen);
}

int model_rank(const config *cfg, int i)
{
    return i == 0 ? 0 : cfg->ranks[i - 1];
}

void seed_model_streams(model *m, uint64_t seed, int rank)
{
    rng_seed(&m->dropout_rng, seed, STREAM_DROPOUT_BASE + (uint64_t)rank);
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
    mr->has_base = m->layers[0].has_base;
    return LD_OK;
}

ld_status train_recorded(const seed_run *sr, int i, model *m, trainer *t, const dataset *train,
                         int *finished, char *err, size_t errlen)
{
    const config *cfg = sr->cfg;
    model_result *mr = &sr->rc->res->models[i];
    const int keep = sr->s == 0 && cfg->save_weights;
    double ms = 0.0;
    fit_outcome fo;
    *finished = 0;
    memset(t, 0, sizeof *t);
    ld_status st = keep ? keep_params(mr, m, &mr->init_params, err, errlen) : LD_OK;
    if (st == LD_OK) {
        const double t0 = now_ms();
        st = start_trainer(t, m, train->x, train->y, train->n, cfg, err, errlen);
        mr->setup_ms += now_ms() - t0;
    }
    if (st == LD_OK)
        st = fit(sr->rc, mr->name, t, m, cfg->epochs, cfg->lr, sr->seed,
                 STREAM_SHUFFLE_BASE + (uint64_t)model_rank(cfg, i),
                 sr->curves + (size_t)i * (size_t)cfg->epochs, &ms, &fo, err, errlen);
    if (st != LD_OK)
        return st;
    mr->train_ms += ms;
    mr->epochs_done[sr->s] = fo.epochs_done;
    mr->diverged_at[sr->s] = fo.diverged_at;
    if (fo.epochs_done != cfg->epochs || fo.diverged_at != 0)
        return LD_OK;
    *finished = 1;
    mr->n_completed++;
    /* LoRA: the trained A and B, before any merge touches the base */
    return keep ? keep_params(mr, m, &mr->final_params, err, errlen) : LD_OK;
}

ld_status file_data(const seed_run *sr, dataset *train, dataset *test, char *err, size_t errlen)
{
    rng r;
    rng_seed(&r, sr->seed, STREAM_HOLDOUT);
    return inputs_split(sr->in, &r, train, test, err, errlen);
}

ld_status keep_first_seed_data(const seed_run *sr, const dataset *train, const dataset *test,
                               char *err, size_t errlen)
{
    experiment_result *res = sr->rc->res;
    if (sr->s != 0)
        return LD_OK;
    const size_t P = (size_t)res->n_pred;
    memcpy(res->pred_x, test->x, P * (size_t)sr->cfg->in * sizeof(float));
    memcpy(res->pred_y, test->y, P * (size_t)sr->cfg->out * sizeof(float));
    if (!sr->cfg->save_data)
        return LD_OK;
    ld_status st = dataset_clone(&res->train, train, err, errlen);
    if (st == LD_OK)
        st = dataset_clone(&res->test, test, err, errlen);
    return st;
}
