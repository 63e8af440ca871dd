/* alloc_fail.c - every allocation of a run made to fail, one at a time.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=aligned_alloc,--wrap=free (Makefile: build/alloc_fail), so every
 * call the project's own code makes goes through the wrappers below; the C
 * library's internal allocations do not. A sweep runs one operation again
 * and again with its k-th allocation failing, k = 1, 2, 3, ..., until a run
 * makes fewer than k allocations. Each failing run must
 *   - return a failure with a non-empty one-line message (or, where the
 *     code has a fallback, succeed: matmul computes without its scratch),
 *   - free everything it allocated (a live-block count, kept by the
 *     wrappers, is back where it started), and
 *   - leave no temporary file and no staging directory in its output
 *     directory (and the previous run's set as it was).
 * The operations: a scratch and a finetune run with repeats, mini-batches,
 * two threads and every output (tables, losses, summary, SVG, data,
 * weights, adapters), staged and swapped in as main.c does; the same for
 * --hidden networks, and a finetune network with DoRA, dropout and LoRA+;
 * PiSSA on two threads with a layer wide enough for the SVD's bidiagonal
 * route (its pool, the spectra on the trainer's pool); a run that reads
 * data and base weights back from
 * files (CSV, safetensors, JSON); the readers alone; the SVD. No libFuzzer, no
 * sanitizer needed; under make sanitize, ASan checks the same paths too.
 * Ends with "alloc_fail: N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "cli.h"
#include "config.h"
#include "io/csv.h"
#include "io/dataio.h"
#include "experiment/experiment.h"
#include "report/export.h"
#include "io/json.h"
#include "report/report.h"
#include "io/safetensors.h"
#include "io/staging.h"
#include "core/svd.h"
#include "test.h"

int t_passed = 0;
int t_failed = 0;

/* ------------------------------------------------------------------------ */
/* the wrappers */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
void __wrap_free(void *p);

static atomic_long fail_at;  /* 0: no failure; k: the k-th allocation fails */
static atomic_long calls;    /* allocations since the sweep step began */
static atomic_long live;     /* blocks allocated and not yet freed */
static atomic_long injected; /* failures handed out */

/* 1 if this allocation is the one to fail. */
static int fail_now(void)
{
    const long k = atomic_load(&fail_at);
    const long c = atomic_fetch_add(&calls, 1) + 1;
    if (k > 0 && c == k) {
        atomic_fetch_add(&injected, 1);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (fail_now())
        return NULL;
    void *p = __real_malloc(n);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_now())
        return NULL;
    void *p = __real_calloc(n, size);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_now())
        return NULL;
    void *q = __real_realloc(p, n);
    if (q != NULL && p == NULL)
        atomic_fetch_add(&live, 1);
    return q;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    if (fail_now())
        return NULL;
    void *p = __real_aligned_alloc(align, n);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void __wrap_free(void *p)
{
    if (p != NULL)
        atomic_fetch_sub(&live, 1);
    __real_free(p);
}

/* ------------------------------------------------------------------------ */
/* helpers */

/* 1 if dir holds a file whose name has ".tmp." in it, or a staging directory. */
static int has_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        found |= strstr(e->d_name, ".tmp.") != NULL ||
                 strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0;
    closedir(d);
    return found;
}

/* dir/summary.json into buf (at most cap bytes, no allocation); its length,
 * or -1 if there is none. */
