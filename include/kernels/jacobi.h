/* jacobi.h - one sweep of one-sided Jacobi (Hestenes) over the rows of a
 * matrix, the loops that take core/svd.c's time, in kernels/ because they
 * are built twice, portable and AVX2 (kernels/simd.h), with the same bits.
 * core/svd.h has the algorithm, the convergence criterion and the sweep
 * limit.
 *
 * Dimension key: k rows (the vectors) of len doubles.
 */
#ifndef LORA_DEMO_KERNELS_JACOBI_H
#define LORA_DEMO_KERNELS_JACOBI_H

#include <float.h>

/* A squared norm below this is taken as zero: such a vector is far below
 * anything the tolerances can see, and the product of two such norms
 * would underflow. */
#define JACOBI_TINY (DBL_MIN / DBL_EPSILON)

typedef struct {
    int k, len;   /* k rows of len: (k, l), or (k, k) after the LQ step */
    double *w;    /* (k, len) row-major: the vectors being orthogonalised */
    double *z;    /* (k, k) row-major: the rotations so far; NULL when unneeded */
    double *d;    /* (k) squared norms of the rows of w */
    int *rank;    /* (k) each row's starting position, to keep ties in order */
    double tol;   /* rotate a pair whose |cos| exceeds this */
} jacobi;

/* One sweep: d = the rows' squared norms afresh, the rows sorted by them,
 * then every pair (p, q) once, rotated when its |cos| exceeds tol.
 * Returns the number of rotations; *max_cos keeps the largest |cos| seen. */
long jacobi_sweep(jacobi *j, int block, double *max_cos);

/* d = the squared norms of the rows of w, afresh. */
void jacobi_norms(jacobi *j);

/* The rows of w and z (and d, rank) in order of descending norm, ties in
 * starting order. */
void jacobi_sort_rows(jacobi *j);

/* x . y, and y -= h x, over len elements (the portable build). */
double jacobi_dot(const double *x, const double *y, int len);
void jacobi_sub_scaled(double *y, const double *x, double h, int len);
/* Swap rows p and q of x (rows of len doubles; also the bidiagonal
 * route's sort, core/svd_bidiag.c). */
void jacobi_swap_rows(double *x, int p, int q, int len);

#endif /* LORA_DEMO_KERNELS_JACOBI_H */
