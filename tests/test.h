/* test.h - the tiny test harness shared by every tests/test_*.c file.
 *
 * A suite is a `void test_<name>(void)` function listed in tests/test_main.c.
 * CHECK counts one assertion; a failure prints file:line and a message to
 * stderr and the run goes on. The runner prints "N passed, M failed" last and
 * exits non-zero if anything failed.
 */
#ifndef LORA_DEMO_TEST_H
#define LORA_DEMO_TEST_H

#include <stddef.h>
#include <stdio.h>

extern int t_passed;
extern int t_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            t_passed++;                                                         \
        } else {                                                                \
            t_failed++;                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Compare n floats: passes iff |got-want| <= atol + rtol*|want| for every
 * element (and neither is NaN). On failure prints name, the worst element's
 * index, both values and the difference. Counts as one assertion. Returns 1 on
 * pass, 0 on fail. */
int check_close(const char *name, const float *got, const float *want, size_t n,
                double atol, double rtol);

/* 1 if the n floats of a and b are the same bits; the index of the first
 * that differs (n if none), for messages. */
int same_bits(const float *a, const float *b, size_t n);
size_t first_diff(const float *a, const float *b, size_t n);

/* Scratch directory for tests that write files: "tests/tmp/<name>", created
 * fresh (emptied) on each call. Returns a static buffer. */
const char *test_tmpdir(const char *name);

/* Write path: head_len bytes of head, then a hole (zeros, no disk) up to
 * size bytes. 0 on success, -1 on failure. */
int test_sparse_file(const char *path, const char *head, size_t head_len, long long size);

/* Bytes this process has read so far through read() and its kind (Linux
 * /proc/self/io "rchar"), or -1 where that is not known. */
long long test_bytes_read(void);

/* One-layer models for tests, through model_init as the program builds
 * them: dense, and LoRA (on the frozen base w0, b0 when w0 is not NULL). */
#include "core/model.h"
ld_status test_model_dense(model *m, int in, int out, char *err, size_t errlen);
ld_status test_model_lora(model *m, int in, int out, int rank, double alpha, float scale,
                          const float *w0, const float *b0, char *err, size_t errlen);

#endif /* LORA_DEMO_TEST_H */
