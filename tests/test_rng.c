/* test_rng.c - PCG32 known answers, reproducibility, the normal sampler. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/rng.h"
#include "test.h"

void test_rng(void)
{
    /* The first outputs of the PCG reference demo (pcg32-demo), seeded with
     * pcg32_srandom_r(&rng, 42u, 54u). */
    const uint32_t want[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                              0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    rng r;
    rng_seed(&r, 42u, 54u);
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        uint32_t got = rng_u32(&r);
        if (got != want[i]) {
            ok = 0;
            fprintf(stderr, "  pcg32 output %d: got 0x%08x want 0x%08x\n", i, got, want[i]);
        }
    }
    CHECK(ok, "PCG32 does not reproduce the reference sequence");

    /* Same seed and stream: same sequence. Different seed or stream: differs. */
    rng a, b, c, d;
    rng_seed(&a, 7, 1);
    rng_seed(&b, 7, 1);
    rng_seed(&c, 8, 1);
    rng_seed(&d, 7, 2);
    int same = 1, diff_seed = 0, diff_stream = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c), w = rng_u32(&d);
        same &= x == y;
        diff_seed += x != z;
        diff_stream += x != w;
    }
    CHECK(same, "same seed gave different sequences");
    CHECK(diff_seed > 90 && diff_stream > 90, "seed/stream change did not change the sequence (%d, %d)",
          diff_seed, diff_stream);

    /* Uniforms stay in [0, 1) and ranges in [lo, hi). */
    rng_seed(&a, 1, 1);
    int in_range = 1;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&a);
        float f = rng_uniform_range(&a, -0.25f, 0.25f);
        in_range &= u >= 0.0 && u < 1.0 && f >= -0.25f && f <= 0.25f;
    }
    CHECK(in_range, "uniform out of range");

    /* Normal sampler: mean 0, variance 1, and a plausible tail, on 200k draws.
     * The standard error of the mean is 1/sqrt(2e5) = 0.0022, of the variance
     * sqrt(2/2e5) = 0.0032; the bounds are about 5 standard errors. */
    const int n = 200000;
    double s = 0, s2 = 0;
    int beyond2 = 0;
    rng_seed(&a, 12345, 3);
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&a);
        s += z;
        s2 += z * z;
        beyond2 += fabs(z) > 2.0;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK(fabs(mean) < 0.011, "normal mean %g", mean);
    CHECK(fabs(var - 1.0) < 0.016, "normal variance %g", var);
    /* P(|z| > 2) = 0.0455; binomial sd on 2e5 draws is 0.00047 */
    CHECK(fabs((double)beyond2 / n - 0.0455) < 0.0025, "normal tail mass %g", (double)beyond2 / n);

    /* rng_below covers its range and the shuffle is a permutation. */
    int hits[7] = {0};
    for (int i = 0; i < 7000; i++)
        hits[rng_below(&a, 7)]++;
    int all = 1;
    for (int i = 0; i < 7; i++)
        all &= hits[i] > 800 && hits[i] < 1200;
    CHECK(all, "rng_below(7) is not roughly uniform");
    int idx[50], seen[50] = {0};
    for (int i = 0; i < 50; i++)
        idx[i] = i;
    rng_shuffle(&a, idx, 50);
    int perm = 1, moved = 0;
    for (int i = 0; i < 50; i++) {
        perm &= idx[i] >= 0 && idx[i] < 50 && !seen[idx[i]];
        if (idx[i] >= 0 && idx[i] < 50)
            seen[idx[i]] = 1;
        moved += idx[i] != i;
    }
    CHECK(perm && moved > 25, "shuffle is not a permutation (moved %d)", moved);
}
