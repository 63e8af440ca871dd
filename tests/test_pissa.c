/* test_pissa.c - PiSSA's initialisation (lora_init_pissa, --init pissa):
 * the run starts where the base does, the residual keeps exactly the rest
 * of the spectrum, bad input is refused untouched, and the finetune
 * experiment starts every PiSSA model at the base's loss. The values
 * against PEFT's formula in PyTorch are in test_parity.c.
 *
 * Dimension key: I in, O out, R rank, k = min(O, I).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/linear.h"
#include "core/lora.h"
#include "core/rng.h"
#include "core/svd.h"
#include "experiment/experiment.h"
#include "test.h"

static float max_abs(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* For one (O, I), every rank and two scales: residual + s B A (merged as
 * the model merges, in float) is W0 within float rounding; the residual's
 * singular values are W0's from R on, and the top R are gone; A's rows and
 * B's columns have the same norms, s ||A_r||^2 = sigma_r. */
static void check_shape(int O, int I, uint64_t seed)
{
    const int k = O < I ? O : I;
    const size_t nw = (size_t)O * I;
    float *w0 = malloc(nw * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *b0 = malloc((size_t)O * sizeof(float));
    float *a = malloc((size_t)k * I * sizeof(float)), *b = malloc((size_t)O * k * sizeof(float));
    double *s0 = malloc((size_t)k * sizeof(double)), *s = malloc((size_t)k * sizeof(double));
    char err[256] = "";
    if (!w0 || !w || !b0 || !a || !b || !s0 || !s) {
        CHECK(0, "pissa %dx%d: out of memory", O, I);
        goto out;
    }
    rng r;
    rng_seed(&r, seed, 5);
    linear_init(w0, b0, I, O, &r);
    CHECK(svd_f32(s0, NULL, NULL, w0, O, I, err, sizeof err) == LD_OK, "%s", err);
    const float wmax = max_abs(w0, nw);
    static const float scales[] = {1.0f, 2.5f};
    for (int R = 1; R <= k; R++)
        for (int si = 0; si < 2; si++) {
            const float sc = scales[si];
            memcpy(w, w0, nw * sizeof(float));
            ld_status st = lora_init_pissa(a, b, w, sc, I, R, O, NULL, err, sizeof err);
            CHECK(st == LD_OK, "pissa %dx%d r=%d: %s", O, I, R, err);
            if (st != LD_OK)
                continue;
            CHECK(svd_f32(s, NULL, NULL, w, O, I, err, sizeof err) == LD_OK, "%s", err);
            double worst_s = 0.0;
            for (int i = 0; i < k; i++) {
                const double want = i + R < k ? s0[i + R] : 0.0;
                worst_s = fmax(worst_s, fabs(s[i] - want));
            }
            CHECK(worst_s <= 1e-6 * s0[0], "pissa %dx%d r=%d s=%g: residual spectrum off by %.3g",
                  O, I, R, (double)sc, worst_s);
            double worst_n = 0.0;
            for (int q = 0; q < R; q++) {
                double na = 0.0, nb = 0.0;
                for (int i = 0; i < I; i++)
                    na += (double)a[(size_t)q * I + i] * a[(size_t)q * I + i];
                for (int o = 0; o < O; o++)
                    nb += (double)b[(size_t)o * R + q] * b[(size_t)o * R + q];
                worst_n = fmax(worst_n, fmax(fabs(na - nb), fabs(sc * na - s0[q])) / s0[0]);
            }
            CHECK(worst_n <= 1e-6, "pissa %dx%d r=%d s=%g: |A_r|^2, |B_r|^2, sigma_r/s disagree "
                  "by %.3g", O, I, R, (double)sc, worst_n);
            lora_merge_into(w, a, b, sc, 1.0f, I, R, O); /* where training starts */
            float worst = 0.0f;
            for (size_t i = 0; i < nw; i++)
                worst = fmaxf(worst, fabsf(w[i] - w0[i]));
            CHECK(worst <= 1e-6f * wmax, "pissa %dx%d r=%d s=%g: merged differs from W0 by %.3g",
                  O, I, R, (double)sc, (double)worst);
        }
out:
    free(w0);
    free(w);
    free(b0);
    free(a);
    free(b);
    free(s0);
    free(s);
}

/* A base with a NaN, or a rank out of range: LD_EINPUT, nothing written. */
static void check_refused(void)
{
    enum { O = 3, I = 4 };
    float w[O * I], w_before[O * I], a[2 * I], b[O * 2], a_before[2 * I], b_before[O * 2];
    for (int i = 0; i < O * I; i++)
        w[i] = (float)(i % 5) - 1.5f;
    for (int i = 0; i < 2 * I; i++)
        a[i] = b[i % (O * 2)] = 0.25f;
    w[7] = NAN;
    memcpy(w_before, w, sizeof w);
    memcpy(a_before, a, sizeof a);
    memcpy(b_before, b, sizeof b);
    char err[256] = "";
    CHECK(lora_init_pissa(a, b, w, 1.0f, I, 2, O, NULL, err, sizeof err) == LD_EINPUT &&
              strstr(err, "NaN") != NULL,
          "pissa: a NaN in the base not refused: '%s'", err);
    CHECK(same_bits(w, w_before, sizeof w / sizeof w[0]) &&
              same_bits(a, a_before, sizeof a / sizeof a[0]) &&
              same_bits(b, b_before, sizeof b / sizeof b[0]),
          "pissa: a refused base was written");
    w[7] = 1.0f;
    for (int R = 0; R <= 4; R += 4) {
        err[0] = '\0';
        CHECK(lora_init_pissa(a, b, w, 1.0f, I, R, O, NULL, err, sizeof err) == LD_EINPUT &&
                  strstr(err, "rank") != NULL,
              "pissa: rank %d of a 3x4 base not refused: '%s'", R, err);
    }
}

/* --init pissa in the finetune experiment: every LoRA model's first loss
 * (before its first step) is the dense model's, which starts from W0; a
 * pretraining that diverges leaves a base that is not finite, and the run
 * still ends, each model diverged at its first epoch. */
/* The small finetune run both checks below start from: 6 -> 4, ranks 1..3,
 * 30 pretraining epochs, weights kept. */
static void pissa_config(config *c)
{
    config_defaults_for(c, EXPERIMENT_FINETUNE);
    c->init = LORA_INIT_PISSA;
    c->in = 6;
    c->out = 4;
    c->n_ranks = 3;
    c->samples = 40;
    c->test_samples = 10;
    c->epochs = 5;
    c->pretrain_epochs = 30;
    c->alpha = 3.0;
    c->save_weights = 1;
    c->quiet = 1;
}

/* Every LoRA model's first loss (before its first step) is the dense
 * model's: PiSSA starts where the base does. */
static void check_first_losses(const experiment_result *res, const char *what)
{
    const float first = res->models[0].losses[0];
    for (int i = 1; i < res->n_models; i++) {
        const model_result *mr = &res->models[i];
        CHECK(fabsf(mr->losses[0] - first) <= 1e-6f * first,
              "%s %s: first loss %.9g, the base's %.9g", what, mr->name, (double)mr->losses[0],
              (double)first);
    }
}

static void check_experiment(void)
{
    config c;
    char err[256] = "";
    pissa_config(&c);
    experiment_result res;
    ld_status st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "pissa run: %s", err);
    if (st == LD_OK) {
        check_first_losses(&res, "pissa");
        for (int i = 1; i < res.n_models; i++) {
            const model_result *mr = &res.models[i];
            CHECK(mr->pissa_base != NULL && res.base_w != NULL &&
                      !same_bits(mr->pissa_base, res.base_w, (size_t)c.in * c.out),
                  "pissa %s: no residual base kept, or it is the base", mr->name);
            CHECK(mr->unmerge_max_diff == 0.0f || mr->unmerge_max_diff < 1e-6f,
                  "pissa %s: unmerge left %.3g", mr->name, (double)mr->unmerge_max_diff);
        }
        experiment_result_free(&res);
    }
    c.lr = 1e38;
    c.pretrain_epochs = 3;
    c.epochs = 3;
    c.save_weights = 0;
    st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "pissa on a diverged base: %s", err);
    if (st == LD_OK) {
        CHECK(res.pretrain_diverged_at[0] > 0, "pretraining at lr 1e38 did not diverge");
        for (int i = 1; i < res.n_models; i++)
            CHECK(res.models[i].diverged_at[0] == 1, "pissa %s on a base that is not finite: "
                  "diverged at %d, expected 1", res.models[i].name, res.models[i].diverged_at[0]);
        experiment_result_free(&res);
    }
}

