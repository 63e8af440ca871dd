/* utf8.h - UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. JSON text must be UTF-8 (RFC 8259), so the JSON
 * parser checks every string with these, and the safetensors writer checks
 * the names it is given before it writes them.
 */
#ifndef LORA_DEMO_UTF8_H
#define LORA_DEMO_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence starting at s[0] (at most n >= 1
 * bytes available), or 0 if it is malformed. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* 1 if s[0..len) is well-formed UTF-8, else 0. */
int utf8_valid(const char *s, size_t len);

/* Write code point cp (at most U+10FFFF, not a surrogate) to dst as 1 to 4
 * bytes; returns how many. */
size_t utf8_put(char *dst, unsigned cp);

#endif /* LORA_DEMO_UTF8_H */
