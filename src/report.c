/* report.c - losses.csv, summary.json and the stdout tables. */
#define _POSIX_C_SOURCE 200809L /* getpid, unlink */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicio.h"
#include "svg.h"

ld_status report_prepare_dir(const char *dir, char *err, size_t errlen)
{
    ld_status st = make_dirs(dir, err, errlen);
    if (st != LD_OK)
        return st;
    char name[64];
    snprintf(name, sizeof name, ".lora_demo_probe.%ld", (long)getpid());
    char *probe = path_join(dir, name);
    if (probe == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    FILE *f = fopen(probe, "wb");
    if (f == NULL) {
        st = ld_fail(err, errlen, LD_EIO, "%s: cannot write there: %s", dir, strerror(errno));
        free(probe);
        return st;
    }
    fclose(f);
    unlink(probe);
    free(probe);
    return LD_OK;
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

ld_status report_write_losses(const char *dir, const experiment_result *res, char *err,
                              size_t errlen)
{
    atomic_file af;
    ld_status st = open_out(&af, dir, "losses.csv", err, errlen);
    if (st != LD_OK)
        return st;
    fputs("epoch", af.fp);
    for (int i = 0; i < res->n_models; i++)
        fprintf(af.fp, ",%s", res->models[i].name);
    fputc('\n', af.fp);
    for (int e = 0; e < res->epochs; e++) {
        fprintf(af.fp, "%d", e + 1);
        for (int i = 0; i < res->n_models; i++)
            fprintf(af.fp, ",%.9g", (double)res->models[i].losses[e]);
        fputc('\n', af.fp);
    }
    return atomic_commit(&af, err, errlen);
}

/* A JSON number; JSON has no NaN or Inf, so those become null. */
static void json_num(FILE *fp, double x)
{
    if (isfinite(x))
        fprintf(fp, "%.9g", x);
    else
        fputs("null", fp);
}

/* A JSON string with the escapes RFC 8259 requires. */
static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

static void write_config(FILE *fp, const config *cfg)
{
    fprintf(fp, "  \"config\": {\n");
    fprintf(fp, "    \"epochs\": %d,\n", cfg->epochs);
    fprintf(fp, "    \"seed\": %llu,\n", (unsigned long long)cfg->seed);
    fprintf(fp, "    \"lr\": ");
    json_num(fp, cfg->lr);
    fprintf(fp, ",\n    \"samples\": %d,\n", cfg->samples);
    fprintf(fp, "    \"test_samples\": %d,\n", cfg->test_samples);
    fprintf(fp, "    \"in\": %d,\n", cfg->in);
    fprintf(fp, "    \"out\": %d,\n", cfg->out);
    fprintf(fp, "    \"ranks\": [");
    for (int i = 0; i < cfg->n_ranks; i++)
        fprintf(fp, "%s%d", i ? ", " : "", cfg->ranks[i]);
    fprintf(fp, "],\n    \"alpha\": ");
    if (cfg->alpha > 0)
        json_num(fp, cfg->alpha);
    else
        fputs("null", fp);
    fprintf(fp, ",\n    \"batch_size\": ");
    if (cfg->batch_size > 0)
        fprintf(fp, "%d", cfg->batch_size);
    else
        fputs("null", fp);
    fprintf(fp, ",\n    \"output_dir\": ");
    json_str(fp, cfg->output_dir);
    fprintf(fp, ",\n    \"quiet\": %s\n  },\n", cfg->quiet ? "true" : "false");
}

ld_status report_write_summary(const char *dir, const config *cfg, const experiment_result *res,
                               char *err, size_t errlen)
{
    atomic_file af;
    ld_status st = open_out(&af, dir, "summary.json", err, errlen);
    if (st != LD_OK)
        return st;
    FILE *fp = af.fp;
    fprintf(fp, "{\n  \"experiment\": \"scratch\",\n");
    write_config(fp, cfg);
    fprintf(fp, "  \"models\": [\n");
    for (int i = 0; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        fprintf(fp, "    {\"name\": ");
        json_str(fp, m->name);
        fprintf(fp, ", \"rank\": %d, \"trainable_params\": %zu", m->rank, m->trainable);
        if (m->rank > 0) {
            fprintf(fp, ", \"alpha\": ");
            json_num(fp, m->alpha);
            fprintf(fp, ", \"scale\": ");
            json_num(fp, m->scale);
        }
        fprintf(fp, ", \"first_loss\": ");
        json_num(fp, m->first_loss);
        fprintf(fp, ", \"final_loss\": ");
        json_num(fp, m->final_loss);
        fprintf(fp, ", \"test_loss\": ");
        json_num(fp, m->test_loss);
        fprintf(fp, ", \"train_ms\": %.3f}%s\n", m->train_ms, i + 1 < res->n_models ? "," : "");
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
        snprintf(title, sizeof title, "lora_demo: scratch experiment, seed %llu",
                 (unsigned long long)cfg->seed);
        st = svg_write_losses(path, title, "training MSE (log scale)", names, (int)C, values,
                              res->epochs, err, errlen);
    }
    free(values);
    free(names);
    free(path);
    return st;
}

void report_print(FILE *fp, const config *cfg, const experiment_result *res)
{
    fprintf(fp, "lora_demo: %d -> %d, %d training samples, %d held out, %d epochs, lr %g, seed %llu\n\n",
            cfg->in, cfg->out, cfg->samples, cfg->test_samples, cfg->epochs, cfg->lr,
            (unsigned long long)cfg->seed);
    fprintf(fp, "%-10s %6s %10s %12s %12s %12s %10s\n", "model", "rank", "trainable", "first loss",
            "final loss", "test MSE", "train ms");
    for (int i = 0; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        fprintf(fp, "%-10s %6d %10zu %12.6f %12.6f %12.6f %10.2f\n", m->name, m->rank, m->trainable,
                (double)m->first_loss, (double)m->final_loss, (double)m->test_loss, m->train_ms);
    }
    for (int p = 0; p < res->n_pred; p++) {
        fprintf(fp, "\nheld-out input %d\n", p + 1);
        fprintf(fp, "  %-10s", "target");
        for (int o = 0; o < res->out; o++)
            fprintf(fp, " %9.4f", (double)res->pred_y[(size_t)p * res->out + o]);
        fputc('\n', fp);
        for (int i = 0; i < res->n_models; i++) {
            fprintf(fp, "  %-10s", res->models[i].name);
            for (int o = 0; o < res->out; o++)
                fprintf(fp, " %9.4f", (double)res->models[i].pred[(size_t)p * res->out + o]);
            fputc('\n', fp);
        }
    }
}
