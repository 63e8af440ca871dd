/* json.c - the strict RFC 8259 JSON parser (for untrusted input) and the
 * tree it builds. The writers are json_write.c.
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

#include "io/utf8.h"

typedef struct json_member json_member;

/* An entry of an object's index: a member's key, the entries sorted by key
 * bytes for lookup. */
typedef struct {
    const char *key;
    size_t klen;
    size_t member; /* its position in the object's members */
} json_key;

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
            json_key *index;       /* (n) by key bytes, for lookup */
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
        free(v->u.obj.index);
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
/* Parser */

typedef struct {
    const unsigned char *s;
    size_t len;
    size_t pos;
    char *err;
    size_t errlen;
} parser;

LD_PRINTF(3, 4) static void bad_msg(parser *p, size_t pos, const char *fmt, ...)
{
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ld_fail_msg(p->err, p->errlen, LD_EINPUT, "invalid JSON at byte %zu: %s", pos, reason);
}

/* The message, then LD_EINPUT as the value, as ld_fail gives (status.h). */
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

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + digit;
    }
    *out = v;
    return 0;
}

/* Decode the escape whose backslash is at p->s[*i] (the byte after it is
 * before end) into buf at *n, and step *i past it. */
static ld_status parse_escape(parser *p, size_t end, size_t *i, char *buf, size_t *n)
{
    const size_t at = *i;
    const unsigned e = p->s[at + 1];
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
        if (e >= 0x20 && e < 0x7f)
            return bad(p, at, "invalid escape '\\%c'", (char)e);
        return bad(p, at, "invalid escape (byte 0x%02x after '\\')", e);
    }
    if (simple != 0) {
        buf[(*n)++] = simple;
        *i += 2;
        return LD_OK;
    }
    unsigned cp, lo;
    if (end - at < 6 || hex4(p->s + at + 2, &cp) != 0)
        return bad(p, at, "invalid \\u escape (needs 4 hex digits)");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return bad(p, at, "unpaired low surrogate \\u%04x", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed at once by a low one. */
        if (end - at < 12 || p->s[at + 6] != '\\' || p->s[at + 7] != 'u' ||
            hex4(p->s + at + 8, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return bad(p, at, "unpaired high surrogate \\u%04x", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *i += 12;
    } else {
        *i += 6;
    }
    *n += utf8_put(buf + *n, cp);
    return LD_OK;
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
    ld_status st = LD_OK;
    while (i < end && st == LD_OK) {
        const unsigned c = p->s[i];
        if (c < 0x20) {
            st = bad(p, i, "unescaped control character 0x%02x in string", c);
        } else if (c >= 0x80) {
            const size_t k = utf8_seq_len(p->s + i, end - i);
            if (k == 0) {
                st = bad(p, i, "invalid UTF-8 in string");
            } else {
                memcpy(buf + n, p->s + i, k);
                n += k;
                i += k;
            }
        } else if (c == '\\') {
            st = parse_escape(p, end, &i, buf, &n);
        } else {
            buf[n++] = (char)c;
            i++;
        }
    }
    if (st != LD_OK) {
        free(buf);
        return st;
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
            const unsigned digit = p->s[i] - '0';
            if (u > (UINT64_MAX - digit) / 10)
                u_ok = 0;
            else
                u = u * 10 + digit;
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
    const double value = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    /* Underflow to 0 or a subnormal is fine; overflow to infinity is not,
     * because the writer could never reproduce it. */
    if (isinf(value))
        return bad(p, start, "number out of range");

    out->type = JSON_NUMBER;
    out->u.num.d = value;
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

/* After an array's item or an object's member: ',' and another (a comma
 * just before the close is refused), or the close, consumed. Returns 1 for
 * another, 0 at the close, or -1 with *st set. what: "array" or "object". */
static int next_item(parser *p, char close, const char *what, ld_status *st)
{
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
        p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
            *st = bad(p, p->pos, "trailing comma in %s", what);
            return -1;
        }
        return 1;
    }
    if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
        return 0;
    }
    *st = p->pos >= p->len ? bad(p, p->pos, "unexpected end of input in %s", what)
                           : bad(p, p->pos, "expected ',' or '%c' in %s", close, what);
    return -1;
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
        const int more = next_item(p, ']', "array", &st);
        if (more < 0)
            goto fail;
        if (more == 0)
            break;
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

/* Keys compare as bytes (they may hold NUL bytes). */
static int cmp_key(const void *a, const void *b)
{
    const json_key *x = a, *y = b;
    const size_t n = x->klen < y->klen ? x->klen : y->klen;
    const int order = memcmp(x->key, y->key, n);
    if (order != 0)
        return order;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Equal keys stay in document order. */
static int cmp_key_then_member(const void *a, const void *b)
{
    const int order = cmp_key(a, b);
    if (order != 0)
        return order;
    const json_key *x = a, *y = b;
    return (x->member > y->member) - (x->member < y->member);
}

/* Index the members by key for O(log n) lookup, and reject duplicates:
 * once sorted they are neighbours, so this is O(n log n) even on hostile
 * input with millions of keys. */
static ld_status index_object(parser *p, const json_member *m, size_t n, json_key **index_out)
{
    *index_out = NULL;
    if (n == 0)
        return LD_OK;
    json_key *index = malloc(n * sizeof *index); /* smaller than the n members: no overflow */
    if (index == NULL)
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        index[i].key = m[i].key;
        index[i].klen = m[i].klen;
        index[i].member = i;
    }
    qsort(index, n, sizeof *index, cmp_key_then_member);
    for (size_t i = 1; i < n; i++) {
        if (cmp_key(&index[i - 1], &index[i]) == 0) {
            const json_member *later = &m[index[i].member];
            char name[80];
            json_snippet(name, sizeof name, later->key, later->klen);
            free(index);
            return bad(p, later->pos, "duplicate object key %s", name);
        }
    }
    *index_out = index;
    return LD_OK;
}

static ld_status parse_object(parser *p, json_value *out, int depth)
{
    json_member *m = NULL;
    json_key *index = NULL;
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
        const int more = next_item(p, '}', "object", &st);
        if (more < 0)
            goto fail;
        if (more == 0)
            break;
    }
    if ((st = index_object(p, m, n, &index)) != LD_OK)
        goto fail;
done:
    out->type = JSON_OBJECT;
    out->u.obj.m = m;
    out->u.obj.index = index;
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
    const json_key probe = {key, strlen(key), 0};
    const json_key *hit = bsearch(&probe, obj->u.obj.index, obj->u.obj.n, sizeof probe, cmp_key);
    return hit == NULL ? NULL : &obj->u.obj.m[hit->member].val;
}
