/* status.h - error codes shared by every lora_demo module.
 *
 * Library code never exits and never prints. A function that can fail returns
 * an ld_status and, where it takes one, fills a caller-owned message buffer
 * (char *err, size_t errlen) with a single line that needs no further context,
 * e.g. "data.csv:4:3: not a number: 'abc'". Only main.c turns a status into
 * an exit code, with ld_exit_code().
 */
#ifndef LORA_DEMO_STATUS_H
#define LORA_DEMO_STATUS_H

#include <stddef.h>

typedef enum {
    LD_OK = 0,
    LD_EINPUT,    /* bad usage or bad input data / file contents  -> exit 2 */
    LD_EIO,       /* a file or directory could not be read/written -> exit 1 */
    LD_ENOMEM,    /* allocation failed or a size would overflow    -> exit 1 */
    LD_ESTATE,    /* operation not valid in this state (e.g. merge twice) -> exit 1 */
} ld_status;

/* Exit status for a status: 0 ok, 2 bad input/usage, 1 anything else. */
int ld_exit_code(ld_status st);

/* Short lower-case name of a status, e.g. "bad input". Never NULL. */
const char *ld_status_name(ld_status st);

/* printf into err (if err != NULL and errlen > 0), always NUL-terminated.
 * Returns st so callers can write `return ld_fail(err, errlen, LD_EIO, ...)`. */
ld_status ld_fail(char *err, size_t errlen, ld_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Overflow-checked size arithmetic: *out = a*b (or a*b*c). Returns 0 on
 * success, -1 if the product does not fit in size_t. */
int ld_mul_size(size_t *out, size_t a, size_t b);
int ld_mul3_size(size_t *out, size_t a, size_t b, size_t c);
/* *out = a + b, 0 on success, -1 on overflow. */
int ld_add_size(size_t *out, size_t a, size_t b);

#endif /* LORA_DEMO_STATUS_H */
