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

#include "core/model.h"
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

/* ------------------------------------------------------------------------ */
/* a network's base: layers.<i>.weight (O_i, I_i) and layers.<i>.bias (O_i) */

/* The tensors of a network's base, in layer order, and its widths:
 * width[0] = I_0, width[i + 1] = O_i. */
typedef struct {
    int n; /* layers */
    const st_tensor *w[MODEL_MAX_LAYERS], *b[MODEL_MAX_LAYERS];
    long long width[MODEL_MAX_LAYERS + 1];
} net_layout;

/* 1 if some tensor of f is named "layers.<anything>": f is a network's base. */
static int is_network(const st_file *f)
{
    for (size_t t = 0; t < f->n_tensors; t++)
        if (strncmp(f->tensors[t].name, "layers.", 7) == 0)
            return 1;
    return 0;
}

/* i for "layers.<i>.weight" (*bias 0) or "layers.<i>.bias" (*bias 1), i in
 * decimal without leading zeros, at most MODEL_MAX_LAYERS (a larger i gives
 * MODEL_MAX_LAYERS); -1 for any other name. */
static int layer_index(const char *name, int *bias)
{
    if (strncmp(name, "layers.", 7) != 0)
        return -1;
    const char *p = name + 7;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    int i = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        i = i >= MODEL_MAX_LAYERS ? MODEL_MAX_LAYERS : i * 10 + (*p - '0');
    if (strcmp(p, ".weight") == 0)
        *bias = 0;
    else if (strcmp(p, ".bias") == 0)
        *bias = 1;
    else
        return -1;
    return i > MODEL_MAX_LAYERS ? MODEL_MAX_LAYERS : i;
}

/* n widths into buf, joined by sep: "8,6" or "10 -> 8 -> 6 -> 5". */
static const char *widths(char *buf, size_t len, const long long *w, int n, const char *sep)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        const int k = snprintf(buf + used, len - used, "%s%lld", i > 0 ? sep : "", w[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    return buf;
}

/* The layers of f, every tensor named and the shapes chained. */
static ld_status net_layout_of(const st_file *f, const char *path, net_layout *lay, char *err,
                               size_t errlen)
{
    memset(lay, 0, sizeof *lay);
    for (size_t t = 0; t < f->n_tensors; t++) {
        const st_tensor *x = &f->tensors[t];
        int bias = 0;
        const int i = layer_index(x->name, &bias);
        if (i < 0)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: tensor \"%.64s\" is not part of a network's base (only "
                           "layers.<i>.weight and layers.<i>.bias)",
                           path, x->name);
        if (i >= MODEL_MAX_LAYERS)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: tensor \"%.64s\": a network has at most %d layers (layers.0 to "
                           "layers.%d)",
                           path, x->name, MODEL_MAX_LAYERS, MODEL_MAX_LAYERS - 1);
        if (x->dtype != ST_F32)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor \"%s\" has dtype %s, expected F32",
                           path, x->name, st_dtype_name(x->dtype));
        if (bias)
            lay->b[i] = x;
        else
            lay->w[i] = x;
        lay->n = i + 1 > lay->n ? i + 1 : lay->n;
    }
    for (int i = 0; i < lay->n; i++) {
        const st_tensor *w = lay->w[i];
        if (w == NULL || lay->b[i] == NULL)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: no tensor \"layers.%d.%s\" (the file has layers up to layers.%d)",
                           path, i, w == NULL ? "weight" : "bias", lay->n - 1);
        if (w->ndim != 2 || w->shape[0] < 1 || w->shape[1] < 1 || w->shape[0] > INT_MAX ||
            w->shape[1] > INT_MAX)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: tensor \"layers.%d.weight\" is not (out, in) with 1 to %d of each",
                           path, i, INT_MAX);
        if (i > 0 && w->shape[1] != lay->width[i])
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: layers.%d.weight is (%lld, %lld) but layers.%d.weight's %lld "
                           "outputs need (%lld, %lld)",
                           path, i, w->shape[0], w->shape[1], i - 1, lay->width[i], w->shape[0],
                           lay->width[i]);
        if (i == 0)
            lay->width[0] = w->shape[1];
        lay->width[i + 1] = w->shape[0];
    }
    return LD_OK;
}

/* The layout against the run: files->hidden (the same number of layers and
 * widths), and the data's (or fixed) in and out. */
