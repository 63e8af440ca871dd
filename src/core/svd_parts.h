/* svd_parts.h - what svd.c shares with svd_lowrank.c, and nothing else
 * includes: the LQ step, the sign convention and the one-allocation work
 * space. svd.h has the algorithm and the conventions.
 *
 * Dimension key: k vectors (rows) of length l, k <= l; m rows and n
 * columns of A.
 */
#ifndef LORA_DEMO_CORE_SVD_PARTS_H
#define LORA_DEMO_CORE_SVD_PARTS_H

#include <stddef.h>

#include "core/svd.h"
#include "status.h"

/* w (k, l) = [L 0] H_{k-1} ... H_0 by Householder reflections from the
 * right (LAPACK's dgelqf without blocking). Afterwards row i of w holds L's
 * entries in columns 0..i and v_i in columns i+1..l-1; tau (k). k <= l. */
void svd_lq_factor(double *w, double *tau, int k, int l);

/* x (l) <- [x[0..k) 0] H_{k-1} ... H_0: a row in L's coordinates back in
 * w's, w and tau as svd_lq_factor left them. The caller zeroes x[k..l). */
void svd_lq_apply(double *x, const double *w, const double *tau, int k, int l);

/* The sign convention of svd.h on u (m, k), with vt (k, n) or NULL flipped
 * along so that U diag(s) V^T is unchanged. */
void svd_fix_signs(double *u, double *vt, int m, int n, int k);

/* One allocation for n_parts parts of size[i] doubles each: *mem is the
 * block, part[i] points into it (NULL for an empty part). overflow says
 * that computing a size overflowed; what names the job in the message. */
ld_status svd_alloc_parts(void **mem, double **part, const size_t *size, int n_parts, int overflow,
                          const char *what, char *err, size_t errlen);

/* The bidiagonal route (svd_bidiag.c) on the k rows of w (k, len), k <=
 * len, which it destroys: sigma (k) descending; z (k, k) or NULL; with
 * want_p, w's rows replaced by P (k, len); w0 = z^T diag(sigma) P with
 * orthonormal rows of z and P (the form svd.c's Jacobi leaves). info
 * counts QR sweeps and rotations. opt (or NULL): its pool shares forming
 * the vectors between its threads (the same bits on any number), its
 * max_sweeps, when set, limits the QR's inner steps. */
ld_status svd_bidiag(double *sigma, double *z, int want_p, double *w, int k, int len,
                     const svd_options *opt, svd_info *info, char *err, size_t errlen);

#endif /* LORA_DEMO_CORE_SVD_PARTS_H */
