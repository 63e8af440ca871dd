/* config.c - the defaults of every option, declared in one block per experiment. */
#include "config.h"

#include <math.h>
#include <string.h>

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    c->experiment = EXPERIMENT_SCRATCH;
    c->epochs = 100;
    c->seed = 42;
    c->lr = 0.01;
    c->samples = 100;
    c->test_samples = 20;
    c->in = 10;
    c->out = 5;
    c->n_ranks = 4;
    for (int i = 0; i < 4; i++)
        c->ranks[i] = i + 1;
    c->alpha = 0.0;
    c->rslora = 0;
    c->batch_size = 0;
    c->repeats = 1;
    /* used by finetune only */
    c->delta_rank = 2;
    c->noise = 0.01;
    c->pretrain_epochs = 500;
    c->output_dir = "results";
    c->quiet = 0;
    c->threads = 1;
}

void config_defaults_for(config *c, experiment_kind kind)
{
    config_defaults(c);
    c->experiment = kind;
    if (kind == EXPERIMENT_FINETUNE) {
        /* Enough data that full fine-tuning's 55 parameters barely overfit
         * (its test MSE is about noise^2 (1 + (I+1)/N)), a held-out set large
         * enough to measure MSEs near noise^2 = 1e-4, and enough epochs for
         * Adam to reach that floor on every seed; checked on 2000 seeds by
         * scripts/check_finetune_seeds.sh (see docs-finetune.md). The
         * alpha default stays alpha = r: scale 1 for every rank. */
        c->epochs = 400;
        c->samples = 500;
        c->test_samples = 1000;
    }
}

const char *config_experiment_name(experiment_kind kind)
{
    return kind == EXPERIMENT_FINETUNE ? "finetune" : "scratch";
}

float config_alpha(const config *c, int rank)
{
    return c->alpha > 0.0 ? (float)c->alpha : (float)rank;
}

float config_scale(const config *c, int rank)
{
    const double alpha = (double)config_alpha(c, rank);
    return (float)(c->rslora ? alpha / sqrt((double)rank) : alpha / (double)rank);
}