static ld_status net_layout_check(const net_layout *lay, const input_files *files,
                                  const run_inputs *inputs, char *err, size_t errlen)
{
    const char *path = files->base_weights;
    const int n = lay->n, last = n - 1;
    char have[160], want[160];
    long long hid[MODEL_MAX_LAYERS];
    widths(have, sizeof have, lay->width, n + 1, " -> ");
    if (files->n_hidden == 0 && n == 1)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: a network's base of one layer (layers.0, %s); a network has 2 or more, "
                       "and one layer's base is layer.weight and layer.bias",
                       path, have);
    if (files->n_hidden == 0)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: a network's base (%s), but no --hidden: give --hidden %s to use it", path,
                       have, widths(want, sizeof want, lay->width + 1, n - 1, ","));
    for (int i = 0; i < files->n_hidden; i++)
        hid[i] = files->hidden[i];
    widths(want, sizeof want, hid, files->n_hidden, ",");
    if (n != files->n_hidden + 1)
        return ld_fail(err, errlen, LD_EINPUT, "%s: %d layers (%s), but --hidden %s needs %d", path,
                       n, have, want, files->n_hidden + 1);
    for (int i = 0; i < n; i++) {
        const long long O = lay->width[i + 1], I = lay->width[i];
        const long long wo = i == last ? O : hid[i], wi = i == 0 ? I : hid[i - 1];
        if (O != wo || I != wi)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: layers.%d.weight is (%lld, %lld) but --hidden %s needs (%lld, %lld)",
                           path, i, O, I, want, wo, wi);
    }
    /* the first layer's in and the last one's out: the data's, or --in and --out */
    const int data = inputs->has_data;
    const long long I = lay->width[0], O = lay->width[n], O0 = lay->width[1], Il = lay->width[last];
    const int in = data ? inputs->all.in : files->in, out = data ? inputs->all.out : files->out;
    if ((data || files->in_fixed) && I != in)
        return data ? ld_fail(err, errlen, LD_EINPUT,
                              "%s: layers.0.weight is (%lld, %lld) but the %d inputs of %s need "
                              "(%lld, %d)",
                              path, O0, I, in, files->data, O0, in)
                    : ld_fail(err, errlen, LD_EINPUT,
                              "%s: layers.0.weight is (%lld, %lld) but --in %d needs (%lld, %d)",
                              path, O0, I, in, O0, in);
    if ((data || files->out_fixed) && O != out)
        return data ? ld_fail(err, errlen, LD_EINPUT,
                              "%s: layers.%d.weight is (%lld, %lld) but the %d outputs of %s need "
                              "(%d, %lld)",
                              path, last, O, Il, out, files->data, out, Il)
                    : ld_fail(err, errlen, LD_EINPUT,
                              "%s: layers.%d.weight is (%lld, %lld) but --out %d needs (%d, %lld)",
                              path, last, O, Il, out, out, Il);
    return LD_OK;
}

/* A network's base from f into inputs, as finetune_net.c lays it out (every
 * weight, then every bias); shape gets (O of the last layer, I of the first). */
static ld_status read_net_base(const st_file *f, const input_files *files, run_inputs *inputs,
                               long long shape[2], char *err, size_t errlen)
{
    const char *path = files->base_weights;
    net_layout lay;
    ld_status st = net_layout_of(f, path, &lay, err, errlen);
    if (st == LD_OK)
        st = net_layout_check(&lay, files, inputs, err, errlen);
    if (st != LD_OK)
        return st;
    size_t nw = 0, nb = 0;
    for (int i = 0; i < lay.n; i++) { /* the tensors are in the file: no overflow */
        nw += (size_t)lay.width[i + 1] * (size_t)lay.width[i];
        nb += (size_t)lay.width[i + 1];
    }
    /* lay.n >= 1 and every width >= 1, so nw, nb >= 1 (said again for the
     * analyzer, which cannot see it) */
    inputs->base_w = malloc((nw > 0 ? nw : 1) * sizeof(float));
    inputs->base_b = malloc((nb > 0 ? nb : 1) * sizeof(float));
    if (inputs->base_w == NULL || inputs->base_b == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory for the base", path);
    float *w = inputs->base_w, *b = inputs->base_b;
    for (int i = 0; i < lay.n && st == LD_OK; i++) {
        const long long wshape[2] = {lay.width[i + 1], lay.width[i]}, bshape[1] = {wshape[0]};
        const size_t nwi = (size_t)wshape[0] * (size_t)wshape[1], nbi = (size_t)bshape[0];
        float *x = NULL, *y = NULL;
        st = st_get_f32(f, lay.w[i]->name, 2, wshape, &x, err, errlen);
        if (st == LD_OK)
            st = st_get_f32(f, lay.b[i]->name, 1, bshape, &y, err, errlen);
        if (st == LD_OK)
            st = check_finite(path, lay.w[i]->name, x, nwi, err, errlen);
        if (st == LD_OK)
            st = check_finite(path, lay.b[i]->name, y, nbi, err, errlen);
        if (st == LD_OK) {
            memcpy(w, x, nwi * sizeof(float));
            memcpy(b, y, nbi * sizeof(float));
            w += nwi;
            b += nbi;
        }
        free(x);
        free(y);
    }
    shape[0] = lay.width[lay.n];
    shape[1] = lay.width[0];
    return st;
}

/* A base for --hidden that is not a network's: say what the run needs. */
static ld_status not_a_network(const st_file *f, const input_files *files, char *err,
                               size_t errlen)
{
    char want[160];
    long long hid[MODEL_MAX_LAYERS];
    for (int i = 0; i < files->n_hidden; i++)
        hid[i] = files->hidden[i];
    widths(want, sizeof want, hid, files->n_hidden, ",");
    const char *one = st_find(f, "layer.weight") != NULL ? "layer.weight"
                      : st_find(f, "weight") != NULL     ? "weight"
                                                         : NULL;
    if (one != NULL)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: one layer's base (\"%s\"), but --hidden %s needs a network's: "
                       "layers.0.weight to layers.%d.weight",
                       files->base_weights, one, want, files->n_hidden);
    return ld_fail(err, errlen, LD_EINPUT,
                   "%s: no tensor \"layers.0.weight\" (--hidden %s needs layers.0 to layers.%d)",
                   files->base_weights, want, files->n_hidden);
}

/* W0 (O,I) and b0 (O) from f into inputs, or a network's every layer;
 * shape gets (O,I). */
static ld_status read_base(const st_file *f, const input_files *files, run_inputs *inputs,
                           long long shape[2], char *err, size_t errlen)
{
    if (is_network(f))
        return read_net_base(f, files, inputs, shape, err, errlen);
    if (files->n_hidden > 0)
        return not_a_network(f, files, err, errlen);
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
