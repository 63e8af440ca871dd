/* status.c - error codes, message formatting and checked size arithmetic. */
#include "status.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

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

const char *ld_status_name(ld_status st)
{
    switch (st) {
    case LD_OK: return "ok";
    case LD_EINPUT: return "bad input";
    case LD_EIO: return "i/o error";
    case LD_ENOMEM: return "out of memory";
    case LD_ESTATE: return "invalid state";
    }
    return "unknown error";
}

ld_status ld_fail(char *err, size_t errlen, ld_status st, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

int ld_mul_size(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int ld_mul3_size(size_t *out, size_t a, size_t b, size_t c)
{
    size_t ab;
    if (ld_mul_size(&ab, a, b) != 0)
        return -1;
    return ld_mul_size(out, ab, c);
}

int ld_add_size(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}
