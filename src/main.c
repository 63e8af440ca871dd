/* main.c - the lora_demo driver: argv -> config -> experiment -> report.
 *
 * The only place that prints errors or chooses an exit status:
 *   0 success, 1 runtime failure, 2 bad usage or bad input.
 */
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "dataio.h"
#include "experiment.h"
#include "export.h"
#include "report.h"
#include "status.h"

static int fail(ld_status st, const char *msg)
{
    fprintf(stderr, "lora_demo: %s\n", msg);
    return ld_exit_code(st);
}

int main(int argc, char **argv)
{
    config cfg;
    cli_action action;
    char err[512] = "";
    ld_status st = cli_parse(argc, argv, &cfg, &action, err, sizeof err);
    if (st != LD_OK) {
        fprintf(stderr, "lora_demo: %s (see --help)\n", err);
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

    /* Input files are read and checked before the output directory is
     * touched: bad input exits 2 having written nothing. */
    run_inputs inputs;
    st = inputs_load(&cfg, &inputs, err, sizeof err);
    if (st != LD_OK)
        return fail(st, err);

    st = report_prepare_dir(cfg.output_dir, err, sizeof err);
    if (st != LD_OK) {
        inputs_free(&inputs);
        return fail(st, err);
    }

    experiment_result res;
    st = experiment_run_with(&cfg, &inputs, &res, err, sizeof err);
    inputs_free(&inputs);
    if (st != LD_OK)
        return fail(st, err);

    st = report_write_losses(cfg.output_dir, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_summary(cfg.output_dir, &cfg, &res, err, sizeof err);
    if (st == LD_OK)
        st = report_write_svg(cfg.output_dir, &cfg, &res, err, sizeof err);
    if (st == LD_OK && cfg.save_data)
        st = export_data(cfg.output_dir, &res, err, sizeof err);
    if (st == LD_OK && cfg.save_weights)
        st = export_weights(cfg.output_dir, &cfg, &res, err, sizeof err);
    if (st == LD_OK && !cfg.quiet)
        report_print(stdout, &cfg, &res);
    experiment_result_free(&res);
    if (st != LD_OK)
        return fail(st, err);
    return 0;
}
