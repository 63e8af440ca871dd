/* test_net_fast.c - the LoRA network step (src/train/net_fast.c) against the
 * plain step (src/train/plain.c), which tests/test_network.c and the PyTorch
 * fixtures (tests/test_parity.c) hold to PyTorch.
 *
 * Dimension key: N samples, I in, H hidden widths, O out, R rank.
 *
 * net_fast.c does every float operation the plain step does, in the same
 * order, so the two must agree bit for bit: every epoch's loss, the step-0
 * gradient of every parameter and the final parameters, on 1 to 3 threads,
 * with full and mini-batches (shuffled), for each activation, with widths
 * that are not multiples of the vector width, batches that are not whole
 * blocks of rows, two and three layers, a base with and without biases, an
 * rsLoRA scale and a LoRA+ ratio. And it is taken only where it applies:
 * dropout, DoRA, dense and scratch LoRA networks stay on the plain step.
 */
#include <stdlib.h>
#include <string.h>

#include "core/activation.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "test.h"
#include "train/train.h"

typedef struct {
    const char *name;
    double loraplus;  /* 1: off */
    int n, in, out, rank, n_hidden, hidden[2];
    activation_kind act;
    int batch;        /* 0: full batch */
    int base_bias;    /* 0: a base without biases */
    float scale;      /* alpha / r, or rsLoRA's alpha / sqrt(r) */
    int epochs;
} net_case;

/* Losses, step-0 gradients and final parameters of one run. */
typedef struct {
    float *losses, *grad0, *params;
    size_t np;
    train_method method;
} net_run;

static void net_run_free(net_run *r)
{
    free(r->losses);
    free(r->grad0);
    free(r->params);
}

static model_spec case_spec(const net_case *c)
{
    model_spec s = model_spec_lora(c->in, c->out, c->rank, 2.0, c->scale, 1);
    s.loraplus_ratio = c->loraplus;
    return model_spec_network(s, c->n_hidden, c->hidden, c->act);
}

/* The network of case c with a random base, A from PEFT's init and B
 * nonzero (so that every gradient is), and data (x, y), from seed 7. */
static int make_case(model *m, float **x, float **y, const net_case *c)
{
    const model_spec spec = case_spec(c);
    rng r;
    rng_seed(&r, 7, 0);
    size_t nw = 0, nb = 0;
    for (int l = 0; l < model_spec_layers(&spec); l++) {
        nw += (size_t)model_spec_layer_out(&spec, l) * (size_t)model_spec_layer_in(&spec, l);
        nb += (size_t)model_spec_layer_out(&spec, l);
    }
    /* + 1: never a zero-size malloc (a spec has at least one layer) */
    float *w0 = malloc((nw + 1) * sizeof(float)), *b0 = malloc((nb + 1) * sizeof(float));
    *x = malloc((size_t)c->n * c->in * sizeof(float));
    *y = malloc((size_t)c->n * c->out * sizeof(float));
    for (size_t i = 0; i < nw; i++)
        w0[i] = rng_uniform_range(&r, -0.5f, 0.5f);
    for (size_t i = 0; i < nb; i++)
        b0[i] = rng_uniform_range(&r, -0.5f, 0.5f);
    for (size_t i = 0; i < (size_t)c->n * c->in; i++)
        (*x)[i] = rng_uniform_range(&r, -1.0f, 1.0f);
    for (size_t i = 0; i < (size_t)c->n * c->out; i++)
        (*y)[i] = rng_uniform_range(&r, -1.0f, 1.0f);
    char err[128];
    const int ok = model_init(m, &spec, w0, c->base_bias ? b0 : NULL, err, sizeof err) == LD_OK;
    CHECK(ok, "%s: model_init: %s", c->name, err);
    for (int l = 0; ok && l < m->n_layers; l++) {
        layer *L = &m->layers[l];
        for (size_t i = 0; i < (size_t)L->rank * L->in; i++)
            L->A[i] = rng_uniform_range(&r, -0.5f, 0.5f);
        for (size_t i = 0; i < (size_t)L->out * L->rank; i++)
            L->B[i] = rng_uniform_range(&r, -0.5f, 0.5f);
    }
    free(w0);
    free(b0);
    return ok;
}

