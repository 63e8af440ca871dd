/* rng.h - the documented PRNG (PCG32) and normal sampler (Box-Muller).
 *
 * PCG32 is M. O'Neill's "PCG-XSH-RR 64/32" generator: a 64-bit LCG
 * (multiplier 6364136223846793005) whose state is permuted into 32 output
 * bits by an xorshift and a data-dependent rotation. It has 2^63 selectable
 * streams; lora_demo gives every independent use (training data, test data,
 * each model's initial weights, each model's batch shuffling) its own stream,
 * so changing one never shifts the numbers another sees.
 *
 * Seeding follows the reference pcg32_srandom_r(initstate, initseq).
 */
#ifndef LORA_DEMO_RNG_H
#define LORA_DEMO_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} rng;

void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng *r);
/* Uniform in [0, 1) with 53 random bits (two outputs). */
double rng_uniform(rng *r);
/* Uniform float in [lo, hi): lo + (hi - lo) * rng_uniform, rounded to float. */
float rng_uniform_range(rng *r, float lo, float hi);
/* Standard normal by Box-Muller, cosine branch only: with u1 in (0, 1] and u2
 * in [0, 1), z = sqrt(-2 ln u1) * cos(2 pi u2). Two uniforms per normal; no
 * cached second value, so the stream position depends only on the count. */
double rng_normal(rng *r);
/* Uniform integer in [0, n) without modulo bias (Lemire's method). n > 0. */
uint32_t rng_below(rng *r, uint32_t n);

/* Fill dst[0..n) with standard normals as floats. */
void rng_fill_normal(rng *r, float *dst, size_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(rng *r, int *idx, int n);

#endif /* LORA_DEMO_RNG_H */
