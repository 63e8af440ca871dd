/* svd_bidiag.c - the SVD's bidiagonal route, the fast twin of one-sided
 * Jacobi (svd.c chooses between them in one place, svd_route; svd.h has
 * the algorithm of both and what each promises).
 *
 * Dimension key: k rows of w, each len long (k <= len): the vectors that
 * svd.c's Jacobi would orthogonalise, after its LQ step when it takes one.
 *
 * 1. Householder bidiagonalisation (Golub and Kahan 1965; Golub and Van
 *    Loan, Matrix Computations, 4th ed., Alg. 5.4.2):
 *        G w H = [Bl 0],   Bl (k, k) lower bidiagonal, d on the diagonal,
 *                          e below it,
 *    H = H_0 ... H_{k-1} reflectors from the right (each zeroes row i of w
 *    past column i), G = G_{k-2} ... G_0 from the left (each zeroes
 *    column i below row i + 1). The two reflectors of a step and the
 *    product that the next left reflector needs are applied and formed in
 *    one pass over each trailing row while it is in L1 (the "BLAS 2.5"
 *    fusion of Howell, Demmel, Fulton, Hammarling and Marmol, ACM TOMS 34,
 *    2008): the trailing matrix is read once per step instead of three times.
 * 2. The SVD of the upper bidiagonal B = Bl^T by implicit-shift QR as in
 *    LAPACK's dbdsqr: svd_bidiag_qr.c (svd_bidiag.h has the state the two
 *    files share).
 * 3. With vectors: G and [I 0] H^T are formed (backward accumulation), the
 *    rotations are buffered and applied in bulk a few columns at a time
 *    (kernels/bidiag.c), then signs made positive and the values sorted.
 *
 * Result, in svd.c's Jacobi terms: w0 = z^T diag(sigma) P, z (k, k) and P
 * (k, len) with orthonormal rows (B = U_b S V_b^T: z = V_b^T G, P = U_b^T
 * [I 0] H^T).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/svd.h"
#include "kernels/bidiag.h"
#include "kernels/jacobi.h"
#include "svd_bidiag.h"
#include "svd_parts.h"

/* Reflectors applied per pass over the rows when G and P are formed: a
 * row stays in L1 and the block's vectors (REFL_BLOCK k doubles) in L2. */
#define REFL_BLOCK 16

enum { BD_D, BD_E, BD_TA, BD_TB, BD_Z0, BD_Z1, BD_V, BD_P, BD_RL, BD_RR, BD_RANK, N_BD };

/* ------------------------------------------------------------------------ */
/* 0. the vectors' loops on the pool: rows of the reflectors' products and
 * columns of the rotations, split between threads. Every row (column) is
 * computed by the same code whichever thread takes it: the same bits on
 * any number of threads. */

/* Below this many entries (rows x columns) one thread does the job (a
 * block of reflectors or a buffer of rotations on the vectors). The row
 * pass of the bidiagonalisation stays on one thread: shared by rows, with
 * the next reflector's product then summed by columns (the same bits), it
 * took 2.6x as long on two threads as on one (docs/performance.md). */
#define POOL_MIN_WORK (64L * 64L)

typedef struct {
    double *y;
    int rows, n;
    long ld;
    const bidiag_refl *h;
    int nh;
    const bidiag_rot *rot;
    long n_rot;
    const pool *pool;
} vec_job;

static void reflect_job(void *ctx, int tid, int nthreads)
{
    const vec_job *j = ctx;
    int lo, hi;
    pool_share_balanced(j->pool, j->rows, 1, tid, nthreads, &lo, &hi);
    if (lo < hi)
        bidiag_reflect_block(j->y, lo, hi, j->ld, j->h, j->nh, j->n);
}

/* Rows [0, rows) of y (ld, n) times the reflectors h[0..nh). */
static void reflect_rows(const bidiag *b, double *y, int rows, long ld, const bidiag_refl *h,
                         int nh, int n)
{
    if (pool_threads(b->pool) > 1 && (long)rows * n >= POOL_MIN_WORK) {
        vec_job j = {y, rows, n, ld, h, nh, NULL, 0, b->pool};
        pool_run(b->pool, reflect_job, &j);
    } else {
        bidiag_reflect_block(y, 0, rows, ld, h, nh, n);
    }
}

static void rots_job(void *ctx, int tid, int nthreads)
{
    const vec_job *j = ctx;
    int lo, hi;
    /* whole 64-column chunks, the AVX-512 kernel's width */
    pool_share_balanced(j->pool, j->n, 64, tid, nthreads, &lo, &hi);
    if (lo < hi)
        bidiag_apply_rots(j->y, j->n, lo, hi, j->rot, j->n_rot);
}

