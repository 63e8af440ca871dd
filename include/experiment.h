/* experiment.h - build the data, train every model, collect the results.
 *
 * Dimension key: N samples, P printed test rows, I in, O out, E epochs.
 *
 * Random streams (PCG32 stream ids under one --seed), each independent of the
 * others, so e.g. adding a rank never changes another model's numbers:
 *     1           training data          2           held-out data
 *     1000 + r    initial weights of the model of rank r (dense: r = 0)
 *     2000 + r    mini-batch shuffling of the model of rank r
 * No printing and no files here: report.c does that.
 */
#ifndef LORA_DEMO_EXPERIMENT_H
#define LORA_DEMO_EXPERIMENT_H

#include <stddef.h>

#include "config.h"
#include "status.h"

#define STREAM_TRAIN_DATA 1u
#define STREAM_TEST_DATA 2u
#define STREAM_INIT_BASE 1000u
#define STREAM_SHUFFLE_BASE 2000u

/* How many held-out rows have their predictions kept for printing. */
#define EXPERIMENT_PRED_ROWS 3

typedef struct {
    char name[16];      /* "dense" or "lora_r<k>" */
    int rank;           /* 0 for dense */
    float alpha, scale; /* 0 for dense */
    size_t trainable;
    float *losses;      /* (E) training MSE of each epoch, before its update */
    float first_loss, final_loss, test_loss;
    double train_ms;
    float *pred;        /* (P,O) predictions on the first P held-out inputs */
} model_result;

typedef struct {
    int epochs;
    int n_models;       /* 1 + number of ranks; dense first */
    int n_pred;         /* P */
    int in, out;
    model_result *models;
    float *pred_x;      /* (P,I) the held-out inputs shown */
    float *pred_y;      /* (P,O) their targets */
} experiment_result;

ld_status experiment_run(const config *cfg, experiment_result *res, char *err, size_t errlen);
void experiment_result_free(experiment_result *res);

#endif /* LORA_DEMO_EXPERIMENT_H */
