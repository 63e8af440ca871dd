/* test_variants.c - the LoRA variants of issue 14 in the layer code: what
 * the model's tensor table and optimizer do with them (LoRA+), the masks
 * and modes of LoRA dropout. Their numbers are checked against PyTorch in
 * test_parity.c (base_loraplus16_*, base_dropout_*), every fast
 * path against the plain step in test_train.c, and the command line end to
 * end in variants_test.sh.
 *
 * Dimension key: I in, O out, R rank.
 */
#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "core/linear.h"
#include "core/lora.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "test.h"
#include "train/train.h"

/* ------------------------------------------------------------------------ */
/* LoRA+ */

/* A LoRA+ spec is refused below 1 and when not a number; the table gives
 * lora_B.weight the ratio and every other tensor 1. */
static void check_loraplus_table(void)
{
    char err[256] = "";
    model m;
    model_spec spec = model_spec_lora(6, 4, 2, 2.0, 1.0f, 0);
    const double bad[] = {0.5, 0.0, -2.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spec.loraplus_ratio = bad[i];
        err[0] = '\0';
        CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_EINPUT &&
                  strstr(err, "LoRA+ ratio") != NULL && m.mem == NULL,
              "ratio %g: want LD_EINPUT naming the LoRA+ ratio, got '%s'", bad[i], err);
    }
    spec.loraplus_ratio = 16.0;
    CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_OK, "%s", err);
    const param_tensor *a = model_find(&m, "lora_A.weight"), *b = model_find(&m, "lora_B.weight");
    CHECK(a != NULL && b != NULL && a->lr_ratio == 1.0 && b->lr_ratio == 16.0,
          "LoRA+ rates: lora_A %g, lora_B %g", a != NULL ? a->lr_ratio : -1.0,
          b != NULL ? b->lr_ratio : -1.0);
    CHECK(model_spec_of(&m).loraplus_ratio == 16.0, "model_spec_of keeps the LoRA+ ratio");
    model_free(&m);
    spec = model_spec_dense(6, 4);
    CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_OK &&
              m.tensors[0].lr_ratio == 1.0 && m.tensors[1].lr_ratio == 1.0,
          "dense tensors at lr: %s", err);
    model_free(&m);
}

/* One step of model_adam_step, and the same step in two spans that cut
 * lora_A in the middle, against adam_step called on each tensor with its
 * own learning rate: the same bits. */
static void check_loraplus_step(void)
{
    char err[256] = "";
    model m1, m2;
    model_spec spec = model_spec_lora(5, 3, 2, 2.0, 1.0f, 0);
    spec.loraplus_ratio = 16.0;
    if (model_init(&m1, &spec, NULL, NULL, err, sizeof err) != LD_OK ||
        model_init(&m2, &spec, NULL, NULL, err, sizeof err) != LD_OK) {
        CHECK(0, "%s", err);
        return;
    }
    const size_t n = m1.n_params; /* 10 + 6 */
    float p[16], g[16], mo[16] = {0}, v[16] = {0};
    for (size_t i = 0; i < n; i++) {
        p[i] = m1.params[i] = m2.params[i] = 0.1f * (float)i - 0.7f;
        g[i] = m1.grads[i] = m2.grads[i] = 0.03f * (float)(i % 5) - 0.05f;
    }
    const adam_config adam = adam_defaults(0.01);
    model_adam_step(&m1, adam);
    m2.step++;
    model_adam_span(&m2, 0, 7, adam);
    model_adam_span(&m2, 7, n, adam);
    adam_config plus = adam;
    plus.lr = 0.01 * 16.0;
    adam_step(p, g, mo, v, 10, 1, adam);                   /* lora_A (2,5) */
    adam_step(p + 10, g + 10, mo + 10, v + 10, 6, 1, plus); /* lora_B (3,2) */
    CHECK(same_bits(m1.params, p, n), "model_adam_step with LoRA+ differs at [%zu]",
          first_diff(m1.params, p, n));
    CHECK(same_bits(m2.params, p, n), "model_adam_span in two shares differs at [%zu]",
          first_diff(m2.params, p, n));
    model_free(&m1);
    model_free(&m2);
}

/* ------------------------------------------------------------------------ */
/* LoRA dropout */

/* The masks: keep iff the stream's uniform >= p, scaled by the float of
 * 1/(1-p); about 1-p of the elements kept; replayed flags win over the
 * stream. */
