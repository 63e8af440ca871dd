/* safetensors.c - the safetensors reader (full validation), and the dtype
 * table it shares with the writer (safetensors_write.c).
 *
 * The reader treats every file as hostile: the length prefix, the JSON
 * header and every tensor's dtype/shape/offsets are checked before anything
 * is indexed, with overflow-checked arithmetic, so a file that passes can be
 * read through its offsets without further bounds checks. The rules are those
 * of the reference implementation (huggingface/safetensors): header at most
 * 100 MB and a JSON object (JSON whitespace may come before its '{' and
 * after its '}'), unique names, known dtypes, byte size equal
 * to prod(shape) * dtype size, and tensors that neither overlap nor leave
 * holes in the data buffer.
 */
#include "io/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/infile.h"
#include "io/json.h"

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E8M0] = {"F8_E8M0", 1},
    [ST_I16] = {"I16", 2},         [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},       [ST_I32] = {"I32", 4},         [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},         [ST_I64] = {"I64", 8},         [ST_U64] = {"U64", 8},
    [ST_F64] = {"F64", 8},         [ST_C64] = {"C64", 8},
};

const char *st_dtype_name(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? DTYPES[dt].name : "?";
}

size_t st_dtype_size(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? DTYPES[dt].size : 0;
}

int st_byte_size(uint64_t *out, int ndim, const long long *shape, size_t elem)
{
    uint64_t total = elem;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && total > UINT64_MAX / d)
            return -1;
        total *= d;
    }
    *out = total;
    return 0;
}

/* ======================================================================== */
/* Small helpers */

static uint64_t get_le64(const unsigned char *b)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | b[i];
    return x;
}

