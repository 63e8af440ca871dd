/* spectra.c - spectrum.csv, spectrum.svg, the spectra in summary.json and
 * the table cells; spectra.h says what each holds. */
#include "report/spectra.h"

#include <math.h>
#include <stdlib.h>

#include "io/atomicio.h"
#include "io/json.h"
#include "report/svg.h"

/* The name the shift's rows and curve go by. */
#define SHIFT_NAME "shift"

static int has_shift(const experiment_result *res)
{
    return res->shift_rank > 0;
}

/* One layer's rows of spectrum.csv. */
static void csv_rows(FILE *fp, const char *name, int layer, const layer_spectrum *ls)
{
    for (int i = 0; i < ls->k; i++) {
        fprintf(fp, "%s,%d,%d,", name, layer, i + 1);
        json_write_number(fp, ls->sigma[i]);
        fputc('\n', fp);
    }
}

ld_status report_write_spectrum_csv(const char *dir, const experiment_result *res, char *err,
                                    size_t errlen)
{
    char *path = path_join(dir, "spectrum.csv");
    if (path == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    atomic_file af;
    ld_status st = atomic_open(&af, path, err, errlen);
    free(path);
    if (st != LD_OK)
        return st;
    fputs("model,layer,index,sigma\n", af.fp);
    for (int i = 0; i < res->n_models; i++)
        for (int l = 0; l < res->models[i].n_layers; l++)
            csv_rows(af.fp, res->models[i].name, l, &res->models[i].spectra[l]);
    for (int l = 0; has_shift(res) && l < res->n_shift_layers; l++)
        csv_rows(af.fp, SHIFT_NAME, l, &res->shift[l]);
    return atomic_commit(&af, err, errlen);
}

/* Layers the spectra span: 1, or a network's (the most any model or the
 * shift has). */
static int spectra_layers(const experiment_result *res)
{
    int n = res->n_shift_layers > 1 ? res->n_shift_layers : 1;
    for (int i = 0; i < res->n_models; i++)
        if (res->models[i].n_layers > n)
            n = res->models[i].n_layers;
    return n;
}

/* Curve c of spectrum.svg: layer c / P, entry c % P of the models and then
 * the shift (P of them); a network's names say the layer. */
static const layer_spectrum *svg_curve(const experiment_result *res, int c, int P, int nl,
                                       char *name, size_t len)
{
    const int l = c / P, j = c % P, shift = j == res->n_models;
    const char *what = shift ? "shift dW (teacher)" : res->models[j].name;
    if (nl == 1)
        snprintf(name, len, "%s", what);
    else
        snprintf(name, len, "%s, layer %d", what, l);
    return shift ? &res->shift[l] : &res->models[j].spectra[l];
}

ld_status report_write_spectrum_svg(const char *dir, const experiment_result *res, char *err,
                                    size_t errlen)
{
    enum { NAME = 48 };
    const int nl = spectra_layers(res), P = res->n_models + (has_shift(res) ? 1 : 0);
    const int C = P * nl; /* one set of lines per layer */
    const layer_spectrum **curves = malloc((size_t)C * sizeof(const layer_spectrum *));
    const char **names = malloc((size_t)C * sizeof *names);
    char *name_mem = malloc((size_t)C * NAME);
    unsigned char *dashed = calloc((size_t)C, 1);
    int X = 1;
    for (int c = 0; curves != NULL && names != NULL && name_mem != NULL && c < C; c++) {
        names[c] = name_mem + (size_t)c * NAME;
        curves[c] = svg_curve(res, c, P, nl, name_mem + (size_t)c * NAME, NAME);
        if (curves[c]->k > X)
            X = curves[c]->k;
    }
    double *values = malloc((size_t)X * (size_t)C * sizeof *values); /* (X, C) */
    char *path = path_join(dir, "spectrum.svg");
    ld_status st = LD_OK;
    if (curves == NULL || names == NULL || name_mem == NULL || dashed == NULL || values == NULL ||
        path == NULL) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory drawing spectrum.svg");
    } else {
        for (int c = 0; c < C; c++) {
            dashed[c] = c % P == res->n_models;
            /* the shift: its K nonzero values; the rest are the rounding
             * of dW to float (about 1e-8 of them), which would only
             * stretch the axis */
            const int n = dashed[c] && res->shift_rank < curves[c]->k ? res->shift_rank
                                                                      : curves[c]->k;
            for (int x = 0; x < X; x++)
                values[(size_t)x * (size_t)C + (size_t)c] = x < n ? curves[c]->sigma[x] : NAN;
        }
        const char *title =
            res->experiment != EXPERIMENT_FINETUNE
                ? (nl == 1 ? "lora_demo: singular values of each learned weight, first seed"
                           : "lora_demo: singular values of each layer's learned weight, first seed")
                : (nl == 1 ? "lora_demo: singular values of each learned update, first seed"
                           : "lora_demo: singular values of each layer's learned update, first seed");
        const svg_lines fig = {title, "index (largest first)", "singular value (log scale)",
                               names, C, values, X, dashed, nl > 1 ? P : 0};
        st = svg_write_lines(path, &fig, err, errlen);
    }
    free(curves);
    free(names);
    free(name_mem);
    free(dashed);
    free(values);
    free(path);
    return st;
}

