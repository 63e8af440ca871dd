/* test_safetensors.c - safetensors reader and writer.
 *
 * A file built byte by byte from the format description must parse; a file
 * from st_write_f32 must obey the format byte by byte and read back
 * bit-exactly; every rule the reader enforces has a malformed file that
 * breaks it and must give LD_EINPUT with a message naming the reason.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "io/infile.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

/* Read a whole file; NULL on failure. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        unsigned char *q = realloc(buf, cap * 2);
        if (q == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = q;
        cap *= 2;
    }
    fclose(fp);
    *len = n;
    return buf;
}

static int file_exists(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    fclose(fp);
    return 1;
}

/* Build "<8-byte LE length><header><data_len zero bytes>" (malloc'd). The
 * length prefix is header_len unless prefix_override is non-zero. */
static unsigned char *build_n(const char *header, size_t h, size_t data_len,
                              uint64_t prefix_override, size_t *len)
{
    uint64_t n = prefix_override ? prefix_override : h;
    *len = 8 + h + data_len;
    unsigned char *buf = calloc(*len, 1);
    if (buf == NULL)
        return NULL;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, h);
    return buf;
}

static unsigned char *build(const char *header, size_t data_len, uint64_t prefix_override,
                            size_t *len)
{
    return build_n(header, strlen(header), data_len, prefix_override, len);
}

static int is_zeroed(const st_file *f)
{
    return f->label == NULL && f->bytes == NULL && f->tensors == NULL && f->meta == NULL &&
           f->strings == NULL && f->n_tensors == 0 && f->n_meta == 0;
}

/* The file must be rejected: LD_EINPUT, "bad.st: ..." containing reason. */
static void reject_buf(const unsigned char *buf, size_t len, const char *reason, const char *what)
{
    st_file f;
    char err[512] = "";
    ld_status st = st_parse(buf, len, &f, "bad.st", err, sizeof err);
    CHECK(st == LD_EINPUT, "%s: expected LD_EINPUT, got %d (%s)", what, (int)st, err);
    CHECK(strncmp(err, "bad.st: ", 8) == 0, "%s: message should start with the file: '%s'", what, err);
    CHECK(strstr(err, reason) != NULL, "%s: message '%s' lacks '%s'", what, err, reason);
    CHECK(strchr(err, '\n') == NULL, "%s: message is not one line", what);
    CHECK(is_zeroed(&f), "%s: st_file not emptied on failure", what);
    if (st == LD_OK)
        st_free(&f);
}

static void reject(const char *header, size_t data_len, const char *reason)
{
    size_t len;
    unsigned char *buf = build(header, data_len, 0, &len);
    reject_buf(buf, len, reason, header);
    free(buf);
}

