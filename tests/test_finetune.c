/* test_finetune.c - the finetune experiment: teacher, frozen base, merge,
 * repeats, its options and outputs, and the finding itself.
 *
 * Dimension key: N samples, I in, O out, R rank, K rank of the task shift.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "cli.h"
#include "config.h"
#include "core/data.h"
#include "experiment/experiment.h"
#include "experiment/teacher.h"
#include "core/linear.h"
#include "core/lora.h"
#include "core/model.h"
#include "core/optim.h"
#include "report/report.h"
#include "core/rng.h"
#include "test.h"
#include "train/train.h"

/* ------------------------------------------------------------------------ */
/* helpers */

/* A "pretrained" base: nn.Linear's init from a fixed stream, plus data. */
typedef struct {
    int n, in, out;
    float *w0; /* (O,I) */
    float *b0; /* (O) */
    dataset d;
} fixture;

static void fixture_make(fixture *f, int n, int in, int out, uint64_t seed)
{
    char err[256];
    f->n = n;
    f->in = in;
    f->out = out;
    f->w0 = malloc((size_t)out * in * sizeof(float));
    f->b0 = malloc((size_t)out * sizeof(float));
    rng r;
    rng_seed(&r, seed, 77);
    linear_init(f->w0, f->b0, in, out, &r);
    if (dataset_alloc(&f->d, n, in, out, err, sizeof err) != LD_OK)
        fprintf(stderr, "fixture: %s\n", err);
    dataset_make_random(&f->d, &r);
}

static void fixture_free(fixture *f)
{
    free(f->w0);
    free(f->b0);
    dataset_free(&f->d);
}

/* A LoRA model of rank R on the fixture's frozen base, PEFT init. */
static void lora_on_base(model *m, const fixture *f, int R, uint64_t seed)
{
    char err[256];
    if (test_model_lora(m, f->in, f->out, R, (float)R, 1.0f, f->w0, f->b0, err, sizeof err) != LD_OK)
        fprintf(stderr, "lora_on_base: %s\n", err);
    rng r;
    rng_seed(&r, seed, 1000u + (uint64_t)R);
    lora_init_peft(m->layers[0].A, m->layers[0].B, f->in, R, f->out, &r);
}

