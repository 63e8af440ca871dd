/* csv_write.c - write (X, Y) as a CSV table that csv.c reads back bit-exact.
 *
 * Dimension key: N samples (rows), I inputs, O outputs.
 */
#include "io/csv.h"

#include <math.h>
#include <stdio.h>

#include "io/atomicio.h"

ld_status csv_write_xy(const char *path, const float *x, const float *y, int n, int in,
                       int out, char *err, size_t errlen)
{
    if (n < 1 || in < 1 || out < 1 || x == NULL || y == NULL)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: nothing to write (n %d, in %d, out %d; each must be >= 1)", path,
                       n, in, out);
    size_t nx, ny;
    if (ld_mul_size(&nx, (size_t)n, (size_t)in) != 0 ||
        ld_mul_size(&ny, (size_t)n, (size_t)out) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: data too large", path);
    /* The reader rejects NaN/Inf, so refuse to write a file it cannot read. */
    for (size_t i = 0; i < nx; i++)
        if (!isfinite(x[i]))
            return ld_fail(err, errlen, LD_EINPUT, "%s: x[%zu][%zu] is not finite (%g)", path,
                           i / (size_t)in, i % (size_t)in, (double)x[i]);
    for (size_t i = 0; i < ny; i++)
        if (!isfinite(y[i]))
            return ld_fail(err, errlen, LD_EINPUT, "%s: y[%zu][%zu] is not finite (%g)", path,
                           i / (size_t)out, i % (size_t)out, (double)y[i]);

    atomic_file af;
    ld_status st = atomic_open(&af, path, err, errlen);
    if (st != LD_OK)
        return st;
    for (int k = 0; k < in; k++)
        fprintf(af.fp, "x%d,", k);
    for (int k = 0; k < out; k++)
        fprintf(af.fp, "y%d%c", k, k + 1 < out ? ',' : '\n');
    for (size_t r = 0; r < (size_t)n; r++) {
        /* %.9g: 9 significant digits identify every float uniquely. */
        for (size_t k = 0; k < (size_t)in; k++)
            fprintf(af.fp, "%.9g,", (double)x[r * (size_t)in + k]);
        for (size_t k = 0; k < (size_t)out; k++)
            fprintf(af.fp, "%.9g%c", (double)y[r * (size_t)out + k],
                    k + 1 < (size_t)out ? ',' : '\n');
        if (ferror(af.fp))
            break; /* atomic_commit reports it */
    }
    return atomic_commit(&af, err, errlen);
}
