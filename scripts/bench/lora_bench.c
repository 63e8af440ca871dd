/* lora_bench.c - time one model's training through the library, by phase.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * scripts/bench.sh uses it for what the runner cannot show by itself: the
 * one-time setup (trainer_init: the frozen base's cached output, the closed
 * form's X^T X and Y^T X) apart from the epochs, and the fine-tune path (a
 * LoRA model on a frozen base) while the runner has no fine-tune experiment.
 * It prints one JSON object on stdout.
 *
 *   lora_bench MODEL [--in I] [--out O] [--samples N] [--epochs E] [--rank R]
 *              [--threads T] [--seed S] [--hidden H]
 *   MODEL: dense | scratch (LoRA from scratch) | finetune (LoRA on a frozen
 *          random nn.Linear base, B = 0 as PEFT initialises it)
 *   --hidden H: the network I -> H -> O with relu (dense or finetune, every
 *          layer as above), lora_demo's --hidden H --activation relu.
 * Besides wall times it reports the fastest epoch on the thread's CPU clock
 * (epoch_cpu_ms_min; with --threads 1 all the work is on this thread), which
 * time lost to other jobs on a shared machine does not inflate.
 */
#define _POSIX_C_SOURCE 200112L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/activation.h"
#include "core/data.h"
#include "core/linear.h"
#include "core/lora.h"
#include "kernels/matmul.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "train/train.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double cpu_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A phase's CPU time, from the main thread's and the process's clocks and the
 * pool's job times (pool_timing): serial = the main thread outside jobs;
 * ideal = serial + each job's slowest thread, the phase's wall time on free
 * cores (wakes aside), whatever else runs on them now. */
typedef struct {
    double cpu, serial, path, jobs[2]; /* jobs: thread 0, the other threads */
    double wait;                       /* the main thread waiting for the others */
    long njobs;
} phase_cpu;

static phase_cpu phase_of(double main_ms, double proc_ms, const pool *p)
{
    pool_timing pt;
    pool_timing_read(p, &pt);
    phase_cpu ph = {proc_ms, main_ms - pt.job_ms[0] - pt.wait_ms, pt.path_ms, {pt.job_ms[0], 0.0},
                    pt.wait_ms, pt.jobs};
    for (int i = 1; i < pool_threads(p); i++)
        ph.jobs[1] += pt.job_ms[i];
    return ph;
}

static void print_phase(const char *name, const phase_cpu *ph)
{
    printf(", \"%s_cpu_ms\": %.3f, \"%s_serial_ms\": %.3f, \"%s_ideal_ms\": %.3f, "
           "\"%s_jobs_ms\": [%.3f, %.3f], \"%s_wait_ms\": %.3f, \"%s_jobs\": %ld",
           name, ph->cpu, name, ph->serial, name, ph->serial + ph->path, name, ph->jobs[0],
           ph->jobs[1], name, ph->wait, name, ph->njobs);
}

static int usage(void)
{
    fputs("usage: lora_bench dense|scratch|finetune [--in I] [--out O] [--samples N]\n"
          "                  [--epochs E] [--rank R] [--threads T] [--seed S] [--hidden H]\n",
          stderr);
    return 2;
}

