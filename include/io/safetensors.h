/* safetensors.h - read and write the safetensors tensor file format.
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *
 *     8 bytes   N, the header length, unsigned 64-bit little-endian
 *     N bytes   UTF-8 JSON object, possibly padded with JSON whitespace
 *               before its '{' and after its '}' (the format text says
 *               it starts with '{', but the reference reader accepts
 *               leading whitespace and its tests say readers must):
 *                 { "__metadata__": {"key": "value", ...},          (optional)
 *                   "<name>": {"dtype": "F32", "shape": [2, 3],
 *                              "data_offsets": [begin, end]}, ... }
 *     rest      the data buffer; [begin, end) are byte offsets into it.
 *               Tensors are row-major and little-endian, do not overlap,
 *               and together cover the whole buffer.
 *
 * The reader (safetensors.c) keeps every tensor's dtype/shape/offsets
 * whatever its dtype, and converts F32 tensors to host floats on request
 * (st_get_f32). The writer (safetensors_write.c) writes F32 tensors only,
 * which is all lora_demo produces.
 *
 *     st_file f;
 *     if (st_load("adapter.safetensors", &f, err, sizeof err) != LD_OK) ...;
 *     float *w;  // (O, I)
 *     long long shape[2] = {O, I};
 *     st = st_get_f32(&f, "lora.A", 2, shape, &w, err, sizeof err);
 *     ...
 *     free(w);
 *     st_free(&f);
 */
#ifndef LORA_DEMO_SAFETENSORS_H
#define LORA_DEMO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Most dimensions a tensor may have, reading or writing. */
#define ST_MAX_NDIM 8
/* Largest header accepted, as in the reference implementation (100 MB). */
#define ST_MAX_HEADER_LEN 100000000ULL

/* Element types with a whole number of bytes per element. The reference
 * implementation's sub-byte types (F4, F6_E2M3, F6_E3M2) are rejected as
 * unknown. */
typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_F8_E8M0,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_I64,
    ST_U64,
    ST_F64,
    ST_C64,
    ST_NDTYPES
} st_dtype;

/* Header name ("F32") and element size in bytes of a dtype. */
const char *st_dtype_name(st_dtype dt);
size_t st_dtype_size(st_dtype dt);

/* The header key of the metadata, which no tensor may be called. */
#define ST_METADATA_KEY "__metadata__"

/* *out = prod(shape) * elem, the bytes of a tensor: 0 on success, -1 if it
 * does not fit in uint64_t. */
int st_byte_size(uint64_t *out, int ndim, const long long *shape, size_t elem);

/* ------------------------------------------------------------------------ */
/* Reading */

typedef struct {
    const char *name;               /* UTF-8, no NUL bytes, unique in the file */
    st_dtype dtype;
    int ndim;                       /* 0 (a scalar) .. ST_MAX_NDIM */
    long long shape[ST_MAX_NDIM];   /* (ndim), each >= 0 */
    size_t begin, end;              /* byte range [begin, end) of the data buffer */
} st_tensor;

typedef struct {
    const char *key;
    const char *value;
} st_kv;

typedef struct {
    char *label;                    /* file name used in messages (owned) */
    unsigned char *bytes;           /* owned storage behind data */
    const unsigned char *data;      /* (data_len) the data buffer */
    size_t data_len;
    st_tensor *tensors;             /* (n_tensors) in header order */
    size_t n_tensors;
    st_kv *meta;                    /* (n_meta) "__metadata__", in header order */
    size_t n_meta;
    char *strings;                  /* owned storage for names, keys, values */
} st_file;

/* Parse a whole safetensors file held in memory. The data buffer is copied,
 * so buf may be freed afterwards. label names the file in messages. Every
 * rule of the format is checked; a violation gives LD_EINPUT and
 * "<label>: <reason>". On failure *out is left empty (st_free is harmless). */
ld_status st_parse(const unsigned char *buf, size_t len, st_file *out, const char *label,
                   char *err, size_t errlen);

/* Read path and st_parse it (without a second copy of the data). A file that
 * cannot be read gives LD_EIO and "<path>: <strerror>". */
ld_status st_load(const char *path, st_file *out, char *err, size_t errlen);

/* Release everything st_parse/st_load allocated; *f is zeroed. */
void st_free(st_file *f);

/* The tensor called name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);

/* The raw little-endian bytes of t, (t->end - t->begin) of them. */
const unsigned char *st_tensor_bytes(const st_file *f, const st_tensor *t);

/* Copy the F32 tensor called name into a new host-order float array
 * (*out_owned, free() it). The tensor must exist, be F32 and have exactly
 * the given shape (ndim dims); otherwise LD_EINPUT naming the tensor and the
 * mismatch, and *out_owned is NULL. An empty tensor gives a non-NULL
 * allocation. */
ld_status st_get_f32(const st_file *f, const char *name, int ndim, const long long *shape,
                     float **out_owned, char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* Writing */

typedef struct {
    const char *name;               /* UTF-8, unique, not "__metadata__" */
    int ndim;                       /* 0 .. ST_MAX_NDIM */
    long long shape[ST_MAX_NDIM];   /* (ndim) */
    const float *data;              /* (prod(shape)) row-major; may be NULL if empty */
} st_f32_tensor;

/* Write n F32 tensors and n_meta metadata pairs to path atomically (a
 * temporary file renamed into place). Tensors are laid out contiguously in
 * the given order, little-endian whatever the host; the header is padded with
 * spaces so the data starts at an 8-byte aligned file offset. Bad arguments
 * (duplicate or invalid names, negative dims, ...) give LD_EINPUT; a write
 * failure gives LD_EIO and "<path>: <strerror>". */
ld_status st_write_f32(const char *path, const st_f32_tensor *tensors, size_t n,
                       const st_kv *meta, size_t n_meta, char *err, size_t errlen);

#endif /* LORA_DEMO_SAFETENSORS_H */
