/* check_outputs.c - is every result file in a directory complete?
 *
 * usage: check_outputs [--all] [--interrupted 0|1] DIR EPOCHS
 *
 * Used by tests/fault_test.sh after runs that were killed (SIGKILL) or
 * interrupted (SIGINT). Every file under a final name that exists must be
 * whole; partial files may only be in a staging directory (staging.h):
 *   losses.csv, losses_std.csv  a header "epoch,<name>,..." and exactly
 *                   EPOCHS rows numbered 1..EPOCHS, each with as many cells
 *                   as the header; a cell is empty or a finite number; the
 *                   file ends with a newline
 *   summary.json    parses as JSON (json_parse), an object with a boolean
 *                   "interrupted" and a "models" array (as long as the
 *                   losses.csv header has models, if both exist); each
 *                   model's "setup_ms" and "train_ms" numbers >= 0
 *   losses.svg      starts with "<?xml" and ends with "</svg>\n"
 *   spectrum.csv    the header "model,layer,index,sigma", then rows of a
 *                   name, a layer >= 0, an index >= 1 and a finite sigma
 *                   >= 0; ends with a newline
 *   spectrum.svg    as losses.svg
 *   rank.svg        (--ranks all) as losses.svg, when it is there
 * The files of --save-data and --save-weights may be there too (not
 * checked). Any other name in DIR is an error, except a killed run's staging
 * directory ".lora_demo.XXXXXX" (the next run clears it): temporary files
 * are written only inside it, never beside the results.
 * --all requires all six files; --interrupted checks the flag's value.
 * Prints one line per problem and exits 1 if there was any.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/staging.h"

static int problems = 0;

static void problem(const char *dir, const char *file, const char *what)
{
    fprintf(stderr, "check_outputs: %s/%s: %s\n", dir, file, what);
    problems++;
}

/* The whole file in a malloc'd buffer (NUL-terminated); NULL if absent. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (buf == NULL)
            break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap + 1);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = bigger;
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "check_outputs: out of memory reading %s\n", path);
        exit(2);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Cells in one line [s, e). */
static int count_cells(const char *s, const char *e)
{
    int n = 1;
    for (const char *p = s; p < e; p++)
        n += *p == ',';
    return n;
}

/* A losses CSV; returns the number of model columns, or -1. */
static int check_curves(const char *dir, const char *name, long epochs)
{
    size_t len = 0;
    char *buf = slurp(dir, name, &len);
    if (buf == NULL)
        return -1;
    int cols = -1;
    if (len == 0 || buf[len - 1] != '\n' || strlen(buf) != len) {
        problem(dir, name, "empty, not ending in a newline, or holding a NUL byte");
        goto done;
    }
    char *line = buf, *nl = strchr(line, '\n');
    if (strncmp(line, "epoch,", 6) != 0) {
        problem(dir, name, "header does not start with 'epoch,'");
        goto done;
    }
    const int want = count_cells(line, nl);
    long row = 0;
    for (line = nl + 1; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        row++;
        char *end = NULL;
        if (strtol(line, &end, 10) != row || *end != ',') {
            problem(dir, name, "rows are not numbered 1, 2, 3, ...");
            goto done;
        }
        if (count_cells(line, nl) != want) {
            problem(dir, name, "a row has another number of cells than the header");
            goto done;
        }
        for (char *c = end + 1; c <= nl; c = end + 1) {
            if (*c == ',' || *c == '\n') { /* empty cell */
                end = c;
                continue;
            }
            double v = strtod(c, &end);
            if (end == c || (*end != ',' && *end != '\n') || !isfinite(v)) {
                problem(dir, name, "a cell is neither empty nor a finite number");
                goto done;
            }
        }
    }
    if (row != epochs) {
        char msg[96];
        snprintf(msg, sizeof msg, "%ld rows, want %ld", row, epochs);
        problem(dir, name, msg);
        goto done;
    }
    cols = want - 1;
done:
    free(buf);
    return cols;
}

/* 1 if every model in ms has the timings `key` as a number >= 0. */
static int timings_ok(const json_value *ms, const char *key)
{
    for (size_t i = 0; i < json_length(ms); i++) {
        const json_value *v = json_get(json_at(ms, i), key);
        if (json_type_of(v) != JSON_NUMBER || !(json_number(v) >= 0.0))
            return 0;
    }
    return 1;
}

