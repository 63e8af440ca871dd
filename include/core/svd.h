/* svd.h - the thin singular value decomposition A = U diag(s) V^T in
 * double, with libm only: by Householder bidiagonalisation and implicit-
 * shift QR (the fast route, from k = SVD_BIDIAG_MIN), or by one-sided
 * Jacobi (Hestenes 1958; below it, and the reference twin).
 *
 * Dimension key: m rows and n columns of A, k = min(m, n), l = max(m, n);
 * for the low-rank product scale * B A: O out, R rank, I in.
 *
 * Shapes, as torch.linalg.svd(A, full_matrices=False) returns them:
 *     s  (k)      singular values, descending, >= 0
 *     u  (m, k)   row-major, orthonormal columns
 *     vt (k, n)   row-major, orthonormal rows (V^T, PyTorch's Vh)
 * Pass u = NULL and vt = NULL for the values only: the cheapest call, as
 * no rotation is accumulated. Either alone is fine too; V^T alone costs
 * U as well (the sign convention is on U), in a scratch array.
 *
 * Route. svd_route in svd.c, the one place it is chosen: k >= SVD_BIDIAG_MIN
 * (64) takes the bidiagonal route, smaller k Jacobi; svd_options.route
 * forces either. Both share the input checks, the scaling, the LQ step,
 * the sign convention and the conventions below; the values and vectors
 * agree to rounding (tests/test_svd_bidiag.c), not bit for bit.
 *
 * Bidiagonal route (svd_bidiag.c, kernels/bidiag.c). The k vectors, rows
 * of W (k, len), are reduced to a lower bidiagonal Bl = G W H by Householder
 * reflections (Golub-Kahan), the two reflections of a step and the product
 * the next one needs applied in one pass over each row; then Bl^T's SVD by
 * implicit-shift QR as in LAPACK's dbdsqr: the shift is the smaller
 * singular value of the trailing 2 x 2, zero (the Demmel-Kahan sweep) when
 * it is negligible beside the block's first value; off-diagonal entries
 * below eps (|d_i| + |d_{i+1}|) or eps max|B| are set to zero, diagonal
 * ones below eps max|B| too, and their row or column chased out (Golub-
 * Reinsch). The limit is 6 k^2 inner steps of the QR sweeps, each sweep
 * counting its length, as dbdsqr's (random 1024 x 1024: about 0.9 million
 * of the 6.3 million); LD_ESTATE beyond it.
 * With vectors G and H are formed (16 reflectors per pass over each row)
 * and the rotations applied to them in bulk (64 columns at a time on
 * AVX-512), both split between the threads of svd_options.pool when one is
 * given: rows of G and H, columns of the rotations, each computed by the
 * same code whichever thread takes it, so the same bits on any number of
 * threads. Cost: ~8/3 k^3 flops to bidiagonalise (square), O(k^2) for the
 * values, ~12 k^3 more for the vectors (about 1.7 k^2 rotations).
 *
 * Jacobi route. The k vectors made orthogonal are A's columns when m >= n and
 * its rows when m < n (then A^T is decomposed): always the shorter side,
 * each stored as a contiguous row of a (k, l) work matrix. When l >= 1.25 k
 * they are first reduced to k coordinates by an LQ factorisation
 * (Householder reflections; svd_options.lq), so every inner product and
 * rotation is k long instead of l. Each sweep sorts the vectors by
 * decreasing norm (de Rijk's pivoting, once per sweep: fewer sweeps), then
 * visits every pair (p, q) once in row-cyclic order, taken block against
 * block so that two blocks of rows stay in cache, and rotates the pair by
 * the plane rotation that makes it orthogonal (Rutishauser's formulas,
 * squared norms kept up to date and recomputed when they cancel). The
 * sweep is kernels/jacobi.c's, built portable and with AVX2 (the same
 * bits; chosen as matmul_set_isa says). The
 * rotations, applied to the identity, give the other factor. At the end the
 * norms of the vectors are the singular values and the normalised vectors
 * one side's singular vectors. The input is first scaled by a power of two
 * (exact) so that its largest |entry| is in [0.5, 1), so no squared norm
 * overflows and none that matters underflows.
 *
 * Convergence criterion (Jacobi). A pair is rotated only when
 *     |w_p . w_q| > tol ||w_p|| ||w_q||,   tol = len * DBL_EPSILON,
 * len the length of the vectors (k after the LQ step, else l): when the
 * cosine of their angle exceeds tol. len eps bounds the rounding error of an
 * inner product of that length, so a smaller tol could chase rounding
 * noise. The iteration stops after the first sweep that rotates no pair;
 * every pair is then orthogonal to tol, and so are U and V.
 *
 * Sweep limit (Jacobi). SVD_MAX_SWEEPS = 30 (LAPACK's dgesvj also stops at 30).
 * Cyclic Jacobi converges quadratically once the vectors are nearly
 * orthogonal: random matrices took 7 to 11 sweeps from 20 x 20 to 1024 x
 * 1024 (docs/performance.md). Reaching the limit returns LD_ESTATE ("no
 * convergence within N sweeps"), never a half-converged result.
 *
 * Zero singular values. Jacobi: a vector whose squared norm is below
 * DBL_MIN / DBL_EPSILON after the scaling (norm about 1e-146 of the
 * largest entry) is exactly zero for the algorithm: its singular value is
 * 0 and its singular vector is completed to an orthonormal set
 * (Gram-Schmidt from the unit vector with the largest residual). The
 * bidiagonal route's vectors are orthonormal by construction. On both, the
 * zero matrix gives s = 0, U = the first k columns of I and V^T = I.
 *
 * Sign convention. Singular vectors are unique only up to sign (a repeated
 * value's only up to a rotation within its subspace). Here the entry of
 * largest |.| in each column of U is positive (the first such on a tie),
 * and the matching row of V^T takes the same sign. The same input gives the
 * same bits every time.
 *
 * Accuracy. Against torch.linalg.svd in double (LAPACK gesdd) on the
 * fixtures of tests/test_svd.c, through both routes, the tolerances are:
 * values within 1e-6 of the largest, ||U diag(s) V^T - A||_F <= 1e-6
 * ||A||_F, U^T U and V^T V within 1e-6 of I. Measured: 3e-14 or better on
 * all of them (docs/parity.md); at 1024 x 1024 2.6e-13 (Jacobi), 1.8e-14
 * (bidiagonal; docs/performance.md). The routes differ for tiny values:
 * bidiagonalisation is backward stable in norm only, so each value has an
 * absolute error of a few k eps s_0 (1.4e-14 s_0 at most in the tests) and
 * a value s_i is accurate to about that / s_i relatively; Jacobi keeps
 * relative accuracy when A is a well-conditioned matrix with scaled columns
 * (Demmel-Veselic 1992): on a 100 x 100 such matrix with columns scaled
 * from 1 to 1e-14, the routes differ by 4e-4 relatively at s_i = 7e-14
 * and by 3.6e-15 s_0 at most. The fixtures' 1e-6 s_0 holds by eight orders.
 *
 * Errors (a one-line message in err; library code, never exits or prints):
 * LD_EINPUT for m or n < 1, a NULL s or matrix, an entry that is NaN or
 * infinite (the message names it), or singular values that overflow
 * double; LD_ENOMEM when the work space (k l + 2 k^2 + O(l) doubles at
 * most, plus m k for V^T alone; the bidiagonal route another k l + O(l + 16 k)
 * and, with vectors, 1.5 MiB of buffered rotations) cannot be allocated;
 * LD_ESTATE at the sweep limit of either route. On failure the outputs hold
 * nothing useful.
 *
 * Recipes for LoRA updates:
 *   - spectrum of s B A: svd_lowrank(sv, NULL, NULL, b, a, s, O, R, I, ...);
 *     of W - W0: form the difference in double, then svd(sv, NULL, NULL, ...)
 *   - effective rank: the number of sv[i] > rtol * sv[0]
 *   - energy of the top r: sum_{i<r} sv[i]^2 / sum_i sv[i]^2; of another
 *     update D in the span of U's first r columns: ||U_r^T D||_F^2 / ||D||_F^2
 *   - principal angles between span(U1_r) and span(U2_r): the singular
 *     values of the (r, r) matrix U1_r^T U2_r are their cosines
 *   - PiSSA from W0 (O, I): lora_init_pissa (core/lora.h), A = diag(sqrt(sv_r / s))
 *     vt[0..r) (r, I), B = u[:, 0..r) diag(sqrt(sv_r / s)) (O, r), base W0 - s B A
 */
