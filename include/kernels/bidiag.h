/* bidiag.h - the loops that take the time of the SVD's bidiagonal route
 * (core/svd_bidiag.c): one row of the fused Householder bidiagonalisation,
 * a block of reflectors applied to many rows, and plane rotations applied in bulk.
 * Built twice, portable and AVX2 (kernels/simd.h), with the same bits: the
 * same C, no fused multiply-add, no reassociation; the rotations also have
 * an AVX-512 build in intrinsics, and the row pass and reflector blocks an
 * AVX2 one (several rows side by side), the same operations in the same
 * order.
 * core/svd.h has the algorithm.
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

/* bidiag_row on `rows` rows w + q ld, q = 0, 1, ..., each with its own
 * hb[q], all with acc, in that order: row q's g = wr[0] goes to g[q], and
 * acc gets the rows' terms added in row order, the same bits as calling
 * bidiag_row on one row after another. The AVX2 path runs up to four rows
 * side by side (kernels/bidiag_rows.c). hb, g (rows); z may be NULL when
 * every hb is 0. */
void bidiag_rows(double *w, long ld, int rows, const double *z, const double *hb,
                 const double *va, double ta, double *acc, double *g, int n);

/* A reflector I - tau v v^T that acts on the entries [off, n) of the rows
 * from `first` on; v (n - off), v[0] = 1. */
typedef struct {
    const double *v;
    double tau;
    int off, first;
} bidiag_refl;

/* Rows [r_lo, r_hi) of y (stride ld, n entries each) times the reflectors
 * h[0..nh) from the right, in that order: y_r[off..n) -= tau (y_r[off..n)
 * . v) v for each h with r >= first and tau != 0. Row by row, a block of
 * reflectors at a time, so each row is read once per block; the same bits
 * as applying them one at a time, and any split of the rows gives the
 * same bits too. */
void bidiag_reflect_block(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h, int nh,
                          int n);

/* A plane rotation of rows p and q: (x_p, x_q) <- (c x_p + s x_q, c x_q - s x_p). */
typedef struct {
    int p, q;
    double c, s;
} bidiag_rot;

/* Columns [c_lo, c_hi) of x (rows, len) row-major <- the n_rot rotations
 * applied in order, a few columns at a time so that the columns stay in
 * cache across all of them (on AVX-512, consecutive QR sweeps that overlap
 * three at a time, as a wavefront over the rows). Each column is rotated
 * on its own: any split of the columns gives the same bits, and every
 * build gives the bits of applying the rotations one at a time. */
void bidiag_apply_rots(double *x, int len, int c_lo, int c_hi, const bidiag_rot *rot, long n_rot);

#endif /* LORA_DEMO_KERNELS_BIDIAG_H */
