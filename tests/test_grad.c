/* test_grad.c - finite-difference checks of the dense, LoRA and DoRA backward passes.
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
#include "core/lora.h"
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

/* DoRA's backward against central differences with the norm n held
 * constant, as its backward treats it (PEFT detaches it; the DoRA paper's
 * section 4.3): the loss of y = base + (g - 1) bw + g s h B^T, g = mag / n,
 * for a fixed n, is quadratic in each of A, B and mag. */
enum { R = 3 };
typedef struct {
    float A[R * I], B[O * R], mag[O];
} dora_params;

static double dora_loss(const dora_params *q, const float *norm, const float *base, const float *x,
                        const float *y)
{
    float yhat[N * O], h[N * R];
    memcpy(yhat, base, sizeof yhat);
    dora_forward(yhat, h, NULL, x, NULL, NULL, q->A, q->B, q->mag, norm, 1.7f, N, I, R, O, NULL);
    return mse_forward(yhat, y, (size_t)N * O);
}

static void check_dora(rng *r, const float *x, const float *y)
{
    dora_params q, grad, fd;
    float W0[O * I], base[N * O], norm[O], yhat[N * O], h[N * R], u[N * O], dy[N * O], dh[N * R];
    rng_fill_normal(r, W0, (size_t)O * I);
    rng_fill_normal(r, q.A, (size_t)R * I);
    rng_fill_normal(r, q.B, (size_t)O * R);
    /* moderate sizes, so that the loss's float rounding over 2h stays
     * well under the tolerance */
    for (int i = 0; i < O * I; i++)
        W0[i] *= 0.3f;
    for (int i = 0; i < R * I; i++)
        q.A[i] *= 0.3f;
    for (int i = 0; i < O * R; i++)
        q.B[i] *= 0.3f;
    linear_forward(base, x, W0, NULL, N, I, O, NULL); /* no bias: bw = base */
    dora_norm(norm, W0, q.A, q.B, 1.7f, I, R, O);
    for (int o = 0; o < O; o++)
        q.mag[o] = norm[o] * (1.0f + 0.1f * (float)o); /* g != 1 */
    memset(&grad, 0, sizeof grad);
    memcpy(yhat, base, sizeof yhat);
    dora_forward(yhat, h, u, x, NULL, NULL, q.A, q.B, q.mag, norm, 1.7f, N, I, R, O, NULL);
    mse_backward(dy, yhat, y, (size_t)N * O, (size_t)N * O);
    dora_backward(grad.A, grad.B, grad.mag, dh, dy, h, u, x, q.B, q.mag, norm, 1.7f, N, I, R, O,
                  NULL);
    float *p = (float *)&q, *f = (float *)&fd;
    const float step = 1e-2f;
    for (size_t i = 0; i < sizeof q / sizeof(float); i++) {
        const float keep = p[i];
        p[i] = keep + step;
        const double lp = dora_loss(&q, norm, base, x, y); /* n held: not recomputed */
        p[i] = keep - step;
        const double lm = dora_loss(&q, norm, base, x, y);
        p[i] = keep;
        f[i] = (float)((lp - lm) / (2.0 * (double)step));
    }
    check_close("DoRA dA (n held)", grad.A, fd.A, (size_t)R * I, 1e-4, 1e-3);
    check_close("DoRA dB (n held)", grad.B, fd.B, (size_t)O * R, 1e-4, 1e-3);
    check_close("DoRA dmag (n held)", grad.mag, fd.mag, O, 1e-4, 1e-3);
}

void test_grad(void)
{
    rng r;
    rng_seed(&r, 99, 7);
    float x[N * I], y[N * O];
    rng_fill_normal(&r, x, (size_t)N * I);
    rng_fill_normal(&r, y, (size_t)N * O);
    char err[256];
    check_dora(&r, x, y);

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
