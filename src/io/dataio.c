/* dataio.c - read and check --data, --test-data and --base-weights before
 * anything is trained (see dataio.h).
 *
 * Dimension key: N samples, I in, O out.
 */
#include "io/dataio.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

void inputs_free(run_inputs *in)
{
    dataset_free(&in->all);
    dataset_free(&in->test);
    free(in->base_w);
    free(in->base_b);
    memset(in, 0, sizeof *in);
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
    csv_table t;
    float *x = NULL, *y = NULL;
    int n = 0, in = 0, out = 0;
    memset(d, 0, sizeof *d);
    ld_status st = csv_read_table(path, &t, err, errlen);
    if (st != LD_OK)
        return st;
    if (like != NULL && t.names == NULL) {
        if (t.cols != (size_t)like->in + (size_t)like->out) {
            st = ld_fail(err, errlen, LD_EINPUT, "%s: %zu columns, but %s has %d inputs + %d outputs",
                         path, t.cols, like_path, like->in, like->out);
            csv_table_free(&t);
            return st;
        }
        in_hint = like->in;
        out_hint = like->out;
    }
    st = csv_table_split_xy(&t, in_hint, out_hint, &x, &y, &n, &in, &out, path, err, errlen);
    csv_table_free(&t);
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

/* --data and --test-data: fill in and set cfg's sizes. */
static ld_status load_data(config *cfg, run_inputs *in, char *err, size_t errlen)
{
    const unsigned g = cfg->given;
    ld_status st = read_csv(cfg->data, (g & CONFIG_GIVEN_IN) ? cfg->in : 0,
                            (g & CONFIG_GIVEN_OUT) ? cfg->out : 0, NULL, NULL, &in->all, err, errlen);
    if (st != LD_OK)
        return st;
    in->has_data = 1;
    const int rows = in->all.n;
    int n_train, n_test;
    if (cfg->test_data != NULL) {
        st = read_csv(cfg->test_data, 0, 0, &in->all, cfg->data, &in->test, err, errlen);
        if (st != LD_OK)
            return st;
        in->has_test = 1;
        n_train = rows;
        n_test = in->test.n;
        if ((g & CONFIG_GIVEN_TEST_SAMPLES) && cfg->test_samples != n_test)
            return ld_fail(err, errlen, LD_EINPUT, "--test-samples: %d, but %s has %d rows",
                           cfg->test_samples, cfg->test_data, n_test);
        if ((g & CONFIG_GIVEN_SAMPLES) && cfg->samples != n_train)
            return ld_fail(err, errlen, LD_EINPUT, "--samples: %d, but %s has %d rows", cfg->samples,
                           cfg->data, n_train);
    } else {
        if (rows < 2)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: 1 data row; holding some out needs at least 2 (or give --test-data)",
                           cfg->data);
        if (g & CONFIG_GIVEN_TEST_SAMPLES) {
            n_test = cfg->test_samples;
            if (n_test >= rows)
                return ld_fail(err, errlen, LD_EINPUT,
                               "--test-samples: %d leaves no training rows of the %d in %s", n_test,
                               rows, cfg->data);
        } else {
            n_test = (int)floor(DATAIO_HOLDOUT_FRACTION * (double)rows);
            if (n_test < 1)
                n_test = 1;
        }
        n_train = rows - n_test;
        in->n_test = n_test;
        if ((g & CONFIG_GIVEN_SAMPLES) && cfg->samples != n_train)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--samples: %d, but %s has %d training rows (%d rows, %d held out)",
                           cfg->samples, cfg->data, n_train, rows, n_test);
    }
    cfg->in = in->all.in;
    cfg->out = in->all.out;
    cfg->samples = n_train;
    cfg->test_samples = n_test;
    return LD_OK;
}

/* ------------------------------------------------------------------------ */
/* --base-weights */

static ld_status check_finite(const char *path, const char *name, const float *x, size_t n,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor \"%s\" element %zu is not finite (%g)",
                           path, name, i, (double)x[i]);
    return LD_OK;
}

/* Read W0 and b0. Sizes already known (from --data or the command line)
 * are checks; the others come from the weight's shape. */
