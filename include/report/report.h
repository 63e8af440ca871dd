/* report.h - everything a run writes: result files and the stdout tables.
 *
 * Files (each written under a temporary name and renamed into place, the
 * whole set staged first; see staging.h):
 *   losses.csv      epoch,dense,lora_r1,...   one row per epoch, %.9g; with
 *                   --repeats, the mean over seeds
 *   losses_std.csv  the same layout: the sample std over seeds. Written on
 *                   every run (all zeros with one seed), so an output
 *                   directory never keeps a stale one from an earlier run.
 *   summary.json    {"experiment", "config", "seeds", ["pretrain",] "models": [...]}
 *   losses.svg      the (mean) curves, one per model, log-scale y (no gnuplot needed)
 *   spectrum.csv, spectrum.svg   the first seed's singular values (report/spectra.h)
 *   rank.svg        --ranks all: held-out MSE against rank (report/spectra.h)
 * The stdout table shows "mean +- std" columns only when repeats > 1, so a
 * single run prints exactly what it always did.
 * Report code formats; it does no math beyond that.
 */
#ifndef LORA_DEMO_REPORT_H
#define LORA_DEMO_REPORT_H

#include <stdio.h>

#include "config.h"
#include "experiment/experiment.h"
#include "io/staging.h"
#include "report/export.h"
#include "status.h"

/* The result set of a run under cfg (staging.h): the files above, those of
 * --save-data and --save-weights (export.h), and summary.json last, the
 * order in which they are swapped in. Returns how many, at most
 * REPORT_MAX_ENTRIES. main.c stages the set, and the functions below write
 * into the staging directory it gives them as dir. */
#define REPORT_MAX_ENTRIES (7 + EXPORT_MAX_ENTRIES)
size_t report_output_set(const config *cfg, staging_entry *set);

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
