/* bidiag_rows.c - the AVX2 build of the bidiagonal route's row pass and
 * reflector blocks, up to ROWS rows side by side.
 *
 * Equals row_body and reflect_body in bidiag.c (their plain C twins, the
 * portable path) bit for bit: every element sees the same multiplies, adds
 * and subtractions in the same order. The inner products keep dot8's eight
 * partial sums (dvec.h), lanes 0-3 and 4-7 of each row in two registers,
 * the leftover elements into partial sum 0 one at a time, and the same tree
 * at the end; each row's acc update is added in row order, so acc[j] gets
 * ((acc + g_r y_r) + g_{r+1} y_{r+1}) as when the rows come one at a time.
 * Chosen by bidiag_rows and bidiag_reflect_block (bidiag.c) on the AVX2
 * path; tests/test_svd_bidiag.c (check_rows_kernels) compares the two on
 * odd lengths and row counts.
 *
 * Why intrinsics: the work is bound by the add latency of the inner
 * products (eight partial sums are two chains of vector adds) and by the
 * reloads of the shared vector. Several rows at a time give four to eight
 * independent chains and load the shared vector once; written in plain C
 * (sixteen or more partial sums) GCC -O2 keeps them scalar, with spills.
 *
 * Every loop that stores loads all R rows first: rows len = 1024 doubles
 * apart share their low 12 address bits, and a load after a store to
 * another row at the same offset then waits on it (4K aliasing); measured
 * ~15 % on the reflector blocks of a 1024 x 1024 SVD (docs/performance.md).
 *
 * Dimension key: R rows (at most ROWS) of len doubles each.
 */
#include "bidiag_rows.h"

#include <stddef.h>

#ifdef GEMM_AVX2
#include <immintrin.h>

#define ROWS 4

#if defined(__GNUC__) || defined(__clang__)
#define ROWS_INLINE static inline __attribute__((always_inline)) GEMM_AVX2_TARGET
#else
#define ROWS_INLINE static inline GEMM_AVX2_TARGET
#endif

/* dot8's final sum of its eight partial sums (lanes lo 0-3, hi 4-7), after
 * x[i..len) . y[i..len) went into partial sum 0 one element at a time. */
ROWS_INLINE double dot8_finish(__m256d lo, __m256d hi, const double *x, const double *y, int i,
                               int len)
{
    double s[8];
    _mm256_storeu_pd(s, lo);
    _mm256_storeu_pd(s + 4, hi);
    for (; i < len; i++)
        s[0] += x[i] * y[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* row_body (bidiag.c) on R rows w + q ld, all with acc, with sub = (hb[q]
 * != 0) the same for all: y -= hb z (fused with the inner product), then
 * h = ta (y0 + y[1..n) . va), y0 -= h, y[1..n) -= h va, acc += y0 y[1..n). */
ROWS_INLINE void rows_body(double *w, ptrdiff_t ld, const int R, const int sub, const double *z,
                           const double *hb, const double *va, double ta, double *acc, double *g,
                           int n)
{
    const int len = n - 1;
    double *y[ROWS];
    __m256d lo[ROWS], hi[ROWS], hv[ROWS];
    GEMM_UNROLL(4)
    for (int q = 0; q < R; q++) {
        y[q] = w + q * ld;
        lo[q] = hi[q] = _mm256_setzero_pd();
        hv[q] = _mm256_set1_pd(hb[q]);
        if (sub)
            y[q][0] -= hb[q] * z[0];
    }
    const double *zt = sub ? z + 1 : NULL; /* z may be NULL when no row subtracts */
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        const __m256d v0 = _mm256_loadu_pd(va + i), v1 = _mm256_loadu_pd(va + i + 4);
        __m256d z0 = v0, z1 = v1;
        if (sub) {
            z0 = _mm256_loadu_pd(zt + i);
            z1 = _mm256_loadu_pd(zt + i + 4);
        }
        __m256d a0[ROWS], a1[ROWS];
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++) { /* all loads first (4K aliasing, above) */
            a0[q] = _mm256_loadu_pd(y[q] + 1 + i);
            a1[q] = _mm256_loadu_pd(y[q] + 5 + i);
        }
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++) {
            if (sub) {
                a0[q] = _mm256_sub_pd(a0[q], _mm256_mul_pd(hv[q], z0));
                a1[q] = _mm256_sub_pd(a1[q], _mm256_mul_pd(hv[q], z1));
                _mm256_storeu_pd(y[q] + 1 + i, a0[q]);
                _mm256_storeu_pd(y[q] + 5 + i, a1[q]);
            }
            lo[q] = _mm256_add_pd(lo[q], _mm256_mul_pd(a0[q], v0));
            hi[q] = _mm256_add_pd(hi[q], _mm256_mul_pd(a1[q], v1));
        }
    }
    double h[ROWS];
    __m256d hq[ROWS], gq[ROWS];
    GEMM_UNROLL(4)
    for (int q = 0; q < R; q++) {
        double *yt = y[q] + 1;
        for (int t = i; sub && t < len; t++)
            yt[t] -= hb[q] * zt[t];
        h[q] = ta * (y[q][0] + dot8_finish(lo[q], hi[q], yt, va, i, len));
        y[q][0] -= h[q];
        g[q] = y[q][0];
        hq[q] = _mm256_set1_pd(h[q]);
        gq[q] = _mm256_set1_pd(g[q]);
    }
    for (i = 0; i + 4 <= len; i += 4) {
        const __m256d v = _mm256_loadu_pd(va + i);
        __m256d a = _mm256_loadu_pd(acc + i), yq[ROWS];
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++)
            yq[q] = _mm256_loadu_pd(y[q] + 1 + i);
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++) {
            yq[q] = _mm256_sub_pd(yq[q], _mm256_mul_pd(hq[q], v));
            _mm256_storeu_pd(y[q] + 1 + i, yq[q]);
            a = _mm256_add_pd(a, _mm256_mul_pd(gq[q], yq[q]));
        }
        _mm256_storeu_pd(acc + i, a);
    }
    for (; i < len; i++)
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++) {
            const double yi = y[q][1 + i] - h[q] * va[i];
            y[q][1 + i] = yi;
            acc[i] += g[q] * yi;
        }
}