static void accept(const char *header, size_t data_len)
{
    size_t len;
    unsigned char *buf = build(header, data_len, 0, &len);
    st_file f;
    char err[512] = "";
    ld_status st = st_parse(buf, len, &f, "good.st", err, sizeof err);
    CHECK(st == LD_OK, "should parse: %s -> %s", header, err);
    st_free(&f);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* A known-good file, built by hand from the format description */

/* The value of metadata key in f (st_file.meta), or NULL. */
static const char *meta_value(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

static void test_handmade(void)
{
    /* 138 bytes of JSON + 6 spaces of padding = 144 = 0x90, so the data
     * starts at file offset 152, a multiple of 8. */
    static const char header[] =
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]},"
        "\"__metadata__\":{\"format\":\"pt\"}}      ";
    static const unsigned char prefix[8] = {0x90, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char data[11] = {
        0x00, 0x00, 0x80, 0x3f, /* w[0] =  1.0f = 0x3f800000, little-endian */
        0x00, 0x00, 0x00, 0xc0, /* w[1] = -2.0f = 0xc0000000 */
        0x01, 0x02, 0x03,       /* b = {1, 2, 3} */
    };
    CHECK(sizeof header - 1 == 0x90, "test header is %zu bytes, not 0x90", sizeof header - 1);

    size_t len = 8 + 0x90 + sizeof data;
    unsigned char *buf = malloc(len);
    if (buf == NULL)
        return;
    memcpy(buf, prefix, 8);
    memcpy(buf + 8, header, sizeof header - 1); /* the JSON without its NUL: 0x90 bytes */
    memcpy(buf + 8 + 0x90, data, sizeof data);

    st_file f;
    char err[512] = "";
    ld_status st = st_parse(buf, len, &f, "hand.st", err, sizeof err);
    /* st_parse copies what it keeps: the input may go away at once. */
    memset(buf, 0xAA, len);
    free(buf);
    CHECK(st == LD_OK, "hand-built file: %s", err);
    if (st != LD_OK)
        return;

    CHECK(f.n_tensors == 2 && f.n_meta == 1 && f.data_len == 11, "counts: %zu tensors, %zu meta, %zu data",
          f.n_tensors, f.n_meta, f.data_len);
    const st_tensor *w = st_find(&f, "w"), *b = st_find(&f, "b");
    CHECK(w != NULL && w == &f.tensors[0] && b == &f.tensors[1], "tensors in header order");
    if (w != NULL && b != NULL) {
        CHECK(w->dtype == ST_F32 && w->ndim == 1 && w->shape[0] == 2 && w->begin == 0 && w->end == 8,
              "w description");
        CHECK(b->dtype == ST_U8 && b->ndim == 1 && b->shape[0] == 3 && b->begin == 8 && b->end == 11,
              "b description");
        const unsigned char *raw = st_tensor_bytes(&f, b);
        CHECK(raw[0] == 1 && raw[1] == 2 && raw[2] == 3, "U8 bytes kept");
    }
    CHECK(st_find(&f, "nope") == NULL, "st_find of a missing name");
    CHECK(meta_value(&f, "format") != NULL && strcmp(meta_value(&f, "format"), "pt") == 0, "metadata");
    CHECK(meta_value(&f, "nope") == NULL, "missing metadata key");

    float *x = NULL;
    long long s2[1] = {2};
    st = st_get_f32(&f, "w", 1, s2, &x, err, sizeof err);
    CHECK(st == LD_OK && x != NULL && x[0] == 1.0f && x[1] == -2.0f, "w values: %s", err);
    free(x);

    /* st_get_f32 refuses the wrong dtype, shape or name, naming the tensor. */
    long long s3[1] = {3}, s21[2] = {2, 1};
    x = (float *)1;
    st = st_get_f32(&f, "b", 1, s3, &x, err, sizeof err);
    CHECK(st == LD_EINPUT && x == NULL && strstr(err, "hand.st: tensor \"b\" has dtype U8, expected F32"),
          "dtype mismatch: %s", err);
    st = st_get_f32(&f, "w", 1, s3, &x, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "tensor \"w\" has shape [2], expected [3]"), "shape mismatch: %s",
          err);
    st = st_get_f32(&f, "w", 2, s21, &x, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "has shape [2], expected [2, 1]"), "rank mismatch: %s", err);
    st = st_get_f32(&f, "zz", 1, s2, &x, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "hand.st: no tensor named \"zz\""), "not found: %s", err);

    st_free(&f);
    CHECK(is_zeroed(&f), "st_free zeroes");
    st_free(&f); /* twice is harmless */
}

