/* optim.c - MSE loss and Adam (see optim.h for the exact formulas). */
#include "core/optim.h"

#include <math.h>

adam_config adam_defaults(double lr)
{
    adam_config c = {lr, 0.9, 0.999, 1e-8};
    return c;
}

float mse_forward(const float *yhat, const float *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)yhat[i] - (double)y[i];
        s += d * d;
    }
    return (float)(s / (double)n);
}

void mse_backward(float *dyhat, const float *yhat, const float *y, size_t n, size_t denom)
{
    /* torch computes 2 * (yhat - y) * (grad_out / n) with grad_out = 1. */
    const float g = 2.0f / (float)denom;
    for (size_t i = 0; i < n; i++)
        dyhat[i] = g * (yhat[i] - y[i]);
}

void adam_step(float *params, const float *grads, float *m, float *v, size_t n, long t,
               adam_config adam)
{
    const double bc1 = 1.0 - pow(adam.beta1, (double)t);
    const double bc2 = 1.0 - pow(adam.beta2, (double)t);
    const float step_size = (float)(adam.lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float w1 = (float)(1.0 - adam.beta1);
    const float b2 = (float)adam.beta2;
    const float w2 = (float)(1.0 - adam.beta2);
    const float eps = (float)adam.eps;
    for (size_t i = 0; i < n; i++) {
        const float g = grads[i];
        m[i] = m[i] + w1 * (g - m[i]);
        v[i] = v[i] * b2 + w2 * g * g;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        /* torch: param.addcdiv_(m, denom, value=-step_size), whose CPU kernel
         * computes p + (value * m) / denom: the product first, then the
         * division. step_size * (m / denom) rounds differently (1 ulp). */
        params[i] = params[i] - (step_size * m[i]) / denom;
    }
}