static void check_dropout_masks(void)
{
    enum { N = 400, I = 250 };
    const size_t n = (size_t)N * I;
    float *x = malloc(n * sizeof(float)), *xd = malloc(n * sizeof(float));
    float *flags = malloc(n * sizeof(float));
    if (x == NULL || xd == NULL || flags == NULL) {
        CHECK(0, "out of memory");
        free(x), free(xd), free(flags);
        return;
    }
    rng r, again;
    rng_seed(&r, 7, 1);
    rng_fill_normal(&r, x, n);
    const double p = 0.3;
    const float s = (float)(1.0 / (1.0 - p));
    rng_seed(&r, 7, 3002);
    rng_seed(&again, 7, 3002);
    lora_dropout_forward(xd, x, p, NULL, &r, N, I);
    size_t kept = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        const int keep = rng_uniform(&again) >= p;
        kept += (size_t)keep;
        wrong += xd[i] != (keep ? x[i] * s : 0.0f);
        flags[i] = (float)(i % 3 == 0);
    }
    CHECK(wrong == 0, "%zu elements differ from keep iff u >= p, times (float)(1/(1-p))", wrong);
    const double frac = (double)kept / (double)n; /* 1e5 draws: std 0.0014 */
    CHECK(fabs(frac - 0.7) < 0.01, "kept %.4f of the inputs at p = 0.3", frac);
    lora_dropout_forward(xd, x, p, flags, &r, N, I);
    wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += xd[i] != (i % 3 == 0 ? x[i] * s : 0.0f);
    CHECK(wrong == 0, "replayed masks: %zu elements differ", wrong);
    free(x);
    free(xd);
    free(flags);
}

/* A LoRA layer of 6 -> 4, rank 2, on a base, with dropout p: B nonzero. */
static int dropout_model(model *m, double p, char *err, size_t errlen)
{
    float w0[24], b0[4];
    for (int i = 0; i < 24; i++)
        w0[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int i = 0; i < 4; i++)
        b0[i] = 0.05f * (float)i;
    model_spec spec = model_spec_lora(6, 4, 2, 3.0, 1.5f, 1);
    spec.dropout = p;
    if (model_init(m, &spec, w0, b0, err, errlen) != LD_OK)
        return 0;
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = 0.2f * (float)(i % 5) - 0.4f;
    return 1;
}

/* Dropout is for training only: evaluation and the merged model see none,
 * and the trainer takes the plain step, with a buffer for the dropped
 * input. Out-of-range p and dropout on a dense layer are refused. */
