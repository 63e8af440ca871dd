/* test_util.c - helpers for the test suites: scratch directories, models
 * built as the program builds them, bitwise comparison, files with holes,
 * bytes read. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomicio.h"
#include "test.h"

const char *test_tmpdir(const char *name)
{
    static char path[512];
    char cmd[600];
    snprintf(path, sizeof path, "tests/tmp/%s", name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not clear %s\n", path);
    char err[256];
    if (make_dirs(path, err, sizeof err) != LD_OK)
        fprintf(stderr, "warning: %s\n", err);
    return path;
}

ld_status test_model_dense(model *m, int in, int out, char *err, size_t errlen)
{
    const model_spec spec = model_spec_dense(in, out);
    return model_init(m, &spec, NULL, NULL, err, errlen);
}

ld_status test_model_lora(model *m, int in, int out, int rank, double alpha, float scale,
                          const float *w0, const float *b0, char *err, size_t errlen)
{
    const model_spec spec = model_spec_lora(in, out, rank, alpha, scale, w0 != NULL);
    return model_init(m, &spec, w0, b0, err, errlen);
}

int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return n;
}

int test_sparse_file(const char *path, const char *head, size_t head_len, long long size)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    const int wrote = fwrite(head, 1, head_len, fp) == head_len;
    if (fclose(fp) != 0 || !wrote)
        return -1;
    return truncate(path, (off_t)size);
}

long long test_bytes_read(void)
{
    FILE *fp = fopen("/proc/self/io", "r");
    if (fp == NULL)
        return -1;
    char line[128];
    long long rchar = -1;
    while (fgets(line, sizeof line, fp) != NULL)
        if (strncmp(line, "rchar:", 6) == 0)
            rchar = strtoll(line + 6, NULL, 10);
    fclose(fp);
    return rchar;
}
