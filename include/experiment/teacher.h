/* teacher.h - the two teacher tasks of the finetune experiment.
 *
 * Dimension key: N samples, I in, O out, K rank of the task shift.
 *
 * Task 1 (pretraining):  y = x W_base^T + b + noise * z
 * Task 2 (fine-tuning):  y = x (W_base + dW)^T + b + noise * z
 * with x ~ N(0, 1)^I and z ~ N(0, 1)^O, independent per sample.
 *
 * How the teacher is drawn (each from its own generator, see experiment.h):
 *   W_base (O,I), b (O): every entry N(0, 1/I), so each output of task 1
 *       has variance about 1 for x ~ N(0, I) (as nn.Linear's init would give
 *       the same order of magnitude).
 *   dW (O,I) = c U V^T of rank exactly K: U (O,K) and V (I,K) are Gaussian
 *       matrices whose columns are orthonormalised (modified Gram-Schmidt, in
 *       double, done twice), so dW's K nonzero singular values are all equal
 *       to c. c = FINETUNE_DELTA_FRACTION * ||W_base||_F / sqrt(K), so
 *       ||dW||_F = FINETUNE_DELTA_FRACTION * ||W_base||_F whatever K is.
 *   Because the singular values are equal, the best rank-r approximation of
 *   dW (r < K) leaves out exactly (K - r)/K of its energy: a LoRA update of
 *   rank r < K must leave a test MSE of at least
 *       noise^2 + (K - r)/K * ||dW||_F^2 / O
 *   on task 2 (x has identity covariance), while r >= K can reach noise^2.
 */
#ifndef LORA_DEMO_TEACHER_H
#define LORA_DEMO_TEACHER_H

#include "core/data.h"
#include "core/rng.h"
#include "status.h"

/* ||dW||_F / ||W_base||_F */
#define FINETUNE_DELTA_FRACTION 0.5

typedef struct {
    int in, out, k;
    float *mem;     /* one allocation for the four arrays below */
    float *w_base;  /* (O,I) task-1 weight */
    float *b;       /* (O) bias of both tasks */
    float *dw;      /* (O,I) the rank-K shift */
    float *w_task2; /* (O,I) W_base + dW */
} teacher;

/* Bytes teacher_make allocates (the four arrays, and U, V in double while
 * it draws them); -1 on overflow. */
int teacher_bytes(int in, int out, int k, size_t *bytes);

/* Draw the teacher: W_base then b from r_base, U then V from r_delta.
 * k must be 1..min(in, out) (LD_EINPUT otherwise). */
ld_status teacher_make(teacher *t, int in, int out, int k, rng *r_base, rng *r_delta, char *err,
                       size_t errlen);
void teacher_free(teacher *t);

/* Fill d (allocated, N x I -> O) with a sample of the task y = x w^T + b +
 * noise * z: all of X first (row-major standard normals), then all of Z. */
void teacher_make_data(dataset *d, const float *w, const float *b, double noise, rng *r);

/* Frobenius norm of a (rows, cols) matrix, accumulated in double. */
double frobenius(const float *a, int rows, int cols);

#endif /* LORA_DEMO_TEACHER_H */
