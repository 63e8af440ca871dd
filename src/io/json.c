/* json.c - strict RFC 8259 JSON parser (for untrusted input) and writers.
 *
 * The parser is a recursive-descent one over a (pointer, length) span; every
 * read is bounds-checked against the length, so it needs no NUL terminator.
 * Children are stored inline in their parent's array (one allocation per
 * array or object, not per value), which keeps the tree small and makes
 * freeing a partially built tree easy: a container only ever counts children
 * that were parsed completely.
 */
#include "io/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_member json_member;

struct json_value {
    json_type type;
    union {
        struct {
            double d;
            uint64_t u;            /* exact value when u_ok */
            unsigned char is_int;  /* literal had no fraction or exponent */
            unsigned char u_ok;    /* non-negative integer that fits uint64 */
        } num;
        struct {
            char *s;               /* decoded UTF-8, NUL-terminated */
            size_t len;
        } str;
        struct {
            json_value *items;     /* (n) */
            size_t n;
        } arr;
        struct {
            json_member *m;        /* (n) in document order */
            json_member **sorted;  /* (n) by key bytes, for lookup */
            size_t n;
        } obj;
    } u;
};

struct json_member {
    char *key;       /* decoded, NUL-terminated */
    size_t klen;
    size_t pos;      /* byte offset of the key in the text, for messages */
    json_value val;
};

/* ======================================================================== */
/* Parser */

typedef struct {
    const unsigned char *s;
    size_t len;
    size_t pos;
    char *err;
    size_t errlen;
} parser;

static void bad_msg(parser *p, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void bad_msg(parser *p, size_t pos, const char *fmt, ...)
{
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ld_fail_msg(p->err, p->errlen, LD_EINPUT, "invalid JSON at byte %zu: %s", pos, reason);
}

/* The message, and LD_EINPUT as the value; a macro, as ld_fail is
 * (status.h), so the static analyzer, which does not follow variadic calls,
 * sees that every failure path returns LD_EINPUT. */
#define bad(p, pos, ...) (bad_msg((p), (pos), __VA_ARGS__), LD_EINPUT)

static ld_status oom(parser *p)
{
    return ld_fail(p->err, p->errlen, LD_ENOMEM, "out of memory parsing JSON at byte %zu", p->pos);
}

/* "unexpected character 'x'" or, for non-printable bytes, "... 0x07". */
static ld_status unexpected(parser *p)
{
    if (p->pos >= p->len)
        return bad(p, p->pos, "unexpected end of input");
    unsigned c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return bad(p, p->pos, "unexpected character '%c'", (char)c);
    return bad(p, p->pos, "unexpected byte 0x%02x", c);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static void free_contents(json_value *v);

/* Length of the well-formed UTF-8 sequence starting at s[0] (at most n bytes
 * available), or 0 if it is malformed. Table 3-7 of the Unicode standard. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;               /* no overlong 3-byte forms */
        else if (c == 0xED)
            hi = 0x9F;               /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;               /* no overlong 4-byte forms */
        else if (c == 0xF4)
            hi = 0x8F;               /* nothing above U+10FFFF */
    } else {
        return 0;                    /* 0x80..0xC1, 0xF5..0xFF */
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need;
}

int json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parse the string starting at the '"' at p->pos into a new NUL-terminated
 * buffer. Decoding never makes a string longer than its source text (the
 * longest expansion, \uXXXX -> 3 bytes, shrinks), so one allocation of the
 * source length is enough. */
static ld_status parse_string(parser *p, char **out, size_t *outlen)
{
    size_t open = p->pos;
    size_t start = open + 1, end = start;
    /* Find the closing quote; an escaped character never ends the string. */
    while (end < p->len && p->s[end] != '"')
        end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->len)
        return bad(p, open, "unterminated string");

    char *buf = malloc(end - start + 1);
    if (buf == NULL)
        return oom(p);
    size_t n = 0, i = start;
    while (i < end) {
        unsigned c = p->s[i];
        if (c < 0x20) {
            free(buf);
            return bad(p, i, "unescaped control character 0x%02x in string", c);
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p->s + i, end - i);
            if (k == 0) {
                free(buf);
                return bad(p, i, "invalid UTF-8 in string");
            }
            memcpy(buf + n, p->s + i, k);
            n += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            i++;
            continue;
        }
        /* i+1 < end: the scan above skipped the byte after every backslash. */
        unsigned e = p->s[i + 1];
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default:
            free(buf);
            if (e >= 0x20 && e < 0x7f)
                return bad(p, i, "invalid escape '\\%c'", (char)e);
            return bad(p, i, "invalid escape (byte 0x%02x after '\\')", e);
        }
        if (simple != 0) {
            buf[n++] = simple;
            i += 2;
            continue;
        }
        unsigned cp, lo;
        if (end - i < 6 || hex4(p->s + i + 2, &cp) != 0) {
            free(buf);
            return bad(p, i, "invalid \\u escape (needs 4 hex digits)");
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(buf);
            return bad(p, i, "unpaired low surrogate \\u%04x", cp);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* A high surrogate must be followed at once by a low one. */
            if (end - i < 12 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' ||
                hex4(p->s + i + 8, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                free(buf);
                return bad(p, i, "unpaired high surrogate \\u%04x", cp);
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 12;
        } else {
            i += 6;
        }
        n += put_utf8(buf + n, cp);
    }
    buf[n] = '\0';
    p->pos = end + 1;
    *out = buf;
    *outlen = n;
    return LD_OK;
}