void svd_bidiag_rots(const bidiag *b, double *x, int rows, int len, const bidiag_rot *rot,
                     long n_rot)
{
    if (pool_threads(b->pool) > 1 && len >= 128 && (long)rows * len >= POOL_MIN_WORK) {
        vec_job j = {x, rows, len, len, NULL, 0, rot, n_rot, b->pool};
        pool_run(b->pool, rots_job, &j);
    } else {
        bidiag_apply_rots(x, len, 0, len, rot, n_rot);
    }
}

/* ------------------------------------------------------------------------ */
/* 1. bidiagonalisation */

/* The reflector that maps (alpha, x) with ||x||^2 = tail to (beta, 0)
 * (dlarfg): returns tau, *beta, and *inv to scale x into the vector (whose
 * first entry, 1, is implied). tau = 0 when tail = 0: nothing to do. x (n,
 * stride apart) is read again only when alpha^2 + tail is so small that
 * its squares may have underflowed: in a rank-deficient matrix the rows
 * and columns left after the first steps shrink by about eps each step and
 * reach 1e-160 within a dozen. There, as dlarfg rescales, both are scaled
 * by a power of two (exact) so that the largest is about 1 and the norm is
 * summed again: a tau computed from an underflowed norm does not make
 * I - tau v v^T orthogonal. Below 2^-1000 (where 1 / (alpha - beta) would
 * overflow) the entries are left as they are, H = I: svd.c scales A to a
 * largest entry of at least 1/2, so that drops nothing above 1e-300 of it. */
static double reflector(double alpha, double tail, const double *x, ptrdiff_t stride, int n,
                        double *beta, double *inv)
{
    if (alpha * alpha + tail < 0x1p-900) {
        double amax = fabs(alpha);
        for (int i = 0; i < n; i++)
            amax = fmax(amax, fabs(x[i * stride]));
        if (amax < 0x1p-1000) {
            *beta = alpha;
            *inv = 0.0;
            return 0.0;
        }
        const double sc = ldexp(1.0, -ilogb(amax)); /* amax sc in [1, 2) */
        const double as = alpha * sc;
        double ts = 0.0;
        for (int i = 0; i < n; i++)
            ts += (x[i * stride] * sc) * (x[i * stride] * sc);
        if (ts == 0.0) {
            *beta = alpha;
            *inv = 0.0;
            return 0.0;
        }
        const double bs = -copysign(sqrt(as * as + ts), as);
        *beta = bs / sc;
        *inv = sc / (as - bs);
        return (bs - as) / bs;
    }
    if (tail == 0.0) {
        *beta = alpha;
        *inv = 0.0;
        return 0.0;
    }
    *beta = -copysign(sqrt(alpha * alpha + tail), alpha);
    *inv = 1.0 / (alpha - *beta);
    return (*beta - alpha) / *beta;
}

/* Step i: the pending G_{i-1} on row i, then H_i from row i, then the
 * rows below in one pass (kernels/bidiag.h, bidiag_row), then G_i from
 * column i. G_i's vector is kept in column i below row i + 1, H_i's in
 * row i right of column i, as dgebd2 keeps them. */
static void bidiagonalise(bidiag *b)
{
    const int k = b->k, len = b->len;
    double tb_prev = 0.0;
    for (int i = 0; i < k; i++) {
        double *wi = b->w + (size_t)i * len;
        for (int c = i; tb_prev != 0.0 && c < len; c++)
            wi[c] -= tb_prev * b->zcur[c];
        double beta, inv;
        b->ta[i] = reflector(wi[i], jacobi_dot(wi + i + 1, wi + i + 1, len - i - 1), wi + i + 1, 1,
                             len - i - 1, &beta, &inv);
        for (int c = i + 1; inv != 0.0 && c < len; c++)
            wi[c] *= inv;
        b->d[i] = wi[i] = beta;
        b->tb[i] = 0.0;
        if (i + 1 == k)
            break;
        double tail = 0.0;
        memset(b->znext + i + 1, 0, (size_t)(len - i - 1) * sizeof *b->znext);
        double *below = b->w + (size_t)(i + 1) * len; /* row i + 1 */
        /* row i + 1 (its g is the next reflector's head, not summed), then
         * the rows below, ROW_GROUP per call (bidiag_rows) */
        enum { ROW_GROUP = 32 };
        bidiag_row(below + i, b->zcur + i, tb_prev != 0.0 ? tb_prev * below[i - 1] : 0.0,
                   wi + i + 1, b->ta[i], NULL, len - i);
        for (int r = i + 2; r < k; r += ROW_GROUP) {
            const int rows = k - r < ROW_GROUP ? k - r : ROW_GROUP;
            double hb[ROW_GROUP], g[ROW_GROUP];
            for (int q = 0; q < rows; q++)
                hb[q] = tb_prev != 0.0 ? tb_prev * b->w[(size_t)(r + q) * len + i - 1] : 0.0;
            bidiag_rows(b->w + (size_t)r * len + i, len, rows, b->zcur + i, hb, wi + i + 1,
                        b->ta[i], b->znext + i + 1, g, len - i);
            for (int q = 0; q < rows; q++)
                tail += g[q] * g[q];
        }
        b->tb[i] = reflector(below[i], tail, b->w + (size_t)(i + 2) * len + i, len, k - i - 2,
                             &beta, &inv);
        b->e[i] = below[i] = beta;
        if (b->tb[i] != 0.0) {
            for (int r = i + 2; r < k; r++)
                b->w[(size_t)r * len + i] *= inv;
            /* z = v^T W over the rows i+1.., v = (1, g_r inv) */
            for (int c = i + 1; c < len; c++)
                b->znext[c] = below[c] + inv * b->znext[c];
        }
        tb_prev = b->tb[i];
        double *t = b->zcur;
        b->zcur = b->znext;
        b->znext = t;
    }
}

