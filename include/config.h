/* config.h - every option of a run, with its default, in one struct.
 *
 * cli.c fills it from argv, and the config_merge_* functions below add what
 * the input files say; main.c calls both, and every module below main only
 * reads the config.
 *
 * Two experiments share the struct. Their defaults differ where noted:
 * config_defaults() gives the scratch (notebook) defaults, and
 * config_defaults_for(c, EXPERIMENT_FINETUNE) the finetune ones. The
 * finetune-only fields (delta_rank, noise, pretrain_epochs) are unused by
 * scratch.
 */
#ifndef LORA_DEMO_CONFIG_H
#define LORA_DEMO_CONFIG_H

#include <stdint.h>

#include "core/activation.h"
#include "status.h"

#define CONFIG_MAX_RANKS 64
#define CONFIG_MAX_THREADS 256
/* --hidden: at most 7 hidden layers (core/model.h: MODEL_MAX_LAYERS 8),
 * each 1..65536 wide */
#define CONFIG_MAX_HIDDEN 7
#define CONFIG_MAX_WIDTH 65536

/* Bits of config.given: which sizes were set on the command line. With
 * --data (or --base-weights) the sizes come from the files, and an explicit
 * value is a check against them instead of a setting. */
#define CONFIG_GIVEN_IN 1u
#define CONFIG_GIVEN_OUT 2u
#define CONFIG_GIVEN_SAMPLES 4u
#define CONFIG_GIVEN_TEST_SAMPLES 8u

typedef enum {
    EXPERIMENT_SCRATCH = 0, /* the notebook: random data, every model from scratch */
    EXPERIMENT_FINETUNE = 1 /* frozen pretrained layer + LoRA vs full fine-tuning */
} experiment_kind;

/* How a fine-tuned LoRA layer starts (--init): PEFT's init_lora_weights. */
typedef enum {
    LORA_INIT_DEFAULT = 0, /* True in PEFT: A as nn.Linear, B = 0 (lora_init_peft) */
    LORA_INIT_PISSA = 1    /* "pissa": A, B from the base's top singular triplets, and the
                            * base becomes the residual (lora_init_pissa); finetune only */
} lora_init_kind;

typedef struct {
    experiment_kind experiment; /* --experiment, scratch */
    int epochs;          /* --epochs, 100 (finetune 400) */
    uint64_t seed;       /* --seed, 42 */
    double lr;           /* --lr, 0.01 */
    int samples;         /* --samples, 100 (finetune 500) */
    int test_samples;    /* --test-samples, 20 (finetune 1000) */
    int in;              /* --in, 10 */
    int out;             /* --out, 5 */
    int ranks[CONFIG_MAX_RANKS]; /* --ranks, 1,2,3,4 */
    int n_ranks;
    int ranks_all;       /* --ranks all: ranks 1..min(in, out), filled in by
                          * config_resolve_ranks once in and out are final */
    double alpha;        /* --alpha; 0 = unset: each rank uses alpha = r (both experiments) */
    int rslora;          /* --rslora: scale alpha/sqrt(r) instead of alpha/r */
    double loraplus_ratio; /* --loraplus-ratio, 1: lora_B's learning rate over lora_A's (LoRA+) */
    double lora_dropout;   /* --lora-dropout, 0: dropout p on the LoRA branch's input */
    int dora;            /* --dora (finetune): DoRA, a trainable magnitude per output */
    int batch_size;      /* --batch-size; 0 = full batch */
    int repeats;         /* --repeats, 1: seeds seed, seed+1, ..., seed+N-1 */
    int delta_rank;      /* --delta-rank, 2 (finetune): rank k of the task shift */
    double noise;        /* --noise, 0.01 (finetune): std of the target noise */
    int pretrain_epochs; /* --pretrain-epochs, 500 (finetune) */
    lora_init_kind init; /* --init, default (pissa: finetune only) */
    const char *output_dir; /* --output-dir, "results" */
    int quiet;           /* --quiet */
    /* files in and out (dataio.h, export.h); NULL / 0 = unset */
    const char *data;         /* --data FILE: train on this CSV, not on generated data */
    const char *test_data;    /* --test-data FILE: the held-out set (needs --data) */
    const char *base_weights; /* --base-weights FILE (finetune): W0, b0 instead of pretraining
                               * (with --hidden, every layer's) */
    int save_data;       /* --save-data: train.csv and test.csv */
    int save_weights;    /* --save-weights: weights/, adapters/ and (finetune) base.safetensors */
    unsigned given;      /* CONFIG_GIVEN_* bits */
    int threads;         /* --threads, 1 (results are identical for any count) */
    int n_hidden;        /* --hidden LIST: hidden widths; 0 = the one-layer model */
    int hidden[CONFIG_MAX_HIDDEN];
    activation_kind activation; /* --activation, tanh: between a network's layers */
} config;

