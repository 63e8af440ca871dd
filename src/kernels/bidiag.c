/* bidiag.c - the loops of the SVD's bidiagonal route (core/svd_bidiag.c
 * calls them; kernels/bidiag.h has the contract).
 *
 * Dimension key: rows of len doubles.
 *
 * Each loop is written once, as an always-inline body, and built twice
 * (kernels/simd.h): for the x86-64 baseline, and with AVX2, chosen when
 * matmul_isa_avx2() says so. The same C with no fused multiply-add and no
 * reassociation, so the two give the same bits (tests/test_svd_bidiag.c,
 * check_bidiag_isa); only the vector width differs.
 */
#include "kernels/bidiag.h"

#include <stddef.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"

#include "dvec.h"

#if defined(__GNUC__) || defined(__clang__)
#define BIDIAG_INLINE static inline __attribute__((always_inline))
#else
#define BIDIAG_INLINE static inline
#endif

/* Columns per chunk in bidiag_apply_rots: a chunk of 1024 rows is 128 KB,
 * in L2 while every buffered rotation passes over it. */
#define ROT_COLS 16

/* y -= h x and acc += g y (the updated y), in one pass. */
BIDIAG_INLINE void axpy_acc(double *restrict y, const double *restrict x, double h,
                            double *restrict acc, double g, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) {
        y[i] -= h * x[i];
        y[i + 1] -= h * x[i + 1];
        y[i + 2] -= h * x[i + 2];
        y[i + 3] -= h * x[i + 3];
        acc[i] += g * y[i];
        acc[i + 1] += g * y[i + 1];
        acc[i + 2] += g * y[i + 2];
        acc[i + 3] += g * y[i + 3];
    }
    for (; i < len; i++) {
        y[i] -= h * x[i];
        acc[i] += g * y[i];
    }
}

BIDIAG_INLINE double row_body(double *restrict wr, const double *restrict z, double hb,
                              const double *restrict va, double ta, double *restrict acc, int n)
{
    if (hb != 0.0)
        axpy_neg(wr, z, hb, n);
    const double h = ta * (wr[0] + dot8(wr + 1, va, n - 1));
    wr[0] -= h;
    if (acc != NULL)
        axpy_acc(wr + 1, va, h, acc, wr[0], n - 1);
    else
        axpy_neg(wr + 1, va, h, n - 1);
    return wr[0];
}

BIDIAG_INLINE void reflect_body(double *y, int rows, long ld, const double *restrict v, double tau,
                                int n)
{
    for (int r = 0; r < rows; r++) {
        double *yr = y + (size_t)r * (size_t)ld;
        axpy_neg(yr, v, tau * dot8(yr, v, n), n);
    }
}

/* Row q of a chunk rotated against the carried row x (in registers):
 * x_p <- c x + s y is stored to out, and the new y, c y - s x, becomes
 * the carry. */
BIDIAG_INLINE void rot_step(double *restrict out, double *restrict x, const double *restrict y,
                            double c, double s, int w)
{
    int j = 0;
    for (; j + 4 <= w; j += 4) { /* written out four at a time: GCC -O2 vectorises this form */
        const double x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        const double y0 = y[j], y1 = y[j + 1], y2 = y[j + 2], y3 = y[j + 3];
        out[j] = c * x0 + s * y0;
        out[j + 1] = c * x1 + s * y1;
        out[j + 2] = c * x2 + s * y2;
        out[j + 3] = c * x3 + s * y3;
        x[j] = c * y0 - s * x0;
        x[j + 1] = c * y1 - s * x1;
        x[j + 2] = c * y2 - s * x2;
        x[j + 3] = c * y3 - s * x3;
    }
    for (; j < w; j++) {
        const double xj = x[j], yj = y[j];
        out[j] = c * xj + s * yj;
        x[j] = c * yj - s * xj;
    }
}

/* Every rotation over one chunk of columns at a time. A chain of
 * rotations (p, q), (q, r), ... (each QR sweep is one) carries the shared
 * row in registers: one load and one store per rotation instead of two
 * (the idea of Van Zee, van de Geijn and Quintana-Orti, "Restructuring the
 * tridiagonal and bidiagonal QR algorithms for performance", ACM TOMS 40,
 * 2014, in its simplest form). */
BIDIAG_INLINE void rots_body(double *x, int len, const bidiag_rot *rot, long n_rot)
{
    for (int c0 = 0; c0 < len; c0 += ROT_COLS) {
        const int w = len - c0 < ROT_COLS ? len - c0 : ROT_COLS;
        long i = 0;
        while (i < n_rot) {
            double carry[ROT_COLS];
            int p = rot[i].p;
            double *row = x + (size_t)p * (size_t)len + c0;
            memcpy(carry, row, (size_t)w * sizeof carry[0]);
            do {
                const bidiag_rot *g = rot + i;
                double *next = x + (size_t)g->q * (size_t)len + c0;
                rot_step(row, carry, next, g->c, g->s, w);
                row = next;
                p = g->q;
                i++;
            } while (i < n_rot && rot[i].p == p);
            memcpy(row, carry, (size_t)w * sizeof carry[0]);
        }
    }
}

static double row_portable(double *wr, const double *z, double hb, const double *va, double ta,
                           double *acc, int n)
{
    return row_body(wr, z, hb, va, ta, acc, n);
}

static void reflect_portable(double *y, int rows, long ld, const double *v, double tau, int n)
{
    reflect_body(y, rows, ld, v, tau, n);
}

static void rots_portable(double *x, int len, const bidiag_rot *rot, long n_rot)
{
    rots_body(x, len, rot, n_rot);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static double row_avx2(double *wr, const double *z, double hb, const double *va,
                                      double ta, double *acc, int n)
{
    return row_body(wr, z, hb, va, ta, acc, n);
}

LD_AVX2_TARGET static void reflect_avx2(double *y, int rows, long ld, const double *v, double tau,
                                        int n)
{
    reflect_body(y, rows, ld, v, tau, n);
}

LD_AVX2_TARGET static void rots_avx2(double *x, int len, const bidiag_rot *rot, long n_rot)
{
    rots_body(x, len, rot, n_rot);
}
#endif

double bidiag_row(double *wr, const double *z, double hb, const double *va, double ta,
                  double *acc, int n)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2())
        return row_avx2(wr, z, hb, va, ta, acc, n);
#endif
    return row_portable(wr, z, hb, va, ta, acc, n);
}

void bidiag_reflect_rows(double *y, int rows, long ld, const double *v, double tau, int n)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        reflect_avx2(y, rows, ld, v, tau, n);
        return;
    }
#endif
    reflect_portable(y, rows, ld, v, tau, n);
}

void bidiag_apply_rots(double *x, int len, const bidiag_rot *rot, long n_rot)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        rots_avx2(x, len, rot, n_rot);
        return;
    }
#endif
    rots_portable(x, len, rot, n_rot);
}
