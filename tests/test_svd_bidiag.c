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
 *   - bidiag_apply_rots against rotations applied one at a time, on every
 *     build (portable, AVX2, AVX-512), on random lists of sweeps of moving
 *     ranges, chased zeros and lone rotations, split as a full buffer would;
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

#include "core/rng.h"
#include "core/svd.h"
#include "kernels/bidiag.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"
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
        const svd_options jacobi = {.route = SVD_ROUTE_JACOBI}, bidiag = {.route = SVD_ROUTE_BIDIAG};
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
        const svd_options bidiag = {.route = SVD_ROUTE_BIDIAG};
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

/* The same s, U and V^T, bit for bit. */
static int same_svd(const result *a, const result *b, int m, int n)
{
    const int k = m < n ? m : n;
    return memcmp(a->s, b->s, (size_t)k * sizeof *a->s) == 0 &&
           memcmp(a->u, b->u, (size_t)m * k * sizeof *a->u) == 0 &&
           memcmp(a->vt, b->vt, (size_t)k * n * sizeof *a->vt) == 0;
}

/* kernels/bidiag.c's builds, portable, AVX2 and (its rotations) AVX-512:
 * the same bits, on a matrix of the kind asked for (RANDOM, ZERO_DIAGONAL
 * or OUTER: the last two chase zeros between the sweeps). */
static void check_bidiag_isa(int kind, int m, int n)
{
    const int k = m < n ? m : n;
    double *a = malloc((size_t)m * n * sizeof *a), *sv = calloc((size_t)k, sizeof *sv);
    result ref = {0}, r = {0};
    if (a != NULL && sv != NULL && result_alloc(&ref, m, n) && result_alloc(&r, m, n)) {
        make_case(a, sv, kind, m, n, 92);
        const svd_options bidiag = {.route = SVD_ROUTE_BIDIAG};
        char err[256] = "";
        matmul_set_isa(MATMUL_ISA_PORTABLE);
        ld_status st = svd_ex(ref.s, ref.u, ref.vt, a, m, n, &bidiag, NULL, err, sizeof err);
        CHECK(st == LD_OK, "svd bidiag %s %dx%d portable: %s", KIND[kind], m, n, err);
        static const matmul_isa isas[] = {MATMUL_ISA_AVX2, MATMUL_ISA_AVX512};
        for (size_t i = 0; st == LD_OK && i < sizeof isas / sizeof isas[0]; i++) {
            matmul_set_isa(isas[i]); /* ignored on a CPU without it: then a repeat */
            st = svd_ex(r.s, r.u, r.vt, a, m, n, &bidiag, NULL, err, sizeof err);
            CHECK(st == LD_OK && same_svd(&r, &ref, m, n),
                  "svd bidiag %s %dx%d: the %s kernels differ from the portable ones (%s)",
                  KIND[kind], m, n, matmul_isa_name(), err);
        }
        matmul_set_isa(MATMUL_ISA_AUTO);
    }
    free(sv);
    free(a);
    free(ref.mem);
    free(r.mem);
}

/* U and V formed on pools of 2 and 3 threads: the bits of one thread; also
 * U alone and V^T alone (one side's rotations each). */
static void check_bidiag_threads(int m, int n)
{
    double *a = malloc((size_t)m * n * sizeof *a);
    result ref = {0}, r = {0};
    if (a != NULL && result_alloc(&ref, m, n) && result_alloc(&r, m, n)) {
        fill_normal(a, (size_t)m * n, 99);
        svd_options opt = {.route = SVD_ROUTE_BIDIAG};
        char err[256] = "";
        ld_status st = svd_ex(ref.s, ref.u, ref.vt, a, m, n, &opt, NULL, err, sizeof err);
        CHECK(st == LD_OK, "svd bidiag %dx%d: %s", m, n, err);
        for (int threads = 2; st == LD_OK && threads <= 3; threads++) {
            st = pool_init(&opt.pool, threads, 0, err, sizeof err);
            if (st == LD_OK)
                st = svd_ex(r.s, r.u, r.vt, a, m, n, &opt, NULL, err, sizeof err);
            CHECK(st == LD_OK && same_svd(&r, &ref, m, n),
                  "svd bidiag %dx%d on %d threads: not the bits of one (%s)", m, n, threads, err);
            const int k = m < n ? m : n;
            memset(r.u, 0, (size_t)m * k * sizeof *r.u);
            if (st == LD_OK)
                st = svd_ex(r.s, r.u, NULL, a, m, n, &opt, NULL, err, sizeof err);
            CHECK(st == LD_OK && memcmp(r.u, ref.u, (size_t)m * k * sizeof *r.u) == 0,
                  "svd bidiag %dx%d on %d threads, U alone: not the bits of one (%s)", m, n,
                  threads, err);
            memset(r.vt, 0, (size_t)k * n * sizeof *r.vt);
            if (st == LD_OK)
                st = svd_ex(r.s, NULL, r.vt, a, m, n, &opt, NULL, err, sizeof err);
            CHECK(st == LD_OK && memcmp(r.vt, ref.vt, (size_t)k * n * sizeof *r.vt) == 0,
                  "svd bidiag %dx%d on %d threads, V^T alone: not the bits of one (%s)", m, n,
                  threads, err);
            pool_free(opt.pool);
            opt.pool = NULL;
        }
    }
    free(a);
    free(ref.mem);
    free(r.mem);
}