static int parse_pos(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < 1 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *kind = argv[1];
    int in = 1024, out = 1024, n = 4096, epochs = 5, rank = 8, threads = 1, seed = 42, hidden = 0;
    for (int i = 2; i < argc; i += 2) {
        int *dst = NULL;
        if (strcmp(argv[i], "--in") == 0) dst = &in;
        else if (strcmp(argv[i], "--out") == 0) dst = &out;
        else if (strcmp(argv[i], "--samples") == 0) dst = &n;
        else if (strcmp(argv[i], "--epochs") == 0) dst = &epochs;
        else if (strcmp(argv[i], "--rank") == 0) dst = &rank;
        else if (strcmp(argv[i], "--threads") == 0) dst = &threads;
        else if (strcmp(argv[i], "--seed") == 0) dst = &seed;
        else if (strcmp(argv[i], "--hidden") == 0) dst = &hidden;
        if (dst == NULL || i + 1 >= argc || parse_pos(argv[i + 1], dst) != 0)
            return usage();
    }
    const int dense = strcmp(kind, "dense") == 0;
    const int finetune = strcmp(kind, "finetune") == 0;
    if ((!dense && !finetune && strcmp(kind, "scratch") != 0) ||
        (hidden > 0 && !dense && !finetune))
        return usage();
    const int H[1] = {hidden};
    const int nh = hidden > 0 ? 1 : 0;

    char err[256];
    dataset d;
    if (dataset_alloc(&d, n, in, out, err, sizeof err) != LD_OK) {
        fprintf(stderr, "lora_bench: %s\n", err);
        return 1;
    }
    rng r;
    rng_seed(&r, (uint64_t)seed, 1);
    dataset_make_random(&d, &r);

    model m;
    ld_status st;
    rng_seed(&r, (uint64_t)seed, 1000);
    if (dense) {
        const model_spec spec = model_spec_network(model_spec_dense(in, out), nh, H, ACT_RELU);
        st = model_init(&m, &spec, NULL, NULL, err, sizeof err);
        for (int l = 0; st == LD_OK && l < m.n_layers; l++)
            linear_init(m.layers[l].W, m.layers[l].b, m.layers[l].in, m.layers[l].out, &r);
    } else if (finetune) {
        const model_spec spec = model_spec_network(
            model_spec_lora(in, out, rank, (float)rank, 1.0f, 1), nh, H, ACT_RELU);
        const int mid = hidden > 0 ? hidden : out; /* layer 0's outputs */
        const size_t nw = (size_t)in * mid + (hidden > 0 ? (size_t)mid * out : 0);
        float *w0 = malloc(nw * sizeof(float));
        float *b0 = malloc((size_t)(mid + (hidden > 0 ? out : 0)) * sizeof(float));
        if (w0 == NULL || b0 == NULL) {
            free(w0);
            free(b0);
            fprintf(stderr, "lora_bench: out of memory\n");
            return 1;
        }
        linear_init(w0, b0, in, mid, &r); /* each layer's base follows the one before */
        if (hidden > 0)
            linear_init(w0 + (size_t)in * mid, b0 + mid, mid, out, &r);
        st = model_init(&m, &spec, w0, b0, err, sizeof err);
        for (int l = 0; st == LD_OK && l < m.n_layers; l++)
            lora_init_peft(m.layers[l].A, m.layers[l].B, m.layers[l].in, rank, m.layers[l].out, &r);
        free(w0);
        free(b0);
    } else {
        st = model_init(&m, (const model_spec[]){model_spec_lora(in, out, rank, (float)rank, 1.0f, 0)}, NULL,
                       NULL, err, sizeof err);
        if (st == LD_OK)
            lora_init_scratch(m.layers[0].A, m.layers[0].B, in, rank, out, &r);
    }
    if (st != LD_OK) {
        fprintf(stderr, "lora_bench: %s\n", err);
        return 1;
    }

    trainer t;
    trainer_options opt = trainer_defaults();
    opt.threads = threads;
    opt.time_pool = 1;
    const double c0 = cpu_ms(CLOCK_THREAD_CPUTIME_ID), p0 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    const double t0 = now_ms();
    st = trainer_init(&t, &m, d.x, d.y, n, 0, &opt, err, sizeof err);
    if (st != LD_OK) {
        fprintf(stderr, "lora_bench: %s\n", err);
        return 1;
    }
    const double t1 = now_ms();
    const double c1 = cpu_ms(CLOCK_THREAD_CPUTIME_ID), p1 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    const phase_cpu setup = phase_of(c1 - c0, p1 - p0, t.pool);
    pool_timing_on(t.pool, 1);
    const adam_config cfg = adam_defaults(0.01);
    double best = 1e300, best_cpu = 1e300;
    float first = 0.0f, last = 0.0f;
    for (int e = 0; e < epochs; e++) {
        const double a = now_ms(), ac = cpu_ms(CLOCK_THREAD_CPUTIME_ID);
        last = trainer_epoch(&t, &m, NULL, cfg);
        const double b = now_ms() - a, bc = cpu_ms(CLOCK_THREAD_CPUTIME_ID) - ac;
        if (bc < best_cpu)
            best_cpu = bc;
        if (e == 0)
            first = last;
        if (b < best)
            best = b;
    }
    const double t2 = now_ms();
    const double c2 = cpu_ms(CLOCK_THREAD_CPUTIME_ID), p2 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    const phase_cpu train = phase_of(c2 - c1, p2 - p1, t.pool);
    const char *method = t.method == TRAIN_CLOSED_FORM   ? "closed_form"
                         : t.method == TRAIN_LORA_FUSED  ? "lora_fused"
                         : t.method == TRAIN_LORA_NARROW ? "lora_narrow"
                         : t.method == TRAIN_LORA_CLOSED ? "lora_closed"
                         : t.method == TRAIN_NET_LORA    ? "net_lora"
                                                         : "plain";
    printf("{\"model\": \"%s\", \"in\": %d, \"out\": %d, \"hidden\": %d, \"samples\": %d, "
           "\"rank\": %d, \"epochs\": %d, \"threads\": %d, \"isa\": \"%s\", \"method\": \"%s\", "
           "\"setup_ms\": %.3f, \"train_ms\": %.3f, \"epoch_ms_mean\": %.3f, "
           "\"epoch_ms_min\": %.3f, \"epoch_cpu_ms_min\": %.3f, \"first_loss\": %.9g, "
           "\"last_loss\": %.9g",
           kind, in, out, hidden, n, dense ? 0 : rank, epochs, threads, matmul_isa_name(), method,
           t1 - t0, t2 - t1, (t2 - t1) / epochs, best, best_cpu, (double)first, (double)last);
    print_phase("setup", &setup);
    print_phase("train", &train);
    printf("}\n");
    trainer_free(&t);
    model_free(&m);
    dataset_free(&d);
    return 0;
}
