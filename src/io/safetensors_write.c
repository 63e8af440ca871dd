/* safetensors_write.c - the safetensors writer: F32 tensors and string
 * metadata, in a file that the reader (safetensors.c) and the reference
 * implementation accept.
 */
#include "io/safetensors.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io/atomicio.h"
#include "io/json.h"
#include "io/utf8.h"

static void put_le64(unsigned char *b, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(x >> (8 * i));
}

static ld_status check_name(const char *path, const char *what, const char *s, char *err, size_t errlen)
{
    if (s == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s: %s is NULL", path, what);
    if (!utf8_valid(s, strlen(s))) {
        char q[80];
        json_snippet(q, sizeof q, s, strlen(s));
        return ld_fail(err, errlen, LD_EINPUT, "%s: %s %s is not valid UTF-8", path, what, q);
    }
    return LD_OK;
}

/* Everything the writer could be asked to do wrong is caught here, before
 * a file is opened. Duplicate checks are O(n^2): n is the handful of tensors
 * lora_demo itself saves. */
static ld_status check_write_args(const char *path, const st_f32_tensor *tensors, size_t n,
                                  const st_kv *meta, size_t n_meta, char *err, size_t errlen)
{
    ld_status st;
    if ((n > 0 && tensors == NULL) || (n_meta > 0 && meta == NULL))
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor or metadata list is NULL", path);
    for (size_t i = 0; i < n; i++) {
        const st_f32_tensor *t = &tensors[i];
        if ((st = check_name(path, "tensor name", t->name, err, errlen)) != LD_OK)
            return st;
        char q[80];
        json_snippet(q, sizeof q, t->name, strlen(t->name));
        if (strcmp(t->name, ST_METADATA_KEY) == 0)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor name %s is reserved", path, q);
        for (size_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return ld_fail(err, errlen, LD_EINPUT, "%s: duplicate tensor name %s", path, q);
        if (t->ndim < 0 || t->ndim > ST_MAX_NDIM)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s: ndim %d not in 0..%d", path, q,
                           t->ndim, ST_MAX_NDIM);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s: shape[%d] = %lld is negative",
                               path, q, d, t->shape[d]);
        uint64_t bytes;
        if (st_byte_size(&bytes, t->ndim, t->shape, 4) != 0 || bytes > SIZE_MAX)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s: shape is too large", path, q);
        if (bytes > 0 && t->data == NULL)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s: data is NULL", path, q);
    }
    for (size_t i = 0; i < n_meta; i++) {
        if ((st = check_name(path, "metadata key", meta[i].key, err, errlen)) != LD_OK ||
            (st = check_name(path, "metadata value", meta[i].value, err, errlen)) != LD_OK)
            return st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0) {
                char q[80];
                json_snippet(q, sizeof q, meta[i].key, strlen(meta[i].key));
                return ld_fail(err, errlen, LD_EINPUT, "%s: duplicate metadata key %s", path, q);
            }
    }
    /* Quoted strings alone are a lower bound on the header size: refuse an
     * oversized header before writing anything (st_write_f32 checks the
     * exact size again after escaping). */
    unsigned long long least = 0;
    for (size_t i = 0; i < n; i++)
        least += strlen(tensors[i].name) + 2;
    for (size_t i = 0; i < n_meta; i++)
        least += strlen(meta[i].key) + strlen(meta[i].value) + 4;
    if (least > ST_MAX_HEADER_LEN)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: header would be at least %llu bytes, over the %llu-byte limit", path, least,
                       ST_MAX_HEADER_LEN);
    return LD_OK;
}