/* The scratch defaults (the notebook's run). */
void config_defaults(config *cfg);
/* The defaults of experiment `kind`, with cfg->experiment set to it. */
void config_defaults_for(config *cfg, experiment_kind kind);

/* "scratch" or "finetune". */
const char *config_experiment_name(experiment_kind kind);
/* "default" or "pissa", as --init and PEFT's init_lora_weights spell it. */
const char *config_init_name(lora_init_kind kind);

/* alpha and scale of LoRA rank r under cfg: alpha is --alpha as parsed (a
 * double) if given, else r; scale is alpha/r, or alpha/sqrt(r) with
 * --rslora, computed in double and rounded to float once, which is what
 * PEFT computes from the same adapter_config.json (config.c). */
double config_alpha(const config *cfg, int rank);
float config_scale(const config *cfg, int rank);

/* Every rank's alpha and scale, as the floats the run uses, must be normal
 * floats (not 0, subnormal, Inf or NaN): a scale of 0 trains nothing. A
 * check of its own, apart from config_scale, for cli_parse to call before
 * anything is written; LD_EINPUT naming --alpha (or --ranks) otherwise. */
ld_status config_check_scales(const config *cfg, char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* The input files (io/dataio.h), merged in the order dataio.h gives.
 *
 * With --data, --in, --out, --samples and --test-samples come from the
 * file(s); one given on the command line as well is a check, and a
 * disagreement is an error that names both values. The exceptions: a file
 * without a header needs --in and --out to split its columns, and without
 * --test-data, --test-samples chooses how many rows are held out. With
 * --base-weights and no --data, --in and --out come from the weight's shape
 * in the same way (a network's: its first layer's in, its last one's out);
 * --hidden never comes from a file: a network's base must have its widths. */

struct input_files;
struct input_sizes;

/* The files cfg names and what it knows of their sizes: the request for
 * inputs_load_data and inputs_load_base. */
void config_input_files(const config *cfg, struct input_files *files);

/* Check the rows of --data and --test-data against --samples and
 * --test-samples, and set those two from them. Nothing to do without --data. */
ld_status config_merge_counts(config *cfg, const struct input_sizes *sizes, char *err,
                              size_t errlen);

/* Set --in and --out from the files, then check the ranks against them
 * (config_check_sizes, naming the file). Nothing to do without a file. */
ld_status config_merge_sizes(config *cfg, const struct input_sizes *sizes, char *err,
                             size_t errlen);

/* --ranks all: every rank 1..min(in, out) into ranks, and their scales
 * checked (config_check_scales); LD_EINPUT if that is more than
 * CONFIG_MAX_RANKS. Nothing to do otherwise. */
ld_status config_resolve_ranks(config *cfg, char *err, size_t errlen);

/* The checks that need the final --in and --out: every rank (and, finetune
 * on generated data, --delta-rank) at most min(in, out), and with --hidden
 * at most min(fan-in, fan-out) of every layer, the layer named. source names the
 * file they came from, or is NULL: the command line (cli_parse). */
ld_status config_check_sizes(const config *cfg, const char *source, char *err, size_t errlen);

#endif /* LORA_DEMO_CONFIG_H */