/* number = [ "-" ] int [ frac ] [ exp ], int = "0" / digit1-9 *digit. */
static ld_status parse_number(parser *p, json_value *out)
{
    size_t start = p->pos, i = p->pos;
    int neg = 0, is_int = 1, u_ok = 1;
    uint64_t u = 0;
    if (p->s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
        return bad(p, i, "expected a digit");
    if (p->s[i] == '0') {
        i++;
        if (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            return bad(p, start, "leading zero in number");
    } else {
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') {
            unsigned d = p->s[i] - '0';
            if (u > (UINT64_MAX - d) / 10)
                u_ok = 0;
            else
                u = u * 10 + d;
            i++;
        }
    }
    if (i < p->len && p->s[i] == '.') {
        is_int = 0;
        i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
            return bad(p, i, "expected a digit after '.'");
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_int = 0;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
            return bad(p, i, "expected a digit in exponent");
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }

    /* The grammar is checked; strtod needs a NUL-terminated copy. */
    size_t n = i - start;
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (tmp == NULL)
        return oom(p);
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    /* Underflow to 0 or a subnormal is fine; overflow to infinity is not,
     * because the writer could never reproduce it. */
    if (isinf(d))
        return bad(p, start, "number out of range");

    out->type = JSON_NUMBER;
    out->u.num.d = d;
    out->u.num.is_int = (unsigned char)is_int;
    out->u.num.u_ok = (unsigned char)(is_int && !neg && u_ok);
    out->u.num.u = out->u.num.u_ok ? u : 0;
    p->pos = i;
    return LD_OK;
}

static ld_status parse_literal(parser *p, const char *word, json_value *out)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return unexpected(p);
    p->pos += n;
    out->type = word[0] == 'n' ? JSON_NULL : word[0] == 't' ? JSON_TRUE : JSON_FALSE;
    return LD_OK;
}

static ld_status parse_value(parser *p, json_value *out, int depth);

/* Grow *items (of elem-byte elements) so it holds at least n+1. */
static int grow(void **items, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap == 0 ? 4 : *cap * 2, bytes;
    if (ncap < *cap || ld_mul_size(&bytes, ncap, elem) != 0)
        return -1;
    void *q = realloc(*items, bytes);
    if (q == NULL)
        return -1;
    *items = q;
    *cap = ncap;
    return 0;
}

static ld_status parse_array(parser *p, json_value *out, int depth)
{
    json_value *items = NULL;
    size_t n = 0, cap = 0;
    ld_status st = LD_OK;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        goto done;
    }
    for (;;) {
        void *v = items;
        if (grow(&v, &cap, n, sizeof *items) != 0) {
            st = oom(p);
            goto fail;
        }
        items = v;
        if ((st = parse_value(p, &items[n], depth + 1)) != LD_OK)
            goto fail;
        n++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ']') {
                st = bad(p, p->pos, "trailing comma in array");
                goto fail;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            break;
        }
        st = p->pos >= p->len ? bad(p, p->pos, "unexpected end of input in array")
                              : bad(p, p->pos, "expected ',' or ']' in array");
        goto fail;
    }
done:
    out->type = JSON_ARRAY;
    out->u.arr.items = items;
    out->u.arr.n = n;
    return LD_OK;
fail:
    for (size_t i = 0; i < n; i++)
        free_contents(&items[i]);
    free(items);
    return st;
}