ld_status report_write_rank_svg(const char *dir, const experiment_result *res, char *err,
                                size_t errlen)
{
    enum { LORA, FULL, BOUND, C };
    static const char *const names[C] = {"LoRA of rank r", "full fine-tuning",
                                         "bound: noise^2 + (k-r)/k ||dW||^2/out"};
    static const char *const scratch_names[C] = {"LoRA of rank r", "dense", ""};
    static const unsigned char dashed[C] = {0, 0, 1};
    const int ft = res->experiment == EXPERIMENT_FINETUNE;
    /* the bound needs the teacher's dW, and one layer (docs/spectra.md) */
    const int nc = ft && res->shift_rank > 0 && res->n_shift_layers == 1 ? C : BOUND;
    int X = 1;
    for (int i = 1; i < res->n_models; i++)
        if (res->models[i].rank > X)
            X = res->models[i].rank;
    double *values = malloc((size_t)X * (size_t)nc * sizeof *values); /* (X, nc) */
    char *path = path_join(dir, "rank.svg");
    ld_status st = LD_OK;
    if (values == NULL || path == NULL) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory drawing rank.svg");
    } else {
        for (int x = 0; x < X; x++) {
            double *row = values + (size_t)x * (size_t)nc;
            row[LORA] = NAN;
            row[FULL] = (double)res->models[0].test_loss;
            if (nc == C)
                row[BOUND] = experiment_rank_bound(res, x + 1);
        }
        for (int i = 1; i < res->n_models; i++)
            values[(size_t)(res->models[i].rank - 1) * (size_t)nc + LORA] =
                (double)res->models[i].test_loss;
        const svg_lines fig = {res->repeats > 1 ? "lora_demo: held-out MSE against LoRA rank, mean of seeds"
                                                : "lora_demo: held-out MSE against LoRA rank",
                               "LoRA rank r", "held-out MSE (log scale)", ft ? names : scratch_names,
                               nc, values, X, dashed, 0};
        st = svg_write_lines(path, &fig, err, errlen);
    }
    free(values);
    free(path);
    return st;
}

/* A JSON array of n doubles. */
static void json_doubles(FILE *fp, const double *x, int n)
{
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", fp);
        json_write_number(fp, x[i]);
    }
    fputc(']', fp);
}

/* One layer's object. */
static void json_layer(FILE *fp, int l, const layer_spectrum *ls)
{
    fprintf(fp, "{\"layer\": %d, \"singular_values\": ", l);
    if (ls->k == 0) {
        fputs("null, \"effective_rank_1pct\": null, \"effective_rank_entropy\": null, "
              "\"energy_captured\": null, \"principal_angle_cosines\": null, \"null_reason\": ",
              fp);
        json_write_string(fp, ls->why_null);
        fputc('}', fp);
        return;
    }
    json_doubles(fp, ls->sigma, ls->k);
    fprintf(fp, ", \"effective_rank_1pct\": %d, \"effective_rank_entropy\": ", ls->rank_threshold);
    json_write_number(fp, ls->rank_entropy);
    fputs(", \"energy_captured\": ", fp);
    json_write_number(fp, ls->energy); /* null when NaN: no shift to capture */
    fputs(", \"principal_angle_cosines\": ", fp);
    if (ls->n_cosines > 0)
        json_doubles(fp, ls->cosines, ls->n_cosines);
    else
        fputs("null", fp);
    fputs(", \"null_reason\": null}", fp);
}

void report_json_layers(FILE *fp, const model_result *m)
{
    fputs(",\n     \"layers\": [", fp);
    for (int l = 0; l < m->n_layers; l++) {
        fputs(l ? ", " : "", fp);
        json_layer(fp, l, &m->spectra[l]);
    }
    fputc(']', fp);
}

void report_json_shift(FILE *fp, const experiment_result *res)
{
    if (!has_shift(res)) {
        fputs("  \"shift\": null,\n", fp);
        return;
    }
    fprintf(fp, "  \"shift\": {\"rank\": %d, \"layers\": [", res->shift_rank);
    for (int l = 0; l < res->n_shift_layers; l++) {
        fputs(l ? ", " : "", fp);
        json_layer(fp, l, &res->shift[l]);
    }
    fputs("]},\n", fp);
}

void report_rank_cell(char *cell, size_t len, const model_result *m)
{
    const layer_spectrum *ls = &m->spectra[0];
    if (m->n_layers < 1 || ls->k == 0)
        snprintf(cell, len, "-");
    else
        snprintf(cell, len, "%d/%.2f", ls->rank_threshold, ls->rank_entropy);
}

void report_energy_cell(char *cell, size_t len, const model_result *m)
{
    const layer_spectrum *ls = &m->spectra[0];
    if (m->n_layers < 1 || ls->k == 0 || !isfinite(ls->energy))
        snprintf(cell, len, "-");
    else
        snprintf(cell, len, "%.3f", ls->energy);
}