/* "[2, 3]" into buf. */
static void format_shape(char *buf, size_t n, int ndim, const long long *shape)
{
    size_t o = 0;
    buf[0] = '\0';
    o += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* ======================================================================== */
/* Reader */

/* Everything a header check needs to build "<label>: tensor "x": reason". */
typedef struct {
    const char *label;
    char *err;
    size_t errlen;
} ctx;

LD_PRINTF(4, 5) static void tensor_fail_msg(const ctx *c, const char *name, size_t nlen,
                                            const char *fmt, ...)
{
    char q[80], reason[200];
    json_snippet(q, sizeof q, name, nlen);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ld_fail_msg(c->err, c->errlen, LD_EINPUT, "%s: tensor %s: %s", c->label, q, reason);
}

/* The message, then LD_EINPUT as the value, as ld_fail gives (status.h). */
#define tensor_fail(c, name, nlen, ...) (tensor_fail_msg((c), (name), (nlen), __VA_ARGS__), LD_EINPUT)

/* t->dtype from the tensor's "dtype" value. */
static ld_status parse_dtype(const ctx *c, const char *name, size_t nlen, const json_value *dtype,
                             st_tensor *t)
{
    if (json_type_of(dtype) != JSON_STRING)
        return tensor_fail(c, name, nlen, "\"dtype\" must be a string, not %s",
                           json_type_name(json_type_of(dtype)));
    for (int i = 0; i < ST_NDTYPES; i++)
        if (json_string_len(dtype) == strlen(DTYPES[i].name) &&
            strcmp(json_string(dtype), DTYPES[i].name) == 0) {
            t->dtype = (st_dtype)i;
            return LD_OK;
        }
    char q[40];
    json_snippet(q, sizeof q, json_string(dtype), json_string_len(dtype));
    return tensor_fail(c, name, nlen, "unknown dtype %s", q);
}

/* t->ndim and t->shape from the tensor's "shape" value. */
static ld_status parse_shape(const ctx *c, const char *name, size_t nlen, const json_value *shape,
                             st_tensor *t)
{
    if (json_type_of(shape) != JSON_ARRAY)
        return tensor_fail(c, name, nlen, "\"shape\" must be an array, not %s",
                           json_type_name(json_type_of(shape)));
    if (json_length(shape) > ST_MAX_NDIM)
        return tensor_fail(c, name, nlen, "shape has %zu dimensions, more than %d",
                           json_length(shape), ST_MAX_NDIM);
    t->ndim = (int)json_length(shape);
    for (int i = 0; i < t->ndim; i++) {
        const json_value *dim = json_at(shape, (size_t)i);
        uint64_t u;
        if (json_type_of(dim) != JSON_NUMBER)
            return tensor_fail(c, name, nlen, "shape[%d] must be a number, not %s", i,
                               json_type_name(json_type_of(dim)));
        if (!json_number_is_integer(dim))
            return tensor_fail(c, name, nlen, "shape[%d] must be an integer without fraction or exponent, got %.17g", i,
                               json_number(dim));
        if (json_number(dim) < 0 || (json_number(dim) == 0 && !json_number_u64(dim, &u)))
            return tensor_fail(c, name, nlen, "shape[%d] is negative", i);
        if (!json_number_u64(dim, &u) || u > (uint64_t)INT64_MAX)
            return tensor_fail(c, name, nlen, "shape[%d] = %.17g is too large", i, json_number(dim));
        t->shape[i] = (long long)u;
    }
    return LD_OK;
}

/* off[0] <= off[1] from the tensor's "data_offsets" value. */
static ld_status parse_offsets(const ctx *c, const char *name, size_t nlen, const json_value *offs,
                               uint64_t off[2])
{
    if (json_type_of(offs) != JSON_ARRAY || json_length(offs) != 2)
        return tensor_fail(c, name, nlen, "\"data_offsets\" must be an array of two integers");
    for (size_t i = 0; i < 2; i++) {
        const json_value *value = json_at(offs, i);
        if (json_number_u64(value, &off[i]))
            continue;
        if (json_type_of(value) != JSON_NUMBER)
            return tensor_fail(c, name, nlen, "data_offsets[%zu] must be a number, not %s", i,
                               json_type_name(json_type_of(value)));
        if (!json_number_is_integer(value))
            return tensor_fail(c, name, nlen, "data_offsets[%zu] is not an integer", i);
        if (json_number(value) <= 0)
            return tensor_fail(c, name, nlen, "data_offsets[%zu] is negative", i);
        return tensor_fail(c, name, nlen, "data_offsets[%zu] is too large", i);
    }
    if (off[0] > off[1])
        return tensor_fail(c, name, nlen, "data_offsets begin %llu is after end %llu",
                           (unsigned long long)off[0], (unsigned long long)off[1]);
    return LD_OK;
}

/* Fill t from the JSON description v of the tensor called name. */
static ld_status parse_tensor(const ctx *c, const char *name, size_t nlen, const json_value *v,
                              st_tensor *t)
{
    if (strlen(name) != nlen)
        return tensor_fail(c, name, nlen, "name contains a NUL byte");
    if (json_type_of(v) != JSON_OBJECT)
        return tensor_fail(c, name, nlen, "entry must be an object, not %s",
                           json_type_name(json_type_of(v)));
    /* Unknown extra keys are ignored, as the reference implementation does. */
    const json_value *dtype = json_get(v, "dtype");
    const json_value *shape = json_get(v, "shape");
    const json_value *offs = json_get(v, "data_offsets");
    if (dtype == NULL)
        return tensor_fail(c, name, nlen, "missing \"dtype\"");
    if (shape == NULL)
        return tensor_fail(c, name, nlen, "missing \"shape\"");
    if (offs == NULL)
        return tensor_fail(c, name, nlen, "missing \"data_offsets\"");
    uint64_t off[2];
    ld_status st = parse_dtype(c, name, nlen, dtype, t);
    if (st == LD_OK)
        st = parse_shape(c, name, nlen, shape, t);
    if (st == LD_OK)
        st = parse_offsets(c, name, nlen, offs, off);
    if (st != LD_OK)
        return st;

    char dims[160];
    uint64_t want;
    if (st_byte_size(&want, t->ndim, t->shape, st_dtype_size(t->dtype)) != 0) {
        format_shape(dims, sizeof dims, t->ndim, t->shape);
        return tensor_fail(c, name, nlen, "shape %s is too large", dims);
    }
    if (off[1] - off[0] != want) {
        format_shape(dims, sizeof dims, t->ndim, t->shape);
        return tensor_fail(c, name, nlen,
                           "data_offsets [%llu, %llu] hold %llu bytes but %s shape %s needs %llu",
                           (unsigned long long)off[0], (unsigned long long)off[1],
                           (unsigned long long)(off[1] - off[0]), st_dtype_name(t->dtype), dims,
                           (unsigned long long)want);
    }
    /* Checked against the data buffer by the caller; both fit in size_t
     * only once that check has passed, so keep them as u64 until then. */
    t->begin = (size_t)off[0];
    t->end = (size_t)off[1];
    if ((uint64_t)t->begin != off[0] || (uint64_t)t->end != off[1])
        return tensor_fail(c, name, nlen, "data_offsets end %llu is beyond the data buffer",
                           (unsigned long long)off[1]);
    return LD_OK;
}

static ld_status parse_metadata(const ctx *c, const json_value *m)
{
    if (json_type_of(m) != JSON_OBJECT)
        return ld_fail(c->err, c->errlen, LD_EINPUT, "%s: \"__metadata__\" must be an object, not %s",
                       c->label, json_type_name(json_type_of(m)));
    for (size_t i = 0; i < json_length(m); i++) {
        const char *k = json_key_at(m, i);
        size_t klen = json_key_len_at(m, i);
        const json_value *v = json_value_at(m, i);
        char q[80];
        json_snippet(q, sizeof q, k, klen);
        if (json_type_of(v) != JSON_STRING)
            return ld_fail(c->err, c->errlen, LD_EINPUT,
                           "%s: \"__metadata__\" value for %s must be a string, not %s", c->label, q,
                           json_type_name(json_type_of(v)));
        if (strlen(k) != klen || strlen(json_string(v)) != json_string_len(v))
            return ld_fail(c->err, c->errlen, LD_EINPUT,
                           "%s: \"__metadata__\" entry %s contains a NUL byte", c->label, q);
    }
    return LD_OK;
}

/* A tensor's byte range, for sorting the tensors by offset. */
typedef struct {
    size_t begin, end;
    size_t index; /* into st_file.tensors */
} span;

/* By offset; tensors with the same range stay in header order. */
static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Every byte of the data buffer must belong to exactly one tensor: sorted by
 * offset, each tensor starts where the previous one ended, and the last ends
 * at the end of the buffer. */
static ld_status check_layout(const ctx *c, const st_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->end > f->data_len)
            return tensor_fail(c, t->name, strlen(t->name),
                               "data_offsets end %zu is beyond the data buffer (%zu bytes)", t->end,
                               f->data_len);
    }
    if (f->n_tensors == 0) {
        if (f->data_len != 0)
            return ld_fail(c->err, c->errlen, LD_EINPUT,
                           "%s: data buffer bytes [0, %zu) are not covered by any tensor (hole)",
                           c->label, f->data_len);
        return LD_OK;
    }
    span *order = calloc(f->n_tensors, sizeof *order);
    if (order == NULL)
        return ld_fail(c->err, c->errlen, LD_ENOMEM, "%s: out of memory", c->label);
    for (size_t i = 0; i < f->n_tensors; i++) {
        order[i].begin = f->tensors[i].begin;
        order[i].end = f->tensors[i].end;
        order[i].index = i;
    }
    qsort(order, f->n_tensors, sizeof *order, cmp_span);
    ld_status st = LD_OK;
    size_t covered = 0;
    for (size_t i = 0; i < f->n_tensors && st == LD_OK; i++) {
        const st_tensor *t = &f->tensors[order[i].index];
        if (t->begin < covered) {
            const char *prev = f->tensors[order[i - 1].index].name;
            char q[80];
            json_snippet(q, sizeof q, prev, strlen(prev));
            st = tensor_fail(c, t->name, strlen(t->name), "data_offsets [%zu, %zu] overlap tensor %s",
                             t->begin, t->end, q);
        } else if (t->begin > covered) {
            st = ld_fail(c->err, c->errlen, LD_EINPUT,
                         "%s: data buffer bytes [%zu, %zu) are not covered by any tensor (hole)",
                         c->label, covered, t->begin);
        }
        covered = t->end;
    }
    if (st == LD_OK && covered != f->data_len)
        st = ld_fail(c->err, c->errlen, LD_EINPUT,
                     "%s: data buffer bytes [%zu, %zu) are not covered by any tensor (hole)", c->label,
                     covered, f->data_len);
    free(order);
    return st;
}

