/* linear.h - the dense layer y = x W^T + b (PyTorch nn.Linear).
 *
 * Dimension key: N samples, I in features, O out features.
 * Backward functions *accumulate* into gradients (+=); zero them first.
 * p: a thread pool the matrix products may split their rows across
 * (kernels/pool.h), or NULL for the calling thread; the same bits either
 * way. Core code never starts a thread itself.
 */
#ifndef LORA_DEMO_LINEAR_H
#define LORA_DEMO_LINEAR_H

#include "core/rng.h"
#include "kernels/pool.h"

/* nn.Linear's reset_parameters(): W ~ U(-1/sqrt(I), 1/sqrt(I)) (this is
 * kaiming_uniform_ with a = sqrt(5)), then b ~ U(-1/sqrt(I), 1/sqrt(I)).
 * Draws W row by row, then b, from r. */
void linear_init(float *W, float *b, int I, int O, rng *r);

/* y (N,O) = x (N,I) . W (O,I)^T + b (O); b may be NULL. */
void linear_forward(float *y, const float *x, const float *W, const float *b, int N, int I, int O,
                    pool *p);

/* dW (O,I) += dy^T x; db (O) += sum over n of dy (if db != NULL);
 * dx (N,I) += dy W (if dx != NULL). */
void linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                     const float *W, int N, int I, int O, pool *p);

#endif /* LORA_DEMO_LINEAR_H */
