/* test_main.c - runs every C test suite and prints "N passed, M failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

int t_passed = 0;
int t_failed = 0;

int check_close(const char *name, const float *got, const float *want, size_t n,
                double atol, double rtol)
{
    size_t worst = 0;
    double worst_excess = -1.0, worst_diff = 0.0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double diff = fabs(g - w);
        double excess = diff - (atol + rtol * fabs(w));
        if (isnan(g) || isnan(w))
            excess = INFINITY;
        if (excess > 0)
            bad = 1;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
            worst_diff = diff;
        }
    }
    if (bad) {
        t_failed++;
        fprintf(stderr,
                "FAIL %s: worst element [%zu]: got %.9g want %.9g |diff| %.3g "
                "(atol %.1g rtol %.1g)\n",
                name, worst, (double)got[worst], (double)want[worst], worst_diff, atol, rtol);
        return 0;
    }
    t_passed++;
    return 1;
}

/* Each suite lives in its own tests/test_<name>.c. */
#define SUITES(X) \
    X(status) \
    X(status_write_errors) \
    X(rng) \
    X(optim) \
    X(grad) \
    X(cli) \
    X(scale) \
    X(svg) \
    X(csv) \
    X(parity) \
    X(json) \
    X(safetensors) \
    X(finetune) \
    X(export) \
    X(matmul) \
    X(pool) \
    X(train) \
    X(faults) \
    X(staging) \
    X(svd) \
    X(svd_bidiag) \
    X(pissa) \
    X(network) \
    X(spectrum) \
    X(spectra) \
    X(variants) \
    X(net_fast)

#define DECLARE(name) void test_##name(void);
SUITES(DECLARE)
#undef DECLARE

int main(int argc, char **argv)
{
    struct { const char *name; void (*fn)(void); } suites[] = {
#define ENTRY(name) {#name, test_##name},
        SUITES(ENTRY)
#undef ENTRY
    };
    size_t n = sizeof suites / sizeof suites[0];
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
            continue;
        int f0 = t_failed;
        suites[i].fn();
        fprintf(stderr, "%-16s %s\n", suites[i].name, t_failed == f0 ? "ok" : "FAILED");
    }
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed == 0 ? 0 : 1;
}
