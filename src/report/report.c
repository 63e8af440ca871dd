/* report.c - losses.csv, summary.json and the stdout tables. */
#include "report/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "io/json.h"
#include "report/export.h"
#include "report/spectra.h"
#include "report/svg.h"

_Static_assert(REPORT_MAX_ENTRIES <= STAGING_MAX_ENTRIES, "the result set fits staging.h");

size_t report_output_set(const config *cfg, staging_entry *set)
{
    size_t n = 0;
    set[n++] = (staging_entry){"losses.csv", 0, NULL};
    set[n++] = (staging_entry){"losses_std.csv", 0, NULL};
    set[n++] = (staging_entry){"losses.svg", 0, NULL};
    set[n++] = (staging_entry){"spectrum.csv", 0, NULL};
    set[n++] = (staging_entry){"spectrum.svg", 0, NULL};
    if (cfg->ranks_all)
        set[n++] = (staging_entry){"rank.svg", 0, NULL};
    n += export_output_set(cfg, set + n);
    /* Last: a reader who finds this run's summary.json finds the rest of
     * its set in place already. */
    set[n++] = (staging_entry){"summary.json", 0, NULL};
    return n;
}

/* Open dir/name for atomic writing. */
static ld_status open_out(atomic_file *af, const char *dir, const char *name, char *err,
                          size_t errlen)
{
    char *path = path_join(dir, name);
    if (path == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    ld_status st = atomic_open(af, path, err, errlen);
    free(path);
    return st;
}

/* One CSV of a per-epoch curve: the mean (std = 0) or the std (std = 1).
 * A value that does not exist (NaN: the model diverged, or an interrupt
 * stopped it before that epoch) is an empty cell, never "nan". */
static ld_status write_curves(const char *dir, const char *name, const experiment_result *res,
                              int std, char *err, size_t errlen)
{
    atomic_file af;
    ld_status st = open_out(&af, dir, name, err, errlen);
    if (st != LD_OK)
        return st;
    fputs("epoch", af.fp);
    for (int i = 0; i < res->n_models; i++)
        fprintf(af.fp, ",%s", res->models[i].name);
    fputc('\n', af.fp);
    for (int e = 0; e < res->epochs; e++) {
        fprintf(af.fp, "%d", e + 1);
        for (int i = 0; i < res->n_models; i++) {
            const float *curve = std ? res->models[i].losses_std : res->models[i].losses;
            if (isfinite(curve[e]))
                fprintf(af.fp, ",%.9g", (double)curve[e]);
            else
                fputc(',', af.fp);
        }
        fputc('\n', af.fp);
    }
    return atomic_commit(&af, err, errlen);
}

ld_status report_write_losses(const char *dir, const experiment_result *res, char *err,
                              size_t errlen)
{
    ld_status st = write_curves(dir, "losses.csv", res, 0, err, errlen);
    if (st == LD_OK)
        st = write_curves(dir, "losses_std.csv", res, 1, err, errlen);
    return st;
}

/* A JSON string, or null for NULL. */
static void json_str_or_null(FILE *fp, const char *s)
{
    if (s != NULL)
        json_write_string(fp, s);
    else
        fputs("null", fp);
}

static void write_config(FILE *fp, const config *cfg)
{
    fprintf(fp, "  \"config\": {\n");
    fprintf(fp, "    \"experiment\": \"%s\",\n", config_experiment_name(cfg->experiment));
    fprintf(fp, "    \"epochs\": %d,\n", cfg->epochs);
    fprintf(fp, "    \"seed\": %llu,\n", (unsigned long long)cfg->seed);
    fprintf(fp, "    \"lr\": ");
    json_write_number(fp, cfg->lr);
    fprintf(fp, ",\n    \"samples\": %d,\n", cfg->samples);
    fprintf(fp, "    \"test_samples\": %d,\n", cfg->test_samples);
    fprintf(fp, "    \"in\": %d,\n", cfg->in);
    fprintf(fp, "    \"out\": %d,\n", cfg->out);
    if (cfg->n_hidden > 0) { /* only with --hidden: a one-layer summary is as it was */
        fprintf(fp, "    \"hidden\": [");
        for (int l = 0; l < cfg->n_hidden; l++)
            fprintf(fp, "%s%d", l ? ", " : "", cfg->hidden[l]);
        fprintf(fp, "],\n    \"activation\": \"%s\",\n", activation_name(cfg->activation));
    }
    fprintf(fp, "    \"ranks\": [");
    for (int i = 0; i < cfg->n_ranks; i++)
        fprintf(fp, "%s%d", i ? ", " : "", cfg->ranks[i]);
    fprintf(fp, "],\n    \"alpha\": ");
    if (cfg->alpha > 0)
        json_write_number(fp, cfg->alpha);
    else
        fputs("null", fp);
    fprintf(fp, ",\n    \"batch_size\": ");
    if (cfg->batch_size > 0)
        fprintf(fp, "%d", cfg->batch_size);
    else
        fputs("null", fp);
    fprintf(fp, ",\n    \"rslora\": %s", cfg->rslora ? "true" : "false");
    fprintf(fp, ",\n    \"loraplus_ratio\": ");
    json_write_number(fp, cfg->loraplus_ratio);
    fprintf(fp, ",\n    \"lora_dropout\": ");
    json_write_number(fp, cfg->lora_dropout);
    fprintf(fp, ",\n    \"dora\": %s", cfg->dora ? "true" : "false");
    fprintf(fp, ",\n    \"repeats\": %d", cfg->repeats);
    /* Options a run does not use are null: the finetune-only ones in a
     * scratch run, the teacher's with --data, pretraining's with
     * --base-weights. */
    const int ft = cfg->experiment == EXPERIMENT_FINETUNE;
    const int teacher = ft && cfg->data == NULL, pretrain = ft && cfg->base_weights == NULL;
    if (teacher) {
        fprintf(fp, ",\n    \"delta_rank\": %d,\n    \"noise\": ", cfg->delta_rank);
        json_write_number(fp, cfg->noise);
    } else {
        fprintf(fp, ",\n    \"delta_rank\": null,\n    \"noise\": null");
    }
    if (pretrain)
        fprintf(fp, ",\n    \"pretrain_epochs\": %d", cfg->pretrain_epochs);
    else
        fprintf(fp, ",\n    \"pretrain_epochs\": null");
    if (ft)
        fprintf(fp, ",\n    \"init\": \"%s\"", config_init_name(cfg->init));
    else
        fprintf(fp, ",\n    \"init\": null");
    fprintf(fp, ",\n    \"data\": ");
    json_str_or_null(fp, cfg->data);
    fprintf(fp, ",\n    \"test_data\": ");
    json_str_or_null(fp, cfg->test_data);
    fprintf(fp, ",\n    \"base_weights\": ");
    json_str_or_null(fp, cfg->base_weights);
    fprintf(fp, ",\n    \"save_data\": %s", cfg->save_data ? "true" : "false");
    fprintf(fp, ",\n    \"save_weights\": %s", cfg->save_weights ? "true" : "false");
    fprintf(fp, ",\n    \"output_dir\": ");
    json_write_string(fp, cfg->output_dir);
    fprintf(fp, ",\n    \"quiet\": %s\n  },\n", cfg->quiet ? "true" : "false");
}

/* A JSON array of n floats. */
static void json_floats(FILE *fp, const float *x, int n)
{
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", fp);
        json_write_float(fp, x[i]);
    }
    fputc(']', fp);
}

