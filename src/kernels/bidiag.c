/* bidiag.c - the loops of the SVD's bidiagonal route (core/svd_bidiag.c
 * calls them; kernels/bidiag.h has the contract).
 *
 * Dimension key: rows of len doubles.
 *
 * Each loop is written once, as an always-inline body, and built twice
 * (kernels/simd.h): for the x86-64 baseline, and with AVX2, chosen when
 * matmul_isa_avx2() says so. The same C with no fused multiply-add and no
 * reassociation, so the two give the same bits (tests/test_svd_bidiag.c,
 * check_bidiag_isa); only the vector width differs. The row pass and the
 * reflector blocks take kernels/bidiag_rows.c on the AVX2 path instead
 * (four rows side by side, intrinsics); row_body and reflect_body here are
 * their plain twins and the portable path.
 */
#include "kernels/bidiag.h"

#include <stddef.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"

#include "bidiag_rows.h"
#include "dvec.h"
#include "gemm.h"

#ifdef GEMM_AVX512
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BIDIAG_INLINE static inline __attribute__((always_inline))
#else
#define BIDIAG_INLINE static inline
#endif

/* Columns per chunk in bidiag_apply_rots: a chunk of 1024 rows is 128 KB,
 * in L2 while every buffered rotation passes over it. */
#define ROT_COLS 16
/* Columns per chunk on the AVX-512 path: eight registers of carried row. */
#define ROT_WIDE 64

/* y -= h x and acc += g y (the updated y), in one pass. */
BIDIAG_INLINE void axpy_acc(double *restrict y, const double *restrict x, double h,
                            double *restrict acc, double g, int len)
{
    int i = 0;
    for (; i + 4 <= len; i += 4) { /* four at a time, the new y in locals: GCC -O2 vectorises this form */
        const double y0 = y[i] - h * x[i], y1 = y[i + 1] - h * x[i + 1];
        const double y2 = y[i + 2] - h * x[i + 2], y3 = y[i + 3] - h * x[i + 3];
        y[i] = y0;
        y[i + 1] = y1;
        y[i + 2] = y2;
        y[i + 3] = y3;
        acc[i] += g * y0;
        acc[i + 1] += g * y1;
        acc[i + 2] += g * y2;
        acc[i + 3] += g * y3;
    }
    for (; i < len; i++) {
        const double yi = y[i] - h * x[i];
        y[i] = yi;
        acc[i] += g * yi;
    }
}

BIDIAG_INLINE double row_body(double *restrict wr, const double *restrict z, double hb,
                              const double *restrict va, double ta, double *restrict acc, int n)
{
    if (hb != 0.0)
        axpy_neg(wr, z, hb, n);
    const double h = ta * (wr[0] + dot8(wr + 1, va, n - 1));
    wr[0] -= h;
    if (acc != NULL)
        axpy_acc(wr + 1, va, h, acc, wr[0], n - 1);
    else
        axpy_neg(wr + 1, va, h, n - 1);
    return wr[0];
}

/* Rows [r_lo, r_hi) of y, each times the reflectors h[0..nh) in turn
 * (those that reach it): row by row, so that a row stays in L1 while all
 * of them pass over it, and its bits are those of applying the reflectors
 * one at a time to every row. */
BIDIAG_INLINE void reflect_body(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h,
                                int nh, int n)
{
    for (int r = r_lo; r < r_hi; r++) {
        double *yr = y + (size_t)r * (size_t)ld;
        for (int j = 0; j < nh; j++) {
            if (r < h[j].first || h[j].tau == 0.0)
                continue;
            double *x = yr + h[j].off;
            const int m = n - h[j].off;
            axpy_neg(x, h[j].v, h[j].tau * dot8(x, h[j].v, m), m);
        }
    }
}

/* Row q of a chunk rotated against the carried row x (in registers):
 * x_p <- c x + s y is stored to out, and the new y, c y - s x, becomes
 * the carry. */
BIDIAG_INLINE void rot_step(double *restrict out, double *restrict x, const double *restrict y,
                            double c, double s, int w)
{
    int j = 0;
    for (; j + 4 <= w; j += 4) { /* written out four at a time: GCC -O2 vectorises this form */
        const double x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        const double y0 = y[j], y1 = y[j + 1], y2 = y[j + 2], y3 = y[j + 3];
        out[j] = c * x0 + s * y0;
        out[j + 1] = c * x1 + s * y1;
        out[j + 2] = c * x2 + s * y2;
        out[j + 3] = c * x3 + s * y3;
        x[j] = c * y0 - s * x0;
        x[j + 1] = c * y1 - s * x1;
        x[j + 2] = c * y2 - s * x2;
        x[j + 3] = c * y3 - s * x3;
    }
    for (; j < w; j++) {
        const double xj = x[j], yj = y[j];
        out[j] = c * xj + s * yj;
        x[j] = c * yj - s * xj;
    }
}