/* Train m for E epochs (order NULL: data order) and write each loss. */
static void train_epochs(model *m, trainer *t, int E, float *losses)
{
    const adam_config adam = adam_defaults(0.01);
    for (int e = 0; e < E; e++)
        losses[e] = trainer_epoch(t, m, NULL, adam);
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* the teacher */

static void test_teacher(void)
{
    char err[256];
    const int I = 10, O = 5;
    for (int k = 1; k <= 5; k++) {
        teacher t;
        rng rb, rd;
        rng_seed(&rb, 42, 3);
        rng_seed(&rd, 42, 4);
        CHECK(teacher_make(&t, I, O, k, &rb, &rd, err, sizeof err) == LD_OK, "k=%d: %s", k, err);
        if (t.mem == NULL)
            continue;
        const double nb = frobenius(t.w_base, O, I), nd = frobenius(t.dw, O, I);
        CHECK(fabs(nd / nb - FINETUNE_DELTA_FRACTION) < 1e-6, "k=%d: ||dW||/||W|| = %.9g", k, nd / nb);

        /* Rank exactly k with equal singular values, without an SVD: let
         * G = dW^T dW (I,I). With singular values s_j, trace G = sum s^2 and
         * trace G^2 = sum s^4, so (sum s^2)^2 / sum s^4 is the number of
         * nonzero s_j when they are all equal (and smaller otherwise), and
         * dW G = c^2 dW holds exactly when every nonzero s_j is c. */
        double *g = calloc((size_t)I * I, sizeof(double));
        for (int i = 0; i < I; i++)
            for (int j = 0; j < I; j++)
                for (int o = 0; o < O; o++)
                    g[i * I + j] += (double)t.dw[o * I + i] * t.dw[o * I + j];
        double tr = 0.0, tr2 = 0.0;
        for (int i = 0; i < I; i++) {
            tr += g[i * I + i];
            for (int j = 0; j < I; j++)
                tr2 += g[i * I + j] * g[j * I + i];
        }
        const double eff_rank = tr * tr / tr2, c2 = tr / k;
        CHECK(fabs(eff_rank - k) < 1e-4, "k=%d: effective rank %.6f", k, eff_rank);
        double worst = 0.0;
        for (int o = 0; o < O; o++)
            for (int j = 0; j < I; j++) {
                double s = 0.0;
                for (int i = 0; i < I; i++)
                    s += (double)t.dw[o * I + i] * g[i * I + j];
                worst = fmax(worst, fabs(s - c2 * t.dw[o * I + j]));
            }
        CHECK(worst < 1e-5, "k=%d: dW dW^T dW != c^2 dW (worst %.3g)", k, worst);
        free(g);

        double w2 = 0.0;
        for (int i = 0; i < O * I; i++)
            w2 = fmax(w2, fabs((double)t.w_task2[i] - ((double)t.w_base[i] + t.dw[i])));
        CHECK(w2 < 1e-6, "k=%d: w_task2 != w_base + dW (%.3g)", k, w2);
        teacher_free(&t);
    }

    teacher t;
    rng rb, rd;
    rng_seed(&rb, 1, 3);
    rng_seed(&rd, 1, 4);
    CHECK(teacher_make(&t, I, O, 0, &rb, &rd, err, sizeof err) == LD_EINPUT, "k=0 accepted");
    CHECK(teacher_make(&t, I, O, 6, &rb, &rd, err, sizeof err) == LD_EINPUT, "k=6 > min(I,O) accepted");

    /* Data: the residual y - (x W^T + b) is the noise, of the asked std. */
    rng_seed(&rb, 5, 3);
    rng_seed(&rd, 5, 4);
    CHECK(teacher_make(&t, I, O, 2, &rb, &rd, err, sizeof err) == LD_OK, "%s", err);
    dataset d;
    CHECK(dataset_alloc(&d, 4000, I, O, err, sizeof err) == LD_OK, "%s", err);
    rng r;
    rng_seed(&r, 5, 1);
    teacher_make_data(&d, t.w_task2, t.b, 0.25, &r);
    float *clean = malloc((size_t)4000 * O * sizeof(float));
    linear_forward(clean, d.x, t.w_task2, t.b, 4000, I, O, NULL);
    const double var = mse_forward(clean, d.y, (size_t)4000 * O);
    CHECK(fabs(sqrt(var) - 0.25) < 0.01, "noise std %.4f, want 0.25", sqrt(var));
    free(clean);
    dataset_free(&d);
    teacher_free(&t);
}

/* ------------------------------------------------------------------------ */
/* frozen means frozen */

/* At init (B = 0) the adapted model's outputs are the base's, bit for bit. */
static void test_identity_at_start(void)
{
    fixture f;
    fixture_make(&f, 64, 10, 5, 3);
    const size_t ny = (size_t)f.n * f.out;
    float *base = malloc(ny * sizeof(float)), *y = malloc(ny * sizeof(float));
    float *h = malloc((size_t)f.n * 4 * sizeof(float));
    linear_forward(base, f.d.x, f.w0, f.b0, f.n, f.in, f.out, NULL);
    for (int R = 1; R <= 4; R++) {
        model m;
        lora_on_base(&m, &f, R, 9);
        model_forward(&m, y, h, f.d.x, NULL, f.n, NULL);
        CHECK(memcmp(y, base, ny * sizeof(float)) == 0, "r=%d: output at init differs from the base", R);
        /* the trainer's first recorded loss is the base's own loss, exactly */
        char err[256];
        trainer t;
        CHECK(trainer_init(&t, &m, f.d.x, f.d.y, f.n, 0, NULL, err, sizeof err) == LD_OK, "%s", err);
        const float first = trainer_epoch(&t, &m, NULL, adam_defaults(0.01));
        const float want = mse_forward(base, f.d.y, ny);
        CHECK(first == want, "r=%d: first loss %.9g, base loss %.9g", R, (double)first, (double)want);
        trainer_free(&t);
        model_free(&m);
    }
    free(base);
    free(y);
    free(h);
    fixture_free(&f);
}

/* Training never writes the frozen W0, b0 (full batch and mini-batch), and
 * the caller's copy is not aliased. */
static void test_base_untouched(void)
{
    fixture f;
    fixture_make(&f, 60, 10, 5, 4);
    const size_t nw = (size_t)f.out * f.in;
    float *w_copy = malloc(nw * sizeof(float)), *b_copy = malloc((size_t)f.out * sizeof(float));
    memcpy(w_copy, f.w0, nw * sizeof(float));
    memcpy(b_copy, f.b0, (size_t)f.out * sizeof(float));
    float losses[50];
    for (int batch = 0; batch <= 16; batch += 16) {
        model m;
        trainer t;
        char err[256];
        lora_on_base(&m, &f, 2, 11);
        CHECK(m.layers[0].W0 != f.w0 && m.layers[0].b0 != f.b0, "the model must own a copy of the base");
        CHECK(trainer_init(&t, &m, f.d.x, f.d.y, f.n, batch, NULL, err, sizeof err) == LD_OK, "%s", err);
        const adam_config adam = adam_defaults(0.01);
        int order[60];
        for (int i = 0; i < 60; i++)
            order[i] = (i * 7) % 60; /* a fixed permutation (7 and 60 are coprime) */
        for (int e = 0; e < 50; e++)
            losses[e] = trainer_epoch(&t, &m, batch ? order : NULL, adam);
        CHECK(losses[49] < losses[0], "batch %d: training did not reduce the loss", batch);
        CHECK(memcmp(m.layers[0].W0, w_copy, nw * sizeof(float)) == 0, "batch %d: W0 changed", batch);
        CHECK(memcmp(m.layers[0].b0, b_copy, (size_t)f.out * sizeof(float)) == 0, "batch %d: b0 changed", batch);
        CHECK(memcmp(f.w0, w_copy, nw * sizeof(float)) == 0, "batch %d: caller's W0 changed", batch);
        CHECK(m.n_params == (size_t)2 * (f.in + f.out), "only A and B are parameters (%zu)", m.n_params);
        trainer_free(&t);
        model_free(&m);
    }
    free(w_copy);
    free(b_copy);
    fixture_free(&f);
}

/* The base output X W0^T + b0 is computed once per data set, in
 * trainer_init, and the epoch loop reads only that cache: poisoning W0 and
 * b0 with NaN after trainer_init leaves every epoch's loss bit for bit the
 * same (a recomputation would turn them into NaN). */
static void test_base_cached(void)
{
    fixture f;
    fixture_make(&f, 48, 10, 5, 5);
    const size_t ny = (size_t)f.n * f.out, nw = (size_t)f.out * f.in;
    float *base = malloc(ny * sizeof(float));
    linear_forward(base, f.d.x, f.w0, f.b0, f.n, f.in, f.out, NULL);
    for (int batch = 0; batch <= 12; batch += 12) {
        float clean[40] = {0}, poisoned[40] = {0};
        for (int pass = 0; pass < 2; pass++) {
            model m;
            trainer t;
            char err[256];
            lora_on_base(&m, &f, 3, 12);
            CHECK(trainer_init(&t, &m, f.d.x, f.d.y, f.n, batch, NULL, err, sizeof err) == LD_OK, "%s", err);
            if (pass == 0)
                CHECK(t.base_all != NULL && memcmp(t.base_all, base, ny * sizeof(float)) == 0,
                      "batch %d: the cache is not X W0^T + b0", batch);
            if (pass == 1) {
                for (size_t i = 0; i < nw; i++)
                    m.layers[0].W0[i] = NAN;
                for (int o = 0; o < f.out; o++)
                    m.layers[0].b0[o] = NAN;
            }
            const adam_config adam = adam_defaults(0.01);
            int order[48];
            for (int i = 0; i < 48; i++)
                order[i] = (i * 5) % 48;
            for (int e = 0; e < 40; e++)
                (pass ? poisoned : clean)[e] = trainer_epoch(&t, &m, batch ? order : NULL, adam);
            trainer_free(&t);
            model_free(&m);
        }
        CHECK(all_finite(poisoned, 40), "batch %d: an epoch read the poisoned base", batch);
        CHECK(memcmp(clean, poisoned, sizeof clean) == 0,
              "batch %d: losses differ once W0 is poisoned: the epoch loop recomputes the base", batch);
    }
    free(base);
    fixture_free(&f);
}

/* ------------------------------------------------------------------------ */
/* merge */

static void test_merge(void)
{
    fixture f;
    fixture_make(&f, 80, 10, 5, 6);
    const size_t ny = (size_t)f.n * f.out, nw = (size_t)f.out * f.in;
    char err[256];
    float losses[200];
    for (int R = 1; R <= 4; R++) {
        for (int rs = 0; rs < 2; rs++) {
            model m;
            trainer t;
            lora_on_base(&m, &f, R, 13);
            m.layers[0].scale = rs ? (float)(R / sqrt((double)R)) : 1.0f; /* alpha/r and alpha/sqrt(r) */
            CHECK(trainer_init(&t, &m, f.d.x, f.d.y, f.n, 0, NULL, err, sizeof err) == LD_OK, "%s", err);
            train_epochs(&m, &t, 200, losses);
            trainer_free(&t);

            float *yu = malloc(ny * sizeof(float)), *ym = malloc(ny * sizeof(float));
            float *h = malloc((size_t)f.n * R * sizeof(float));
            model_forward(&m, yu, h, f.d.x, NULL, f.n, NULL);
            float ref = 0.0f;
            for (size_t i = 0; i < ny; i++)
                ref = fmaxf(ref, fabsf(yu[i]));
            CHECK(model_merge(&m, err, sizeof err) == LD_OK && m.layers[0].merged, "merge: %s", err);
            model_forward(&m, ym, h, f.d.x, NULL, f.n, NULL);
            char name[64];
            snprintf(name, sizeof name, "merged vs unmerged, r=%d%s", R, rs ? " rslora" : "");
            check_close(name, ym, yu, ny, 1e-5 * ref, 1e-5);

            /* merged predictions come from the merged dense weight alone */
            float *yd = malloc(ny * sizeof(float));
            linear_forward(yd, f.d.x, m.layers[0].W0, m.layers[0].b0, f.n, f.in, f.out, NULL);
            CHECK(memcmp(yd, ym, ny * sizeof(float)) == 0, "r=%d: merged model is not W x + b0", R);

            /* merging twice is refused and changes nothing */
            float *wm = malloc(nw * sizeof(float));
            memcpy(wm, m.layers[0].W0, nw * sizeof(float));
            err[0] = '\0';
            CHECK(model_merge(&m, err, sizeof err) == LD_ESTATE && strstr(err, "already merged") != NULL,
                  "r=%d: second merge not refused ('%s')", R, err);
            CHECK(memcmp(wm, m.layers[0].W0, nw * sizeof(float)) == 0, "r=%d: refused merge changed W", R);

            CHECK(model_unmerge(&m, err, sizeof err) == LD_OK && !m.layers[0].merged, "unmerge: %s", err);
            snprintf(name, sizeof name, "unmerge restores W0, r=%d%s", R, rs ? " rslora" : "");
            check_close(name, m.layers[0].W0, f.w0, nw, 1e-6, 0.0);
            CHECK(memcmp(m.layers[0].b0, f.b0, (size_t)f.out * sizeof(float)) == 0, "merge touched b0");
            CHECK(model_unmerge(&m, err, sizeof err) == LD_ESTATE, "r=%d: unmerge twice not refused", R);
            free(yu);
            free(ym);
            free(yd);
            free(h);
            free(wm);
            model_free(&m);
        }
    }
    model d;
    CHECK(test_model_dense(&d, 4, 3, err, sizeof err) == LD_OK, "%s", err);
    CHECK(model_merge(&d, err, sizeof err) == LD_ESTATE, "merging a dense model not refused");
    model_free(&d);
    fixture_free(&f);
}

/* ------------------------------------------------------------------------ */
/* options */

static ld_status parse(config *c, char *err, size_t errlen, int argc, const char **args)
{
    char *argv[32];
    cli_action action;
    argv[0] = "lora_demo";
    for (int i = 0; i < argc; i++)
        argv[i + 1] = (char *)args[i];
    err[0] = '\0';
    return cli_parse(argc + 1, argv, c, &action, err, errlen);
}

#define PARSE(c, err, ...)                                                       \
    parse((c), (err), sizeof(err), (int)(sizeof((const char *[]){__VA_ARGS__}) / \
                                         sizeof(const char *)),                  \
          (const char *[]){__VA_ARGS__})

/* The option is refused with LD_EINPUT and a message naming flag and value. */
static void expect_refused(const char *flag, const char *value, const char *extra)
{
    config c;
    char err[256];
    ld_status st = extra ? PARSE(&c, err, "--experiment", "finetune", extra, flag, value)
                         : PARSE(&c, err, "--experiment", "finetune", flag, value);
    CHECK(st == LD_EINPUT && strstr(err, flag) != NULL && strstr(err, value) != NULL,
          "%s %s: status %d, message '%s'", flag, value, (int)st, err);
}

static void test_options(void)
{
    config c, ft;
    char err[256];
    config_defaults_for(&ft, EXPERIMENT_FINETUNE);

    CHECK(PARSE(&c, err, "--seed", "1") == LD_OK && c.experiment == EXPERIMENT_SCRATCH &&
              c.epochs == 100 && c.samples == 100 && c.repeats == 1 && !c.rslora,
          "scratch stays the default (%s)", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune") == LD_OK && c.experiment == EXPERIMENT_FINETUNE &&
              c.epochs == ft.epochs && c.samples == ft.samples && c.test_samples == ft.test_samples &&
              c.lr == ft.lr && c.delta_rank == 2 && c.pretrain_epochs == ft.pretrain_epochs,
          "finetune defaults (%s)", err);
    /* an explicit value wins over the finetune default, before or after */
    CHECK(PARSE(&c, err, "--epochs", "7", "--experiment", "finetune", "--samples", "9") == LD_OK &&
              c.epochs == 7 && c.samples == 9 && c.test_samples == ft.test_samples,
          "explicit options lost (%s)", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune", "--delta-rank", "3", "--noise", "0.5",
                "--pretrain-epochs", "12", "--repeats", "4", "--rslora") == LD_OK &&
              c.delta_rank == 3 && c.noise == 0.5 && c.pretrain_epochs == 12 && c.repeats == 4 &&
              c.rslora,
          "finetune options not read (%s)", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune", "--noise", "0") == LD_OK && c.noise == 0.0,
          "noise 0 refused (%s)", err);
    CHECK(PARSE(&c, err, "--repeats", "3", "--rslora", "--alpha", "8") == LD_OK && c.repeats == 3 &&
              fabsf(config_scale(&c, 4) - 4.0f) < 1e-6f && fabsf(config_scale(&c, 1) - 8.0f) < 1e-6f,
          "--repeats/--rslora in scratch (%s)", err);
    CHECK(PARSE(&c, err, "--alpha", "8") == LD_OK && fabsf(config_scale(&c, 4) - 2.0f) < 1e-6f,
          "alpha/r (%s)", err);

    CHECK(PARSE(&c, err, "--experiment", "finetuning") == LD_EINPUT &&
              strstr(err, "--experiment") && strstr(err, "finetuning"),
          "bad experiment: '%s'", err);
    CHECK(PARSE(&c, err, "--experiment", "") == LD_EINPUT && strstr(err, "--experiment"),
          "empty experiment: '%s'", err);
    expect_refused("--delta-rank", "0", NULL);
    expect_refused("--delta-rank", "6", NULL); /* > min(10, 5) */
    expect_refused("--delta-rank", "2x", NULL);
    expect_refused("--noise", "-0.1", NULL);
    expect_refused("--noise", "abc", NULL);
    expect_refused("--noise", "nan", NULL);
    expect_refused("--noise", "inf", NULL);
    expect_refused("--noise", "1e-400", NULL);
    expect_refused("--pretrain-epochs", "0", NULL);
    expect_refused("--pretrain-epochs", "1.5", NULL);
    expect_refused("--repeats", "0", NULL);
    expect_refused("--repeats", "-2", NULL);
    expect_refused("--repeats", "2", "--seed=18446744073709551615"); /* seeds past 2^64-1 */
    CHECK(PARSE(&c, err, "--repeats", "1", "--seed", "18446744073709551615") == LD_OK,
          "one repeat at the largest seed refused (%s)", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune", "--in", "3", "--ranks", "1") == LD_OK &&
              c.delta_rank == 2,
          "delta-rank 2 with in 3 (%s)", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune", "--in", "1", "--ranks", "1") == LD_EINPUT &&
              strstr(err, "--delta-rank"),
          "default delta-rank 2 > min(in, out) = 1 not refused: '%s'", err);
    CHECK(PARSE(&c, err, "--experiment", "finetune", "--init", "pissa") == LD_OK &&
              c.init == LORA_INIT_PISSA && PARSE(&c, err, "--init", "default") == LD_OK &&
              c.init == LORA_INIT_DEFAULT,
          "--init pissa (finetune) or default (scratch) refused (%s)", err);
    expect_refused("--init", "svd", NULL);
    expect_refused("--init", "pissa_niter_16", NULL);
    CHECK(PARSE(&c, err, "--init", "pissa") == LD_EINPUT && strstr(err, "--init") &&
              strstr(err, "finetune"),
          "--init pissa in scratch: '%s'", err);
    /* finetune-only options are refused, not ignored, in a scratch run */
    const char *only[][2] = {{"--delta-rank", "2"}, {"--noise", "0.1"}, {"--pretrain-epochs", "5"}};
    for (int i = 0; i < 3; i++)
        CHECK(PARSE(&c, err, only[i][0], only[i][1]) == LD_EINPUT && strstr(err, only[i][0]) &&
                  strstr(err, "finetune"),
              "%s in scratch: '%s'", only[i][0], err);
}

