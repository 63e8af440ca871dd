/* test_svd_bidiag.c - the SVD's bidiagonal route (src/core/svd_bidiag.c)
 * against its twin, one-sided Jacobi (src/core/svd.c), and its own
 * promises. The torch fixtures run through both routes in test_svd.c.
 *
 * Dimension key: m rows, n columns, k = min(m, n); k vectors of len.
 *
 *   - the bidiagonalisation rebuilds its input: ||G^T Bl P - W|| <= 1e-12
 *     ||W||, G and P orthonormal to 1e-12;
 *   - on random, graded (values down to 1e-12 of the largest), rank-deficient
 *     and repeated-value matrices, tall, wide, square, with and without the
 *     LQ step, 1 x n and n x 1: the values within 1e-12 of the largest of
 *     Jacobi's, the singular subspaces within the fixtures' 1e-6, and all of
 *     svd.h's promises (check_promises, check_partial_calls);
 *   - the row pass and reflector kernels alone (bidiag_rows,
 *     bidiag_reflect_block): the AVX2 path, several rows side by side,
 *     against the portable one, a row at a time, bit for bit, on odd lengths
 *     and row counts, with hb zero on some rows;
 *   - the zero matrix, the portable and AVX2 kernels (the same bits), the
 *     route that the auto choice takes on each side of SVD_BIDIAG_MIN, and
 *     NaN rejected before either route.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/svd.h"
#include "kernels/bidiag.h"
#include "kernels/matmul.h"
#include "svd_check.h"
#include "test.h"

/* Both routes are backward stable: the values agree to a few k eps of the
 * largest (2e-14 at k = 150 measured); 1e-12 leaves room for k up to the
 * sizes here and nothing more. */
#define TWIN_VALUE_RTOL 1e-12
#define FACTOR_RTOL 1e-12

enum { RANDOM, GRADED, RANK_DEFICIENT, REPEATED, ZERO_DIAGONAL, OUTER };
static const char *const KIND[] = {"random", "graded", "rank-deficient", "repeated",
                                   "zero-diagonal", "outer"};

/* ------------------------------------------------------------------------ */
/* the bidiagonalisation alone */

static int make_case(double *a, double *sv, int kind, int m, int n, uint64_t seed);

/* W (k, len) of the kind asked for (RANDOM or OUTER). */
static void check_bidiagonalise(int kind, int k, int len)
{
    char cas[64];
    snprintf(cas, sizeof cas, "bidiagonalise %s %dx%d", KIND[kind], k, len);
    double *w = malloc((size_t)k * len * sizeof *w), *p = malloc((size_t)k * len * sizeof *p);
    double *g = malloc((size_t)k * k * sizeof *g), *d = malloc((size_t)k * sizeof *d);
    double *e = malloc((size_t)k * sizeof *e);
    CHECK(w != NULL && p != NULL && g != NULL && d != NULL && e != NULL, "%s: out of memory", cas);
    if (w != NULL && p != NULL && g != NULL && d != NULL && e != NULL) {
        make_case(w, NULL, kind, k, len, 91);
        char err[256] = "";
        const ld_status st = svd_bidiagonalise(d, e, g, p, w, k, len, err, sizeof err);
        CHECK(st == LD_OK, "%s: %s", cas, err);
        if (st == LD_OK) {
            /* W' = G^T Bl P: row r of Bl P is d_r p_r + e_{r-1} p_{r-1} */
            double diff = 0.0, norm = 0.0;
            for (int i = 0; i < k; i++)
                for (int c = 0; c < len; c++) {
                    double v = 0.0;
                    for (int r = 0; r < k; r++) {
                        double bp = d[r] * p[(size_t)r * len + c];
                        if (r > 0)
                            bp += e[r - 1] * p[(size_t)(r - 1) * len + c];
                        v += g[(size_t)r * k + i] * bp;
                    }
                    const double x = w[(size_t)i * len + c];
                    diff += (v - x) * (v - x);
                    norm += x * x;
                }
            check_le(cas, "||G^T Bl P - W|| / ||W||", sqrt(diff / norm), FACTOR_RTOL);
            check_le(cas, "max |G G^T - I|", ortho_error(g, k, k, 1), FACTOR_RTOL);
            check_le(cas, "max |P P^T - I|", ortho_error(p, k, len, 1), FACTOR_RTOL);
        }
    }
    free(w);
    free(p);
    free(g);
    free(d);
    free(e);
}

/* ------------------------------------------------------------------------ */
/* the two routes, twins */

/* a (m, n) of the kind asked for; sv (k) its values when known (else
 * unused). Returns 0 after a failed CHECK. */