static net_run train_case(const net_case *c, int threads, int fast_paths)
{
    net_run out = {NULL, NULL, NULL, 0, TRAIN_PLAIN};
    model m;
    float *x = NULL, *y = NULL;
    if (!make_case(&m, &x, &y, c)) {
        free(x);
        free(y);
        return out;
    }
    out.np = m.n_params;
    out.losses = malloc((size_t)c->epochs * sizeof(float));
    out.grad0 = malloc(m.n_params * sizeof(float));
    out.params = malloc(m.n_params * sizeof(float));
    trainer t;
    trainer_options opt = trainer_defaults();
    opt.threads = threads;
    opt.fast_paths = fast_paths;
    char err[128];
    int *order = malloc((size_t)c->n * sizeof(int));
    for (int i = 0; i < c->n; i++)
        order[i] = i;
    rng shuf;
    rng_seed(&shuf, 7, 1);
    if (trainer_init(&t, &m, x, y, c->n, c->batch, &opt, err, sizeof err) == LD_OK) {
        out.method = t.method;
        for (int e = 0; e < c->epochs; e++) {
            rng_shuffle(&shuf, order, c->n);
            out.losses[e] = trainer_epoch(&t, &m, c->batch > 0 ? order : NULL, adam_defaults(0.01));
            if (e == 0)
                memcpy(out.grad0, m.grads, m.n_params * sizeof(float));
        }
        memcpy(out.params, m.params, m.n_params * sizeof(float));
        trainer_free(&t);
    } else {
        CHECK(0, "%s: trainer_init: %s", c->name, err);
        memset(out.params, 0, m.n_params * sizeof(float));
    }
    free(order);
    free(x);
    free(y);
    model_free(&m);
    return out;
}

