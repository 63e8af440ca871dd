/* spectra.h - the files and table cells of the first seed's spectra
 * (experiment.h's layer_spectrum; docs/spectra.md):
 *
 *   spectrum.csv   model,layer,index,sigma: one row per singular value of
 *                  every model's learned update (layer 0-based, index
 *                  1-based, largest first, shortest round-trip decimal); in
 *                  finetune with a teacher the rows of the true shift follow
 *                  as model "shift", of every layer with --hidden. A model
 *                  without a spectrum has no rows.
 *   spectrum.svg   the singular values against their index, log y, one line
 *                  per model, the shift's K nonzero values dashed (its others
 *                  are dW's rounding to float); a network: one set of lines
 *                  per layer, named by layer, grouped (svg_lines.group)
 *   summary.json   each model's "layers" and the top-level "shift" (json below)
 *
 * Report code: formats what the experiment computed, no math.
 */
#ifndef LORA_DEMO_REPORT_SPECTRA_H
#define LORA_DEMO_REPORT_SPECTRA_H

#include <stddef.h>
#include <stdio.h>

#include "experiment/experiment.h"
#include "status.h"

ld_status report_write_spectrum_csv(const char *dir, const experiment_result *res, char *err,
                                    size_t errlen);
ld_status report_write_spectrum_svg(const char *dir, const experiment_result *res, char *err,
                                    size_t errlen);

/* rank.svg (--ranks all): held-out MSE against the LoRA rank r, log y;
 * full fine-tuning's (scratch: dense's) as a horizontal line, and in a
 * one-layer finetune with a teacher the bound of experiment_rank_bound,
 * dashed (a network has none: docs/spectra.md). */
ld_status report_write_rank_svg(const char *dir, const experiment_result *res, char *err,
                                size_t errlen);

/* ",\n     \"layers\": [...]" for a model: per layer its index, singular
 * values, the two effective ranks, the energy captured and the cosines of
 * the principal angles (null where there are none), and null_reason (null,
 * or why the layer has no spectrum: then every other field is null). */
void report_json_layers(FILE *fp, const model_result *m);
/* "  \"shift\": {...},\n" (finetune with a teacher: its rank and every
 * layer's shift, one with one layer) or
 * "  \"shift\": null,\n". */
void report_json_shift(FILE *fp, const experiment_result *res);

/* The effective ranks of a model's first layer as a table cell, "2/2.06"
 * (threshold / entropy), or "-"; and its energy captured, "0.998" or "-". */
void report_rank_cell(char *cell, size_t len, const model_result *m);
void report_energy_cell(char *cell, size_t len, const model_result *m);

#endif /* LORA_DEMO_REPORT_SPECTRA_H */
