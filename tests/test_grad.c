/* test_grad.c - finite-difference checks of the dense and LoRA backward passes.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * The loss L = MSE(model(x), y) is a quadratic function of any single
 * parameter (the model is linear in each of W, b, A, B separately), so the
 * central difference (L(p+h) - L(p-h)) / 2h is exact up to float rounding of
 * the forward pass. A transposed gradient, a missing scale or a wrong divisor
 * shows up as an error of order 1, far outside the tolerance.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "test.h"

enum { N = 6, I = 7, O = 4 };

static double loss_of(const model *m, const float *x, const float *y, float *yhat, float *h)
{
    model_forward(m, yhat, h, x, NULL, N, NULL);
    return mse_forward(yhat, y, (size_t)(size_t)N * O);
}

/* Compare model_backward's gradient of every parameter with central
 * differences of the loss. */
static void check_model(const char *label, model *m, const float *x, const float *y)
{
    float yhat[N * O], dy[N * O], h[N * O], dh[N * O];
    model_zero_grad(m);
    model_forward(m, yhat, h, x, NULL, N, NULL);
    mse_backward(dy, yhat, y, (size_t)(size_t)N * O, (size_t)(size_t)N * O);
    model_backward(m, dy, dh, h, NULL, x, N, NULL);

    float *fd = malloc(m->n_params * sizeof(float));
    const float step = 1e-2f;
    for (size_t i = 0; i < m->n_params; i++) {
        float keep = m->params[i];
        m->params[i] = keep + step;
        double lp = loss_of(m, x, y, yhat, h);
        m->params[i] = keep - step;
        double lm = loss_of(m, x, y, yhat, h);
        m->params[i] = keep;
        fd[i] = (float)((lp - lm) / (2.0 * (double)step));
    }
    char name[96];
    for (int t = 0; t < m->n_tensors; t++) {
        const param_tensor *pt = &m->tensors[t];
        snprintf(name, sizeof name, "%s d%s", label, pt->name);
        /* float forward passes: differences of ~1e-7 relative in L divided by
         * 2h = 0.02 leave about 1e-5 absolute noise */
        check_close(name, m->grads + pt->offset, fd + pt->offset, pt->numel, 1e-4, 1e-3);
    }
    free(fd);
}

void test_grad(void)
{
    rng r;
    rng_seed(&r, 99, 7);
    float x[N * I], y[N * O];
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    char err[256];

    model dense;
    CHECK(test_model_dense(&dense, I, O, err, sizeof err) == LD_OK, "%s", err);
    linear_init(dense.layers[0].W, dense.layers[0].b, I, O, &r);
    check_model("dense", &dense, x, y);
    model_free(&dense);

    /* LoRA without a base, with a scale that is not 1 */
    model lora;
    CHECK(test_model_lora(&lora, I, O, 3, 5.0f, 5.0f / 3.0f, NULL, NULL, err, sizeof err) == LD_OK,
          "%s", err);
    rng_fill_normal(&r, lora.params, lora.n_params);
    check_model("lora r3", &lora, x, y);
    model_free(&lora);

    /* LoRA on a frozen base: the base changes the output, not the gradient
     * structure; it must receive no gradient (it is not in the block). */
    float w0[O * I], b0[O];
    rng_fill_normal(&r, w0, (size_t)O * I);
    rng_fill_normal(&r, b0, O);
    CHECK(test_model_lora(&lora, I, O, 2, 4.0f, 2.0f, w0, b0, err, sizeof err) == LD_OK, "%s", err);
    rng_fill_normal(&r, lora.params, lora.n_params);
    CHECK(lora.n_params == (size_t)2 * (I + O), "frozen base leaked into the trainable block");
    check_model("lora r2 on base", &lora, x, y);
    model_free(&lora);

    /* linear_backward's input gradient dx, which the models never need. */
    float w[O * I], b[O], yhat[N * O], dy[N * O], dx[N * I], dw[O * I], fd[N * I];
    rng_fill_normal(&r, w, (size_t)O * I);
    rng_fill_normal(&r, b, O);
    linear_forward(yhat, x, w, b, N, I, O, NULL);
    mse_backward(dy, yhat, y, (size_t)N * O, (size_t)N * O);
    memset(dx, 0, sizeof dx);
    memset(dw, 0, sizeof dw);
    linear_backward(dx, dw, NULL, dy, x, w, N, I, O, NULL);
    float xp[N * I];
    memcpy(xp, x, sizeof xp);
    for (int i = 0; i < N * I; i++) {
        float keep = xp[i];
        xp[i] = keep + 1e-2f;
        linear_forward(yhat, xp, w, b, N, I, O, NULL);
        double lp = mse_forward(yhat, y, (size_t)N * O);
        xp[i] = keep - 1e-2f;
        linear_forward(yhat, xp, w, b, N, I, O, NULL);
        double lm = mse_forward(yhat, y, (size_t)N * O);
        xp[i] = keep;
        fd[i] = (float)((lp - lm) / 2e-2);
    }
    check_close("linear dx", dx, fd, (size_t)N * I, 1e-4, 1e-3);
}
