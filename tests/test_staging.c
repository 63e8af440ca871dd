/* test_staging.c - result sets swapped in whole (io/staging.h): a commit
 * replaces the previous set and nothing else, an abort leaves it, a crash
 * at any step of a swap is finished by the next run, a live run's staging
 * directory is left alone, entries in the way are refused before anything
 * is written, and inputs that a set would replace are found by identity.
 *
 * The set used: "a.csv" (a file), "w" (a directory of *.bin files),
 * "gone.bin" (a file the new set does not write, so it is removed) and
 * "summary.json" (last). "user.txt" in the same directory is the user's.
 */
#define _POSIX_C_SOURCE 200809L /* fork, symlink, link */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "io/atomicio.h"
#include "io/staging.h"
#include "report/report.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* helpers */

static int owns_bin(const char *rel, int is_dir)
{
    size_t n = strlen(rel);
    return !is_dir && strchr(rel, '/') == NULL && n > 4 && strcmp(rel + n - 4, ".bin") == 0;
}

static const staging_entry test_set[] = {
    {"a.csv", 0, NULL}, {"w", 1, owns_bin}, {"gone.bin", 0, NULL}, {"summary.json", 0, NULL}};
#define N_SET (sizeof test_set / sizeof test_set[0])

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return;
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* The text of dir/name ("" if absent; at most 63 bytes). */
static const char *get(const char *dir, const char *name)
{
    static char buf[64];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static int exists(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &sb) == 0;
}

/* Staging directories in dir. */
static int stages(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0;
    if (d != NULL)
        closedir(d);
    return n;
}

/* A fresh directory holding the previous run's set and the user's file. */
static const char *old_set(const char *name)
{
    const char *dir = test_tmpdir(name);
    char w[512];
    snprintf(w, sizeof w, "%s/w", dir);
    mkdir(w, 0777);
    put(dir, "a.csv", "old a");
    put(dir, "w/x.bin", "old x");
    put(dir, "w/stale.bin", "old stale");
    put(dir, "gone.bin", "old gone");
    put(dir, "summary.json", "old s");
    put(dir, "user.txt", "user");
    return dir;
}

/* The new set, into the staging directory (gone.bin is not written). */
static void write_new(const char *work)
{
    put(work, "a.csv", "new a");
    put(work, "w/x.bin", "new x");
    put(work, "summary.json", "new s");
}

static int is_old(const char *dir)
{
    return strcmp(get(dir, "a.csv"), "old a") == 0 && strcmp(get(dir, "w/x.bin"), "old x") == 0 &&
           strcmp(get(dir, "w/stale.bin"), "old stale") == 0 &&
           strcmp(get(dir, "gone.bin"), "old gone") == 0 &&
           strcmp(get(dir, "summary.json"), "old s") == 0;
}

static int is_new(const char *dir)
{
    return strcmp(get(dir, "a.csv"), "new a") == 0 && strcmp(get(dir, "w/x.bin"), "new x") == 0 &&
           !exists(dir, "w/stale.bin") && !exists(dir, "gone.bin") &&
           strcmp(get(dir, "summary.json"), "new s") == 0;
}

/* ------------------------------------------------------------------------ */
/* commit, abort */

static void test_commit_and_abort(void)
{
    char err[512];
    const char *dir = old_set("staging_commit");
    staging s;
    CHECK(staging_begin(&s, dir, test_set, N_SET, err, sizeof err) == LD_OK, "begin: %s", err);
    write_new(s.work);
    CHECK(is_old(dir) && stages(dir) == 1, "while the run writes, the directory holds the old set");
    CHECK(staging_commit(&s, err, sizeof err) == LD_OK, "commit: %s", err);
    CHECK(is_new(dir), "after the commit: the new set, the stale w/stale.bin and gone.bin gone");
    CHECK(strcmp(get(dir, "user.txt"), "user") == 0 && stages(dir) == 0,
          "the user's file is kept, no staging directory is left");

    dir = old_set("staging_abort");
    CHECK(staging_begin(&s, dir, test_set, N_SET, err, sizeof err) == LD_OK, "begin: %s", err);
    put(s.work, "a.csv", "new a"); /* a run that fails half-way through its files */
    staging_abort(&s);
    CHECK(is_old(dir) && stages(dir) == 0, "after an abort: the old set, whole, and nothing else");
    CHECK(strcmp(get(dir, "user.txt"), "user") == 0, "the user's file is kept");
}