/* ", \"key\": value" for a double, and for a float (its shortest decimal). */
static void json_field(FILE *fp, const char *key, double x)
{
    fprintf(fp, ", \"%s\": ", key);
    json_write_number(fp, x);
}

static void json_field_f(FILE *fp, const char *key, float x)
{
    fprintf(fp, ", \"%s\": ", key);
    json_write_float(fp, x);
}

/* A JSON array of n ints; with zero_null, 0 is written as null. */
static void json_ints(FILE *fp, const int *x, int n, int zero_null)
{
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", fp);
        if (zero_null && x[i] == 0)
            fputs("null", fp);
        else
            fprintf(fp, "%d", x[i]);
    }
    fputc(']', fp);
}

/* The earliest nonzero of x (n), 0 if none. */
static int first_nonzero_min(const int *x, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (x[i] != 0 && (m == 0 || x[i] < m))
            m = x[i];
    return m;
}

/* ", \"diverged_at_epoch\": N or null" */
static void json_epoch_or_null(FILE *fp, const char *key, int epoch)
{
    if (epoch > 0)
        fprintf(fp, ", \"%s\": %d", key, epoch);
    else
        fprintf(fp, ", \"%s\": null", key);
}

/* summary.json's "pretrain" object (finetune). */
static void write_pretrain(FILE *fp, const config *cfg, const experiment_result *res)
{
    if (cfg->base_weights == NULL)
        fprintf(fp, "  \"pretrain\": {\"epochs\": %d", cfg->pretrain_epochs);
    else
        fprintf(fp, "  \"pretrain\": {\"epochs\": null");
    json_field(fp, "noise_floor", res->noise_floor);
    json_epoch_or_null(fp, "diverged_at_epoch", first_nonzero_min(res->pretrain_diverged_at, res->repeats));
    fprintf(fp, ",\n    \"epochs_trained_per_seed\": ");
    json_ints(fp, res->pretrain_epochs_done, res->repeats, 0);
    fprintf(fp, ", \"diverged_at_epoch_per_seed\": ");
    json_ints(fp, res->pretrain_diverged_at, res->repeats, 1);
    fprintf(fp, ",\n    \"final_loss_per_seed\": ");
    json_floats(fp, res->pretrain_losses, res->repeats);
    fprintf(fp, ",\n    \"test_loss_before_per_seed\": ");
    json_floats(fp, res->base_test_losses, res->repeats);
    fprintf(fp, "},\n");
}