/* ------------------------------------------------------------------------ */
/* Writer: round trip and byte layout */

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_roundtrip(void)
{
    const char *dir = test_tmpdir("safetensors");
    char *path = path_join(dir, "rt.safetensors");

    /* Values that lose information if anything goes through text or is
     * canonicalised: -0, a NaN with payload, infinities, subnormals. */
    float a[2 * 3] = {0.1f, -0.0f, from_bits(0x7fc00001u), INFINITY, -INFINITY, from_bits(1)};
    float s[1] = {FLT_MAX};
    float d4[1 * 2 * 1 * 3] = {1, 2, 3, 4, 5, 6};
    st_f32_tensor ts[] = {
        {"layer.0/lora_A \"quoted\"\n\xc3\xa9", 2, {2, 3}, a},
        {"scalar", 0, {0}, s},
        {"empty", 2, {0, 4}, NULL},
        {"four_d", 4, {1, 2, 1, 3}, d4},
    };
    size_t nt = sizeof ts / sizeof ts[0];
    st_kv meta[] = {{"format", "pt"}, {"note", "tab\there \"q\" \\ \xe2\x82\xac"}, {"", "empty key"}};
    char err[512] = "";
    ld_status st = st_write_f32(path, ts, nt, meta, 3, err, sizeof err);
    CHECK(st == LD_OK, "write: %s", err);

    st_file f;
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_OK, "load: %s", err);
    if (st == LD_OK) {
        CHECK(f.n_tensors == nt && f.n_meta == 3, "counts %zu %zu", f.n_tensors, f.n_meta);
        for (size_t i = 0; i < nt && i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            CHECK(strcmp(t->name, ts[i].name) == 0, "name %zu: '%s'", i, t->name);
            CHECK(t->dtype == ST_F32 && t->ndim == ts[i].ndim, "dtype/ndim of %s", ts[i].name);
            CHECK(memcmp(t->shape, ts[i].shape, (size_t)ts[i].ndim * sizeof t->shape[0]) == 0,
                  "shape of %s", ts[i].name);
            float *x = NULL;
            st = st_get_f32(&f, ts[i].name, ts[i].ndim, ts[i].shape, &x, err, sizeof err);
            size_t n = (t->end - t->begin) / 4;
            CHECK(st == LD_OK && x != NULL &&
                      (n == 0 || (ts[i].data != NULL && memcmp(x, ts[i].data, n * 4) == 0)),
                  "values of %s not bit-exact (%s)", ts[i].name, err);
            free(x);
        }
        for (size_t i = 0; i < 3; i++) {
            const char *v = meta_value(&f, meta[i].key);
            CHECK(v != NULL && strcmp(v, meta[i].value) == 0, "metadata '%s'", meta[i].key);
            CHECK(i >= f.n_meta || strcmp(f.meta[i].key, meta[i].key) == 0, "metadata order");
        }
        st_free(&f);
    }

    /* Now the raw bytes, checked against the format rules directly. */
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    CHECK(buf != NULL && len >= 8, "re-read written file");
    if (buf == NULL || len < 8) {
        free(buf);
        free(path);
        return;
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)buf[i] << (8 * i);
    CHECK(n <= len - 8, "header length %llu fits the file of %zu", (unsigned long long)n, len);
    if (n > len - 8) {
        free(buf);
        free(path);
        return;
    }
    CHECK((8 + n) % 8 == 0, "data starts at %llu, not 8-aligned", (unsigned long long)(8 + n));
    CHECK(buf[8] == '{', "header starts with '{'");
    size_t last = (size_t)n; /* index after the closing brace, within header */
    while (last > 0 && buf[8 + last - 1] == ' ')
        last--;
    CHECK(last > 0 && buf[8 + last - 1] == '}', "header ends with '}' then spaces only");
    CHECK(n - last < 8, "padding is %llu spaces, more than needed", (unsigned long long)(n - last));

    json_value *root = NULL;
    st = json_parse((const char *)buf + 8, (size_t)n, &root, err, sizeof err);
    CHECK(st == LD_OK && json_type_of(root) == JSON_OBJECT, "header JSON: %s", err);
    if (st == LD_OK) {
        const json_value *m = json_get(root, "__metadata__");
        CHECK(json_length(m) == 3 && strcmp(json_string(json_get(m, "note")), meta[1].value) == 0,
              "metadata object in header");
        uint64_t expect_begin = 0;
        for (size_t i = 0; i < nt; i++) {
            const json_value *t = json_get(root, ts[i].name);
            const json_value *sh = json_get(t, "shape"), *off = json_get(t, "data_offsets");
            uint64_t b = 0, e = 0, numel = 1;
            CHECK(strcmp(json_string(json_get(t, "dtype")), "F32") == 0, "dtype of %s", ts[i].name);
            CHECK(json_length(sh) == (size_t)ts[i].ndim, "ndim of %s", ts[i].name);
            for (int d = 0; d < ts[i].ndim; d++) {
                uint64_t v = 0;
                CHECK(json_number_u64(json_at(sh, (size_t)d), &v) && v == (uint64_t)ts[i].shape[d],
                      "dim %d of %s", d, ts[i].name);
                numel *= (uint64_t)ts[i].shape[d];
            }
            CHECK(json_length(off) == 2 && json_number_u64(json_at(off, 0), &b) &&
                      json_number_u64(json_at(off, 1), &e),
                  "data_offsets of %s", ts[i].name);
            CHECK(b == expect_begin, "%s begins at %llu, want %llu (contiguous, in order)", ts[i].name,
                  (unsigned long long)b, (unsigned long long)expect_begin);
            CHECK(e - b == 4 * numel, "%s holds %llu bytes", ts[i].name, (unsigned long long)(e - b));
            expect_begin = e;
        }
        CHECK(expect_begin == len - 8 - n, "tensors cover the %llu-byte data buffer exactly",
              (unsigned long long)(len - 8 - n));
        /* Little-endian element bytes: 0.1f = 0x3dcccccd, -0.0f = 0x80000000. */
        const unsigned char *data = buf + 8 + n;
        static const unsigned char want[8] = {0xcd, 0xcc, 0xcc, 0x3d, 0x00, 0x00, 0x00, 0x80};
        CHECK(memcmp(data, want, 8) == 0, "first elements not little-endian 0.1f, -0.0f");
    }
    json_free(root);
    free(buf);

    /* An empty file list is a valid file too: "{}" padded, no data. */
    st = st_write_f32(path, NULL, 0, NULL, 0, err, sizeof err);
    CHECK(st == LD_OK, "empty write: %s", err);
    buf = slurp(path, &len);
    CHECK(buf != NULL && len == 16 && buf[0] == 8 && memcmp(buf + 8, "{}      ", 8) == 0,
          "empty file layout");
    free(buf);
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_OK && f.n_tensors == 0 && f.data_len == 0, "empty file loads: %s", err);
    st_free(&f);
    free(path);
}

