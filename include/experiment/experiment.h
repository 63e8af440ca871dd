/* experiment.h - build the data, train every model, collect the results.
 *
 * Dimension key: N samples, P printed test rows, I in, O out, E epochs,
 * S repeats (seeds), M models.
 *
 * Two experiments (config.experiment):
 *   scratch   the notebook: random X and Y, a dense layer and LoRA layers of
 *             each rank trained from scratch.
 *   finetune  a dense layer is pretrained on task 1, then adapted to task 2
 *             (teacher.h): "dense" is full fine-tuning from the pretrained
 *             weights; "lora_r<k>" freezes them and trains only A and B, then
 *             is merged (W = W0 + s B A) and predicts with the merged weight.
 *
 * Repeats: --repeats S runs the whole experiment for the seeds seed, seed+1,
 * ..., seed+S-1 (each with all its streams) and aggregates: means, and sample
 * standard deviations (divisor S-1; 0 when S = 1), per epoch and per model.
 *
 * Random streams (PCG32 stream ids under one seed), each independent of the
 * others, so e.g. adding a rank never changes another model's numbers:
 *     1           training data (finetune: task-2 training data)
 *     2           held-out data (finetune: task-2 held-out data)
 *     3           finetune: teacher W_base, then b
 *     4           finetune: the factors U, then V, of the task shift dW
 *     5           finetune: task-1 (pretraining) data
 *     6           finetune: initial weights of the model that is pretrained
 *     7           finetune: mini-batch shuffling while pretraining
 *     8           --data without --test-data: which rows are held out
 *     1000 + r    initial weights of the model of rank r (dense: r = 0;
 *                 unused by finetune's dense, which starts from W0, b0)
 *     2000 + r    mini-batch shuffling of the model of rank r
 * With --data (dataio.h) streams 1 and 2 are not used: the data comes from
 * the file(s), and finetune, which then needs --base-weights, draws no
 * teacher (3, 4) and pretrains nothing (5, 6, 7). --base-weights alone
 * skips pretraining (5, 6, 7) and keeps the teacher and its data (a
 * --hidden network's task 2: the base read, with the teachers' shifts). Weights
 * are drawn from their own streams either way, so a run on the data another
 * run saved (--save-data) trains exactly as that run did.
 *
 * No printing and no files here: report/ does that.
 *
 * Faults, checked after every epoch of every model (pretraining included):
 *   divergence  the epoch's loss, or any parameter after its update, is NaN
 *               or Inf. That model stops there (diverged_at = that epoch,
 *               1-based); its loss of that epoch is kept if it was finite
 *               (it was taken before the update), the rest of its curve is
 *               NaN. The other models go on.
 *   stop        *hooks->stop became nonzero (main.c's SIGINT handler): the
 *               current model stops at the end of its epoch, nothing after
 *               it starts, and res->interrupted is set. What was trained is
 *               kept; models (and seeds) not started have epochs_done 0.
 * Aggregation over seeds with missing values: a mean (std) cell is NaN if
 * any seed had diverged by that epoch; otherwise it is taken over the seeds
 * that trained that epoch (an interrupt leaves later seeds out), NaN if
 * none did. Per-seed scalars (final and test loss) exist only for seeds
 * that completed the model; their mean is NaN if any seed diverged or none
 * completed. With --save-weights, a model that did not complete keeps its
 * initial weights only (final_params NULL).
 */
#ifndef LORA_DEMO_EXPERIMENT_H
#define LORA_DEMO_EXPERIMENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/data.h"
#include "io/dataio.h"
#include "core/model.h"
#include "status.h"

#define STREAM_TRAIN_DATA 1u
#define STREAM_TEST_DATA 2u
#define STREAM_TEACHER 3u
#define STREAM_DELTA 4u
#define STREAM_PRETRAIN_DATA 5u
#define STREAM_PRETRAIN_INIT 6u
#define STREAM_PRETRAIN_SHUFFLE 7u
#define STREAM_HOLDOUT 8u
#define STREAM_INIT_BASE 1000u
#define STREAM_SHUFFLE_BASE 2000u
/* layer l of a --hidden network draws its initial weights from
 * STREAM_INIT_BASE + rank + l * STREAM_LAYER_STRIDE */
#define STREAM_LAYER_STRIDE ((uint64_t)1 << 32)
#define STREAM_DROPOUT_BASE 3000u /* + rank: LoRA dropout's masks */

/* How many held-out rows have their predictions kept for printing. */
#define EXPERIMENT_PRED_ROWS 3

