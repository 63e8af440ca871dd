/* activation.c - tanh, relu and the exact GELU, forward and backward.
 *
 * Dimension key: n elements.
 */
#include "core/activation.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"tanh", "relu", "gelu"};

const char *activation_name(activation_kind k)
{
    return names[k];
}

int activation_parse(const char *name, activation_kind *k)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *k = (activation_kind)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* tanh */

void tanh_forward(float *a, const float *z, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)tanh((double)z[i]);
}

void tanh_backward(float *dz, const float *da, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dz[i] = da[i] * (1.0f - a[i] * a[i]); /* torch: grad * (1 - y * y) */
}

/* ------------------------------------------------------------------------ */
/* relu */

void relu_forward(float *a, const float *z, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

void relu_backward(float *dz, const float *da, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dz[i] = a[i] > 0.0f ? da[i] : 0.0f; /* zero gradient at z = 0, as torch */
}

/* ------------------------------------------------------------------------ */
/* gelu, the exact form: z Phi(z) */

void gelu_forward(float *a, const float *z, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const double x = z[i];
        a[i] = (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    }
}

void gelu_backward(float *dz, const float *da, const float *z, size_t n)
{
    const double inv_sqrt_2pi = 0.3989422804014327; /* 1 / sqrt(2 pi) */
    for (size_t i = 0; i < n; i++) {
        const double x = z[i];
        const double cdf = 0.5 * (1.0 + erf(x / sqrt(2.0)));
        const double pdf = inv_sqrt_2pi * exp(-0.5 * x * x);
        dz[i] = (float)((double)da[i] * (cdf + x * pdf));
    }
}

/* ------------------------------------------------------------------------ */
/* by kind */

void activation_forward(activation_kind k, float *a, const float *z, size_t n)
{
    switch (k) {
    case ACT_RELU: relu_forward(a, z, n); break;
    case ACT_GELU: gelu_forward(a, z, n); break;
    default: tanh_forward(a, z, n); break;
    }
}

void activation_backward(activation_kind k, float *dz, const float *da, const float *z,
                         const float *a, size_t n)
{
    switch (k) {
    case ACT_RELU: relu_backward(dz, da, a, n); break;
    case ACT_GELU: gelu_backward(dz, da, z, n); break;
    default: tanh_backward(dz, da, a, n); break;
    }
}
