/* config.c - the defaults of every option, declared in one block per
 * experiment, and the merging of what the input files say. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/dataio.h"

void config_defaults(config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->experiment = EXPERIMENT_SCRATCH;
    cfg->epochs = 100;
    cfg->seed = 42;
    cfg->lr = 0.01;
    cfg->samples = 100;
    cfg->test_samples = 20;
    cfg->in = 10;
    cfg->out = 5;
    cfg->n_ranks = 4;
    for (int i = 0; i < 4; i++)
        cfg->ranks[i] = i + 1;
    cfg->alpha = 0.0;
    cfg->rslora = 0;
    cfg->loraplus_ratio = 1.0;
    cfg->batch_size = 0;
    cfg->repeats = 1;
    /* used by finetune only */
    cfg->delta_rank = 2;
    cfg->noise = 0.01;
    cfg->pretrain_epochs = 500;
    cfg->output_dir = "results";
    cfg->quiet = 0;
    cfg->threads = 1;
    cfg->n_hidden = 0;              /* one layer, the notebook's */
    cfg->activation = ACT_TANH;     /* used with --hidden only */
}

void config_defaults_for(config *cfg, experiment_kind kind)
{
    config_defaults(cfg);
    cfg->experiment = kind;
    if (kind == EXPERIMENT_FINETUNE) {
        /* Enough samples, held-out rows and epochs that full fine-tuning
         * reaches the noise floor on every seed (why these values, and the
         * seed check: docs/finetune.md). alpha stays r: scale 1 for every rank. */
        cfg->epochs = 400;
        cfg->samples = 500;
        cfg->test_samples = 1000;
    }
}

const char *config_experiment_name(experiment_kind kind)
{
    return kind == EXPERIMENT_FINETUNE ? "finetune" : "scratch";
}

const char *config_init_name(lora_init_kind kind)
{
    return kind == LORA_INIT_PISSA ? "pissa" : "default";
}

double config_alpha(const config *cfg, int rank)
{
    return cfg->alpha > 0.0 ? cfg->alpha : (double)rank;
}

/* PEFT computes the scale in Python floats (doubles), from lora_alpha as
 * adapter_config.json holds it: `self.scaling[adapter_name] = lora_alpha / r`,
 * or `lora_alpha / math.sqrt(r)` with use_rslora (LoraLayer.update_layer,
 * huggingface/peft src/peft/tuners/lora/layer.py); torch then multiplies a
 * float32 tensor by it, which rounds it to float32 once. So: alpha as parsed,
 * never rounded to float first (--alpha 0.9 --ranks 3 is 0.30000001, not
 * 0.29999998), one division or sqrt in double, one rounding.
 * tests/fixtures/scale_pairs.txt holds PEFT's value for many (alpha, r). */
float config_scale(const config *cfg, int rank)
{
    const double alpha = config_alpha(cfg, rank);
    return (float)(cfg->rslora ? alpha / sqrt((double)rank) : alpha / (double)rank);
}

ld_status config_check_scales(const config *cfg, char *err, size_t errlen)
{
    const char *opt = cfg->alpha > 0.0 ? "--alpha" : "--ranks";
    for (int i = 0; i < cfg->n_ranks; i++) {
        const int r = cfg->ranks[i];
        /* alpha is kept as the parsed double, and must also be a normal float */
        const float alpha = (float)config_alpha(cfg, r), scale = config_scale(cfg, r);
        if (!isfinite(alpha) || alpha < FLT_MIN || !isfinite(scale) || scale < FLT_MIN)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: alpha %g gives lora_r%d the scale %g (%s), not a normal float "
                           "(%g to %g)",
                           opt, (double)alpha, r, (double)scale,
                           cfg->rslora ? "alpha/sqrt(r)" : "alpha/r", (double)FLT_MIN,
                           (double)FLT_MAX);
    }
    return LD_OK;
}

/* ------------------------------------------------------------------------ */
/* the input files */

void config_input_files(const config *cfg, input_files *files)
{
    memset(files, 0, sizeof *files);
    files->data = cfg->data;
    files->test_data = cfg->test_data;
    files->base_weights = cfg->base_weights;
    files->in = cfg->in;
    files->out = cfg->out;
    files->in_fixed = (cfg->given & CONFIG_GIVEN_IN) != 0;
    files->out_fixed = (cfg->given & CONFIG_GIVEN_OUT) != 0;
    files->hold_out = (cfg->given & CONFIG_GIVEN_TEST_SAMPLES) ? cfg->test_samples : 0;
    files->n_hidden = cfg->n_hidden;
    files->hidden = cfg->hidden;
}

