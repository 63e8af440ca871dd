/* linear.c - dense layer forward/backward and nn.Linear initialisation.
 *
 * Dimension key: N samples, I in features, O out features.
 */
#include "core/linear.h"

#include <math.h>
#include <stddef.h>

#include "kernels/matmul.h"

void linear_init(float *W, float *b, int I, int O, rng *r)
{
    const float bound = (float)(1.0 / sqrt((double)I));
    for (size_t i = 0; i < (size_t)O * (size_t)I; i++)
        W[i] = rng_uniform_range(r, -bound, bound);
    for (int o = 0; o < O; o++)
        b[o] = rng_uniform_range(r, -bound, bound);
}

void linear_forward(float *y, const float *x, const float *W, const float *b, int N, int I, int O,
                    pool *p)
{
    matmul_nt_mt(y, x, W, N, O, I, 0, p);
    if (b == NULL)
        return;
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * O;
        for (int o = 0; o < O; o++)
            yn[o] += b[o];
    }
}

void linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                     const float *W, int N, int I, int O, pool *p)
{
    matmul_tn_mt(dW, dy, x, O, I, N, 1, p);
    if (db != NULL) {
        for (int n = 0; n < N; n++) {
            const float *dyn = dy + (size_t)n * O;
            for (int o = 0; o < O; o++)
                db[o] += dyn[o];
        }
    }
    if (dx != NULL)
        matmul_nn_mt(dx, dy, W, N, I, O, 1, p);
}