/* One reflector on R rows x + q ld (m entries each), as reflect_body:
 * x_q -= (tau (x_q . v)) v. */
ROWS_INLINE void reflect_rows(double *x, ptrdiff_t ld, const int R, const double *v, double tau,
                              int m)
{
    double *y[ROWS];
    __m256d lo[ROWS], hi[ROWS];
    GEMM_UNROLL(4)
    for (int q = 0; q < R; q++) {
        y[q] = x + q * ld;
        lo[q] = hi[q] = _mm256_setzero_pd();
    }
    int i = 0;
    for (; i + 8 <= m; i += 8) {
        const __m256d v0 = _mm256_loadu_pd(v + i), v1 = _mm256_loadu_pd(v + i + 4);
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++) {
            lo[q] = _mm256_add_pd(lo[q], _mm256_mul_pd(_mm256_loadu_pd(y[q] + i), v0));
            hi[q] = _mm256_add_pd(hi[q], _mm256_mul_pd(_mm256_loadu_pd(y[q] + i + 4), v1));
        }
    }
    double h[ROWS];
    __m256d hq[ROWS];
    GEMM_UNROLL(4)
    for (int q = 0; q < R; q++) {
        h[q] = tau * dot8_finish(lo[q], hi[q], y[q], v, i, m);
        hq[q] = _mm256_set1_pd(h[q]);
    }
    for (i = 0; i + 4 <= m; i += 4) {
        const __m256d vi = _mm256_loadu_pd(v + i);
        __m256d yq[ROWS];
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++)
            yq[q] = _mm256_loadu_pd(y[q] + i);
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++)
            _mm256_storeu_pd(y[q] + i, _mm256_sub_pd(yq[q], _mm256_mul_pd(hq[q], vi)));
    }
    for (; i < m; i++)
        GEMM_UNROLL(4)
        for (int q = 0; q < R; q++)
            y[q][i] -= h[q] * v[i];
}

/* One wrapper per row count, so that each loop over q unrolls into registers. */
#define ROWS_FNS(R)                                                                            \
    GEMM_AVX2_TARGET static void rows_##R##_sub(double *w, ptrdiff_t ld, const double *z,     \
                                                const double *hb, const double *va, double ta, \
                                                double *acc, double *g, int n)                 \
    {                                                                                          \
        rows_body(w, ld, R, 1, z, hb, va, ta, acc, g, n);                                      \
    }                                                                                          \
    GEMM_AVX2_TARGET static void rows_##R(double *w, ptrdiff_t ld, const double *z,           \
                                          const double *hb, const double *va, double ta,       \
                                          double *acc, double *g, int n)                       \
    {                                                                                          \
        rows_body(w, ld, R, 0, z, hb, va, ta, acc, g, n);                                      \
    }                                                                                          \
    GEMM_AVX2_TARGET static void reflect_##R(double *x, ptrdiff_t ld, const double *v,        \
                                             double tau, int m)                                \
    {                                                                                          \
        reflect_rows(x, ld, R, v, tau, m);                                                     \
    }
ROWS_FNS(1)
ROWS_FNS(2)
ROWS_FNS(3)
ROWS_FNS(4)

typedef void rows_fn(double *, ptrdiff_t, const double *, const double *, const double *,
                     double, double *, double *, int);
typedef void reflect_fn(double *, ptrdiff_t, const double *, double, int);
static rows_fn *const rows_sub_of[ROWS + 1] = {NULL, rows_1_sub, rows_2_sub, rows_3_sub,
                                               rows_4_sub};
static rows_fn *const rows_of[ROWS + 1] = {NULL, rows_1, rows_2, rows_3, rows_4};
static reflect_fn *const reflect_of[ROWS + 1] = {NULL, reflect_1, reflect_2, reflect_3,
                                                 reflect_4};

void bidiag_rows_avx2(double *w, long ld, int rows, const double *z, const double *hb,
                      const double *va, double ta, double *acc, double *g, int n)
{
    for (int r = 0; r < rows;) {
        /* the next rows, up to ROWS, that all subtract hb z or all do not */
        const int sub = hb[r] != 0.0;
        int R = 1;
        while (R < ROWS && r + R < rows && (hb[r + R] != 0.0) == sub)
            R++;
        (sub ? rows_sub_of : rows_of)[R](w + (size_t)r * (size_t)ld, ld, z, hb + r, va, ta, acc,
                                         g + r, n);
        r += R;
    }
}

void bidiag_reflect_avx2(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h, int nh,
                         int n)
{
    for (int r = r_lo; r < r_hi; r += ROWS) {
        const int end = r_hi - r < ROWS ? r_hi : r + ROWS;
        for (int j = 0; j < nh; j++) {
            /* the rows of this group that h[j] reaches: from h[j].first on */
            const int from = r > h[j].first ? r : h[j].first;
            if (from >= end || h[j].tau == 0.0)
                continue;
            reflect_of[end - from](y + (size_t)from * (size_t)ld + h[j].off, ld, h[j].v,
                                   h[j].tau, n - h[j].off);
        }
    }
}
#endif /* GEMM_AVX2 */