#ifndef LORA_DEMO_SVD_H
#define LORA_DEMO_SVD_H

#include <stddef.h>

#include "kernels/pool.h"
#include "status.h"

#define SVD_MAX_SWEEPS 30
/* Rows per block of the sweep order: the rows of two blocks (and their
 * rows of the rotation factor) stay in cache while all their pairs are
 * visited. The order is still the row-cyclic one up to rotations of
 * disjoint pairs, which commute, so any block size gives the same bits. */
#define SVD_BLOCK 16

/* The auto route takes bidiagonal QR from k = min(m, n) >= SVD_BIDIAG_MIN.
 * Below it both take well under a millisecond (QR 1.5-2.5x faster at k =
 * 16-48), and Jacobi is relatively accurate for tiny values and keeps the
 * bits that small runs always had. */
#define SVD_BIDIAG_MIN 64

/* svd_options.route */
enum { SVD_ROUTE_AUTO = 0, SVD_ROUTE_JACOBI = 1, SVD_ROUTE_BIDIAG = 2 };

/* Zero-initialise and set what you need; a zero field means the default. */
typedef struct {
    int max_sweeps; /* Jacobi's sweep limit (0: SVD_MAX_SWEEPS); the bidiagonal
                       route's limit on QR inner steps (0: 6 k^2) */
    int block;      /* Jacobi's rows per block; 0: SVD_BLOCK; 1: plain row-cyclic loops */
    int lq;         /* the LQ step: 0 when l >= 1.25 k, 1 always, -1 never */
    int route;      /* SVD_ROUTE_AUTO (see SVD_BIDIAG_MIN), _JACOBI or _BIDIAG */
    pool *pool;     /* NULL: one thread; else the bidiagonal route forms U and V
                       on its threads (the same bits on any number; not from
                       inside one of the pool's own jobs, pool_run) */
} svd_options;

