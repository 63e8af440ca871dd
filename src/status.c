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

ld_status ld_fail_msg(char *err, size_t errlen, ld_status st, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
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
