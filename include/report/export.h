/* export.h - the files that hand a run's data and weights to other tools.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * Everything here is the FIRST seed's (with --repeats, like the printed
 * predictions), is written only when asked for, and goes through atomicio.h.
 *
 * --save-data (export_data), read back by --data / --test-data:
 *   train.csv, test.csv   header x0..x{I-1},y0..y{O-1}, one row per sample,
 *                         %.9g (csv_write_xy); the data losses.csv was
 *                         trained on (finetune: task 2's) and the held-out set
 *
 * --save-weights (export_weights), F32 little-endian safetensors named as
 * PyTorch names the parameters, __metadata__ all strings:
 *   weights/<model>.init.safetensors    before the first epoch
 *   weights/<model>.final.safetensors   after the last (LoRA: unmerged)
 *       dense:  weight (O,I), bias (O)
 *       LoRA:   lora_A.weight (R,I), lora_B.weight (O,R), and on a frozen
 *               base (finetune) also base_layer.weight (O,I), base_layer.bias (O)
 *       metadata: format "pt", model, r ("0" for dense), seed, and for LoRA
 *       lora_alpha and scale (shortest decimals that read back as the float)
 *   adapters/lora_r<k>/adapter_model.safetensors   the final A and B as PEFT
 *       names them for a module called "layer":
 *       base_model.model.layer.lora_A.weight, base_model.model.layer.lora_B.weight
 *   adapters/lora_r<k>/adapter_config.json         the LoraConfig that loads it
 *   base.safetensors (finetune)   layer.weight (O,I), layer.bias (O): the
 *       pretrained (or --base-weights) base every model started from, which
 *       --base-weights reads back
 * In scratch there is no base: the adapters apply to a layer whose weight
 * and bias are zero.
 */
#ifndef LORA_DEMO_EXPORT_H
#define LORA_DEMO_EXPORT_H

#include "config.h"
#include "experiment/experiment.h"
#include "io/staging.h"
#include "status.h"

/* The module name the adapters target (PEFT's target_modules). */
#define EXPORT_TARGET_MODULE "layer"

/* The entries of the result set that cfg's --save-data and --save-weights
 * add (staging.h), at most EXPORT_MAX_ENTRIES; the number put in set.
 * weights/ and adapters/ are replaced whole, so an earlier run's file for a
 * model this run does not save (it diverged) cannot stay beside them. */
#define EXPORT_MAX_ENTRIES 5
size_t export_output_set(const config *cfg, staging_entry *set);

/* train.csv and test.csv from res->train, res->test (cfg->save_data). */
ld_status export_data(const char *dir, const experiment_result *res, char *err, size_t errlen);

/* weights/, adapters/ and, finetune, base.safetensors (cfg->save_weights). */
ld_status export_weights(const char *dir, const config *cfg, const experiment_result *res,
                         char *err, size_t errlen);

/* The shortest "%.{6..9}g" decimal of x that strtof reads back as x. */
void export_float_string(char *buf, size_t n, float x);

#endif /* LORA_DEMO_EXPORT_H */
