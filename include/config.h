/* config.h - every option of a run, with its default, in one struct.
 *
 * cli.c fills it from argv; experiment.c and report.c only read it.
 */
#ifndef LORA_DEMO_CONFIG_H
#define LORA_DEMO_CONFIG_H

#include <stdint.h>

#define CONFIG_MAX_RANKS 64
#define CONFIG_MAX_THREADS 256

typedef struct {
    int epochs;          /* --epochs, 100 */
    uint64_t seed;       /* --seed, 42 */
    double lr;           /* --lr, 0.01 */
    int samples;         /* --samples, 100 */
    int test_samples;    /* --test-samples, 20 */
    int in;              /* --in, 10 */
    int out;             /* --out, 5 */
    int ranks[CONFIG_MAX_RANKS]; /* --ranks, 1,2,3,4 */
    int n_ranks;
    double alpha;        /* --alpha; 0 = unset: each rank uses alpha = r (scale 1) */
    int batch_size;      /* --batch-size; 0 = full batch */
    const char *output_dir; /* --output-dir, "results" */
    int quiet;           /* --quiet */
    int threads;         /* --threads, 1 (results are identical for any count) */
} config;

void config_defaults(config *c);

/* alpha and scale of LoRA rank r under c. */
float config_alpha(const config *c, int rank);
float config_scale(const config *c, int rank);

#endif /* LORA_DEMO_CONFIG_H */
