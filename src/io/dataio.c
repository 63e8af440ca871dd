/* dataio.c - read and check the data, the held-out data and the base
 * weights before anything is trained (see dataio.h).
 *
 * Dimension key: N samples, I in, O out.
 */
#include "io/dataio.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/csv.h"
#include "io/safetensors.h"

ld_status dataset_clone(dataset *dst, const dataset *src, char *err, size_t errlen)
{
    ld_status st = dataset_alloc(dst, src->n, src->in, src->out, err, errlen);
    if (st != LD_OK)
        return st;
    memcpy(dst->x, src->x, (size_t)src->n * (size_t)src->in * sizeof(float));
    memcpy(dst->y, src->y, (size_t)src->n * (size_t)src->out * sizeof(float));
    return LD_OK;
}

void inputs_free(run_inputs *inputs)
{
    dataset_free(&inputs->all);
    dataset_free(&inputs->test);
    free(inputs->base_w);
    free(inputs->base_b);
    memset(inputs, 0, sizeof *inputs);
}

/* Empty *inputs after a failure. A missing or unreadable input file is the
 * user's to fix, like any other bad input: exit 2, not 1. */
static ld_status load_failed(run_inputs *inputs, ld_status st)
{
    inputs_free(inputs);
    return st == LD_EIO ? LD_EINPUT : st;
}

/* ------------------------------------------------------------------------ */
/* CSV data */

/* Read path into d. in_hint/out_hint as for csv_table_split_xy (0: from the
 * header). If like (the training set) is given, the file must have its
 * numbers of inputs and outputs, and a file without a header is split by
 * them; like_path names it in messages. */
static ld_status read_csv(const char *path, int in_hint, int out_hint, const dataset *like,
                          const char *like_path, dataset *d, char *err, size_t errlen)
{
    csv_table table;
    float *x = NULL, *y = NULL;
    int n = 0, in = 0, out = 0;
    memset(d, 0, sizeof *d);
    ld_status st = csv_read_table(path, &table, err, errlen);
    if (st != LD_OK)
        return st;
    if (like != NULL && table.names == NULL) {
        if (table.cols != (size_t)like->in + (size_t)like->out) {
            st = ld_fail(err, errlen, LD_EINPUT, "%s: %zu columns, but %s has %d inputs + %d outputs",
                         path, table.cols, like_path, like->in, like->out);
            csv_table_free(&table);
            return st;
        }
        in_hint = like->in;
        out_hint = like->out;
    }
    st = csv_table_split_xy(&table, in_hint, out_hint, &x, &y, &n, &in, &out, path, err, errlen);
    csv_table_free(&table);
    if (st != LD_OK)
        return st;
    if (like != NULL && (in != like->in || out != like->out)) {
        free(x);
        free(y);
        return ld_fail(err, errlen, LD_EINPUT, "%s: %d inputs and %d outputs, but %s has %d and %d",
                       path, in, out, like_path, like->in, like->out);
    }
    d->n = n;
    d->in = in;
    d->out = out;
    d->x = x;
    d->y = y;
    return LD_OK;
}

/* Rows of `rows` that each seed holds out: hold_out if given, else
 * DATAIO_HOLDOUT_FRACTION of them, at least 1. */
static int held_out_rows(int rows, int hold_out)
{
    if (hold_out > 0)
        return hold_out;
    const int n = (int)floor(DATAIO_HOLDOUT_FRACTION * (double)rows);
    return n < 1 ? 1 : n;
}

ld_status inputs_load_data(const input_files *files, run_inputs *inputs, input_sizes *sizes,
                           char *err, size_t errlen)
{
    memset(inputs, 0, sizeof *inputs);
    memset(sizes, 0, sizeof *sizes);
    if (files->data == NULL)
        return LD_OK;
    ld_status st = read_csv(files->data, files->in_fixed ? files->in : 0,
                            files->out_fixed ? files->out : 0, NULL, NULL, &inputs->all, err, errlen);
    if (st != LD_OK)
        return load_failed(inputs, st);
    inputs->has_data = 1;
    if (files->test_data != NULL) {
        st = read_csv(files->test_data, 0, 0, &inputs->all, files->data, &inputs->test, err, errlen);
        if (st != LD_OK)
            return load_failed(inputs, st);
        inputs->has_test = 1;
    } else {
        inputs->n_test = held_out_rows(inputs->all.n, files->hold_out);
    }
    sizes->source = files->data;
    sizes->in = inputs->all.in;
    sizes->out = inputs->all.out;
    sizes->rows = inputs->all.n;
    sizes->held_out = inputs->has_test ? inputs->test.n : inputs->n_test;
    return LD_OK;
}

/* ------------------------------------------------------------------------ */
/* base weights */

static ld_status check_finite(const char *path, const char *name, const float *x, size_t n,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor \"%s\" element %zu is not finite (%g)",
                           path, name, i, (double)x[i]);
    return LD_OK;
}

/* The names of the base layer's tensors in f: "layer.weight" and
 * "layer.bias", or "weight" and "bias". */
