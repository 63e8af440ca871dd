/* status.c - exit codes, message formatting and printing, a string copy. */
#include "status.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ld_exit_code(ld_status st)
{
    switch (st) {
    case LD_OK: return 0;
    case LD_EINPUT: return 2;
    case LD_EIO:
    case LD_ENOMEM:
    case LD_ESTATE: return 1;
    }
    return 1;
}

/* 1 if c continues a UTF-8 character (10xxxxxx): a cut must not land before it. */
static int utf8_continuation(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

void ld_cut_middle(char *dst, size_t dstlen, const char *src, size_t len)
{
    static const char dots[] = "...";
    const size_t ndots = sizeof dots - 1;
    if (dstlen == 0)
        return;
    if (len < dstlen) {
        memmove(dst, src, len);
        dst[len] = '\0';
        return;
    }
    if (dstlen <= ndots + 2) { /* no room for both ends: the start, as snprintf keeps */
        memmove(dst, src, dstlen - 1);
        dst[dstlen - 1] = '\0';
        return;
    }
    /* As much of each end as fits around the dots, on UTF-8 character
     * boundaries (a malformed sequence is cut after at most 3 bytes). */
    const size_t room = dstlen - 1 - ndots;
    size_t head = room / 2, tail = room - room / 2;
    for (int k = 0; k < 3 && head > 0 && utf8_continuation(src[head]); k++)
        head--;
    for (int k = 0; k < 3 && tail > 0 && utf8_continuation(src[len - tail]); k++)
        tail--;
    memmove(dst, src, head);
    memcpy(dst + head, dots, ndots);
    memmove(dst + head + ndots, src + len - tail, tail);
    dst[head + ndots + tail] = '\0';
}

ld_status ld_fail_msg(char *err, size_t errlen, ld_status st, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return st;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    const int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* Too long for err: format it whole and keep both ends, so the reason
     * at the end survives a long path or value before it. Without the
     * memory for that, the start stays, as vsnprintf left it. */
    if (n > 0 && (size_t)n >= errlen) {
        char *full = malloc((size_t)n + 1);
        if (full != NULL && vsnprintf(full, (size_t)n + 1, fmt, again) == n)
            ld_cut_middle(err, errlen, full, (size_t)n);
        free(full);
    }
    va_end(again);
    return st;
}

void ld_fputs_printable(const char *s, FILE *fp)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7F) {
            fputc('?', fp);
        } else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) { /* C1, as UTF-8 */
            fputc('?', fp);
            p++;
        } else {
            fputc(*p, fp);
        }
    }
}

char *ld_strdup(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}