static int make_case(double *a, double *sv, int kind, int m, int n, uint64_t seed)
{
    const int k = m < n ? m : n;
    if (kind == RANDOM) {
        fill_normal(a, (size_t)m * n, seed);
        return 1;
    }
    if (kind == ZERO_DIAGONAL) {
        /* upper bidiagonal already (m >= n: the reflectors are all I), with
         * exact zeros on the diagonal inside and at the end: the QR must
         * chase a zero's row out (inside) and its column (at the end) */
        memset(a, 0, (size_t)m * n * sizeof *a);
        for (int i = 0; i < k; i++) {
            a[(size_t)i * n + i] = i == k / 3 || i == k - 1 ? 0.0 : 1.0 + (double)i / k;
            if (i + 1 < n)
                a[(size_t)i * n + i + 1] = 0.5;
        }
        return 1;
    }
    if (kind == OUTER) {
        /* rank one, (i mod 3 + 1)(j + 1) / 1000: what the bidiagonalisation
         * leaves below its first step shrinks by about eps each step, to
         * where squares underflow (1e-160 after ~10 steps), and reflectors
         * formed from underflowed norms are not orthogonal */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                a[(size_t)i * n + j] = (double)(i % 3 + 1) * (double)(j + 1) / 1000.0;
        return 1;
    }
    for (int i = 0; i < k; i++) {
        const double t = k > 1 ? (double)i / (k - 1) : 0.0;
        if (kind == GRADED) /* 1 down to 1e-12, geometrically */
            sv[i] = pow(10.0, -12.0 * t);
        else if (kind == RANK_DEFICIENT) /* a third of the values exactly zero */
            sv[i] = i < k - k / 3 ? 3.0 - 2.0 * t : 0.0;
        else /* REPEATED: groups of three equal values */
            sv[i] = 4.0 - 0.1 * floor(i / 3.0);
    }
    return make_known(a, sv, m, n, seed);
}

static void check_twin(int kind, int m, int n, uint64_t seed)
{
    const int k = m < n ? m : n;
    char cas[96];
    snprintf(cas, sizeof cas, "bidiag vs jacobi %s %dx%d", KIND[kind], m, n);
    double *a = malloc((size_t)m * n * sizeof *a), *sv = calloc((size_t)k, sizeof *sv);
    result jr = {0}, br = {0};
    if (a != NULL && sv != NULL && result_alloc(&jr, m, n) && result_alloc(&br, m, n) &&
        make_case(a, sv, kind, m, n, seed)) {
        const svd_options jacobi = {0, 0, 0, SVD_ROUTE_JACOBI}, bidiag = {0, 0, 0, SVD_ROUTE_BIDIAG};
        char err[256] = "";
        svd_info info;
        ld_status st = svd_ex(jr.s, jr.u, jr.vt, a, m, n, &jacobi, NULL, err, sizeof err);
        if (st == LD_OK)
            st = svd_ex(br.s, br.u, br.vt, a, m, n, &bidiag, &info, err, sizeof err);
        CHECK(st == LD_OK && info.route == SVD_ROUTE_BIDIAG, "svd %s: %s", cas, err);
        if (st == LD_OK) {
            check_le(cas, "max |s_qr - s_jacobi| / s[0]", value_error(br.s, jr.s, k),
                     TWIN_VALUE_RTOL);
            if (kind != RANDOM && kind != ZERO_DIAGONAL && kind != OUTER)
                check_le(cas, "max |s_qr - known| / s[0]", value_error(br.s, sv, k),
                         TWIN_VALUE_RTOL);
            check_le(cas, "subspaces vs jacobi (projectors)",
                     subspace_error(br.u, br.vt, jr.u, jr.vt, jr.s, m, n, k), PROJ_TOL);
            check_promises(cas, &br, a, m, n);
            check_partial_calls(cas, &br, a, m, n, &bidiag);
        }
    }
    free(a);
    free(sv);
    free(jr.mem);
    free(br.mem);
}

/* ------------------------------------------------------------------------ */
/* edges */

/* The zero matrix: zero values and orthonormal vectors, no rotation. */
static void check_zero(int m, int n)
{
    const int k = m < n ? m : n;
    char cas[64];
    snprintf(cas, sizeof cas, "bidiag zero %dx%d", m, n);
    double *a = calloc((size_t)m * n, sizeof *a);
    result r = {0};
    if (a != NULL && result_alloc(&r, m, n)) {
        const svd_options bidiag = {0, 0, 0, SVD_ROUTE_BIDIAG};
        char err[256] = "";
        svd_info info;
        const ld_status st = svd_ex(r.s, r.u, r.vt, a, m, n, &bidiag, &info, err, sizeof err);
        int zero = st == LD_OK;
        for (int i = 0; zero && i < k; i++)
            zero = r.s[i] == 0.0;
        CHECK(zero && info.rotations == 0, "svd %s: %s, s[0] = %g, %ld rotations", cas, err,
              r.s[0], info.rotations);
        if (st == LD_OK)
            check_promises(cas, &r, a, m, n);
    }
    free(a);
    free(r.mem);
}