/* The spectrum of one layer's learned update, or of the teacher's shift,
 * on the first seed (docs/spectra.md, core/spectrum.h). Scratch: of the
 * learned weight (dense W, LoRA s B A); finetune: of the learned update
 * (dense W - W0, LoRA s B A). A matrix that is not finite never reaches the
 * SVD: then k = 0 and why_null says why. */
typedef struct {
    int k;               /* values in sigma: min(O,I) (dense), R (LoRA); 0: none */
    double *sigma;       /* (k) singular values, descending */
    int rank_threshold;  /* #{sigma_i > 1 % of sigma_0} */
    double rank_entropy; /* Roy and Vetterli's exp(H(p)), p = sigma / sum sigma */
    /* finetune with a teacher: dW against the update's span, the top q left
     * singular vectors (q = R for LoRA, K = --delta-rank for dense) */
    double energy;       /* ||P_q dW||_F^2 / ||dW||_F^2; NaN without a teacher */
    int n_cosines;       /* min(q, K); 0 without a teacher */
    double *cosines;     /* (n_cosines) of the principal angles, descending */
    char why_null[64];   /* k == 0: "diverged at epoch 3", "not trained", ... */
} layer_spectrum;

typedef struct {
    char name[16];      /* "dense" or "lora_r<k>" */
    int rank;           /* 0 for dense */
    double alpha;       /* 0 for dense; --alpha as parsed, or r */
    float scale;        /* 0 for dense; config_scale: what PEFT computes from alpha and r */
    size_t trainable;   /* trainable parameters */
    double trainable_fraction; /* trainable / the dense model's */
    size_t optimizer_bytes;    /* Adam m and v */
    float *losses;      /* (E) training MSE of each epoch, before its update; mean over seeds
                           (NaN: no value, see the aggregation rule above) */
    float *losses_std;  /* (E) sample std over seeds of the same (0 when S = 1) */
    float *final_losses;/* (S) final training loss of each seed (NaN unless completed) */
    float *test_losses; /* (S) held-out MSE of each seed (NaN unless completed) */
    int *epochs_done;   /* (S) epochs trained for each seed: E when completed */
    int *diverged_at;   /* (S) 1-based epoch it diverged at for each seed, 0 = never */
    int diverged_first; /* earliest of diverged_at over seeds, 0 = never */
    int n_completed;    /* seeds that trained all E epochs without diverging */
    float first_loss;   /* losses[0] */
    float final_loss, final_loss_std; /* mean and sample std over seeds */
    float test_loss, test_loss_std;
    float test_ratio;   /* test_loss / the dense model's test_loss */
    float test_ratio_min, test_ratio_max; /* the same ratio seed by seed: its range */
    /* finetune only */
    float test_loss_before; /* held-out MSE of the pretrained base alone (mean over seeds) */
    float merge_max_diff;   /* LoRA: max |merged - unmerged| held-out prediction, worst seed */
    float merge_rel_diff;   /* LoRA: that over max |unmerged prediction|, worst seed */
    float unmerge_max_diff; /* LoRA: max |W after merge and unmerge - W0|, worst seed */
    double setup_ms;    /* one-time set-up of its trainer (trainer_init: statistics,
                         * caches, packing), mean per seed that trained it */
    double train_ms;    /* its epochs, mean per seed that trained it */
    float *pred;        /* (P,O) first seed's predictions on the first P held-out inputs */
    /* cfg->save_weights: the first seed's parameter block, laid out as
     * tensors[] says (PyTorch names), before the first epoch and after the
     * last one (a LoRA model's unmerged A and B); NULL otherwise */
    int n_tensors;
    param_tensor tensors[MODEL_MAX_TENSORS];
    size_t n_params;
    float *init_params;  /* (n_params) */
    float *final_params; /* (n_params) */
    int has_base;        /* LoRA on the frozen base experiment_result.base_w, base_b */
    float *pissa_base;   /* (O,I) --init pissa with cfg->save_weights: the first seed's residual
                          * base W0 - s B A, which this model's A and B apply to; else NULL */
    int n_layers;        /* layers of the model: entries of spectra */
    layer_spectrum spectra[MODEL_MAX_LAYERS]; /* the first seed's, per layer */
} model_result;