static void write_header_json(FILE *fp, const st_f32_tensor *tensors, size_t n, const st_kv *meta,
                              size_t n_meta)
{
    fputc('{', fp);
    int first = 1;
    if (n_meta > 0) {
        json_write_string(fp, ST_METADATA_KEY);
        fputs(":{", fp);
        for (size_t i = 0; i < n_meta; i++) {
            if (i > 0)
                fputc(',', fp);
            json_write_string(fp, meta[i].key);
            fputc(':', fp);
            json_write_string(fp, meta[i].value);
        }
        fputc('}', fp);
        first = 0;
    }
    unsigned long long offset = 0;
    for (size_t i = 0; i < n; i++) {
        const st_f32_tensor *t = &tensors[i];
        uint64_t bytes = 0;
        st_byte_size(&bytes, t->ndim, t->shape, 4); /* cannot fail: checked */
        if (!first)
            fputc(',', fp);
        first = 0;
        json_write_string(fp, t->name);
        fputs(":{\"dtype\":\"F32\",\"shape\":[", fp);
        for (int d = 0; d < t->ndim; d++)
            fprintf(fp, "%s%lld", d ? "," : "", t->shape[d]);
        fprintf(fp, "],\"data_offsets\":[%llu,%llu]}", offset, offset + (unsigned long long)bytes);
        offset += bytes;
    }
    fputc('}', fp);
}

/* Little-endian float bytes, a chunk at a time. */
static int write_f32_le(FILE *fp, const float *x, size_t n)
{
    unsigned char chunk[4096] = {0}; /* only its first 4*m bytes are written, and those are set */
    size_t per = sizeof chunk / 4;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], sizeof u);
            chunk[4 * j] = (unsigned char)u;
            chunk[4 * j + 1] = (unsigned char)(u >> 8);
            chunk[4 * j + 2] = (unsigned char)(u >> 16);
            chunk[4 * j + 3] = (unsigned char)(u >> 24);
        }
        if (fwrite(chunk, 1, 4 * m, fp) != 4 * m)
            return -1;
    }
    return 0;
}

ld_status st_write_f32(const char *path, const st_f32_tensor *tensors, size_t n,
                       const st_kv *meta, size_t n_meta, char *err, size_t errlen)
{
    ld_status st = check_write_args(path, tensors, n, meta, n_meta, err, errlen);
    if (st != LD_OK)
        return st;
    atomic_file af;
    if ((st = atomic_open(&af, path, err, errlen)) != LD_OK)
        return st;
    FILE *fp = af.fp;
    errno = 0; /* so a failed write below reports its own errno, not a stale one */

    /* The header length is known only after writing the header, so write a
     * placeholder prefix, the JSON and its padding, then seek back. */
    unsigned char prefix[8] = {0};
    fwrite(prefix, 1, sizeof prefix, fp);
    write_header_json(fp, tensors, n, meta, n_meta);
    long end = ftell(fp);
    if (end < 8 || ferror(fp))
        goto io_error;
    /* Never write a file our own reader (and the reference) would refuse. */
    if ((unsigned long long)end - 8 > ST_MAX_HEADER_LEN - 7) {
        st = ld_fail(err, errlen, LD_EINPUT, "%s: header would be %ld bytes, over the %llu-byte limit",
                     path, end - 8, ST_MAX_HEADER_LEN);
        atomic_abort(&af);
        return st;
    }
    /* Pad with spaces (JSON whitespace) so 8 + N is a multiple of 8 and the
     * data buffer is aligned for whoever mmaps the file. */
    while (end % 8 != 0) {
        fputc(' ', fp);
        end++;
    }
    put_le64(prefix, (uint64_t)(end - 8));
    if (fseek(fp, 0, SEEK_SET) != 0 || fwrite(prefix, 1, sizeof prefix, fp) != sizeof prefix ||
        fseek(fp, 0, SEEK_END) != 0 || ferror(fp))
        goto io_error;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = 0;
        st_byte_size(&bytes, tensors[i].ndim, tensors[i].shape, 4);
        if (write_f32_le(fp, tensors[i].data, (size_t)bytes / 4) != 0)
            goto io_error;
    }
    return atomic_commit(&af, err, errlen);

io_error:
    st = ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno ? errno : EIO));
    atomic_abort(&af);
    return st;
}
