/* test_spectrum.c - effective ranks, energy captured and principal angles
 * (src/core/spectrum.c) against PyTorch, and on cases derived by hand.
 *
 * Dimension key: m rows, n columns; q the learned basis, k the shift's rank.
 *
 * tests/fixtures/spectrum_*.ldfx were written by scripts/torch_reference.py
 * (`make fixtures`): torch.linalg.svd of a learned matrix and of a shift,
 * and from them the two effective ranks, the shift's energy through the
 * projector U_q U_q^T, and the cosines as torch.linalg.svdvals(U_q^T U2_k).
 * Here the same measures come from lora_demo's own SVD (svd.h) and
 * spectrum.h, within SPECTRUM_TOL of torch's (both are float64; the SVDs
 * agree to 1e-13, docs/parity.md).
 */
#include <math.h>
#include <string.h>

#include "core/spectrum.h"
#include "core/svd.h"
#include "fixture.h"
#include "test.h"

#define FIXTURE_DIR "tests/fixtures/"
#define SPECTRUM_TOL 1e-9

static int close_to(double got, double want, double tol)
{
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* One fixture: learned (m, n), shift (m, n); q and k from the header. */
static void run_fixture_case(const char *name)
{
    char path[128], err[256];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.ldfx", name);
    fixture f;
    ld_status st = fixture_load(&f, path, err, sizeof err);
    CHECK(st == LD_OK, "%s", err);
    if (st != LD_OK)
        return;
    const int m = f.out, n = f.in, q = f.rank, k = f.samples, kk = m < n ? m : n;
    const fixture_tensor *learned = fixture_get(&f, "learned"), *shift = fixture_get(&f, "shift"),
                         *ts = fixture_get(&f, "s"), *thr = fixture_get(&f, "rank_threshold"),
                         *ent = fixture_get(&f, "rank_entropy"), *en = fixture_get(&f, "energy"),
                         *cs = fixture_get(&f, "cosines");
    CHECK(learned && shift && ts && thr && ent && en && cs && learned->data64 && shift->data64,
          "%s: tensors missing; regenerate with make fixtures", name);
    if (!(learned && shift && ts && thr && ent && en && cs && learned->data64 && shift->data64)) {
        fixture_free(&f);
        return;
    }
    double s[16], u[16 * 16], s2[16], u2[16 * 16], cosines[16];
    CHECK(kk <= 16 && m <= 16, "%s: too large for the test's arrays", name);
    st = svd(s, u, NULL, learned->data64, m, n, err, sizeof err);
    CHECK(st == LD_OK, "%s: svd: %s", name, err);
    st = svd(s2, u2, NULL, shift->data64, m, n, err, sizeof err);
    CHECK(st == LD_OK, "%s: svd of the shift: %s", name, err);
    for (int i = 0; i < kk; i++)
        CHECK(close_to(s[i], ts->data64[i], SPECTRUM_TOL), "%s: s[%d] %.17g, torch %.17g", name,
              i, s[i], ts->data64[i]);
    const int rt = spectrum_rank_threshold(s, kk, SPECTRUM_RANK_RTOL);
    CHECK(rt == (int)thr->data64[0], "%s: threshold rank %d, torch %g", name, rt, thr->data64[0]);
    const double re = spectrum_rank_entropy(s, kk);
    CHECK(close_to(re, ent->data64[0], SPECTRUM_TOL), "%s: entropy rank %.17g, torch %.17g", name,
          re, ent->data64[0]);
    const double e = spectrum_energy(u, kk, q, shift->data64, m, n);
    CHECK(close_to(e, en->data64[0], SPECTRUM_TOL), "%s: energy %.17g, torch %.17g", name, e,
          en->data64[0]);
    st = spectrum_angles(cosines, u, kk, q, u2, kk, k, m, err, sizeof err);
    CHECK(st == LD_OK, "%s: angles: %s", name, err);
    const int na = q < k ? q : k;
    CHECK(cs->numel == (size_t)na, "%s: %zu cosines in the fixture, want %d", name, cs->numel, na);
    for (int i = 0; i < na && (size_t)i < cs->numel; i++)
        CHECK(close_to(cosines[i], cs->data64[i], SPECTRUM_TOL), "%s: cos[%d] %.17g, torch %.17g",
              name, i, cosines[i], cs->data64[i]);
    fixture_free(&f);
}

/* The effective ranks of spectra whose answer is known. */
static void check_ranks(void)
{
    const double equal[4] = {2.0, 2.0, 2.0, 2.0};
    CHECK(spectrum_rank_threshold(equal, 4, SPECTRUM_RANK_RTOL) == 4, "equal values: rank 4");
    CHECK(close_to(spectrum_rank_entropy(equal, 4), 4.0, 1e-15), "equal values: entropy rank %.17g",
          spectrum_rank_entropy(equal, 4));
    const double one[3] = {5.0, 0.0, 0.0};
    CHECK(spectrum_rank_threshold(one, 3, SPECTRUM_RANK_RTOL) == 1, "rank one");
    CHECK(spectrum_rank_entropy(one, 3) == 1.0, "rank one: entropy rank %.17g",
          spectrum_rank_entropy(one, 3));
    /* p = (1/2, 1/4, 1/4): H = 1.5 ln 2, exp(H) = 2^1.5 */
    const double graded[3] = {2.0, 1.0, 1.0};
    CHECK(close_to(spectrum_rank_entropy(graded, 3), pow(2.0, 1.5), 1e-15),
          "(2, 1, 1): entropy rank %.17g, want 2^1.5", spectrum_rank_entropy(graded, 3));
    /* the threshold is strict: 1 % of the largest is not above it */
    const double edge[3] = {1.0, 0.0101, 0.01};
    CHECK(spectrum_rank_threshold(edge, 3, SPECTRUM_RANK_RTOL) == 2, "threshold is strict: %d",
          spectrum_rank_threshold(edge, 3, SPECTRUM_RANK_RTOL));
    const double zero[2] = {0.0, 0.0};
    CHECK(spectrum_rank_threshold(zero, 2, SPECTRUM_RANK_RTOL) == 0, "zero: threshold rank 0");
    CHECK(spectrum_rank_entropy(zero, 2) == 0.0, "zero: entropy rank 0");
    CHECK(spectrum_rank_threshold(zero, 0, SPECTRUM_RANK_RTOL) == 0, "no values: rank 0");
}

/* Energy through a known projector. */
static void check_energy(void)
{
    /* U = e1 in R^3 (ld 2: the second column is not used), D (3, 2) with
     * columns (3, 0, 0) and (0, 4, 0): e1 holds 9 of 25 */
    const double u[3 * 2] = {1.0, 0.0, 0.0, 1.0, 0.0, 0.0};
    const double d[3 * 2] = {3.0, 0.0, 0.0, 4.0, 0.0, 0.0};
    CHECK(close_to(spectrum_energy(u, 2, 1, d, 3, 2), 9.0 / 25.0, 1e-15), "energy 9/25: %.17g",
          spectrum_energy(u, 2, 1, d, 3, 2));
    CHECK(close_to(spectrum_energy(u, 2, 2, d, 3, 2), 1.0, 1e-15), "energy with e1, e2: %.17g",
          spectrum_energy(u, 2, 2, d, 3, 2));
    /* a rotated basis of the same plane captures the same */
    const double c = cos(0.3), s = sin(0.3);
    const double ur[3 * 2] = {c, -s, s, c, 0.0, 0.0};
    CHECK(close_to(spectrum_energy(ur, 2, 2, d, 3, 2), 1.0, 1e-15), "rotated basis: %.17g",
          spectrum_energy(ur, 2, 2, d, 3, 2));
    const double dz[3 * 2] = {0};
    CHECK(isnan(spectrum_energy(u, 2, 1, dz, 3, 2)), "energy of zero is NaN");
}

/* Principal angles of subspaces whose angles are known. */
static void check_angles(void)
{
    char err[256];
    double cs[3];
    /* e1, e2 against e3 in R^3: orthogonal */
    const double e12[3 * 2] = {1, 0, 0, 1, 0, 0};
    const double e3[3 * 1] = {0, 0, 1};
    CHECK(spectrum_angles(cs, e12, 2, 2, e3, 1, 1, 3, err, sizeof err) == LD_OK, "%s", err);
    CHECK(fabs(cs[0]) <= 1e-15, "orthogonal: cos %.17g", cs[0]);
    /* the same plane in another basis: both angles 0 */
    const double c = cos(0.7), s = sin(0.7);
    const double rot[3 * 2] = {c, -s, s, c, 0, 0};
    CHECK(spectrum_angles(cs, e12, 2, 2, rot, 2, 2, 3, err, sizeof err) == LD_OK, "%s", err);
    CHECK(close_to(cs[0], 1.0, 1e-15) && close_to(cs[1], 1.0, 1e-15), "same plane: %.17g %.17g",
          cs[0], cs[1]);
    CHECK(cs[0] <= 1.0 && cs[1] <= 1.0, "cosines are clamped to 1");
    /* e1 against cos t e1 + sin t e3: the angle t */
    const double t = 0.4;
    const double tilted[3 * 1] = {cos(t), 0, sin(t)};
    CHECK(spectrum_angles(cs, e12, 2, 1, tilted, 1, 1, 3, err, sizeof err) == LD_OK, "%s", err);
    CHECK(close_to(cs[0], cos(t), 1e-15), "angle 0.4: cos %.17g, want %.17g", cs[0], cos(t));
    /* the plane (e1, e2) against that line: it lies at angle t to the plane */
    CHECK(spectrum_angles(cs, e12, 2, 2, tilted, 1, 1, 3, err, sizeof err) == LD_OK, "%s", err);
    CHECK(close_to(cs[0], cos(t), 1e-15), "line to plane: cos %.17g", cs[0]);
    /* errors */
    CHECK(spectrum_angles(cs, e12, 2, 3, e3, 1, 1, 3, err, sizeof err) == LD_EINPUT &&
              strstr(err, "principal angles") != NULL,
          "r1 > ld1 is refused: %s", err);
    CHECK(spectrum_angles(cs, e12, 2, 0, e3, 1, 1, 3, err, sizeof err) == LD_EINPUT, "r1 = 0");
    const double bad[3 * 1] = {NAN, 0, 1};
    CHECK(spectrum_angles(cs, e12, 2, 2, bad, 1, 1, 3, err, sizeof err) == LD_EINPUT,
          "NaN is refused: %s", err);
}

void test_spectrum(void)
{
    run_fixture_case("spectrum_10x8_q3_k2");
    run_fixture_case("spectrum_5x12_q2_k3");
    check_ranks();
    check_energy();
    check_angles();
}