/* Copy the JSON header's tensors and metadata into f, with all their strings
 * in one allocation. */
static ld_status fill_from_header(const ctx *c, const json_value *root, st_file *f)
{
    const json_value *meta = json_get(root, ST_METADATA_KEY);
    size_t members = json_length(root);
    size_t n_meta = meta != NULL ? json_length(meta) : 0;
    size_t strbytes = 0;
    for (size_t i = 0; i < members; i++) {
        if (json_value_at(root, i) == meta)
            continue;
        /* Each string is at most as long as the header, so no overflow. */
        strbytes += json_key_len_at(root, i) + 1;
    }
    for (size_t i = 0; i < n_meta; i++)
        strbytes += json_key_len_at(meta, i) + 1 + json_string_len(json_value_at(meta, i)) + 1;

    f->n_tensors = members - (meta != NULL);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    f->meta = calloc(n_meta ? n_meta : 1, sizeof *f->meta);
    f->strings = malloc(strbytes ? strbytes : 1);
    if (f->tensors == NULL || f->meta == NULL || f->strings == NULL)
        return ld_fail(c->err, c->errlen, LD_ENOMEM, "%s: out of memory", c->label);

    char *s = f->strings;
    size_t k = 0;
    for (size_t i = 0; i < members; i++) {
        const json_value *v = json_value_at(root, i);
        if (v == meta)
            continue;
        const char *name = json_key_at(root, i);
        size_t nlen = json_key_len_at(root, i);
        ld_status st = parse_tensor(c, name, nlen, v, &f->tensors[k]);
        if (st != LD_OK)
            return st;
        memcpy(s, name, nlen + 1);
        f->tensors[k++].name = s;
        s += nlen + 1;
    }
    for (size_t i = 0; i < n_meta; i++) {
        const json_value *v = json_value_at(meta, i);
        size_t klen = json_key_len_at(meta, i), vlen = json_string_len(v);
        memcpy(s, json_key_at(meta, i), klen + 1);
        f->meta[i].key = s;
        s += klen + 1;
        memcpy(s, json_string(v), vlen + 1);
        f->meta[i].value = s;
        s += vlen + 1;
    }
    f->n_meta = n_meta;
    return LD_OK;
}