static int cmp_member(const void *a, const void *b)
{
    const json_member *x = *(const json_member *const *)a;
    const json_member *y = *(const json_member *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Sort member pointers by key for O(log n) lookup, and reject duplicates:
 * after sorting they are neighbours, so this is O(n log n) even on hostile
 * input with millions of keys. */
static ld_status index_object(parser *p, json_member *m, size_t n, json_member ***sorted_out)
{
    *sorted_out = NULL;
    if (n == 0)
        return LD_OK;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element, a pointer */
    json_member **sorted = malloc(n * sizeof *sorted); /* n*ptr < n*member: no overflow */
    if (sorted == NULL)
        return oom(p);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &m[i];
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element, a pointer */
    qsort(sorted, n, sizeof *sorted, cmp_member);
    for (size_t i = 1; i < n; i++) {
        if (cmp_member(&sorted[i - 1], &sorted[i]) == 0) {
            const json_member *later = sorted[i - 1]->pos > sorted[i]->pos ? sorted[i - 1] : sorted[i];
            char name[80];
            json_snippet(name, sizeof name, later->key, later->klen);
            free(sorted);
            return bad(p, later->pos, "duplicate object key %s", name);
        }
    }
    *sorted_out = sorted;
    return LD_OK;
}

static ld_status parse_object(parser *p, json_value *out, int depth)
{
    json_member *m = NULL, **sorted = NULL;
    size_t n = 0, cap = 0;
    ld_status st = LD_OK;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        goto done;
    }
    for (;;) {
        void *v = m;
        if (grow(&v, &cap, n, sizeof *m) != 0) {
            st = oom(p);
            goto fail;
        }
        m = v;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') {
            st = p->pos >= p->len ? bad(p, p->pos, "unexpected end of input in object")
                                  : bad(p, p->pos, "expected a string key in object");
            goto fail;
        }
        m[n].pos = p->pos;
        if ((st = parse_string(p, &m[n].key, &m[n].klen)) != LD_OK)
            goto fail;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            free(m[n].key);
            st = bad(p, p->pos, "expected ':' after object key");
            goto fail;
        }
        p->pos++;
        if ((st = parse_value(p, &m[n].val, depth + 1)) != LD_OK) {
            free(m[n].key);
            goto fail;
        }
        n++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == '}') {
                st = bad(p, p->pos, "trailing comma in object");
                goto fail;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        st = p->pos >= p->len ? bad(p, p->pos, "unexpected end of input in object")
                              : bad(p, p->pos, "expected ',' or '}' in object");
        goto fail;
    }
    if ((st = index_object(p, m, n, &sorted)) != LD_OK)
        goto fail;
done:
    out->type = JSON_OBJECT;
    out->u.obj.m = m;
    out->u.obj.sorted = sorted;
    out->u.obj.n = n;
    return LD_OK;
fail:
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        free_contents(&m[i].val);
    }
    free(m);
    return st;
}

/* On success *out is a complete value. On failure nothing is left in *out
 * that needs freeing. depth counts the containers already open around it. */
static ld_status parse_value(parser *p, json_value *out, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return bad(p, p->pos, "unexpected end of input");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH)
            return bad(p, p->pos, "nesting depth exceeds %d", JSON_MAX_DEPTH);
        return c == '{' ? parse_object(p, out, depth) : parse_array(p, out, depth);
    case '"': {
        char *s;
        size_t n;
        ld_status st = parse_string(p, &s, &n);
        if (st != LD_OK)
            return st;
        out->type = JSON_STRING;
        out->u.str.s = s;
        out->u.str.len = n;
        return LD_OK;
    }
    case 't': return parse_literal(p, "true", out);
    case 'f': return parse_literal(p, "false", out);
    case 'n': return parse_literal(p, "null", out);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p, out);
        return unexpected(p);
    }
}

ld_status json_parse(const char *text, size_t len, json_value **out, char *err, size_t errlen)
{
    *out = NULL;
    parser p = {(const unsigned char *)text, text == NULL ? 0 : len, 0, err, errlen};
    json_value *root = malloc(sizeof *root);
    if (root == NULL)
        return oom(&p);
    ld_status st = parse_value(&p, root, 0);
    if (st != LD_OK) {
        free(root);
        return st;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        st = bad(&p, p.pos, "trailing characters after the JSON value");
        json_free(root);
        return st;
    }
    *out = root;
    return LD_OK;
}

/* Recursion depth is bounded by JSON_MAX_DEPTH, as in the parser. */
static void free_contents(json_value *v)
{
    switch (v->type) {
    case JSON_STRING:
        free(v->u.str.s);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            free_contents(&v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            free(v->u.obj.m[i].key);
            free_contents(&v->u.obj.m[i].val);
        }
        free(v->u.obj.m);
        free(v->u.obj.sorted);
        break;
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE:
    case JSON_NUMBER:
        break;
    }
}

void json_free(json_value *root)
{
    if (root == NULL)
        return;
    free_contents(root);
    free(root);
}

/* ======================================================================== */
/* Accessors */

json_type json_type_of(const json_value *v)
{
    return v == NULL ? JSON_NULL : v->type;
}

const char *json_type_name(json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}

double json_number(const json_value *v)
{
    return (v != NULL && v->type == JSON_NUMBER) ? v->u.num.d : 0.0;
}

int json_number_is_integer(const json_value *v)
{
    return v != NULL && v->type == JSON_NUMBER && v->u.num.is_int;
}

