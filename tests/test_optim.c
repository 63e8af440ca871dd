/* test_optim.c - MSE and Adam against values computed independently. */
#include <math.h>

#include "core/optim.h"
#include "test.h"

void test_optim(void)
{
    /* MSE by hand: diffs 1, -2, 0.5, 0 -> (1 + 4 + 0.25 + 0) / 4 = 1.3125 */
    const float yhat[4] = {1.0f, -1.0f, 2.5f, 3.0f};
    const float y[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    float loss = mse_forward(yhat, y, 4);
    CHECK(loss == 1.3125f, "mse = %.9g, want 1.3125", (double)loss);

    /* gradient 2 (yhat - y) / n */
    float d[4];
    mse_backward(d, yhat, y, 4, 4);
    const float dwant[4] = {0.5f, -1.0f, 0.25f, 0.0f};
    check_close("mse gradient", d, dwant, 4, 0.0, 0.0);

    /* ...and it is the derivative of mse_forward (central difference; MSE
     * is quadratic in each element so the difference is exact up to rounding) */
    float yp[4] = {1.0f, -1.0f, 2.5f, 3.0f};
    float fd[4];
    for (int i = 0; i < 4; i++) {
        const float h = 0.125f;
        float keep = yp[i];
        yp[i] = keep + h;
        double lp = mse_forward(yp, y, 4);
        yp[i] = keep - h;
        double lm = mse_forward(yp, y, 4);
        yp[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
    }
    check_close("mse gradient vs finite difference", d, fd, 4, 1e-6, 1e-6);

    /* Adam: three steps; expected values from tests/adam_reference.py, which
     * applies torch.optim.Adam's documented update in Python doubles. The
     * gradients include 1e-9 (so eps decides the step) and +-1e3. */
    float p[5] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f};
    float m[5] = {0}, v[5] = {0};
    const float grads[3][5] = {
        {0.1f, -0.2f, 3.0f, 1e-9f, -1e3f},
        {0.05f, 0.4f, -3.0f, 0.0f, 1e3f},
        {-0.3f, 0.1f, 2.5f, 1e-6f, 1e-6f},
    };
    const float want[3][5] = {
        {0.490000001f, -0.990000001f, 1.99f, -0.000909090909f, 3.01f},
        {0.480678206f, -0.993661036f, 1.99052632f, -0.00135149991f, 3.00947368f},
        {0.484150441f, -0.997817547f, 1.98763187f, -0.00763601066f, 3.00906684f},
    };
    const adam_config adam = adam_defaults(0.01);
    CHECK(adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.eps == 1e-8, "Adam defaults are not PyTorch's");
    for (int t = 0; t < 3; t++) {
        adam_step(p, grads[t], m, v, 5, t + 1, adam);
        char name[32];
        snprintf(name, sizeof name, "adam step %d", t + 1);
        check_close(name, p, want[t], 5, 1e-7, 1e-6);
    }
}