/* z (k, k) = G = G_{k-2} ... G_0, applied to I from the right, the last
 * first, REFL_BLOCK at a time (kernels/bidiag.h): each touches only the
 * rows and columns it changes. G_i's vector is gathered from column i. */
static void form_g(bidiag *b)
{
    const int k = b->k, len = b->len;
    for (int r = 0; r < k; r++)
        for (int c = 0; c < k; c++)
            b->z[(size_t)r * k + c] = r == c ? 1.0 : 0.0;
    bidiag_refl h[REFL_BLOCK];
    for (int top = k - 2; top >= 0; top -= REFL_BLOCK) {
        const int bot = top - REFL_BLOCK + 1 > 0 ? top - REFL_BLOCK + 1 : 0;
        int nh = 0;
        for (int i = top; i >= bot; i--, nh++) {
            double *v = b->v + (size_t)nh * k; /* rows and columns i+1..k-1 */
            v[0] = 1.0;
            for (int r = 1; r < k - i - 1; r++)
                v[r] = b->w[(size_t)(i + 1 + r) * len + i];
            h[nh] = (bidiag_refl){v, b->tb[i], i + 1, i - bot};
        }
        reflect_rows(b, b->z + (size_t)(bot + 1) * k, k - bot - 1, k, h, nh, k);
    }
}

/* p (k, len) = [I 0] H_{k-1} ... H_0, the same way. Overwrites H_i's
 * implied 1 (d is kept apart). */
static void form_p(bidiag *b)
{
    const int k = b->k, len = b->len;
    for (int r = 0; r < k; r++)
        for (int c = 0; c < len; c++)
            b->p[(size_t)r * len + c] = r == c ? 1.0 : 0.0;
    bidiag_refl h[REFL_BLOCK];
    for (int top = k - 1; top >= 0; top -= REFL_BLOCK) {
        const int bot = top - REFL_BLOCK + 1 > 0 ? top - REFL_BLOCK + 1 : 0;
        int nh = 0;
        for (int i = top; i >= bot; i--, nh++) {
            double *vi = b->w + (size_t)i * len + i;
            vi[0] = 1.0;
            h[nh] = (bidiag_refl){vi, b->ta[i], i, i - bot};
        }
        reflect_rows(b, b->p + (size_t)bot * len, k - bot, len, h, nh, len);
    }
}

/* ------------------------------------------------------------------------ */
/* 3. signs, order, and the driver */

/* sigma = |d| in descending order, ties in starting order; z's row flips
 * with a negative d (B = U_b S V_b^T), rows of z and p move with d. */
static void sort_values(bidiag *b, double *sigma)
{
    const int k = b->k;
    for (int r = 0; r < k; r++) {
        b->rank[r] = r;
        if (b->d[r] < 0.0 || (b->d[r] == 0.0 && signbit(b->d[r]))) {
            b->d[r] = -b->d[r];
            for (int c = 0; b->z != NULL && c < k; c++)
                b->z[(size_t)r * k + c] = -b->z[(size_t)r * k + c];
        }
    }
    for (int r = 0; r < k; r++) {
        int best = r;
        for (int q = r + 1; q < k; q++)
            if (b->d[q] > b->d[best] || (b->d[q] == b->d[best] && b->rank[q] < b->rank[best]))
                best = q;
        if (best != r) {
            const double t = b->d[r];
            b->d[r] = b->d[best];
            b->d[best] = t;
            const int i = b->rank[r];
            b->rank[r] = b->rank[best];
            b->rank[best] = i;
            if (b->z != NULL)
                jacobi_swap_rows(b->z, r, best, k);
            if (b->p != NULL)
                jacobi_swap_rows(b->p, r, best, b->len);
        }
        sigma[r] = b->d[r];
    }
}