static void test_same_as_plain(void)
{
    const float rs = 2.0f / 1.7320508f; /* rsLoRA: alpha / sqrt(3) */
    const net_case cases[] = {
        /* the bench row's shape, scaled down: one hidden layer, relu */
        {"relu 32->32->32", 1.0, 160, 32, 32, 4, 1, {32, 0}, ACT_RELU, 0, 1, 0.5f, 3},
        /* tails: widths not a multiple of 8, N not a whole row block */
        {"tanh 7->9->4->3", 1.0, 37, 7, 3, 2, 2, {9, 4}, ACT_TANH, 0, 1, 1.5f, 3},
        {"gelu 10->16->5", 1.0, 300, 10, 5, 2, 1, {16, 0}, ACT_GELU, 0, 1, 1.0f, 3},
        /* mini-batches, shuffled, the last one short */
        {"relu 7->9->4->3 batches", 1.0, 37, 7, 3, 2, 2, {9, 4}, ACT_RELU, 10, 1, 1.5f, 4},
        {"tanh 20->33->17 batches", 1.0, 300, 20, 17, 3, 1, {33, 0}, ACT_TANH, 128, 1, 0.7f, 3},
        /* a base without biases; rsLoRA; LoRA+ */
        {"relu no base bias", 1.0, 130, 12, 6, 3, 2, {11, 9}, ACT_RELU, 0, 0, 1.0f, 3},
        {"gelu rslora", 1.0, 50, 9, 4, 3, 1, {12, 0}, ACT_GELU, 0, 1, rs, 3},
        {"relu loraplus", 16.0, 50, 9, 4, 3, 2, {12, 8}, ACT_RELU, 16, 1, 1.0f, 3},
        /* wide enough that the frozen products take the packed GEMM, split
         * by the pool's measured speeds on 2 and 3 threads */
        {"relu 40->96->70 packed", 1.0, 300, 40, 70, 4, 1, {96, 0}, ACT_RELU, 0, 1, 0.5f, 2},
        /* hidden layers one unit wide */
        {"tanh 5->1->1->3", 1.0, 50, 5, 3, 1, 2, {1, 1}, ACT_TANH, 0, 1, 1.0f, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const net_case *c = &cases[i];
        net_run pl = train_case(c, 1, 0);
        for (int threads = 1; threads <= 3; threads++) {
            net_run fa = train_case(c, threads, 1);
            CHECK(fa.method == TRAIN_NET_LORA && pl.method == TRAIN_PLAIN,
                  "%s: methods %d and %d, expected the network step and the plain one", c->name,
                  fa.method, pl.method);
            if (fa.params != NULL && pl.params != NULL) {
                CHECK(same_bits(fa.losses, pl.losses, (size_t)c->epochs),
                      "%s, %d thread(s): losses differ at epoch %zu", c->name, threads,
                      first_diff(fa.losses, pl.losses, (size_t)c->epochs));
                CHECK(same_bits(fa.grad0, pl.grad0, pl.np),
                      "%s, %d thread(s): step-0 gradients differ at [%zu]", c->name, threads,
                      first_diff(fa.grad0, pl.grad0, pl.np));
                CHECK(same_bits(fa.params, pl.params, pl.np),
                      "%s, %d thread(s): final parameters differ at [%zu]", c->name, threads,
                      first_diff(fa.params, pl.params, pl.np));
            }
            net_run_free(&fa);
        }
        net_run_free(&pl);
    }
}

/* The network step is chosen for LoRA networks on frozen bases only, and
 * the size table gives it the first layer's cached base. */
static void test_choice(void)
{
    const int hidden[1] = {6};
    trainer_sizes sz;
    model_spec s = model_spec_network(model_spec_lora(5, 3, 2, 2.0, 1.0f, 1), 1, hidden, ACT_TANH);
    CHECK(trainer_sizes_for(&sz, &s, 40, 0, NULL) == 0 && sz.method == TRAIN_NET_LORA &&
              sz.floats[TBUF_BASE_ALL] == (size_t)40 * 6 && sz.floats[TBUF_BASE_ROWS] == 0,
          "a LoRA network on a frozen base: the network step, layer 0's base cached");
    CHECK(trainer_sizes_for(&sz, &s, 40, 8, NULL) == 0 && sz.method == TRAIN_NET_LORA &&
              sz.floats[TBUF_BASE_ROWS] == (size_t)8 * 6,
          "with mini-batches, the cached base's rows are gathered");
    model_spec v = s;
    v.dropout = 0.1;
    CHECK(trainer_sizes_for(&sz, &v, 40, 0, NULL) == 0 && sz.method == TRAIN_PLAIN &&
              sz.floats[TBUF_BASE_ALL] == 0,
          "LoRA dropout on a network: the plain step");
    v = s;
    v.dora = 1;
    CHECK(trainer_sizes_for(&sz, &v, 40, 0, NULL) == 0 && sz.method == TRAIN_PLAIN,
          "DoRA on a network: the plain step");
    v = model_spec_network(model_spec_lora(5, 3, 2, 2.0, 1.0f, 0), 1, hidden, ACT_TANH);
    CHECK(trainer_sizes_for(&sz, &v, 40, 0, NULL) == 0 && sz.method == TRAIN_PLAIN,
          "a scratch LoRA network (no base): the plain step");
    v = model_spec_network(model_spec_dense(5, 3), 1, hidden, ACT_TANH);
    CHECK(trainer_sizes_for(&sz, &v, 40, 0, NULL) == 0 && sz.method == TRAIN_PLAIN,
          "a dense network: the plain step");
}

void test_net_fast(void)
{
    test_choice();
    test_same_as_plain();
}
