/* svd_check.h - what tests/test_svd.c and tests/test_svd_bidiag.c share:
 * the tolerances, the measurements of a decomposition, and the
 * matrices made for them (defined in test_svd.c).
 *
 * Dimension key: m rows, n columns, k = min(m, n).
 */
#ifndef LORA_DEMO_TESTS_SVD_CHECK_H
#define LORA_DEMO_TESTS_SVD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/svd.h"

/* The tolerances: values relative to the largest, reconstruction
 * relative to ||A||_F, orthonormality and projectors entry by entry. */
#define VALUE_RTOL 1e-6
#define RECON_RTOL 1e-6
#define ORTHO_TOL 1e-6
#define PROJ_TOL 1e-6
/* Singular vectors are as well determined as their values are separated:
 * a perturbation of eps ||A|| (all a backward-stable method promises)
 * turns them by about eps ||A|| / gap. So values closer than GROUP_RTOL
 * (relative to the largest) form one group, whose subspace is compared as
 * a whole, and a group is compared only if its smallest value stands
 * SEPARATION_RTOL clear of zero (on the longer side, the vectors of a tiny
 * value mix with the null space: in svd_graded_5x7 the right vector of
 * 1e-12 differs from LAPACK's by 3.5e-5, both within eps / 1e-12). Values
 * below ZERO_RTOL count as zero for the rank. */
#define GROUP_RTOL 1e-4
#define SEPARATION_RTOL 1e-6
#define ZERO_RTOL 1e-13

typedef struct {
    double *s;  /* (k) */
    double *u;  /* (m, k) */
    double *vt; /* (k, n) */
    void *mem;
} result;

/* r's arrays for an (m, n) matrix, in one block (free r->mem). */
int result_alloc(result *r, int m, int n);

/* CHECK(err <= limit), printing err when LD_SVD_VERBOSE is set. */
void check_le(const char *cas, const char *what, double err, double limit);

/* ||U diag(s) V^T - A||_F / ||A||_F (or the absolute error for A = 0). */
double recon_error(const double *u, const double *s, const double *vt, const double *a, int m,
                   int n, int k);

/* Largest |entry| of X^T X - I, x (len, vecs) read as columns, or (vecs,
 * len) read as rows when by_rows. */
double ortho_error(const double *x, int vecs, int len, int by_rows);

/* The worst projector error between (u, vt) and (tu, tvt) over the groups
 * of equal values of want (k) that are determined well enough to compare. */
double subspace_error(const double *u, const double *vt, const double *tu, const double *tvt,
                      const double *want, int m, int n, int k);

/* 1 if every column of u (m, k) has its largest |entry| positive. */
int signs_ok(const double *u, int m, int k);

/* Largest |s_i - want_i| / want_0 (absolute when want_0 = 0). */
double value_error(const double *s, const double *want, int k);

/* 1 if s (k) is descending and >= 0. */
int descending(const double *s, int k);

/* Descending values, the reconstruction, orthonormality, the signs. */
void check_promises(const char *cas, const result *r, const double *a, int m, int n);

/* Values only, U alone and V^T alone give the bits of the full call r. */
void check_partial_calls(const char *cas, const result *r, const double *a, int m, int n,
                         const svd_options *opt);

/* x (len) standard normals from seed. */
void fill_normal(double *x, size_t len, uint64_t seed);

/* a (m, n) = U0 diag(sv) V0^T with random orthonormal U0, V0. */
int make_known(double *a, const double *sv, int m, int n, uint64_t seed);

#endif /* LORA_DEMO_TESTS_SVD_CHECK_H */
