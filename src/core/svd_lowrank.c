/* svd_lowrank.c - the thin SVD of a LoRA update scale * B A without
 * forming the (O, I) product: an LQ step on each factor, then svd() of the
 * (R, R) core. svd.h states the contract; svd_parts.h what it borrows from
 * svd.c.
 *
 * Dimension key: O out, R rank, I in.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/svd.h"
#include "svd_parts.h"

enum { LR_BT, LR_AT, LR_TAU_B, LR_TAU_A, LR_CORE, LR_UC, LR_VTC, LR_ROW, LR_U, N_LR_PARTS };

/* bt (R, O) = B^T and at (R, I) = A in double: the rows are the vectors
 * that the LQ step reduces. LD_EINPUT naming an entry that is not finite. */
static ld_status load_factors(double *bt, double *at, const float *b, const float *a, int O, int R,
                              int I, char *err, size_t errlen)
{
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++) {
            if (!isfinite(b[(size_t)o * R + r]))
                return ld_fail(err, errlen, LD_EINPUT, "svd_lowrank: B[%d][%d] is not finite", o, r);
            bt[(size_t)r * O + o] = b[(size_t)o * R + r];
        }
    for (size_t i = 0; i < (size_t)R * I; i++) {
        if (!isfinite(a[i]))
            return ld_fail(err, errlen, LD_EINPUT, "svd_lowrank: A[%zu][%zu] is not finite",
                           i / (size_t)I, i % (size_t)I);
        at[i] = a[i];
    }
    return LD_OK;
}

/* core (R, R) = scale L_B^T L_A, from the factored bt (R, O) and at (R, I):
 * B^T = [L_B 0] H_B and A = [L_A 0] H_A, so
 *     s B A = H_B^T [s L_B^T L_A 0; 0 0] H_A.
 * Both L are lower triangular: only rows r >= max(i, j) add to (i, j). */
static void lowrank_core(double *core, const double *bt, const double *at, double scale, int O,
                         int R, int I)
{
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) {
            double v = 0.0;
            for (int r = i > j ? i : j; r < R; r++)
                v += bt[(size_t)r * O + i] * at[(size_t)r * I + j];
            core[(size_t)i * R + j] = scale * v;
        }
}

/* U = H_B^T [U_c; 0] and V^T = [V_c^T 0] H_A, one row of U^T or V^T at a
 * time through lq_apply. u (O, R) and vt (R, I) or NULL. */
static void lowrank_vectors(double *u, double *vt, double *const part[N_LR_PARTS], int O, int R,
                            int I)
{
    double *row = part[LR_ROW];
    for (int r = 0; r < R; r++) {
        memset(row, 0, (size_t)(O > I ? O : I) * sizeof *row);
        for (int i = 0; i < R; i++)
            row[i] = part[LR_UC][(size_t)i * R + r]; /* column r of U_c */
        svd_lq_apply(row, part[LR_BT], part[LR_TAU_B], R, O);
        for (int o = 0; o < O; o++)
            u[(size_t)o * R + r] = row[o];
        if (vt == NULL)
            continue;
        memset(row + R, 0, (size_t)(I - R) * sizeof *row);
        memcpy(row, part[LR_VTC] + (size_t)r * R, (size_t)R * sizeof *row);
        svd_lq_apply(row, part[LR_AT], part[LR_TAU_A], R, I);
        memcpy(vt + (size_t)r * I, row, (size_t)I * sizeof *row);
    }
    svd_fix_signs(u, vt, O, I, R);
}

static int lowrank_sizes(size_t size[N_LR_PARTS], int O, int R, int I, int vectors, int u_scratch)
{
    const size_t r = (size_t)R;
    memset(size, 0, N_LR_PARTS * sizeof size[0]);
    size[LR_TAU_B] = size[LR_TAU_A] = r;
    size[LR_CORE] = r * r; /* R <= min(O, I), and O R fits */
    if (vectors) {
        size[LR_UC] = size[LR_VTC] = r * r;
        size[LR_ROW] = (size_t)(O > I ? O : I);
    }
    return ld_mul_size(&size[LR_BT], r, (size_t)O) != 0 ||
           ld_mul_size(&size[LR_AT], r, (size_t)I) != 0 ||
           (u_scratch && ld_mul_size(&size[LR_U], (size_t)O, r) != 0);
}

ld_status svd_lowrank(double *s, double *u, double *vt, const float *b, const float *a,
                      double scale, int O, int R, int I, char *err, size_t errlen)
{
    if (O < 1 || R < 1 || I < 1 || R > O || R > I)
        return ld_fail(err, errlen, LD_EINPUT,
                       "svd_lowrank: B (%d, %d) and A (%d, %d) need 1 <= R <= min(O, I); for a "
                       "larger R form s B A and call svd", O, R, R, I);
    if (s == NULL || b == NULL || a == NULL || !isfinite(scale))
        return ld_fail(err, errlen, LD_EINPUT, "svd_lowrank: NULL s, B or A, or a scale that is not "
                       "finite");
    const int vectors = u != NULL || vt != NULL;
    size_t size[N_LR_PARTS];
    double *part[N_LR_PARTS];
    void *mem = NULL;
    char what[80];
    snprintf(what, sizeof what, "svd_lowrank of B (%d, %d) A (%d, %d)", O, R, R, I);
    const int overflow = lowrank_sizes(size, O, R, I, vectors, vt != NULL && u == NULL);
    ld_status st = svd_alloc_parts(&mem, part, size, N_LR_PARTS, overflow, what, err, errlen);
    if (st != LD_OK)
        return st;
    st = load_factors(part[LR_BT], part[LR_AT], b, a, O, R, I, err, errlen);
    if (st == LD_OK) {
        svd_lq_factor(part[LR_BT], part[LR_TAU_B], R, O);
        svd_lq_factor(part[LR_AT], part[LR_TAU_A], R, I);
        lowrank_core(part[LR_CORE], part[LR_BT], part[LR_AT], scale, O, R, I);
        for (size_t i = 0; i < size[LR_CORE] && st == LD_OK; i++)
            if (!isfinite(part[LR_CORE][i]))
                st = ld_fail(err, errlen, LD_EINPUT, "svd_lowrank: s B A overflows double (scale %g)",
                             scale);
    }
    if (st == LD_OK)
        st = svd(s, part[LR_UC], part[LR_VTC], part[LR_CORE], R, R, err, errlen);
    if (st == LD_OK && vectors)
        lowrank_vectors(u != NULL ? u : part[LR_U], vt, part, O, R, I);
    free(mem);
    return st;
}