typedef struct {
    int route;      /* the route taken: SVD_ROUTE_JACOBI or SVD_ROUTE_BIDIAG */
    int sweeps;     /* Jacobi: sweeps made, counting the last, which rotated no
                       pair; bidiagonal: QR sweeps */
    long rotations; /* plane rotations applied over all sweeps */
    double max_cos; /* Jacobi: largest |cos| between two vectors in the last sweep */
} svd_info;

/* s (k), u (m, k) or NULL, vt (k, n) or NULL; a (m, n) row-major. */
ld_status svd(double *s, double *u, double *vt, const double *a, int m, int n, char *err,
              size_t errlen);

/* The same for a float matrix (a weight as the model stores it); the
 * arithmetic is in double all the same: the result is svd's on the same
 * numbers converted, bit for bit. a (m, n) row-major. */
ld_status svd_f32(double *s, double *u, double *vt, const float *a, int m, int n, char *err,
                  size_t errlen);

/* svd with options (NULL: the defaults) and what the iteration did (info
 * may be NULL; it is filled on failure too). */
ld_status svd_ex(double *s, double *u, double *vt, const double *a, int m, int n,
                 const svd_options *opt, svd_info *info, char *err, size_t errlen);
/* svd_f32 with options and info, as svd_ex. */
ld_status svd_f32_ex(double *s, double *u, double *vt, const float *a, int m, int n,
                     const svd_options *opt, svd_info *info, char *err, size_t errlen);

/* The first half of the bidiagonal route, for tests and the curious: w (k,
 * len) row-major, 1 <= k <= len, = g^T Bl p with Bl (k, k) lower
 * bidiagonal, d (k) its diagonal and e (k - 1) the entries below it, g (k,
 * k) orthogonal and p (k, len) with orthonormal rows (Householder
 * reflections, core/svd_bidiag.c). w is only read. */
ld_status svd_bidiagonalise(double *d, double *e, double *g, double *p, const double *w, int k,
                            int len, char *err, size_t errlen);

/* The thin SVD of scale * B A without forming the (O, I) matrix: b (O, R)
 * and a (R, I) row-major floats, as the model stores lora_B and lora_A;
 * s (R), u (O, R) or NULL, vt (R, I) or NULL, with svd's conventions.
 * Needs 1 <= R <= min(O, I) (LD_EINPUT otherwise: form the product and call
 * svd). LQ steps give B^T = [L_B 0] H_B and A = [L_A 0] H_A, so
 *     scale B A = H_B^T [scale L_B^T L_A, 0; 0, 0] H_A
 * and only the (R, R) core goes through svd: O(R^2 (O + I)) work instead of
 * O(O I min(O, I)). B = 0 (PEFT's initialisation) gives s = 0 with
 * orthonormal U and V all the same. */
ld_status svd_lowrank(double *s, double *u, double *vt, const float *b, const float *a,
                      double scale, int O, int R, int I, char *err, size_t errlen);

#endif /* LORA_DEMO_SVD_H */