/* ------------------------------------------------------------------------ */
/* repeats */

static void test_repeats(void)
{
    config c;
    char err[256];
    config_defaults(&c);
    c.epochs = 30;
    c.samples = 40;
    c.test_samples = 10;
    c.batch_size = 16; /* exercise the shuffled path too */
    const int S = 3, M = 5, E = 30;

    experiment_result one[3], all;
    for (int s = 0; s < S; s++) {
        c.seed = 42 + (uint64_t)s;
        c.repeats = 1;
        CHECK(experiment_run(&c, NULL, NULL, &one[s], err, sizeof err) == LD_OK, "%s", err);
        for (int i = 0; i < M; i++) {
            const model_result *m = &one[s].models[i];
            int zero = 1;
            for (int e = 0; e < E; e++)
                zero &= m->losses_std[e] == 0.0f;
            CHECK(zero && m->final_loss_std == 0.0f && m->test_loss_std == 0.0f,
                  "one repeat must have std 0");
            CHECK(m->final_loss == m->losses[E - 1] && m->final_losses[0] == m->final_loss,
                  "one repeat: the mean is the value");
        }
    }
    c.seed = 42;
    c.repeats = S;
    CHECK(experiment_run(&c, NULL, NULL, &all, err, sizeof err) == LD_OK, "%s", err);
    CHECK(all.repeats == S && all.seeds[0] == 42 && all.seeds[2] == 44, "seeds");
    for (int i = 0; i < M; i++) {
        const model_result *m = &all.models[i];
        double sum = 0.0, sum_e = 0.0;
        for (int s = 0; s < S; s++) {
            CHECK(m->test_losses[s] == one[s].models[i].test_loss &&
                      m->final_losses[s] == one[s].models[i].final_loss,
                  "model %d seed %d: a repeat differs from the single run of its seed", i, s);
            sum += m->test_losses[s];
            sum_e += one[s].models[i].losses[7];
        }
        const double mean = sum / S;
        double ss = 0.0, ss_e = 0.0;
        for (int s = 0; s < S; s++) {
            ss += (m->test_losses[s] - mean) * (m->test_losses[s] - mean);
            ss_e += (one[s].models[i].losses[7] - sum_e / S) * (one[s].models[i].losses[7] - sum_e / S);
        }
        const double sd = sqrt(ss / (S - 1)); /* sample std, n-1 */
        CHECK(fabs(m->test_loss - mean) <= 1e-6 * mean, "model %d: mean %.9g, want %.9g", i,
              (double)m->test_loss, mean);
        CHECK(fabs(m->test_loss_std - sd) <= 1e-5 * sd + 1e-9, "model %d: std %.9g, want %.9g (n-1)",
              i, (double)m->test_loss_std, sd);
        CHECK(fabs(m->losses[7] - sum_e / S) <= 1e-6 * sum_e &&
                  fabs(m->losses_std[7] - sqrt(ss_e / (S - 1))) <= 1e-5 * sqrt(ss_e) + 1e-9,
              "model %d: curve mean/std at epoch 8", i);
    }
    /* predictions shown are the first seed's */
    CHECK(memcmp(all.models[1].pred, one[0].models[1].pred, (size_t)3 * 5 * sizeof(float)) == 0,
          "predictions are not the first seed's");
    for (int s = 0; s < S; s++)
        experiment_result_free(&one[s]);
    experiment_result_free(&all);
}

