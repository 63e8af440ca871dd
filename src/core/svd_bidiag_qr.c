/* svd_bidiag_qr.c - the bidiagonal route's second half: the SVD of the
 * upper bidiagonal B (d, e) by implicit-shift QR as in LAPACK's dbdsqr
 * (Demmel and Kahan, SIAM J. Sci. Stat. Comput. 11, 1990). The shift is
 * the smaller singular value of the trailing 2 x 2, and the zero-shift
 * sweep of Demmel and Kahan when the shift is negligible against the
 * block's first value; a diagonal entry that is negligible is set to zero
 * and its row or column chased out by rotations (Golub and Reinsch 1970).
 * Off-diagonal entries are negligible below eps (|d_i| + |d_{i+1}|) or
 * eps max|B|, diagonal ones below eps max|B|. Every rotation of a sweep is
 * buffered for the vectors (svd_bidiag_rots applies a full buffer).
 * core/svd_bidiag.h has the shared state; include/core/svd.h the promises.
 */
#include <float.h>
#include <math.h>

#include "svd_bidiag.h"

/* QR inner steps allowed per value squared, as dbdsqr's MAXITR = 6: each
 * sweep counts its length (hi - lo), a chase of a zero nothing. */
#define QR_MAXIT 6L

/* The rotation with c f + s g = r, c g - s f = 0 (dlartg); returns r. */
static double rot_make(double f, double g, double *c, double *s)
{
    if (g == 0.0) {
        *c = 1.0;
        *s = 0.0;
        return f;
    }
    if (f == 0.0) {
        *c = 0.0;
        *s = 1.0;
        return g;
    }
    const double big = fmax(fabs(f), fabs(g));
    /* the sum of squares is safe here; hypot (slower) outside */
    const double r = big > 1e-150 && big < 1e150 ? sqrt(f * f + g * g) : hypot(f, g);
    *c = f / r;
    *s = g / r;
    return r;
}

/* Buffer a rotation of rows p, q of P (left) or z (right); apply the
 * buffer when full. */
static void keep_rot(bidiag *b, int left, int p, int q, double c, double s)
{
    if (left ? b->p == NULL : b->z == NULL)
        return;
    bidiag_rot *buf = left ? b->rl : b->rr;
    long *n = left ? &b->nl : &b->nr;
    buf[(*n)++] = (bidiag_rot){p, q, c, s};
    if (*n == ROT_CAP) {
        svd_bidiag_rots(b, left ? b->p : b->z, b->k, left ? b->len : b->k, buf, *n);
        *n = 0;
    }
}

/* The smaller singular value of [f g; 0 h] (dlas2's formulas). */
static double smin_2x2(double f, double g, double h)
{
    const double fa = fabs(f), ga = fabs(g), ha = fabs(h);
    const double mn = fmin(fa, ha), mx = fmax(fa, ha);
    if (mn == 0.0)
        return 0.0;
    if (ga < mx) {
        const double as = 1.0 + mn / mx, at = (mx - mn) / mx, au = (ga / mx) * (ga / mx);
        return mn * (2.0 / (sqrt(as * as + au) + sqrt(at * at + au)));
    }
    const double au = mx / ga;
    if (au == 0.0)
        return (mn * mx) / ga;
    const double as = 1.0 + mn / mx, at = (mx - mn) / mx;
    const double c = 1.0 / (sqrt(1.0 + (as * au) * (as * au)) + sqrt(1.0 + (at * au) * (at * au)));
    return 2.0 * (mn * c) * au;
}

