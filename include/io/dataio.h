/* dataio.h - the run's input files, read and checked before anything is
 * trained: --data and --test-data (CSV, csv.h) and --base-weights
 * (safetensors, safetensors.h).
 *
 * Dimension key: N samples, I in, O out.
 *
 * Sizes. With --data, --in, --out, --samples and --test-samples come from
 * the file(s); one given on the command line as well is a check, and a
 * disagreement is an error that names both values. The exceptions: a file
 * without a header needs --in and --out to split its columns, and without
 * --test-data, --test-samples chooses how many rows are held out. With
 * --base-weights and no --data, --in and --out come from the weight's shape
 * in the same way.
 *
 * Held-out rows. Without --test-data, each seed holds out its own
 * DATAIO_HOLDOUT_FRACTION of --data's rows (rounded down, at least 1):
 * inputs_split shuffles the row numbers with the generator it is given
 * (experiment.c seeds it with stream STREAM_HOLDOUT), takes the first
 * n_test of them as the held-out set, and keeps both parts in file order.
 *
 * --base-weights FILE: an F32 tensor "layer.weight" (O,I) and "layer.bias"
 * (O), as base.safetensors is written, or else "weight" and "bias", as in
 * weights/dense.*.safetensors. A file with both pairs is refused as
 * ambiguous; both tensors must be present and every value finite.
 *
 * Every problem, a file that cannot be read included, is LD_EINPUT with a
 * one-line message that starts with the file name.
 */
#ifndef LORA_DEMO_DATAIO_H
#define LORA_DEMO_DATAIO_H

#include "config.h"
#include "core/data.h"
#include "core/rng.h"
#include "status.h"

/* The part of --data held out when there is no --test-data. */
#define DATAIO_HOLDOUT_FRACTION 0.2

typedef struct {
    int has_data;  /* --data was given */
    dataset all;   /* (N) every row of --data */
    int has_test;  /* --test-data was given */
    dataset test;  /* every row of --test-data */
    int n_test;    /* without --test-data: rows of --data each seed holds out */
    float *base_w; /* (O,I) --base-weights, or NULL */
    float *base_b; /* (O) */
} run_inputs;

/* Read and check every input file cfg names, and set cfg's sizes from them
 * (in, out, samples, test_samples); then check the ranks against the final
 * in and out (cli_check_sizes). *in is all zero/NULL if cfg names no file. */
ld_status inputs_load(config *cfg, run_inputs *in, char *err, size_t errlen);
void inputs_free(run_inputs *in);

/* One seed's training and held-out sets (newly allocated; dataset_free
 * them): --data and --test-data as read, or --data split into n_test
 * held-out rows drawn with r and the rest. */
ld_status inputs_split(const run_inputs *in, rng *r, dataset *train, dataset *test, char *err,
                       size_t errlen);

/* A copy of src in dst (allocated). */
ld_status dataset_clone(dataset *dst, const dataset *src, char *err, size_t errlen);

#endif /* LORA_DEMO_DATAIO_H */