/* JSON whitespace (RFC 8259): what may stand before the header's '{'. */
static int is_json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The length prefix n, against the limit and the avail bytes after it. */
static ld_status check_header_len(const ctx *c, uint64_t n, size_t avail)
{
    if (n > ST_MAX_HEADER_LEN)
        return ld_fail(c->err, c->errlen, LD_EINPUT, "%s: header length %llu exceeds the %llu-byte limit",
                       c->label, (unsigned long long)n, ST_MAX_HEADER_LEN);
    if (n > avail)
        return ld_fail(c->err, c->errlen, LD_EINPUT,
                       "%s: header length %llu is larger than the %zu bytes after the length prefix",
                       c->label, (unsigned long long)n, avail);
    return LD_OK;
}

/* How the header hdr[0..n) starts: 1 if it starts like a JSON object (JSON
 * whitespace, then '{'), 0 if only whitespace was seen so far, -1 if
 * anything else comes first. The reference reader (serde_json::from_str in
 * safetensors/src/tensor.rs, test_whitespace_leading_padded_header) accepts
 * leading whitespace, so that writers can pad the header at either end. */
static int header_start(const unsigned char *hdr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_json_ws(hdr[i]))
            return hdr[i] == '{' ? 1 : -1;
    return 0;
}

static ld_status bad_start(const ctx *c)
{
    return ld_fail(c->err, c->errlen, LD_EINPUT,
                   "%s: header does not start with '{' (after optional JSON whitespace)", c->label);
}

