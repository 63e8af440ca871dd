/* optim.h - MSE loss and the Adam optimizer, with PyTorch's semantics.
 *
 * mse_forward matches nn.MSELoss(reduction='mean'): the mean of (yhat - y)^2
 * over all n elements. mse_backward writes its gradient 2 (yhat - y) / n.
 *
 * adam_step matches torch.optim.Adam (no weight decay, amsgrad off, the
 * single-tensor CPU path), with a 1-based step t:
 *     m = m + (1 - b1) (g - m)            (torch: exp_avg.lerp_(g, 1 - b1))
 *     v = b2 v + (1 - b2) g^2
 *     p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The bias corrections are computed in double, as Python does, then used as
 * float scalars, as PyTorch's CPU kernels do.
 */
#ifndef LORA_DEMO_OPTIM_H
#define LORA_DEMO_OPTIM_H

#include <stddef.h>

/* Hyperparameters are doubles because they are Python floats in PyTorch:
 * the bias corrections are formed from them in double precision. */
typedef struct {
    double lr;    /* default 1e-3 in torch; lora_demo's --lr default is 0.01 */
    double beta1; /* 0.9 */
    double beta2; /* 0.999 */
    double eps;   /* 1e-8 */
} adam_config;

/* PyTorch's defaults with the given learning rate. */
adam_config adam_defaults(double lr);

/* Mean of (yhat - y)^2 over n elements, accumulated in double. */
float mse_forward(const float *yhat, const float *y, size_t n);
/* dyhat (n) = 2 (yhat - y) / denom. denom is the element count of the whole
 * loss (n for one batch). */
void mse_backward(float *dyhat, const float *yhat, const float *y, size_t n, size_t denom);

/* One Adam update of n parameters at 1-based step t. */
void adam_step(float *params, const float *grads, float *m, float *v, size_t n, long t,
               adam_config adam);

#endif /* LORA_DEMO_OPTIM_H */
