/* test_json.c - the strict JSON parser (accept/reject cases, decoding, depth
 * limit, error offsets) and the string/number writers (round trips). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/utf8.h"
#include "test.h"

/* Parse a C string; NULL (and a printed failure) if it does not parse. */
static json_value *parse_ok(const char *text)
{
    json_value *v = NULL;
    char err[256] = "";
    ld_status st = json_parse(text, strlen(text), &v, err, sizeof err);
    CHECK(st == LD_OK && v != NULL, "should parse: %s -> %s", text, err);
    return v;
}

/* text[0..len) must be rejected with LD_EINPUT, a message containing reason,
 * and (if at >= 0) "at byte <at>". */
static void expect_bad_n(const char *text, size_t len, const char *reason, long at)
{
    json_value *v = (json_value *)1;
    char err[256] = "";
    ld_status st = json_parse(text, len, &v, err, sizeof err);
    CHECK(st == LD_EINPUT && v == NULL, "should be rejected: '%.*s' (st=%d)", (int)len, text, (int)st);
    CHECK(strstr(err, reason) != NULL, "'%.*s': message '%s' lacks '%s'", (int)len, text, err, reason);
    if (at >= 0) {
        char want[40];
        snprintf(want, sizeof want, "at byte %ld:", at);
        CHECK(strstr(err, want) != NULL, "'%.*s': message '%s' lacks '%s'", (int)len, text, err, want);
    }
    if (st == LD_OK)
        json_free(v);
}

static void expect_bad(const char *text, const char *reason, long at)
{
    expect_bad_n(text, strlen(text), reason, at);
}

/* Write with fn into a temporary file and return the text (malloc'd). */
static char *capture_string(const char *s)
{
    FILE *fp = tmpfile();
    if (fp == NULL)
        return NULL;
    json_write_string(fp, s);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL) {
        size_t got = fread(buf, 1, (size_t)n, fp);
        buf[got] = '\0';
    }
    fclose(fp);
    return buf;
}

static char *capture_number(double x, int as_float)
{
    FILE *fp = tmpfile();
    if (fp == NULL)
        return NULL;
    if (as_float)
        json_write_float(fp, (float)x);
    else
        json_write_number(fp, x);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL) {
        size_t got = fread(buf, 1, (size_t)n, fp);
        buf[got] = '\0';
    }
    fclose(fp);
    return buf;
}

static void test_scalars(void)
{
    json_value *v;
    if ((v = parse_ok(" true ")) != NULL)
        CHECK(json_type_of(v) == JSON_TRUE, "true");
    json_free(v);
    if ((v = parse_ok("false")) != NULL)
        CHECK(json_type_of(v) == JSON_FALSE, "false");
    json_free(v);
    if ((v = parse_ok("\t\r\nnull\n")) != NULL)
        CHECK(json_type_of(v) == JSON_NULL, "null");
    json_free(v);

    struct { const char *text; double want; int is_int; int u_ok; uint64_t u; } nums[] = {
        {"0", 0.0, 1, 1, 0},
        {"-0", -0.0, 1, 0, 0},
        {"42", 42.0, 1, 1, 42},
        {"-17", -17.0, 1, 0, 0},
        {"1.5", 1.5, 0, 0, 0},
        {"1e+20", 1e20, 0, 0, 0},
        {"1E3", 1000.0, 0, 0, 0},
        {"2.5e-3", 2.5e-3, 0, 0, 0},
        {"1.0", 1.0, 0, 0, 0},
        {"1e-400", 0.0, 0, 0, 0}, /* underflow to 0 is allowed */
        {"18446744073709551615", 18446744073709551615.0, 1, 1, UINT64_MAX},
        {"18446744073709551616", 18446744073709551616.0, 1, 0, 0},
        {"9007199254740993", 9007199254740992.0, 1, 1, 9007199254740993ULL},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if ((v = parse_ok(nums[i].text)) == NULL)
            continue;
        uint64_t u = 12345;
        int u_ok = json_number_u64(v, &u);
        double d = json_number(v);
        CHECK(json_type_of(v) == JSON_NUMBER && d == nums[i].want &&
                  signbit(d) == signbit(nums[i].want),
              "%s -> %.17g", nums[i].text, d);
        CHECK(json_number_is_integer(v) == nums[i].is_int, "%s is_integer", nums[i].text);
        CHECK(u_ok == nums[i].u_ok && (!u_ok || u == nums[i].u),
              "%s u64: ok=%d value=%llu", nums[i].text, u_ok, (unsigned long long)u);
        json_free(v);
    }
}

