/* test_spectra.c - the first seed's spectra in a run (src/experiment/
 * spectra.c) and their files (src/report/spectra.c): what the teacher's
 * construction promises, that each spectrum is the SVD of the right matrix,
 * and the null spectra of diverged, interrupted and too large models.
 *
 * Dimension key: I in, O out, R rank, K rank of the shift.
 *
 * The promises of the teacher (teacher.h): dW has K equal singular values,
 * so any rank-r subspace holds at most r/K of its energy (r < K), and
 * full fine-tuning and LoRA of rank r >= K should find all of it. The SVD
 * and the measures themselves are checked against PyTorch in test_svd.c
 * and test_spectrum.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/svd.h"
#include "experiment/experiment.h"
#include "experiment/teacher.h"
#include "io/dataio.h"
#include "io/atomicio.h"
#include "io/json.h"
#include "report/report.h"
#include "report/spectra.h"
#include "test.h"

/* The whole file (NUL-terminated, *len bytes), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f != NULL ? calloc(1, 1 << 20) : NULL;
    *len = buf != NULL ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    return buf;
}

/* A small fine-tune: 8 -> 4, shift of rank 2, ranks 1..4, alpha 8, one seed. */
static void small_finetune(config *c)
{
    config_defaults_for(c, EXPERIMENT_FINETUNE);
    c->in = 8;
    c->out = 4;
    c->samples = 200;
    c->test_samples = 50;
    c->epochs = 300;
    c->pretrain_epochs = 300;
    c->delta_rank = 2;
    c->alpha = 8.0; /* scale 8 / r: a spectrum without it would show */
    c->quiet = 1;
    c->save_weights = 1;
}

/* Run c (with hooks, or NULL); 1 if it ran, else the failure is counted. */
static int run(const config *c, const experiment_hooks *hooks, experiment_result *res)
{
    char err[256];
    const ld_status st = experiment_run(c, NULL, hooks, res, err, sizeof err);
    CHECK(st == LD_OK, "%s", err);
    return st == LD_OK;
}

/* The default scratch run, shortened to `epochs`, quiet. */
static void scratch_config(config *c, int epochs)
{
    config_defaults(c);
    c->epochs = epochs;
    c->quiet = 1;
}

/* |a - b| <= tol max|b| over n values. */
static int close_rel(const double *a, const double *b, int n, double tol)
{
    double big = 0.0, worst = 0.0;
    for (int i = 0; i < n; i++) {
        big = fmax(big, fabs(b[i]));
        worst = fmax(worst, fabs(a[i] - b[i]));
    }
    return worst <= tol * big;
}

/* The spectrum kept for model m is the SVD of its saved final weights:
 * dense W - W0, LoRA s B A formed in double. */
static void check_is_svd_of_weights(const experiment_result *res, const model_result *m)
{
    const int O = res->out, I = res->in, k = O < I ? O : I;
    double *d = malloc((size_t)O * (size_t)I * sizeof *d), s[16];
    char err[256];
    CHECK(d != NULL && m->final_params != NULL && k <= 16, "%s: weights kept", m->name);
    if (d == NULL || m->final_params == NULL || k > 16) {
        free(d);
        return;
    }
    const float *p = m->final_params;
    if (m->rank == 0) {
        for (int i = 0; i < O * I; i++)
            d[i] = (double)p[i] - (double)res->base_w[i]; /* weight first (model.h) */
    } else {
        const int R = m->rank;
        const float *A = p + m->tensors[0].offset, *B = p + m->tensors[1].offset;
        CHECK(strcmp(m->tensors[0].name, "lora_A.weight") == 0, "%s: A first", m->name);
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                double acc = 0.0;
                for (int r = 0; r < R; r++)
                    acc += (double)B[o * R + r] * (double)A[r * I + i];
                d[o * I + i] = (double)m->scale * acc;
            }
    }
    CHECK(svd(s, NULL, NULL, d, O, I, err, sizeof err) == LD_OK, "%s", err);
    const layer_spectrum *ls = &m->spectra[0];
    CHECK(ls->k == (m->rank ? m->rank : k), "%s: %d values", m->name, ls->k);
    CHECK(ls->k <= k && close_rel(ls->sigma, s, ls->k, 1e-6),
          "%s: the kept values are not the SVD of the saved weights (%.9g vs %.9g)", m->name,
          ls->sigma[0], s[0]);
    free(d);
}