/* The JSON header of the file in buf[0..len): the length prefix, then the
 * header itself, which must be an object. *header_len gets its length. */
static ld_status parse_header(const ctx *c, const unsigned char *buf, size_t len,
                              json_value **root, uint64_t *header_len)
{
    *root = NULL;
    if (len < 8)
        return ld_fail(c->err, c->errlen, LD_EINPUT,
                       "%s: file is %zu bytes, shorter than the 8-byte header length", c->label, len);
    const uint64_t n = get_le64(buf);
    ld_status st = check_header_len(c, n, len - 8);
    if (st != LD_OK)
        return st;
    /* Checked before the JSON, as st_load checks it before reading on: a
     * header that starts with '{' and parses is an object. */
    const unsigned char *hdr = buf + 8;
    if (header_start(hdr, (size_t)n) != 1)
        return bad_start(c);
    char jerr[200];
    st = json_parse((const char *)hdr, (size_t)n, root, jerr, sizeof jerr);
    if (st != LD_OK)
        return ld_fail(c->err, c->errlen, st, "%s: header is not valid JSON: %s", c->label, jerr);
    *header_len = n;
    return LD_OK;
}

/* f's data buffer: the bytes after the header, which are in f->bytes
 * already if owned, else copied there. */
static ld_status take_data(const ctx *c, const unsigned char *data, int owned, st_file *f)
{
    if (owned) {
        f->data = data;
        return LD_OK;
    }
    f->bytes = malloc(f->data_len ? f->data_len : 1);
    if (f->bytes == NULL)
        return ld_fail(c->err, c->errlen, LD_ENOMEM, "%s: out of memory", c->label);
    if (f->data_len > 0)
        memcpy(f->bytes, data, f->data_len);
    f->data = f->bytes;
    return LD_OK;
}

/* Shared by st_parse and st_load. If owned != NULL it is the malloc'd block
 * that buf points into, and f takes it over (freed by st_free, also on
 * failure); otherwise the data buffer is copied. */
static ld_status parse_buffer(const unsigned char *buf, size_t len, unsigned char *owned,
                              st_file *f, const char *label, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->bytes = owned;
    f->label = ld_strdup(label != NULL ? label : "(memory)");
    if (f->label == NULL) {
        st_free(f);
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", label != NULL ? label : "(memory)");
    }
    const ctx c = {f->label, err, errlen};
    json_value *root = NULL;
    uint64_t n = 0;
    ld_status st = parse_header(&c, buf, len, &root, &n);
    if (st == LD_OK) {
        f->data_len = len - 8 - (size_t)n;
        /* Metadata first: fill_from_header copies its values as strings. */
        const json_value *meta = json_get(root, ST_METADATA_KEY);
        if (meta != NULL)
            st = parse_metadata(&c, meta);
    }
    if (st == LD_OK)
        st = fill_from_header(&c, root, f);
    if (st == LD_OK)
        st = check_layout(&c, f);
    if (st == LD_OK)
        st = take_data(&c, buf + 8 + n, owned != NULL, f);
    json_free(root);
    if (st != LD_OK)
        st_free(f);
    return st;
}

ld_status st_parse(const unsigned char *buf, size_t len, st_file *out, const char *label,
                   char *err, size_t errlen)
{
    if (buf == NULL)
        len = 0;
    return parse_buffer(buf, len, NULL, out, label, err, errlen);
}

/* Read exactly n bytes of fp into dst: a file that ends early has changed
 * since its size was taken. */