static void test_strings(void)
{
    /* Every escape, BMP \u escapes, a surrogate pair and raw UTF-8. */
    json_value *v = parse_ok("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u0041\\u00e9\\u20AC"
                             "\\ud83d\\ude00 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    const char want[] = "a\"b\\c/d\be\ff\ng\rh\tiA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
                        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    if (v != NULL) {
        CHECK(json_type_of(v) == JSON_STRING, "string type");
        CHECK(json_string_len(v) == sizeof want - 1 && memcmp(json_string(v), want, sizeof want) == 0,
              "decoded string wrong: '%s'", json_string(v));
    }
    json_free(v);

    /* \u0000 becomes a real NUL inside the string; the length says so. */
    v = parse_ok("\"x\\u0000y\"");
    if (v != NULL)
        CHECK(json_string_len(v) == 3 && memcmp(json_string(v), "x\0y", 4) == 0, "embedded NUL");
    json_free(v);

    /* Highest code point, U+10FFFF, as a surrogate pair and as raw UTF-8. */
    v = parse_ok("[\"\\udbff\\udfff\", \"\xf4\x8f\xbf\xbf\"]");
    if (v != NULL) {
        CHECK(strcmp(json_string(json_at(v, 0)), "\xf4\x8f\xbf\xbf") == 0, "U+10FFFF via pair");
        CHECK(strcmp(json_string(json_at(v, 1)), "\xf4\x8f\xbf\xbf") == 0, "U+10FFFF raw");
    }
    json_free(v);
}

static void test_containers(void)
{
    json_value *v = parse_ok("{\"b\": [1, 2, {\"x\": null}], \"a\": {}, \"c\": [], \"\": \"empty\"}");
    if (v == NULL)
        return;
    CHECK(json_type_of(v) == JSON_OBJECT && json_length(v) == 4, "object of 4");
    /* Members keep document order; lookup is by key. */
    CHECK(strcmp(json_key_at(v, 0), "b") == 0 && strcmp(json_key_at(v, 3), "") == 0, "key order");
    CHECK(json_key_len_at(v, 0) == 1 && json_key_len_at(v, 3) == 0, "key lengths");
    const json_value *b = json_get(v, "b");
    CHECK(b == json_value_at(v, 0), "json_get(b) is member 0");
    CHECK(json_type_of(b) == JSON_ARRAY && json_length(b) == 3, "b is array of 3");
    CHECK(json_number(json_at(b, 1)) == 2.0, "b[1] == 2");
    CHECK(json_at(b, 3) == NULL, "b[3] out of range is NULL");
    CHECK(json_type_of(json_get(json_at(b, 2), "x")) == JSON_NULL && json_get(json_at(b, 2), "x") != NULL,
          "b[2].x is null");
    CHECK(json_type_of(json_get(v, "a")) == JSON_OBJECT && json_length(json_get(v, "a")) == 0, "a is {}");
    CHECK(json_get(json_get(v, "a"), "zz") == NULL, "lookup in empty object");
    CHECK(strcmp(json_string(json_get(v, "")), "empty") == 0, "empty key");
    CHECK(json_get(v, "nope") == NULL, "missing key");
    CHECK(json_get(b, "b") == NULL && json_at(v, 0) == NULL, "wrong-type accessors return NULL");
    CHECK(json_string(b) == NULL && json_number(b) == 0.0, "wrong-type scalar accessors");
    json_free(v);
}

static void test_rejects(void)
{
    expect_bad("", "unexpected end of input", 0);
    expect_bad("   ", "unexpected end of input", 3);
    expect_bad("1 2", "trailing characters", 2);
    expect_bad("{} x", "trailing characters", 3);
    expect_bad("01", "leading zero", 0);
    expect_bad("-01", "leading zero", 0);
    expect_bad("-", "expected a digit", 1);
    expect_bad("1.", "expected a digit after '.'", 2);
    expect_bad("1.e3", "expected a digit after '.'", 2);
    expect_bad("1e", "expected a digit in exponent", 2);
    expect_bad("1e+", "expected a digit in exponent", 3);
    expect_bad(".5", "unexpected character '.'", 0);
    expect_bad("+1", "unexpected character '+'", 0);
    expect_bad("1e400", "number out of range", 0);
    expect_bad("-1e400", "number out of range", 0);
    expect_bad("NaN", "unexpected character 'N'", 0);
    expect_bad("Infinity", "unexpected character 'I'", 0);
    expect_bad("tru", "unexpected character 't'", 0);
    expect_bad("nul", "unexpected character 'n'", 0);
    expect_bad("True", "unexpected character 'T'", 0);
    expect_bad("'a'", "unexpected character", 0);
    expect_bad("\"abc", "unterminated string", 0);
    expect_bad("\"abc\\\"", "unterminated string", 0);
    expect_bad("\"a\tb\"", "unescaped control character 0x09", 2);
    expect_bad("\"a\\x\"", "invalid escape '\\x'", 2);
    expect_bad("\"\\u12G4\"", "invalid \\u escape", 1);
    expect_bad("\"\\u12\"", "invalid \\u escape", 1);
    expect_bad("\"\\ud800\"", "unpaired high surrogate", 1);
    expect_bad("\"\\ud800x\"", "unpaired high surrogate", 1);
    expect_bad("\"\\ud800\\u0041\"", "unpaired high surrogate", 1);
    expect_bad("\"\\ud800\\ud800\"", "unpaired high surrogate", 1);
    expect_bad("\"\\udc00\"", "unpaired low surrogate", 1);
    expect_bad("\"ab\\ude00\\ud83d\"", "unpaired low surrogate", 3);
    expect_bad("\"\xc0\x80\"", "invalid UTF-8", 1);         /* overlong NUL */
    expect_bad("\"\xe0\x80\xaf\"", "invalid UTF-8", 1);     /* overlong '/' */
    expect_bad("\"\xed\xa0\x80\"", "invalid UTF-8", 1);     /* encoded surrogate */
    expect_bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1); /* above U+10FFFF */
    expect_bad("\"\xf5\x80\x80\x80\"", "invalid UTF-8", 1);
    expect_bad("\"a\x80\"", "invalid UTF-8", 2);            /* stray continuation */
    expect_bad("\"\xe2\x82\"", "invalid UTF-8", 1);         /* truncated sequence */
    expect_bad("\xef\xbb\xbf{}", "unexpected byte 0xef", 0); /* no BOM */
    expect_bad_n("[1,\0 2]", 7, "unexpected byte 0x00", 3);
    expect_bad_n("\"a\0\"", 4, "unescaped control character 0x00", 2);
    expect_bad("[1,]", "trailing comma in array", 3);
    expect_bad("[1 2]", "expected ',' or ']'", 3);
    expect_bad("[1,2", "unexpected end of input in array", 4);
    expect_bad("[", "unexpected end of input", 1);
    expect_bad("]", "unexpected character ']'", 0);
    expect_bad("{\"a\":1,}", "trailing comma in object", 7);
    expect_bad("{\"a\" 1}", "expected ':'", 5);
    expect_bad("{a:1}", "expected a string key", 1);
    expect_bad("{1:1}", "expected a string key", 1);
    expect_bad("{\"a\":1 \"b\":2}", "expected ',' or '}'", 7);
    expect_bad("{\"a\":1", "unexpected end of input in object", 6);
    expect_bad("{\"a\":", "unexpected end of input", 5);
    expect_bad("{\"a\":1,\"b\":2,\"a\":3}", "duplicate object key \"a\"", 13);
    /* Keys are compared after decoding: "\u0061" is "a". */
    expect_bad("{\"a\":1,\"\\u0061\":2}", "duplicate object key \"a\"", 7);
    expect_bad("[{\"k\":{},\"k\":[]}]", "duplicate object key", 9);
    /* The error offset points into nested data. */
    expect_bad("{\"a\": [1, 2, x]}", "unexpected character 'x'", 13);

    /* Distinct keys that share a prefix are not duplicates. */
    json_value *v = parse_ok("{\"a\":1,\"ab\":2,\"a\\u0000\":3}");
    if (v != NULL)
        CHECK(json_number(json_get(v, "a")) == 1 && json_number(json_get(v, "ab")) == 2 &&
                  json_length(v) == 3,
              "prefix keys");
    json_free(v);
}

