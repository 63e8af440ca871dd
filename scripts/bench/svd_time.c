/* svd_time.c - how long svd() takes on random matrices, and how accurate
 * the result is. A measurement, not a test: nothing depends on timing.
 *
 * Dimension key: m rows, n columns, k = min(m, n).
 *
 *   svd_time [--repeats R] [--block B] [--lq auto|on|off] [--isa auto|portable|both]
 *            [--route auto|jacobi|bidiag|both] [--threads T] [M N]...
 *
 * Default shapes: 256x256, 512x512, 1024x1024, 2048x512, 512x2048, 4096x64.
 * For each: a matrix of standard normals (PCG32, seed 1), decomposed R
 * times (default 3) for the values only and R times with U and V; printed
 * are the fastest wall-clock time and the least CPU time of each, the sweeps and rotations, and,
 * for the decomposition with vectors, ||U diag(s) V^T - A||_F / ||A||_F and
 * the largest |entry| of U^T U - I and V^T V - I. --isa both times each
 * shape with the portable sweep, then with the one the CPU takes (AVX2
 * where it has it: kernels/jacobi.c), and prints the CPU-time ratios, the
 * two measured in the same run. --route both times each shape with one-sided
 * Jacobi, then bidiagonal QR, and prints the CPU-time ratios Jacobi / QR
 * the same way. --threads T (T > 1) times each shape on one thread, then
 * on a pool of T (svd_options.pool: the bidiagonal route forms U and V on
 * it), and prints the wall-time ratios; CPU time then counts every
 * thread. Results: docs/performance.md.
 */
#define _POSIX_C_SOURCE 200112L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/svd.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"

#define MAX_SHAPES 32

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(void)
{
    fprintf(stderr, "usage: svd_time [--repeats R] [--block B] [--lq auto|on|off] "
                    "[--isa auto|portable|both] [--route auto|jacobi|bidiag|both] [--threads T] "
                    "[M N]...\n");
    return 2;
}

/* A whole number in [1, INT_MAX], or -1. */
static int parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < 1 || v > INT_MAX)
        return -1;
    return (int)v;
}

/* ||U diag(s) V^T - A||_F / ||A||_F. u (m, k), s (k), vt (k, n), a (m, n). */
static double reconstruction_error(const double *u, const double *s, const double *vt,
                                   const double *a, int m, int n, int k)
{
    double err = 0.0, norm = 0.0;
    for (int i = 0; i < m; i++)
        for (int c = 0; c < n; c++) {
            double v = 0.0;
            for (int r = 0; r < k; r++)
                v += u[(size_t)i * k + r] * s[r] * vt[(size_t)r * n + c];
            const double x = a[(size_t)i * n + c];
            err += (v - x) * (v - x);
            norm += x * x;
        }
    return norm > 0.0 ? sqrt(err / norm) : sqrt(err);
}

/* Largest |entry| of X^T X - I for x (rows, cols) with stride ld between
 * consecutive rows, read as columns (transposed = 0) or rows (1). */
static double orthonormality_error(const double *x, int rows, int cols, int transposed)
{
    const int vecs = transposed ? rows : cols, len = transposed ? cols : rows;
    double worst = 0.0;
    for (int p = 0; p < vecs; p++)
        for (int q = p; q < vecs; q++) {
            double v = 0.0;
            for (int i = 0; i < len; i++)
                v += transposed ? x[(size_t)p * cols + i] * x[(size_t)q * cols + i]
                                : x[(size_t)i * cols + p] * x[(size_t)i * cols + q];
            v -= p == q ? 1.0 : 0.0;
            if (fabs(v) > worst)
                worst = fabs(v);
        }
    return worst;
}

/* Decompose a (m, n) repeats times; best[0] the fastest wall-clock time in
 * seconds, best[1] the least CPU time (the machine is shared: CPU time
 * leaves out the time other jobs had the core). Returns 0, or -1 after
 * printing the error. */
static int time_svd(double best[2], double *s, double *u, double *vt, const double *a, int m,
                    int n, const svd_options *opt, int repeats, svd_info *info)
{
    best[0] = best[1] = INFINITY;
    for (int r = 0; r < repeats; r++) {
        char err[256];
        const double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        ld_status st = svd_ex(s, u, vt, a, m, n, opt, info, err, sizeof err);
        const double c = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, w = now_s(CLOCK_MONOTONIC) - w0;
        if (st != LD_OK) {
            fprintf(stderr, "svd_time: %s\n", err);
            return -1;
        }
        best[0] = w < best[0] ? w : best[0];
        best[1] = c < best[1] ? c : best[1];
    }
    return 0;
}

/* Seconds of the last shape timed, values only and with U, V: CPU, wall. */
static double last_cpu[2], last_wall[2];

