/* lora.h - the LoRA update y += s * (x A^T) B^T (Hu et al. 2021).
 *
 * Dimension key: N samples, I in features, R rank, O out features.
 * A is (R, I) and B is (O, R), as PEFT's lora_A.weight and lora_B.weight.
 * s is the scale: alpha / R (LoRA) or alpha / sqrt(R) (rsLoRA).
 *
 * The product is always taken in the low-rank order, h = x A^T first, so the
 * cost is N*R*(I+O); B.A (O, I) is never formed while training. A frozen base
 * layer, if any, is the caller's: lora_forward adds onto whatever y holds.
 * Backward functions accumulate into gradients (+=); zero them first.
 * p: a thread pool for the matrix products, or NULL (see linear.h).
 */
#ifndef LORA_DEMO_LORA_H
#define LORA_DEMO_LORA_H

#include "core/rng.h"
#include "kernels/pool.h"

/* PEFT/loralib initialisation for fine-tuning: A ~ U(-1/sqrt(I), 1/sqrt(I))
 * (kaiming_uniform_ with a = sqrt(5)), B = 0, so the update starts at zero. */
void lora_init_peft(float *A, float *B, int I, int R, int O, rng *r);

/* Initialisation for training from scratch (no base): both factors as
 * nn.Linear would initialise them, A ~ U(+-1/sqrt(I)), B ~ U(+-1/sqrt(R)).
 * With B = 0 and no base the model would start at exactly zero output; a
 * random B gives the factorised layer the same kind of start as the dense
 * baseline. */
void lora_init_scratch(float *A, float *B, int I, int R, int O, rng *r);

/* h (N,R) = x (N,I) . A (R,I)^T;  y (N,O) += scale * (h . B (O,R)^T) */
void lora_forward(float *y, float *h, const float *x, const float *A, const float *B, float scale,
                  int N, int I, int R, int O, pool *p);

/* Given dy (N,O), accumulate dA (R,I) and dB (O,R); dh (N,R) is scratch.
 * dy is overwritten with scale * dy (the gradient at h B^T). */
void lora_backward(float *dA, float *dB, float *dh, float *dy, const float *h, const float *x,
                   const float *B, float scale, int N, int I, int R, int O, pool *p);

/* Inverted dropout on the LoRA branch's input, as nn.Dropout(p) computes it
 * in training: xd (N,I) = x * keep * (float)(1 / (1 - p)), keep 1 with
 * probability 1 - p. keep comes from replay (N*I flags 0 or 1) when it is
 * not NULL, else from r: keep iff rng_uniform(r) >= p, one draw per
 * element in row-major order. 0 <= p < 1. */
void lora_dropout_forward(float *xd, const float *x, double p, const float *replay, rng *r, int N,
                          int I);

/* W (O,I) += sign * scale * B (O,R) . A (R,I): merge (+1) or unmerge (-1). */
void lora_merge_into(float *W, const float *A, const float *B, float scale, float sign, int I,
                     int R, int O);

#endif /* LORA_DEMO_LORA_H */