/* Every rotation over the columns [c_lo, c_hi), one chunk of ROT_COLS at a
 * time. A chain of rotations (p, q), (q, r), ... (each QR sweep is one)
 * carries the shared row in registers: one load and one store per rotation
 * instead of two (the idea of Van Zee, van de Geijn and Quintana-Orti,
 * "Restructuring the tridiagonal and bidiagonal QR algorithms for
 * performance", ACM TOMS 40, 2014, in its simplest form). */
BIDIAG_INLINE void rots_body(double *x, int len, int c_lo, int c_hi, const bidiag_rot *rot,
                             long n_rot)
{
    for (int c0 = c_lo; c0 < c_hi; c0 += ROT_COLS) {
        const int w = c_hi - c0 < ROT_COLS ? c_hi - c0 : ROT_COLS;
        long i = 0;
        while (i < n_rot) {
            double carry[ROT_COLS];
            int p = rot[i].p;
            double *row = x + (size_t)p * (size_t)len + c0;
            memcpy(carry, row, (size_t)w * sizeof carry[0]);
            do {
                const bidiag_rot *g = rot + i;
                double *next = x + (size_t)g->q * (size_t)len + c0;
                rot_step(row, carry, next, g->c, g->s, w);
                row = next;
                p = g->q;
                i++;
            } while (i < n_rot && rot[i].p == p);
            memcpy(row, carry, (size_t)w * sizeof carry[0]);
        }
    }
}

static double row_portable(double *wr, const double *z, double hb, const double *va, double ta,
                           double *acc, int n)
{
    return row_body(wr, z, hb, va, ta, acc, n);
}

static void reflect_portable(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h, int nh,
                             int n)
{
    reflect_body(y, r_lo, r_hi, ld, h, nh, n);
}