/* summary.json; returns the number of models, or -1. */
static int check_summary(const char *dir, int want_interrupted)
{
    size_t len = 0;
    char *buf = slurp(dir, "summary.json", &len);
    if (buf == NULL)
        return -1;
    json_value *root = NULL;
    char err[256];
    int models = -1;
    if (json_parse(buf, len, &root, err, sizeof err) != LD_OK) {
        problem(dir, "summary.json", err);
    } else {
        const json_value *intr = json_get(root, "interrupted");
        const json_value *ms = json_get(root, "models");
        const int is_true = json_type_of(intr) == JSON_TRUE;
        if ((!is_true && json_type_of(intr) != JSON_FALSE) || json_type_of(ms) != JSON_ARRAY)
            problem(dir, "summary.json", "no boolean \"interrupted\" or no \"models\" array");
        else if (want_interrupted >= 0 && is_true != want_interrupted)
            problem(dir, "summary.json", "\"interrupted\" has the wrong value");
        else if (!timings_ok(ms, "setup_ms") || !timings_ok(ms, "train_ms"))
            problem(dir, "summary.json", "a model without \"setup_ms\" and \"train_ms\" numbers >= 0");
        else
            models = (int)json_length(ms);
    }
    json_free(root);
    free(buf);
    return models;
}

static int check_svg(const char *dir, const char *name)
{
    size_t len = 0;
    char *buf = slurp(dir, name, &len);
    if (buf == NULL)
        return 0;
    static const char tail[] = "</svg>\n";
    if (strncmp(buf, "<?xml", 5) != 0 || len < sizeof tail - 1 ||
        strcmp(buf + len - (sizeof tail - 1), tail) != 0)
        problem(dir, name, "does not start with <?xml and end with </svg>");
    free(buf);
    return 1;
}

/* spectrum.csv: the header, then whole rows "name,layer,index,sigma". */
static void check_spectrum(const char *dir)
{
    static const char header[] = "model,layer,index,sigma\n";
    size_t len = 0;
    char *buf = slurp(dir, "spectrum.csv", &len);
    if (buf == NULL)
        return;
    if (strlen(buf) != len || strncmp(buf, header, sizeof header - 1) != 0 || buf[len - 1] != '\n') {
        problem(dir, "spectrum.csv", "no header, not ending in a newline, or holding a NUL byte");
        free(buf);
        return;
    }
    for (char *line = buf + sizeof header - 1, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        char *c = strchr(line, ','), *end = NULL;
        if (c == line || c == NULL || c > nl || count_cells(line, nl) != 4) {
            problem(dir, "spectrum.csv", "a row is not name,layer,index,sigma");
            break;
        }
        const long layer = strtol(c + 1, &end, 10);
        const long index = *end == ',' ? strtol(end + 1, &end, 10) : -1;
        const double sigma = *end == ',' ? strtod(end + 1, &end) : -1.0;
        if (layer < 0 || index < 1 || !(sigma >= 0.0) || !isfinite(sigma) || end != nl) {
            problem(dir, "spectrum.csv", "a row has a bad layer, index or sigma");
            break;
        }
    }
    free(buf);
}

int main(int argc, char **argv)
{
    int all = 0, want_interrupted = -1, a = 1;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        if (strcmp(argv[a], "--all") == 0)
            all = 1;
        else if (strcmp(argv[a], "--interrupted") == 0 && a + 1 < argc)
            want_interrupted = atoi(argv[++a]);
        else
            break;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: check_outputs [--all] [--interrupted 0|1] DIR EPOCHS\n");
        return 2;
    }
    const char *dir = argv[a];
    const long epochs = strtol(argv[a + 1], NULL, 10);

    DIR *d = opendir(dir);
    if (d == NULL) {
        if (all)
            problem(dir, "", "no such directory");
        return problems ? 1 : 0;
    }
    static const char *const finals[] = {"losses.csv",   "losses_std.csv", "summary.json",
                                         "losses.svg",   "spectrum.csv",   "spectrum.svg"};
    enum { NFINALS = sizeof finals / sizeof finals[0] };
    int present[NFINALS] = {0};
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        /* the files of --save-data and --save-weights are not checked here; rank.svg above */
        static const char *const saved[] = {"train.csv", "test.csv", "weights", "adapters",
                                            "base.safetensors", "rank.svg"};
        int known = strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
                    (strncmp(n, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0 &&
                     strlen(n) == strlen(STAGING_PREFIX) + 6);
        for (int i = 0; i < NFINALS; i++)
            if (strcmp(n, finals[i]) == 0)
                known = present[i] = 1;
        for (size_t i = 0; i < sizeof saved / sizeof saved[0]; i++)
            known |= strcmp(n, saved[i]) == 0;
        if (!known)
            problem(dir, n, "unexpected file");
    }
    closedir(d);

    const int c1 = check_curves(dir, "losses.csv", epochs);
    const int c2 = check_curves(dir, "losses_std.csv", epochs);
    const int m = check_summary(dir, want_interrupted);
    check_svg(dir, "losses.svg");
    check_svg(dir, "spectrum.svg");
    check_svg(dir, "rank.svg");
    check_spectrum(dir);
    if (c1 >= 0 && c2 >= 0 && c1 != c2)
        problem(dir, "losses_std.csv", "has another number of columns than losses.csv");
    if (c1 >= 0 && m >= 0 && c1 != m)
        problem(dir, "summary.json", "has another number of models than losses.csv has columns");
    for (int i = 0; all && i < NFINALS; i++)
        if (!present[i])
            problem(dir, finals[i], "missing");
    return problems ? 1 : 0;
}