static void test_depth(void)
{
    char buf[2 * (JSON_MAX_DEPTH + 1) + 1];
    /* Exactly JSON_MAX_DEPTH nested arrays parse. */
    size_t n = 0;
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf[n++] = ']';
    json_value *v = NULL;
    char err[256] = "";
    ld_status st = json_parse(buf, n, &v, err, sizeof err);
    CHECK(st == LD_OK, "depth %d should parse: %s", JSON_MAX_DEPTH, err);
    json_free(v);

    /* One more is rejected, at the offset of the innermost bracket. */
    n = 0;
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        buf[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        buf[n++] = ']';
    expect_bad_n(buf, n, "nesting depth exceeds 64", JSON_MAX_DEPTH);

    /* Objects count too; a very deep hostile input fails fast, no stack blowup. */
    size_t big = 100000;
    char *deep = malloc(big);
    if (deep != NULL) {
        for (size_t i = 0; i < big; i++)
            deep[i] = (char)((i % 6 == 0) ? '{' : "\"k\":["[(i % 6) - 1]);
        expect_bad_n(deep, big, "nesting depth exceeds", -1);
        free(deep);
    }
}

static void test_write_string(void)
{
    char *out = capture_string("a\"b\\c\n\x01\x1f\t/\x7f\xc3\xa9");
    CHECK(out != NULL && strcmp(out, "\"a\\\"b\\\\c\\n\\u0001\\u001f\\t/\x7f\xc3\xa9\"") == 0,
          "escaped form: %s", out ? out : "(null)");
    free(out);

    /* Every byte 1..127 plus multi-byte UTF-8 survives write -> parse. */
    char s[160];
    size_t n = 0;
    for (int c = 1; c < 128; c++)
        s[n++] = (char)c;
    memcpy(s + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13);
    n += 13;
    s[n] = '\0';
    out = capture_string(s);
    json_value *v = out != NULL ? parse_ok(out) : NULL;
    CHECK(v != NULL && json_string_len(v) == n && memcmp(json_string(v), s, n + 1) == 0,
          "string round trip");
    json_free(v);
    free(out);
}

static void test_write_number(void)
{
    /* Exact text for the common cases: shortest form, valid JSON. */
    struct { double x; const char *want; } fixed[] = {
        {0.1, "0.1"}, {-0.0, "-0"}, {1e20, "1e+20"}, {100.0, "100"}, {1.0 / 3.0, "0.3333333333333333"},
        {NAN, "null"}, {INFINITY, "null"}, {-INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        char *out = capture_number(fixed[i].x, 0);
        CHECK(out != NULL && strcmp(out, fixed[i].want) == 0, "write %.17g: got '%s' want '%s'", fixed[i].x,
              out ? out : "(null)", fixed[i].want);
        free(out);
    }
    char *out = capture_number(0.1, 1);
    CHECK(out != NULL && strcmp(out, "0.1") == 0, "float 0.1: '%s'", out ? out : "(null)");
    free(out);

    /* Bit-exact double round trips through text, including extremes. */
    double xs[] = {0.0, -0.0, 1.0, -2.5, 0.1, 1.0 / 3.0, 3.141592653589793, 1e-300, 5e-324, DBL_MIN, DBL_MAX,
                   -DBL_MAX, 123456789012345678.0, 2.2250738585072009e-308, 9007199254740993.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        out = capture_number(xs[i], 0);
        json_value *v = out != NULL ? parse_ok(out) : NULL;
        double back = json_number(v);
        CHECK(v != NULL && memcmp(&back, &xs[i], sizeof back) == 0, "double %.17g -> '%s' -> %.17g",
              xs[i], out ? out : "(null)", back);
        json_free(v);
        free(out);
    }
    /* Same for floats, over a spread of magnitudes (LCG, fixed seed). */
    uint32_t seed = 12345;
    int float_bad = 0;
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1664525u + 1013904223u;
        uint32_t bits = seed;
        float f;
        memcpy(&f, &bits, sizeof f);
        if (!isfinite(f))
            continue;
        out = capture_number(f, 1);
        float back = (float)strtod(out != NULL ? out : "x", NULL);
        char err[128];
        json_value *v = NULL;
        if (out == NULL || json_parse(out, strlen(out), &v, err, sizeof err) != LD_OK ||
            memcmp(&back, &f, sizeof f) != 0 || (float)json_number(v) != f)
            float_bad++;
        json_free(v);
        free(out);
    }
    CHECK(float_bad == 0, "%d floats did not round-trip through json_write_float", float_bad);
}

static void test_utf8_and_snippet(void)
{
    CHECK(utf8_valid("abc\xc3\xa9", 5), "valid utf-8");
    CHECK(!utf8_valid("\xc3", 1), "truncated utf-8");
    CHECK(!utf8_valid("\xed\xbf\xbf", 3), "surrogate utf-8");
    CHECK(utf8_valid("", 0), "empty is valid");

    char buf[64];
    json_snippet(buf, sizeof buf, "a\nb\"", 4);
    CHECK(strcmp(buf, "\"a\\x0ab\\\"\"") == 0, "snippet escapes: %s", buf);
    char longs[200];
    memset(longs, 'z', sizeof longs);
    json_snippet(buf, sizeof buf, longs, sizeof longs);
    CHECK(strlen(buf) < sizeof buf && strstr(buf, "...") != NULL, "long snippet truncated: %s", buf);
    json_snippet(buf, 4, longs, sizeof longs);
    CHECK(strlen(buf) < 4, "tiny buffer stays terminated");
}

void test_json(void)
{
    test_scalars();
    test_strings();
    test_containers();
    test_rejects();
    test_depth();
    test_write_string();
    test_write_number();
    test_utf8_and_snippet();
}
