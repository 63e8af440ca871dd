/* data.h - a regression data set (X, Y) and the dummy data generator.
 *
 * Dimension key: N samples, I in, O out.
 */
#ifndef LORA_DEMO_DATA_H
#define LORA_DEMO_DATA_H

#include "core/rng.h"
#include "status.h"

typedef struct {
    int n, in, out;
    float *x; /* (N,I) */
    float *y; /* (N,O) */
} dataset;

/* Bytes dataset_alloc takes for n samples of in -> out; -1 on overflow. */
int dataset_bytes(int n, int in, int out, size_t *bytes);
/* Allocate (zeroed) storage for n samples; checks the size arithmetic. */
ld_status dataset_alloc(dataset *d, int n, int in, int out, char *err, size_t errlen);
void dataset_free(dataset *d);

/* The notebook's dummy data: X then Y filled with standard normals from r,
 * in row-major order (like torch.randn(N, I) followed by torch.randn(N, O)). */
void dataset_make_random(dataset *d, rng *r);

#endif /* LORA_DEMO_DATA_H */
