/* dataio.h - the run's input files, read and checked before anything is
 * trained: the training data and the held-out data (CSV, csv.h) and the
 * base weights (safetensors, safetensors.h).
 *
 * Dimension key: N samples, I in, O out.
 *
 * This module says what the files hold (input_sizes) and knows nothing of the
 * command line or the config: config.c checks the sizes against the options
 * and merges them into the config. main.c takes the steps in this order:
 *
 *     inputs_load_data     the data and the held-out data
 *     config_merge_counts  the numbers of rows, against the options
 *     inputs_load_base     the base weights, whose shape the data fix
 *     config_merge_sizes   in and out, and the ranks against them
 *
 * Every problem, a file that cannot be read included, is LD_EINPUT with a
 * one-line message that starts with the file name.
 *
 * Held-out rows. Without test_data, each seed holds out its own
 * input_files.hold_out rows of the data, by default DATAIO_HOLDOUT_FRACTION
 * of them (rounded down, at least 1): inputs_split shuffles the row numbers
 * with the generator it is given (experiment.c seeds it with stream
 * STREAM_HOLDOUT), takes the first n_test of them as the held-out set, and
 * keeps both parts in file order.
 *
 * Base weights: an F32 tensor "layer.weight" (O,I) and "layer.bias" (O), as
 * base.safetensors is written, or else "weight" and "bias", as in
 * weights/dense.*.safetensors. A file with both pairs is refused as
 * ambiguous; both tensors must be present and every value finite.
 *
 * A network's base (any tensor named "layers.*"): "layers.<i>.weight"
 * (O_i,I_i) and "layers.<i>.bias" (O_i) for every i in 0..L-1 and nothing
 * else, 2 <= L <= MODEL_MAX_LAYERS, the shapes chained (I_{i+1} = O_i). It
 * is read only for a run whose hidden widths (input_files.hidden) are the
 * file's, L - 1 of them: the widths never come from the file, and a
 * network's base without them, or a one-layer base with them, is refused.
 * The first layer's I and the last one's O are the run's in and out, as
 * the one layer's are. base_w then holds every layer's weight one after
 * another and base_b every bias, as finetune_net.c lays out a base.
 */
#ifndef LORA_DEMO_DATAIO_H
#define LORA_DEMO_DATAIO_H

#include "core/data.h"
#include "core/rng.h"
#include "status.h"

/* The part of the data held out when there is no test_data. */
#define DATAIO_HOLDOUT_FRACTION 0.2

/* What to read, and what is known of the sizes before reading it. */
typedef struct input_files {
    const char *data;         /* CSV of training rows, or NULL */
    const char *test_data;    /* CSV of held-out rows, or NULL (needs data) */
    const char *base_weights; /* safetensors with the base layer's W0 and b0, or NULL */
    int in, out;              /* the sizes so far (>= 1) */
    int in_fixed, out_fixed;  /* 1: a file must agree with in (out); 0: the files say */
    int n_hidden;             /* the run's hidden widths (--hidden), which a network's */
    const int *hidden;        /* base must have; 0: one layer */
    int hold_out;             /* rows of data to hold out without test_data; 0: the default */
} input_files;

/* What the files say. */
typedef struct input_sizes {
    const char *source; /* the file in and out come from: data, else base_weights; NULL: neither */
    int in, out;        /* columns of data, else the base weight's shape (out, in) */
    int rows;           /* rows of data */
    int held_out;       /* rows of test_data, or of data that each seed holds out */
} input_sizes;

typedef struct {
    int has_data;  /* data was read */
    dataset all;   /* (N) every row of data */
    int has_test;  /* test_data was read */
    dataset test;  /* every row of test_data */
    int n_test;    /* without test_data: rows of data each seed holds out */
    float *base_w; /* (O,I) the base weights, or NULL; a network's: every (O_l,I_l) in turn */
    float *base_b; /* (O); a network's: every (O_l) in turn */
} run_inputs;

/* Read files->data and files->test_data (if given) into *inputs, which it
 * first empties, and say what they hold in *sizes. in and out split a data
 * file without a header; fixed, they are checks on a header. On failure
 * *inputs is empty. */
ld_status inputs_load_data(const input_files *files, run_inputs *inputs, input_sizes *sizes,
                           char *err, size_t errlen);

/* Read files->base_weights (if given) into *inputs and set sizes->in and
 * ->out to the weight's shape (a network's: the first layer's in, the last
 * one's out). The shape must agree with the data already read, or else with
 * files->in and ->out where they are fixed, and a network's with
 * files->hidden. On failure *inputs is empty. */
ld_status inputs_load_base(const input_files *files, run_inputs *inputs, input_sizes *sizes,
                           char *err, size_t errlen);

void inputs_free(run_inputs *inputs);

/* One seed's training and held-out sets (newly allocated; dataset_free
 * them): data and test_data as read, or data split into n_test held-out
 * rows drawn with r and the rest. */
ld_status inputs_split(const run_inputs *inputs, rng *r, dataset *train, dataset *test, char *err,
                       size_t errlen);

/* A copy of src in dst (allocated). */
ld_status dataset_clone(dataset *dst, const dataset *src, char *err, size_t errlen);

#endif /* LORA_DEMO_DATAIO_H */
