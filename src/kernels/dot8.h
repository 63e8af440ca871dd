/* dot8.h - x . y over len doubles with eight partial sums, so that the
 * additions need not wait for each other (C does not let the compiler
 * reorder them): the inner product of the SVD's loops (jacobi.c, bidiag.c).
 *
 * Always inline, so that each build of a caller (kernels/simd.h: baseline
 * and AVX2) gets it at its own vector width; the same bits on both (no
 * fused multiply-add, no reassociation).
 */
#ifndef LORA_DEMO_DOT8_H
#define LORA_DEMO_DOT8_H

#if defined(__GNUC__) || defined(__clang__)
#define DOT8_INLINE static inline __attribute__((always_inline))
#else
#define DOT8_INLINE static inline
#endif

DOT8_INLINE double dot8(const double *restrict x, const double *restrict y, int len)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0;
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
        s4 += x[i + 4] * y[i + 4];
        s5 += x[i + 5] * y[i + 5];
        s6 += x[i + 6] * y[i + 6];
        s7 += x[i + 7] * y[i + 7];
    }
    for (; i < len; i++)
        s0 += x[i] * y[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

#endif /* LORA_DEMO_DOT8_H */
