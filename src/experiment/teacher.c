/* teacher.c - the teacher tasks of the finetune experiment (see teacher.h).
 *
 * Dimension key: N samples, I in, O out, K rank of the task shift.
 */
#include "experiment/teacher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"

double frobenius(const float *a, int rows, int cols)
{
    double s = 0.0;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
        s += (double)a[i] * (double)a[i];
    return sqrt(s);
}

/* Fill q (n, k) with Gaussian columns and orthonormalise them in place by
 * modified Gram-Schmidt, twice over ("twice is enough": the second pass
 * removes what rounding left of the first). A column that comes out
 * (numerically) dependent on the earlier ones is drawn again. k <= n. */
static void orthonormal_columns(double *q, int n, int k, rng *r)
{
    for (int j = 0; j < k; j++) {
        for (;;) {
            for (int i = 0; i < n; i++)
                q[(size_t)i * k + j] = rng_normal(r);
            double norm0 = 0.0;
            for (int i = 0; i < n; i++)
                norm0 += q[(size_t)i * k + j] * q[(size_t)i * k + j];
            norm0 = sqrt(norm0);
            for (int pass = 0; pass < 2; pass++) {
                for (int p = 0; p < j; p++) {
                    double dot = 0.0;
                    for (int i = 0; i < n; i++)
                        dot += q[(size_t)i * k + p] * q[(size_t)i * k + j];
                    for (int i = 0; i < n; i++)
                        q[(size_t)i * k + j] -= dot * q[(size_t)i * k + p];
                }
            }
            double norm = 0.0;
            for (int i = 0; i < n; i++)
                norm += q[(size_t)i * k + j] * q[(size_t)i * k + j];
            norm = sqrt(norm);
            if (norm > 1e-6 * norm0 && norm > 0.0) {
                for (int i = 0; i < n; i++)
                    q[(size_t)i * k + j] /= norm;
                break;
            }
        }
    }
}

/* Bytes of the teacher's floats (W_base, b, dW, W_task2) and of U, V in
 * double; -1 on overflow. */
static int teacher_sizes(int in, int out, int k, size_t *bytes, size_t *uvbytes)
{
    const size_t I = (size_t)in, O = (size_t)out, K = (size_t)k;
    size_t nw = 0, total = 0, nuv = 0;
    /* one call per statement: each reads what the one before wrote */
    int bad = ld_mul_size(&nw, O, I);
    bad |= ld_mul_size(&total, nw, 3);
    bad |= ld_add_size(&total, total, O);
    bad |= ld_mul_size(bytes, total, sizeof(float));
    bad |= ld_mul_size(&nuv, I + O, K);
    bad |= ld_mul_size(uvbytes, nuv, sizeof(double));
    return bad ? -1 : 0;
}

int teacher_bytes(int in, int out, int k, size_t *bytes)
{
    size_t floats = 0, uv = 0;
    if (teacher_sizes(in, out, k, &floats, &uv) != 0)
        return -1;
    return ld_add_size(bytes, floats, uv) != 0 ? -1 : 0;
}

ld_status teacher_make(teacher *t, int in, int out, int k, rng *r_base, rng *r_delta, char *err,
                       size_t errlen)
{
    memset(t, 0, sizeof *t);
    const int kmax = in < out ? in : out;
    if (in <= 0 || out <= 0 || k < 1 || k > kmax)
        return ld_fail(err, errlen, LD_EINPUT, "delta rank %d is not in 1..min(in, out) = %d", k, kmax);
    size_t bytes = 0, uvbytes = 0;
    const int bad = teacher_sizes(in, out, k, &bytes, &uvbytes);
    const size_t I = (size_t)in, O = (size_t)out, K = (size_t)k, nw = O * I;
    if (bad)
        return ld_fail(err, errlen, LD_ENOMEM, "a %d x %d teacher does not fit in memory", out, in);
    /* calloc: every element is written below, but zeroed memory spares the
     * static analyzer a path it cannot rule out; never 0 bytes (in, out,
     * k >= 1), but calloc(0) may return NULL, so ask for at least one */
    t->mem = calloc(bytes > 0 ? bytes : 1, 1);
    double *uv = calloc(uvbytes > 0 ? uvbytes : 1, 1);
    if (t->mem == NULL || uv == NULL) {
        free(uv);
        teacher_free(t);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a %d x %d teacher", out, in);
    }
    t->in = in;
    t->out = out;
    t->k = k;
    t->w_base = t->mem;
    t->b = t->w_base + nw;
    t->dw = t->b + O;
    t->w_task2 = t->dw + nw;

    const double sd = 1.0 / sqrt((double)in);
    for (size_t i = 0; i < nw; i++)
        t->w_base[i] = (float)(sd * rng_normal(r_base));
    for (size_t o = 0; o < O; o++)
        t->b[o] = (float)(sd * rng_normal(r_base));

    double *u = uv;         /* (O,K) */
    double *v = uv + O * K; /* (I,K) */
    orthonormal_columns(u, out, k, r_delta);
    orthonormal_columns(v, in, k, r_delta);
    const double c = FINETUNE_DELTA_FRACTION * frobenius(t->w_base, out, in) / sqrt((double)k);
    for (size_t o = 0; o < O; o++) {
        for (size_t i = 0; i < I; i++) {
            double s = 0.0;
            for (size_t j = 0; j < K; j++)
                s += u[o * K + j] * v[i * K + j];
            t->dw[o * I + i] = (float)(c * s);
            t->w_task2[o * I + i] = t->w_base[o * I + i] + t->dw[o * I + i];
        }
    }
    free(uv);
    return LD_OK;
}

void teacher_free(teacher *t)
{
    free(t->mem);
    memset(t, 0, sizeof *t);
}

void teacher_make_data(dataset *d, const float *w, const float *b, double noise, rng *r)
{
    const size_t ny = (size_t)d->n * (size_t)d->out;
    rng_fill_normal(r, d->x, (size_t)d->n * (size_t)d->in);
    linear_forward(d->y, d->x, w, b, d->n, d->in, d->out, NULL);
    for (size_t i = 0; i < ny; i++)
        d->y[i] += (float)(noise * rng_normal(r));
}
