/* test_network.c - networks: activations, the size table, gradients through
 * every layer, merge, the trainer's choice of step, LoRA+ on every
 * layer, and dropout and DoRA gradients through every layer.
 *
 * Dimension key: N samples, I in, H hidden widths, O out, R rank.
 *
 * Gradients are checked against central differences of the loss in float
 * forward passes, with step h = 1e-3: truncation (h^2 f''' / 6, about 1e-6
 * here) and rounding (about 1e-7 / 2h = 5e-5) both stay inside atol 3e-4.
 * A missing activation derivative, a gradient not carried to the layer
 * below, or a transposed product is an error of order 0.1 or more.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/activation.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "experiment/experiment.h"
#include "test.h"
#include "train/train.h"

enum { N = 6, I = 7, O = 4 };
static const int hidden[2] = {5, 3}; /* 7 -> 5 -> 3 -> 4 */

static ld_status make_network(model *m, layer_kind kind, int rank, int has_base,
                              activation_kind act, const float *w0, const float *b0, char *err,
                              size_t errlen)
{
    model_spec spec = kind == LAYER_DENSE ? model_spec_dense(I, O)
                                          : model_spec_lora(I, O, rank, 3.0, 1.5f, has_base);
    spec = model_spec_network(spec, 2, hidden, act);
    return model_init(m, &spec, w0, b0, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* activations */

static void test_activations(void)
{
    float z[41], a[41], ap[41], am[41], zp[41], zm[41], ones[41], dz[41], fd[41];
    for (int i = 0; i < 41; i++) {
        z[i] = -3.0f + 0.15f * (float)i + 0.01f; /* no element at the relu kink */
        zp[i] = z[i] + 1e-3f;
        zm[i] = z[i] - 1e-3f;
        ones[i] = 1.0f;
    }
    for (int k = 0; k < 3; k++) {
        const activation_kind act = (activation_kind)k;
        activation_kind back;
        CHECK(activation_parse(activation_name(act), &back) == 0 && back == act,
              "activation %d: name round trip", k);
        activation_forward(act, a, z, 41);
        activation_forward(act, ap, zp, 41);
        activation_forward(act, am, zm, 41);
        for (int i = 0; i < 41; i++)
            fd[i] = (float)(((double)ap[i] - (double)am[i]) / ((double)zp[i] - (double)zm[i]));
        activation_backward(act, dz, ones, z, a, 41);
        char name[64];
        snprintf(name, sizeof name, "%s backward vs differences", activation_name(act));
        check_close(name, dz, fd, 41, 2e-3, 1e-2);
        /* in place, as model_backward calls it */
        memcpy(fd, ones, sizeof ones);
        activation_backward(act, fd, fd, z, a, 41);
        CHECK(same_bits(fd, dz, 41), "%s backward in place", activation_name(act));
    }
    activation_kind k;
    CHECK(activation_parse("sigmoid", &k) == -1, "an unknown activation must be refused");
    /* relu's gradient at exactly 0 is 0, as torch's threshold_backward */
    const float zero = 0.0f, one = 1.0f;
    float r, dr;
    relu_forward(&r, &zero, 1);
    relu_backward(&dr, &one, &r, 1);
    CHECK(r == 0.0f && dr == 0.0f, "relu at 0: %g, %g", (double)r, (double)dr);
}

/* ------------------------------------------------------------------------ */
/* the size table */

static void test_sizes(void)
{
    char err[256];
    /* one layer: acts and scratch are N R, the tensors keep their names */
    model_spec one = model_spec_lora(I, O, 2, 2.0, 1.0f, 0);
    CHECK(model_acts_floats(&one, N) == (size_t)N * 2 && model_scratch_floats(&one, N) == (size_t)N * 2,
          "one layer: acts and scratch must be N R");
    model m;
    CHECK(make_network(&m, LAYER_LORA, 2, 0, ACT_TANH, NULL, NULL, err, sizeof err) == LD_OK,
          "%s", err);
    /* per layer: lora_A (2, in), lora_B (out, 2), bias (out) */
    const size_t want = (size_t)(2 * 7 + 5 * 2 + 5) + (2 * 5 + 3 * 2 + 3) + (2 * 3 + 4 * 2 + 4);
    const model_spec spec = model_spec_of(&m);
    CHECK(m.n_layers == 3 && m.n_params == want && model_spec_params(&spec) == want,
          "LoRA 7->5->3->4 r2: %d layers, %zu params, want %zu", m.n_layers, m.n_params, want);
    CHECK(m.n_tensors == 9 && strcmp(m.tensors[0].name, "layers.0.lora_A.weight") == 0 &&
              strcmp(m.tensors[5].name, "layers.1.bias") == 0 &&
              strcmp(m.tensors[7].name, "layers.2.lora_B.weight") == 0,
          "network tensor names");
    CHECK(spec.n_hidden == 2 && spec.hidden[0] == 5 && spec.hidden[1] == 3 &&
              model_spec_layer_in(&spec, 2) == 3 && model_spec_layer_out(&spec, 2) == 4,
          "model_spec_of must give back the network");
    /* acts: h of each layer (N R), z and a of each hidden layer */
    CHECK(model_acts_floats(&spec, N) == (size_t)N * (3 * 2 + 2 * 5 + 2 * 3) &&
              model_scratch_floats(&spec, N) == (size_t)N * (2 + 2 * 5),
          "network acts and scratch");
    model_free(&m);
    CHECK(make_network(&m, LAYER_DENSE, 0, 0, ACT_RELU, NULL, NULL, err, sizeof err) == LD_OK,
          "%s", err);
    CHECK(m.n_params == (size_t)(7 * 5 + 5 + 5 * 3 + 3 + 3 * 4 + 4) &&
              model_find(&m, "layers.2.bias") != NULL && model_find(&m, "weight") == NULL,
          "dense network: sizes and names");
    model_free(&m);
    /* the trainer never picks a one-layer fast path for a network: a LoRA
     * network on a frozen base takes the network step (tests/test_net_fast.c),
     * with the first layer's base cached, (N, H0) */
    trainer_sizes sz;
    model_spec net = model_spec_network(model_spec_lora(I, O, 2, 2.0, 1.0f, 1), 2, hidden, ACT_TANH);
    CHECK(trainer_sizes_for(&sz, &net, 100, 0, NULL) == 0 && sz.method == TRAIN_NET_LORA &&
              sz.floats[TBUF_BASE_ALL] == (size_t)100 * hidden[0],
          "a LoRA network on a frozen base trains by the network step, its first base cached");
    net = model_spec_network(model_spec_dense(I, O), 2, hidden, ACT_TANH);
    CHECK(trainer_sizes_for(&sz, &net, 100, 0, NULL) == 0 && sz.method == TRAIN_PLAIN,
          "a dense network trains by the plain step");
    /* overflow is refused, not wrapped */
    const int huge[1] = {1 << 30};
    net = model_spec_network(model_spec_dense(1 << 30, 1 << 30), 1, huge, ACT_TANH);
    CHECK(model_acts_floats(&net, (size_t)1 << 40) == SIZE_MAX &&
              model_scratch_floats(&net, (size_t)1 << 40) == SIZE_MAX,
          "acts sizes must overflow to SIZE_MAX");
    CHECK(model_init(&m, &net, NULL, NULL, err, sizeof err) != LD_OK, "a huge network must be refused");
    net.n_hidden = MODEL_MAX_LAYERS;
    CHECK(model_init(&m, &net, NULL, NULL, err, sizeof err) == LD_EINPUT,
          "more than MODEL_MAX_LAYERS layers must be refused");
}

/* ------------------------------------------------------------------------ */
/* gradients */

/* The loss of a training forward: with dropout, the same replayed masks
 * every call (m->dropout_replay from its start); with DoRA, the norms as
 * the caller holds them. vact NULL: no variant activations. */
static double loss_of(model *m, const float *x, const float *y, float *yhat, float *acts,
                      float *vact)
{
    m->dropout_replay_used = 0;
    model_forward_train(m, yhat, acts, vact, x, NULL, N, NULL);
    double sum = 0.0; /* in double: mse_forward's float would round the loss */
    for (int i = 0; i < N * O; i++)
        sum += ((double)yhat[i] - (double)y[i]) * ((double)yhat[i] - (double)y[i]);
    return sum / (double)(N * O);
}

static void check_grads(const char *label, model *m, const float *x, const float *y, float step)
{
    const model_spec spec = model_spec_of(m);
    size_t nv = 0;
    CHECK(model_act_floats(&spec, N, &nv) == 0, "%s: variant activations", label);
    float *acts = malloc(model_acts_floats(&spec, N) * sizeof(float) + 1);
    float *vact = nv > 0 ? malloc(nv * sizeof(float)) : NULL;
    float *scratch = malloc(model_scratch_floats(&spec, N) * sizeof(float) + 1);
    float *fd = malloc(m->n_params * sizeof(float));
    float yhat[N * O], dy[N * O];
    model_zero_grad(m);
    (void)loss_of(m, x, y, yhat, acts, vact);
    mse_backward(dy, yhat, y, (size_t)N * O, (size_t)N * O);
    model_backward(m, dy, scratch, acts, vact, x, N, NULL);
    for (size_t i = 0; i < m->n_params; i++) {
        const float keep = m->params[i];
        m->params[i] = keep + step;
        const double lp = loss_of(m, x, y, yhat, acts, vact);
        m->params[i] = keep - step;
        const double lm = loss_of(m, x, y, yhat, acts, vact);
        m->params[i] = keep;
        fd[i] = (float)((lp - lm) / (2.0 * (double)step));
    }
    char name[128];
    for (int t = 0; t < m->n_tensors; t++) {
        const param_tensor *pt = &m->tensors[t];
        snprintf(name, sizeof name, "%s d%s", label, pt->name);
        check_close(name, m->grads + pt->offset, fd + pt->offset, pt->numel, 3e-4, 1e-2);
    }
    free(fd);
    free(scratch);
    free(vact);
    free(acts);
}

/* Dropout and DoRA on every layer of a 7->5->3->4 network: backward against
 * central differences, with the dropout masks fixed (replayed, the same in
 * every forward) and DoRA's norms held, as backward holds them. A gradient
 * at a layer's input that misses the LoRA branch's path through the mask,
 * or DoRA's mag/n on the base's path, is wrong in every layer below. */
static void test_variant_gradients(void)
{
    rng r;
    rng_seed(&r, 21, 7);
    float x[N * I], y[N * O], w0[5 * 7 + 3 * 5 + 4 * 3], b0[5 + 3 + 4];
    float masks[N * (7 + 5 + 3)]; /* one training forward: N I_l per layer */
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    rng_fill_normal(&r, w0, sizeof w0 / sizeof w0[0]);
    rng_fill_normal(&r, b0, sizeof b0 / sizeof b0[0]);
    for (size_t i = 0; i < sizeof w0 / sizeof w0[0]; i++)
        w0[i] *= 0.4f;
    size_t dropped = 0;
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        masks[i] = rng_uniform(&r) >= 0.3 ? 1.0f : 0.0f;
        dropped += masks[i] == 0.0f;
    }
    CHECK(dropped > 0 && dropped < sizeof masks / sizeof masks[0], "the masks drop some inputs");
    char err[256], label[96];
    /* 0: dropout on base, 1: dropout from scratch (biases), 2: DoRA,
     * 3: DoRA with dropout */
    for (int k = 0; k < 3; k++) {
        const activation_kind act = (activation_kind)k;
        for (int v = 0; v < 4; v++) {
            const int base = v != 1, dora = v >= 2, drop = v != 2;
            model_spec spec = model_spec_network(model_spec_lora(I, O, 2, 3.0, 1.5f, base), 2,
                                                 hidden, act);
            spec.dropout = drop ? 0.3 : 0.0;
            spec.dora = dora;
            model m;
            if (model_init(&m, &spec, base ? w0 : NULL, base ? b0 : NULL, err, sizeof err) !=
                LD_OK) {
                CHECK(0, "variant network: %s", err);
                continue;
            }
            /* smaller than test_gradients' 0.6: the mask's 1/(1 - p) and
             * mag / n enlarge the loss, and its float rounding over 2h */
            for (size_t i = 0; i < m.n_params; i++)
                m.params[i] = 0.4f * (float)rng_normal(&r);
            if (dora) {
                /* the norms of these A and B, then held; mag / n != 1 */
                float yhat[N * O];
                float *acts = malloc(model_acts_floats(&spec, N) * sizeof(float) + 1);
                model_forward(&m, yhat, acts, x, NULL, N, NULL);
                free(acts);
                for (int l = 0; l < m.n_layers; l++) {
                    layer *L = &m.layers[l];
                    L->norm_held = 1;
                    for (int o = 0; o < L->out; o++)
                        L->mag[o] = L->norm[o] * (1.0f + 0.1f * (float)(o + l));
                }
            }
            if (drop) {
                m.dropout_replay = masks;
                m.dropout_replay_n = sizeof masks / sizeof masks[0];
            }
            snprintf(label, sizeof label, "%s %s", activation_name(act),
                     v == 0   ? "dropout on base"
                     : v == 1 ? "dropout scratch"
                     : v == 2 ? "DoRA"
                              : "DoRA with dropout");
            /* h = 3e-3: 1e-2 crosses relu kinks, and at 1e-3 yhat's float
             * rounding over 2h (the loss here is about 5) reaches atol */
            check_grads(label, &m, x, y, 3e-3f);
            CHECK(!drop || m.dropout_replay_used == m.dropout_replay_n,
                  "%s: every layer drew its masks (%zu of %zu)", label, m.dropout_replay_used,
                  m.dropout_replay_n);
            model_free(&m);
        }
    }
}

static void test_gradients(void)
{
    rng r;
    rng_seed(&r, 12, 3);
    float x[N * I], y[N * O];
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    /* a frozen base for every layer, one after another */
    float w0[5 * 7 + 3 * 5 + 4 * 3], b0[5 + 3 + 4];
    rng_fill_normal(&r, w0, sizeof w0 / sizeof w0[0]);
    rng_fill_normal(&r, b0, sizeof b0 / sizeof b0[0]);
    for (size_t i = 0; i < sizeof w0 / sizeof w0[0]; i++)
        w0[i] *= 0.4f; /* keeps the loss near 1, so its rounding stays below atol */
    char err[256], label[64];
    for (int k = 0; k < 3; k++) {
        const activation_kind act = (activation_kind)k;
        for (int variant = 0; variant < 3; variant++) {
            model m;
            const layer_kind kind = variant == 0 ? LAYER_DENSE : LAYER_LORA;
            const int base = variant == 2;
            CHECK(make_network(&m, kind, 2, base, act, base ? w0 : NULL, base ? b0 : NULL, err,
                               sizeof err) == LD_OK,
                  "%s", err);
            for (size_t i = 0; i < m.n_params; i++)
                m.params[i] = 0.6f * (float)rng_normal(&r);
            snprintf(label, sizeof label, "%s %s", activation_name(act),
                     variant == 0 ? "dense" : base ? "lora on base" : "lora scratch");
            check_grads(label, &m, x, y, 1e-3f);
            model_free(&m);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* merge, and a trainer epoch against the step written out */

static void test_merge_and_epoch(void)
{
    rng r;
    rng_seed(&r, 5, 9);
    float x[N * I], y[N * O], w0[5 * 7 + 3 * 5 + 4 * 3], b0[5 + 3 + 4];
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    rng_fill_normal(&r, w0, sizeof w0 / sizeof w0[0]);
    rng_fill_normal(&r, b0, sizeof b0 / sizeof b0[0]);
    char err[256];
    for (int base = 0; base < 2; base++) {
        model m;
        CHECK(make_network(&m, LAYER_LORA, 2, base, ACT_GELU, base ? w0 : NULL, base ? b0 : NULL,
                           err, sizeof err) == LD_OK,
              "%s", err);
        for (size_t i = 0; i < m.n_params; i++)
            m.params[i] = 0.5f * (float)rng_normal(&r);
        const model_spec spec = model_spec_of(&m);
        float *acts = malloc(model_acts_floats(&spec, N) * sizeof(float));
        float yu[N * O], ym[N * O];
        model_forward(&m, yu, acts, x, NULL, N, NULL);
        CHECK(model_merge(&m, err, sizeof err) == LD_OK, "merge: %s", err);
        CHECK(m.layers[1].merged && m.layers[2].merged, "every layer is merged");
        model_forward(&m, ym, acts, x, NULL, N, NULL);
        check_close(base ? "merged network on base" : "merged scratch network", ym, yu, (size_t)N * O,
                    1e-5, 1e-5);
        CHECK(model_merge(&m, err, sizeof err) == LD_ESTATE, "a second merge must be refused");
        CHECK(model_unmerge(&m, err, sizeof err) == LD_OK && !m.layers[2].merged, "unmerge");
        if (base)
            check_close("unmerged W0 of layer 1", m.layers[1].W0, w0 + (size_t)5 * 7, (size_t)3 * 5,
                        1e-5, 0.0);
        /* one trainer epoch (full batch, 2 threads) against the step written
         * out, on a model that was never merged (unmerging rounds W0) */
        model ref;
        CHECK(make_network(&ref, LAYER_LORA, 2, base, ACT_GELU, base ? w0 : NULL,
                           base ? b0 : NULL, err, sizeof err) == LD_OK,
              "%s", err);
        memcpy(ref.params, m.params, m.n_params * sizeof(float));
        model_free(&m);
        CHECK(make_network(&m, LAYER_LORA, 2, base, ACT_GELU, base ? w0 : NULL, base ? b0 : NULL,
                           err, sizeof err) == LD_OK,
              "%s", err);
        memcpy(m.params, ref.params, m.n_params * sizeof(float));
        const trainer_options opt = {2, 1, 0};
        trainer t;
        CHECK(trainer_init(&t, &m, x, y, N, 0, &opt, err, sizeof err) == LD_OK, "%s", err);
        const adam_config adam = adam_defaults(0.01);
        const float loss = trainer_epoch(&t, &m, NULL, adam);
        trainer_free(&t);
        float *scratch = malloc(model_scratch_floats(&spec, N) * sizeof(float));
        float dy[N * O];
        model_forward(&ref, yu, acts, x, NULL, N, NULL);
        const float want = mse_forward(yu, y, (size_t)N * O);
        mse_backward(dy, yu, y, (size_t)N * O, (size_t)N * O);
        model_zero_grad(&ref);
        model_backward(&ref, dy, scratch, acts, NULL, x, N, NULL);
        model_adam_step(&ref, adam);
        CHECK(fabsf(loss - want) <= 1e-6f * fabsf(want), "epoch loss %g, step %g",
              (double)loss, (double)want);
        CHECK(same_bits(m.params, ref.params, m.n_params),
              "a network epoch must be the plain step (first diff at %zu)",
              first_diff(m.params, ref.params, m.n_params));
        free(scratch);
        free(acts);
        model_free(&ref);
        model_free(&m);
    }
}

/* ------------------------------------------------------------------------ */
/* LoRA+ on every layer */

/* One trainer epoch (one full-batch step, 2 threads) of a LoRA network
 * whose parameters start at p0, with LoRA+ ratio `ratio` at learning rate
 * lr; its parameters after the step in out (m->n_params floats). */
static int loraplus_step(float *out, const float *p0, int base, const float *w0, const float *b0,
                         double ratio, double lr, const float *x, const float *y)
{
    char err[256] = "";
    model_spec spec = model_spec_network(model_spec_lora(I, O, 2, 3.0, 1.5f, base), 2, hidden,
                                         ACT_TANH);
    spec.loraplus_ratio = ratio;
    model m;
    trainer t;
    const trainer_options opt = {2, 1, 0};
    int ok = model_init(&m, &spec, base ? w0 : NULL, base ? b0 : NULL, err, sizeof err) == LD_OK;
    CHECK(ok, "LoRA+ network: %s", err);
    if (!ok)
        return 0;
    memcpy(m.params, p0, m.n_params * sizeof(float));
    ok = trainer_init(&t, &m, x, y, N, 0, &opt, err, sizeof err) == LD_OK;
    CHECK(ok, "LoRA+ network: %s", err);
    if (ok) {
        (void)trainer_epoch(&t, &m, NULL, adam_defaults(lr));
        memcpy(out, m.params, m.n_params * sizeof(float));
        trainer_free(&t);
    }
    model_free(&m);
    return ok;
}

/* LoRA+ with --hidden: one step with ratio 16 at lr must move every
 * layer's lora_A as plain LoRA at lr does, and every layer's lora_B (and a
 * scratch network's bias, 1-d: PEFT's group B) as plain LoRA at 16 lr,
 * bit for bit. */
static void test_loraplus_network(void)
{
    rng r;
    rng_seed(&r, 31, 4);
    float x[N * I], y[N * O], w0[5 * 7 + 3 * 5 + 4 * 3], b0[5 + 3 + 4];
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    rng_fill_normal(&r, w0, sizeof w0 / sizeof w0[0]);
    rng_fill_normal(&r, b0, sizeof b0 / sizeof b0[0]);
    const double lr = 0.01, ratio = 16.0;
    char err[256] = "";
    for (int base = 0; base < 2; base++) {
        model m; /* the layout, and the shared start */
        model_spec spec = model_spec_network(model_spec_lora(I, O, 2, 3.0, 1.5f, base), 2, hidden,
                                             ACT_TANH);
        spec.loraplus_ratio = ratio;
        if (model_init(&m, &spec, base ? w0 : NULL, base ? b0 : NULL, err, sizeof err) != LD_OK) {
            CHECK(0, "LoRA+ network: %s", err);
            continue;
        }
        for (size_t i = 0; i < m.n_params; i++)
            m.params[i] = 0.5f * (float)rng_normal(&r); /* B != 0: every tensor has a gradient */
        const size_t n = m.n_params;
        float *plus = malloc((n + 1) * sizeof(float)), *at_lr = malloc((n + 1) * sizeof(float));
        float *at_rlr = malloc((n + 1) * sizeof(float));
        if (plus != NULL && at_lr != NULL && at_rlr != NULL &&
            loraplus_step(plus, m.params, base, w0, b0, ratio, lr, x, y) &&
            loraplus_step(at_lr, m.params, base, w0, b0, 1.0, lr, x, y) &&
            loraplus_step(at_rlr, m.params, base, w0, b0, 1.0, lr * ratio, x, y)) {
            int n_b = 0;
            for (int k = 0; k < m.n_tensors; k++) {
                const param_tensor *p = &m.tensors[k];
                const int group_a = strstr(p->name, "lora_A") != NULL;
                const float *want = group_a ? at_lr : at_rlr, *other = group_a ? at_rlr : at_lr;
                n_b += !group_a;
                CHECK(same_bits(plus + p->offset, want + p->offset, p->numel),
                      "LoRA+ %s network: %s must step as plain LoRA at %s lr",
                      base ? "on base" : "scratch", p->name, group_a ? "1x" : "16x");
                CHECK(!same_bits(plus + p->offset, other + p->offset, p->numel),
                      "LoRA+ %s network: %s stepped as at both rates (the check cannot tell)",
                      base ? "on base" : "scratch", p->name);
            }
            CHECK(n_b == (base ? 3 : 6), "LoRA+ network: %d tensors at the ratio", n_b);
        } else {
            CHECK(0, "LoRA+ network: out of memory or setup failed");
        }
        free(plus);
        free(at_lr);
        free(at_rlr);
        model_free(&m);
    }
}

/* The memory estimate holds the network, not the one layer of --in, --out. */
static void test_memory(void)
{
    config cfg;
    config_defaults(&cfg);
    cfg.n_hidden = 1;
    cfg.hidden[0] = 512;
    experiment_memory mem = {0, 0, 0, 0, 0};
    CHECK(experiment_memory_needed(&cfg, &mem) == 0, "estimate of a 10 -> 512 -> 5 run");
    const model_spec dense = model_spec_network(model_spec_dense(10, 5), 1, cfg.hidden, ACT_TANH);
    size_t bytes = 0;
    trainer_sizes sz;
    memset(&sz, 0, sizeof sz);
    CHECK(model_spec_bytes(&dense, &bytes) == 0 &&
              trainer_sizes_for(&sz, &dense, cfg.samples, 0, NULL) == 0,
          "network sizes");
    CHECK(mem.models >= bytes && mem.buffers >= sz.bytes,
          "estimate: models %zu bytes (network %zu), buffers %zu (trainer %zu)", mem.models, bytes,
          mem.buffers, sz.bytes);
}

void test_network(void)
{
    test_activations();
    test_sizes();
    test_gradients();
    test_variant_gradients();
    test_merge_and_epoch();
    test_loraplus_network();
    test_memory();
}
