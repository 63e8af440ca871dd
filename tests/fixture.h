/* fixture.h - reader for the PyTorch golden fixtures in tests/fixtures/.
 *
 * The files are written by scripts/torch_reference.py (`make fixtures`);
 * that script's docstring is the full specification. In short, version 1:
 *
 *     "LDFX"  u32 version  u32 kind  u32 in out rank samples batch epochs
 *     u32 n_tensors  f64 lr beta1 beta2 eps alpha scale           (88 bytes)
 *     n_tensors x { u32 name_len, name, u32 ndim, u32 dims[ndim],
 *                   f32 data[prod(dims)] }
 *
 * Version 2, written only for files that hold a float64 tensor (the SVD
 * fixtures), adds a u32 dtype after dims (0 float32, 1 float64) and stores
 * the data in that type. Both versions are read.
 *
 * Everything is little-endian; the reader assembles values byte by byte, so
 * it works on any host. A file with the wrong magic number or version, or a
 * truncated or inconsistent one, is rejected with a message that names the
 * file and `make fixtures`.
 */
#ifndef LORA_DEMO_FIXTURE_H
#define LORA_DEMO_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define FIXTURE_MAGIC "LDFX"
#define FIXTURE_VERSION_MIN 1u
#define FIXTURE_VERSION_MAX 2u
#define FIXTURE_MAX_NAME 63
#define FIXTURE_MAX_TENSORS 64

typedef enum {
    FIXTURE_DENSE = 0,     /* nn.Linear */
    FIXTURE_LORA = 1,      /* LoRA from scratch (no base) */
    FIXTURE_LORA_BASE = 2, /* LoRA on a frozen base */
    FIXTURE_ADAM = 3,      /* Adam alone on one tensor */
    FIXTURE_SVD = 4,       /* the SVD of a matrix; in = n, out = m */
    FIXTURE_SVD_LOWRANK = 5, /* the SVD of scale * B A; in = I, out = O, rank = R */
    FIXTURE_NET_DENSE = 6,     /* a --hidden network of nn.Linear; tensor "net" */
    FIXTURE_NET_LORA = 7,      /* the same with LoRA on every layer, from scratch */
    FIXTURE_NET_LORA_BASE = 8, /* ... on a frozen base */
    FIXTURE_SPECTRUM = 9, /* spectrum.h's measures; in = n, out = m, rank = q, samples = k */
} fixture_kind;

typedef enum { FIXTURE_F32 = 0, FIXTURE_F64 = 1 } fixture_dtype;

typedef struct {
    char name[FIXTURE_MAX_NAME + 1];
    int ndim;       /* 1 or 2 */
    int dims[2];    /* dims[1] is 1 when ndim == 1 */
    size_t numel;
    fixture_dtype dtype;
    float *data;    /* (dims[0], dims[1]) row-major; a float64 tensor rounded to float */
    double *data64; /* (dims[0], dims[1]) row-major, exact; NULL unless float64 */
} fixture_tensor;

typedef struct {
    uint32_t version, kind;
    int in, out, rank, samples, batch, epochs; /* kind 3: in = P, epochs = T */
    double lr, beta1, beta2, eps, alpha, scale;
    int n_tensors;
    fixture_tensor tensors[FIXTURE_MAX_TENSORS];
    float *values;    /* one allocation holding every tensor's data as float */
    double *values64; /* one allocation holding the float64 tensors' data */
} fixture;

/* Read and validate path. On failure returns LD_EIO (cannot read) or
 * LD_EINPUT (bad contents) with a message naming path and `make fixtures`,
 * and leaves f empty (fixture_free is still safe). */
ld_status fixture_load(fixture *f, const char *path, char *err, size_t errlen);
void fixture_free(fixture *f);

/* The tensor called name, or NULL. */
const fixture_tensor *fixture_get(const fixture *f, const char *name);

#endif /* LORA_DEMO_FIXTURE_H */
