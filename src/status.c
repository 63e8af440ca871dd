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