/* One entry of summary.json's "models" array, without the separator. */
static void write_model(FILE *fp, const model_result *m, int ft, int repeats)
{
    fprintf(fp, "    {\"name\": ");
    json_write_string(fp, m->name);
    fprintf(fp, ", \"rank\": %d, \"trainable_params\": %zu", m->rank, m->trainable);
    json_field(fp, "trainable_fraction", m->trainable_fraction);
    fprintf(fp, ", \"optimizer_bytes\": %zu", m->optimizer_bytes);
    if (m->rank > 0) {
        json_field(fp, "alpha", m->alpha);
        json_field_f(fp, "scale", m->scale);
    }
    json_field_f(fp, "first_loss", m->first_loss);
    json_field_f(fp, "final_loss", m->final_loss);
    json_field_f(fp, "final_loss_std", m->final_loss_std);
    if (ft)
        json_field_f(fp, "test_loss_before", m->test_loss_before);
    json_field_f(fp, "test_loss", m->test_loss);
    json_field_f(fp, "test_loss_std", m->test_loss_std);
    json_field_f(fp, "test_ratio_to_dense", m->test_ratio);
    json_field_f(fp, "test_ratio_to_dense_min", m->test_ratio_min);
    json_field_f(fp, "test_ratio_to_dense_max", m->test_ratio_max);
    if (ft && m->rank > 0) {
        json_field_f(fp, "merge_max_abs_diff", m->merge_max_diff);
        json_field_f(fp, "merge_max_rel_diff", m->merge_rel_diff);
        json_field_f(fp, "unmerge_max_abs_diff", m->unmerge_max_diff);
    }
    fprintf(fp, ", \"setup_ms\": %.3f, \"train_ms\": %.3f", m->setup_ms, m->train_ms);
    json_epoch_or_null(fp, "diverged_at_epoch", m->diverged_first);
    fprintf(fp, ",\n     \"epochs_trained_per_seed\": ");
    json_ints(fp, m->epochs_done, repeats, 0);
    fprintf(fp, ", \"diverged_at_epoch_per_seed\": ");
    json_ints(fp, m->diverged_at, repeats, 1);
    fprintf(fp, ",\n     \"final_loss_per_seed\": ");
    json_floats(fp, m->final_losses, repeats);
    fprintf(fp, ", \"test_loss_per_seed\": ");
    json_floats(fp, m->test_losses, repeats);
    report_json_layers(fp, m);
    fprintf(fp, "}");
}