static ld_status base_names(const st_file *f, const char *path, const char **wname,
                            const char **bname, char *err, size_t errlen)
{
    const int layer = st_find(f, "layer.weight") != NULL || st_find(f, "layer.bias") != NULL;
    const int plain = st_find(f, "weight") != NULL || st_find(f, "bias") != NULL;
    *wname = layer ? "layer.weight" : "weight";
    *bname = layer ? "layer.bias" : "bias";
    if (layer && plain)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: has both layer.weight/layer.bias and weight/bias, so which is the base "
                       "is ambiguous",
                       path);
    if (!layer && !plain)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: no tensor \"layer.weight\" or \"weight\" (the base layer's weight, (out, in))",
                       path);
    return LD_OK;
}

/* The shape (O,I) the base weight must have: the data's if data were read,
 * else files' fixed sizes; a size that is neither comes from the weight
 * itself when it is 2-D. */
static void base_shape(const input_files *files, const run_inputs *inputs, const st_tensor *weight,
                       long long shape[2])
{
    shape[0] = inputs->has_data ? inputs->all.out : files->out;
    shape[1] = inputs->has_data ? inputs->all.in : files->in;
    if (inputs->has_data || weight == NULL || weight->ndim != 2)
        return;
    if (!files->out_fixed)
        shape[0] = weight->shape[0];
    if (!files->in_fixed)
        shape[1] = weight->shape[1];
}

/* W0 (O,I) and b0 (O) from f into inputs; shape gets (O,I). */
static ld_status read_base(const st_file *f, const input_files *files, run_inputs *inputs,
                           long long shape[2], char *err, size_t errlen)
{
    const char *path = files->base_weights, *wname, *bname;
    ld_status st = base_names(f, path, &wname, &bname, err, errlen);
    if (st != LD_OK)
        return st;
    base_shape(files, inputs, st_find(f, wname), shape);
    if (shape[0] < 1 || shape[1] < 1 || shape[0] > INT_MAX || shape[1] > INT_MAX)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: tensor \"%s\" has shape [%lld, %lld]; a layer needs 1 to %d inputs and outputs",
                       path, wname, shape[0], shape[1], INT_MAX);
    st = st_get_f32(f, wname, 2, shape, &inputs->base_w, err, errlen);
    if (st != LD_OK)
        return st;
    const long long bshape[1] = {shape[0]};
    st = st_get_f32(f, bname, 1, bshape, &inputs->base_b, err, errlen);
    if (st != LD_OK)
        return st;
    st = check_finite(path, wname, inputs->base_w, (size_t)shape[0] * (size_t)shape[1], err, errlen);
    if (st != LD_OK)
        return st;
    return check_finite(path, bname, inputs->base_b, (size_t)shape[0], err, errlen);
}

ld_status inputs_load_base(const input_files *files, run_inputs *inputs, input_sizes *sizes,
                           char *err, size_t errlen)
{
    if (files->base_weights == NULL)
        return LD_OK;
    st_file f;
    long long shape[2] = {0, 0};
    ld_status st = st_load(files->base_weights, &f, err, errlen);
    if (st == LD_OK)
        st = read_base(&f, files, inputs, shape, err, errlen);
    st_free(&f);
    if (st != LD_OK)
        return load_failed(inputs, st);
    sizes->out = (int)shape[0];
    sizes->in = (int)shape[1];
    if (sizes->source == NULL)
        sizes->source = files->base_weights;
    return LD_OK;
}

/* ------------------------------------------------------------------------ */
/* one seed's split */

ld_status inputs_split(const run_inputs *inputs, rng *r, dataset *train, dataset *test, char *err,
                       size_t errlen)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!inputs->has_data)
        return ld_fail(err, errlen, LD_EINPUT, "no --data to split");
    ld_status st;
    if (inputs->has_test) {
        st = dataset_clone(train, &inputs->all, err, errlen);
        if (st == LD_OK)
            st = dataset_clone(test, &inputs->test, err, errlen);
        if (st != LD_OK) {
            dataset_free(train);
            dataset_free(test);
        }
        return st;
    }
    const int N = inputs->all.n, nt = inputs->n_test;
    const size_t I = (size_t)inputs->all.in, O = (size_t)inputs->all.out;
    if (nt < 1 || nt >= N)
        return ld_fail(err, errlen, LD_EINPUT, "cannot hold out %d of %d rows", nt, N);
    int *order = malloc((size_t)N * sizeof *order);
    unsigned char *held = calloc((size_t)N, 1);
    st = order == NULL || held == NULL
             ? ld_fail(err, errlen, LD_ENOMEM, "out of memory splitting %d rows", N)
             : LD_OK;
    if (st == LD_OK)
        st = dataset_alloc(train, N - nt, (int)I, (int)O, err, errlen);
    if (st == LD_OK)
        st = dataset_alloc(test, nt, (int)I, (int)O, err, errlen);
    if (st == LD_OK) {
        for (int i = 0; i < N; i++)
            order[i] = i;
        rng_shuffle(r, order, N);
        for (int k = 0; k < nt; k++)
            held[order[k]] = 1;
        /* both parts keep the file's row order */
        size_t a = 0, b = 0;
        for (int i = 0; i < N; i++) {
            dataset *d = held[i] ? test : train;
            const size_t row = held[i] ? b++ : a++;
            memcpy(d->x + row * I, inputs->all.x + (size_t)i * I, I * sizeof(float));
            memcpy(d->y + row * O, inputs->all.y + (size_t)i * O, O * sizeof(float));
        }
    } else {
        dataset_free(train);
        dataset_free(test);
    }
    free(order);
    free(held);
    return st;
}