/* kernels/bidiag.c's builds, portable, AVX2 and (its rotations) AVX-512:
 * the same bits. */
static void check_bidiag_isa(int m, int n)
{
    const int k = m < n ? m : n;
    double *a = malloc((size_t)m * n * sizeof *a);
    result ref = {0}, r = {0};
    if (a != NULL && result_alloc(&ref, m, n) && result_alloc(&r, m, n)) {
        fill_normal(a, (size_t)m * n, 92);
        const svd_options bidiag = {0, 0, 0, SVD_ROUTE_BIDIAG};
        char err[256] = "";
        matmul_set_isa(MATMUL_ISA_PORTABLE);
        ld_status st = svd_ex(ref.s, ref.u, ref.vt, a, m, n, &bidiag, NULL, err, sizeof err);
        CHECK(st == LD_OK, "svd bidiag %dx%d portable: %s", m, n, err);
        static const matmul_isa isas[] = {MATMUL_ISA_AVX2, MATMUL_ISA_AVX512};
        for (size_t i = 0; st == LD_OK && i < sizeof isas / sizeof isas[0]; i++) {
            matmul_set_isa(isas[i]); /* ignored on a CPU without it: then a repeat */
            st = svd_ex(r.s, r.u, r.vt, a, m, n, &bidiag, NULL, err, sizeof err);
            const int same = st == LD_OK && memcmp(r.s, ref.s, (size_t)k * sizeof *r.s) == 0 &&
                             memcmp(r.u, ref.u, (size_t)m * k * sizeof *r.u) == 0 &&
                             memcmp(r.vt, ref.vt, (size_t)k * n * sizeof *r.vt) == 0;
            CHECK(same, "svd bidiag %dx%d: the %s kernels differ from the portable ones (%s)", m,
                  n, matmul_isa_name(), err);
        }
        matmul_set_isa(MATMUL_ISA_AUTO);
    }
    free(a);
    free(ref.mem);
    free(r.mem);
}

/* bidiag_rows and bidiag_reflect_block on the AVX2 path (kernels/bidiag_rows.c,
 * up to four rows side by side) against the portable path (one row at a
 * time, the plain C), bit for bit: `rows` rows of n entries. On a CPU
 * without AVX2 both calls run the portable path. */
static void check_rows_kernels(int rows, int n)
{
    enum { NH = 5 };
    const size_t size = (size_t)rows * n;
    double *mem = malloc((4 * size + (NH + 3) * (size_t)n + (size_t)rows * 3) * sizeof *mem);
    if (mem == NULL)
        return;
    double *w = mem, *w2 = w + size, *y = w2 + size, *y2 = y + size, *v = y2 + size; /* v (NH, n) */
    double *z = v + (size_t)NH * n, *acc = z + n, *acc2 = acc + n, *hb = acc2 + n, *g = hb + rows,
           *g2 = g + rows;
    fill_normal(w, size, 100 + (uint64_t)n);
    fill_normal(v, (size_t)NH * n, 200 + (uint64_t)rows);
    fill_normal(z, (size_t)n, 300);
    fill_normal(acc, (size_t)n, 400);
    fill_normal(hb, (size_t)rows, 500);
    for (int q = 2; q < rows; q += 3)
        hb[q] = 0.0; /* rows that skip the pending reflector among those that do not */
    memcpy(y, w, size * sizeof *y);
    memcpy(acc2, acc, (size_t)n * sizeof *acc);
    memcpy(w2, w, size * sizeof *w);
    memcpy(y2, y, size * sizeof *y);
    /* NH reflectors on [off, n), one on all of each row, reaching rows from first on */
    bidiag_refl h[NH];
    for (int j = 0; j < NH; j++) {
        const int off = (j * n) / (NH + 1), first = (j * rows) / NH;
        h[j] = (bidiag_refl){v + (size_t)j * n, j == 2 ? 0.0 : 0.3 / (j + 1), off, first};
    }
    const int nh = n > 1 ? NH : 1;
    for (int pass = 0; pass < 2; pass++) {
        matmul_set_isa(pass == 0 ? MATMUL_ISA_PORTABLE : MATMUL_ISA_AVX2);
        double *wp = pass == 0 ? w : w2, *yp = pass == 0 ? y : y2;
        bidiag_rows(wp, n, rows, z, hb, v, 0.7, pass == 0 ? acc : acc2, pass == 0 ? g : g2, n);
        bidiag_reflect_block(yp, 0, rows, n, h, nh, n);
    }
    matmul_set_isa(MATMUL_ISA_AUTO);
    CHECK(memcmp(w, w2, size * sizeof *w) == 0 && memcmp(acc, acc2, (size_t)n * sizeof *acc) == 0 &&
              memcmp(g, g2, (size_t)rows * sizeof *g) == 0,
          "bidiag_rows, %d rows of %d: the AVX2 path differs from the portable one", rows, n);
    CHECK(memcmp(y, y2, size * sizeof *y) == 0,
          "bidiag_reflect_block, %d rows of %d: the AVX2 path differs from the portable one", rows,
          n);
    free(mem);
}

