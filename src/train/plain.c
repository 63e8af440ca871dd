/* plain.c - the plain training step, the spine of lora_demo: forward through
 * the model's layers, the MSE and its gradient, backward through the layers,
 * one Adam step over the parameter block. It is the PyTorch loop
 *     yhat = model(x); loss = mse(yhat, y); loss.backward(); adam.step()
 * written out, and it is the reference every fast path in this folder must
 * equal (tests/test_train.c trains each one against it).
 *
 * Used for: dense models with mini-batches, dense models with more inputs
 * than samples, LoRA with dropout, and any model when
 * trainer_options.fast_paths is 0.
 *
 * Dimension key: NB rows of the batch, I in, O out, R rank.
 */
#include <stddef.h>

#include "core/model.h"
#include "paths.h"

double plain_step(trainer *t, model *m, const batch_ctx *b, adam_config adam)
{
    const int NB = b->cnt, O = m->out;
    /* forward: yhat (NB,O); a LoRA layer keeps h = x A^T (NB,R) for backward,
     * and starts from the frozen base's cached output when there is one;
     * with LoRA dropout, its branch sees dropout(x), and the variants save
     * what their backward needs in t->act. The
     * matrix products split their rows across the trainer's threads (the
     * same bits for any count) */
    model_forward_train(m, t->yhat, t->h, t->act, b->x, b->base, NB, t->pool);
    /* MSE: each row's squared error, and dy = 2 (yhat - y) / (NB O) */
    mse_rows(t->row_sq, t->dy, t->yhat, NULL, b->y, b->g, NB, O);
    const double loss = sum_rows(t->row_sq, NB) / ((double)NB * (double)O);
    /* backward: gradients accumulate, so clear them first */
    model_zero_grad(m);
    model_backward(m, t->dy, t->dh, t->h, t->act, b->x, NB, t->pool);
    train_adam(t, m, adam);
    return loss;
}
