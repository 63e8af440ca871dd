/* activation.h - the elementwise nonlinearities between a network's layers.
 *
 * Dimension key: n elements (N samples times a layer's width, row-major).
 *
 * Each comes as a forward/backward pair, as PyTorch computes it:
 *   tanh   a = tanh(z)                          dz = da (1 - a^2)       (torch.tanh)
 *   relu   a = max(z, 0)                        dz = da [a > 0]         (nn.ReLU)
 *   gelu   a = z Phi(z), Phi(z) = (1 + erf(z/sqrt 2)) / 2               (nn.GELU(), the
 *          dz = da (Phi(z) + z phi(z)), phi the standard normal density  exact erf form)
 * tanh and relu differentiate through their output a, as PyTorch's
 * tanh_backward and threshold_backward do; gelu needs its input z. Each
 * value is computed in double and rounded once to float.
 * Backward writes dz and may be called in place (dz == da).
 */
#ifndef LORA_DEMO_ACTIVATION_H
#define LORA_DEMO_ACTIVATION_H

#include <stddef.h>

typedef enum { ACT_TANH = 0, ACT_RELU = 1, ACT_GELU = 2 } activation_kind;

/* "tanh", "relu" or "gelu". */
const char *activation_name(activation_kind k);
/* The activation called `name`; 0 on success, -1 for an unknown name. */
int activation_parse(const char *name, activation_kind *k);

void tanh_forward(float *a, const float *z, size_t n);
void tanh_backward(float *dz, const float *da, const float *a, size_t n);
void relu_forward(float *a, const float *z, size_t n);
void relu_backward(float *dz, const float *da, const float *a, size_t n);
void gelu_forward(float *a, const float *z, size_t n);
void gelu_backward(float *dz, const float *da, const float *z, size_t n);

/* The pair of kind k: a (n) = f(z); dz (n) = da f'(z), from z and a. */
void activation_forward(activation_kind k, float *a, const float *z, size_t n);
void activation_backward(activation_kind k, float *dz, const float *da, const float *z,
                         const float *a, size_t n);

#endif /* LORA_DEMO_ACTIVATION_H */
