/* runs.h - what the files of src/experiment/ share, and nothing else
 * includes: the state of a run, the epoch loop (fit.c), the two drivers
 * (scratch.c, finetune.c) and the result arrays (aggregate.c).
 *
 * Dimension key: N samples, P printed test rows, I in, O out, E epochs,
 * S repeats (seeds), M models.
 */
#ifndef LORA_DEMO_EXPERIMENT_RUNS_H
#define LORA_DEMO_EXPERIMENT_RUNS_H

#include "core/data.h"
#include "core/model.h"
#include "experiment/experiment.h"
#include "train/train.h"

/* The state of one run that the epoch loop needs besides the model. */
typedef struct {
    const experiment_hooks *hooks; /* or NULL */
    experiment_result *res;
    experiment_progress prog;      /* seed_index, repeats, done and total live here */
} run_ctx;

/* One seed of one experiment: its data (or the files), and where its curves
 * (M,E) go. */
typedef struct {
    run_ctx *rc;
    const config *cfg;
    const run_inputs *in; /* or NULL: generated data */
    uint64_t seed;
    int s;                /* seed index */
    float *curves;        /* (M,E) this seed's curves */
} seed_run;

/* fit.c: the epoch loop and what every model's training shares */

/* 1 (and the stop recorded) if the stop flag says `model` must not start. */
int stop_before(run_ctx *rc, const char *model);
/* How one call of fit() ended. */
typedef struct {
    int epochs_done; /* epochs trained (the diverging one included) */
    int diverged_at; /* 1-based epoch whose loss or update was not finite; 0 = none */
} fit_outcome;
ld_status fit(run_ctx *rc, const char *name, trainer *t, model *m, int epochs, double lr,
              uint64_t seed, uint64_t stream, float *losses, double *ms, fit_outcome *out,
              char *err, size_t errlen);
/* A trainer for m on n samples of (x, y), with the run's batch size and threads. */
ld_status start_trainer(trainer *t, const model *m, const float *x, const float *y, int n,
                        const config *cfg, char *err, size_t errlen);
/* Train model i of the seed, recording its curve, time, epochs and (first
 * seed, --save-weights) its initial and final parameters. *t is left set up
 * for the caller to evaluate with and free. *finished: every epoch ran. */
ld_status train_recorded(const seed_run *sr, int i, model *m, trainer *t, const dataset *train,
                         int *finished, char *err, size_t errlen);
/* The rank of model i: 0 (dense) first, then cfg->ranks in order. */
int model_rank(const config *cfg, int i);
/* The spec of the model of `rank` under cfg: dense for 0, else LoRA with
 * cfg's alpha, scale and variants (LoRA+), on a frozen base if has_base. */
model_spec run_model_spec(const config *cfg, int rank, int has_base);
/* Seed the random streams m draws from while it trains, under the run's
 * seed: LoRA dropout's masks (STREAM_DROPOUT_BASE + rank). */
void seed_model_streams(model *m, uint64_t seed, int rank);
/* The seed's data from the files: --test-data, or --data's held-out rows
 * drawn from stream STREAM_HOLDOUT. */
ld_status file_data(const seed_run *sr, dataset *train, dataset *test, char *err, size_t errlen);
/* The first seed's data and shown held-out rows, kept in the result. */
ld_status keep_first_seed_data(const seed_run *sr, const dataset *train, const dataset *test,
                               char *err, size_t errlen);

/* the drivers: one seed each */
ld_status run_scratch(const seed_run *sr, char *err, size_t errlen);
ld_status run_finetune(const seed_run *sr, char *err, size_t errlen);

/* aggregate.c */
void fill_nan(float *x, size_t n);
/* Allocate every array of res for cfg; 0 on success. */
int alloc_result(experiment_result *res, const config *cfg);
/* Bytes alloc_result takes for cfg (and what the run keeps for export);
 * -1 on overflow. */
int result_bytes(const config *cfg, size_t *bytes);
/* From the per-seed curves (S,M,E) and scalars, the means and stds. */
void aggregate(experiment_result *res, const float *curves);

#endif /* LORA_DEMO_EXPERIMENT_RUNS_H */