/* ------------------------------------------------------------------------ */
/* the finding, and the run's outputs */

/* A small, fast finetune configuration: in 8, out 4. */
static void small_config(config *c, int delta_rank)
{
    config_defaults_for(c, EXPERIMENT_FINETUNE);
    c->in = 8;
    c->out = 4;
    c->samples = 200;
    c->test_samples = 400;
    c->epochs = 300;
    c->pretrain_epochs = 400;
    c->delta_rank = delta_rank;
    c->n_ranks = 4;
    for (int i = 0; i < 4; i++)
        c->ranks[i] = i + 1;
    c->quiet = 1;
}

/* Per seed: rank >= k within 10% of full fine-tuning's held-out MSE, rank
 * < k at least 2x worse; all near / far from the noise floor. */
static void check_finding(const experiment_result *res, int k, const char *what)
{
    const model_result *dense = &res->models[0];
    for (int s = 0; s < res->repeats; s++) {
        const double floor = res->noise_floor, d = dense->test_losses[s];
        CHECK(d < 1.2 * floor, "%s seed %llu: full fine-tuning test MSE %.4g, noise floor %.4g", what,
              (unsigned long long)res->seeds[s], d, floor);
        CHECK(dense->test_losses[s] < 0.01 * res->base_test_losses[s],
              "%s: fine-tuning did not improve on the base", what);
        for (int i = 1; i < res->n_models; i++) {
            const model_result *m = &res->models[i];
            const double ratio = m->test_losses[s] / d;
            if (m->rank >= k)
                CHECK(ratio <= 1.10, "%s seed %llu: %s (r >= k = %d) is %.3fx full fine-tuning", what,
                      (unsigned long long)res->seeds[s], m->name, k, ratio);
            else
                CHECK(ratio >= 2.0, "%s seed %llu: %s (r < k = %d) is only %.3fx full fine-tuning",
                      what, (unsigned long long)res->seeds[s], m->name, k, ratio);
        }
    }
}

