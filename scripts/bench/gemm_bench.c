/* gemm_bench.c - the core's limits, and the matmul kernels measured against them.
 *
 * Dimension key: the generic GEMM letters, M rows of C, N columns of C, K the
 * summed dimension; the Gram product G (I,I) = X (N,I)^T X uses the training
 * key, N samples, I in.
 *
 * Not a test: it measures and prints. `make bench` runs it with --json
 * (scripts/bench.py puts OpenBLAS's sgemm beside it, through torch.mm, and
 * prints the table with ratios); run alone it prints its own table.
 *
 *   gemm_bench [--threads T] [--reps R] [--isa portable|avx2|avx512] [--wall] [--quick]
 *              [--json]
 *
 * What it measures, each the fastest of R runs, timed on the thread's CPU
 * clock on one thread (the machine is shared: time the core spent on other
 * jobs does not count) and on the wall clock on several:
 *   1. peak: a loop of independent multiply-adds on 12 (AVX2) or 24
 *      (AVX-512) register accumulators, nothing loaded or stored: with a
 *      fused multiply-add, and with a separate multiply and add (what the
 *      kernels use, matmul.h), on each vector width the CPU has; 1 thread;
 *   2. memory bandwidth: STREAM's copy (b = a) and triad (a = b + s c) on
 *      arrays of 2^24 floats (64 MiB each, twice the L3), bytes counted as
 *      STREAM does (read + written, no write-allocate), on T threads;
 *   3. GFLOP/s of matmul_nt, _tn, _nn (2 M N K flop) at 1024^3, 2048^3 and
 *      M x N x K = 4096 x 1024 x 4096, and of matmul_gram_mt at I = 1024,
 *      N = 1024; I = N = 2048; I = 1024, N = 4096 (counted as the whole
 *      product, 2 I I N, though it computes half: what the caller gets).
 * --wall: the wall clock on one thread too (to compare with several threads).
 * --quick: the smallest size only, one run (for a smoke test).
 */
#define _POSIX_C_SOURCE 200112L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

#include "kernels/matmul.h"
#include "kernels/pool.h"

/* The clock: on one thread the CPU time of the calling thread, so that time
 * the core spends on other jobs of a shared machine does not count (their
 * effect on the caches still does); on several, wall time. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* 1. peak: independent multiply-adds, all in registers */

#ifdef BENCH_X86
#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define R24(X) R12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define D256(i) __m256 a##i = _mm256_set1_ps((float)(i));
#define FMA256(i) a##i = _mm256_fmadd_ps(a##i, x, y);
#define MA256(i) a##i = _mm256_add_ps(a##i, _mm256_mul_ps(x, y));
#define S256(i) s = _mm256_add_ps(s, a##i);
#define D512(i) __m512 a##i = _mm512_set1_ps((float)(i));
#define FMA512(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define MA512(i) a##i = _mm512_add_ps(a##i, _mm512_mul_ps(x, y));
#define S512(i) s = _mm512_add_ps(s, a##i);

/* Each returns a sum of its accumulators so that none is optimised away; the
 * empty asm keeps x (and y) opaque, so no product is hoisted out of the loop. */
__attribute__((target("avx2,fma"), noinline)) static float peak_fma256(long n)
{
    __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    R12(D256)
    for (long k = 0; k < n; k++) {
        R12(FMA256)
        __asm__ volatile("" : "+x"(x));
    }
    __m256 s = _mm256_setzero_ps();
    R12(S256)
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}

__attribute__((target("avx2"), noinline)) static float peak_muladd256(long n)
{
    __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    R12(D256)
    for (long k = 0; k < n; k++) {
        R12(MA256)
        __asm__ volatile("" : "+x"(x), "+x"(y));
    }
    __m256 s = _mm256_setzero_ps();
    R12(S256)
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}

