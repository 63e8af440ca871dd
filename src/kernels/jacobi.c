/* jacobi.c - the loops of one-sided Jacobi that take the SVD's time
 * (core/svd.c calls them; kernels/jacobi.h has the contract).
 *
 * Dimension key: k rows (the vectors) of len doubles.
 *
 * One sweep is written once, as an always-inline body, and built twice
 * (kernels/simd.h): for the x86-64 baseline, and with AVX2, chosen when
 * matmul_isa_avx2() says so. The same C with no fused multiply-add and no
 * reassociation, so the two give the same bits (tests/test_svd.c,
 * check_isa); only the vector width differs.
 */
#include "kernels/jacobi.h"

#include <math.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"

#include "dvec.h"

#if defined(__GNUC__) || defined(__clang__)
#define JACOBI_INLINE static inline __attribute__((always_inline))
#else
#define JACOBI_INLINE static inline
#endif

/* ------------------------------------------------------------------------ */
/* the loops that take the time */

/* (x, y) <- (c x - s y, s x + c y), the rotation in the pair's plane.
 * Written out four elements at a time, the form GCC -O2 turns into vector
 * instructions (it leaves the one-element loop scalar). */
JACOBI_INLINE void rotate(double *restrict x, double *restrict y, double c, double s, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) {
        const double x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        const double y0 = y[i], y1 = y[i + 1], y2 = y[i + 2], y3 = y[i + 3];
        x[i] = c * x0 - s * y0;
        x[i + 1] = c * x1 - s * y1;
        x[i + 2] = c * x2 - s * y2;
        x[i + 3] = c * x3 - s * y3;
        y[i] = s * x0 + c * y0;
        y[i + 1] = s * x1 + c * y1;
        y[i + 2] = s * x2 + c * y2;
        y[i + 3] = s * x3 + c * y3;
    }
    for (; i < len; i++) {
        const double xi = x[i], yi = y[i];
        x[i] = c * xi - s * yi;
        y[i] = s * xi + c * yi;
    }
}

/* y -= h x (dvec.h). */
void jacobi_sub_scaled(double *restrict y, const double *restrict x, double h, int len)
{
    axpy_neg(y, x, h, len);
}

void jacobi_swap_rows(double *x, int p, int q, int len)
{
    double *a = x + (size_t)p * len, *b = x + (size_t)q * len;
    for (int i = 0; i < len; i++) {
        const double t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}


/* d = the squared norms of the rows of w, afresh. */
JACOBI_INLINE void norms(jacobi *j)
{
    for (int r = 0; r < j->k; r++) {
        const double *wr = j->w + (size_t)r * j->len;
        j->d[r] = dot8(wr, wr, j->len);
    }
}

/* The rows of w and z (and d, rank) in order of descending norm, ties in
 * starting order: a selection sort, k^2 comparisons but only k row swaps.
 * Each sweep starts sorted (de Rijk's idea, per sweep instead of per
 * pivot: fewer sweeps, and the block order below stays the row-cyclic one). */
void jacobi_sort_rows(jacobi *j)
{
    const int k = j->k;
    double *d = j->d;
    int *rank = j->rank;
    for (int r = 0; r < k; r++) {
        int best = r;
        for (int q = r + 1; q < k; q++)
            if (d[q] > d[best] || (d[q] == d[best] && rank[q] < rank[best]))
                best = q;
        if (best == r)
            continue;
        jacobi_swap_rows(j->w, r, best, j->len);
        if (j->z != NULL)
            jacobi_swap_rows(j->z, r, best, k);
        const double t = d[r];
        d[r] = d[best];
        d[best] = t;
        const int i = rank[r];
        rank[r] = rank[best];
        rank[best] = i;
    }
}

/* Make rows p and q of w orthogonal if their |cos| exceeds tol. Returns 1
 * if it rotated them; *max_cos keeps the largest |cos| seen. */
JACOBI_INLINE int rotate_pair(jacobi *j, int p, int q, double *max_cos)
{
    const double dp = j->d[p], dq = j->d[q];
    if (dp < JACOBI_TINY || dq < JACOBI_TINY)
        return 0; /* a zero vector is orthogonal to everything */
    double *wp = j->w + (size_t)p * j->len, *wq = j->w + (size_t)q * j->len;
    const double g = dot8(wp, wq, j->len);
    const double cosine = fabs(g) / (sqrt(dp) * sqrt(dq));
    if (cosine > *max_cos)
        *max_cos = cosine;
    if (cosine <= j->tol)
        return 0;
    /* Rutishauser: t = tan(theta), the smaller root of t^2 + 2 zeta t = 1,
     * zeroes the off-diagonal entry of the pair's Gram matrix [dp g; g dq].
     * sqrt(1 + zeta^2) is |zeta| to double precision long before zeta^2
     * could overflow (libm's hypot would do, at several times the cost). */
    const double zeta = (dq - dp) / (2.0 * g), az = fabs(zeta);
    const double t = copysign(1.0, zeta) / (az + (az < 1e150 ? sqrt(1.0 + zeta * zeta) : az));
    const double c = 1.0 / sqrt(1.0 + t * t), s = c * t;
    rotate(wp, wq, c, s, j->len);
    if (j->z != NULL)
        rotate(j->z + (size_t)p * j->k, j->z + (size_t)q * j->k, c, s, j->k);
    /* The new norms follow from the 2x2 problem. When one has dropped by
     * orders of magnitude the update has cancelled: recompute it. */
    double np = dp - t * g, nq = dq + t * g;
    if (np < 1e-3 * dp)
        np = dot8(wp, wp, j->len);
    if (nq < 1e-3 * dq)
        nq = dot8(wq, wq, j->len);
    j->d[p] = np;
    j->d[q] = nq;
    return 1;
}

/* One sweep: every pair once, block against block, so that the rows of two
 * blocks stay in cache while all their pairs are visited. Rotations of
 * disjoint pairs commute and pairs that share a row come in the same order
 * as in the row-cyclic sweep (p = 0..k-2, q = p+1..k-1), so the result is
 * that of block = 1, bit for bit. Returns the number of rotations. */
JACOBI_INLINE long sweep_body(jacobi *j, int block, double *max_cos)
{
    const int k = j->k;
    long rotations = 0;
    norms(j);
    jacobi_sort_rows(j);
    for (int p0 = 0; p0 < k; p0 += block) {
        const int p1 = p0 + block < k ? p0 + block : k;
        for (int q0 = p0; q0 < k; q0 += block) {
            const int q1 = q0 + block < k ? q0 + block : k;
            for (int p = p0; p < p1; p++)
                for (int q = q0 > p + 1 ? q0 : p + 1; q < q1; q++)
                    rotations += rotate_pair(j, p, q, max_cos);
        }
    }
    return rotations;
}

static long sweep_portable(jacobi *j, int block, double *max_cos)
{
    return sweep_body(j, block, max_cos);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static long sweep_avx2(jacobi *j, int block, double *max_cos)
{
    return sweep_body(j, block, max_cos);
}
#endif

long jacobi_sweep(jacobi *j, int block, double *max_cos)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2())
        return sweep_avx2(j, block, max_cos);
#endif
    return sweep_portable(j, block, max_cos);
}

double jacobi_dot(const double *x, const double *y, int len)
{
    return dot8(x, y, len);
}

void jacobi_norms(jacobi *j)
{
    norms(j);
}