typedef struct {
    experiment_kind experiment;
    int epochs;         /* E */
    int repeats;        /* S */
    int n_models;       /* M = 1 + number of ranks; dense first */
    int n_pred;         /* P */
    int in, out;
    int shift_rank;     /* finetune with a teacher: K, the rank of dW; 0 otherwise */
    uint64_t *seeds;    /* (S) */
    model_result *models; /* (M) */
    float *pred_x;      /* (P,I) the first seed's held-out inputs shown */
    float *pred_y;      /* (P,O) their targets */
    /* finetune only (NULL / 0 for scratch) */
    float *pretrain_losses;  /* (S) final pretraining loss on task 1 of each seed */
    float *base_test_losses; /* (S) held-out task-2 MSE of the pretrained base */
    double noise_floor;      /* noise^2: the lowest expected held-out MSE (NaN with --data) */
    /* kept from the first seed for export.c */
    dataset train, test;     /* cfg->save_data: the data losses.csv was trained on (finetune:
                              * task 2's) and the held-out set; empty otherwise */
    float *base_w;           /* (O,I) finetune with cfg->save_weights: the pretrained (or */
    float *base_b;           /* (O)   loaded) base every model starts from; else NULL */
    int *pretrain_epochs_done;   /* (S) finetune: pretraining epochs trained */
    int *pretrain_diverged_at;   /* (S) finetune: 1-based epoch pretraining diverged, 0 = never */
    /* faults */
    int interrupted;         /* 1 if the stop flag cut training short */
    int stop_seed;           /* where: seed index, */
    int stop_epoch;          /* epochs the stopped model had trained (0: before it started), */
    char stop_model[16];     /* and its name ("pretrain" for finetune's pretraining) */
    /* the teacher's shift (fields in this order leave no padding) */
    int n_shift_layers;          /* entries of shift: 1, or a network's layers; 0 without */
    double shift_energy;         /* one layer: ||dW||_F^2 of the first seed's dW; NaN without
                                  * one, and for a network (no rank bound: docs/spectra.md) */
    layer_spectrum shift[MODEL_MAX_LAYERS]; /* finetune with a teacher: the first seed's dW,
                                  * layer l's the shift of that layer as task 2's teacher
                                  * applies it (no energy or angles: it is what they are
                                  * measured against) */
} experiment_result;

/* What the progress hook is told after every epoch. */
typedef struct {
    const char *model;  /* "dense", "lora_r2", or "pretrain" */
    int seed_index;     /* 0 .. repeats-1 */
    int repeats;
    int epoch;          /* 1-based epoch just trained, of this model */
    int epochs;         /* epochs of this model */
    uint64_t done;      /* epochs trained (or skipped by divergence) in the whole run */
    uint64_t total;     /* epochs in the whole run, over every seed and model */
} experiment_progress;

/* Hooks into the epoch loop; any member may be NULL, and so may the hooks. */
typedef struct {
    /* Polled after every epoch and before every model: nonzero stops the
     * run (see "stop" above). Set from a signal handler; never written here. */
    const volatile sig_atomic_t *stop;
    /* Called after every epoch; must be cheap (it is called up to millions
     * of times) and may not call back into the experiment. */
    void (*progress)(void *ctx, const experiment_progress *p);
    void *progress_ctx;
} experiment_hooks;

/* The held-out MSE below which LoRA of rank r cannot go in finetune
 * (teacher.h): noise^2 + (K - r)/K ||dW||_F^2 / O for r < K, noise^2 for
 * r >= K, with the first seed's dW; NaN without a teacher. */
double experiment_rank_bound(const experiment_result *res, int r);

/* Run cfg's experiment on the files of dataio.h (in NULL: generated data),
 * with hooks into the epoch loop (NULL: none). The caller checks first that
 * the run fits in memory (experiment_check_memory). */
ld_status experiment_run(const config *cfg, const run_inputs *in, const experiment_hooks *hooks,
                         experiment_result *res, char *err, size_t errlen);
void experiment_result_free(experiment_result *res);

/* Memory a run of cfg needs at its peak, estimated before anything is
 * allocated: data sets, model parameters with gradients and Adam state,
 * trainer buffers, and the results, each in bytes (mem may be NULL).
 * Returns -1 if a size overflows size_t. */
typedef struct {
    size_t data, models, buffers, results, total;
} experiment_memory;
int experiment_memory_needed(const config *cfg, experiment_memory *mem);

/* LD_ENOMEM with a one-line message if the run of cfg needs more than
 * limit bytes (limit 0: the machine's physical memory, sysconf
 * _SC_PHYS_PAGES * _SC_PAGESIZE; no check if that is unknown). */
ld_status experiment_check_memory(const config *cfg, size_t limit, char *err, size_t errlen);

#endif /* LORA_DEMO_EXPERIMENT_H */
