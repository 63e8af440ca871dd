/* fuzz_json.c - libFuzzer target for the JSON parser and writers.
 *
 * Build and run (from the repository root):
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_json.c src/io/json.c src/io/json_write.c \
 *       src/io/utf8.c src/status.c -lm -o fuzz_json
 *   ./fuzz_json -dict=tests/fuzz/json.dict -max_total_time=30 \
 *       fuzz-out/json tests/fuzz/corpus/json
 *
 * Every input json_parse accepts is written back with json_write_string /
 * json_write_number, parsed again, and must give the same tree (strings
 * byte for byte, numbers bit for bit). Strings containing NUL are skipped
 * there, as the C-string writer cannot express them.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

/* 1 if any string or key in the tree holds a NUL byte. */
static int has_nul(const json_value *v)
{
    switch (json_type_of(v)) {
    case JSON_STRING:
        return strlen(json_string(v)) != json_string_len(v);
    case JSON_ARRAY:
        for (size_t i = 0; i < json_length(v); i++)
            if (has_nul(json_at(v, i)))
                return 1;
        return 0;
    case JSON_OBJECT:
        for (size_t i = 0; i < json_length(v); i++)
            if (strlen(json_key_at(v, i)) != json_key_len_at(v, i) || has_nul(json_value_at(v, i)))
                return 1;
        return 0;
    default:
        return 0;
    }
}

static void write_tree(FILE *fp, const json_value *v)
{
    switch (json_type_of(v)) {
    case JSON_NULL: fputs("null", fp); break;
    case JSON_FALSE: fputs("false", fp); break;
    case JSON_TRUE: fputs("true", fp); break;
    case JSON_NUMBER: json_write_number(fp, json_number(v)); break;
    case JSON_STRING: json_write_string(fp, json_string(v)); break;
    case JSON_ARRAY:
        fputc('[', fp);
        for (size_t i = 0; i < json_length(v); i++) {
            if (i > 0)
                fputc(',', fp);
            write_tree(fp, json_at(v, i));
        }
        fputc(']', fp);
        break;
    case JSON_OBJECT:
        fputc('{', fp);
        for (size_t i = 0; i < json_length(v); i++) {
            if (i > 0)
                fputc(',', fp);
            json_write_string(fp, json_key_at(v, i));
            fputc(':', fp);
            write_tree(fp, json_value_at(v, i));
        }
        fputc('}', fp);
        break;
    }
}

static int same_tree(const json_value *a, const json_value *b)
{
    if (json_type_of(a) != json_type_of(b))
        return 0;
    switch (json_type_of(a)) {
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE: return 1;
    case JSON_NUMBER: {
        double x = json_number(a), y = json_number(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    case JSON_STRING:
        return json_string_len(a) == json_string_len(b) &&
               memcmp(json_string(a), json_string(b), json_string_len(a)) == 0;
    case JSON_ARRAY:
        if (json_length(a) != json_length(b))
            return 0;
        for (size_t i = 0; i < json_length(a); i++)
            if (!same_tree(json_at(a, i), json_at(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT:
        if (json_length(a) != json_length(b))
            return 0;
        for (size_t i = 0; i < json_length(a); i++) {
            if (strcmp(json_key_at(a, i), json_key_at(b, i)) != 0 ||
                !same_tree(json_value_at(a, i), json_value_at(b, i)))
                return 0;
            /* Lookup finds each member. */
            if (json_get(a, json_key_at(a, i)) != json_value_at(a, i))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* Decoded strings must be valid UTF-8 (before the NUL check, so always). */
static void check_utf8(const json_value *v)
{
    switch (json_type_of(v)) {
    case JSON_STRING:
        REQUIRE(utf8_valid(json_string(v), json_string_len(v)));
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_length(v); i++)
            check_utf8(json_at(v, i));
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < json_length(v); i++) {
            REQUIRE(utf8_valid(json_key_at(v, i), json_key_len_at(v, i)));
            check_utf8(json_value_at(v, i));
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The message helper must stay bounded and terminated on any bytes. */
    char snip[24];
    json_snippet(snip, sizeof snip, (const char *)data, size);
    REQUIRE(strlen(snip) < sizeof snip);

    json_value *v = NULL;
    char err[256];
    ld_status st = json_parse((const char *)data, size, &v, err, sizeof err);
    if (st != LD_OK) {
        REQUIRE(v == NULL);
        REQUIRE(st == LD_ENOMEM || (st == LD_EINPUT && strncmp(err, "invalid JSON at byte ", 21) == 0));
        return 0;
    }
    check_utf8(v);
    if (!has_nul(v)) {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        REQUIRE(fp != NULL);
        write_tree(fp, v);
        REQUIRE(fclose(fp) == 0);
        json_value *w = NULL;
        st = json_parse(text, len, &w, err, sizeof err);
        REQUIRE(st == LD_OK);
        REQUIRE(same_tree(v, w));
        json_free(w);
        free(text);
    }
    json_free(v);
    return 0;
}
