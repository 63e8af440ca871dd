/* svd.c - the thin SVD by one-sided Jacobi (Hestenes); svd.h has the
 * algorithm, the convergence criterion, the sweep limit and the sign
 * convention. svd_lowrank.c, the SVD of s B A, borrows the LQ step, the
 * signs and the work space from here (svd_parts.h).
 *
 * Dimension key: m rows and n columns of A, k = min(m, n), l = max(m, n).
 *
 * The k vectors that the rotations make orthogonal are the rows of
 * w (k, l): w = A^T when m >= n, w = A when m < n. The same rotations are
 * applied to the rows of z (k, k), which starts as the identity, so that
 * z w0 = w throughout. At convergence w = diag(sigma) P, P (k, l) with
 * orthonormal rows, so w0 = z^T diag(sigma) P and
 *     m >= n:  A = w0^T = P^T diag(sigma) z,  so U = P^T, V^T = z;
 *     m <  n:  A = w0   = z^T diag(sigma) P,  so U = z^T, V^T = P.
 * When l is well above k, w is first factored as w = [L 0] H (an LQ
 * factorisation by Householder reflections, H (l, l) orthogonal); the
 * rotations then work on the rows of L (k, k), the same vectors in other
 * coordinates but k long instead of l, and P = [P_L 0] H at the end.
 */
#include "core/svd.h"

#include "kernels/jacobi.h"
#include "svd_parts.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries per side of the tiles in which matrices are transposed. */
#define TILE 16

/* A squared norm below this is taken as zero (kernels/jacobi.h). */
#define SVD_TINY JACOBI_TINY

/* Sweeps until one rotates nothing, or the sweep limit. */
static ld_status iterate(jacobi *j, const svd_options *opt, svd_info *info, char *err,
                         size_t errlen)
{
    const int max_sweeps = opt != NULL && opt->max_sweeps > 0 ? opt->max_sweeps : SVD_MAX_SWEEPS;
    const int block = opt != NULL && opt->block > 0 ? opt->block : SVD_BLOCK;
    while (info->sweeps < max_sweeps) {
        info->max_cos = 0.0;
        const long r = jacobi_sweep(j, block, &info->max_cos);
        info->sweeps++;
        info->rotations += r;
        if (r == 0)
            return LD_OK;
    }
    return ld_fail(err, errlen, LD_ESTATE,
                   "svd: no convergence within %d sweeps (%d vectors of %d; largest |cos| in the "
                   "last sweep %.3g, threshold %.3g)",
                   max_sweeps, j->k, j->len, info->max_cos, j->tol);
}

/* ------------------------------------------------------------------------ */
/* the LQ step: w (k, l) = [L 0] H_{k-1} ... H_1 H_0 */

/* Householder reflections H_i = I - tau_i v_i v_i^T from the right (LAPACK's
 * dgelqf without blocking). Afterwards row i of w holds L's entries in
 * columns 0..i and v_i in columns i+1..l-1 (v_i[i] = 1 is implied); tau
 * (k). k <= l. */
void svd_lq_factor(double *w, double *tau, int k, int l)
{
    for (int i = 0; i < k; i++) {
        double *wi = w + (size_t)i * l;
        const double alpha = wi[i], tail = jacobi_dot(wi + i + 1, wi + i + 1, l - i - 1);
        tau[i] = 0.0;
        if (tail == 0.0)
            continue; /* the row is already in place: H_i = I */
        /* H_i maps (alpha, tail) to (beta, 0); beta takes the sign that
         * avoids cancellation in alpha - beta (dlarfg). */
        const double beta = -copysign(sqrt(alpha * alpha + tail), alpha);
        tau[i] = (beta - alpha) / beta;
        const double inv = 1.0 / (alpha - beta);
        for (int c = i + 1; c < l; c++)
            wi[c] *= inv;
        wi[i] = beta;
        for (int r = i + 1; r < k; r++) {
            double *wr = w + (size_t)r * l;
            const double h = tau[i] * (wr[i] + jacobi_dot(wr + i + 1, wi + i + 1, l - i - 1));
            wr[i] -= h;
            jacobi_sub_scaled(wr + i + 1, wi + i + 1, h, l - i - 1);
        }
    }
}

/* x (l) <- [x[0..k) 0] H_{k-1} ... H_0: a row in L's coordinates back in
 * w's. The caller zeroes x[k..l). */