static void test_finetune_spectra(void)
{
    config c;
    small_finetune(&c);
    experiment_result res;
    if (!run(&c, NULL, &res))
        return;
    const layer_spectrum *sh = &res.shift[0];
    CHECK(res.shift_rank == 2 && sh->k == 4 && sh->rank_threshold == 2 &&
              fabs(sh->rank_entropy - 2.0) < 1e-6 && fabs(sh->sigma[0] - sh->sigma[1]) < 1e-6 * sh->sigma[0],
          "the shift: rank 2 with equal values (k %d, rank %d, entropy %.9g)", sh->k,
          sh->rank_threshold, sh->rank_entropy);
    for (int i = 0; i < res.n_models; i++) {
        const model_result *m = &res.models[i];
        const layer_spectrum *ls = &m->spectra[0];
        CHECK(m->n_layers == 1 && ls->k > 0 && ls->why_null[0] == '\0', "%s: a spectrum", m->name);
        if (ls->k == 0)
            continue;
        check_is_svd_of_weights(&res, m);
        if (m->rank == 1) {
            /* a line holds at most 1/2 of two equal directions; it finds it */
            CHECK(ls->energy <= 0.5 + 1e-6 && ls->energy > 0.49, "%s: energy %.9g, want 1/2",
                  m->name, ls->energy);
            CHECK(ls->n_cosines == 1 && ls->cosines[0] > 0.999, "%s: its line lies in dW's plane",
                  m->name);
        } else {
            CHECK(ls->energy > 0.999 && ls->energy <= 1.0 + 1e-12, "%s: energy %.9g, want 1",
                  m->name, ls->energy);
            CHECK(ls->n_cosines == 2 && ls->cosines[1] > 0.999, "%s: dW's plane (%d cosines)",
                  m->name, ls->n_cosines);
        }
        CHECK(m->rank == 1 || ls->rank_threshold == 2, "%s: effective rank %d, want 2", m->name,
              ls->rank_threshold);
    }
    experiment_result_free(&res);
}

/* The tensor of m's saved parameters named "layers.<l>.<what>", or NULL. */
static const float *net_tensor(const model_result *m, int l, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "layers.%d.%s", l, what);
    for (int t = 0; t < m->n_tensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0)
            return m->final_params + m->tensors[t].offset;
    return NULL;
}

/* Layer l (O,I) of a network model: the kept values are the SVD of its
 * saved final weights (dense W_l - W0_l, base_w0 its base; LoRA s B_l A_l). */
static void check_layer_is_svd(const model_result *m, int l, int O, int I, const float *base_w0)
{
    const int k = O < I ? O : I;
    double d[64], s[8];
    char err[256];
    const float *W = net_tensor(m, l, "weight"), *A = net_tensor(m, l, "lora_A.weight");
    const float *B = net_tensor(m, l, "lora_B.weight");
    CHECK(O * I <= 64 && k <= 8 && m->final_params != NULL && (W != NULL || (A && B)),
          "%s layer %d: weights kept", m->name, l);
    if (O * I > 64 || k > 8 || m->final_params == NULL || (W == NULL && (A == NULL || B == NULL)))
        return;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double acc = 0.0;
            if (W != NULL) {
                acc = (double)W[o * I + i] - (double)base_w0[o * I + i];
            } else {
                for (int r = 0; r < m->rank; r++)
                    acc += (double)B[o * m->rank + r] * (double)A[r * I + i];
                acc *= (double)m->scale;
            }
            d[o * I + i] = acc;
        }
    CHECK(svd(s, NULL, NULL, d, O, I, err, sizeof err) == LD_OK, "%s", err);
    const layer_spectrum *ls = &m->spectra[l];
    CHECK(ls->k == (m->rank ? m->rank : k) && ls->k <= k && close_rel(ls->sigma, s, ls->k, 1e-6),
          "%s layer %d: the kept values are not the SVD of the saved weights (%d values, %.9g "
          "vs %.9g)", m->name, l, ls->k, ls->k > 0 ? ls->sigma[0] : 0.0, s[0]);
}