static ld_status bidiag_alloc(bidiag *b, int k, int len, int want_z, int want_p, char *err,
                              size_t errlen)
{
    const size_t kk = (size_t)k, rot = (sizeof(bidiag_rot) + sizeof(double) - 1) / sizeof(double);
    size_t size[N_BD] = {0};
    size[BD_D] = size[BD_E] = size[BD_TA] = size[BD_TB] = kk;
    size[BD_V] = REFL_BLOCK * kk;
    size[BD_Z0] = size[BD_Z1] = (size_t)len;
    size[BD_RL] = want_p ? (size_t)ROT_CAP * rot : 0;
    size[BD_RR] = want_z ? (size_t)ROT_CAP * rot : 0;
    size[BD_RANK] = (kk * sizeof(int) + sizeof(double) - 1) / sizeof(double);
    const int overflow = want_p && ld_mul_size(&size[BD_P], kk, (size_t)len) != 0;
    double *part[N_BD];
    char what[64];
    snprintf(what, sizeof what, "svd (bidiagonal route) of %d vectors of %d", k, len);
    ld_status st = svd_alloc_parts(&b->mem, part, size, N_BD, overflow, what, err, errlen);
    if (st != LD_OK)
        return st;
    b->d = part[BD_D];
    b->e = part[BD_E];
    b->ta = part[BD_TA];
    b->tb = part[BD_TB];
    b->zcur = part[BD_Z0];
    b->znext = part[BD_Z1];
    b->v = part[BD_V];
    b->p = part[BD_P];
    b->rl = (bidiag_rot *)(void *)part[BD_RL];
    b->rr = (bidiag_rot *)(void *)part[BD_RR];
    b->rank = (int *)(void *)part[BD_RANK];
    return LD_OK;
}

ld_status svd_bidiag(double *sigma, double *z, int want_p, double *w, int k, int len,
                     const svd_options *opt, svd_info *info, char *err, size_t errlen)
{
    bidiag b;
    memset(&b, 0, sizeof b);
    b.pool = opt != NULL ? opt->pool : NULL;
    b.max_steps = opt != NULL && opt->max_sweeps > 0 ? opt->max_sweeps : 0;
    b.k = k;
    b.len = len;
    b.w = w;
    b.z = z;
    ld_status st = bidiag_alloc(&b, k, len, z != NULL, want_p, err, errlen);
    if (st != LD_OK)
        return st;
    bidiagonalise(&b);
    if (z != NULL)
        form_g(&b);
    if (want_p)
        form_p(&b);
    st = svd_bidiag_qr(&b, info, err, errlen);
    if (st == LD_OK) {
        if (b.nl > 0)
            svd_bidiag_rots(&b, b.p, k, len, b.rl, b.nl);
        if (b.nr > 0)
            svd_bidiag_rots(&b, b.z, k, k, b.rr, b.nr);
        sort_values(&b, sigma);
        if (want_p)
            memcpy(w, b.p, (size_t)k * len * sizeof *w);
    }
    free(b.mem);
    return st;
}

ld_status svd_bidiagonalise(double *d, double *e, double *g, double *p, const double *w, int k,
                            int len, char *err, size_t errlen)
{
    if (k < 1 || len < k || d == NULL || e == NULL || g == NULL || p == NULL || w == NULL)
        return ld_fail(err, errlen, LD_EINPUT,
                       "svd_bidiagonalise: needs 1 <= k <= len (got %d, %d) and no NULL", k, len);
    bidiag b;
    memset(&b, 0, sizeof b);
    b.k = k;
    b.len = len;
    b.z = g;
    size_t bytes = 0;
    if (ld_mul_size(&bytes, (size_t)k * (size_t)len, sizeof *w) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "svd_bidiagonalise: %d x %d overflows", k, len);
    b.w = malloc(bytes > 0 ? bytes : 1);
    if (b.w == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "svd_bidiagonalise: out of memory");
    memcpy(b.w, w, bytes);
    ld_status st = bidiag_alloc(&b, k, len, 1, 1, err, errlen);
    if (st == LD_OK) {
        bidiagonalise(&b);
        form_g(&b);
        form_p(&b);
        memcpy(d, b.d, (size_t)k * sizeof *d);
        memcpy(e, b.e, (size_t)(k - 1) * sizeof *e);
        memcpy(p, b.p, bytes);
    }
    free(b.mem);
    free(b.w);
    return st;
}
