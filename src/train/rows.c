/* rows.c - the MSE row by row, shared by the plain step and the closed form.
 *
 * Dimension key: O outputs of a row.
 *
 * Each row's squared error goes into 8 double lanes (output o into lane
 * o mod 8), summed in a fixed order (lanes_sum), and the rows are summed in
 * row order (sum_rows): so the loss is the same whatever the thread count,
 * and every path that forms a row's prediction the same way reports the
 * same loss bit for bit.
 */
#include <stddef.h>

#include "kernels/matmul.h"
#include "kernels/simd.h"
#include "paths.h"

/* One row: yh (O) is the prediction, before the bias if b is non-NULL (the
 * prediction is then yh + b, as linear_forward forms it). Writes
 * dy = g (pred - y) as mse_backward does; returns the row's sum of squares. */
ROW_INLINE double mse_row(float *restrict dy, const float *restrict yh, const float *restrict b,
                          const float *restrict y, float g, int O)
{
    double lanes[8] = {0};
    int o = 0;
    for (; o + 8 <= O; o += 8) {
        float p[8];
        for (int j = 0; j < 8; j++)
            p[j] = b != NULL ? yh[o + j] + b[o + j] : yh[o + j];
        for (int j = 0; j < 8; j++) {
            const double d = (double)p[j] - (double)y[o + j];
            lanes[j] += d * d;
        }
        for (int j = 0; j < 8; j++)
            dy[o + j] = g * (p[j] - y[o + j]);
    }
    for (int j = 0; o < O; o++, j++) {
        const float p = b != NULL ? yh[o] + b[o] : yh[o];
        const double d = (double)p - (double)y[o];
        lanes[j] += d * d;
        dy[o] = g * (p - y[o]);
    }
    return lanes_sum(lanes);
}

ROW_INLINE void mse_rows_body(double *row_sq, float *restrict dy, const float *restrict yh,
                              const float *restrict b, const float *restrict y, float g, int rows,
                              int O)
{
    for (int r = 0; r < rows; r++) {
        const size_t off = (size_t)r * O;
        row_sq[r] = mse_row(dy + off, yh + off, b, y + off, g, O);
    }
}

static void mse_rows_portable(double *row_sq, float *dy, const float *yh, const float *b,
                              const float *y, float g, int rows, int O)
{
    mse_rows_body(row_sq, dy, yh, b, y, g, rows, O);
}

#if LD_AVX2_PATH
LD_AVX2_TARGET static void mse_rows_avx2(double *row_sq, float *dy, const float *yh, const float *b,
                                         const float *y, float g, int rows, int O)
{
    mse_rows_body(row_sq, dy, yh, b, y, g, rows, O);
}
#endif

void mse_rows(double *row_sq, float *dy, const float *yh, const float *b, const float *y, float g,
              int rows, int O)
{
#if LD_AVX2_PATH
    if (matmul_isa_avx2()) {
        mse_rows_avx2(row_sq, dy, yh, b, y, g, rows, O);
        return;
    }
#endif
    mse_rows_portable(row_sq, dy, yh, b, y, g, rows, O);
}

double sum_rows(const double *r, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += r[i];
    return s;
}