static long read_summary(const char *dir, char *buf, size_t cap)
{
    char path[600];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* An operation: returns its status and fills err. */
typedef ld_status (*operation)(const char *dir, char *err, size_t errlen);

/* Run op with its k-th allocation failing, for k = 1, 2, ... until it makes
 * fewer than k; check each failing run (see the top of the file). */
static void sweep(const char *name, operation op, const char *dir)
{
    char err[512];
    long k = 1, failed_runs = 0, graceful = 0;
    static char prev[1 << 16];
    for (;; k++) {
        const long n_prev = read_summary(dir, prev, sizeof prev);
        const long before = atomic_load(&live);
        atomic_store(&calls, 0);
        atomic_store(&injected, 0);
        atomic_store(&fail_at, k);
        err[0] = '\0';
        const ld_status st = op(dir, err, sizeof err);
        atomic_store(&fail_at, 0);
        const long made = atomic_load(&calls), after = atomic_load(&live);
        CHECK(after == before, "%s, allocation %ld failing: %ld blocks leaked (%s)", name, k,
              after - before, err);
        CHECK(!has_tmp_files(dir), "%s, allocation %ld failing: a temporary file was left", name, k);
        if (st != LD_OK) {
            static char now[1 << 16];
            const long n_now = read_summary(dir, now, sizeof now);
            CHECK(n_now == n_prev && (n_now < 0 || memcmp(now, prev, (size_t)n_now) == 0),
                  "%s, allocation %ld failing: the previous summary.json changed", name, k);
        }
        if (atomic_load(&injected) == 0) {
            /* every allocation succeeded: the run itself must have */
            CHECK(st == LD_OK, "%s without a failure: %s", name, err);
            break;
        }
        if (st == LD_OK) {
            graceful++;
        } else {
            failed_runs++;
            CHECK(err[0] != '\0' && strchr(err, '\n') == NULL,
                  "%s, allocation %ld failing: status %d with message '%s'", name, k, (int)st, err);
        }
        if (made < k)
            break;
    }
    printf("alloc_fail %-10s %4ld allocations: %ld failed cleanly, %ld carried on\n", name, k - 1,
           failed_runs, graceful);
}

/* ------------------------------------------------------------------------ */
/* the operations */

/* Parse argv as main does, load the inputs, run, write every output. */
static ld_status run_all(const char *dir, const char *const *args, int nargs, char *err,
                         size_t errlen)
{
    char *argv[32];
    argv[0] = (char *)"lora_demo";
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    argv[nargs + 1] = NULL;
    config cfg;
    cli_action action;
    ld_status st = cli_parse(nargs + 1, argv, &cfg, &action, err, errlen);
    if (st != LD_OK)
        return st;
    cfg.output_dir = dir;
    /* the input files, as main.c's load_inputs reads and merges them */
    run_inputs in;
    input_files files;
    input_sizes sizes;
    config_input_files(&cfg, &files);
    st = inputs_load_data(&files, &in, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_counts(&cfg, &sizes, err, errlen);
    if (st == LD_OK)
        st = inputs_load_base(&files, &in, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_sizes(&cfg, &sizes, err, errlen);
    if (st != LD_OK) {
        inputs_free(&in);
        return st;
    }
    /* the result set, staged as main.c's prepare_outputs does */
    staging_entry set[REPORT_MAX_ENTRIES];
    const size_t n_set = report_output_set(&cfg, set);
    staging stage;
    st = staging_begin(&stage, dir, set, n_set, err, errlen);
    if (st != LD_OK) {
        inputs_free(&in);
        return st;
    }
    experiment_result res;
    st = experiment_run(&cfg, &in, NULL, &res, err, errlen);
    inputs_free(&in);
    if (st != LD_OK) {
        staging_abort(&stage);
        return st;
    }
    const char *work = stage.work;
    st = report_write_losses(work, &res, err, errlen);
    if (st == LD_OK)
        st = report_write_summary(work, &cfg, &res, err, errlen);
    if (st == LD_OK)
        st = report_write_svg(work, &cfg, &res, err, errlen);
    if (st == LD_OK && cfg.save_data)
        st = export_data(work, &res, err, errlen);
    if (st == LD_OK && cfg.save_weights)
        st = export_weights(work, &cfg, &res, err, errlen);
    if (st == LD_OK)
        st = staging_commit(&stage, err, errlen);
    else
        staging_abort(&stage);
    if (st == LD_OK) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink != NULL) {
            report_print(sink, &cfg, &res);
            fclose(sink);
        }
    }
    experiment_result_free(&res);
    return st;
}

static ld_status op_scratch(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--epochs", "3", "--samples", "12", "--test-samples", "4",
                                       "--in", "4", "--out", "3", "--ranks", "1,2", "--repeats",
                                       "2", "--batch-size", "5", "--threads", "2", "--save-data",
                                       "--save-weights", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

static ld_status op_finetune(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--experiment", "finetune", "--epochs", "3",
                                       "--pretrain-epochs", "3", "--samples", "10",
                                       "--test-samples", "5", "--in", "4", "--out", "3",
                                       "--ranks", "2,1", "--repeats", "2", "--save-data",
                                       "--save-weights", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

/* --hidden networks, scratch and finetune, with every file they write. */
static ld_status op_network(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--epochs", "2", "--samples", "8", "--test-samples", "4",
                                       "--in", "4", "--out", "3", "--hidden", "5,4",
                                       "--activation", "gelu", "--ranks", "1,2", "--batch-size",
                                       "5", "--save-data", "--save-weights", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

static ld_status op_network_finetune(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--experiment", "finetune", "--epochs", "2",
                                       "--pretrain-epochs", "2", "--samples", "8",
                                       "--test-samples", "4", "--in", "4", "--out", "3",
                                       "--hidden", "5", "--ranks", "2,1", "--save-weights",
                                       "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

/* A finetune network with DoRA, dropout and LoRA+ on every layer: each
 * layer's DoRA norms and the variants' buffers fail in turn too. */
static ld_status op_network_variants(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--experiment", "finetune", "--epochs", "2",
                                       "--pretrain-epochs", "2", "--samples", "8",
                                       "--test-samples", "4", "--in", "4", "--out", "3",
                                       "--hidden", "5,4", "--ranks", "1,2", "--dora",
                                       "--lora-dropout", "0.1", "--loraplus-ratio", "4",
                                       "--batch-size", "5", "--save-weights", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

/* Reads what op_finetune wrote in the same directory: data from CSV, the
 * base from safetensors; with the LoRA variants on, so that their
 * allocations (DoRA's norms, the saved activations) fail in turn too. */
static char files_dir[512];

/* The same with --init pissa: the SVD's work space, the residual kept for
 * the unmerge check and for export, the adapters' base.safetensors. */
static ld_status op_pissa(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--experiment", "finetune", "--init", "pissa", "--epochs",
                                       "3", "--pretrain-epochs", "3", "--samples", "10",
                                       "--test-samples", "5", "--in", "4", "--out", "3",
                                       "--ranks", "2,1", "--save-weights", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

/* PiSSA on a layer wide enough for the bidiagonal route (k = 66 >= 64) on
 * two threads: pissa_start's pool, the SVDs' work space with that pool
 * running, and the spectra on the trainer's pool. */
static ld_status op_pissa_threads(const char *dir, char *err, size_t errlen)
{
    static const char *const args[] = {"--experiment", "finetune", "--init", "pissa", "--epochs",
                                       "2", "--pretrain-epochs", "2", "--samples", "8",
                                       "--test-samples", "4", "--in", "70", "--out", "66",
                                       "--ranks", "2", "--threads", "2", "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

static ld_status op_from_files(const char *dir, char *err, size_t errlen)
{
    char data[600], test[600], base[600];
    snprintf(data, sizeof data, "%s/train.csv", files_dir);
    snprintf(test, sizeof test, "%s/test.csv", files_dir);
    snprintf(base, sizeof base, "%s/base.safetensors", files_dir);
    const char *const args[] = {"--experiment", "finetune", "--data", data, "--test-data", test,
                                "--base-weights", base, "--epochs", "2", "--ranks", "1",
                                "--dora", "--lora-dropout", "0.1", "--loraplus-ratio", "4",
                                "--quiet"};
    return run_all(dir, args, (int)(sizeof args / sizeof args[0]), err, errlen);
}

/* The readers on their own, on what op_finetune wrote. */
static ld_status op_readers(const char *dir, char *err, size_t errlen)
{
    (void)dir;
    char path[600];
    snprintf(path, sizeof path, "%s/train.csv", files_dir);
    csv_table t;
    ld_status st = csv_read_table(path, &t, err, errlen);
    if (st != LD_OK)
        return st;
    float *x = NULL, *y = NULL;
    int n, in, out;
    st = csv_table_split_xy(&t, 0, 0, &x, &y, &n, &in, &out, path, err, errlen);
    csv_table_free(&t);
    free(x);
    free(y);
    if (st != LD_OK)
        return st;
    snprintf(path, sizeof path, "%s/weights/lora_r2.final.safetensors", files_dir);
    st_file f;
    st = st_load(path, &f, err, errlen);
    if (st != LD_OK)
        return st;
    float *a = NULL;
    const st_tensor *ta = st_find(&f, "lora_A.weight");
    if (ta != NULL)
        st = st_get_f32(&f, "lora_A.weight", ta->ndim, ta->shape, &a, err, errlen);
    free(a);
    st_free(&f);
    if (st != LD_OK)
        return st;
    static const char doc[] = "{\"a\": [1, 2.5, {\"b\": \"\\u00e9\\ud83d\\ude00\", \"c\": null}],"
                              " \"d\": {\"e\": true, \"f\": [[], {}]}}";
    json_value *v = NULL;
    st = json_parse(doc, sizeof doc - 1, &v, err, errlen);
    json_free(v);
    return st;
}

/* The SVD: a tall and a wide matrix (one with the LQ step), V^T alone (U
 * in scratch), and the low-rank product. */
static ld_status op_svd(const char *dir, char *err, size_t errlen)
{
    (void)dir;
    double a[7 * 5], s[5], u[7 * 5], vt[5 * 7];
    for (int i = 0; i < 7 * 5; i++)
        a[i] = (double)((i * 7) % 11) - 5.0;
    ld_status st = svd(s, u, vt, a, 7, 5, err, errlen);
    if (st == LD_OK)
        st = svd(s, NULL, vt, a, 5, 7, err, errlen);
    float b[6 * 2], fa[2 * 4];
    for (int i = 0; i < 12; i++)
        b[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 8; i++)
        fa[i] = (float)(i % 3) - 1.0f;
    if (st == LD_OK)
        st = svd_lowrank(s, NULL, vt, b, fa, 2.0, 6, 2, 4, err, errlen);
    return st;
}

int main(void)
{
    /* test_tmpdir returns a static buffer: copy each */
    char dir[512], dir2[512];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("alloc_fail"));
    snprintf(dir2, sizeof dir2, "%s", test_tmpdir("alloc_fail_files"));
    snprintf(files_dir, sizeof files_dir, "%s", dir);
    sweep("scratch", op_scratch, dir);
    sweep("finetune", op_finetune, dir);
    sweep("pissa", op_pissa, dir);
    sweep("pissa 2t", op_pissa_threads, dir);
    sweep("files", op_from_files, dir2);
    sweep("network", op_network, dir2);
    sweep("network ft", op_network_finetune, dir2);
    sweep("network var", op_network_variants, dir2);
    sweep("readers", op_readers, dir);
    sweep("svd", op_svd, dir);
    printf("alloc_fail: %d passed, %d failed\n", t_passed, t_failed);
    return t_failed == 0 ? 0 : 1;
}