void svd_lq_apply(double *x, const double *w, const double *tau, int k, int l)
{
    for (int i = k - 1; i >= 0; i--) {
        if (tau[i] == 0.0)
            continue;
        const double *vi = w + (size_t)i * l;
        const double h = tau[i] * (x[i] + jacobi_dot(x + i + 1, vi + i + 1, l - i - 1));
        x[i] -= h;
        jacobi_sub_scaled(x + i + 1, vi + i + 1, h, l - i - 1);
    }
}

/* L (k, k) from the factored w, zeros above the diagonal. */
static void lq_take_l(double *lower, const double *w, int k, int l)
{
    for (int r = 0; r < k; r++)
        for (int c = 0; c < k; c++)
            lower[(size_t)r * k + c] = c <= r ? w[(size_t)r * l + c] : 0.0;
}

/* ------------------------------------------------------------------------ */
/* input */

/* w (k, l) = A^T (m >= n) or A (m < n), from a (m, n) row-major, double or
 * float; LD_EINPUT naming the first entry that is not finite. */
static ld_status load(double *w, const double *a, const float *af, int m, int n, char *err,
                      size_t errlen)
{
    const size_t mn = (size_t)m * (size_t)n;
    for (size_t at = 0; at < mn; at++) { /* the first bad entry in reading order */
        const double v = a != NULL ? a[at] : (double)af[at];
        if (!isfinite(v))
            return ld_fail(err, errlen, LD_EINPUT, "svd: entry [%zu][%zu] of the %dx%d matrix is %s",
                           at / (size_t)n, at % (size_t)n, m, n, isnan(v) ? "NaN" : "infinite");
    }
    if (m < n) {
        for (size_t at = 0; at < mn; at++)
            w[at] = a != NULL ? a[at] : (double)af[at];
        return LD_OK;
    }
    /* tall: w = A^T, in TILE x TILE tiles so that the writes stay in cache */
    for (int i0 = 0; i0 < m; i0 += TILE)
        for (int c0 = 0; c0 < n; c0 += TILE)
            for (int c = c0; c < n && c < c0 + TILE; c++)
                for (int i = i0; i < m && i < i0 + TILE; i++) {
                    const size_t at = (size_t)i * n + c;
                    w[(size_t)c * m + i] = a != NULL ? a[at] : (double)af[at];
                }
    return LD_OK;
}

/* Scale x by a power of two (exact) so that its largest |entry| is in
 * [0.5, 1): no squared norm can then overflow, and none that matters can
 * underflow. Returns the exponent that scales the singular values back (0
 * for a zero matrix). */
static int scale_to_unit(double *x, size_t len)
{
    double amax = 0.0;
    for (size_t i = 0; i < len; i++)
        if (fabs(x[i]) > amax)
            amax = fabs(x[i]);
    if (amax == 0.0)
        return 0;
    int e;
    (void)frexp(amax, &e);
    for (size_t i = 0; i < len; i++)
        x[i] = ldexp(x[i], -e);
    return e;
}

/* ------------------------------------------------------------------------ */
/* output */

/* Row r of p (rows 0..r-1 orthonormal, each of length len) completed to an
 * orthonormal set: the unit vector with the largest residual,
 * orthogonalised twice against the rows before it (twice is enough for
 * Gram-Schmidt, Kahan-Parlett). Used for the rows of zero singular values. */
static void complete_row(double *p, int r, int len)
{
    double *v = p + (size_t)r * len;
    int best = 0;
    double best_res = -1.0;
    for (int c = 0; c < len; c++) {
        double res = 1.0;
        for (int i = 0; i < r; i++)
            res -= p[(size_t)i * len + c] * p[(size_t)i * len + c];
        if (res > best_res) {
            best_res = res;
            best = c;
        }
    }
    memset(v, 0, (size_t)len * sizeof *v);
    v[best] = 1.0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r; i++) {
            const double *pi = p + (size_t)i * len;
            jacobi_sub_scaled(v, pi, jacobi_dot(pi, v, len), len);
        }
    const double norm = sqrt(jacobi_dot(v, v, len));
    for (int c = 0; c < len; c++)
        v[c] /= norm;
}

/* The sorted rows of w become P: each divided by its sigma, and the zero
 * ones (last, after the sort) completed. */
static void normalise_rows(jacobi *j, const double *sigma)
{
    for (int r = 0; r < j->k; r++) {
        double *v = j->w + (size_t)r * j->len;
        if (sigma[r] > 0.0)
            for (int c = 0; c < j->len; c++)
                v[c] /= sigma[r];
        else
            complete_row(j->w, r, j->len);
    }
}