ld_status config_merge_counts(config *cfg, const input_sizes *sizes, char *err, size_t errlen)
{
    if (cfg->data == NULL)
        return LD_OK;
    const int given_samples = (cfg->given & CONFIG_GIVEN_SAMPLES) != 0;
    const int given_test = (cfg->given & CONFIG_GIVEN_TEST_SAMPLES) != 0;
    const int rows = sizes->rows, n_test = sizes->held_out;
    int n_train;
    if (cfg->test_data != NULL) {
        n_train = rows;
        if (given_test && cfg->test_samples != n_test)
            return ld_fail(err, errlen, LD_EINPUT, "--test-samples: %d, but %s has %d rows",
                           cfg->test_samples, cfg->test_data, n_test);
        if (given_samples && cfg->samples != n_train)
            return ld_fail(err, errlen, LD_EINPUT, "--samples: %d, but %s has %d rows", cfg->samples,
                           cfg->data, n_train);
    } else {
        if (rows < 2)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: 1 data row; holding some out needs at least 2 (or give --test-data)",
                           cfg->data);
        if (given_test && n_test >= rows)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--test-samples: %d leaves no training rows of the %d in %s", n_test, rows,
                           cfg->data);
        n_train = rows - n_test;
        if (given_samples && cfg->samples != n_train)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--samples: %d, but %s has %d training rows (%d rows, %d held out)",
                           cfg->samples, cfg->data, n_train, rows, n_test);
    }
    cfg->samples = n_train;
    cfg->test_samples = n_test;
    return LD_OK;
}

ld_status config_merge_sizes(config *cfg, const input_sizes *sizes, char *err, size_t errlen)
{
    if (sizes->source == NULL)
        return LD_OK;
    cfg->in = sizes->in;
    cfg->out = sizes->out;
    ld_status st = config_resolve_ranks(cfg, err, errlen);
    return st == LD_OK ? config_check_sizes(cfg, sizes->source, err, errlen) : st;
}

ld_status config_resolve_ranks(config *cfg, char *err, size_t errlen)
{
    if (!cfg->ranks_all)
        return LD_OK;
    const int k = cfg->in < cfg->out ? cfg->in : cfg->out;
    if (k > CONFIG_MAX_RANKS)
        return ld_fail(err, errlen, LD_EINPUT,
                       "--ranks: 'all' is %d ranks (min(--in, --out) = %d), more than %d", k, k,
                       CONFIG_MAX_RANKS);
    for (int r = 1; r <= k; r++)
        cfg->ranks[r - 1] = r;
    cfg->n_ranks = k;
    return config_check_scales(cfg, err, errlen);
}

/* "<what> exceeds min(--in, --out) = M", and " (in I, out O from FILE)" when
 * the sizes came from FILE: one format, so a long FILE cannot cut it short. */
static ld_status exceeds_fail(const config *cfg, const char *what, int max_rank, const char *source,
                              char *err, size_t errlen)
{
    if (source == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s exceeds min(--in, --out) = %d", what, max_rank);
    return ld_fail(err, errlen, LD_EINPUT, "%s exceeds min(--in, --out) = %d (in %d, out %d from %s)",
                   what, max_rank, cfg->in, cfg->out, source);
}

/* With --hidden: every rank (and --delta-rank, which shifts every layer)
 * must fit each layer, I_l -> O_l; the first that does not is named. */
static ld_status check_layers(const config *cfg, const char *source, char *err, size_t errlen)
{
    for (int l = 0; l <= cfg->n_hidden; l++) {
        const int I = l == 0 ? cfg->in : cfg->hidden[l - 1];
        const int O = l == cfg->n_hidden ? cfg->out : cfg->hidden[l];
        const int fit = I < O ? I : O;
        const char *from = source != NULL ? source : "the command line";
        for (int i = 0; i < cfg->n_ranks; i++)
            if (cfg->ranks[i] > fit)
                return ld_fail(err, errlen, LD_EINPUT,
                               "--ranks: rank %d does not fit layer %d (%d -> %d, from %s): "
                               "at most %d",
                               cfg->ranks[i], l, I, O, from, fit);
        if (cfg->experiment == EXPERIMENT_FINETUNE && cfg->data == NULL && cfg->delta_rank > fit)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--delta-rank: %d does not fit layer %d (%d -> %d, from %s): at most %d",
                           cfg->delta_rank, l, I, O, from, fit);
    }
    return LD_OK;
}

ld_status config_check_sizes(const config *cfg, const char *source, char *err, size_t errlen)
{
    char what[64];
    const int max_rank = cfg->in < cfg->out ? cfg->in : cfg->out;
    if (cfg->n_hidden > 0)
        return check_layers(cfg, source, err, errlen);
    for (int i = 0; i < cfg->n_ranks; i++)
        if (cfg->ranks[i] > max_rank) {
            snprintf(what, sizeof what, "--ranks: rank %d", cfg->ranks[i]);
            return exceeds_fail(cfg, what, max_rank, source, err, errlen);
        }
    if (cfg->experiment == EXPERIMENT_FINETUNE && cfg->data == NULL && cfg->delta_rank > max_rank) {
        snprintf(what, sizeof what, "--delta-rank: %d", cfg->delta_rank);
        return exceeds_fail(cfg, what, max_rank, source, err, errlen);
    }
    return LD_OK;
}