static void check_dropout_modes(void)
{
    char err[256] = "";
    model d, plain;
    const double bad[] = {-0.1, 1.0, 1.5, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(!dropout_model(&d, bad[i], err, sizeof err) && strstr(err, "LoRA dropout") != NULL,
              "dropout %g: want a refusal naming LoRA dropout, got '%s'", bad[i], err);
    }
    model_spec dense = model_spec_dense(6, 4);
    dense.dropout = 0.1;
    CHECK(model_init(&d, &dense, NULL, NULL, err, sizeof err) == LD_EINPUT,
          "dropout on a dense layer accepted");
    if (!dropout_model(&d, 0.5, err, sizeof err) || !dropout_model(&plain, 0.0, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    enum { N = 9 };
    /* xd: the variants' activations, the dropped input and keep (model_act_floats) */
    float x[N * 6], y1[N * 4], y2[N * 4], y3[N * 4], h[N * 2], xd[2 * N * 6];
    for (int i = 0; i < N * 6; i++)
        x[i] = 0.3f * (float)(i % 11) - 1.0f;
    CHECK(model_has_dropout(&d) && !model_has_dropout(&plain), "model_has_dropout");
    model_forward(&d, y1, h, x, NULL, N, NULL);
    model_forward(&plain, y2, h, x, NULL, N, NULL);
    const size_t ny = (size_t)N * 4;
    CHECK(same_bits(y1, y2, ny), "evaluation is not dropout-free");
    model_forward_train(&d, y3, h, xd, x, NULL, N, NULL);
    CHECK(!same_bits(y1, y3, ny), "a training forward at p = 0.5 dropped nothing");
    CHECK(model_merge(&d, err, sizeof err) == LD_OK, "%s", err);
    model_forward(&d, y3, h, x, NULL, N, NULL);
    check_close("merged model with dropout vs unmerged evaluation", y3, y1, ny, 1e-6, 1e-5);
    CHECK(model_unmerge(&d, err, sizeof err) == LD_OK, "%s", err);

    trainer t;
    trainer_options opt = trainer_defaults();
    float yt[N * 4] = {0};
    CHECK(trainer_init(&t, &d, x, yt, N, 0, &opt, err, sizeof err) == LD_OK, "%s", err);
    CHECK(t.method == TRAIN_PLAIN && t.act != NULL, "dropout: method %d, xd %s", t.method,
          t.act != NULL ? "set" : "NULL");
    trainer_free(&t);
    CHECK(trainer_init(&t, &plain, x, yt, N, 0, &opt, err, sizeof err) == LD_OK, "%s", err);
    CHECK(t.method != TRAIN_PLAIN && t.act == NULL, "no dropout: a fast path and no xd");
    trainer_free(&t);
    model_free(&d);
    model_free(&plain);
}

/* ------------------------------------------------------------------------ */
/* DoRA */

/* The magnitude starts at the row norms of W0 (B = 0); the merged model
 * W = (mag/n)(W0 + s B A) predicts as the unmerged one, and the unmerge
 * gives W0 back; LoRA+ covers the magnitude (a 1-d tensor); DoRA needs a
 * LoRA layer on a base, and trains with the plain step. */
static void check_dora(void)
{
    char err[256] = "";
    model d;
    model_spec spec = model_spec_lora(6, 4, 2, 3.0, 1.5f, 0);
    spec.dora = 1;
    CHECK(model_init(&d, &spec, NULL, NULL, err, sizeof err) == LD_EINPUT &&
              strstr(err, "DoRA needs") != NULL,
          "DoRA without a base: '%s'", err);
    spec = model_spec_dense(6, 4);
    spec.dora = 1;
    CHECK(model_init(&d, &spec, NULL, NULL, err, sizeof err) == LD_EINPUT, "DoRA on dense accepted");

    float w0[24], b0[4];
    for (int i = 0; i < 24; i++)
        w0[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int i = 0; i < 4; i++)
        b0[i] = 0.05f * (float)i;
    spec = model_spec_lora(6, 4, 2, 3.0, 1.5f, 1);
    spec.dora = 1;
    spec.loraplus_ratio = 8.0;
    if (model_init(&d, &spec, w0, b0, err, sizeof err) != LD_OK) {
        CHECK(0, "%s", err);
        return;
    }
    const param_tensor *mt = model_find(&d, "lora_magnitude_vector.weight");
    CHECK(mt != NULL && mt->numel == 4 && mt->ndim == 1 && mt->lr_ratio == 8.0 &&
              d.n_params == 2 * 6 + 4 * 2 + 4 && d.layers[0].mag == d.params + mt->offset,
          "the magnitude in the table: (O), at LoRA+'s rate, after A and B");
    model_dora_init(&d); /* B = 0: the norms of W0's rows */
    int ok = 1;
    for (int o = 0; o < 4; o++) {
        double ss = 0.0;
        for (int i = 0; i < 6; i++)
            ss += (double)w0[o * 6 + i] * w0[o * 6 + i];
        ok &= fabs(d.layers[0].mag[o] - sqrt(ss)) <= 1e-6 * sqrt(ss);
    }
    CHECK(ok, "DoRA's magnitude does not start at W0's row norms");

    enum { N = 7 };
    float x[N * 6], y0[N * 4], y1[N * 4], y2[N * 4], h[N * 2];
    for (int i = 0; i < N * 6; i++)
        x[i] = 0.3f * (float)(i % 11) - 1.0f;
    const size_t ny = (size_t)N * 4;
    model_forward(&d, y0, h, x, NULL, N, NULL);
    float base[N * 4];
    linear_forward(base, x, w0, b0, N, 6, 4, NULL);
    CHECK(same_bits(y0, base, ny), "DoRA at start (B = 0, mag = n) is not the base");
    for (int i = 0; i < 12; i++)
        d.params[i] += 0.05f * (float)(i % 5) - 0.1f; /* A and B away from the start */
    d.layers[0].mag[1] *= 1.3f;
    model_forward(&d, y1, h, x, NULL, N, NULL);
    CHECK(model_merge(&d, err, sizeof err) == LD_OK, "%s", err);
    model_forward(&d, y2, h, x, NULL, N, NULL);
    check_close("DoRA merged vs unmerged", y2, y1, ny, 1e-6, 1e-5);
    CHECK(model_unmerge(&d, err, sizeof err) == LD_OK, "%s", err);
    check_close("DoRA unmerge restores W0", d.layers[0].W0, w0, 24, 1e-6, 1e-5);

    trainer t;
    float yt[N * 4] = {0};
    CHECK(trainer_init(&t, &d, x, yt, N, 0, NULL, err, sizeof err) == LD_OK, "%s", err);
    CHECK(t.method == TRAIN_PLAIN && t.act != NULL, "DoRA: method %d, act %s", t.method,
          t.act != NULL ? "set" : "NULL");
    trainer_free(&t);
    model_free(&d);
}

void test_variants(void)
{
    check_loraplus_table();
    check_loraplus_step();
    check_dropout_masks();
    check_dropout_modes();
    check_dora();
}
