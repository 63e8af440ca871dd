/* main.c - the lora_demo driver: argv -> config -> experiment -> report.
 *
 * The only place that prints errors or chooses an exit status:
 *   0   success (a model that diverged is a result, reported, not a failure)
 *   1   runtime failure (including a run too big for memory, refused up front)
 *   2   bad usage or bad input
 *   130 interrupted by SIGINT (128 + 2, as a shell reports a ^C)
 * It also owns the two things a library may not do: it installs the SIGINT
 * handler, whose flag the experiment polls, and it draws the progress line.
 * The config is filled here and only read below: cli_parse fills it from
 * argv, and config_merge_* add what the input files say (load_inputs).
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, isatty, open, fcntl */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "io/dataio.h"
#include "io/staging.h"
#include "experiment/experiment.h"
#include "report/export.h"
#include "report/progress.h"
#include "report/report.h"
#include "report/spectra.h"
#include "status.h"

#define EXIT_INTERRUPTED 130

/* Set by the SIGINT handler, polled by the experiment after every epoch. */
static volatile sig_atomic_t interrupt_requested = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupt_requested = 1;
}

/* The first SIGINT asks the run to stop after the current epoch and write
 * what it has. SA_RESETHAND puts back the default action, so a second
 * SIGINT ends the process at once (the atomic writes still leave no
 * half-written file under a final name). */
static void install_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
}

/* A file-size limit (ulimit -f) makes write() fail with EFBIG instead of
 * ending the process with SIGXFSZ: the run then says which file and why,
 * exits 1, and removes its temporary file, as for a full disk. */
static void ignore_sigxfsz(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGXFSZ, &sa, NULL);
}

/* A standard descriptor (0, 1, 2) that the caller closed is opened on
 * /dev/null, read-only, before any file is opened: otherwise the first
 * result file would get its number, and the table or a message would be
 * written into it. Read-only, so that writing to a closed stdout still
 * fails (EBADF), and finish_stdout says so. */
static void reserve_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            const int got = open("/dev/null", O_RDONLY);
            if (got != fd && got >= 0) /* cannot happen: the lower ones are open */
                close(got);
        }
}

/* "lora_demo: <msg><suffix>" on one line of stderr, whatever the message
 * quotes: a control character (a newline in an argument or a path, say)
 * is printed as '?' (ld_fputs_printable). */
static void print_error(const char *msg, const char *suffix)
{
    fputs("lora_demo: ", stderr);
    ld_fputs_printable(msg, stderr);
    fprintf(stderr, "%s\n", suffix);
}

static int fail(ld_status st, const char *msg)
{
    print_error(msg, "");
    return ld_exit_code(st);
}

/* fail, once the output directory has been touched: bad usage and bad
 * input are refused before it (cli_parse, load_inputs), so exit 2 never
 * follows written results. An LD_EINPUT this late would be a check that
 * came too late; the run failed, exit 1, with its message. */
static int fail_late(ld_status st, const char *msg)
{
    return fail(st == LD_EINPUT ? LD_ESTATE : st, msg);
}

/* One stderr line per model (and pretraining) that diverged. */
static void warn_diverged(const experiment_result *res)
{
    for (int s = 0; res->pretrain_diverged_at != NULL && s < res->repeats; s++)
        if (res->pretrain_diverged_at[s] > 0)
            fprintf(stderr, "lora_demo: warning: pretraining diverged at epoch %d (seed %llu): "
                            "loss or parameters not finite\n",
                    res->pretrain_diverged_at[s], (unsigned long long)res->seeds[s]);
    for (int i = 0; i < res->n_models; i++) {
        const model_result *m = &res->models[i];
        for (int s = 0; s < res->repeats; s++)
            if (m->diverged_at[s] > 0)
                fprintf(stderr, "lora_demo: warning: %s diverged at epoch %d (seed %llu): loss or "
                                "parameters not finite; its curve stops there\n",
                        m->name, m->diverged_at[s], (unsigned long long)res->seeds[s]);
    }
}

/* Read the input files cfg names and merge what they say into cfg, in the
 * order dataio.h gives. Before the output directory is touched: bad input
 * exits 2 having written nothing. */