/* A --hidden network, the fine-tune default with --hidden 6 (10 -> 6 -> 5),
 * every layer shifted with rank 2: each
 * layer's shift is the one task 2's teacher applies (rank 2, equal values,
 * ||dW_l|| = 1/2 ||W0_l||), and each layer's update is compared with its
 * own layer's shift, as the one-layer test does. */
static void test_network_spectra(void)
{
    config c;
    config_defaults_for(&c, EXPERIMENT_FINETUNE); /* ranks 1 to 4 */
    c.n_hidden = 1;
    c.hidden[0] = 6;
    c.quiet = 1;
    c.save_weights = 1;
    experiment_result res;
    if (!run(&c, NULL, &res))
        return;
    static const int Ol[2] = {6, 5}, Il[2] = {10, 6};
    CHECK(res.in == 10 && res.out == 5, "the fine-tune default is 10 -> 5, not %d -> %d", res.in,
          res.out);
    CHECK(res.shift_rank == 2 && res.n_shift_layers == 2 && isnan(res.shift_energy),
          "network: %d shift layers of rank %d, energy %g (want 2, 2, NaN)", res.n_shift_layers,
          res.shift_rank, res.shift_energy);
    const float *w0 = res.base_w;
    for (int l = 0; l < 2 && w0 != NULL; l++) {
        const layer_spectrum *sh = &res.shift[l];
        const double wn = frobenius(w0, Ol[l], Il[l]);
        double e = 0.0;
        for (int i = 0; i < sh->k; i++)
            e += sh->sigma[i] * sh->sigma[i];
        CHECK(sh->k == (Ol[l] < Il[l] ? Ol[l] : Il[l]) && sh->rank_threshold == 2 &&
                  fabs(sh->sigma[0] - sh->sigma[1]) < 1e-6 * sh->sigma[0] &&
                  fabs(sqrt(e) - 0.5 * wn) < 1e-5 * wn,
              "network shift, layer %d: %d values, rank %d, ||dW|| %.9g, want 1/2 ||W0|| = %.9g",
              l, sh->k, sh->rank_threshold, sqrt(e), 0.5 * wn);
        for (int i = 0; i < res.n_models; i++) {
            const model_result *m = &res.models[i];
            const layer_spectrum *ls = &m->spectra[l];
            CHECK(m->n_layers == 2 && ls->k > 0, "%s layer %d: a spectrum", m->name, l);
            if (m->n_layers != 2 || ls->k == 0)
                continue;
            check_layer_is_svd(m, l, Ol[l], Il[l], w0);
            if (m->rank == 1) { /* r = 1 < k = 2: about half, never more */
                CHECK(ls->energy <= 0.5 + 1e-6 && ls->energy > 0.4 && ls->n_cosines == 1 &&
                          ls->cosines[0] > 0.95,
                      "%s layer %d: energy %.9g, want about 1/2", m->name, l, ls->energy);
            } else {
                CHECK(ls->energy > 0.99 && ls->energy <= 1.0 + 1e-12 && ls->n_cosines == 2 &&
                          ls->cosines[1] > 0.99,
                      "%s layer %d: energy %.9g, want 1 (%d cosines)", m->name, l, ls->energy,
                      ls->n_cosines);
            }
        }
        w0 += (size_t)Ol[l] * (size_t)Il[l];
    }
    CHECK(res.base_w != NULL, "network: base kept");
    /* the files: the shift's rows and lines for every layer, and its layers
     * in summary.json with each layer's energy */
    const char *dir = test_tmpdir("spectra_network");
    char err[256];
    c.output_dir = dir;
    CHECK(report_write_summary(dir, &c, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_spectrum_csv(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_spectrum_svg(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    const double e11 = res.models[1].spectra[1].energy; /* lora_r1, layer 1 */
    experiment_result_free(&res);
    size_t len = 0;
    char *p = path_join(dir, "spectrum.csv");
    char *txt = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    CHECK(txt != NULL && strstr(txt, "\nlora_r4,1,4,") != NULL &&
              strstr(txt, "\nshift,0,6,") != NULL && strstr(txt, "\nshift,1,5,") != NULL &&
              strstr(txt, "\nshift,1,6,") == NULL,
          "spectrum.csv: every layer's rows, the shift's too");
    free(txt);
    p = path_join(dir, "spectrum.svg");
    txt = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    CHECK(txt != NULL && strstr(txt, "each layer&#39;s learned update") != NULL &&
              strstr(txt, "<title>dense, layer 0</title>") != NULL &&
              strstr(txt, "<title>shift dW (teacher), layer 1</title>") != NULL,
          "spectrum.svg: one set of lines per layer, named by layer");
    free(txt);
    p = path_join(dir, "summary.json");
    txt = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    json_value *root = NULL;
    CHECK(txt != NULL && json_parse(txt, len, &root, err, sizeof err) == LD_OK, "summary.json: %s",
          err);
    if (root != NULL) {
        const json_value *sh = json_get(json_get(root, "shift"), "layers");
        const json_value *r1 = json_at(json_get(json_at(json_get(root, "models"), 1), "layers"), 1);
        const json_value *sh1 = json_at(sh, 1);
        CHECK(json_length(sh) == 2 && json_length(json_get(sh1, "singular_values")) == 5 &&
                  json_number(json_get(sh1, "layer")) == 1.0,
              "summary.json: the shift of both layers");
        CHECK(json_number(json_get(r1, "energy_captured")) == e11,
              "summary.json: lora_r1 layer 1's energy");
    }
    json_free(root);
    free(txt);
}

/* Scratch: the learned weights, nothing to compare with. */
static void test_scratch_spectra(void)
{
    config c;
    scratch_config(&c, 20);
    experiment_result res;
    if (!run(&c, NULL, &res))
        return;
    CHECK(res.shift_rank == 0 && res.shift[0].k == 0, "no shift in scratch");
    for (int i = 0; i < res.n_models; i++) {
        const layer_spectrum *ls = &res.models[i].spectra[0];
        CHECK(ls->k == (i == 0 ? 5 : res.models[i].rank) && isnan(ls->energy) &&
                  ls->n_cosines == 0 && ls->rank_threshold >= 1,
              "%s: %d values, energy %g", res.models[i].name, ls->k, ls->energy);
    }
    experiment_result_free(&res);
}

/* lr 1e10 diverges every LoRA model at epoch 2 (test_faults.c): their
 * spectra are null with that reason, in summary.json and spectrum.csv. */
static void test_diverged(void)
{
    config c;
    scratch_config(&c, 10);
    c.lr = 1e10;
    const char *dir = test_tmpdir("spectra_diverged");
    c.output_dir = dir;
    experiment_result res;
    char err[256];
    if (!run(&c, NULL, &res))
        return;
    CHECK(res.models[0].spectra[0].k == 5, "dense did not diverge: it has a spectrum");
    for (int i = 1; i < res.n_models; i++)
        CHECK(res.models[i].spectra[0].k == 0 &&
                  strcmp(res.models[i].spectra[0].why_null, "diverged at epoch 2") == 0,
              "%s: '%s'", res.models[i].name, res.models[i].spectra[0].why_null);
    CHECK(report_write_summary(dir, &c, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_spectrum_csv(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    CHECK(report_write_spectrum_svg(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    experiment_result_free(&res);

    size_t len = 0;
    char *p = path_join(dir, "summary.json");
    char *js = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    json_value *root = NULL;
    CHECK(js != NULL && json_parse(js, len, &root, err, sizeof err) == LD_OK, "summary.json: %s", err);
    if (root != NULL) {
        const json_value *ms = json_get(root, "models");
        const json_value *dense = json_at(json_get(json_at(ms, 0), "layers"), 0);
        const json_value *r2 = json_at(json_get(json_at(ms, 2), "layers"), 0);
        CHECK(json_length(json_get(dense, "singular_values")) == 5 &&
                  json_type_of(json_get(dense, "null_reason")) == JSON_NULL &&
                  json_type_of(json_get(dense, "energy_captured")) == JSON_NULL,
              "dense: five values, no reason, no energy in scratch");
        CHECK(json_type_of(json_get(r2, "singular_values")) == JSON_NULL &&
                  json_type_of(json_get(r2, "effective_rank_1pct")) == JSON_NULL &&
                  strcmp(json_string(json_get(r2, "null_reason")), "diverged at epoch 2") == 0,
              "lora_r2: null spectra with the reason");
        CHECK(json_type_of(json_get(root, "shift")) == JSON_NULL, "no shift in scratch");
    }
    json_free(root);
    free(js);
    p = path_join(dir, "spectrum.csv");
    js = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    static const char head[] = "model,layer,index,sigma\ndense,0,1,";
    CHECK(js != NULL && strncmp(js, head, sizeof head - 1) == 0 &&
              strstr(js, "lora_") == NULL,
          "spectrum.csv: dense's rows only");
    free(js);
}

/* The stop flag, raised after epoch 3 of lora_r2. */
static volatile sig_atomic_t stop_flag;
static void stop_at(void *ctx, const experiment_progress *p)
{
    (void)ctx;
    if (strcmp(p->model, "lora_r2") == 0 && p->epoch == 3)
        stop_flag = 1;
}

static void test_interrupted(void)
{
    config c;
    scratch_config(&c, 10);
    stop_flag = 0;
    const experiment_hooks hooks = {&stop_flag, stop_at, NULL};
    experiment_result res;
    if (!run(&c, &hooks, &res))
        return;
    CHECK(res.models[1].spectra[0].k == 1, "lora_r1 finished: a spectrum");
    CHECK(strcmp(res.models[2].spectra[0].why_null, "interrupted at epoch 3") == 0,
          "lora_r2: '%s'", res.models[2].spectra[0].why_null);
    CHECK(strcmp(res.models[3].spectra[0].why_null, "not trained") == 0, "lora_r3: '%s'",
          res.models[3].spectra[0].why_null);
    experiment_result_free(&res);
}

/* A full matrix above SPECTRA_MAX_DENSE is not decomposed; LoRA still is. */
static void test_too_large(void)
{
    config c;
    scratch_config(&c, 1);
    c.in = c.out = 1025;
    c.samples = 4;
    c.test_samples = 2;
    c.n_ranks = 1;
    experiment_result res;
    if (!run(&c, NULL, &res))
        return;
    CHECK(res.models[0].spectra[0].k == 0 &&
              strcmp(res.models[0].spectra[0].why_null, "too large: min(out, in) = 1025 > 1024") == 0,
          "dense 1025 x 1025: '%s'", res.models[0].spectra[0].why_null);
    CHECK(res.models[1].spectra[0].k == 1, "lora_r1 at 1025 x 1025 has its spectrum");
    experiment_result_free(&res);

    /* finetune: dW is not decomposed either, so there is nothing to measure
     * LoRA's update against; its norm (for the rank bound) is still known */
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    c.in = c.out = 1025;
    c.samples = 4;
    c.test_samples = 2;
    c.epochs = c.pretrain_epochs = 1;
    c.ranks[0] = c.delta_rank = 1;
    c.n_ranks = 1;
    c.quiet = 1;
    if (!run(&c, NULL, &res))
        return;
    CHECK(res.shift[0].k == 0 && strncmp(res.shift[0].why_null, "too large", 9) == 0 &&
              isfinite(res.shift_energy) && res.shift_energy > 0.0,
          "the shift at 1025 x 1025: '%s', energy %g", res.shift[0].why_null, res.shift_energy);
    CHECK(res.models[1].spectra[0].k == 1 && isnan(res.models[1].spectra[0].energy) &&
              res.models[1].spectra[0].n_cosines == 0,
          "lora_r1: a spectrum, no energy or angles without dW's");
    experiment_result_free(&res);
}

/* The bound of teacher.h, on numbers chosen by hand. */
static void test_rank_bound(void)
{
    experiment_result res;
    memset(&res, 0, sizeof res);
    res.out = 5;
    res.noise_floor = 1e-4;
    res.shift_rank = 4;
    res.shift_energy = 0.8;
    /* noise^2 + (4 - r)/4 * 0.8 / 5 */
    CHECK(fabs(experiment_rank_bound(&res, 1) - (1e-4 + 0.12)) < 1e-15, "bound r=1: %.17g",
          experiment_rank_bound(&res, 1));
    CHECK(fabs(experiment_rank_bound(&res, 3) - (1e-4 + 0.04)) < 1e-15, "bound r=3: %.17g",
          experiment_rank_bound(&res, 3));
    CHECK(experiment_rank_bound(&res, 4) == 1e-4 && experiment_rank_bound(&res, 5) == 1e-4,
          "bound r >= k: the noise floor");
    res.shift_rank = 0;
    CHECK(isnan(experiment_rank_bound(&res, 1)), "no teacher: no bound");
}

/* --ranks all in a fine-tune: every rank, rank.svg with the bound dashed,
 * and LoRA below k no lower than the bound (within the held-out noise). */
static void test_rank_sweep(void)
{
    config c;
    small_finetune(&c);
    c.test_samples = 2000; /* the bound is on the expected MSE: enough samples to see it */
    c.ranks_all = 1;
    char err[256];
    CHECK(config_resolve_ranks(&c, err, sizeof err) == LD_OK && c.n_ranks == 4, "%s", err);
    const char *dir = test_tmpdir("spectra_sweep");
    experiment_result res;
    if (!run(&c, NULL, &res))
        return;
    const double b1 = experiment_rank_bound(&res, 1);
    CHECK(res.models[1].test_loss >= 0.9 * b1 && res.models[1].test_loss <= 1.5 * b1,
          "lora_r1: held-out MSE %.4g against the bound %.4g", (double)res.models[1].test_loss, b1);
    CHECK(experiment_rank_bound(&res, 2) == res.noise_floor, "rank k: the noise floor");
    CHECK(report_write_rank_svg(dir, &res, err, sizeof err) == LD_OK, "%s", err);
    experiment_result_free(&res);
    size_t len = 0;
    char *p = path_join(dir, "rank.svg");
    char *svg = p != NULL ? slurp(p, &len) : NULL;
    free(p);
    const char *bound = svg != NULL ? strstr(svg, "id=\"curve-2\"") : NULL;
    CHECK(svg != NULL && strstr(svg, "id=\"curve-0\"") != NULL && bound != NULL &&
              strstr(bound, "stroke-dasharray") != NULL && strstr(svg, "LoRA rank r") != NULL,
          "rank.svg: LoRA, full fine-tuning and the dashed bound");
    free(svg);

    /* with a file, 'all' waits for its sizes */
    config_defaults(&c);
    c.ranks_all = 1;
    const input_sizes sizes = {"data.csv", 3, 7, 10, 2};
    CHECK(config_merge_sizes(&c, &sizes, err, sizeof err) == LD_OK && c.n_ranks == 3 &&
              c.ranks[2] == 3,
          "--ranks all with a 3 -> 7 file: %d ranks (%s)", c.n_ranks, err);
}

void test_spectra(void)
{
    test_rank_bound();
    test_rank_sweep();
    test_finetune_spectra();
    test_network_spectra();
    test_scratch_spectra();
    test_diverged();
    test_interrupted();
    test_too_large();
}
