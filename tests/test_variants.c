/* test_variants.c - the LoRA variants of issue 14 in the layer code: what
 * the model's tensor table and optimizer do with them. Their numbers are
 * checked against PyTorch in test_parity.c (base_loraplus16_*), every fast
 * path against the plain step in test_train.c, and the command line end to
 * end in variants_test.sh.
 *
 * Dimension key: I in, O out, R rank.
 */
#include <math.h>
#include <string.h>

#include "core/model.h"
#include "core/optim.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* LoRA+ */

/* A LoRA+ spec is refused below 1 and when not a number; the table gives
 * lora_B.weight the ratio and every other tensor 1. */
static void check_loraplus_table(void)
{
    char err[256] = "";
    model m;
    model_spec spec = model_spec_lora(6, 4, 2, 2.0, 1.0f, 0);
    const double bad[] = {0.5, 0.0, -2.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spec.loraplus_ratio = bad[i];
        err[0] = '\0';
        CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_EINPUT &&
                  strstr(err, "LoRA+ ratio") != NULL && m.mem == NULL,
              "ratio %g: want LD_EINPUT naming the LoRA+ ratio, got '%s'", bad[i], err);
    }
    spec.loraplus_ratio = 16.0;
    CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_OK, "%s", err);
    const param_tensor *a = model_find(&m, "lora_A.weight"), *b = model_find(&m, "lora_B.weight");
    CHECK(a != NULL && b != NULL && a->lr_ratio == 1.0 && b->lr_ratio == 16.0,
          "LoRA+ rates: lora_A %g, lora_B %g", a != NULL ? a->lr_ratio : -1.0,
          b != NULL ? b->lr_ratio : -1.0);
    CHECK(model_spec_of(&m).loraplus_ratio == 16.0, "model_spec_of keeps the LoRA+ ratio");
    model_free(&m);
    spec = model_spec_dense(6, 4);
    CHECK(model_init(&m, &spec, NULL, NULL, err, sizeof err) == LD_OK &&
              m.tensors[0].lr_ratio == 1.0 && m.tensors[1].lr_ratio == 1.0,
          "dense tensors at lr: %s", err);
    model_free(&m);
}

/* One step of model_adam_step, and the same step in two spans that cut
 * lora_A in the middle, against adam_step called on each tensor with its
 * own learning rate: the same bits. */
static void check_loraplus_step(void)
{
    char err[256] = "";
    model m1, m2;
    model_spec spec = model_spec_lora(5, 3, 2, 2.0, 1.0f, 0);
    spec.loraplus_ratio = 16.0;
    if (model_init(&m1, &spec, NULL, NULL, err, sizeof err) != LD_OK ||
        model_init(&m2, &spec, NULL, NULL, err, sizeof err) != LD_OK) {
        CHECK(0, "%s", err);
        return;
    }
    const size_t n = m1.n_params; /* 10 + 6 */
    float p[16], g[16], mo[16] = {0}, v[16] = {0};
    for (size_t i = 0; i < n; i++) {
        p[i] = m1.params[i] = m2.params[i] = 0.1f * (float)i - 0.7f;
        g[i] = m1.grads[i] = m2.grads[i] = 0.03f * (float)(i % 5) - 0.05f;
    }
    const adam_config adam = adam_defaults(0.01);
    model_adam_step(&m1, adam);
    m2.step++;
    model_adam_span(&m2, 0, 7, adam);
    model_adam_span(&m2, 7, n, adam);
    adam_config plus = adam;
    plus.lr = 0.01 * 16.0;
    adam_step(p, g, mo, v, 10, 1, adam);                   /* lora_A (2,5) */
    adam_step(p + 10, g + 10, mo + 10, v + 10, 6, 1, plus); /* lora_B (3,2) */
    CHECK(same_bits(m1.params, p, n), "model_adam_step with LoRA+ differs at [%zu]",
          first_diff(m1.params, p, n));
    CHECK(same_bits(m2.params, p, n), "model_adam_span in two shares differs at [%zu]",
          first_diff(m2.params, p, n));
    model_free(&m1);
    model_free(&m2);
}

void test_variants(void)
{
    check_loraplus_table();
    check_loraplus_step();
}
