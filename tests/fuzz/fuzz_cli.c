/* fuzz_cli.c - libFuzzer target for the option parser (cli_parse).
 *
 * Build and run: `make fuzz` (FUZZ_SECONDS each), or by hand from the
 * repository root:
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_cli.c src/cli.c src/config.c src/status.c src/io/utf8.c -lm -o fuzz_cli
 *   ./fuzz_cli -dict=tests/fuzz/cli.dict -max_total_time=60 fuzz-out/cli tests/fuzz/corpus/cli
 *
 * Input: the arguments after argv[0], separated by NUL bytes ("--epochs\0"
 * "5\0--quiet"); at most 64 of them. Besides crashes and sanitizer reports,
 * it aborts when a promise of cli.h breaks:
 *   - a failure is LD_EINPUT with a non-empty, terminated message, and the
 *     message is one line without control characters whenever the
 *     arguments have none (it may quote an argument);
 *   - an accepted run has a valid config: every count >= 1, ranks unique in
 *     1..min(in, out) (with --data or --base-weights only unique and >= 1:
 *     in and out come from the files, checked when they are read),
 *     lr/alpha/noise in range and normal floats (noise may be 0, and its
 *     square fits a float), every rank's scale a normal float, the seeds
 *     not past 2^64-1, an output directory, every path valid UTF-8;
 *   - parsing is repeatable: a second cli_parse of a fresh copy of the same
 *     arguments (getopt_long permutes argv and keeps state, reset by
 *     optind = 0) gives the same status, action, message and config.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "io/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

#define MAX_ARGS 64

/* argv for the input: "lora_demo", then each NUL-separated piece of buf
 * (a copy of the input with a NUL appended). Returns argc. */
static int split_args(char *buf, size_t size, char **argv)
{
    static char prog[] = "lora_demo";
    int argc = 0;
    argv[argc++] = prog;
    if (size > 0) {
        char *p = buf, *end = buf + size;
        while (argc < MAX_ARGS + 1) {
            argv[argc++] = p;
            p += strlen(p) + 1;
            if (p > end)
                break;
        }
    }
    argv[argc] = NULL;
    return argc;
}

static int has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return 1;
    return 0;
}

/* 1 if x is a normal float once rounded to one: finite (below FLT_MAX plus
 * half an ulp, which rounds to inf), and not 0 or subnormal. */
static int normal_float(double x)
{
    return isfinite(x) && fabs(x) < 0x1.ffffffp+127 && fabsf((float)x) >= FLT_MIN;
}

static void check_config(const config *c)
{
    REQUIRE(c->experiment == EXPERIMENT_SCRATCH || c->experiment == EXPERIMENT_FINETUNE);
    REQUIRE(c->epochs >= 1 && c->samples >= 1 && c->test_samples >= 1);
    REQUIRE(c->in >= 1 && c->out >= 1 && c->repeats >= 1 && c->batch_size >= 0);
    REQUIRE(isfinite(c->lr) && c->lr > 0.0 && normal_float(c->lr));
    REQUIRE(c->alpha == 0.0 || (isfinite(c->alpha) && c->alpha > 0.0 && normal_float(c->alpha)));
    REQUIRE(isfinite(c->noise) && c->noise >= 0.0 && (c->noise == 0.0 || normal_float(c->noise)));
    REQUIRE(c->noise * c->noise <= FLT_MAX);
    for (int i = 0; i < c->n_ranks; i++)
        REQUIRE(normal_float(config_alpha(c, c->ranks[i])) && normal_float(config_scale(c, c->ranks[i])));
    /* With --data or --base-weights, in and out come from the files, and
     * the ranks are checked against them once they are read
     * (config_merge_sizes): here they only have to be positive and distinct;
     * --ranks all has none yet (config_resolve_ranks fills them in then). */
    const int from_files = c->data != NULL || c->base_weights != NULL;
    if (c->ranks_all && from_files)
        REQUIRE(c->n_ranks == 0);
    else
        REQUIRE(c->n_ranks >= 1 && c->n_ranks <= CONFIG_MAX_RANKS);
    const int max_rank = from_files ? INT_MAX : c->in < c->out ? c->in : c->out;
    for (int i = 0; i < c->n_ranks; i++) {
        REQUIRE(c->ranks[i] >= 1 && c->ranks[i] <= max_rank);
        for (int j = 0; j < i; j++)
            REQUIRE(c->ranks[i] != c->ranks[j]);
    }
    if (c->experiment == EXPERIMENT_FINETUNE)
        REQUIRE(c->delta_rank >= 1 && c->delta_rank <= max_rank && c->pretrain_epochs >= 1);
    REQUIRE((uint64_t)c->repeats - 1u <= UINT64_MAX - c->seed);
    REQUIRE(c->output_dir != NULL && c->output_dir[0] != '\0');
    /* every path summary.json records is UTF-8 (cli.c parse_path) */
    const char *const paths[] = {c->output_dir, c->data, c->test_data, c->base_weights};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        REQUIRE(paths[i] == NULL || utf8_valid(paths[i], strlen(paths[i])));
    REQUIRE(c->rslora == 0 || c->rslora == 1);
    REQUIRE(c->quiet == 0 || c->quiet == 1);
    REQUIRE(c->threads >= 1 && c->threads <= 256);
}

