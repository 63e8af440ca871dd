/* test_faults.c - numerical faults, interruption, progress and memory:
 * divergence detection, the stop flag and what an interrupted run keeps,
 * the aggregation rules for missing values, the progress line's formatting
 * and rate limit, the up-front memory estimate, table cells that fit
 * their column whatever the loss, and temporary names that no one else can
 * share or plant.
 *
 * Dimension key: E epochs, S repeats (seeds), M models.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, symlink, lstat */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomicio.h"
#include "config.h"
#include "experiment/experiment.h"
#include "kernels/matmul.h"
#include "train/train.h"
#include "report/export.h"
#include "core/data.h"
#include "io/json.h"
#include "core/model.h"
#include "report/progress.h"
#include "report/report.h"
#include "core/rng.h"
#include "core/svd.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* helpers */

/* A small, fast scratch run. */
static void small_config(config *c, int epochs, int repeats)
{
    config_defaults(c);
    c->epochs = epochs;
    c->repeats = repeats;
    c->samples = 32;
    c->test_samples = 8;
    c->quiet = 1;
}

static int count_nan(const float *x, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += isnan(x[i]) != 0;
    return k;
}

/* The whole file as a NUL-terminated string (free it); NULL if unreadable. */
static char *read_text(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    free(path);
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL) {
        buf[fread(buf, 1, (size_t)n, f)] = '\0';
    }
    fclose(f);
    return buf;
}

/* Stop the run once the progress hook reaches (seed, model, epoch). */
typedef struct {
    volatile sig_atomic_t flag;
    int seed;
    const char *model;
    int epoch;
    /* what the hook saw */
    long calls;
    uint64_t last_done, total;
    int monotonic;
} stopper;

static void stop_at(void *ctx, const experiment_progress *p)
{
    stopper *s = ctx;
    if (s->calls > 0 && p->done < s->last_done)
        s->monotonic = 0;
    s->calls++;
    s->last_done = p->done;
    s->total = p->total;
    if (s->model != NULL && p->seed_index == s->seed && strcmp(p->model, s->model) == 0 &&
        p->epoch == s->epoch)
        s->flag = 1;
}

static void stopper_init(stopper *s, int seed, const char *model, int epoch)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->model = model;
    s->epoch = epoch;
    s->monotonic = 1;
}

/* ------------------------------------------------------------------------ */
/* divergence */

/* --lr 1e10: the first update makes A and B of order 1e10, so every LoRA
 * model's second loss overflows float (Inf); the dense layer's outputs
 * grow only linearly in its weights and stay finite. */
static void test_divergence_loss(void)
{
    config c;
    small_config(&c, 10, 1);
    c.lr = 1e10;
    experiment_result res;
    char err[256];
    ld_status st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "lr 1e10 run: %s", err);
    if (st != LD_OK)
        return;
    const model_result *d = &res.models[0];
    CHECK(d->diverged_first == 0 && d->n_completed == 1 && d->epochs_done[0] == 10,
          "dense should not diverge at lr 1e10 (diverged_at %d)", d->diverged_first);
    CHECK(count_nan(d->losses, 10) == 0 && isfinite(d->test_loss), "dense curve should be whole");
    for (int i = 1; i < res.n_models; i++) {
        const model_result *m = &res.models[i];
        CHECK(m->diverged_first == 2 && m->diverged_at[0] == 2 && m->epochs_done[0] == 2,
              "%s: diverged at %d after %d epochs, want 2 and 2", m->name, m->diverged_first,
              m->epochs_done[0]);
        CHECK(isfinite(m->losses[0]) && count_nan(m->losses, 10) == 9,
              "%s: the curve should hold epoch 1 only", m->name);
        CHECK(count_nan(m->losses_std, 10) == 9, "%s: std curve should stop with it", m->name);
        CHECK(m->n_completed == 0 && isnan(m->final_loss) && isnan(m->test_loss) &&
                  isnan(m->final_losses[0]) && isnan(m->test_ratio),
              "%s: no final or test loss after diverging", m->name);
        CHECK(isnan(m->pred[0]), "%s: no predictions after diverging", m->name);
        CHECK(m->first_loss == m->losses[0], "%s: first loss kept", m->name);
    }
    CHECK(!res.interrupted, "divergence is not an interruption");
    experiment_result_free(&res);
}

/* --lr 1e38: Adam's first step is lr/(1-beta1) * m/denom, and lr/(1-beta1)
 * overflows float, so the first update already leaves Inf or NaN in the
 * parameters while the first loss (taken before it) is finite: the
 * parameter check catches it at epoch 1 and that loss is kept. */
static void test_divergence_params(void)
{
    config c;
    small_config(&c, 5, 1);
    c.lr = 1e38;
    experiment_result res;
    char err[256];
    ld_status st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "lr 1e38 run: %s", err);
    if (st != LD_OK)
        return;
    for (int i = 0; i < res.n_models; i++) {
        const model_result *m = &res.models[i];
        CHECK(m->diverged_first == 1 && m->epochs_done[0] == 1,
              "%s: diverged at %d, want 1 (parameters not finite after the first update)", m->name,
              m->diverged_first);
        CHECK(isfinite(m->losses[0]) && count_nan(m->losses, 5) == 4,
              "%s: epoch 1's loss was finite and is kept", m->name);
    }
    experiment_result_free(&res);
}

