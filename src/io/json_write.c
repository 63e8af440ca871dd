/* json_write.c - JSON text out: strings and numbers written to a file, and
 * short quoted snippets of untrusted text for messages. The parser is
 * json.c.
 */
#include "io/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