/* Both NULL, or equal strings. */
static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Member by member: memcmp would also compare padding bytes, whose values
 * C leaves unspecified. */
static int same_config(const config *a, const config *b)
{
    return a->experiment == b->experiment && a->epochs == b->epochs && a->seed == b->seed &&
           memcmp(&a->lr, &b->lr, sizeof a->lr) == 0 && a->samples == b->samples &&
           a->test_samples == b->test_samples && a->in == b->in && a->out == b->out &&
           a->n_ranks == b->n_ranks &&
           memcmp(a->ranks, b->ranks, (size_t)a->n_ranks * sizeof a->ranks[0]) == 0 &&
           memcmp(&a->alpha, &b->alpha, sizeof a->alpha) == 0 && a->rslora == b->rslora &&
           a->batch_size == b->batch_size && a->repeats == b->repeats &&
           a->delta_rank == b->delta_rank && memcmp(&a->noise, &b->noise, sizeof a->noise) == 0 &&
           a->pretrain_epochs == b->pretrain_epochs && same_str(a->output_dir, b->output_dir) &&
           a->quiet == b->quiet && same_str(a->data, b->data) &&
           same_str(a->test_data, b->test_data) && same_str(a->base_weights, b->base_weights) &&
           a->save_data == b->save_data && a->save_weights == b->save_weights &&
           a->given == b->given && a->threads == b->threads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf1 = malloc(size + 1), *buf2 = malloc(size + 1);
    REQUIRE(buf1 != NULL && buf2 != NULL);
    memcpy(buf1, data, size);
    buf1[size] = '\0';
    memcpy(buf2, buf1, size + 1);
    char *argv1[MAX_ARGS + 2], *argv2[MAX_ARGS + 2];
    const int argc = split_args(buf1, size, argv1);
    REQUIRE(split_args(buf2, size, argv2) == argc);
    int control = 0;
    for (int i = 1; i < argc; i++)
        control |= has_control(argv1[i]);

    config c1, c2;
    cli_action a1, a2;
    char err1[512], err2[512];
    memset(err1, 'Z', sizeof err1);
    memset(err2, 'Z', sizeof err2);
    const ld_status s1 = cli_parse(argc, argv1, &c1, &a1, err1, sizeof err1);
    const ld_status s2 = cli_parse(argc, argv2, &c2, &a2, err2, sizeof err2);

    REQUIRE(s1 == s2);
    if (s1 != LD_OK) {
        REQUIRE(s1 == LD_EINPUT);
        const char *nul = memchr(err1, '\0', sizeof err1);
        REQUIRE(nul != NULL && nul != err1);
        REQUIRE(strcmp(err1, err2) == 0);
        if (!control)
            REQUIRE(!has_control(err1));
    } else {
        REQUIRE(a1 == a2);
        REQUIRE(a1 == CLI_RUN || a1 == CLI_HELP || a1 == CLI_VERSION);
        if (a1 == CLI_RUN) {
            check_config(&c1);
            REQUIRE(same_config(&c1, &c2));
        }
    }
    free(buf1);
    free(buf2);
    return 0;
}