/* With repeats, the mean curve stops where the first seed diverged, even
 * if another seed went on: a mean over the survivors would hide it. */
static void test_divergence_repeats(void)
{
    config c;
    small_config(&c, 8, 3);
    c.lr = 1e10;
    c.n_ranks = 1;
    c.ranks[0] = 2;
    experiment_result res;
    char err[256];
    ld_status st = experiment_run(&c, NULL, NULL, &res, err, sizeof err);
    CHECK(st == LD_OK, "repeats run: %s", err);
    if (st != LD_OK)
        return;
    const model_result *m = &res.models[1];
    int first = 0;
    for (int s = 0; s < 3; s++)
        if (m->diverged_at[s] > 0 && (first == 0 || m->diverged_at[s] < first))
            first = m->diverged_at[s];
    CHECK(first > 0 && m->diverged_first == first, "diverged_first %d, want %d", m->diverged_first,
          first);
    int nan_from = 8;
    for (int e = 0; e < 8; e++)
        if (isnan(m->losses[e])) {
            nan_from = e;
            break;
        }
    CHECK(count_nan(m->losses, 8) == 8 - nan_from, "mean curve should stop for good");
    CHECK(nan_from == first || nan_from == first - 1,
          "mean curve stops at epoch index %d, divergence at epoch %d", nan_from, first);
    CHECK(isnan(m->final_loss) && isnan(m->test_loss), "any diverged seed: no mean final loss");
    CHECK(res.models[0].n_completed == 3 && isfinite(res.models[0].final_loss),
          "dense unaffected");
    experiment_result_free(&res);
}