__attribute__((target("avx512f"), noinline)) static float peak_fma512(long n)
{
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    R24(D512)
    for (long k = 0; k < n; k++) {
        R24(FMA512)
        __asm__ volatile("" : "+v"(x));
    }
    __m512 s = _mm512_setzero_ps();
    R24(S512)
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f"), noinline)) static float peak_muladd512(long n)
{
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    R24(D512)
    for (long k = 0; k < n; k++) {
        R24(MA512)
        __asm__ volatile("" : "+v"(x), "+v"(y));
    }
    __m512 s = _mm512_setzero_ps();
    R24(S512)
    return _mm512_reduce_add_ps(s);
}
#endif

typedef struct {
    const char *name;
    int avail;
    double gflops;
} peak_row;

enum { PEAK_FMA256, PEAK_MULADD256, PEAK_FMA512, PEAK_MULADD512, NPEAK };

volatile float bench_sink; /* keeps results alive */

/* GFLOP/s of one peak loop: fastest of reps runs of n iterations (always on
 * the thread's CPU clock: it measures the core, whatever the pool). */
static double time_peak(int which, long n, int reps)
{
    double best = 1e30, flop = 0;
    const clockid_t saved = bench_clock;
    bench_clock = CLOCK_THREAD_CPUTIME_ID;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
#ifdef BENCH_X86
        switch (which) {
        case PEAK_FMA256:
            bench_sink = peak_fma256(n);
            flop = (double)n * 12 * 16;
            break;
        case PEAK_MULADD256:
            bench_sink = peak_muladd256(n);
            flop = (double)n * 12 * 16;
            break;
        case PEAK_FMA512:
            bench_sink = peak_fma512(n);
            flop = (double)n * 24 * 32;
            break;
        default:
            bench_sink = peak_muladd512(n);
            flop = (double)n * 24 * 32;
            break;
        }
#else
        (void)which;
        (void)n;
#endif
        const double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    bench_clock = saved;
    return flop > 0 ? flop / best * 1e-9 : 0.0;
}

static void measure_peak(peak_row rows[NPEAK], int reps, int quick)
{
    static const char *names[NPEAK] = {"avx2 fma", "avx2 mul+add", "avx512 fma", "avx512 mul+add"};
    int has256 = 0, has512 = 0;
#ifdef BENCH_X86
    __builtin_cpu_init();
    has256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    has512 = __builtin_cpu_supports("avx512f");
#endif
    const long n = quick ? 200000 : 2000000; /* ~10 ms per run at ~150 GFLOP/s */
    for (int i = 0; i < NPEAK; i++) {
        rows[i].name = names[i];
        rows[i].avail = i < PEAK_FMA512 ? has256 : has512;
        rows[i].gflops = rows[i].avail ? time_peak(i, i < PEAK_FMA512 ? n : n / 2, 5 * reps) : 0.0;
    }
}

/* ------------------------------------------------------------------------ */
/* 2. memory bandwidth: STREAM's copy and triad, rows split across the pool */

typedef struct {
    float *a, *b, *c;
    size_t n;
    int triad;
} stream_job;

static void stream_fn(void *ctx, int tid, int nthreads)
{
    const stream_job *j = ctx;
    const size_t lo = j->n * (size_t)tid / (size_t)nthreads;
    const size_t hi = j->n * (size_t)(tid + 1) / (size_t)nthreads;
    float *restrict a = j->a, *restrict b = j->b;
    const float *restrict c = j->c;
    if (j->triad) {
        for (size_t i = lo; i < hi; i++)
            a[i] = b[i] + 3.0f * c[i];
    } else {
        for (size_t i = lo; i < hi; i++)
            b[i] = a[i];
    }
}

/* GB/s of copy and triad; each array is written by the threads that use it
 * first, so its pages sit where they are read. */
static int measure_stream(pool *p, int reps, int quick, double *copy, double *triad)
{
    const size_t n = (size_t)1 << (quick ? 20 : 24);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *c = malloc(n * sizeof(float));
    if (a == NULL || b == NULL || c == NULL) {
        free(a);
        free(b);
        free(c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = 1.0f;
        b[i] = 2.0f;
        c[i] = 0.5f;
    }
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
        for (int t = 0; t < 2; t++) {
            stream_job j = {a, b, c, n, t};
            const double t0 = now_s();
            pool_run(p, stream_fn, &j);
            const double dt = now_s() - t0;
            if (r > 0 && dt < best[t])
                best[t] = dt;
        }
    }
    *copy = 2.0 * (double)n * sizeof(float) / best[0] * 1e-9;
    *triad = 3.0 * (double)n * sizeof(float) / best[1] * 1e-9;
    bench_sink = a[n / 2] + b[n / 3];
    free(a);
    free(b);
    free(c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* 3. the kernels */

typedef struct {
    const char *op; /* nt, tn, nn, gram */
    int M, N, K;    /* gram: M = N = I, K = samples */
} gemm_case;

static const gemm_case CASES[] = {
    {"nt", 1024, 1024, 1024}, {"tn", 1024, 1024, 1024}, {"nn", 1024, 1024, 1024},
    {"gram", 1024, 1024, 1024}, {"nt", 2048, 2048, 2048}, {"tn", 2048, 2048, 2048},
    {"nn", 2048, 2048, 2048}, {"gram", 2048, 2048, 2048}, {"nt", 4096, 1024, 4096},
    {"tn", 4096, 1024, 4096}, {"nn", 4096, 1024, 4096}, {"gram", 1024, 1024, 4096},
};
#define NCASES (sizeof CASES / sizeof CASES[0])
#define QUICK_CASES 4 /* the 1024^3 ones */

static void fill(float *v, size_t n, unsigned seed)
{
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
}

/* GFLOP/s of one case, fastest of reps runs (after one warm-up run); -1 if
 * memory runs out. */
static double time_case(const gemm_case *q, pool *p, int reps)
{
    const size_t M = (size_t)q->M, N = (size_t)q->N, K = (size_t)q->K;
    const int gram = strcmp(q->op, "gram") == 0;
    float *a = malloc(M * K * sizeof(float)), *b = malloc(N * K * sizeof(float));
    float *c = malloc(M * N * sizeof(float));
    if (a == NULL || b == NULL || c == NULL) {
        free(a);
        free(b);
        free(c);
        return -1.0;
    }
    fill(a, M * K, 1);
    fill(b, N * K, 2);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        const double t0 = now_s();
        if (gram)
            matmul_gram_mt(c, a, q->K, q->M, p); /* a as X (K samples, M features) */
        else if (q->op[0] == 'n' && q->op[1] == 't')
            matmul_nt_mt(c, a, b, q->M, q->N, q->K, 0, p);
        else if (q->op[0] == 't')
            matmul_tn_mt(c, a, b, q->M, q->N, q->K, 0, p);
        else
            matmul_nn_mt(c, a, b, q->M, q->N, q->K, 0, p);
        const double dt = now_s() - t0;
        if (r > 0 && dt < best)
            best = dt;
    }
    bench_sink = c[M * N / 2];
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)M * (double)N * (double)K / best * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* command line and output */

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "gemm_bench: %s must be an integer in %d..%d, not '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 3, json = 0, quick = 0, wall = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--wall") == 0) {
            wall = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) {
            if (parse_int("--threads", argv[++i], 1, POOL_MAX_THREADS, &threads) != 0)
                return 2;
        } else if (i + 1 < argc && strcmp(argv[i], "--isa") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "portable") == 0) {
                matmul_set_isa(MATMUL_ISA_PORTABLE);
            } else if (strcmp(v, "avx2") == 0) {
                matmul_set_isa(MATMUL_ISA_AVX2);
            } else if (strcmp(v, "avx512") == 0) {
                matmul_set_isa(MATMUL_ISA_AVX512);
            } else {
                fprintf(stderr, "gemm_bench: --isa must be portable, avx2 or avx512, not '%s'\n", v);
                return 2;
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) {
            if (parse_int("--reps", argv[++i], 1, 1000, &reps) != 0)
                return 2;
        } else {
            fprintf(stderr, "usage: gemm_bench [--threads T] [--reps R] [--isa portable|avx2|avx512]"
                            " [--wall] [--quick] [--json]\n");
            return 2;
        }
    }
    if (quick)
        reps = 1;
    if (threads == 1 && !wall)
        bench_clock = CLOCK_THREAD_CPUTIME_ID;
    pool *p = NULL;
    char err[128];
    if (pool_init(&p, threads, matmul_scratch_floats(), err, sizeof err) != LD_OK) {
        fprintf(stderr, "gemm_bench: %s\n", err);
        return 1;
    }
    peak_row peak[NPEAK];
    measure_peak(peak, reps, quick);
    double copy = 0, triad = 0;
    if (measure_stream(p, reps, quick, &copy, &triad) != 0) {
        fprintf(stderr, "gemm_bench: out of memory for the bandwidth arrays\n");
        pool_free(p);
        return 1;
    }
    const size_t ncases = quick ? QUICK_CASES : NCASES;
    double gf[NCASES];
    for (size_t i = 0; i < ncases; i++) {
        gf[i] = time_case(&CASES[i], p, reps);
        if (gf[i] < 0) {
            fprintf(stderr, "gemm_bench: out of memory for %s %dx%dx%d\n", CASES[i].op,
                    CASES[i].M, CASES[i].N, CASES[i].K);
            pool_free(p);
            return 1;
        }
    }
    pool_free(p);

    const char *isa = matmul_isa_name();
    /* the peak of what the kernels run: a separate multiply and add, on the
     * widest vectors their code path uses */
    const double ref = strcmp(isa, "avx512") == 0 ? peak[PEAK_MULADD512].gflops
                                                  : peak[PEAK_MULADD256].gflops;
    if (json) {
        printf("{\"isa\": \"%s\", \"threads\": %d, \"reps\": %d, \"clock\": \"%s\", \"peak\": {", isa,
               threads, reps, bench_clock == CLOCK_MONOTONIC ? "wall" : "thread cpu");
        for (int i = 0; i < NPEAK; i++)
            printf("%s\"%s\": %.2f", i ? ", " : "", peak[i].name, peak[i].avail ? peak[i].gflops : -1.0);
        printf("}, \"peak_ref\": %.2f, \"copy_gbs\": %.2f, \"triad_gbs\": %.2f, \"gemm\": [", ref,
               copy, triad);
        for (size_t i = 0; i < ncases; i++)
            printf("%s{\"op\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"gflops\": %.2f}",
                   i ? ", " : "", CASES[i].op, CASES[i].M, CASES[i].N, CASES[i].K, gf[i]);
        printf("]}\n");
        return 0;
    }
    printf("peak, 1 thread (GFLOP/s):");
    for (int i = 0; i < NPEAK; i++)
        if (peak[i].avail)
            printf("  %s %.1f", peak[i].name, peak[i].gflops);
    printf("\nmemory, %d thread(s): copy %.1f GB/s, triad %.1f GB/s\n", threads, copy, triad);
    printf("matmul on the %s path, %d thread(s), fastest of %d:\n", isa, threads, reps);
    printf("%-5s %18s %9s %12s\n", "op", "M x N x K", "GFLOP/s", "% of peak");
    for (size_t i = 0; i < ncases; i++)
        printf("%-5s %5d x %4d x %4d %9.1f %11.0f%%\n", CASES[i].op, CASES[i].M, CASES[i].N,
               CASES[i].K, gf[i], 100.0 * gf[i] / (ref * threads));
    return 0;
}