ld_status report_write_summary(const char *dir, const config *cfg, const experiment_result *res,
                               char *err, size_t errlen)
{
    atomic_file af;
    ld_status st = open_out(&af, dir, "summary.json", err, errlen);
    if (st != LD_OK)
        return st;
    FILE *fp = af.fp;
    const int ft = res->experiment == EXPERIMENT_FINETUNE;
    fprintf(fp, "{\n  \"experiment\": \"%s\",\n", config_experiment_name(res->experiment));
    fprintf(fp, "  \"interrupted\": %s,\n", res->interrupted ? "true" : "false");
    write_config(fp, cfg);
    fprintf(fp, "  \"seeds\": [");
    for (int s = 0; s < res->repeats; s++)
        fprintf(fp, "%s%llu", s ? ", " : "", (unsigned long long)res->seeds[s]);
    fprintf(fp, "],\n");
    if (ft)
        write_pretrain(fp, cfg, res);
    report_json_shift(fp, res);
    fprintf(fp, "  \"models\": [\n");
    for (int i = 0; i < res->n_models; i++) {
        write_model(fp, &res->models[i], ft, res->repeats);
        fprintf(fp, "%s\n", i + 1 < res->n_models ? "," : "");
    }
    fprintf(fp, "  ]\n}\n");
    return atomic_commit(&af, err, errlen);
}

ld_status report_write_svg(const char *dir, const config *cfg, const experiment_result *res,
                           char *err, size_t errlen)
{
    const size_t E = (size_t)res->epochs, C = (size_t)res->n_models;
    double *values = malloc(E * C * sizeof *values); /* E*C floats already exist */
    const char **names = malloc(C * sizeof *names);
    char *path = path_join(dir, "losses.svg");
    ld_status st = LD_OK;
    if (values == NULL || names == NULL || path == NULL) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory drawing losses.svg");
    } else {
        for (size_t c = 0; c < C; c++) {
            names[c] = res->models[c].name;
            for (size_t e = 0; e < E; e++)
                values[e * C + c] = res->models[c].losses[e];
        }
        char title[128];
        if (res->repeats > 1)
            snprintf(title, sizeof title, "lora_demo: %s experiment, mean of seeds %llu..%llu",
                     config_experiment_name(res->experiment), (unsigned long long)res->seeds[0],
                     (unsigned long long)res->seeds[res->repeats - 1]);
        else
            snprintf(title, sizeof title, "lora_demo: %s experiment, seed %llu",
                     config_experiment_name(res->experiment), (unsigned long long)cfg->seed);
        st = svg_write_losses(path, title, "training MSE (log scale)", names, (int)C, values,
                              res->epochs, err, errlen);
    }
    free(values);
    free(names);
    free(path);
    return st;
}

/* 1 if the text holds a nonzero digit. */
static int has_nonzero_digit(const char *s)
{
    for (; *s != '\0' && *s != 'e'; s++)
        if (*s >= '1' && *s <= '9')
            return 1;
    return 0;
}

void report_format_number(char *cell, size_t len, int w, int prec, double x)
{
    snprintf(cell, len, "%.*f", prec, x);
    if ((int)strlen(cell) <= w && (x == 0.0 || has_nonzero_digit(cell)))
        return;
    for (int q = 3; q >= 0; q--) {
        snprintf(cell, len, "%.*e", q, x);
        if ((int)strlen(cell) <= w)
            return;
    }
}

