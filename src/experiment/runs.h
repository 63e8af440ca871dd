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
#include "experiment/teacher.h"
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
/* The spec of the run's model of rank r (0: dense), one layer or the
 * --hidden network; LoRA with cfg's alpha, scale and variants (LoRA+,
 * dropout, DoRA), on a frozen base with has_base (experiment.c). */
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

/* finetune_net.c: the tasks of a --hidden network (see there). A base is
 * every layer's weight one after another, and every bias the same way. */
void net_base_floats(const model_spec *spec, size_t *weights, size_t *biases);
/* A dense network's weights into w, its biases into b. */
void net_gather(const model *net, float *w, float *b);
/* A dense network of the run's shape holding w and b (as net_gather). */
ld_status net_from_base(model *net, const config *cfg, const float *w, const float *b, char *err,
                        size_t errlen);
/* Layer l's teacher (teacher.h) into tc[l], for every layer. */
ld_status net_teachers(teacher *tc, const config *cfg, uint64_t seed, char *err, size_t errlen);
/* Task 1's teacher: every tc[l].w_base, tc[l].b as a dense network. */
ld_status net_task1_teacher(model *net, const config *cfg, const teacher *tc, char *err,
                            size_t errlen);
/* Task 2's teacher: the base (w, b) with each layer's shift, ||dW_l|| =
 * FINETUNE_DELTA_FRACTION ||W_l||. */
ld_status net_task2_teacher(model *net, const config *cfg, const float *w, const float *b,
                            const teacher *tc, char *err, size_t errlen);
/* d's X from r, then y = net(x) + noise z. */
ld_status net_make_data(dataset *d, const model *net, double noise, rng *r, char *err,
                        size_t errlen);

/* the drivers: one seed each */
ld_status run_scratch(const seed_run *sr, char *err, size_t errlen);
ld_status run_finetune(const seed_run *sr, char *err, size_t errlen);

/* spectra.c: the first seed's spectra (docs/spectra.md) */

/* Full (O,I) matrices (dense W - W0, dW) are decomposed only up to this
 * min(O, I); LoRA's s B A always (spectra.c). */
#define SPECTRA_MAX_DENSE 1024

/* The teacher's shift, for comparing updates with. */
typedef struct {
    int k;     /* K, the rank of dW; 0: no shift to compare with */
    int ld;    /* columns of u: min(O, I) */
    double *d; /* (O,I) dW */
    double *u; /* (O,ld) its left singular vectors, the first K spanning it */
} shift_basis;
/* dW's spectrum into *out, its basis into *sb and ||dW||_F^2 into
 * *dw_energy (dw (O,I), rank K). A dW that is not finite, or too large,
 * leaves sb empty and *out null with the reason. */
ld_status shift_basis_make(shift_basis *sb, layer_spectrum *out, double *dw_energy,
                           const float *dw, int O, int I, int K, char *err, size_t errlen);
void shift_basis_free(shift_basis *sb);
/* finetune_net.c: the first seed's shift of every layer of a network, as
 * net_task2_teacher applies it to the base w (every layer's weight), into
 * sb[l] and res->shift[l]; res->shift_rank K, no shift_energy. */
ld_status net_shift_bases(shift_basis *sb, experiment_result *res, const config *cfg,
                          const float *w, const teacher *tc, char *err, size_t errlen);
/* m's spectra after training, into mr->spectra: per layer, LoRA s B A (with
 * PiSSA, the whole change Wres + s B A - W0, Wres its residual bases, else
 * NULL), or dense W - W0 (W0: every layer's (O_l,I_l) base weight it
 * started from, one after another; NULL: W). sb: m->n_layers shifts, layer
 * l's update compared with sb[l]; NULL, or an empty sb[l]: no energy or
 * angles. pl (or NULL): the trainer's pool, on which the SVDs form their
 * vectors (svd_options.pool; the same bits on any number of threads). */
ld_status spectra_of_model(model_result *mr, const model *m, const float *W0, const float *Wres,
                           const shift_basis *sb, pool *pl, char *err, size_t errlen);
/* No spectra for the n_layers layers of mr, and why: the reason given, or
 * (unfinished) how the first seed's training ended. */
void spectra_none(model_result *mr, int n_layers, const char *why);
void spectra_unfinished(model_result *mr, int n_layers);
/* An empty spectrum, and why. */
void layer_spectrum_none(layer_spectrum *ls, const char *why);
/* Bytes the spectra take: kept, and at their peak while one is computed;
 * -1 on overflow. */
int spectra_bytes(const config *cfg, size_t *bytes);
void layer_spectrum_free(layer_spectrum *ls);

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