static ld_status load_base(config *cfg, run_inputs *in, char *err, size_t errlen)
{
    const char *path = cfg->base_weights;
    st_file f;
    ld_status st = st_load(path, &f, err, errlen);
    if (st != LD_OK)
        return st;
    const int layer = st_find(&f, "layer.weight") != NULL || st_find(&f, "layer.bias") != NULL;
    const int plain = st_find(&f, "weight") != NULL || st_find(&f, "bias") != NULL;
    const char *wname = layer ? "layer.weight" : "weight";
    const char *bname = layer ? "layer.bias" : "bias";
    if (layer && plain) {
        st = ld_fail(err, errlen, LD_EINPUT,
                     "%s: has both layer.weight/layer.bias and weight/bias, so which is the base "
                     "is ambiguous",
                     path);
        goto done;
    }
    if (!layer && !plain) {
        st = ld_fail(err, errlen, LD_EINPUT,
                     "%s: no tensor \"layer.weight\" or \"weight\" (the base layer's weight, (out, in))",
                     path);
        goto done;
    }
    const int known_in = in->has_data || (cfg->given & CONFIG_GIVEN_IN);
    const int known_out = in->has_data || (cfg->given & CONFIG_GIVEN_OUT);
    long long wshape[2] = {cfg->out, cfg->in};
    const st_tensor *t = st_find(&f, wname);
    if (t != NULL && t->ndim == 2) {
        if (!known_out)
            wshape[0] = t->shape[0];
        if (!known_in)
            wshape[1] = t->shape[1];
    }
    if (wshape[0] < 1 || wshape[1] < 1 || wshape[0] > INT_MAX || wshape[1] > INT_MAX) {
        st = ld_fail(err, errlen, LD_EINPUT,
                     "%s: tensor \"%s\" has shape [%lld, %lld]; a layer needs 1 to %d inputs and outputs",
                     path, wname, wshape[0], wshape[1], INT_MAX);
        goto done;
    }
    st = st_get_f32(&f, wname, 2, wshape, &in->base_w, err, errlen);
    if (st != LD_OK)
        goto done;
    const long long bshape[1] = {wshape[0]};
    st = st_get_f32(&f, bname, 1, bshape, &in->base_b, err, errlen);
    if (st != LD_OK)
        goto done;
    st = check_finite(path, wname, in->base_w, (size_t)wshape[0] * (size_t)wshape[1], err, errlen);
    if (st == LD_OK)
        st = check_finite(path, bname, in->base_b, (size_t)wshape[0], err, errlen);
    if (st == LD_OK) {
        cfg->out = (int)wshape[0];
        cfg->in = (int)wshape[1];
    }
done:
    st_free(&f);
    return st;
}

ld_status inputs_load(config *cfg, run_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    ld_status st = LD_OK;
    if (cfg->data != NULL)
        st = load_data(cfg, in, err, errlen);
    if (st == LD_OK && cfg->base_weights != NULL)
        st = load_base(cfg, in, err, errlen);
    if (st == LD_OK && (cfg->data != NULL || cfg->base_weights != NULL))
        st = cli_check_sizes(cfg, cfg->data != NULL ? cfg->data : cfg->base_weights, err, errlen);
    if (st != LD_OK)
        inputs_free(in);
    /* A missing or unreadable input file is the user's to fix, like any
     * other bad input: exit 2, not 1. */
    return st == LD_EIO ? LD_EINPUT : st;
}

/* ------------------------------------------------------------------------ */
/* one seed's split */

ld_status inputs_split(const run_inputs *in, rng *r, dataset *train, dataset *test, char *err,
                       size_t errlen)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!in->has_data)
        return ld_fail(err, errlen, LD_EINPUT, "no --data to split");
    ld_status st;
    if (in->has_test) {
        st = dataset_clone(train, &in->all, err, errlen);
        if (st == LD_OK)
            st = dataset_clone(test, &in->test, err, errlen);
        if (st != LD_OK) {
            dataset_free(train);
            dataset_free(test);
        }
        return st;
    }
    const int N = in->all.n, nt = in->n_test;
    const size_t I = (size_t)in->all.in, O = (size_t)in->all.out;
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
            memcpy(d->x + row * I, in->all.x + (size_t)i * I, I * sizeof(float));
            memcpy(d->y + row * O, in->all.y + (size_t)i * O, O * sizeof(float));
        }
    } else {
        dataset_free(train);
        dataset_free(test);
    }
    free(order);
    free(held);
    return st;
}