/* ------------------------------------------------------------------------ */
/* a crash at every point of a swap */

static int crash_at, steps;

static void crash_hook(const char *name)
{
    (void)name;
    if (++steps == crash_at)
        _exit(0);
}

/* In a child: stage the new set and die at point k (0: before the commit;
 * k >= 1: before the k-th step, the last being the removal of the staging
 * directory). */
static void crash_child(const char *dir, int k)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char err[512];
        staging s;
        crash_at = k;
        steps = 0;
        staging_test.before_step = crash_hook;
        if (staging_begin(&s, dir, test_set, N_SET, err, sizeof err) != LD_OK)
            _exit(3);
        write_new(s.work);
        if (k == 0)
            _exit(0);
        staging_commit(&s, err, sizeof err);
        _exit(2); /* the hook was not reached */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "crash point %d: child status %d", k,
          status);
}

static void test_crash_points(int no_exchange)
{
    char err[512];
    /* points: before the commit, before each of the N_SET steps, before the removal */
    for (int k = 0; k <= (int)N_SET + 1; k++) {
        const char *dir = old_set("staging_crash");
        staging_test.no_exchange = no_exchange;
        crash_child(dir, k);
        /* what a reader sees now: every entry whole, and a new summary.json
         * only beside the whole new set */
        const int new_summary = strcmp(get(dir, "summary.json"), "new s") == 0;
        CHECK(stages(dir) == 1 && (!new_summary || is_new(dir)) && (k > 0 || is_old(dir)),
              "crash point %d (exchange %s): what the crash left", k, no_exchange ? "off" : "on");
        /* the next run finishes the swap (or drops the unfinished set) */
        staging s;
        ld_status st = staging_begin(&s, dir, test_set, N_SET, err, sizeof err);
        CHECK(st == LD_OK, "crash point %d: the next begin: %s", k, err);
        if (st == LD_OK)
            staging_abort(&s);
        CHECK(k == 0 ? is_old(dir) : is_new(dir), "crash point %d (exchange %s): not the %s set",
              k, no_exchange ? "off" : "on", k == 0 ? "old" : "new");
        CHECK(stages(dir) == 0 && strcmp(get(dir, "user.txt"), "user") == 0,
              "crash point %d: staging directory left, or the user's file touched", k);
        staging_test.no_exchange = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* two runs at once */

static void test_live_run_left_alone(void)
{
    char err[512];
    const char *dir = old_set("staging_live");
    staging s1, s2;
    CHECK(staging_begin(&s1, dir, test_set, N_SET, err, sizeof err) == LD_OK, "begin 1: %s", err);
    put(s1.work, "a.csv", "one");
    /* s2's begin clears dead runs' staging directories, not s1's */
    CHECK(staging_begin(&s2, dir, test_set, N_SET, err, sizeof err) == LD_OK, "begin 2: %s", err);
    CHECK(stages(dir) == 2 && strcmp(get(s1.work, "a.csv"), "one") == 0,
          "a live run's staging directory was touched");
    write_new(s2.work);
    CHECK(staging_commit(&s2, err, sizeof err) == LD_OK && is_new(dir), "commit 2: %s", err);
    put(s1.work, "summary.json", "one s");
    CHECK(staging_commit(&s1, err, sizeof err) == LD_OK, "commit 1: %s", err);
    CHECK(strcmp(get(dir, "a.csv"), "one") == 0 && strcmp(get(dir, "summary.json"), "one s") == 0 &&
              !exists(dir, "w/x.bin") && stages(dir) == 0,
          "the later commit's set, whole: a.csv '%s'", get(dir, "a.csv"));
}

/* ------------------------------------------------------------------------ */
/* entries in the way: refused before anything is written */

/* left: the staging directories that must be there afterwards */
static void expect_refused(const char *what, const char *dir, const char *needle, int left)
{
    char err[512] = "";
    staging s;
    ld_status st = staging_begin(&s, dir, test_set, N_SET, err, sizeof err);
    CHECK(st == LD_EIO && strstr(err, needle) != NULL && stages(dir) == left,
          "%s: status %d, message '%s', %d staging directories", what, (int)st, err, stages(dir));
    if (st == LD_OK)
        staging_abort(&s);
}

static void test_refusals(void)
{
    char err[512], path[512], target[512];
    const char *dir = test_tmpdir("staging_refuse");
    put(dir, "w", "a file where the set has a directory");
    expect_refused("a file at w", dir, "/w: Not a directory", 0);

    dir = test_tmpdir("staging_refuse_link");
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    snprintf(path, sizeof path, "%s/w", dir);
    mkdir(target, 0777);
    CHECK(symlink("elsewhere", path) == 0, "symlink");
    expect_refused("a symlink at w", dir, "/w: a symbolic link, not a directory", 0);

    dir = old_set("staging_refuse_foreign");
    put(dir, "w/notes.txt", "the user's");
    expect_refused("a foreign file in w", dir, "/w/notes.txt: not written by lora_demo", 0);
    CHECK(is_old(dir) && strcmp(get(dir, "w/notes.txt"), "the user's") == 0, "the old set kept");

    dir = test_tmpdir("staging_refuse_dir");
    snprintf(path, sizeof path, "%s/a.csv", dir);
    mkdir(path, 0777);
    expect_refused("a directory at a.csv", dir, "/a.csv: Is a directory", 0);

    /* in the way only after the run began: the commit refuses, the old set stays */
    dir = old_set("staging_refuse_late");
    staging s;
    CHECK(staging_begin(&s, dir, test_set, N_SET, err, sizeof err) == LD_OK, "begin: %s", err);
    write_new(s.work);
    put(dir, "w/notes.txt", "the user's");
    CHECK(staging_commit(&s, err, sizeof err) == LD_EIO && strstr(err, "w/notes.txt") != NULL,
          "commit with a foreign file in w: '%s'", err);
    CHECK(is_old(dir) && stages(dir) == 0, "a refused commit leaves the old set and no staging");

    /* a staging directory whose journal cannot be read: said, not guessed */
    dir = old_set("staging_refuse_journal");
    snprintf(path, sizeof path, "%s/" STAGING_PREFIX "AbCdEf", dir);
    mkdir(path, 0700);
    put(path, "journal", "not a journal\n");
    expect_refused("a damaged journal", dir, "journal: unreadable", 1);
    CHECK(is_old(dir), "the old set kept");
    /* and an entry name that is not one */
    const staging_entry bad[] = {{"a/b", 0, NULL}};
    CHECK(staging_begin(&s, dir, bad, 1, err, sizeof err) == LD_ESTATE, "a name with '/': %s", err);
}

/* ------------------------------------------------------------------------ */
/* inputs the set would replace */

static void expect_input(const char *what, const char *dir, const char *input, ld_status want,
                         const char *needle)
{
    char err[512] = "";
    const staging_input in[] = {{"--data", NULL}, {"--base-weights", input}};
    ld_status st = staging_check_inputs(dir, test_set, N_SET, in, 2, err, sizeof err);
    CHECK(st == want && (needle == NULL || strstr(err, needle) != NULL),
          "%s: status %d, message '%s'", what, (int)st, err);
}

static void test_inputs(void)
{
    char path[512], other[512], dir[256], out[256];
    snprintf(out, sizeof out, "%s", test_tmpdir("staging_inputs_out"));
    snprintf(dir, sizeof dir, "%s", old_set("staging_inputs"));
    snprintf(path, sizeof path, "%s/a.csv", dir);
    expect_input("the path of an entry", dir, path, LD_EINPUT,
                 "--base-weights: tests/tmp/staging_inputs/a.csv is an output of this run");
    snprintf(other, sizeof other, "%s/link.csv", out);
    CHECK(symlink("../staging_inputs/a.csv", other) == 0, "symlink");
    expect_input("a symlink to an entry", dir, other, LD_EINPUT,
                 "link.csv is the file tests/tmp/staging_inputs/a.csv, an output of this run");
    snprintf(other, sizeof other, "%s/hard.csv", out);
    CHECK(link(path, other) == 0, "link");
    expect_input("a hard link to an entry", dir, other, LD_EINPUT, "hard.csv is the file");
    snprintf(path, sizeof path, "%s/w/stale.bin", dir);
    expect_input("a file inside a directory entry", dir, path, LD_EINPUT, "w/stale.bin");
    snprintf(path, sizeof path, "%s/user.txt", dir);
    expect_input("a file that is not in the set", dir, path, LD_OK, NULL);
    expect_input("no input", dir, NULL, LD_OK, NULL);
    snprintf(path, sizeof path, "%s/a.csv", dir);
    expect_input("an output directory that does not exist", "tests/tmp/staging_nowhere", path,
                 LD_OK, NULL);
    CHECK(!exists("tests/tmp", "staging_nowhere") && is_old(dir) && stages(dir) == 0,
          "checking the inputs wrote something");
}

/* ------------------------------------------------------------------------ */
/* messages, and lora_demo's own set */

static void test_unstage_message(void)
{
    staging s;
    memset(&s, 0, sizeof s);
    char dir[] = "out/", work[] = "out/.lora_demo.AbCdEf/new";
    s.dir = dir;
    s.work = work;
    char msg[128] = "out/.lora_demo.AbCdEf/new/w/x.bin: No space left on device";
    staging_unstage_message(&s, msg);
    CHECK(strcmp(msg, "out/w/x.bin: No space left on device") == 0, "'%s'", msg);
    char other[128] = "out of memory";
    staging_unstage_message(&s, other);
    CHECK(strcmp(other, "out of memory") == 0, "'%s'", other);
}

/* The set lora_demo writes, and what it claims inside weights/ and adapters/. */
static void test_lora_demo_set(void)
{
    config c;
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    c.save_data = c.save_weights = 1;
    staging_entry set[REPORT_MAX_ENTRIES];
    size_t n = report_output_set(&c, set);
    CHECK(n == 11 && strcmp(set[n - 1].name, "summary.json") == 0 &&
              strcmp(set[3].name, "spectrum.csv") == 0 && strcmp(set[4].name, "spectrum.svg") == 0 &&
              strcmp(set[7].name, "weights") == 0 && set[7].is_dir &&
              strcmp(set[8].name, "adapters") == 0 && strcmp(set[9].name, "base.safetensors") == 0,
          "finetune with --save-data --save-weights: %zu entries", n);
    if (n != 11)
        return;
    const staging_entry *w = &set[7], *a = &set[8];
    CHECK(w->owns("dense.init.safetensors", 0) && w->owns("lora_r12.final.safetensors", 0) &&
              w->owns("lora_r1.final.safetensors.tmp.12345", 0),
          "weights/ owns the weights files and their temporaries");
    CHECK(!w->owns("notes.txt", 0) && !w->owns("lora_r.init.safetensors", 0) &&
              !w->owns("dense.init.safetensors", 1) && !w->owns("base.safetensors", 0) &&
              !w->owns("dense.init.safetensorsx", 0),
          "weights/ owns nothing else");
    CHECK(a->owns("lora_r1", 1) && a->owns("lora_r1/adapter_config.json", 0) &&
              a->owns("lora_r3/adapter_model.safetensors", 0),
          "adapters/ owns lora_rK/ and its two files");
    CHECK(!a->owns("lora_r1", 0) && !a->owns("dense", 1) && !a->owns("lora_r1/x.txt", 0) &&
              !a->owns("lora_r1/adapter_config.json", 1),
          "adapters/ owns nothing else");
    config_defaults(&c);
    n = report_output_set(&c, set);
    CHECK(n == 6 && strcmp(set[5].name, "summary.json") == 0, "a plain run: %zu entries", n);
}

void test_staging(void)
{
    test_commit_and_abort();
    test_crash_points(0);
    test_crash_points(1);
    test_live_run_left_alone();
    test_refusals();
    test_inputs();
    test_unstage_message();
    test_lora_demo_set();
}