/* The sign convention of svd.h: the largest |entry| of each column of U
 * positive (the first one on a tie), the row of V^T flipped with it so
 * that U diag(s) V^T is unchanged. u (m, k), vt (k, n) or NULL. */
void svd_fix_signs(double *u, double *vt, int m, int n, int k)
{
    for (int r = 0; r < k; r++) {
        int big = 0;
        for (int i = 1; i < m; i++)
            if (fabs(u[(size_t)i * k + r]) > fabs(u[(size_t)big * k + r]))
                big = i;
        if (u[(size_t)big * k + r] >= 0.0)
            continue;
        for (int i = 0; i < m; i++)
            u[(size_t)i * k + r] = -u[(size_t)i * k + r];
        for (int c = 0; vt != NULL && c < n; c++)
            vt[(size_t)r * n + c] = -vt[(size_t)r * n + c];
    }
}

/* ------------------------------------------------------------------------ */
/* the work space: one allocation, laid out from one table of sizes */

enum { PART_COPY, PART_L, PART_Z, PART_D, PART_SIGMA, PART_TAU, PART_ROW, PART_U, PART_RANK, N_PARTS };

typedef struct {
    int m, n, k, l;
    int tall;      /* m >= n: the vectors are A's columns (w = A^T) */
    int lq;        /* the rotations work on L of the LQ step */
    jacobi j;      /* on copy (no LQ step) or on L */
    double *copy;  /* (k, l): A^T or A, scaled; after the LQ step, L and the reflectors */
    double *tau;   /* (k) the reflectors' scales, or NULL */
    double *sigma; /* (k) the singular values, scaled, descending */
    double *row;   /* (l) one row of P back from L's coordinates, or NULL */
    double *u;     /* (m, k) U when the caller asked for V^T only (the signs need U) */
    void *mem;
} svd_work;

/* The one place where the route is chosen (svd.h, SVD_BIDIAG_MIN):
 * bidiagonal QR (svd_bidiag.c) for large k, one-sided Jacobi otherwise;
 * the Jacobi route stays the reference twin (tests/test_svd_bidiag.c). */
static int svd_route(int k, const svd_options *opt)
{
    if (opt != NULL && opt->route != SVD_ROUTE_AUTO)
        return opt->route;
    return k >= SVD_BIDIAG_MIN ? SVD_ROUTE_BIDIAG : SVD_ROUTE_JACOBI;
}

/* Whether the LQ step pays: it costs about 2 k^2 l, plus 4 k^2 l for the
 * vectors, and makes every sweep's k^2/2 inner products and rotations k
 * long instead of l (docs/performance.md has the measurements). */
static int use_lq(int k, int l, const svd_options *opt)
{
    if (opt != NULL && opt->lq != 0)
        return opt->lq > 0;
    return 4.0 * l >= 5.0 * k;
}

/* One allocation for n_parts parts of size[i] doubles each: *mem is the
 * block, part[i] points into it (NULL for an empty part). overflow says
 * that computing a size overflowed; what names the job in the message. */