/* One number in a column w wide: conv 'f' is report_format_number with
 * prec digits; 't', for timings, is "%.<prec>f" even where that shows 0.00,
 * and report_format_number only when it does not fit; 'g' is %.<prec>g
 * (never wider than 10). "-" where there is none. */
static void format_cell(char *cell, size_t len, int w, char conv, int prec, double x)
{
    if (!isfinite(x))
        snprintf(cell, len, "-");
    else if (conv == 'g')
        snprintf(cell, len, "%.*g", prec, x);
    else if (conv == 't' && snprintf(cell, len, "%.*f", prec, x) <= w)
        return;
    else
        report_format_number(cell, len, w, prec, x);
}

/* One number of a table in a column of width w. */
static void print_num(FILE *fp, int w, char conv, int prec, double x)
{
    char cell[64];
    format_cell(cell, sizeof cell, w, conv, prec, x);
    fprintf(fp, " %*s", w, cell);
}

/* The predictions on the first held-out rows, beside their targets (a
 * model that did not finish training has none). */
static void print_predictions(FILE *fp, const experiment_result *res)
{
    for (int p = 0; p < res->n_pred; p++) {
        fprintf(fp, "\nheld-out input %d%s\n", p + 1, res->repeats > 1 ? " (first seed)" : "");
        fprintf(fp, "  %-10s", "target");
        for (int o = 0; o < res->out; o++)
            print_num(fp, 9, 'f', 4, (double)res->pred_y[(size_t)p * res->out + o]);
        fputc('\n', fp);
        for (int i = 0; i < res->n_models; i++) {
            fprintf(fp, "  %-10s", res->models[i].name);
            for (int o = 0; o < res->out; o++)
                print_num(fp, 9, 'f', 4, (double)res->models[i].pred[(size_t)p * res->out + o]);
            fputc('\n', fp);
        }
    }
}

/* "mean +- std" in a column of width w (each number in half of it, as
 * format_cell makes it), or just the mean with one repeat; "-" when there
 * is no mean (experiment.h). */
static void print_stat(FILE *fp, int w, char conv, int prec, double mean, double std, int repeats)
{
    char a[64], b[64], cell[136];
    const int each = repeats > 1 ? (w - 4) / 2 : w;
    format_cell(a, sizeof a, each, conv, prec, mean);
    if (!isfinite(mean)) {
        snprintf(cell, sizeof cell, "-");
    } else if (repeats > 1) {
        format_cell(b, sizeof b, each, conv, prec, std);
        snprintf(cell, sizeof cell, "%s +- %s", a, b);
    } else {
        snprintf(cell, sizeof cell, "%s", a);
    }
    fprintf(fp, " %*s", w, cell);
}

/* The first seed's effective ranks, " 2/2.06", and with energy, its energy
 * captured, "   0.998" (spectra.h). */
static void print_spectrum_cells(FILE *fp, const model_result *m, int energy)
{
    char cell[64];
    report_rank_cell(cell, sizeof cell, m);
    fprintf(fp, " %9s", cell);
    if (energy) {
        report_energy_cell(cell, sizeof cell, m);
        fprintf(fp, " %7s", cell);
    }
}

/* The status of model m: "" when every seed trained it to the end, else
 * "diverged at epoch N" (the earliest; with repeats, which seed), "interrupted
 * at epoch N", "not started" or, with repeats, "K of S seeds complete". */
static void model_status(char *buf, size_t len, const experiment_result *res, const model_result *m)
{
    const int S = res->repeats;
    buf[0] = '\0';
    if (m->diverged_first > 0) {
        int s = 0;
        while (s < S && m->diverged_at[s] != m->diverged_first)
            s++;
        if (S > 1)
            snprintf(buf, len, "diverged at epoch %d (seed %llu)", m->diverged_first,
                     (unsigned long long)res->seeds[s]);
        else
            snprintf(buf, len, "diverged at epoch %d", m->diverged_first);
    } else if (m->n_completed < S) {
        if (S > 1)
            snprintf(buf, len, "%d of %d seeds complete", m->n_completed, S);
        else if (m->epochs_done[0] == 0)
            snprintf(buf, len, "not started");
        else
            snprintf(buf, len, "interrupted at epoch %d", m->epochs_done[0]);
    }
}

