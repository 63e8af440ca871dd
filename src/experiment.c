/* experiment.c - the notebook's experiment: dummy data, a dense baseline and
 * LoRA layers of several ranks, each trained with Adam on MSE.
 *
 * Dimension key: N samples, P printed test rows, I in, O out, E epochs, R rank.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "experiment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "linear.h"
#include "lora.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "train.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Build model `rank` (0 = dense) with its initial weights. */
static ld_status build_model(model *m, const config *cfg, int rank, char *err, size_t errlen)
{
    rng r;
    rng_seed(&r, cfg->seed, STREAM_INIT_BASE + (uint64_t)rank);
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

/* Train one model for cfg->epochs and fill its result. */
static ld_status train_one(model_result *mr, const config *cfg, int rank, const dataset *train,
                           const dataset *test, int n_pred, char *err, size_t errlen)
{
    model m;
    trainer t;
    int *order = NULL;
    ld_status st = build_model(&m, cfg, rank, err, errlen);
    if (st != LD_OK)
        return st;
    trainer_options topt = trainer_defaults();
    topt.threads = cfg->threads;
    st = trainer_init_opts(&t, &m, train->x, train->y, train->n, cfg->batch_size, &topt, err,
                           errlen);
    if (st != LD_OK) {
        model_free(&m);
        return st;
    }
    const int mini = t.batch < train->n;
    if (mini) {
        order = malloc((size_t)train->n * sizeof *order);
        if (order == NULL) {
            st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for the batch order");
            goto done;
        }
        for (int i = 0; i < train->n; i++)
            order[i] = i;
    }
    rng shuffle;
    rng_seed(&shuffle, cfg->seed, STREAM_SHUFFLE_BASE + (uint64_t)rank);
    const adam_config adam = adam_defaults(cfg->lr);

    const double t0 = now_ms();
    for (int e = 0; e < cfg->epochs; e++) {
        if (mini)
            rng_shuffle(&shuffle, order, train->n);
        mr->losses[e] = trainer_epoch(&t, &m, order, adam);
    }
    mr->train_ms = now_ms() - t0;

    mr->first_loss = mr->losses[0];
    mr->final_loss = mr->losses[cfg->epochs - 1];
    mr->test_loss = trainer_eval(&t, &m, test->x, test->y, test->n);
    mr->trainable = model_trainable(&m);
    mr->rank = rank;
    mr->alpha = m.alpha;
    mr->scale = m.scale;
    if (rank == 0)
        snprintf(mr->name, sizeof mr->name, "dense");
    else
        snprintf(mr->name, sizeof mr->name, "lora_r%d", rank);
    /* predictions on the first held-out rows, shown beside their targets */
    float *h = malloc((size_t)n_pred * (size_t)(rank > 0 ? rank : 1) * sizeof(float));
    if (h == NULL) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for predictions");
        goto done;
    }
    model_forward(&m, mr->pred, h, test->x, NULL, n_pred);
    free(h);
done:
    free(order);
    trainer_free(&t);
    model_free(&m);
    return st;
}

void experiment_result_free(experiment_result *res)
{
    if (res->models != NULL) {
        for (int i = 0; i < res->n_models; i++) {
            free(res->models[i].losses);
            free(res->models[i].pred);
        }
    }
    free(res->models);
    free(res->pred_x);
    free(res->pred_y);
    memset(res, 0, sizeof *res);
}

ld_status experiment_run(const config *cfg, experiment_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    dataset train, test;
    ld_status st = dataset_alloc(&train, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st != LD_OK)
        return st;
    st = dataset_alloc(&test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
    if (st != LD_OK) {
        dataset_free(&train);
        return st;
    }
    rng r;
    rng_seed(&r, cfg->seed, STREAM_TRAIN_DATA);
    dataset_make_random(&train, &r);
    rng_seed(&r, cfg->seed, STREAM_TEST_DATA);
    dataset_make_random(&test, &r);

    res->epochs = cfg->epochs;
    res->n_models = 1 + cfg->n_ranks;
    res->in = cfg->in;
    res->out = cfg->out;
    res->n_pred = cfg->test_samples < EXPERIMENT_PRED_ROWS ? cfg->test_samples : EXPERIMENT_PRED_ROWS;
    const size_t P = (size_t)res->n_pred;
    res->models = calloc((size_t)res->n_models, sizeof *res->models);
    res->pred_x = malloc(P * (size_t)cfg->in * sizeof(float));
    res->pred_y = malloc(P * (size_t)cfg->out * sizeof(float));
    int ok = res->models != NULL && res->pred_x != NULL && res->pred_y != NULL;
    for (int i = 0; ok && i < res->n_models; i++) {
        res->models[i].losses = malloc((size_t)cfg->epochs * sizeof(float));
        res->models[i].pred = malloc(P * (size_t)cfg->out * sizeof(float));
        ok = res->models[i].losses != NULL && res->models[i].pred != NULL;
    }
    if (!ok) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for the results");
        goto fail;
    }
    memcpy(res->pred_x, test.x, P * (size_t)cfg->in * sizeof(float));
    memcpy(res->pred_y, test.y, P * (size_t)cfg->out * sizeof(float));

    for (int i = 0; i < res->n_models; i++) {
        int rank = i == 0 ? 0 : cfg->ranks[i - 1];
        st = train_one(&res->models[i], cfg, rank, &train, &test, res->n_pred, err, errlen);
        if (st != LD_OK)
            goto fail;
    }
    dataset_free(&train);
    dataset_free(&test);
    return LD_OK;
fail:
    dataset_free(&train);
    dataset_free(&test);
    experiment_result_free(res);
    return st;
}