/* The auto route: Jacobi below SVD_BIDIAG_MIN, bidiagonal QR from it. */
static void check_route_choice(void)
{
    enum { K = SVD_BIDIAG_MIN };
    double *a = malloc((size_t)K * (K + 10) * sizeof *a), s[K];
    if (a == NULL)
        return;
    fill_normal(a, (size_t)K * (K + 10), 93);
    char err[256] = "";
    svd_info below = {0}, at = {0};
    ld_status st = svd_ex(s, NULL, NULL, a, K - 1, K + 10, NULL, &below, err, sizeof err);
    if (st == LD_OK)
        st = svd_ex(s, NULL, NULL, a, K + 10, K, NULL, &at, err, sizeof err);
    CHECK(st == LD_OK && below.route == SVD_ROUTE_JACOBI && at.route == SVD_ROUTE_BIDIAG,
          "svd route: %s; k = %d took %d, k = %d took %d", err, K - 1, below.route, K, at.route);
    free(a);
}

static void check_bidiag_errors(void)
{
    enum { M = 70, N = 66 };
    double *a = malloc((size_t)M * N * sizeof *a), s[N], d[2], e[2], g[4], p[4];
    if (a == NULL)
        return;
    fill_normal(a, (size_t)M * N, 94);
    a[5 * N + 7] = NAN;
    char err[256] = "";
    const svd_options bidiag = {0, 0, 0, SVD_ROUTE_BIDIAG};
    ld_status st = svd_ex(s, NULL, NULL, a, M, N, &bidiag, NULL, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "[5][7]") != NULL, "svd bidiag NaN: %d '%s'", (int)st,
          err);
    st = svd_bidiagonalise(d, e, g, p, a, 2, 1, err, sizeof err);
    CHECK(st == LD_EINPUT, "svd_bidiagonalise k > len: %d '%s'", (int)st, err);
    free(a);
}

void test_svd_bidiag(void)
{
    static const int factor_shapes[][2] = {{1, 1}, {1, 9}, {2, 2}, {5, 5}, {7, 20}, {40, 40},
                                           {33, 70}};
    for (size_t i = 0; i < sizeof factor_shapes / sizeof factor_shapes[0]; i++)
        check_bidiagonalise(RANDOM, factor_shapes[i][0], factor_shapes[i][1]);
    check_bidiagonalise(OUTER, 40, 40);
    check_bidiagonalise(OUTER, 64, 64);
    static const int twin_shapes[][2] = {{70, 70}, {90, 64}, {64, 90}, {150, 80}, {80, 150},
                                         {1, 70},  {70, 1},  {2, 3},   {3, 2}};
    for (size_t i = 0; i < sizeof twin_shapes / sizeof twin_shapes[0]; i++)
        check_twin(RANDOM, twin_shapes[i][0], twin_shapes[i][1], 95 + i);
    for (int kind = GRADED; kind <= REPEATED; kind++) {
        check_twin(kind, 100, 100, 96);
        check_twin(kind, 120, 75, 97);
        check_twin(kind, 66, 140, 98);
    }
    check_twin(ZERO_DIAGONAL, 70, 70, 0);
    check_twin(ZERO_DIAGONAL, 90, 70, 0);
    check_twin(OUTER, 64, 64, 0);
    check_twin(OUTER, 80, 40, 0);
    check_twin(OUTER, 40, 80, 0);
    check_zero(70, 65);
    check_zero(1, 5);
    check_bidiag_isa(90, 70);
    check_bidiag_isa(50, 120);
    check_bidiag_isa(260, 200); /* several 64-column chunks and a full rotation buffer */
    static const int row_counts[] = {1, 2, 3, 4, 5, 7, 9, 17};
    static const int lengths[] = {2, 3, 8, 9, 10, 17, 31, 100};
    for (size_t i = 0; i < sizeof row_counts / sizeof row_counts[0]; i++)
        for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++)
            check_rows_kernels(row_counts[i], lengths[j]);
    check_route_choice();
    check_bidiag_errors();
}