/* n rotations of rows < rows (>= 2) as core/svd_bidiag.c makes them, in
 * random order: QR sweeps (r, r+1) over a range that mostly shrinks or
 * shifts a little from one sweep to the next (deflation) and sometimes
 * jumps; a zero's row chased, (z+1, z), (z+2, z), ...; its column chased,
 * (h-1, h), (h-2, h), ...; a lone rotation of two rows. The last item is cut
 * off at n, as a full buffer cuts a sweep. */
static void make_rots(bidiag_rot *rot, long n, int rows, rng *g)
{
    int lo = 0, hi = rows - 1;
    long i = 0;
    while (i < n) {
        const uint32_t what = rng_below(g, 12);
        if (what < 8) {
            if (what == 0) { /* a new range anywhere */
                lo = (int)rng_below(g, (uint32_t)rows - 1);
                hi = lo + 1 + (int)rng_below(g, (uint32_t)(rows - 1 - lo));
            } else if (what < 4 && hi - lo > 1) { /* one end moves in */
                if (rng_below(g, 2))
                    lo++;
                else
                    hi--;
            } else if (what == 4 && hi < rows - 1) {
                hi++;
            } else if (what == 5 && lo > 0) {
                lo--;
            }
            for (int r = lo; r < hi && i < n; r++, i++)
                rot[i] = (bidiag_rot){r, r + 1, 0.0, 0.0};
        } else if (what < 10) {
            const int z = (int)rng_below(g, (uint32_t)rows - 1), up = what == 8;
            const int count = 1 + (int)rng_below(g, (uint32_t)(up ? rows - 1 - z : z + 1));
            for (int j = 1; j <= count && i < n; j++, i++)
                rot[i] = up ? (bidiag_rot){z + j, z, 0.0, 0.0}
                            : (bidiag_rot){z + 1 - j, z + 1, 0.0, 0.0};
        } else {
            const int p = (int)rng_below(g, (uint32_t)rows);
            const int q = (p + 1 + (int)rng_below(g, (uint32_t)rows - 1)) % rows;
            rot[i++] = (bidiag_rot){p, q, 0.0, 0.0};
        }
    }
    for (i = 0; i < n; i++) { /* now and then c = 0, s = 1, as rot_make gives for f = 0 */
        const double a = rng_below(g, 16) == 0 ? 2.0 * atan(1.0) : 6.0 * rng_uniform(g);
        rot[i].c = rng_below(g, 16) == 0 ? 0.0 : cos(a);
        rot[i].s = rot[i].c == 0.0 ? 1.0 : sin(a);
    }
}

/* bidiag_apply_rots on columns [c_lo, c_hi) of x (rows, len), called on
 * rot[0..cut) and then on rot[cut..n), in every build, against the
 * rotations applied one at a time by this loop: the same bits (the test
 * is built without contraction, as the kernels are). */
static void check_rots_kernel(int rows, int len, int c_lo, int c_hi, long n, uint64_t seed)
{
    const size_t size = (size_t)rows * (size_t)len;
    double *x0 = malloc(size * sizeof *x0), *want = malloc(size * sizeof *want);
    double *got = malloc(size * sizeof *got);
    bidiag_rot *rot = malloc((size_t)n * sizeof *rot);
    CHECK(x0 != NULL && want != NULL && got != NULL && rot != NULL, "rots: out of memory");
    if (x0 != NULL && want != NULL && got != NULL && rot != NULL) {
        rng g;
        rng_seed(&g, seed, 7);
        make_rots(rot, n, rows, &g);
        fill_normal(x0, size, seed);
        memcpy(want, x0, size * sizeof *want);
        for (long i = 0; i < n; i++) {
            double *xp = want + (size_t)rot[i].p * len, *xq = want + (size_t)rot[i].q * len;
            for (int c = c_lo; c < c_hi; c++) {
                const double a = xp[c], b = xq[c];
                xp[c] = rot[i].c * a + rot[i].s * b;
                xq[c] = rot[i].c * b - rot[i].s * a;
            }
        }
        const long cut = n / 2 + (long)rng_below(&g, (uint32_t)(n / 2 + 1));
        static const matmul_isa isas[] = {MATMUL_ISA_PORTABLE, MATMUL_ISA_AVX2, MATMUL_ISA_AVX512};
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            matmul_set_isa(isas[k]); /* ignored on a CPU without it: then a repeat */
            memcpy(got, x0, size * sizeof *got);
            bidiag_apply_rots(got, len, c_lo, c_hi, rot, cut);
            bidiag_apply_rots(got, len, c_lo, c_hi, rot + cut, n - cut);
            size_t bad = 0;
            while (bad < size && memcmp(got + bad, want + bad, sizeof *got) == 0)
                bad++;
            CHECK(bad == size,
                  "bidiag_apply_rots %s, %d rows, columns [%d, %d) of %d, %ld rotations (seed "
                  "%llu): [%zu][%zu] is %.17g, one at a time gives %.17g",
                  matmul_isa_name(), rows, c_lo, c_hi, len, n, (unsigned long long)seed,
                  bad / (size_t)len, bad % (size_t)len, bad < size ? got[bad] : 0.0,
                  bad < size ? want[bad] : 0.0);
        }
        matmul_set_isa(MATMUL_ISA_AUTO);
    }
    free(x0);
    free(want);
    free(got);
    free(rot);
}