ld_status svd_alloc_parts(void **mem, double **part, const size_t *size, int n_parts,
                          int overflow, const char *what, char *err, size_t errlen)
{
    size_t total = 0, bytes = 0;
    for (int i = 0; i < n_parts && !overflow; i++)
        overflow = ld_add_size(&total, total, size[i]);
    if (overflow || ld_mul_size(&bytes, total, sizeof(double)) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: its work space overflows size_t", what);
    double *p = malloc(bytes > 0 ? bytes : 1);
    if (p == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory (%zu bytes of work space)", what,
                       bytes);
    *mem = p;
    for (int i = 0; i < n_parts; i++) {
        part[i] = size[i] > 0 ? p : NULL;
        p += size[i];
    }
    return LD_OK;
}

/* Element counts of the parts, in doubles (rank: enough doubles for k
 * ints). Returns nonzero if one overflows. */
static int work_sizes(size_t size[N_PARTS], const svd_work *w, int need_z, int need_p,
                      int u_scratch)
{
    const size_t k = (size_t)w->k, l = (size_t)w->l;
    memset(size, 0, N_PARTS * sizeof size[0]);
    size[PART_D] = size[PART_SIGMA] = k;
    size[PART_RANK] = (k * sizeof(int) + sizeof(double) - 1) / sizeof(double);
    if (w->lq) {
        size[PART_TAU] = k;
        size[PART_ROW] = need_p ? l : 0;
    }
    return ld_mul_size(&size[PART_COPY], k, l) != 0 ||
           (w->lq && ld_mul_size(&size[PART_L], k, k) != 0) ||
           (need_z && ld_mul_size(&size[PART_Z], k, k) != 0) ||
           (u_scratch && ld_mul_size(&size[PART_U], (size_t)w->m, k) != 0);
}

/* Plan the work for A (m, n) and the vectors asked for, and allocate it. */
static ld_status work_init(svd_work *w, int m, int n, int want_u, int want_vt,
                           const svd_options *opt, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    w->n = n;
    w->tall = m >= n;
    w->k = w->tall ? n : m;
    w->l = w->tall ? m : n;
    w->lq = use_lq(w->k, w->l, opt);
    /* z gives V^T (m >= n) or U (m < n), P the other side; U is needed
     * whenever V^T is, for the signs */
    const int need_z = w->tall ? want_vt : want_u || want_vt;
    const int need_p = w->tall ? want_u || want_vt : want_vt;
    size_t size[N_PARTS];
    double *part[N_PARTS];
    char what[64];
    snprintf(what, sizeof what, "svd of a %dx%d matrix", m, n);
    const int overflow = work_sizes(size, w, need_z, need_p, want_vt && !want_u);
    ld_status st = svd_alloc_parts(&w->mem, part, size, N_PARTS, overflow, what, err, errlen);
    if (st != LD_OK)
        return st;
    w->copy = part[PART_COPY];
    w->tau = part[PART_TAU];
    w->sigma = part[PART_SIGMA];
    w->row = part[PART_ROW];
    w->u = part[PART_U];
    jacobi *j = &w->j;
    j->k = w->k;
    j->len = w->lq ? w->k : w->l;
    j->w = w->lq ? part[PART_L] : w->copy;
    j->z = part[PART_Z];
    j->d = part[PART_D];
    j->rank = (int *)(void *)part[PART_RANK];
    j->tol = (double)j->len * DBL_EPSILON;
    return LD_OK;
}

static void work_free(svd_work *w)
{
    free(w->mem);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------------------ */
/* the whole decomposition */

/* z = I and rank = 0..k-1: nothing rotated or sorted yet. */
static void jacobi_start(jacobi *j)
{
    const int k = j->k;
    for (int r = 0; r < k; r++)
        j->rank[r] = r;
    for (int r = 0; j->z != NULL && r < k; r++)
        for (int c = 0; c < k; c++)
            j->z[(size_t)r * k + c] = r == c ? 1.0 : 0.0;
}

/* sigma (k) from the converged rows, sorted. */
static void jacobi_values(svd_work *w)
{
    jacobi *j = &w->j;
    jacobi_norms(j);
    jacobi_sort_rows(j);
    for (int r = 0; r < j->k; r++)
        w->sigma[r] = j->d[r] < SVD_TINY ? 0.0 : sqrt(j->d[r]);
}

/* s (k) = sigma scaled back by 2^e. */
static ld_status finish_values(double *s, svd_work *w, int e, char *err, size_t errlen)
{
    const jacobi *j = &w->j;
    if (ldexp(w->sigma[0], e) > DBL_MAX)
        return ld_fail(err, errlen, LD_EINPUT,
                       "svd: the largest singular value of the %dx%d matrix overflows double", w->m,
                       w->n);
    for (int r = 0; r < j->k; r++)
        s[r] = ldexp(w->sigma[r], e);
    return LD_OK;
}

/* dst (cols, rows) = src^T, src (rows, cols) with rows ld apart, in
 * TILE x TILE tiles so that the strided side stays in cache. */
static void transpose(double *dst, const double *src, int rows, int cols, int ld)
{
    for (int r0 = 0; r0 < rows; r0 += TILE)
        for (int c0 = 0; c0 < cols; c0 += TILE)
            for (int r = r0; r < rows && r < r0 + TILE; r++)
                for (int c = c0; c < cols && c < c0 + TILE; c++)
                    dst[(size_t)c * rows + r] = src[(size_t)r * ld + c];
}

/* u (m, k) and vt (k, n) from P and z, as the opening comment derives
 * them; u is the caller's or the scratch, vt may be NULL. Jacobi leaves
 * diag(sigma) P in w, the bidiagonal route P itself (normalised). */
static void finish_vectors(double *u, double *vt, svd_work *w, int normalised)
{
    const jacobi *j = &w->j;
    const int k = w->k, l = w->l;
    if (!normalised && (w->tall || vt != NULL))
        normalise_rows(&w->j, w->sigma);
    for (int r = 0; r < k; r++) {
        const double *pr = j->w + (size_t)r * j->len;
        if (w->lq && (w->tall || vt != NULL)) {
            memcpy(w->row, pr, (size_t)k * sizeof *w->row);
            memset(w->row + k, 0, (size_t)(l - k) * sizeof *w->row);
            svd_lq_apply(w->row, w->copy, w->tau, k, l);
            pr = w->row;
        }
        const double *zr = j->z != NULL ? j->z + (size_t)r * k : NULL;
        if (w->tall) { /* U = P^T, V^T = z */
            if (w->lq) /* P^T's row r is only in w->row now */
                for (int i = 0; i < l; i++)
                    u[(size_t)i * k + r] = pr[i];
            if (vt != NULL && zr != NULL)
                memcpy(vt + (size_t)r * k, zr, (size_t)k * sizeof *vt);
        } else if (vt != NULL) { /* V^T = P */
            memcpy(vt + (size_t)r * l, pr, (size_t)l * sizeof *vt);
        }
    }
    if (w->tall && !w->lq) /* U = P^T */
        transpose(u, j->w, k, l, j->len);
    else if (!w->tall && j->z != NULL) /* U = z^T */
        transpose(u, j->z, k, k, k);
    svd_fix_signs(u, vt, w->m, w->n, k);
}

/* Everything svd.h promises, for a double (a) or a float (af) matrix. */
static ld_status svd_run(double *s, double *u, double *vt, const double *a, const float *af, int m,
                         int n, const svd_options *opt, svd_info *info, char *err, size_t errlen)
{
    svd_info unused;
    if (info == NULL)
        info = &unused;
    memset(info, 0, sizeof *info);
    if (m < 1 || n < 1)
        return ld_fail(err, errlen, LD_EINPUT, "svd: a %dx%d matrix; both sizes must be at least 1",
                       m, n);
    if (s == NULL || (a == NULL && af == NULL))
        return ld_fail(err, errlen, LD_EINPUT, "svd: NULL %s", s == NULL ? "s" : "matrix");
    svd_work w;
    ld_status st = work_init(&w, m, n, u != NULL, vt != NULL, opt, err, errlen);
    if (st != LD_OK)
        return st;
    st = load(w.copy, a, af, m, n, err, errlen);
    if (st == LD_OK) {
        const int e = scale_to_unit(w.copy, (size_t)w.k * w.l);
        if (w.lq) {
            svd_lq_factor(w.copy, w.tau, w.k, w.l);
            lq_take_l(w.j.w, w.copy, w.k, w.l);
        }
        info->route = svd_route(w.k, opt);
        if (info->route == SVD_ROUTE_BIDIAG) {
            const int need_z = w.tall ? vt != NULL : u != NULL || vt != NULL;
            const int need_p = w.tall ? u != NULL || vt != NULL : vt != NULL;
            st = svd_bidiag(w.sigma, need_z ? w.j.z : NULL, need_p, w.j.w, w.k, w.j.len, opt,
                            info, err, errlen);
        } else {
            jacobi_start(&w.j);
            st = iterate(&w.j, opt, info, err, errlen);
            if (st == LD_OK)
                jacobi_values(&w);
        }
        if (st == LD_OK)
            st = finish_values(s, &w, e, err, errlen);
    }
    if (st == LD_OK && (u != NULL || vt != NULL))
        finish_vectors(u != NULL ? u : w.u, vt, &w, info->route == SVD_ROUTE_BIDIAG);
    work_free(&w);
    return st;
}

ld_status svd_ex(double *s, double *u, double *vt, const double *a, int m, int n,
                 const svd_options *opt, svd_info *info, char *err, size_t errlen)
{
    return svd_run(s, u, vt, a, NULL, m, n, opt, info, err, errlen);
}

ld_status svd(double *s, double *u, double *vt, const double *a, int m, int n, char *err,
              size_t errlen)
{
    return svd_run(s, u, vt, a, NULL, m, n, NULL, NULL, err, errlen);
}

ld_status svd_f32(double *s, double *u, double *vt, const float *a, int m, int n, char *err,
                  size_t errlen)
{
    return svd_run(s, u, vt, NULL, a, m, n, NULL, NULL, err, errlen);
}

ld_status svd_f32_ex(double *s, double *u, double *vt, const float *a, int m, int n,
                     const svd_options *opt, svd_info *info, char *err, size_t errlen)
{
    return svd_run(s, u, vt, NULL, a, m, n, opt, info, err, errlen);
}