static void rots_portable(double *x, int len, int c_lo, int c_hi, const bidiag_rot *rot,
                          long n_rot)
{
    rots_body(x, len, c_lo, c_hi, rot, n_rot);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static double row_avx2(double *wr, const double *z, double hb, const double *va,
                                      double ta, double *acc, int n)
{
    return row_body(wr, z, hb, va, ta, acc, n);
}

LD_AVX2_TARGET static void rots_avx2(double *x, int len, int c_lo, int c_hi,
                                     const bidiag_rot *rot, long n_rot)
{
    rots_body(x, len, c_lo, c_hi, rot, n_rot);
}
#endif

#ifdef GEMM_AVX512
/* rots_body on the columns [c_lo, c_hi), c_hi - c_lo a multiple of ROT_WIDE, with
 * each carried row held in ROT_WIDE / 8 registers: the same multiplies, adds
 * and subtractions per element as rot_step, so the same bits. GCC keeps
 * rots_body's carry on the stack (intrinsics, as in gemm_avx512.c).
 *
 * A QR sweep is an ascending chain (r, r+1), (r+1, r+2), ... Up to WAVE_D
 * consecutive chains whose rows overlap run as one wavefront (Van Zee et al.,
 * section 4): the rows stream through WAVE_D stages, one per chain, each a
 * carried row; stage k works on row t - k while stage 0 loads row t, and the
 * last one stores, so a row is loaded and stored once per WAVE_D sweeps
 * instead of once per sweep. Stage k's rotation (r-1, r) takes row r as
 * stage k-1 leaves it, after that stage's (r, r+1): every rotation sees the
 * inputs it would see applied one at a time, so the bits are the same. A row
 * outside a chain's range goes through its stage unrotated, one row late.
 * Other rotations (those that chase a zero) take the plain chain loop. */
#define WAVE_D 3

/* An ascending chain: rot g[i] = (r0 + i, r0 + i + 1) for i < r1 - r0. */
typedef struct {
    const bidiag_rot *g;
    int r0, r1;
} rot_chain;

/* What stage k does at step t, with row r = t - k of the rows [u0, u1]
 * that the wavefront covers: nothing (no such stage, or r not in
 * [u0, u1 + 1]); take row u0 as its carry; give out the carry after row u1;
 * give out the carry and keep row r (r outside its chain); rotate (r-1, r). */
enum { W_SKIP, W_LOAD, W_FLUSH, W_PASS, W_ROT };

/* Rotations from rot[i] that form one ascending chain: 0 if rot[i] is not
 * (p, p + 1). */
static long chain_len(const bidiag_rot *rot, long i, long n_rot)
{
    long j = i;
    while (j < n_rot && rot[j].q == rot[j].p + 1 && (j == i || rot[j].p == rot[j - 1].q))
        j++;
    return j - i;
}

/* The plain chain loop: x[] carries row p over the rotations from rot[i]
 * while each one's p is the last one's q. Returns the index after them. */
#define R_OFF(j) ((ptrdiff_t)(j) * 8)
#define R_LOAD(j) __m512d x##j = _mm512_loadu_pd(row + R_OFF(j));
#define R_STEP(j)                                                                       \
    {                                                                                   \
        const __m512d y##j = _mm512_loadu_pd(next + R_OFF(j));                          \
        _mm512_storeu_pd(row + R_OFF(j),                                                \
                         _mm512_add_pd(_mm512_mul_pd(c, x##j), _mm512_mul_pd(s, y##j))); \
        x##j = _mm512_sub_pd(_mm512_mul_pd(c, y##j), _mm512_mul_pd(s, x##j));            \
    }
#define R_STORE(j) _mm512_storeu_pd(row + R_OFF(j), x##j);
#define R_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

GEMM_AVX512_TARGET static long rots_chain512(double *col, size_t len, const bidiag_rot *rot,
                                             long i, long n_rot)
{
    int p = rot[i].p;
    double *row = col + (size_t)p * len;
    R_ALL(R_LOAD)
    do {
        const bidiag_rot *g = rot + i;
        double *next = col + (size_t)g->q * len;
        const __m512d c = _mm512_set1_pd(g->c), s = _mm512_set1_pd(g->s);
        R_ALL(R_STEP)
        row = next;
        p = g->q;
        i++;
    } while (i < n_rot && rot[i].p == p);
    R_ALL(R_STORE)
    return i;
}

/* Stage k on block j of a row: v holds the row coming in (r, as stage k-1
 * left it) and then the row going out (r - 1, done with stage k). */
#define W_ROTATE(k, j)                                                                 \
    {                                                                                  \
        const __m512d o =                                                              \
            _mm512_add_pd(_mm512_mul_pd(c##k, w##k##_##j), _mm512_mul_pd(s##k, v));    \
        w##k##_##j = _mm512_sub_pd(_mm512_mul_pd(c##k, v), _mm512_mul_pd(s##k, w##k##_##j)); \
        v = o;                                                                         \
    }
#define W_STAGE(k, j)                 \
    switch (mode[k]) {                \
    case W_ROT:                       \
        W_ROTATE(k, j)                \
        break;                        \
    case W_PASS: {                    \
        const __m512d o = w##k##_##j; \
        w##k##_##j = v;               \
        v = o;                        \
        break;                        \
    }                                 \
    case W_LOAD:                      \
        w##k##_##j = v;               \
        break;                        \
    case W_FLUSH:                     \
        v = w##k##_##j;               \
        break;                        \
    default:                          \
        break;                        \
    }
#define W_ZERO(k, j) __m512d w##k##_##j = _mm512_setzero_pd();
#define W_CS(k)                                                              \
    const __m512d c##k = _mm512_set1_pd(mode[k] == W_ROT ? gk[k]->c : 0.0), \
                  s##k = _mm512_set1_pd(mode[k] == W_ROT ? gk[k]->s : 0.0);
#if WAVE_D == 2
#define W_STAGES(X, j) X(0, j) X(1, j)
#define W_EACH(X) X(0) X(1)
#elif WAVE_D == 3
#define W_STAGES(X, j) X(0, j) X(1, j) X(2, j)
#define W_EACH(X) X(0) X(1) X(2)
#else
#define W_STAGES(X, j) X(0, j) X(1, j) X(2, j) X(3, j)
#define W_EACH(X) X(0) X(1) X(2) X(3)
#endif
#define W_CARRIES(j) W_STAGES(W_ZERO, j)
#define W_FAST(j)                                   \
    {                                               \
        __m512d v = _mm512_loadu_pd(in + R_OFF(j)); \
        W_STAGES(W_ROTATE, j)                       \
        _mm512_storeu_pd(out + R_OFF(j), v);        \
    }
#define W_SLOW(j)                                                                       \
    {                                                                                   \
        __m512d v = in != NULL ? _mm512_loadu_pd(in + R_OFF(j)) : _mm512_setzero_pd(); \
        W_STAGES(W_STAGE, j)                                                            \
        if (out != NULL)                                                                \
            _mm512_storeu_pd(out + R_OFF(j), v);                                        \
    }

/* The chains ch[0..nc), 2 <= nc <= WAVE_D, on the ROT_WIDE columns from col,
 * as one wavefront over the rows [u0, u1] that they cover. */
GEMM_AVX512_TARGET static void rots_wave512(double *col, size_t len, const rot_chain *ch, int nc,
                                            int u0, int u1)
{
    R_ALL(W_CARRIES)
    for (int t = u0; t <= u1 + nc; t++) {
        int mode[WAVE_D], all = nc == WAVE_D;
        const bidiag_rot *gk[WAVE_D];
        for (int k = 0; k < WAVE_D; k++) {
            const int r = t - k;
            gk[k] = NULL;
            if (k >= nc || r < u0 || r > u1 + 1)
                mode[k] = W_SKIP;
            else if (r == u0)
                mode[k] = W_LOAD;
            else if (r == u1 + 1)
                mode[k] = W_FLUSH;
            else if (r > ch[k].r0 && r <= ch[k].r1) {
                mode[k] = W_ROT;
                gk[k] = ch[k].g + (r - 1 - ch[k].r0);
            } else
                mode[k] = W_PASS;
            all = all && mode[k] == W_ROT;
        }
        const double *in = t <= u1 ? col + (size_t)t * len : NULL;
        double *out = t - nc >= u0 ? col + (size_t)(t - nc) * len : NULL;
        W_EACH(W_CS)
        if (all) {
            R_ALL(W_FAST)
        } else {
            R_ALL(W_SLOW)
        }
    }
}

GEMM_AVX512_TARGET static void rots_avx512(double *x, int len, int c_lo, int c_hi,
                                           const bidiag_rot *rot, long n_rot)
{
    for (int c0 = c_lo; c0 < c_hi; c0 += ROT_WIDE) {
        double *col = x + c0;
        long i = 0;
        while (i < n_rot) {
            rot_chain ch[WAVE_D];
            int nc = 0, u0 = 0, u1 = 0;
            long j = i;
            while (nc < WAVE_D) { /* consecutive ascending chains whose rows overlap */
                const long n = chain_len(rot, j, n_rot);
                if (n == 0)
                    break;
                const int r0 = rot[j].p, r1 = rot[j].p + (int)n;
                if (nc > 0 && (r0 > u1 || r1 < u0))
                    break;
                ch[nc++] = (rot_chain){rot + j, r0, r1};
                u0 = nc == 1 || r0 < u0 ? r0 : u0;
                u1 = nc == 1 || r1 > u1 ? r1 : u1;
                j += n;
            }
            if (nc >= 2) {
                rots_wave512(col, (size_t)len, ch, nc, u0, u1);
                i = j;
            } else
                i = rots_chain512(col, (size_t)len, rot, i, n_rot);
        }
    }
}
#endif

double bidiag_row(double *wr, const double *z, double hb, const double *va, double ta,
                  double *acc, int n)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2())
        return row_avx2(wr, z, hb, va, ta, acc, n);
#endif
    return row_portable(wr, z, hb, va, ta, acc, n);
}

void bidiag_rows(double *w, long ld, int rows, const double *z, const double *hb,
                 const double *va, double ta, double *acc, double *g, int n)
{
#ifdef GEMM_AVX2
    if (matmul_isa_avx2()) {
        bidiag_rows_avx2(w, ld, rows, z, hb, va, ta, acc, g, n);
        return;
    }
#endif
    for (int q = 0; q < rows; q++)
        g[q] = row_portable(w + (size_t)q * (size_t)ld, z, hb[q], va, ta, acc, n);
}

void bidiag_reflect_block(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h, int nh,
                          int n)
{
#ifdef GEMM_AVX2
    if (matmul_isa_avx2()) {
        bidiag_reflect_avx2(y, r_lo, r_hi, ld, h, nh, n);
        return;
    }
#endif
    reflect_portable(y, r_lo, r_hi, ld, h, nh, n);
}

void bidiag_apply_rots(double *x, int len, int c_lo, int c_hi, const bidiag_rot *rot, long n_rot)
{
#ifdef GEMM_AVX512
    if (matmul_isa_avx512()) {
        const int wide = c_lo + (c_hi - c_lo) / ROT_WIDE * ROT_WIDE;
        rots_avx512(x, len, c_lo, wide, rot, n_rot);
        c_lo = wide;
    }
#endif
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        rots_avx2(x, len, c_lo, c_hi, rot, n_rot);
        return;
    }
#endif
    rots_portable(x, len, c_lo, c_hi, rot, n_rot);
}