/* 1 if some model did not finish on every seed: the tables get a status column. */
static int any_status(const experiment_result *res)
{
    for (int i = 0; i < res->n_models; i++)
        if (res->models[i].diverged_first > 0 || res->models[i].n_completed < res->repeats)
            return 1;
    return 0;
}

/* " status" cell at the end of a row, if the table has that column. */
static void print_status(FILE *fp, int show, const experiment_result *res, const model_result *m)
{
    char st[64];
    if (!show)
        return;
    model_status(st, sizeof st, res, m);
    fprintf(fp, "  %s", st[0] != '\0' ? st : "ok");
}

/* With --data, where the data came from (one line, whatever the paths
 * hold: ld_fputs_printable). */
static void print_data_source(FILE *fp, const config *cfg)
{
    if (cfg->data == NULL)
        return;
    fputs("\ndata from ", fp);
    ld_fputs_printable(cfg->data, fp);
    if (cfg->test_data != NULL) {
        fputs(", held out: ", fp);
        ld_fputs_printable(cfg->test_data, fp);
    } else {
        fprintf(fp, ", held out: %d of its rows, drawn per seed", cfg->test_samples);
    }
}

/* "10 -> 5", or with --hidden "10 -> 32 -> 5 (tanh)". */
static void print_shape(FILE *fp, const config *cfg)
{
    fprintf(fp, "%d", cfg->in);
    for (int l = 0; l < cfg->n_hidden; l++)
        fprintf(fp, " -> %d", cfg->hidden[l]);
    fprintf(fp, " -> %d", cfg->out);
    if (cfg->n_hidden > 0)
        fprintf(fp, " (%s)", activation_name(cfg->activation));
}

static void print_scratch(FILE *fp, const config *cfg, const experiment_result *res)
{
    const int show = any_status(res);
    const int S = res->repeats, w = S > 1 ? 22 : 12;
    fputs("lora_demo: ", fp);
    print_shape(fp, cfg);
    fprintf(fp, ", %d training samples, %d held out, %d epochs, lr %g, seed %llu", cfg->samples,
            cfg->test_samples, cfg->epochs, cfg->lr, (unsigned long long)cfg->seed);
    print_data_source(fp, cfg);
    if (S > 1)
        fprintf(fp, "\n%d repeats (seeds %llu..%llu): mean +- sample std over seeds", S,
                (unsigned long long)res->seeds[0], (unsigned long long)res->seeds[S - 1]);
    fprintf(fp, "\n\n%-10s %6s %10s %12s %*s %*s %9s %10s%s\n", "model", "rank", "trainable",
            "first loss", w, "final loss", w, "test MSE", "eff rank", "train ms",
            show ? "  status" : "");
    for (int i = 0; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        fprintf(fp, "%-10s %6d %10zu", m->name, m->rank, m->trainable);
        print_num(fp, 12, 'f', 6, (double)m->first_loss);
        print_stat(fp, w, 'f', 6, m->final_loss, m->final_loss_std, S);
        print_stat(fp, w, 'f', 6, m->test_loss, m->test_loss_std, S);
        print_spectrum_cells(fp, m, 0);
        print_num(fp, 10, 't', 2, m->train_ms);
        print_status(fp, show, res, m);
        fputc('\n', fp);
    }
}