static void test_finding(void)
{
    config c;
    char err[256];
    experiment_result res;

    small_config(&c, 2);
    c.seed = 1;
    c.repeats = 5;
    CHECK(experiment_run(&c, NULL, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    if (res.models != NULL) {
        check_finding(&res, 2, "small k=2");
        /* every model starts as the pretrained base: same first loss */
        for (int i = 1; i < res.n_models; i++)
            CHECK(res.models[i].losses[0] == res.models[0].losses[0],
                  "%s does not start from the base", res.models[i].name);
        for (int i = 1; i < res.n_models; i++)
            CHECK(res.models[i].merge_rel_diff <= 1e-5 && res.models[i].unmerge_max_diff <= 1e-6,
                  "%s: merge %.3g, unmerge %.3g", res.models[i].name,
                  (double)res.models[i].merge_rel_diff, (double)res.models[i].unmerge_max_diff);
        CHECK(res.models[2].trainable == (size_t)2 * (8 + 4) &&
                  res.models[0].trainable == (size_t)8 * 4 + 4 &&
                  res.models[2].optimizer_bytes == (size_t)2 * 24 * sizeof(float) &&
                  fabs(res.models[2].trainable_fraction - 24.0 / 36.0) < 1e-12,
              "trainable counts");
    }
    experiment_result_free(&res);

    small_config(&c, 3); /* the threshold moves with k */
    c.seed = 100;
    c.repeats = 3;
    CHECK(experiment_run(&c, NULL, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    if (res.models != NULL)
        check_finding(&res, 3, "small k=3");
    experiment_result_free(&res);

    config_defaults_for(&c, EXPERIMENT_FINETUNE); /* the documented default run */
    c.repeats = 3;
    CHECK(experiment_run(&c, NULL, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    if (res.models != NULL)
        check_finding(&res, 2, "default");
    experiment_result_free(&res);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_outputs(void)
{
    config c;
    char err[256];
    experiment_result res;
    small_config(&c, 2);
    c.epochs = 20;
    c.pretrain_epochs = 20;
    c.repeats = 2;
    c.rslora = 1;
    const char *dir = test_tmpdir("finetune");
    c.output_dir = dir;
    CHECK(experiment_run(&c, NULL, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_losses(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_summary(dir, &c, &res, err, sizeof err) == LD_OK, "%s", err);
    experiment_result_free(&res);

    char *p = path_join(dir, "summary.json");
    char *js = slurp(p);
    free(p);
    CHECK(js != NULL, "no summary.json");
    if (js != NULL) {
        const char *keys[] = {"\"experiment\": \"finetune\"", "\"delta_rank\": 2", "\"noise\": 0.01",
                              "\"pretrain_epochs\": 20", "\"repeats\": 2", "\"rslora\": true",
                              "\"seeds\": [42, 43]", "\"trainable_fraction\"", "\"optimizer_bytes\"",
                              "\"test_loss_before\"", "\"test_loss_std\"", "\"final_loss_std\"",
                              "\"test_loss_per_seed\"", "\"final_loss_per_seed\"",
                              "\"merge_max_abs_diff\"", "\"unmerge_max_abs_diff\"",
                              "\"test_ratio_to_dense\""};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            CHECK(strstr(js, keys[i]) != NULL, "summary.json lacks %s", keys[i]);
        free(js);
    }
    p = path_join(dir, "losses_std.csv");
    char *csv = slurp(p);
    free(p);
    CHECK(csv != NULL && strncmp(csv, "epoch,dense,lora_r1,lora_r2,lora_r3,lora_r4\n1,", 46) == 0,
          "losses_std.csv header");
    free(csv);
}

void test_finetune(void)
{
    test_teacher();
    test_identity_at_start();
    test_base_untouched();
    test_base_cached();
    test_merge();
    test_options();
    test_repeats();
    test_finding();
    test_outputs();
}
