/* bidiag.h - the loops that take the time of the SVD's bidiagonal route
 * (core/svd_bidiag.c): one row of the fused Householder bidiagonalisation,
 * a reflector applied to many rows, and plane rotations applied in bulk.
 * Built twice, portable and AVX2 (kernels/simd.h), with the same bits: the
 * same C, no fused multiply-add, no reassociation. core/svd.h has the
 * algorithm.
 *
 * Dimension key: rows of len doubles.
 */
#ifndef LORA_DEMO_KERNELS_BIDIAG_H
#define LORA_DEMO_KERNELS_BIDIAG_H

/* One row wr (n) of the trailing matrix, in one visit while it is in L1:
 *     wr -= hb z                                 (the pending left reflector)
 *     h = ta (wr[0] + wr[1..n) . va);  wr[0] -= h;  wr[1..n) -= h va
 *                                                 (the row's right reflector)
 *     acc += wr[0] wr[1..n)   when acc is not NULL (the next left reflector's
 *                                                   product, accumulated)
 * z (n) may be NULL when hb = 0; va (n - 1); acc (n - 1). Returns wr[0]. */
double bidiag_row(double *wr, const double *z, double hb, const double *va, double ta,
                  double *acc, int n);

/* Each of rows rows of y (stride ld) times the reflector I - tau v v^T
 * from the right: y_r -= tau (y_r . v) v, over n entries. */
void bidiag_reflect_rows(double *y, int rows, long ld, const double *v, double tau, int n);

/* A plane rotation of rows p and q: (x_p, x_q) <- (c x_p + s x_q, c x_q - s x_p). */
typedef struct {
    int p, q;
    double c, s;
} bidiag_rot;

/* x (rows, len) row-major <- the n_rot rotations applied in order, a few
 * columns at a time so that the columns stay in cache across all of them. */
void bidiag_apply_rots(double *x, int len, const bidiag_rot *rot, long n_rot);

#endif /* LORA_DEMO_KERNELS_BIDIAG_H */
