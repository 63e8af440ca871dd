/* json.h - a small strict JSON (RFC 8259) parser (json.c) and the writing
 * helpers that every lora_demo output uses (json_write.c).
 *
 * The parser is meant for untrusted input (safetensors headers): it never
 * reads outside [text, text+len), limits nesting to JSON_MAX_DEPTH, and
 * rejects everything RFC 8259 does not allow (leading zeros, trailing commas,
 * raw control characters in strings, invalid UTF-8, lone surrogates, trailing
 * garbage, NaN/Infinity, ...). It also rejects duplicate object keys, because
 * safetensors requires tensor names to be unique, and numbers whose magnitude
 * overflows a double.
 *
 *     json_value *root;
 *     if (json_parse(text, len, &root, err, sizeof err) != LD_OK) ...;
 *     const json_value *shape = json_get(root, "shape");
 *     for (size_t i = 0; i < json_length(shape); i++) ... json_at(shape, i) ...
 *     json_free(root);
 *
 * Values are read through accessors; they are owned by the tree and live
 * until json_free() of the root. Accessors given a value of the wrong type
 * (or NULL) return a neutral result (0, NULL) rather than crash.
 *
 * Numbers are formatted and parsed in the "C" locale (lora_demo never calls
 * setlocale).
 */
#ifndef LORA_DEMO_JSON_H
#define LORA_DEMO_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* Deepest nesting of arrays/objects json_parse accepts: 64 nested arrays
 * parse, 65 do not. Bounds the parser's (and json_free's) recursion. */
#define JSON_MAX_DEPTH 64

/* true and false are types of their own, as null is: a boolean carries no
 * value beyond its type. */
typedef enum {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;

/* ------------------------------------------------------------------------ */
/* Parsing */

/* Parse exactly len bytes of text (no NUL terminator needed; NUL bytes outside
 * strings are an error) into a newly allocated tree in *out. On failure *out
 * is NULL and err holds "invalid JSON at byte <offset>: <reason>" (LD_EINPUT)
 * or an out-of-memory message (LD_ENOMEM). Offsets count from text[0]. */
ld_status json_parse(const char *text, size_t len, json_value **out, char *err, size_t errlen);

/* Free a tree returned by json_parse. NULL is allowed. */
void json_free(json_value *root);

/* ------------------------------------------------------------------------ */
/* Reading a tree */

json_type json_type_of(const json_value *v);      /* JSON_NULL for NULL */
const char *json_type_name(json_type t);          /* "null", "boolean", ... */

/* The number as the nearest double (0 if v is not a number). */
double json_number(const json_value *v);
/* 1 if v is a number written without fraction or exponent ("12", "-3"),
 * whatever its magnitude; "1.0" and "1e3" are not integers. */
int json_number_is_integer(const json_value *v);
/* 1 and *out set if v is a number written as a non-negative integer that
 * fits in uint64_t, exactly (no rounding through double); else 0. */
int json_number_u64(const json_value *v, uint64_t *out);

/* A string's decoded UTF-8 bytes, NUL-terminated; NULL if not a string.
 * The string may itself contain NUL bytes (from \u0000): use the length. */
const char *json_string(const json_value *v);
size_t json_string_len(const json_value *v);

/* Number of elements of an array or members of an object; 0 otherwise. */
size_t json_length(const json_value *v);
/* Element i of an array (NULL if out of range or not an array). */
const json_value *json_at(const json_value *arr, size_t i);
/* Member i of an object, in document order (NULL if out of range). The key
 * is NUL-terminated; json_key_len_at gives its length in bytes. */
const char *json_key_at(const json_value *obj, size_t i);
size_t json_key_len_at(const json_value *obj, size_t i);
const json_value *json_value_at(const json_value *obj, size_t i);
/* The member named key (compared as bytes), or NULL. O(log n). */
const json_value *json_get(const json_value *obj, const char *key);

/* ------------------------------------------------------------------------ */
/* Writing (json_write.c) */

/* Write s as a JSON string: quoted, with '"' and '\\' escaped, \b \f \n \r \t
 * as short escapes and other control characters as \u00XX. Bytes >= 0x80 are
 * copied as they are, so s must be valid UTF-8 for the output to be valid
 * JSON (check with utf8_valid, utf8.h). Errors are left in ferror(fp). */
void json_write_string(FILE *fp, const char *s);

/* Write x as the shortest decimal that reads back as the same double
 * ("0.1", "1e+20", "-0"), or null if x is NaN or infinite. */
void json_write_number(FILE *fp, double x);

/* Like json_write_number, but shortest for a float: 0.1f writes "0.1"
 * instead of "0.10000000149011612". */
void json_write_float(FILE *fp, float x);

/* Write a short, single-line, quoted rendering of s[0..len) into dst for an
 * error message: control bytes, quotes and backslashes are escaped, and long
 * strings are cut with "..." so untrusted names cannot flood or split a
 * message. dst is always NUL-terminated (if dstlen > 0). */
void json_snippet(char *dst, size_t dstlen, const char *s, size_t len);

#endif /* LORA_DEMO_JSON_H */