static void test_writer_rejects(void)
{
    const char *dir = test_tmpdir("safetensors_w");
    char *path = path_join(dir, "w.safetensors");
    float x[4] = {1, 2, 3, 4};
    char err[512];
    struct {
        st_f32_tensor t[2];
        size_t n;
        const char *reason;
    } cases[] = {
        {{{"a", 1, {4}, x}, {"a", 1, {4}, x}}, 2, "duplicate tensor name \"a\""},
        {{{"__metadata__", 1, {4}, x}}, 1, "tensor name \"__metadata__\" is reserved"},
        {{{"a", 1, {-4}, x}}, 1, "shape[0] = -4 is negative"},
        {{{"a", 9, {1}, x}}, 1, "ndim 9 not in 0..8"},
        {{{"a", -1, {1}, x}}, 1, "ndim -1 not in 0..8"},
        {{{"a\xff", 1, {4}, x}}, 1, "is not valid UTF-8"},
        {{{NULL, 1, {4}, x}}, 1, "tensor name is NULL"},
        {{{"a", 1, {4}, NULL}}, 1, "data is NULL"},
        {{{"a", 3, {1LL << 40, 1LL << 40, 1LL << 40}, x}}, 1, "shape is too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        ld_status st = st_write_f32(path, cases[i].t, cases[i].n, NULL, 0, err, sizeof err);
        CHECK(st == LD_EINPUT && strstr(err, cases[i].reason) != NULL && strstr(err, path) != NULL,
              "writer case %zu: st=%d '%s' lacks '%s'", i, (int)st, err, cases[i].reason);
        CHECK(!file_exists(path), "writer case %zu left a file", i);
    }
    st_f32_tensor ok = {"a", 1, {4}, x};
    st_kv dup[2] = {{"k", "1"}, {"k", "2"}};
    ld_status st = st_write_f32(path, &ok, 1, dup, 2, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "duplicate metadata key \"k\""), "dup meta: %s", err);
    st_kv badv = {"k", "\xc3"};
    st = st_write_f32(path, &ok, 1, &badv, 1, err, sizeof err);
    CHECK(st == LD_EINPUT && strstr(err, "metadata value \"\xc3\" is not valid UTF-8"), "bad meta: %s", err);

    /* A header over the 100 MB limit is refused before anything is kept. */
    size_t big = (size_t)60 * 1000 * 1000;
    char *n1 = malloc(big + 1), *n2 = malloc(big + 1);
    if (n1 != NULL && n2 != NULL) {
        memset(n1, 'a', big);
        memset(n2, 'b', big);
        n1[big] = n2[big] = '\0';
        st_f32_tensor huge[2] = {{n1, 0, {0}, x}, {n2, 0, {0}, x}};
        st = st_write_f32(path, huge, 2, NULL, 0, err, sizeof err);
        CHECK(st == LD_EINPUT && strstr(err, "over the 100000000-byte limit"), "huge header: %s", err);
        CHECK(!file_exists(path), "huge header left a file");
    }
    free(n1);
    free(n2);

    /* I/O failure: LD_EIO naming the path. */
    char *missing = path_join(dir, "no/such/dir/w.safetensors");
    st = st_write_f32(missing, &ok, 1, NULL, 0, err, sizeof err);
    CHECK(st == LD_EIO && strstr(err, "no/such/dir") != NULL, "unwritable path: %s", err);
    free(missing);

    /* Reading a missing file: LD_EIO with the path; a bad file on disk:
     * LD_EINPUT with the path as the label. */
    st_file f;
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_EIO && strstr(err, path) != NULL && is_zeroed(&f), "load missing: %s", err);
    CHECK(atomic_write_bytes(path, "\x02\0\0\0\0\0\0\0{}", 10, err, sizeof err) == LD_OK, "fixture");
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_OK && f.n_tensors == 0, "minimal {} file: %s", err);
    st_free(&f);
    CHECK(atomic_write_bytes(path, "\x02\0\0\0\0\0\0\0{}x", 11, err, sizeof err) == LD_OK, "fixture");
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_EINPUT && strncmp(err, path, strlen(path)) == 0 && strstr(err, "hole"),
          "bad file on disk: %s", err);
    free(path);
}