static void print_finetune(FILE *fp, const config *cfg, const experiment_result *res)
{
    const int show = any_status(res);
    const int S = res->repeats, w = S > 1 ? 22 : 11;
    fputs("lora_demo finetune: ", fp);
    print_shape(fp, cfg);
    if (cfg->data != NULL)
        fprintf(fp, ", %d training samples, %d held out\n", cfg->samples, cfg->test_samples);
    else
        fprintf(fp, ", task shift of rank %d%s, noise %g (floor %.3g), %d samples per task, "
                    "%d held out\n",
                cfg->delta_rank, cfg->n_hidden > 0 ? " on every layer" : "", cfg->noise,
                (double)res->noise_floor, cfg->samples, cfg->test_samples);
    if (cfg->base_weights != NULL) {
        fputs("base from ", fp);
        ld_fputs_printable(cfg->base_weights, fp);
        fputs(", ", fp);
    } else
        fprintf(fp, "pretrain %d epochs, ", cfg->pretrain_epochs);
    fprintf(fp, "fine-tune %d epochs, lr %g, %s, seed %llu", cfg->epochs, cfg->lr,
            cfg->rslora ? "scale alpha/sqrt(r)" : "scale alpha/r", (unsigned long long)cfg->seed);
    if (cfg->init == LORA_INIT_PISSA)
        fputs(", PiSSA init", fp);
    print_data_source(fp, cfg);
    if (S > 1)
        fprintf(fp, "\n%d repeats (seeds %llu..%llu): mean +- sample std over seeds", S,
                (unsigned long long)res->seeds[0], (unsigned long long)res->seeds[S - 1]);
    fprintf(fp, "\n\n%-9s %4s %9s %7s %10s %11s %*s %*s %8s", "model", "rank", "trainable",
            "% dense", "Adam bytes", "MSE before", w, "final loss", w, "test MSE", "x dense");
    if (S > 1)
        fprintf(fp, " %17s", "x dense, by seed");
    fprintf(fp, " %9s %7s %9s%s\n", "eff rank", "energy", "train ms", show ? "  status" : "");
    for (int i = 0; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        fprintf(fp, "%-9s %4d %9zu %6.1f%% %10zu", m->name, m->rank, m->trainable,
                100.0 * m->trainable_fraction, m->optimizer_bytes);
        print_num(fp, 11, 'g', 4, (double)m->test_loss_before);
        print_stat(fp, w, 'g', 4, m->final_loss, m->final_loss_std, S);
        print_stat(fp, w, 'g', 4, m->test_loss, m->test_loss_std, S);
        print_num(fp, 8, 'f', 3, (double)m->test_ratio);
        if (S > 1) {
            char lo[64], hi[64], range[136];
            format_cell(lo, sizeof lo, 7, 'f', 3, (double)m->test_ratio_min);
            format_cell(hi, sizeof hi, 7, 'f', 3, (double)m->test_ratio_max);
            if (isfinite(m->test_ratio_min))
                snprintf(range, sizeof range, "%s..%s", lo, hi);
            else
                snprintf(range, sizeof range, "-");
            fprintf(fp, " %17s", range);
        }
        print_spectrum_cells(fp, m, 1);
        print_num(fp, 9, 't', 2, m->train_ms);
        print_status(fp, show, res, m);
        fputc('\n', fp);
    }
    fprintf(fp, "\nLoRA models predict with the merged weight %s%s:\n",
            cfg->dora ? "(m/n)(W0 + s B A), DoRA" : "W0 + s B A", S > 1 ? " (worst seed)" : "");
    fprintf(fp, "%-9s %21s %21s %21s\n", "model", "max |merged-unmerged|", "relative",
            "unmerge: max |W-W0|");
    for (int i = 1; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        fprintf(fp, "%-9s", m->name);
        print_num(fp, 21, 'g', 3, (double)m->merge_max_diff);
        print_num(fp, 21, 'g', 3, (double)m->merge_rel_diff);
        print_num(fp, 21, 'g', 3, (double)m->unmerge_max_diff);
        fputc('\n', fp);
    }
}

void report_print(FILE *fp, const config *cfg, const experiment_result *res)
{
    if (res->experiment == EXPERIMENT_FINETUNE)
        print_finetune(fp, cfg, res);
    else
        print_scratch(fp, cfg, res);
    print_predictions(fp, res);
}