/* One QR sweep on the block lo..hi, top to bottom (dbdsqr, idir = 1). */
static void qr_sweep(bidiag *b, int lo, int hi, double shift)
{
    double *d = b->d, *e = b->e;
    double cr, sr, cl, sl, r;
    if (shift == 0.0) { /* Demmel-Kahan: no subtraction, high relative accuracy */
        double cs = 1.0, ocs = 1.0, osn = 0.0, sn;
        for (int i = lo; i < hi; i++) {
            r = rot_make(d[i] * cs, e[i], &cs, &sn);
            if (i > lo)
                e[i - 1] = osn * r;
            d[i] = rot_make(ocs * r, d[i + 1] * sn, &ocs, &osn);
            keep_rot(b, 0, i, i + 1, cs, sn);
            keep_rot(b, 1, i, i + 1, ocs, osn);
        }
        const double h = d[hi] * cs;
        d[hi] = h * ocs;
        e[hi - 1] = h * osn;
        return;
    }
    double f = (fabs(d[lo]) - shift) * (copysign(1.0, d[lo]) + shift / d[lo]), g = e[lo];
    for (int i = lo; i < hi; i++) {
        r = rot_make(f, g, &cr, &sr);
        if (i > lo)
            e[i - 1] = r;
        f = cr * d[i] + sr * e[i];
        e[i] = cr * e[i] - sr * d[i];
        g = sr * d[i + 1];
        d[i + 1] = cr * d[i + 1];
        d[i] = rot_make(f, g, &cl, &sl);
        f = cl * e[i] + sl * d[i + 1];
        d[i + 1] = cl * d[i + 1] - sl * e[i];
        if (i < hi - 1) {
            g = sl * e[i + 1];
            e[i + 1] = cl * e[i + 1];
        }
        keep_rot(b, 0, i, i + 1, cr, sr);
        keep_rot(b, 1, i, i + 1, cl, sl);
    }
    e[hi - 1] = f;
}

/* d[z] = 0 in the block lo..hi: rotations zero its row (z < hi, from the
 * left) or its column (z = hi, from the right), and the block splits. */
static void chase_zero(bidiag *b, int lo, int zi, int hi)
{
    double *d = b->d, *e = b->e, c, s;
    if (zi < hi) {
        double f = e[zi];
        e[zi] = 0.0;
        for (int j = zi + 1; j <= hi && f != 0.0; j++) {
            d[j] = rot_make(d[j], f, &c, &s);
            keep_rot(b, 1, j, zi, c, s);
            if (j < hi) {
                f = -s * e[j];
                e[j] = c * e[j];
            }
        }
        return;
    }
    double f = e[hi - 1];
    e[hi - 1] = 0.0;
    for (int j = hi - 1; j >= lo && f != 0.0; j--) {
        d[j] = rot_make(d[j], f, &c, &s);
        keep_rot(b, 0, j, hi, c, s);
        if (j > lo) {
            f = -s * e[j - 1];
            e[j - 1] = c * e[j - 1];
        }
    }
}

/* Until e = 0: split off converged values from the bottom, then a sweep
 * on the last unreduced block. */
ld_status svd_bidiag_qr(bidiag *b, svd_info *info, char *err, size_t errlen)
{
    const int k = b->k;
    double *d = b->d, *e = b->e;
    double smax = 0.0;
    for (int i = 0; i < k; i++)
        smax = fmax(smax, fmax(fabs(d[i]), i + 1 < k ? fabs(e[i]) : 0.0));
    const double thresh = DBL_EPSILON * smax;
    const long maxit = b->max_steps > 0 ? b->max_steps : QR_MAXIT * (long)k * k;
    long steps = 0;
    int hi = k - 1;
    while (hi > 0 && smax > 0.0) {
        int lo = hi;
        for (; lo > 0; lo--) {
            const double ae = fabs(e[lo - 1]);
            if (ae <= thresh || ae <= DBL_EPSILON * (fabs(d[lo - 1]) + fabs(d[lo]))) {
                e[lo - 1] = 0.0;
                break;
            }
        }
        if (lo == hi) {
            hi--;
            continue;
        }
        int zi = -1;
        for (int i = lo; i <= hi && zi < 0; i++)
            if (fabs(d[i]) <= thresh) {
                d[i] = 0.0;
                zi = i;
            }
        if (zi >= 0) {
            chase_zero(b, lo, zi, hi);
            continue;
        }
        if (steps >= maxit)
            return ld_fail(err, errlen, LD_ESTATE,
                           "svd: bidiagonal QR did not converge within %ld steps (%d values)",
                           maxit, k);
        double shift = smin_2x2(d[hi - 1], e[hi - 1], d[hi]);
        const double ratio = shift / fabs(d[lo]);
        if (ratio * ratio < DBL_EPSILON)
            shift = 0.0;
        qr_sweep(b, lo, hi, shift);
        steps += hi - lo;
        info->sweeps++;
        info->rotations += 2L * (hi - lo);
    }
    return LD_OK;
}