static int run_shape(int m, int n, const svd_options *opt, int repeats)
{
    const int k = m < n ? m : n;
    double *a = calloc((size_t)m * n, sizeof *a), *s = calloc((size_t)k, sizeof *s);
    double *u = calloc((size_t)m * k, sizeof *u), *vt = calloc((size_t)k * n, sizeof *vt);
    int rc = 1;
    if (a != NULL && s != NULL && u != NULL && vt != NULL) {
        rng g;
        rng_seed(&g, 1, 0);
        for (size_t i = 0; i < (size_t)m * n; i++)
            a[i] = rng_normal(&g);
        svd_info iv, iu;
        double tv[2], tu[2];
        if (time_svd(tv, s, NULL, NULL, a, m, n, opt, repeats, &iv) == 0 &&
            time_svd(tu, s, u, vt, a, m, n, opt, repeats, &iu) == 0) {
            last_cpu[0] = tv[1];
            last_cpu[1] = tu[1];
            last_wall[0] = tv[0];
            last_wall[1] = tu[0];
            printf("%5d x %-5d  %6.3f %6.3f  %6.3f %6.3f  %6d  %10ld  %9.2e  %9.2e  %9.2e  %s %s\n",
                   m, n, tv[0], tv[1], tu[0], tu[1], iu.sweeps, iu.rotations,
                   reconstruction_error(u, s, vt, a, m, n, k),
                   orthonormality_error(u, m, k, 0), orthonormality_error(vt, k, n, 1),
                   matmul_isa_name(), iu.route == SVD_ROUTE_BIDIAG ? "bidiag" : "jacobi");
            rc = 0;
        }
    } else {
        fprintf(stderr, "svd_time: out of memory for %dx%d\n", m, n);
    }
    fflush(stdout);
    free(a);
    free(s);
    free(u);
    free(vt);
    return rc;
}

int main(int argc, char **argv)
{
    static const int defaults[][2] = {{256, 256}, {512, 512},  {1024, 1024},
                                      {2048, 512}, {512, 2048}, {4096, 64}};
    int shapes[MAX_SHAPES][2], n_shapes = 0, repeats = 3, both = 0, routes = 0, threads = 1;
    svd_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0) {
            threads = i + 1 < argc ? parse_count(argv[i + 1]) : -1;
            if (threads < 1 || threads > POOL_MAX_THREADS)
                return usage();
            i++;
        } else if (strcmp(argv[i], "--repeats") == 0 || strcmp(argv[i], "--block") == 0) {
            const int v = i + 1 < argc ? parse_count(argv[i + 1]) : -1;
            if (v < 0)
                return usage();
            *(argv[i][2] == 'r' ? &repeats : &opt.block) = v;
            i++;
        } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "auto") != 0 && strcmp(v, "portable") != 0 && strcmp(v, "both") != 0)
                return usage();
            both = strcmp(v, "both") == 0;
            matmul_set_isa(strcmp(v, "portable") == 0 ? MATMUL_ISA_PORTABLE : MATMUL_ISA_AUTO);
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "auto") == 0)
                opt.route = SVD_ROUTE_AUTO;
            else if (strcmp(v, "jacobi") == 0)
                opt.route = SVD_ROUTE_JACOBI;
            else if (strcmp(v, "bidiag") == 0)
                opt.route = SVD_ROUTE_BIDIAG;
            else if (strcmp(v, "both") == 0)
                routes = 1;
            else
                return usage();
        } else if (strcmp(argv[i], "--lq") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "auto") != 0 && strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
                return usage();
            opt.lq = strcmp(v, "on") == 0 ? 1 : strcmp(v, "off") == 0 ? -1 : 0;
        } else {
            const int m = parse_count(argv[i]), n = i + 1 < argc ? parse_count(argv[i + 1]) : -1;
            if (m < 0 || n < 0 || n_shapes == MAX_SHAPES)
                return usage();
            shapes[n_shapes][0] = m;
            shapes[n_shapes][1] = n;
            n_shapes++;
            i++;
        }
    }
    if (threads > 1 && (routes || both)) {
        fprintf(stderr, "svd_time: --threads compares thread counts; not with --route both or "
                        "--isa both\n");
        return 2;
    }
    if (n_shapes == 0) {
        n_shapes = (int)(sizeof defaults / sizeof defaults[0]);
        memcpy(shapes, defaults, sizeof defaults);
    }
    pool *pl = NULL;
    if (threads > 1) {
        char err[256];
        if (pool_init(&pl, threads, 0, err, sizeof err) != LD_OK) {
            fprintf(stderr, "svd_time: %s\n", err);
            return 1;
        }
    }
    printf("               values (s)     U, V (s)\n");
    printf("    m x n      wall    cpu    wall    cpu   sweeps   rotations  ||USV-A||  |UtU-I|    "
           "|VtV-I|    sweep\n");
    int rc = 0;
    for (int i = 0; i < n_shapes; i++) {
        double base[2] = {0.0, 0.0};
        if (routes) {
            opt.route = SVD_ROUTE_JACOBI;
            rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
            memcpy(base, last_cpu, sizeof base);
            opt.route = SVD_ROUTE_BIDIAG;
            rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
            if (rc == 0)
                printf("             CPU time Jacobi / bidiagonal QR: values %.2fx, with U, V %.2fx\n",
                       base[0] / last_cpu[0], base[1] / last_cpu[1]);
            continue;
        }
        if (pl != NULL) {
            rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
            double wall1[2];
            memcpy(wall1, last_wall, sizeof wall1);
            opt.pool = pl;
            rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
            opt.pool = NULL;
            if (rc == 0)
                printf("             wall time 1 / %d threads: values %.2fx, with U, V %.2fx\n",
                       threads, wall1[0] / last_wall[0], wall1[1] / last_wall[1]);
            continue;
        }
        if (both) {
            matmul_set_isa(MATMUL_ISA_PORTABLE);
            rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
            memcpy(base, last_cpu, sizeof base);
            matmul_set_isa(MATMUL_ISA_AUTO);
        }
        rc |= run_shape(shapes[i][0], shapes[i][1], &opt, repeats);
        if (both && rc == 0)
            printf("             CPU time portable / %s: values %.2fx, with U, V %.2fx\n",
                   matmul_isa_name(), base[0] / last_cpu[0], base[1] / last_cpu[1]);
    }
    pool_free(pl);
    return rc;
}