/* ------------------------------------------------------------------------ */
/* Reader: one malformed file per rule */

#define T(body) "{\"t\":{" body "}}"

static void test_reader_rejects(void)
{
    /* Framing. */
    unsigned char tiny[7] = {2, 0, 0, 0, 0, 0, 0};
    reject_buf(tiny, sizeof tiny, "file is 7 bytes, shorter than the 8-byte header length", "7 bytes");
    reject_buf(tiny, 0, "file is 0 bytes", "0 bytes");
    size_t len;
    unsigned char *buf = build("{}", 0, 100, &len);
    reject_buf(buf, len, "header length 100 is larger than the 2 bytes after the length prefix",
               "length past end");
    free(buf);
    buf = build("{}", 0, 100000001, &len);
    reject_buf(buf, len, "header length 100000001 exceeds the 100000000-byte limit", "100 MB");
    free(buf);
    buf = build("{}", 0, UINT64_MAX, &len);
    reject_buf(buf, len, "exceeds the 100000000-byte limit", "2^64-1");
    free(buf);

    /* The header as a whole. */
    reject("{\"t\":", 0, "header is not valid JSON: invalid JSON at byte 5: unexpected end of input");
    reject("{\"\xff\":1}", 0, "header is not valid JSON: invalid JSON at byte 2: invalid UTF-8");
    reject("[]", 0, "header does not start with '{'");
    reject("\"{}\"", 0, "header does not start with '{'");
    reject(" \t[]", 0, "header does not start with '{'");
    reject("   ", 0, "header does not start with '{'");
    reject("", 0, "header does not start with '{'");
    /* JSON whitespace only: a vertical tab or a NUL is not. */
    reject("\v{}", 0, "header does not start with '{'");
    buf = build_n("\0{}", 3, 0, 0, &len);
    reject_buf(buf, len, "header does not start with '{'", "NUL before '{'");
    free(buf);
    /* Padding must be spaces: NUL bytes are not JSON whitespace. */
    buf = build_n("{}\0\0\0\0\0\0", 8, 0, 0, &len);
    reject_buf(buf, len, "header is not valid JSON: invalid JSON at byte 2: trailing characters",
               "NUL padding");
    free(buf);

    /* A tensor entry. */
    reject("{\"t\":1}", 0, "tensor \"t\": entry must be an object, not number");
    reject(T("\"shape\":[1],\"data_offsets\":[0,4]"), 4, "tensor \"t\": missing \"dtype\"");
    reject(T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, "tensor \"t\": missing \"shape\"");
    reject(T("\"dtype\":\"F32\",\"shape\":[1]"), 4, "tensor \"t\": missing \"data_offsets\"");
    reject(T("\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]"), 4, "\"dtype\" must be a string, not number");
    reject(T("\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, "unknown dtype \"F33\"");
    reject(T("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, "unknown dtype \"f32\"");
    reject(T("\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]"), 1, "unknown dtype \"F4\"");
    reject(T("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]"), 4, "\"shape\" must be an array, not object");
    reject(T("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4, "shape[0] must be a number, not string");
    reject(T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, "shape[0] is negative");
    reject(T("\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]"), 0, "shape[0] is negative");
    reject(T("\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]"), 4, "shape[1] must be an integer without fraction or exponent, got 2.5");
    reject(T("\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]"), 4, "shape[0] must be an integer without fraction or exponent, got 1");
    reject(T("\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,4]"), 4, "shape[0] must be an integer without fraction or exponent, got 1e+30");
    reject(T("\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]"), 4,
           "shape[0] = 1e+20 is too large");
    reject(T("\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]"), 4,
           "shape[0] = 9.2233720368547758e+18 is too large");
    reject(T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]"), 4,
           "shape [4294967296, 4294967296, 4294967296] is too large");
    reject(T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1,
           "shape has 9 dimensions, more than 8");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\""), 4,
           "\"data_offsets\" must be an array of two integers");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]"), 4,
           "\"data_offsets\" must be an array of two integers");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 8,
           "\"data_offsets\" must be an array of two integers");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[null,4]"), 4,
           "data_offsets[0] must be a number, not null");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 4, "data_offsets[0] is negative");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]"), 4, "data_offsets[1] is not an integer");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]"), 4,
           "data_offsets[1] is too large");

    /* Sizes and offsets. */
    reject(T("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 8,
           "data_offsets [0, 8] hold 8 bytes but F32 shape [3] needs 12");
    reject(T("\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]"), 4,
           "hold 4 bytes but BF16 shape [2, 2] needs 8");
    reject(T("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]"), 8, "data_offsets begin 8 is after end 0");
    reject(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4,
           "tensor \"t\": data_offsets end 8 is beyond the data buffer (4 bytes)");
    /* Offsets near 2^64: the size check must not wrap around. */
    reject(T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[18446744073709551612,18446744073709551616]"), 4,
           "data_offsets[1] is too large");
    reject(T("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[18446744073709551611,18446744073709551615]"), 4,
           "is beyond the data buffer");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\"");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           8, "overlap tensor");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
           16, "tensor \"z\": data_offsets [8, 8] overlap tensor \"a\"");
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
           12, "data buffer bytes [4, 8) are not covered by any tensor (hole)");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]"), 8,
           "data buffer bytes [0, 4) are not covered by any tensor (hole)");
    reject(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 8,
           "data buffer bytes [4, 8) are not covered by any tensor (hole)");
    reject("{}", 3, "data buffer bytes [0, 3) are not covered by any tensor (hole)");

    /* Names and metadata. */
    reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           8, "duplicate object key \"a\"");
    reject("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "tensor \"a\\x00b\": name contains a NUL byte");
    reject("{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\" value for \"k\" must be a string, not number");
    reject("{\"__metadata__\":{\"k\":\"v\",\"j\":[\"x\"]}}", 0, "value for \"j\" must be a string, not array");
    reject("{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object, not array");
    reject("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0, "\"__metadata__\" entry \"k\" contains a NUL byte");
    reject("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate object key \"__metadata__\"");

    /* A hostile name cannot break the message onto two lines. */
    reject("{\"x\\ny\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,5]}}", 5, "tensor \"x\\x0ay\"");

    /* And what the rules allow. */
    accept(T("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4);              /* scalar */
    accept(T("\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]"), 0);           /* empty */
    accept(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1"), 4); /* extra key */
    accept("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
           "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
           "\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
           "\"__metadata__\":{}}     \n\t ",
           8);
    /* JSON whitespace before the '{' and after the '}', as the reference
     * reader accepts (safetensors/src/tensor.rs, test_whitespace_padded_header
     * and test_whitespace_leading_padded_header, whose bytes these are). */
    accept("\x09\x0A{}\x0D\x20", 0);
    accept("{}\x0D\x20\x09\x0A", 0);
    accept("  \n\t\r" T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4);
    accept("{\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[2,10]},"
           "\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}",
           10); /* header order need not be offset order */
}

/* st_load reads bounded: a file over the limit is refused before it is
 * read, and a header that does not start like a JSON object is refused
 * having read little more than its first bytes. */
static void test_bounded_reads(void)
{
    const char *dir = test_tmpdir("safetensors_bounded");
    char path[600], err[512] = "", want[800];
    st_file f;

    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    CHECK(test_sparse_file(path, "\2\0\0\0\0\0\0\0{}", 10, (long long)INFILE_MAX_BYTES + 1) == 0,
          "could not make %s", path);
    ld_status st = st_load(path, &f, err, sizeof err);
    snprintf(want, sizeof want, "%s: file is 1073741825 bytes, more than the 1073741824-byte limit of an input file",
             path);
    CHECK(st == LD_EINPUT && strcmp(err, want) == 0 && is_zeroed(&f), "over the limit: %s", err);
    remove(path);

    /* A 50 MB header (0x02FAF080) of NUL bytes after "not json", in a
     * 512 MiB file. */
    snprintf(path, sizeof path, "%s/garbage.safetensors", dir);
    CHECK(test_sparse_file(path, "\x80\xF0\xFA\x02\0\0\0\0not json", 16, 512LL << 20) == 0,
          "could not make %s", path);
    long long before = test_bytes_read();
    st = st_load(path, &f, err, sizeof err);
    long long read = test_bytes_read() - before;
    snprintf(want, sizeof want, "%s: header does not start with '{'", path);
    CHECK(st == LD_EINPUT && strncmp(err, want, strlen(want)) == 0 && is_zeroed(&f), "bad start: %s",
          err);
    if (before >= 0)
        CHECK(read < (1 << 20), "read %lld bytes of a 512 MiB file whose header does not start with '{'",
              read);
    else
        printf("safetensors: /proc/self/io not available, bytes read not checked\n");

    /* The same with 100 000 spaces first: whitespace is read on, then the
     * 'n' is found. */
    static char head[100016];
    memcpy(head, "\x80\xF0\xFA\x02\0\0\0\0", 8);
    memset(head + 8, ' ', 100000);
    memcpy(head + 100008, "not json", 8);
    CHECK(test_sparse_file(path, head, sizeof head, 512LL << 20) == 0, "could not make %s", path);
    before = test_bytes_read();
    st = st_load(path, &f, err, sizeof err);
    read = test_bytes_read() - before;
    CHECK(st == LD_EINPUT && strncmp(err, want, strlen(want)) == 0, "bad start after spaces: %s", err);
    if (before >= 0)
        CHECK(read < (1 << 20), "read %lld bytes of a 512 MiB file whose header does not start with '{'",
              read);
    remove(path);

    /* A good file with whitespace before its header's '{' loads. */
    snprintf(path, sizeof path, "%s/ws.safetensors", dir);
    const char ws[] = "\x0a\0\0\0\0\0\0\0 \t\r\n{}\n\r\t ";
    CHECK(test_sparse_file(path, ws, sizeof ws - 1, (long long)(sizeof ws - 1)) == 0, "could not make %s",
          path);
    st = st_load(path, &f, err, sizeof err);
    CHECK(st == LD_OK && f.n_tensors == 0, "whitespace around the header: %s", err);
    st_free(&f);
}

void test_safetensors(void)
{
    test_handmade();
    test_roundtrip();
    test_writer_rejects();
    test_reader_rejects();
    test_bounded_reads();
}
