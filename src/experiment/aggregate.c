/* aggregate.c - the result arrays of a run, and their means and standard
 * deviations over seeds under the rules for missing values (experiment.h).
 *
 * Dimension key: P printed test rows, I in, O out, E epochs, S repeats
 * (seeds), M models.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

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
            free(mr->pissa_base);
            for (int l = 0; l < MODEL_MAX_LAYERS; l++)
                layer_spectrum_free(&mr->spectra[l]);
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
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        layer_spectrum_free(&res->shift[l]);
    memset(res, 0, sizeof *res);
}

void fill_nan(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* Allocate every array of res for cfg; 0 on success. Values that a run may
 * never reach (per-seed losses, predictions) start as NaN, counters at 0. */
int alloc_result(experiment_result *res, const config *cfg)
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
void aggregate(experiment_result *res, const float *curves)
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
        mr->setup_ms = ran > 0 ? mr->setup_ms / (double)ran : 0.0;
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

/* *acc += a*b*c, with *bad set on overflow. */
static void add3(size_t *acc, size_t a, size_t b, size_t c, int *bad)
{
    size_t p = 0;
    if (ld_mul3_size(&p, a, b, c) != 0 || ld_add_size(acc, *acc, p) != 0)
        *bad = 1;
}

int result_bytes(const config *cfg, size_t *bytes)
{
    const size_t F = sizeof(float), I = (size_t)cfg->in, O = (size_t)cfg->out;
    const size_t NT = (size_t)cfg->test_samples, E = (size_t)cfg->epochs;
    const size_t S = (size_t)cfg->repeats, M = 1 + (size_t)cfg->n_ranks;
    const size_t P = NT < EXPERIMENT_PRED_ROWS ? NT : EXPERIMENT_PRED_ROWS;
    int bad = 0;
    *bytes = 0;
    /* alloc_result: per model the mean and std curves, per-seed losses and
     * counters, predictions; the seeds, the shown rows, finetune's per-seed
     * scalars */
    add3(bytes, M, 2 * E, F, &bad);
    add3(bytes, M, 2 * S, F + sizeof(int), &bad);
    add3(bytes, M, P, O * F, &bad);
    add3(bytes, S, 1, sizeof(uint64_t) + 2 * F + 2 * sizeof(int), &bad);
    add3(bytes, P, I + O, F, &bad);
    /* the run: every seed's curves (S,M,E), and losses.svg's copy in double */
    add3(bytes, S * M, E, F, &bad);
    add3(bytes, M, E, sizeof(double), &bad);
    /* kept for export: the first seed's data, every model's initial and
     * final parameters, the base */
    if (cfg->save_data) {
        add3(bytes, (size_t)cfg->samples, I + O, F, &bad);
        add3(bytes, NT, I + O, F, &bad);
    }
    if (cfg->save_weights) {
        for (size_t i = 0; i < M; i++) {
            const int r = model_rank(cfg, (int)i);
            const model_spec spec = run_model_spec(cfg, r, cfg->experiment == EXPERIMENT_FINETUNE);
            add3(bytes, 2, model_spec_params(&spec), F, &bad);
        }
        const model_spec base = run_model_spec(cfg, 0, 0);
        size_t nw = 0, nb = 0;
        net_base_floats(&base, &nw, &nb); /* one layer: O I and O */
        add3(bytes, 1, nw + nb, F, &bad);
    }
    size_t spectra = 0; /* the first seed's spectra (spectra.c) */
    if (spectra_bytes(cfg, &spectra) != 0)
        bad = 1;
    add3(bytes, 1, 1, spectra, &bad);
    return bad ? -1 : 0;
}
