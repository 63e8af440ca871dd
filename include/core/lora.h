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
#include "status.h"

/* PEFT/loralib initialisation for fine-tuning: A ~ U(-1/sqrt(I), 1/sqrt(I))
 * (kaiming_uniform_ with a = sqrt(5)), B = 0, so the update starts at zero. */
void lora_init_peft(float *A, float *B, int I, int R, int O, rng *r);

/* PiSSA (Meng et al. 2024), PEFT's init_lora_weights="pissa": A and B from
 * the top R singular triplets of the base, which keeps the rest.
 * W0 (O,I) holds the base on entry and the residual on return; A (R,I),
 * B (O,R). With the thin SVD W0 = U S V^T and S_R = S[0..R) / scale:
 *     A = diag(sqrt(S_R)) V^T[0..R),  B = U[:, 0..R) diag(sqrt(S_R)),
 *     W0 <- W0 - scale B A,
 * so that W0 + scale B A, where training starts, is the base again within
 * float rounding. The SVD is core/svd.h's, in double, with its sign
 * convention; A and B are rounded to float once, and the residual is formed
 * in double from those floats and rounded once. Needs 1 <= R <= min(O, I).
 * LD_EINPUT if W0 has an entry that is NaN or infinite (nothing is changed
 * then), LD_ENOMEM if the SVD's work space cannot be allocated. pl (or
 * NULL): threads for the SVD's vectors (svd_options.pool), the same bits
 * on any number. */
ld_status lora_init_pissa(float *A, float *B, float *W0, float scale, int I, int R, int O,
                          pool *pl, char *err, size_t errlen);

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
/* lora_dropout_forward that also writes keep (N,I), the derivative of xd
 * by x: 1/(1 - p) as a float where kept, 0 where dropped (keep NULL: not
 * written). The same draws and xd. */
void lora_dropout_forward_keep(float *xd, float *keep, const float *x, double p,
                               const float *replay, rng *r, int N, int I);

/* DoRA (Liu et al. 2024), as PEFT's DoraLinearLayer computes it
 * (src/peft/tuners/lora/dora.py). The weight is split into a magnitude
 * mag (O) and a direction W0 + s B A, whose row norms are n (O); with
 * g = mag / n the layer adds to the base output
 *     (g - 1) * bw + g * (h B^T) * s,        h (N,R) = x A^T
 * where bw (N,O) is the base's x W0^T without its bias. n is recomputed
 * every forward and is a constant for backward (the paper's section 4.3;
 * PEFT detaches it). */

/* norm (O) = the row norms of W0 (O,I) + scale * B (O,R) . A (R,I), each
 * element of B A summed in float as torch's product, the norm in double. */
void dora_norm(float *norm, const float *W0, const float *A, const float *B, float scale, int I,
               int R, int O);

/* y (N,O) += (g - 1) bw + g (h B^T) s with g = mag / norm; h (N,R) = x A^T.
 * y holds the base's output x W0^T + b0 on entry. bw NULL: bw = y - b0 (b0
 * NULL: no bias), as PEFT takes base_result - bias when the LoRA branch
 * sees the base's own x. u (N,O), when not NULL, receives bw + (h B^T) s for
 * dora_backward; it may be the same buffer as bw. */
void dora_forward(float *y, float *h, float *u, const float *x, const float *bw, const float *b0,
                  const float *A, const float *B, const float *mag, const float *norm, float scale,
                  int N, int I, int R, int O, pool *p);

/* Given dy (N,O), accumulate dmag (O) = sum_n dy u / norm, then dA and dB as
 * lora_backward does for the upstream gradient g dy. dy is overwritten. */
void dora_backward(float *dA, float *dB, float *dmag, float *dh, float *dy, const float *h,
                   const float *u, const float *x, const float *B, const float *mag,
                   const float *norm, float scale, int N, int I, int R, int O, pool *p);

/* W (O,I) = (mag / norm) (W + scale B A): DoRA's merge (PEFT's
 * merge_unsafe); with sign -1, its inverse W / (mag / norm) - scale B A.
 * norm must be the one the merge used. */
void dora_merge_into(float *W, const float *A, const float *B, const float *mag,
                     const float *norm, float scale, float sign, int I, int R, int O);

/* W (O,I) += sign * scale * B (O,R) . A (R,I): merge (+1) or unmerge (-1). */
void lora_merge_into(float *W, const float *A, const float *B, float scale, float sign, int I,
                     int R, int O);

#endif /* LORA_DEMO_LORA_H */
