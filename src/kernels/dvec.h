/* dvec.h - the loops over rows of doubles that the SVD's two routes share
 * (jacobi.c, bidiag.c).
 *
 * Always inline, so that each build of a caller (kernels/simd.h: baseline
 * and AVX2) gets them at its own vector width; the same bits on both (no
 * fused multiply-add, no reassociation).
 */
#ifndef LORA_DEMO_DVEC_H
#define LORA_DEMO_DVEC_H

#if defined(__GNUC__) || defined(__clang__)
#define DVEC_INLINE static inline __attribute__((always_inline))
#else
#define DVEC_INLINE static inline
#endif

/* x . y over len elements, with eight partial sums so that the additions
 * need not wait for each other (C does not let the compiler reorder them). */
DVEC_INLINE double dot8(const double *restrict x, const double *restrict y, int len)
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

/* y -= h x, four elements at a time (the form GCC -O2 vectorises; it
 * leaves the one-element loop scalar). */
DVEC_INLINE void axpy_neg(double *restrict y, const double *restrict x, double h, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) {
        y[i] -= h * x[i];
        y[i + 1] -= h * x[i + 1];
        y[i + 2] -= h * x[i + 2];
        y[i + 3] -= h * x[i + 3];
    }
    for (; i < len; i++)
        y[i] -= h * x[i];
}

#endif /* LORA_DEMO_DVEC_H */