/* --init pissa with --hidden 6 (6 -> 6 -> 4): on every layer the saved
 * residual plus s B0 A0 (the initial A and B) is that layer's base within
 * float rounding, and is not the base itself; every LoRA model's first loss
 * is the dense model's, as the network starts where its base does. */
static void check_network(void)
{
    config c;
    char err[256] = "";
    pissa_config(&c);
    c.n_hidden = 1;
    c.hidden[0] = 6;
    experiment_result res;
    ld_status st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "pissa network run: %s", err);
    if (st != LD_OK)
        return;
    static const int Ol[2] = {6, 4}, Il[2] = {6, 6};
    check_first_losses(&res, "pissa network");
    for (int i = 1; i < res.n_models; i++) {
        const model_result *mr = &res.models[i];
        CHECK(mr->pissa_base != NULL && res.base_w != NULL && mr->init_params != NULL,
              "pissa network %s: residual, base and initial weights kept", mr->name);
        if (mr->pissa_base == NULL || res.base_w == NULL || mr->init_params == NULL)
            continue;
        size_t off = 0;
        for (int l = 0; l < 2; l++) {
            const int O = Ol[l], I = Il[l], R = mr->rank;
            const float *A = NULL, *B = NULL;
            char na[64], nb[64];
            snprintf(na, sizeof na, "layers.%d.lora_A.weight", l);
            snprintf(nb, sizeof nb, "layers.%d.lora_B.weight", l);
            for (int t = 0; t < mr->n_tensors; t++) {
                if (strcmp(mr->tensors[t].name, na) == 0)
                    A = mr->init_params + mr->tensors[t].offset;
                if (strcmp(mr->tensors[t].name, nb) == 0)
                    B = mr->init_params + mr->tensors[t].offset;
            }
            CHECK(A != NULL && B != NULL, "pissa network %s: layer %d's A and B", mr->name, l);
            if (A == NULL || B == NULL)
                break;
            const float *w0 = res.base_w + off, *wr = mr->pissa_base + off;
            const size_t nw = (size_t)O * (size_t)I;
            float merged[36];
            memcpy(merged, wr, nw * sizeof(float));
            lora_merge_into(merged, A, B, mr->scale, 1.0f, I, R, O); /* as the model merges */
            float worst = 0.0f;
            for (size_t j = 0; j < nw; j++)
                worst = fmaxf(worst, fabsf(merged[j] - w0[j]));
            CHECK(worst <= 1e-6f * max_abs(w0, nw),
                  "pissa network %s layer %d: residual + s B A differs from W0 by %.3g", mr->name,
                  l, (double)worst);
            CHECK(!same_bits(wr, w0, nw), "pissa network %s layer %d: the residual is the base",
                  mr->name, l);
            off += nw;
        }
    }
    experiment_result_free(&res);
}

void test_pissa(void)
{
    check_shape(5, 10, 1);
    check_shape(10, 5, 2);
    check_shape(7, 7, 3);
    check_refused();
    check_experiment();
    check_network();
}
