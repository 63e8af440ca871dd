/* status.h - error codes, and the small helpers every lora_demo module shares:
 * message formatting, checked size arithmetic, a string copy.
 *
 * Library code never exits and never prints. A function that can fail returns
 * an ld_status and, where it takes one, fills a caller-owned message buffer
 * (char *err, size_t errlen) with a single line that needs no further context,
 * e.g. "data.csv:4:3: not a number: 'abc'". Only main.c turns a status into
 * an exit code, with ld_exit_code().
 */
#ifndef LORA_DEMO_STATUS_H
#define LORA_DEMO_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    LD_OK = 0,
    LD_EINPUT,    /* bad usage or bad input data / file contents  -> exit 2 */
    LD_EIO,       /* a file or directory could not be read/written -> exit 1 */
    LD_ENOMEM,    /* allocation failed or a size would overflow    -> exit 1 */
    LD_ESTATE,    /* operation not valid in this state (e.g. merge twice) -> exit 1 */
} ld_status;

/* A size for message buffers: room for a message that quotes a path of
 * PATH_MAX (4096) bytes or two, and more. A longer message still keeps its
 * end (ld_fail below). */
#define LD_MSG_MAX 8192

/* Exit status for a status: 0 ok, 2 bad input/usage, 1 anything else. */
int ld_exit_code(ld_status st);

/* Marks a printf-like function: argument fmt is the format, first the first
 * value, so the compiler checks every call. */
#if defined(__GNUC__)
#define LD_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define LD_PRINTF(fmt, first)
#endif

/* printf into err (if err != NULL and errlen > 0), always NUL-terminated.
 * A message longer than errlen loses its middle, not its end: the start and
 * the end are kept around "..." (ld_cut_middle), so the reason that ends a
 * message ("...: No space left on device") survives a long path before it.
 * Returns st so callers can write `return ld_fail(err, errlen, LD_EIO, ...)`.
 *
 * ld_fail is a macro whose value is st itself, so that the static analyzer,
 * which does not look into a variadic function, sees every failure path
 * return st. st is evaluated twice: pass a constant or a variable. */
LD_PRINTF(4, 5) ld_status ld_fail_msg(char *err, size_t errlen, ld_status st, const char *fmt, ...);
#define ld_fail(err, errlen, st, ...) (ld_fail_msg((err), (errlen), (st), __VA_ARGS__), (st))

/* Copy the len bytes of src into dst (dstlen bytes, NUL-terminated); if they
 * do not fit, keep the start and the end around "...", cut on UTF-8
 * character boundaries. */
void ld_cut_middle(char *dst, size_t dstlen, const char *src, size_t len);

/* Overflow-checked size arithmetic: *out = a*b (or a*b*c). Returns 0 on
 * success, -1 if the product does not fit in size_t (then *out is left
 * alone). Inline, so that the static analyzer sees what *out becomes. */
static inline int ld_mul_size(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

static inline int ld_mul3_size(size_t *out, size_t a, size_t b, size_t c)
{
    size_t ab;
    if (ld_mul_size(&ab, a, b) != 0)
        return -1;
    return ld_mul_size(out, ab, c);
}

/* *out = a + b, 0 on success, -1 on overflow. */
static inline int ld_add_size(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}

/* Write s to fp for a message or a line of output, with every control
 * character shown as '?': C0 (a newline in a path, say), DEL, and C1 (U+0080
 * to U+009F, which some terminals take as a line break or an escape), so
 * whatever a path or value holds, the line stays one line. Errors are left in
 * ferror(fp). Every message that quotes a path or a user's value goes
 * through this (main.c, report.c). */
void ld_fputs_printable(const char *s, FILE *fp);

/* A malloc'd copy of s, or NULL if allocation fails. (C11 has no strdup.) */
char *ld_strdup(const char *s);

#endif /* LORA_DEMO_STATUS_H */
