/* spectrum.h - what the singular values of a learned update say: its
 * effective rank, how much of a known shift it captures, and the angles
 * between its column space and the shift's. docs/spectra.md explains them
 * with the experiment's numbers.
 *
 * Dimension key: m rows (O, a layer's outputs) and n columns (I) of a
 * matrix; k its number of singular values, min(m, n); r1, r2 the columns
 * of two orthonormal bases that are compared.
 *
 * Singular values s (k) are in descending order, >= 0, as svd.h returns
 * them; U (m, ld) is row-major and only its first r columns are used.
 *
 * Effective rank by threshold:
 *     rank_rtol(s) = #{ i : s_i > rtol * s_0 },   rtol = SPECTRUM_RANK_RTOL (1 %)
 * 0 for the zero matrix (no value exceeds 0).
 *
 * Effective rank by entropy (Roy and Vetterli, "The effective rank: a
 * measure of effective dimensionality", EUSIPCO 2007):
 *     p_i = s_i / sum_j s_j,   H = - sum_i p_i ln p_i  (0 ln 0 = 0),
 *     erank = exp(H)
 * It lies in [1, k] for a nonzero matrix: 1 for rank one, k when all k
 * values are equal, and in between it weighs each direction by its share
 * of the sum, so a tail of small values adds a little, not a whole rank.
 * 0 for the zero matrix (H is undefined there; 0 says "nothing").
 *
 * Energy captured. For an update D (m, n) and an orthonormal basis U_r
 * (the first r columns of U) of a subspace of R^m, P_r = U_r U_r^T is the
 * orthogonal projector onto it and
 *     energy = ||P_r D||_F^2 / ||D||_F^2 = ||U_r^T D||_F^2 / ||D||_F^2
 * (the two are equal because U_r has orthonormal columns), in [0, 1]: the
 * share of D's squared Frobenius norm whose columns lie in the subspace.
 * NaN when D = 0 (no energy to capture).
 *
 * Principal angles. Between span(U1_r1) and span(U2_r2) there are
 * min(r1, r2) principal angles theta_i (Bjorck and Golub, 1973); their
 * cosines are the singular values of the (r1, r2) matrix U1_r1^T U2_r2,
 * in descending order (smallest angle first). 1: a shared direction; 0:
 * orthogonal. Rounding can push a cosine a few ulps above 1; it is
 * clamped to 1.
 *
 * Which subspaces lora_demo compares (docs/spectra.md): a LoRA update
 * s B A has rank at most R, and its span is that of its R left singular
 * vectors; full fine-tuning's W - W0 is full rank (the noise reaches every
 * direction), so its span is taken as that of its top K left singular
 * vectors, K the rank of the teacher's shift: the directions full
 * fine-tuning would keep if it were cut to the shift's rank.
 *
 * Library code: returns a status (spectrum_angles allocates), never exits.
 */
#ifndef LORA_DEMO_SPECTRUM_H
#define LORA_DEMO_SPECTRUM_H

#include <stddef.h>

#include "status.h"

/* The threshold of the effective rank: 1 % of the largest value. */
#define SPECTRUM_RANK_RTOL 0.01

/* #{ i < k : s[i] > rtol * s[0] }; s (k) descending. 0 when k = 0. */
int spectrum_rank_threshold(const double *s, int k, double rtol);

/* exp(H(p)), p_i = s_i / sum s: Roy and Vetterli's effective rank; s (k),
 * any order. 0 when every s_i is 0 (or k = 0). */
double spectrum_rank_entropy(const double *s, int k);

/* ||U_r^T D||_F^2 / ||D||_F^2: u (m, ld) row-major, its first r columns
 * orthonormal (r <= ld); d (m, n) row-major. NaN when D = 0. */
double spectrum_energy(const double *u, int ld, int r, const double *d, int m, int n);

/* cosines (min(r1, r2)): the cosines of the principal angles between the
 * spans of u1's first r1 columns and u2's first r2 columns, descending;
 * u1 (m, ld1), u2 (m, ld2) row-major, 1 <= r1 <= ld1, 1 <= r2 <= ld2.
 * LD_EINPUT for bad sizes or a NaN entry, LD_ENOMEM, LD_ESTATE (svd.h). */
ld_status spectrum_angles(double *cosines, const double *u1, int ld1, int r1, const double *u2,
                          int ld2, int r2, int m, char *err, size_t errlen);

#endif /* LORA_DEMO_SPECTRUM_H */
