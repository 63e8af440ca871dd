/* scratch.c - one seed of the notebook's experiment: random X and Y, a dense
 * layer and LoRA layers of each rank (W = B A, no base), trained from
 * nn.Linear-style initial weights.
 *
 * Dimension key: N samples, P printed test rows, I in, O out, R rank.
 */
#include <math.h>
#include <stdlib.h>

#include "core/linear.h"
#include "core/lora.h"
#include "core/rng.h"
#include "runs.h"

/* Build model `rank` (0 = dense) with its initial weights. Layer l draws
 * from its own stream, STREAM_INIT_BASE + rank + l * STREAM_LAYER_STRIDE
 * (layer 0: the one-layer model's stream), so adding a layer never changes
 * the draws of another: dense W then b as nn.Linear; LoRA A then B, then a
 * network's bias as nn.Linear's (docs/reproducibility.md). */
static ld_status build_scratch_model(model *m, const config *cfg, uint64_t seed, int rank,
                                     char *err, size_t errlen)
{
    const model_spec spec = run_model_spec(cfg, rank, 0);
    ld_status st = model_init(m, &spec, NULL, NULL, err, errlen);
    if (st != LD_OK)
        return st;
    seed_model_streams(m, seed, rank);
    for (int l = 0; l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        rng r;
        rng_seed(&r, seed, STREAM_INIT_BASE + (uint64_t)rank + (uint64_t)l * STREAM_LAYER_STRIDE);
        if (rank == 0) {
            linear_init(L->W, L->b, L->in, L->out, &r);
            continue;
        }
        lora_init_scratch(L->A, L->B, L->in, rank, L->out, &r);
        if (L->b != NULL) {
            const float bound = (float)(1.0 / sqrt((double)L->in));
            for (int o = 0; o < L->out; o++)
                L->b[o] = rng_uniform_range(&r, -bound, bound);
        }
    }
    return LD_OK;
}

/* Train model i of the seed, then its held-out loss and (first seed) its
 * predictions on the rows that are shown. */
static ld_status scratch_model(const seed_run *sr, int i, const dataset *train,
                               const dataset *test, char *err, size_t errlen)
{
    model_result *mr = &sr->rc->res->models[i];
    const int rank = model_rank(sr->cfg, i);
    model m;
    trainer t;
    int finished = 0;
    ld_status st = build_scratch_model(&m, sr->cfg, sr->seed, rank, err, errlen);
    if (st != LD_OK)
        return st;
    st = train_recorded(sr, i, &m, &t, train, &finished, err, errlen);
    if (st == LD_OK && finished) { /* no test loss or predictions for a model that did not finish */
        mr->test_losses[sr->s] = trainer_eval(&t, &m, test->x, test->y, test->n);
        if (sr->s == 0) {
            const int P = sr->rc->res->n_pred;
            const model_spec spec = model_spec_of(&m);
            float *h = malloc((model_acts_floats(&spec, (size_t)P) + 1) * sizeof(float));
            if (h != NULL)
                model_forward(&m, mr->pred, h, test->x, NULL, P, NULL);
            else
                st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for predictions");
            free(h);
        }
    }
    /* the first seed's spectrum of the learned weight (dense W, LoRA s B A) */
    if (st == LD_OK && sr->s == 0 && finished)
        st = spectra_of_model(mr, &m, NULL, NULL, NULL, t.pool, err, errlen);
    else if (st == LD_OK && sr->s == 0)
        spectra_unfinished(mr, m.n_layers);
    trainer_free(&t);
    model_free(&m);
    return st;
}

/* The seed's random data: X then Y of each set from its own stream. */
static ld_status random_data(const seed_run *sr, dataset *train, dataset *test, char *err,
                             size_t errlen)
{
    const config *cfg = sr->cfg;
    ld_status st = dataset_alloc(train, cfg->samples, cfg->in, cfg->out, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(test, cfg->test_samples, cfg->in, cfg->out, err, errlen);
    if (st != LD_OK)
        return st;
    rng r;
    rng_seed(&r, sr->seed, STREAM_TRAIN_DATA);
    dataset_make_random(train, &r);
    rng_seed(&r, sr->seed, STREAM_TEST_DATA);
    dataset_make_random(test, &r);
    return LD_OK;
}

ld_status run_scratch(const seed_run *sr, char *err, size_t errlen)
{
    experiment_result *res = sr->rc->res;
    dataset train = {0, 0, 0, NULL, NULL}, test = {0, 0, 0, NULL, NULL};
    const int from_file = sr->in != NULL && sr->in->has_data;
    ld_status st = from_file ? file_data(sr, &train, &test, err, errlen)
                             : random_data(sr, &train, &test, err, errlen);
    if (st == LD_OK)
        st = keep_first_seed_data(sr, &train, &test, err, errlen);
    for (int i = 0; i < res->n_models && st == LD_OK; i++) {
        if (res->interrupted || stop_before(sr->rc, res->models[i].name))
            break;
        st = scratch_model(sr, i, &train, &test, err, errlen);
    }
    dataset_free(&train);
    dataset_free(&test);
    return st;
}
