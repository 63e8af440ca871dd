/* spectrum.c - effective ranks, energy captured and principal angles from
 * singular values and vectors; spectrum.h has the formulas.
 *
 * Dimension key: m rows, n columns; k singular values; r1, r2 basis sizes.
 */
#include "core/spectrum.h"

#include <math.h>
#include <stdlib.h>

#include "core/svd.h"

int spectrum_rank_threshold(const double *s, int k, double rtol)
{
    if (k < 1)
        return 0;
    const double cut = rtol * s[0];
    int n = 0;
    for (int i = 0; i < k; i++)
        if (s[i] > cut)
            n++;
    return n;
}

double spectrum_rank_entropy(const double *s, int k)
{
    double sum = 0.0;
    for (int i = 0; i < k; i++)
        sum += s[i];
    if (!(sum > 0.0))
        return 0.0;
    double h = 0.0;
    for (int i = 0; i < k; i++) {
        const double p = s[i] / sum;
        if (p > 0.0) /* 0 ln 0 = 0 */
            h -= p * log(p);
    }
    return exp(h);
}

double spectrum_energy(const double *u, int ld, int r, const double *d, int m, int n)
{
    /* ||D||_F^2, and ||U_r^T D||_F^2 one column of D at a time:
     * sum_j sum_c (u_c . d_col_j)^2 */
    double total = 0.0, kept = 0.0;
    for (size_t i = 0; i < (size_t)m * (size_t)n; i++)
        total += d[i] * d[i];
    for (int c = 0; c < r; c++) {
        for (int j = 0; j < n; j++) {
            double dot = 0.0;
            for (int i = 0; i < m; i++)
                dot += u[(size_t)i * (size_t)ld + (size_t)c] * d[(size_t)i * (size_t)n + (size_t)j];
            kept += dot * dot;
        }
    }
    if (!(total > 0.0))
        return NAN;
    return kept / total;
}

ld_status spectrum_angles(double *cosines, const double *u1, int ld1, int r1, const double *u2,
                          int ld2, int r2, int m, char *err, size_t errlen)
{
    if (m < 1 || r1 < 1 || r2 < 1 || r1 > ld1 || r2 > ld2)
        return ld_fail(err, errlen, LD_EINPUT,
                       "principal angles: bad sizes (m %d, r1 %d of %d, r2 %d of %d)", m, r1, ld1,
                       r2, ld2);
    double *c = malloc((size_t)r1 * (size_t)r2 * sizeof *c); /* (r1, r2) U1_r1^T U2_r2 */
    if (c == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for principal angles");
    for (int a = 0; a < r1; a++)
        for (int b = 0; b < r2; b++) {
            double dot = 0.0;
            for (int i = 0; i < m; i++)
                dot += u1[(size_t)i * (size_t)ld1 + (size_t)a] * u2[(size_t)i * (size_t)ld2 + (size_t)b];
            c[(size_t)a * (size_t)r2 + (size_t)b] = dot;
        }
    const ld_status st = svd(cosines, NULL, NULL, c, r1, r2, err, errlen);
    free(c);
    if (st != LD_OK)
        return st;
    const int q = r1 < r2 ? r1 : r2;
    for (int i = 0; i < q; i++)
        if (cosines[i] > 1.0)
            cosines[i] = 1.0;
    return LD_OK;
}