/* The files of a diverged run: empty cells, never "nan"; JSON nulls. */
static void test_divergence_files(void)
{
    config c;
    small_config(&c, 6, 2);
    c.lr = 1e10;
    c.output_dir = test_tmpdir("faults_diverged");
    experiment_result res;
    char err[256];
    if (experiment_run(&c, NULL, NULL, &res, err, sizeof err) != LD_OK) {
        CHECK(0, "run: %s", err);
        return;
    }
    ld_status st = report_write_losses(c.output_dir, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_summary(c.output_dir, &c, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_svg(c.output_dir, &c, &res, err, sizeof err);
    CHECK(st == LD_OK, "writing: %s", err);
    char *csv = read_text(c.output_dir, "losses.csv");
    char *std = read_text(c.output_dir, "losses_std.csv");
    char *js = read_text(c.output_dir, "summary.json");
    CHECK(csv != NULL && strstr(csv, "nan") == NULL && strstr(csv, "inf") == NULL &&
              strstr(csv, "\n2,") != NULL && strstr(csv, ",,,,\n") != NULL,
          "losses.csv: empty cells, no nan: %s", csv != NULL ? csv : "(missing)");
    CHECK(std != NULL && strstr(std, "nan") == NULL && strstr(std, ",,,,\n") != NULL,
          "losses_std.csv: empty cells, no nan");
    json_value *root = NULL;
    if (js != NULL && json_parse(js, strlen(js), &root, err, sizeof err) == LD_OK) {
        const json_value *models = json_get(root, "models");
        const json_value *dense = json_at(models, 0), *r1 = json_at(models, 1);
        CHECK(json_type_of(json_get(dense, "diverged_at_epoch")) == JSON_NULL,
              "dense: diverged_at_epoch null");
        CHECK(json_number(json_get(r1, "diverged_at_epoch")) == 2.0, "lora_r1: diverged_at_epoch 2");
        CHECK(json_type_of(json_get(r1, "final_loss")) == JSON_NULL, "lora_r1: final_loss null");
        const json_value *per = json_get(r1, "diverged_at_epoch_per_seed");
        CHECK(json_length(per) == 2 && json_number(json_at(per, 0)) == 2.0,
              "lora_r1: per-seed divergence epochs");
        CHECK(json_type_of(json_get(root, "interrupted")) == JSON_FALSE, "interrupted: false");
    } else {
        CHECK(0, "summary.json does not parse: %s", err);
    }
    json_free(root);
    free(csv);
    free(std);
    free(js);
    experiment_result_free(&res);
}

/* --save-weights: a model that diverged has no final weights worth saving
 * and gets no files; the others are saved as usual. */
static void test_divergence_save_weights(void)
{
    config c;
    small_config(&c, 4, 1);
    c.lr = 1e10;
    c.save_weights = 1;
    c.output_dir = test_tmpdir("faults_weights");
    experiment_result res;
    char err[256];
    if (experiment_run(&c, NULL, NULL, &res, err, sizeof err) != LD_OK) {
        CHECK(0, "run: %s", err);
        return;
    }
    CHECK(res.models[0].final_params != NULL && res.models[1].final_params == NULL,
          "final weights kept for dense only");
    ld_status st = export_weights(c.output_dir, &c, &res, err, sizeof err);
    CHECK(st == LD_OK, "export_weights: %s", err);
    char *dense = read_text(c.output_dir, "weights/dense.final.safetensors");
    char *lora = read_text(c.output_dir, "weights/lora_r1.final.safetensors");
    char *adapter = read_text(c.output_dir, "adapters/lora_r1/adapter_config.json");
    CHECK(dense != NULL && lora == NULL && adapter == NULL,
          "dense saved, the diverged lora_r1 not");
    free(dense);
    free(lora);
    free(adapter);
    experiment_result_free(&res);
}

/* ------------------------------------------------------------------------ */
/* the stop flag */

/* Stopped in seed 2 of 3, in lora_r2 after 4 of 10 epochs: seed 1 is
 * whole, seed 2 has dense and lora_r1 and 4 epochs of lora_r2, seed 3 has
 * nothing. Means are over the seeds that trained each epoch. */
static void test_stop_mid_run(void)
{
    config c;
    small_config(&c, 10, 3);
    stopper sp;
    stopper_init(&sp, 1, "lora_r2", 4);
    const experiment_hooks hooks = {&sp.flag, stop_at, &sp};
    experiment_result res, one[2];
    char err[256];
    ld_status st = experiment_run(&c, NULL, &hooks, &res, err, sizeof err);
    CHECK(st == LD_OK, "stopped run: %s", err);
    if (st != LD_OK)
        return;
    CHECK(res.interrupted && res.stop_seed == 1 && strcmp(res.stop_model, "lora_r2") == 0 &&
              res.stop_epoch == 4,
          "stopped at seed %d %s epoch %d, want 1 lora_r2 4", res.stop_seed, res.stop_model,
          res.stop_epoch);
    const int want_done[5][3] = {{10, 10, 0}, {10, 10, 0}, {10, 4, 0}, {10, 0, 0}, {10, 0, 0}};
    for (int i = 0; i < 5; i++)
        CHECK(memcmp(res.models[i].epochs_done, want_done[i], sizeof want_done[i]) == 0,
              "%s: epochs done %d %d %d", res.models[i].name, res.models[i].epochs_done[0],
              res.models[i].epochs_done[1], res.models[i].epochs_done[2]);
    CHECK(strcmp(res.models[4].name, "lora_r4") == 0 && res.models[4].trainable == 60,
          "a model never started still has its name and size");

    /* the same seeds one at a time */
    config c1 = c;
    c1.repeats = 1;
    st = experiment_run(&c1, NULL, NULL, &one[0], err, sizeof err);
    c1.seed = c.seed + 1;
    if (st == LD_OK)
        st = experiment_run(&c1, NULL, NULL, &one[1], err, sizeof err);
    CHECK(st == LD_OK, "single runs: %s", err);
    if (st != LD_OK) {
        experiment_result_free(&res);
        return;
    }
    float want[10], want_std[10];
    /* dense: both seeds, all epochs */
    for (int e = 0; e < 10; e++) {
        const double a = one[0].models[0].losses[e], b = one[1].models[0].losses[e];
        want[e] = (float)((a + b) / 2);
        want_std[e] = (float)(fabs(a - b) / sqrt(2.0));
    }
    check_close("dense mean over 2 seeds", res.models[0].losses, want, 10, 1e-7, 1e-6);
    check_close("dense std over 2 seeds", res.models[0].losses_std, want_std, 10, 1e-7, 1e-5);
    /* lora_r2: 2 seeds for epochs 1-4, then seed 1 alone with std 0 */
    for (int e = 0; e < 10; e++) {
        const double a = one[0].models[2].losses[e], b = one[1].models[2].losses[e];
        want[e] = e < 4 ? (float)((a + b) / 2) : (float)a;
        want_std[e] = e < 4 ? (float)(fabs(a - b) / sqrt(2.0)) : 0.0f;
    }
    check_close("lora_r2 mean, 2 then 1 seeds", res.models[2].losses, want, 10, 1e-7, 1e-6);
    check_close("lora_r2 std, 2 then 1 seeds", res.models[2].losses_std, want_std, 10, 1e-7, 1e-5);
    CHECK(res.models[2].n_completed == 1 && res.models[2].final_loss == one[0].models[2].final_loss &&
              res.models[2].test_loss == one[0].models[2].test_loss,
          "lora_r2: final and test loss from the one seed that completed");
    CHECK(isnan(res.models[2].final_losses[1]) && isnan(res.models[2].test_losses[1]),
          "an interrupted seed has no final or test loss");
    CHECK(res.models[4].final_loss == one[0].models[4].final_loss,
          "lora_r4: seed 1 only");
    experiment_result_free(&one[0]);
    experiment_result_free(&one[1]);
    experiment_result_free(&res);
}

/* A flag already set: nothing is trained, every value is missing, and the
 * writers still produce whole files. */
static void test_stop_before_start(void)
{
    config c;
    small_config(&c, 5, 1);
    c.output_dir = test_tmpdir("faults_stopped");
    stopper sp;
    stopper_init(&sp, -1, NULL, 0);
    sp.flag = 1;
    const experiment_hooks hooks = {&sp.flag, stop_at, &sp};
    experiment_result res;
    char err[256];
    ld_status st = experiment_run(&c, NULL, &hooks, &res, err, sizeof err);
    CHECK(st == LD_OK, "run: %s", err);
    if (st != LD_OK)
        return;
    CHECK(res.interrupted && res.stop_epoch == 0 && strcmp(res.stop_model, "dense") == 0,
          "stopped before dense started");
    CHECK(sp.calls == 0, "no epoch trained, no progress call");
    for (int i = 0; i < res.n_models; i++)
        CHECK(res.models[i].epochs_done[0] == 0 && count_nan(res.models[i].losses, 5) == 5,
              "%s: nothing trained", res.models[i].name);
    st = report_write_losses(c.output_dir, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_summary(c.output_dir, &c, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_svg(c.output_dir, &c, &res, err, sizeof err);
    CHECK(st == LD_OK, "writing an empty result: %s", err);
    char *csv = read_text(c.output_dir, "losses.csv");
    CHECK(csv != NULL && strstr(csv, "\n5,,,,,\n") != NULL, "losses.csv rows of empty cells");
    char *js = read_text(c.output_dir, "summary.json");
    json_value *root = NULL;
    CHECK(js != NULL && json_parse(js, strlen(js), &root, err, sizeof err) == LD_OK &&
              json_type_of(json_get(root, "interrupted")) == JSON_TRUE,
          "summary.json parses, interrupted: true");
    json_free(root);
    free(csv);
    free(js);
    /* the stdout table marks every model */
    char *text = NULL;
    FILE *fp = tmpfile();
    if (fp != NULL) {
        report_print(fp, &c, &res);
        const size_t len = (size_t)ftell(fp);
        rewind(fp);
        text = malloc(len + 1);
        if (text != NULL)
            text[fread(text, 1, len, fp)] = '\0';
        fclose(fp);
    }
    CHECK(text != NULL && strstr(text, "status") != NULL && strstr(text, "not started") != NULL,
          "table: status column with 'not started'");
    free(text);
    experiment_result_free(&res);
}

/* A flag raised after the very last epoch cuts nothing short. */
static void test_stop_after_last_epoch(void)
{
    config c;
    small_config(&c, 4, 1);
    stopper sp;
    stopper_init(&sp, 0, "lora_r4", 4);
    const experiment_hooks hooks = {&sp.flag, stop_at, &sp};
    experiment_result res;
    char err[256];
    if (experiment_run(&c, NULL, &hooks, &res, err, sizeof err) != LD_OK) {
        CHECK(0, "run: %s", err);
        return;
    }
    CHECK(sp.flag == 1 && !res.interrupted, "flag seen after the last epoch: not interrupted");
    for (int i = 0; i < res.n_models; i++)
        CHECK(res.models[i].n_completed == 1, "%s complete", res.models[i].name);
    CHECK(sp.monotonic && sp.last_done == sp.total && sp.total == 20 && sp.calls == 20,
          "progress: %ld calls, done %llu of %llu", sp.calls, (unsigned long long)sp.last_done,
          (unsigned long long)sp.total);
    experiment_result_free(&res);
}

/* Finetune stopped while pretraining: no model is fine-tuned. */
static void test_stop_in_pretraining(void)
{
    config c;
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    c.epochs = 5;
    c.pretrain_epochs = 20;
    c.samples = 40;
    c.test_samples = 10;
    c.repeats = 2;
    stopper sp;
    stopper_init(&sp, 0, "pretrain", 7);
    const experiment_hooks hooks = {&sp.flag, stop_at, &sp};
    experiment_result res;
    char err[256];
    if (experiment_run(&c, NULL, &hooks, &res, err, sizeof err) != LD_OK) {
        CHECK(0, "run: %s", err);
        return;
    }
    CHECK(res.interrupted && strcmp(res.stop_model, "pretrain") == 0 && res.stop_epoch == 7,
          "stopped in pretraining at 7 (got %s %d)", res.stop_model, res.stop_epoch);
    CHECK(res.pretrain_epochs_done[0] == 7 && res.pretrain_epochs_done[1] == 0 &&
              isnan(res.pretrain_losses[0]),
          "pretraining: 7 epochs, no final loss");
    for (int i = 0; i < res.n_models; i++)
        CHECK(res.models[i].epochs_done[0] == 0 && isnan(res.models[i].merge_max_diff) == (i > 0),
              "%s: not started, no merge numbers", res.models[i].name);
    CHECK(sp.total == (uint64_t)2 * (20 + 5 * 5), "progress total %llu", (unsigned long long)sp.total);
    experiment_result_free(&res);
}

/* ------------------------------------------------------------------------ */
/* progress line */

static void test_progress_format(void)
{
    char b[128];
    progress_format_time(b, sizeof b, 0.0);
    CHECK(strcmp(b, "0:00") == 0, "0 s: %s", b);
    progress_format_time(b, sizeof b, 65.4);
    CHECK(strcmp(b, "1:05") == 0, "65.4 s: %s", b);
    progress_format_time(b, sizeof b, 3600.0 * 2 + 61);
    CHECK(strcmp(b, "2:01:01") == 0, "2 h 1 min 1 s: %s", b);
    progress_format_time(b, sizeof b, -1.0);
    CHECK(strcmp(b, "--:--") == 0, "unknown: %s", b);
    progress_format_time(b, sizeof b, NAN);
    CHECK(strcmp(b, "--:--") == 0, "NaN: %s", b);

    experiment_progress ep = {"lora_r2", 1, 3, 37, 100, 237, 1500};
    size_t n = progress_format(b, sizeof b, &ep, 3.2, 5.0);
    CHECK(strcmp(b, "lora_r2  seed 2/3  epoch 37/100  elapsed 0:03  ETA 0:05") == 0 &&
              n == strlen(b),
          "line: '%s'", b);
    ep.repeats = 1;
    ep.seed_index = 0;
    progress_format(b, sizeof b, &ep, 0.0, -1.0);
    CHECK(strcmp(b, "lora_r2  epoch 37/100  elapsed 0:00  ETA --:--") == 0, "single seed: '%s'", b);
    char small[12];
    n = progress_format(small, sizeof small, &ep, 0.0, 1.0);
    CHECK(n == sizeof small - 1 && strlen(small) == n, "cut to fit: '%s'", small);
    CHECK(progress_format(small, 0, &ep, 0.0, 1.0) == 0, "zero length");
}

/* The renderer: nothing before the delay, at most one line per interval,
 * "\r" + text + ESC[K, cleared at the end; nothing at all when disabled. */
static void test_progress_render(void)
{
    FILE *fp = tmpfile();
    if (fp == NULL) {
        CHECK(0, "tmpfile");
        return;
    }
    progress p;
    progress_init(&p, fp, 1);
    const double t0 = p.start;
    experiment_progress ep = {"dense", 0, 1, 1, 10, 1, 10};
    progress_update_at(&p, &ep, t0 + 0.5);
    CHECK(p.draws == 0 && ftell(fp) == 0, "nothing before the 1 s delay");
    for (int i = 0; i < 100; i++) /* 1 s of updates every 10 ms */
        progress_update_at(&p, &ep, t0 + 1.0 + 0.01 * i);
    CHECK(p.draws == 10, "10 draws in 1 s of updates, got %ld", p.draws);
    ep.done = 5;
    progress_update_at(&p, &ep, t0 + 3.0);
    progress_clear(&p);
    const long len = ftell(fp);
    rewind(fp);
    char buf[4096];
    const size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    CHECK((long)n == len && buf[0] == '\r' && strstr(buf, "\033[K") != NULL &&
              strstr(buf, "dense  epoch 1/10  elapsed 0:03  ETA 0:03\033[K") != NULL,
          "drawn lines: '%s'", buf);
    CHECK(n >= 4 && strcmp(buf + n - 4, "\r\033[K") == 0, "cleared at the end");
    CHECK(strchr(buf, '\n') == NULL, "never a newline");
    fclose(fp);

    fp = tmpfile();
    if (fp == NULL)
        return;
    progress_init(&p, fp, 0);
    progress_update(&p, &ep);
    progress_update_at(&p, &ep, p.start + 5.0);
    progress_clear(&p);
    CHECK(ftell(fp) == 0 && p.draws == 0, "disabled: nothing written");
    fclose(fp);
}

/* ------------------------------------------------------------------------ */
/* memory */

static void test_memory_estimate(void)
{
    config c;
    config_defaults(&c);
    experiment_memory m;
    /* under 1 MB besides the matmul kernels' panels (4.3 MiB per thread,
     * src/kernels/gemm.h), which every trainer on a pool reserves */
    const size_t panels = matmul_scratch_floats() * sizeof(float) * (size_t)c.threads;
    CHECK(experiment_memory_needed(&c, &m) == 0 && m.total > 0 &&
              m.total == m.data + m.models + m.buffers + m.results && m.total < 1000000 + panels,
          "default run: %zu bytes", m.total);
    /* data: (100 + 20) samples of 10 + 5 floats */
    CHECK(m.data == (size_t)(100 + 20) * 15 * sizeof(float), "data %zu bytes", m.data);
    char err[512];
    CHECK(experiment_check_memory(&c, 0, err, sizeof err) == LD_OK, "default run fits: %s", err);

    c.in = c.out = c.samples = 100000;
    ld_status st = experiment_check_memory(&c, 0, err, sizeof err);
    CHECK(st == LD_ENOMEM && strstr(err, "needs about") != NULL && strchr(err, '\n') == NULL,
          "100000 x 100000 x 100000 is refused: %s", err);
    CHECK(experiment_memory_needed(&c, &m) == 0 && m.data > (size_t)8e10 && m.models > (size_t)1.6e11,
          "data %zu, models %zu", m.data, m.models);

    /* from min(in, out) = SVD_BIDIAG_MIN the spectra's SVD takes the
     * bidiagonal route, whose work space includes 1.5 MiB of buffered
     * rotations (svd.h) */
    config_defaults(&c);
    experiment_memory below = {0}, at = {0};
    c.in = c.out = SVD_BIDIAG_MIN - 1;
    const int ok_below = experiment_memory_needed(&c, &below) == 0;
    c.in = c.out = SVD_BIDIAG_MIN;
    CHECK(ok_below && experiment_memory_needed(&c, &at) == 0 &&
              at.total >= below.total + (3u << 19),
          "the bidiagonal route's work space: %zu bytes at k = %d, %zu at k = %d", at.total,
          SVD_BIDIAG_MIN, below.total, SVD_BIDIAG_MIN - 1);

    config_defaults(&c);
    st = experiment_check_memory(&c, 1000, err, sizeof err);
    CHECK(st == LD_ENOMEM && strstr(err, "more than the 1000 B allowed") != NULL,
          "a small explicit limit: %s", err);

    c.in = c.out = c.samples = 2147483647;
    c.n_ranks = 1;
    c.ranks[0] = 1;
    CHECK(experiment_memory_needed(&c, &m) == -1, "sizes near INT_MAX overflow the estimate");
    st = experiment_check_memory(&c, 0, err, sizeof err);
    CHECK(st == LD_ENOMEM && strstr(err, "overflows") != NULL, "overflow refused: %s", err);

    /* finetune with mini-batches counts the extra buffers */
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    experiment_memory full, mini;
    experiment_memory_needed(&c, &full);
    c.batch_size = 10;
    experiment_memory_needed(&c, &mini);
    /* the estimate is the owners' own size functions: every model's
     * trainer, as trainer_sizes_for sizes it, fits in the training buffers;
     * batches of 10 of 500 need less than the full batch, and the same
     * models */
    for (int i = 0; i <= c.n_ranks; i++) {
        const model_spec spec = i == 0 ? model_spec_dense(c.in, c.out)
                                       : model_spec_lora(c.in, c.out, c.ranks[i - 1], 1.0f, 1.0f, 1);
        trainer_sizes tf = {0}, tm = {0};
        CHECK(trainer_sizes_for(&tf, &spec, c.samples, 0, NULL) == 0 &&
                  trainer_sizes_for(&tm, &spec, c.samples, 10, NULL) == 0 &&
                  tf.bytes <= full.buffers && tm.bytes <= mini.buffers && tm.bytes < tf.bytes,
              "model %d: trainer %zu / %zu bytes, estimate %zu / %zu", i, tf.bytes, tm.bytes,
              full.buffers, mini.buffers);
    }
    CHECK(mini.buffers < full.buffers && mini.models == full.models,
          "mini-batch buffers: %zu, full batch %zu", mini.buffers, full.buffers);
}

/* ------------------------------------------------------------------------ */
/* error paths that need no fault injection */

/* The sizes the results report for every model (filled in before any
 * training, so even a model never started has them) are the model's own. */
static void test_model_sizes(void)
{
    config c;
    config_defaults(&c);
    c.in = 7;
    c.out = 3;
    c.n_ranks = 2;
    c.ranks[0] = 3;
    c.ranks[1] = 1;
    c.alpha = 2.5;
    c.epochs = 1;
    c.samples = 8;
    c.test_samples = 2;
    experiment_result res;
    char err[256];
    if (experiment_run(&c, NULL, NULL, &res, err, sizeof err) != LD_OK) {
        CHECK(0, "run: %s", err);
        return;
    }
    for (int i = 0; i < res.n_models; i++) {
        model m;
        const int r = res.models[i].rank;
        ld_status st = r == 0 ? test_model_dense(&m, c.in, c.out, err, sizeof err)
                              : test_model_lora(&m, c.in, c.out, r, config_alpha(&c, r),
                                                config_scale(&c, r), NULL, NULL, err, sizeof err);
        CHECK(st == LD_OK && res.models[i].trainable == m.n_params &&
                  res.models[i].optimizer_bytes == 2 * m.n_params * sizeof(float) &&
                  res.models[i].alpha == m.layers[0].alpha && res.models[i].scale == m.layers[0].scale,
              "%s: reported sizes differ from the model's", res.models[i].name);
        if (st == LD_OK)
            model_free(&m);
    }
    experiment_result_free(&res);
}

static void test_error_paths(void)
{
    char err[256];
    /* every status has an exit code */
    const ld_status all[] = {LD_OK, LD_EINPUT, LD_EIO, LD_ENOMEM, LD_ESTATE};
    const int codes[] = {0, 2, 1, 1, 1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(ld_exit_code(all[i]) == codes[i], "status %d: exit %d", (int)all[i],
              ld_exit_code(all[i]));
    CHECK(ld_exit_code((ld_status)99) == 1, "an unknown status");

    /* shapes no caller should pass are refused, not allocated */
    dataset d;
    model m;
    CHECK(dataset_alloc(&d, 0, 3, 2, err, sizeof err) == LD_EINPUT, "a data set of 0 samples");
    CHECK(test_model_dense(&m, 0, 2, err, sizeof err) == LD_EINPUT, "a dense layer with 0 inputs");
    CHECK(test_model_lora(&m, 3, 2, 0, 1.0f, 1.0f, NULL, NULL, err, sizeof err) == LD_EINPUT &&
              strstr(err, "rank 0") != NULL,
          "a LoRA of rank 0: %s", err);
    CHECK(test_model_lora(&m, 2147483647, 2147483647, 2, 1.0f, 1.0f, NULL, NULL, err, sizeof err) ==
              LD_ENOMEM,
          "a LoRA whose size overflows: %s", err);

    /* a rename that fails (the final name is a non-empty directory): an
     * error naming the file, and the temporary is gone */
    const char *dir = test_tmpdir("faults_atomic");
    char *target = path_join(dir, "out.txt"), *inner = path_join(dir, "out.txt/keep");
    if (target != NULL && inner != NULL && make_dirs(target, err, sizeof err) == LD_OK &&
        atomic_write_bytes(inner, "x", 1, err, sizeof err) == LD_OK) {
        ld_status st = atomic_write_bytes(target, "hello", 5, err, sizeof err);
        CHECK(st == LD_EIO && strstr(err, "out.txt") != NULL, "rename onto a directory: %s", err);
        int tmp_left = 0;
        DIR *dp = opendir(dir);
        for (struct dirent *e; dp != NULL && (e = readdir(dp)) != NULL;)
            tmp_left |= strstr(e->d_name, ".tmp.") != NULL;
        if (dp != NULL)
            closedir(dp);
        CHECK(!tmp_left, "the temporary file of a failed rename was left");
    } else {
        CHECK(0, "setting up the rename test: %s", err);
    }
    /* make_dirs on a path that is a file */
    CHECK(make_dirs(inner, err, sizeof err) == LD_EIO && strstr(err, "keep") != NULL,
          "make_dirs on a regular file: %s", err);
    free(target);
    free(inner);

    /* rng_below's rejection loop: with n just over 2^31, about half of all
     * draws are rejected, and the results stay below n */
    rng r;
    rng_seed(&r, 1, 1);
    int below = 1;
    for (int i = 0; i < 1000; i++)
        below &= rng_below(&r, 0x80000001u) < 0x80000001u;
    CHECK(below, "rng_below(2^31 + 1)");

    /* progress_update draws with the real clock once the delay has passed */
    FILE *fp = tmpfile();
    if (fp != NULL) {
        progress p;
        progress_init(&p, fp, 1);
        p.delay = 0.0;
        experiment_progress ep = {"dense", 0, 1, 1, 2, 1, 2};
        progress_update(&p, &ep);
        CHECK(p.draws == 1 && ftell(fp) > 0, "progress_update with no delay draws");
        fclose(fp);
    }
}

/* A table cell of a huge or tiny loss fits its column: %.6f while that fits
 * and shows a nonzero value as nonzero (the bytes of an ordinary loss do
 * not change), else %.3e or fewer digits. It printed 39 digits for 1e38,
 * and 0.000000 for 1e-9. */
static void test_table_cells(void)
{
    static const struct {
        int w, prec;
        double x;
        const char *want;
    } cases[] = {
        {12, 6, 1e38, "1.000e+38"},
        {12, 6, 1e-9, "1.000e-09"},
        {12, 6, 4e-7, "4.000e-07"},
        {12, 6, 0.982052, "0.982052"},
        {12, 6, 1.511541, "1.511541"},
        {12, 6, 0.0, "0.000000"},
        {12, 6, 12345.6789, "12345.678900"},
        {12, 6, 123456.789, "1.235e+05"},
        {9, 6, 123.456, "1.235e+02"},   /* one half of a "mean +- std" cell */
        {9, 4, -139.0698, "-139.0698"},  /* a prediction */
        {9, 4, -1e-9, "-1.00e-09"},
        {9, 4, -18300.207, "-1.83e+04"},
        {8, 3, 1e30, "1.00e+30"},        /* x dense */
        {7, 3, 1e30, "1.0e+30"},         /* one end of the by-seed range */
        {3, 3, 1e30, "1e+30"},           /* nothing fits: the shortest */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cell[64];
        report_format_number(cell, sizeof cell, cases[i].w, cases[i].prec, cases[i].x);
        CHECK(strcmp(cell, cases[i].want) == 0, "%g in %d columns: '%s', want '%s'", cases[i].x,
              cases[i].w, cell, cases[i].want);
    }
}

/* ------------------------------------------------------------------------ */
/* temporary names */

/* atomicio_before_create: plants a symlink to planted_target at the first
 * name atomic_open picks, and records every name. */
static const char *planted_target;
static char picked[4][512];
static int n_picked;

static void plant_symlink(const char *tmp_path)
{
    if (n_picked < 4)
        snprintf(picked[n_picked], sizeof picked[n_picked], "%s", tmp_path);
    if (n_picked++ == 0 && symlink(planted_target, tmp_path) != 0)
        perror("symlink");
}

/* The text of path (at most 63 bytes), or "" if unreadable. */
static const char *slurp_small(const char *path)
{
    static char buf[64];
    FILE *f = fopen(path, "rb");
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

/* A symlink at the very name atomic_open picks is never followed: the
 * create is exclusive, so another name is drawn, and the file the link
 * points to keeps its bytes. Old code opened "<path>.tmp.<pid>" with
 * fopen("wb"), which followed the link and truncated its target. */
static void test_temp_name_symlink(void)
{
    char err[256];
    const char *dir = test_tmpdir("faults_tmpname");
    char *victim = path_join(dir, "victim.txt"), *out = path_join(dir, "out.txt");
    if (victim == NULL || out == NULL ||
        atomic_write_bytes(victim, "precious", 8, err, sizeof err) != LD_OK) {
        CHECK(0, "setting up: %s", err);
        free(victim);
        free(out);
        return;
    }
    planted_target = "victim.txt"; /* relative to the link's directory */
    n_picked = 0;
    atomicio_before_create = plant_symlink;
    ld_status st = atomic_write_bytes(out, "new", 3, err, sizeof err);
    atomicio_before_create = NULL;
    CHECK(st == LD_OK, "write past a planted symlink: %s", err);
    CHECK(strcmp(slurp_small(victim), "precious") == 0, "the symlink's target was written: '%s'",
          slurp_small(victim));
    CHECK(strcmp(slurp_small(out), "new") == 0, "out.txt: '%s'", slurp_small(out));
    CHECK(n_picked == 2 && strcmp(picked[0], picked[1]) != 0,
          "a second, different name is drawn after the clash (%d names)", n_picked);
    struct stat sb;
    CHECK(lstat(picked[0], &sb) == 0 && S_ISLNK(sb.st_mode), "the planted symlink is left alone");
    /* "<path>.tmp." and 12 random characters, no PID */
    const size_t base = strlen(out) + 5;
    int shape = n_picked >= 1 && strncmp(picked[0], out, strlen(out)) == 0 &&
                strncmp(picked[0] + strlen(out), ".tmp.", 5) == 0 && strlen(picked[0]) == base + 12;
    for (size_t i = base; shape && picked[0][i] != '\0'; i++)
        shape = strchr("0123456789abcdefghijklmnopqrstuv", picked[0][i]) != NULL;
    CHECK(shape, "temporary name '%s'", picked[0]);
    free(victim);
    free(out);
}

/* Two writers of one file in one process (as two containers' PID 1 are):
 * each has its own temporary file, so the result is one writer's bytes
 * whole. With "<path>.tmp.<pid>" both wrote into one file and tore it. */
static void test_temp_name_two_writers(void)
{
    char err[256], a[4000], b[2000];
    const char *dir = test_tmpdir("faults_tmpname2");
    char *out = path_join(dir, "losses.csv");
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    atomic_file fa, fb;
    if (out == NULL || atomic_open(&fa, out, err, sizeof err) != LD_OK) {
        CHECK(0, "open: %s", err);
        free(out);
        return;
    }
    if (atomic_open(&fb, out, err, sizeof err) != LD_OK) {
        CHECK(0, "second open: %s", err);
        atomic_abort(&fa);
        free(out);
        return;
    }
    CHECK(strcmp(fa.tmp_path, fb.tmp_path) != 0, "two writers share '%s'", fa.tmp_path);
    fwrite(a, 1, sizeof a, fa.fp);
    fwrite(b, 1, sizeof b, fb.fp);
    ld_status sa = atomic_commit(&fa, err, sizeof err);
    ld_status sb = atomic_commit(&fb, err, sizeof err);
    CHECK(sa == LD_OK && sb == LD_OK, "both commits: %s", err);
    FILE *f = fopen(out, "rb");
    char got[8000];
    size_t n = f != NULL ? fread(got, 1, sizeof got, f) : 0;
    if (f != NULL)
        fclose(f);
    CHECK(n == sizeof b && memcmp(got, b, n) == 0, "the file is not the last writer's whole: %zu bytes",
          n);
    free(out);
}

void test_faults(void)
{
    test_divergence_loss();
    test_divergence_params();
    test_divergence_repeats();
    test_divergence_files();
    test_divergence_save_weights();
    test_stop_mid_run();
    test_stop_before_start();
    test_stop_after_last_epoch();
    test_stop_in_pretraining();
    test_progress_format();
    test_progress_render();
    test_memory_estimate();
    test_model_sizes();
    test_error_paths();
    test_table_cells();
    test_temp_name_symlink();
    test_temp_name_two_writers();
}
