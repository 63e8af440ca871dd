/* config.c - the defaults of every option, declared in one block. */
#include "config.h"

#include <string.h>

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
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
    c->batch_size = 0;
    c->output_dir = "results";
    c->quiet = 0;
    c->threads = 1;
}

float config_alpha(const config *c, int rank)
{
    return c->alpha > 0.0 ? (float)c->alpha : (float)rank;
}

float config_scale(const config *c, int rank)
{
    return (float)((double)config_alpha(c, rank) / (double)rank);
}
