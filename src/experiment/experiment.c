/* experiment.c - the entry point: each seed of cfg's experiment in turn
 * (scratch.c, finetune.c), then the aggregation over seeds (aggregate.c).
 * See experiment.h for the streams, the faults and the rules for missing
 * values.
 *
 * Dimension key: I in, O out, E epochs, S repeats (seeds), M models.
 */
#include "experiment/experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

_Static_assert(CONFIG_MAX_HIDDEN < MODEL_MAX_LAYERS, "--hidden must fit a model's layer list");

model_spec run_model_spec(const config *cfg, int rank, int has_base)
{
    const model_spec one =
        rank == 0 ? model_spec_dense(cfg->in, cfg->out)
                  : model_spec_lora(cfg->in, cfg->out, rank, config_alpha(cfg, rank),
                                    config_scale(cfg, rank), has_base);
    model_spec s = model_spec_network(one, cfg->n_hidden, cfg->hidden, cfg->activation);
    if (rank > 0) {
        s.loraplus_ratio = cfg->loraplus_ratio;
        s.dropout = cfg->lora_dropout;
        s.dora = cfg->dora && has_base;
    }
    return s;
}

/* The per-model facts that depend on neither the seed nor the training, so
 * even a model an interrupt never started has them: name, rank, alpha,
 * scale and sizes (from the spec model_init lays out). */
static void describe_models(experiment_result *res, const config *cfg)
{
    const model_spec dense = run_model_spec(cfg, 0, 0);
    for (int i = 0; i < res->n_models; i++) {
        model_result *mr = &res->models[i];
        const int r = model_rank(cfg, i);
        mr->rank = r;
        /* on the fine-tune's base: DoRA's magnitude counts, a scratch
         * network's biases do not */
        const model_spec spec = run_model_spec(cfg, r, cfg->experiment == EXPERIMENT_FINETUNE);
        if (r == 0) {
            snprintf(mr->name, sizeof mr->name, "dense");
        } else {
            snprintf(mr->name, sizeof mr->name, "lora_r%d", r);
            mr->alpha = config_alpha(cfg, r);
            mr->scale = config_scale(cfg, r);
        }
        mr->trainable = model_spec_params(&spec);
        mr->optimizer_bytes = model_spec_adam_bytes(&spec);
        mr->trainable_fraction = (double)mr->trainable / (double)model_spec_params(&dense);
        spectra_none(mr, 1, "not trained"); /* until the first seed trains it */
    }
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        layer_spectrum_none(&res->shift[l], "no teacher");
    res->n_shift_layers = 0;
    res->shift_energy = NAN;
}

/* 1 if the files in agree with cfg's sizes (config.c merged them). */
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

/* Check cfg (and the files) and set up res for the run: its arrays, and
 * the facts known before training. */
static ld_status start_result(const config *cfg, const run_inputs *in, experiment_result *res,
                              char *err, size_t errlen)
{
    const int need_pretrain = in == NULL || in->base_w == NULL;
    if (cfg->repeats < 1 || cfg->epochs < 1 || cfg->n_ranks < 0 || cfg->n_ranks > CONFIG_MAX_RANKS ||
        (cfg->experiment == EXPERIMENT_FINETUNE && need_pretrain && cfg->pretrain_epochs < 1))
        return ld_fail(err, errlen, LD_EINPUT, "invalid configuration (repeats, epochs or ranks)");
    if (in != NULL && !inputs_match(cfg, in))
        return ld_fail(err, errlen, LD_EINPUT, "the configuration does not match the input files");
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
    if (alloc_result(res, cfg) != 0) {
        experiment_result_free(res);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for the results");
    }
    describe_models(res, cfg);
    for (int s = 0; s < cfg->repeats; s++)
        res->seeds[s] = cfg->seed + (uint64_t)s;
    return LD_OK;
}

ld_status experiment_run(const config *cfg, const run_inputs *in, const experiment_hooks *hooks,
                         experiment_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    ld_status st = start_result(cfg, in, res, err, errlen);
    if (st != LD_OK)
        return st;
    const int ft = cfg->experiment == EXPERIMENT_FINETUNE;
    const int need_pretrain = ft && (in == NULL || in->base_w == NULL);
    /* every seed's curves, (S,M,E), so means and stds are exact two-pass sums */
    const size_t per_seed = (size_t)res->n_models * (size_t)cfg->epochs;
    size_t n_curves = 0;
    float *curves = NULL;
    if (ld_mul_size(&n_curves, (size_t)cfg->repeats, per_seed) != 0 ||
        n_curves > SIZE_MAX / sizeof(float)) {
        experiment_result_free(res);
        return ld_fail(err, errlen, LD_ENOMEM, "%d repeats of %d epochs do not fit in memory",
                       cfg->repeats, cfg->epochs);
    }
    curves = malloc(n_curves > 0 ? n_curves * sizeof(float) : 1); /* malloc(0) may be NULL */
    if (curves == NULL) {
        experiment_result_free(res);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for the results");
    }
    fill_nan(curves, n_curves);

    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.hooks = hooks;
    rc.res = res;
    rc.prog.repeats = cfg->repeats;
    rc.prog.total = ((uint64_t)res->n_models * (uint64_t)cfg->epochs +
                     (need_pretrain ? (uint64_t)cfg->pretrain_epochs : 0u)) *
                    (uint64_t)cfg->repeats;
    for (int s = 0; s < cfg->repeats && st == LD_OK && !res->interrupted; s++) {
        rc.prog.seed_index = s;
        if (stop_before(&rc, need_pretrain ? "pretrain" : res->models[0].name))
            break;
        const seed_run sr = {&rc, cfg, in, res->seeds[s], s, curves + (size_t)s * per_seed};
        st = ft ? run_finetune(&sr, err, errlen) : run_scratch(&sr, err, errlen);
    }
    if (st == LD_OK)
        aggregate(res, curves);
    else
        experiment_result_free(res);
    free(curves);
    return st;
}
