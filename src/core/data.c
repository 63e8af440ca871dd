/* data.c - data set storage and the dummy data generator.
 *
 * Dimension key: N samples, I in, O out.
 */
#include "core/data.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of X (N,I) and Y (N,O); -1 on overflow. */
static int xy_bytes(int n, int in, int out, size_t *nx, size_t *ny)
{
    return ld_mul3_size(nx, (size_t)n, (size_t)in, sizeof(float)) != 0 ||
                   ld_mul3_size(ny, (size_t)n, (size_t)out, sizeof(float)) != 0
               ? -1
               : 0;
}

int dataset_bytes(int n, int in, int out, size_t *bytes)
{
    size_t nx = 0, ny = 0;
    return xy_bytes(n, in, out, &nx, &ny) != 0 || ld_add_size(bytes, nx, ny) != 0 ? -1 : 0;
}

ld_status dataset_alloc(dataset *d, int n, int in, int out, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    size_t nx, ny;
    if (n <= 0 || in <= 0 || out <= 0)
        return ld_fail(err, errlen, LD_EINPUT, "invalid data set shape %d x (%d -> %d)", n, in, out);
    if (xy_bytes(n, in, out, &nx, &ny) != 0)
        return ld_fail(err, errlen, LD_ENOMEM, "a data set of %d samples (%d -> %d) does not fit in memory",
                       n, in, out);
    d->x = calloc(1, nx);
    d->y = calloc(1, ny);
    if (d->x == NULL || d->y == NULL) {
        dataset_free(d);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a data set of %d samples", n);
    }
    d->n = n;
    d->in = in;
    d->out = out;
    return LD_OK;
}

void dataset_free(dataset *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

void dataset_make_random(dataset *d, rng *r)
{
    rng_fill_normal(r, d->x, (size_t)d->n * (size_t)d->in);
    rng_fill_normal(r, d->y, (size_t)d->n * (size_t)d->out);
}
