/* fixture.c - reader for tests/fixtures/<case>.ldfx (format: see fixture.h and
 * scripts/torch_reference.py). */
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGEN "regenerate with `make fixtures`"
#define MAX_FILE_BYTES (16u << 20) /* fixtures are a few KB; refuse anything huge */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} cursor;

static int take(cursor *c, size_t n, const unsigned char **out)
{
    if (c->len - c->pos < n)
        return -1;
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static int get_u32(cursor *c, uint32_t *v)
{
    const unsigned char *b;
    if (take(c, 4, &b) != 0)
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int get_f64(cursor *c, double *v)
{
    const unsigned char *b;
    if (take(c, 8, &b) != 0)
        return -1;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    memcpy(v, &u, sizeof *v);
    return 0;
}

/* Read the whole file into a new buffer. */
static ld_status read_all(const char *path, unsigned char **buf, size_t *len, char *err,
                          size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return ld_fail(err, errlen, LD_EIO, "%s: cannot open: %s; " REGEN, path, strerror(errno));
    size_t cap = 4096, n = 0;
    unsigned char *b = malloc(cap);
    while (b != NULL) {
        n += fread(b + n, 1, cap - n, fp);
        if (n < cap || cap >= MAX_FILE_BYTES)
            break;
        unsigned char *nb = realloc(b, cap * 2);
        if (nb == NULL) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int bad_read = ferror(fp);
    fclose(fp);
    if (b == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory reading it", path);
    if (bad_read) {
        free(b);
        return ld_fail(err, errlen, LD_EIO, "%s: read error; " REGEN, path);
    }
    if (n >= MAX_FILE_BYTES) {
        free(b);
        return ld_fail(err, errlen, LD_EINPUT, "%s: larger than %u bytes, not a fixture; " REGEN,
                       path, MAX_FILE_BYTES);
    }
    *buf = b;
    *len = n;
    return LD_OK;
}

/* Tensor k: its name, shape, dtype (version 2) and data, copied to
 * f->values (and f->values64) from *used (*used64) on. */
static ld_status parse_tensor(fixture *f, fixture_tensor *t, uint32_t k, const char *path,
                              cursor *c, size_t *used, size_t *used64, char *err, size_t errlen)
{
    uint32_t name_len, ndim, dtype = FIXTURE_F32;
    const unsigned char *name;
    if (get_u32(c, &name_len) != 0 || name_len == 0 || name_len > FIXTURE_MAX_NAME ||
        take(c, name_len, &name) != 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor %u: bad or truncated name; " REGEN, path,
                       (unsigned)k);
    memcpy(t->name, name, name_len);
    t->name[name_len] = '\0';
    if (get_u32(c, &ndim) != 0 || ndim < 1 || ndim > 2)
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor '%s': bad ndim; " REGEN, path, t->name);
    t->ndim = (int)ndim;
    t->dims[1] = 1;
    size_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t v;
        if (get_u32(c, &v) != 0 || v == 0 || v > 1000000u)
            return ld_fail(err, errlen, LD_EINPUT, "%s: tensor '%s': bad dimension; " REGEN, path,
                           t->name);
        t->dims[d] = (int)v;
        numel *= v; /* <= 1e12: no overflow in 64-bit size_t; checked below */
    }
    if (f->version >= 2 && (get_u32(c, &dtype) != 0 || dtype > FIXTURE_F64))
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor '%s': bad or missing dtype; " REGEN, path,
                       t->name);
    const size_t width = dtype == FIXTURE_F64 ? 8 : 4;
    const unsigned char *raw;
    if (numel > (c->len - c->pos) / width || take(c, numel * width, &raw) != 0)
        return ld_fail(err, errlen, LD_EINPUT, "%s: tensor '%s': data truncated; " REGEN, path,
                       t->name);
    t->numel = numel;
    t->dtype = (fixture_dtype)dtype;
    t->data = f->values + *used;
    t->data64 = dtype == FIXTURE_F64 ? f->values64 + *used64 : NULL;
    for (size_t i = 0; i < numel; i++) {
        uint64_t u = 0;
        for (size_t b = width; b-- > 0;)
            u = u << 8 | raw[width * i + b];
        if (t->data64 != NULL) {
            memcpy(&t->data64[i], &u, sizeof(double));
            t->data[i] = (float)t->data64[i];
        } else {
            const uint32_t u32 = (uint32_t)u;
            memcpy(&t->data[i], &u32, sizeof(float));
        }
    }
    *used += numel;
    if (t->data64 != NULL)
        *used64 += numel;
    return LD_OK;
}

static ld_status parse(fixture *f, const char *path, cursor *c, char *err, size_t errlen)
{
    const unsigned char *magic;
    if (take(c, 4, &magic) != 0 || memcmp(magic, FIXTURE_MAGIC, 4) != 0)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: bad magic number (want \"" FIXTURE_MAGIC "\"): not a lora_demo "
                       "fixture; " REGEN, path);
    uint32_t h[9];
    for (int i = 0; i < 9; i++)
        if (get_u32(c, &h[i]) != 0)
            return ld_fail(err, errlen, LD_EINPUT, "%s: truncated header; " REGEN, path);
    if (h[0] < FIXTURE_VERSION_MIN || h[0] > FIXTURE_VERSION_MAX)
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: fixture version %u, this reader reads %u to %u; " REGEN, path,
                       (unsigned)h[0], FIXTURE_VERSION_MIN, FIXTURE_VERSION_MAX);
    f->version = h[0];
    f->kind = h[1];
    if (f->kind > FIXTURE_SPECTRUM)
        return ld_fail(err, errlen, LD_EINPUT, "%s: unknown kind %u; " REGEN, path, (unsigned)h[1]);
    int *dims[] = {&f->in, &f->out, &f->rank, &f->samples, &f->batch, &f->epochs};
    for (int i = 0; i < 6; i++) {
        if (h[2 + i] > 1000000u)
            return ld_fail(err, errlen, LD_EINPUT, "%s: implausible header dimension %u; " REGEN,
                           path, (unsigned)h[2 + i]);
        *dims[i] = (int)h[2 + i];
    }
    if (h[8] > FIXTURE_MAX_TENSORS)
        return ld_fail(err, errlen, LD_EINPUT, "%s: %u tensors (at most %d); " REGEN, path,
                       (unsigned)h[8], FIXTURE_MAX_TENSORS);
    double *hyper[] = {&f->lr, &f->beta1, &f->beta2, &f->eps, &f->alpha, &f->scale};
    for (int i = 0; i < 6; i++)
        if (get_f64(c, hyper[i]) != 0)
            return ld_fail(err, errlen, LD_EINPUT, "%s: truncated header; " REGEN, path);

    /* every float of every tensor fits in len/4 floats, every double in
     * len/8 doubles */
    f->values = malloc((c->len / 4 + 1) * sizeof(float));
    f->values64 = malloc((c->len / 8 + 1) * sizeof(double));
    if (f->values == NULL || f->values64 == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
    size_t used = 0, used64 = 0;
    for (uint32_t k = 0; k < h[8]; k++) {
        ld_status st = parse_tensor(f, &f->tensors[k], k, path, c, &used, &used64, err, errlen);
        if (st != LD_OK)
            return st;
        f->n_tensors = (int)k + 1;
    }
    if (c->pos != c->len)
        return ld_fail(err, errlen, LD_EINPUT, "%s: %zu trailing bytes after the last tensor; " REGEN,
                       path, c->len - c->pos);
    return LD_OK;
}

ld_status fixture_load(fixture *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    unsigned char *buf = NULL;
    size_t len = 0;
    ld_status st = read_all(path, &buf, &len, err, errlen);
    if (st != LD_OK)
        return st;
    cursor c = {buf, len, 0};
    st = parse(f, path, &c, err, errlen);
    free(buf);
    if (st != LD_OK)
        fixture_free(f);
    return st;
}

void fixture_free(fixture *f)
{
    free(f->values);
    free(f->values64);
    memset(f, 0, sizeof *f);
}

const fixture_tensor *fixture_get(const fixture *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}
