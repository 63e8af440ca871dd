/* rng.c - PCG32 and Box-Muller; see rng.h for the definitions. */
#include "core/rng.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

uint32_t rng_u32(rng *r)
{
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0u;
    r->inc = (stream << 1u) | 1u;
    rng_u32(r);
    r->state += seed;
    rng_u32(r);
}

double rng_uniform(rng *r)
{
    uint64_t hi = rng_u32(r) >> 5; /* 27 bits */
    uint64_t lo = rng_u32(r) >> 6; /* 26 bits */
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0); /* / 2^53 */
}

float rng_uniform_range(rng *r, float lo, float hi)
{
    return (float)((double)lo + ((double)hi - (double)lo) * rng_uniform(r));
}

double rng_normal(rng *r)
{
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log never sees 0 */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

uint32_t rng_below(rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_fill_normal(rng *r, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)rng_normal(r);
}

void rng_shuffle(rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1u);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