static ld_status read_exact(FILE *fp, unsigned char *dst, size_t n, const char *path, char *err,
                            size_t errlen)
{
    errno = 0;
    if (fread(dst, 1, n, fp) == n)
        return LD_OK;
    if (ferror(fp))
        return ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno != 0 ? errno : EIO));
    return ld_fail(err, errlen, LD_EINPUT, "%s: the file got shorter while it was read", path);
}

/* Read the size bytes of fp into buf, checking as they come: the length
 * prefix before the header is read, the start of the header (a JSON
 * object, parse_header) before the rest of it and the data. */
static ld_status read_checked(FILE *fp, unsigned char *buf, size_t size, const ctx *c)
{
    if (size < 8) /* parse_header says so */
        return read_exact(fp, buf, size, c->label, c->err, c->errlen);
    ld_status st = read_exact(fp, buf, 8, c->label, c->err, c->errlen);
    if (st == LD_OK)
        st = check_header_len(c, get_le64(buf), size - 8);
    if (st != LD_OK)
        return st;
    const size_t hdr_end = 8 + (size_t)get_le64(buf);
    size_t pos = 8;
    int start = 0; /* header_start so far */
    while (pos < size) {
        /* The header in 64 KiB steps until its start is seen, then the rest. */
        size_t k = size - pos;
        if (start == 0 && k > 65536)
            k = 65536;
        st = read_exact(fp, buf + pos, k, c->label, c->err, c->errlen);
        if (st != LD_OK)
            return st;
        if (start == 0 && pos < hdr_end) {
            start = header_start(buf + pos, (k < hdr_end - pos ? k : hdr_end - pos));
            if (start < 0)
                return bad_start(c);
        }
        pos += k;
    }
    if (fgetc(fp) != EOF)
        return ld_fail(c->err, c->errlen, LD_EINPUT, "%s: the file grew while it was read", c->label);
    return LD_OK;
}

ld_status st_load(const char *path, st_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *fp;
    uint64_t size;
    ld_status st = infile_open(path, &fp, &size, err, errlen);
    if (st != LD_OK)
        return st;
    /* size <= INFILE_MAX_BYTES, so it fits in size_t. */
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
        fclose(fp);
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory reading the file", path);
    }
    const ctx c = {path, err, errlen};
    st = read_checked(fp, buf, (size_t)size, &c);
    fclose(fp);
    if (st != LD_OK) {
        free(buf);
        return st;
    }
    return parse_buffer(buf, (size_t)size, buf, out, path, err, errlen);
}

void st_free(st_file *f)
{
    if (f == NULL)
        return;
    free(f->label);
    free(f->bytes);
    free(f->tensors);
    free(f->meta);
    free(f->strings);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const unsigned char *st_tensor_bytes(const st_file *f, const st_tensor *t)
{
    return f->data + t->begin;
}

ld_status st_get_f32(const st_file *f, const char *name, int ndim, const long long *shape,
                     float **out_owned, char *err, size_t errlen)
{
    *out_owned = NULL;
    const char *label = f->label != NULL ? f->label : "(safetensors)";
    char q[80];
    json_snippet(q, sizeof q, name, strlen(name));
    const st_tensor *t = st_find(f, name);
    if (t == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "%s: no tensor named %s", label, q);
    if (t->dtype != ST_F32)
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s has dtype %s, expected F32", label, q,
                       st_dtype_name(t->dtype));
    int same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++)
        same = shape[i] == t->shape[i];
    if (!same) {
        char have[160], want[160];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim >= 0 && ndim <= ST_MAX_NDIM ? ndim : 0, shape);
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %s has shape %s, expected %s", label, q,
                       have, want);
    }
    size_t n = (t->end - t->begin) / 4;
    float *out = malloc(n ? n * sizeof *out : 1);
    if (out == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory reading tensor %s", label, q);
    const unsigned char *b = st_tensor_bytes(f, t);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                     (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        memcpy(&out[i], &u, sizeof u);
    }
    *out_owned = out;
    return LD_OK;
}