static ld_status load_inputs(config *cfg, run_inputs *inputs, char *err, size_t errlen)
{
    input_files files;
    input_sizes sizes;
    config_input_files(cfg, &files);
    ld_status st = inputs_load_data(&files, inputs, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_counts(cfg, &sizes, err, errlen);
    if (st == LD_OK)
        st = inputs_load_base(&files, inputs, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_sizes(cfg, &sizes, err, errlen);
    if (st != LD_OK)
        inputs_free(inputs);
    return st;
}

/* The result set of the run, staged in its output directory (staging.h).
 * All before training: an input the set would replace is refused (exit 2,
 * nothing written), then the directory is created, what an earlier run left
 * is finished or cleared, and every entry is checked (exit 1). */
static ld_status prepare_outputs(const config *cfg, staging *stage, char *err, size_t errlen)
{
    staging_entry set[REPORT_MAX_ENTRIES];
    const size_t n = report_output_set(cfg, set);
    const staging_input inputs[] = {
        {"--data", cfg->data}, {"--test-data", cfg->test_data}, {"--base-weights", cfg->base_weights}};
    ld_status st = staging_check_inputs(cfg->output_dir, set, n, inputs,
                                        sizeof inputs / sizeof inputs[0], err, errlen);
    if (st == LD_OK)
        st = staging_begin(stage, cfg->output_dir, set, n, err, errlen);
    return st;
}

/* Every result file the options ask for, into the staging directory, then
 * swapped in as one set; then the table on stdout. On failure the previous
 * set stays as it was. */
static ld_status write_outputs(const config *cfg, const experiment_result *res, staging *stage,
                               char *err, size_t errlen)
{
    const char *dir = stage->work;
    ld_status st = report_write_losses(dir, res, err, errlen);
    if (st == LD_OK)
        st = report_write_summary(dir, cfg, res, err, errlen);
    if (st == LD_OK)
        st = report_write_svg(dir, cfg, res, err, errlen);
    if (st == LD_OK)
        st = report_write_spectrum_csv(dir, res, err, errlen);
    if (st == LD_OK)
        st = report_write_spectrum_svg(dir, res, err, errlen);
    if (st == LD_OK && cfg->ranks_all)
        st = report_write_rank_svg(dir, res, err, errlen);
    if (st == LD_OK && cfg->save_data)
        st = export_data(dir, res, err, errlen);
    if (st == LD_OK && cfg->save_weights)
        st = export_weights(dir, cfg, res, err, errlen);
    if (st != LD_OK) {
        staging_unstage_message(stage, err);
        staging_abort(stage);
        return st;
    }
    st = staging_commit(stage, err, errlen);
    if (st == LD_OK && !cfg->quiet)
        report_print(stdout, cfg, res);
    return st;
}

static int run(int argc, char **argv)
{
    config cfg;
    cli_action action;
    char err[LD_MSG_MAX] = "";
    ld_status st = cli_parse(argc, argv, &cfg, &action, err, sizeof err);
    if (st != LD_OK) {
        print_error(err, " (see --help)");
        return ld_exit_code(st);
    }
    if (action == CLI_HELP) {
        cli_usage(stdout);
        return 0;
    }
    if (action == CLI_VERSION) {
        printf("lora_demo %s\n", LORA_DEMO_VERSION);
        return 0;
    }

    run_inputs inputs;
    st = load_inputs(&cfg, &inputs, err, sizeof err);
    if (st != LD_OK)
        return fail(st, err);

    /* Before anything is created: a run that cannot fit is refused here
     * (after the inputs, which set the sizes of a run on files). */
    st = experiment_check_memory(&cfg, 0, err, sizeof err);
    if (st != LD_OK) {
        inputs_free(&inputs);
        return fail(st, err);
    }
    /* From here on a SIGINT stops the run cleanly (the output directory
     * existing is what tests wait for before they send one). */
    install_sigint();

    staging stage;
    st = prepare_outputs(&cfg, &stage, err, sizeof err);
    if (st != LD_OK) {
        inputs_free(&inputs);
        return fail(st, err);
    }

    progress bar;
    progress_init(&bar, stderr, !cfg.quiet && isatty(STDERR_FILENO));
    const experiment_hooks hooks = {&interrupt_requested, progress_update, &bar};
    experiment_result res;
    st = experiment_run(&cfg, &inputs, &hooks, &res, err, sizeof err);
    progress_clear(&bar);
    inputs_free(&inputs);
    if (st != LD_OK) {
        staging_abort(&stage);
        return fail_late(st, err);
    }
    warn_diverged(&res);

    st = write_outputs(&cfg, &res, &stage, err, sizeof err);
    if (st == LD_OK && res.interrupted) {
        /* The directory is the user's: printed by the rule of every message. */
        fprintf(stderr, "lora_demo: interrupted in %s at epoch %d (seed %llu); the results so far "
                        "are in ",
                res.stop_model, res.stop_epoch, (unsigned long long)res.seeds[res.stop_seed]);
        ld_fputs_printable(cfg.output_dir, stderr);
        fputc('\n', stderr);
    }
    experiment_result_free(&res);
    if (st != LD_OK)
        return fail_late(st, err);
    /* A SIGINT that came after the last epoch still ends the run with 130,
     * so a calling script stops too; its files are complete
     * ("interrupted": false). */
    return interrupt_requested ? EXIT_INTERRUPTED : 0;
}

/* Why the writes to stdout failed when its error flag is set but fflush had
 * nothing left to write (glibc drops the buffer whose write failed, and
 * stdio keeps no errno): one more byte asks the device again. It fails the
 * same way (ENOSPC, EBADF, EFBIG) and writes nothing; if it goes through,
 * into an output that already lost a buffer, the reason is EIO. */
static int stdout_errno(void)
{
    errno = 0;
    if (fputc('\n', stdout) != EOF && fflush(stdout) == 0)
        return EIO;
    return errno != 0 ? errno : EIO;
}

/* Everything written to stdout (the tables, --help, --version) must have
 * arrived: a write error there (a full disk, /dev/full, a closed stdout)
 * is one line on stderr and exit 1, where it used to be lost. A run that
 * already failed keeps its status. stderr is not checked: a message that
 * cannot be written cannot report that either, so nothing loops. */
static int finish_stdout(int status)
{
    int saved = 0;
    errno = 0;
    if (fflush(stdout) != 0)
        saved = errno != 0 ? errno : EIO;
    else if (ferror(stdout))
        saved = stdout_errno();
    errno = 0;
    if (fclose(stdout) != 0 && saved == 0)
        saved = errno != 0 ? errno : EIO;
    if (saved == 0)
        return status;
    print_error("standard output: ", strerror(saved));
    return status != 0 ? status : 1;
}

int main(int argc, char **argv)
{
    reserve_std_fds();
    ignore_sigxfsz();
    return finish_stdout(run(argc, argv));
}