int json_number_u64(const json_value *v, uint64_t *out)
{
    if (v == NULL || v->type != JSON_NUMBER || !v->u.num.u_ok)
        return 0;
    *out = v->u.num.u;
    return 1;
}

const char *json_string(const json_value *v)
{
    return (v != NULL && v->type == JSON_STRING) ? v->u.str.s : NULL;
}

size_t json_string_len(const json_value *v)
{
    return (v != NULL && v->type == JSON_STRING) ? v->u.str.len : 0;
}

size_t json_length(const json_value *v)
{
    if (v == NULL)
        return 0;
    if (v->type == JSON_ARRAY)
        return v->u.arr.n;
    if (v->type == JSON_OBJECT)
        return v->u.obj.n;
    return 0;
}

const json_value *json_at(const json_value *arr, size_t i)
{
    if (arr == NULL || arr->type != JSON_ARRAY || i >= arr->u.arr.n)
        return NULL;
    return &arr->u.arr.items[i];
}

static const json_member *member_at(const json_value *obj, size_t i)
{
    if (obj == NULL || obj->type != JSON_OBJECT || i >= obj->u.obj.n)
        return NULL;
    return &obj->u.obj.m[i];
}

const char *json_key_at(const json_value *obj, size_t i)
{
    const json_member *m = member_at(obj, i);
    return m == NULL ? NULL : m->key;
}

size_t json_key_len_at(const json_value *obj, size_t i)
{
    const json_member *m = member_at(obj, i);
    return m == NULL ? 0 : m->klen;
}

const json_value *json_value_at(const json_value *obj, size_t i)
{
    const json_member *m = member_at(obj, i);
    return m == NULL ? NULL : &m->val;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    /* bsearch's base must not be NULL, even for zero elements. */
    if (obj == NULL || obj->type != JSON_OBJECT || obj->u.obj.n == 0 || key == NULL)
        return NULL;
    json_member probe;
    probe.key = (char *)key; /* only read by cmp_member */
    probe.klen = strlen(key);
    const json_member *pp = &probe;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element, a pointer */
    json_member **hit = bsearch(&pp, obj->u.obj.sorted, obj->u.obj.n, sizeof *obj->u.obj.sorted,
                                cmp_member);
    return hit == NULL ? NULL : &(*hit)->val;
}

/* ======================================================================== */
/* Writers */

void json_write_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        unsigned c = *u;
        switch (c) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\b': fputs("\\b", fp); break;
        case '\f': fputs("\\f", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (c < 0x20)
                fprintf(fp, "\\u%04x", c);
            else
                fputc((int)c, fp);
        }
    }
    fputc('"', fp);
}

/* %g output is valid JSON for finite values: "-0", "1e+20", "1.5e-07" and
 * "0.1" all match the number grammar (an exponent may have a sign and
 * leading zeros). 15 significant digits reproduce any decimal of up to 15
 * digits and %g drops trailing zeros, so trying 15, 16, 17 in turn yields the
 * shortest string that round-trips; 17 always does. */
void json_write_number(FILE *fp, double x)
{
    if (!isfinite(x)) {
        fputs("null", fp);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    fputs(buf, fp);
}

/* Same idea for float: 6 digits reproduce any 6-digit decimal, 9 always
 * round-trip a float. strtof rounds the decimal straight to float (going
 * through double could round twice). */
void json_write_float(FILE *fp, float x)
{
    if (!isfinite(x)) {
        fputs("null", fp);
        return;
    }
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            break;
    }
    fputs(buf, fp);
}

/* ======================================================================== */
/* Helpers */

void json_snippet(char *dst, size_t dstlen, const char *s, size_t len)
{
    if (dst == NULL || dstlen == 0)
        return;
    /* Show at most this many source bytes; keeps messages to one short line. */
    const size_t max_show = 48;
    size_t o = 0;
    /* Reserve room for the closing quote, "..." and the NUL. */
    size_t room = dstlen > 6 ? dstlen - 6 : 0;
    if (o < room)
        dst[o++] = '"';
    size_t i = 0;
    for (; i < len && i < max_show; i++) {
        unsigned c = (unsigned char)s[i];
        char esc[8];
        size_t k;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c < 0x20 || c == 0x7f) {
            k = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char)c;
            k = 1;
        }
        if (o + k > room)
            break;
        memcpy(dst + o, esc, k);
        o += k;
    }
    /* Do not cut a UTF-8 sequence in half: drop its already-copied bytes
     * (copied raw, one byte each). */
    if (i < len)
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80 && (unsigned char)s[i - 1] >= 0x80) {
            i--;
            o--;
        }
    if (o < dstlen - 1)
        dst[o++] = '"';
    if (i < len && o + 3 < dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o < dstlen ? o : dstlen - 1] = '\0';
}
