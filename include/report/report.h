/* report.h - everything a run writes: result files and the stdout tables.
 *
 * Files (each written under a temporary name and renamed into place):
 *   losses.csv      epoch,dense,lora_r1,...   one row per epoch, %.9g; with
 *                   --repeats, the mean over seeds
 *   losses_std.csv  the same layout: the sample std over seeds. Written on
 *                   every run (all zeros with one seed), so an output
 *                   directory never keeps a stale one from an earlier run.
 *   summary.json    {"experiment", "config", "seeds", ["pretrain",] "models": [...]}
 *   losses.svg      the (mean) curves, one per model, log-scale y (no gnuplot needed)
 * The stdout table shows "mean +- std" columns only when repeats > 1, so a
 * single run prints exactly what it always did.
 * Report code formats; it does no math beyond that.
 */
#ifndef LORA_DEMO_REPORT_H
#define LORA_DEMO_REPORT_H

#include <stdio.h>

#include "config.h"
#include "experiment/experiment.h"
#include "status.h"

/* Create the output directory if needed and prove it is writable (a probe
 * file is created and removed), so a run fails before training, not after. */
ld_status report_prepare_dir(const char *dir, char *err, size_t errlen);

/* losses.csv and losses_std.csv. */
ld_status report_write_losses(const char *dir, const experiment_result *res, char *err,
                              size_t errlen);
ld_status report_write_summary(const char *dir, const config *cfg, const experiment_result *res,
                               char *err, size_t errlen);

ld_status report_write_svg(const char *dir, const config *cfg, const experiment_result *res,
                           char *err, size_t errlen);

/* x as a table cell at most w characters wide, into cell (len bytes): "%.<prec>f"
 * while that fits and shows a nonzero x as nonzero (0.982052), else
 * "%.3e" or fewer digits, as many as fit (1.000e+38, 1.000e-09). The files
 * keep their own formats; this is for the tables only. */
void report_format_number(char *cell, size_t len, int w, int prec, double x);

/* The model table and the predictions beside the targets. */
void report_print(FILE *fp, const config *cfg, const experiment_result *res);

#endif /* LORA_DEMO_REPORT_H */