/* bidiag_rows and bidiag_reflect_block on the AVX2 path (kernels/bidiag_rows.c,
 * up to four rows side by side) against the portable path (one row at a
 * time, the plain C), bit for bit: `rows` rows of n entries. With_z 0:
 * every hb 0 and z NULL, as kernels/bidiag.h allows (under clang's UBSan
 * this checks that z is not offset then). On a CPU without AVX2 both
 * calls run the portable path. */
static void check_rows_kernels(int rows, int n, int with_z)
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
    for (int q = 0; !with_z && q < rows; q++)
        hb[q] = 0.0;
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
        bidiag_rows(wp, n, rows, with_z ? z : NULL, hb, v, 0.7, pass == 0 ? acc : acc2,
                    pass == 0 ? g : g2, n);
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
    const svd_options bidiag = {.route = SVD_ROUTE_BIDIAG};
    ld_status st = svd_ex(s, NULL, NULL, a, M, N, &bidiag, NULL, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "[5][7]") != NULL, "svd bidiag NaN: %d '%s'", (int)st,
          err);
    st = svd_bidiagonalise(d, e, g, p, a, 2, 1, err, sizeof err);
    CHECK(st == LD_EINPUT, "svd_bidiagonalise k > len: %d '%s'", (int)st, err);
    /* the QR's step limit (svd_options.max_sweeps on this route): five steps
     * cannot reduce 66 values; the steps the default took (rotations / 2)
     * are enough */
    a[5 * N + 7] = 0.5;
    svd_options lim = {.route = SVD_ROUTE_BIDIAG, .max_sweeps = 5};
    svd_info info = {0};
    st = svd_ex(s, NULL, NULL, a, M, N, &lim, &info, err, sizeof err);
    CHECK(st == LD_ESTATE && strstr(err, "within 5 steps") != NULL,
          "svd bidiag step limit 5: %d '%s'", (int)st, err);
    st = svd_ex(s, NULL, NULL, a, M, N, &bidiag, &info, err, sizeof err);
    lim.max_sweeps = (int)(info.rotations / 2);
    if (st == LD_OK)
        st = svd_ex(s, NULL, NULL, a, M, N, &lim, &info, err, sizeof err);
    CHECK(st == LD_OK && lim.max_sweeps > 5, "svd bidiag step limit %d (what it takes): %d '%s'",
          lim.max_sweeps, (int)st, err);
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
    check_bidiag_isa(RANDOM, 90, 70);
    check_bidiag_isa(RANDOM, 50, 120);
    check_bidiag_isa(RANDOM, 260, 200); /* several 64-column chunks and a full rotation buffer */
    check_bidiag_isa(ZERO_DIAGONAL, 200, 150);
    check_bidiag_isa(OUTER, 140, 260);
    /* rows, columns [c_lo, c_hi) of len: 2 and 3 rows; several 64-column
     * chunks and a tail; less than a chunk; a range that starts off a chunk */
    check_rots_kernel(2, 70, 0, 70, 300, 101);
    check_rots_kernel(3, 64, 0, 64, 500, 102);
    check_rots_kernel(17, 205, 0, 205, 3000, 103);
    check_rots_kernel(40, 150, 5, 144, 5000, 104);
    check_rots_kernel(150, 270, 3, 270, 20000, 105);
    check_rots_kernel(33, 40, 0, 40, 2000, 106);
    check_bidiag_threads(300, 280);
    check_bidiag_threads(280, 300);
    check_bidiag_threads(130, 131); /* three threads: 64, 64 and the rest */
    static const int row_counts[] = {1, 2, 3, 4, 5, 7, 9, 17};
    static const int lengths[] = {2, 3, 8, 9, 10, 17, 31, 100};
    for (size_t i = 0; i < sizeof row_counts / sizeof row_counts[0]; i++)
        for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++)
            check_rows_kernels(row_counts[i], lengths[j], 1);
    check_rows_kernels(5, 17, 0);
    check_route_choice();
    check_bidiag_errors();
}
