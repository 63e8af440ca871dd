/* cli.c - getopt_long parsing with strict number checks.
 *
 * Parse, don't atoi: every number goes through strtol/strtoull/strtod with an
 * end-pointer and errno check, and out-of-range values are rejected with a
 * message that names the flag and the value; nothing is silently clamped.
 */
#define _GNU_SOURCE /* getopt_long */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_EPOCHS = 256,
    OPT_SEED,
    OPT_LR,
    OPT_SAMPLES,
    OPT_TEST_SAMPLES,
    OPT_IN,
    OPT_OUT,
    OPT_RANKS,
    OPT_ALPHA,
    OPT_BATCH_SIZE,
    OPT_OUTPUT_DIR,
    OPT_THREADS,
};

static const struct option long_options[] = {
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"lr", required_argument, NULL, OPT_LR},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"test-samples", required_argument, NULL, OPT_TEST_SAMPLES},
    {"in", required_argument, NULL, OPT_IN},
    {"out", required_argument, NULL, OPT_OUT},
    {"ranks", required_argument, NULL, OPT_RANKS},
    {"alpha", required_argument, NULL, OPT_ALPHA},
    {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void cli_usage(FILE *fp)
{
    fputs("usage: lora_demo [options]\n"
          "\n"
          "Trains a dense nn.Linear-style baseline and LoRA layers of several ranks\n"
          "with Adam on MSE, and writes their loss curves and a summary.\n"
          "\n"
          "options (defaults in brackets):\n"
          "  --epochs N         training epochs per model [100]\n"
          "  --seed N           seed of every random stream, 0..2^64-1 [42]\n"
          "  --lr X             Adam learning rate, finite and > 0 [0.01]\n"
          "  --samples N        training samples [100]\n"
          "  --test-samples N   held-out samples for test MSE and predictions [20]\n"
          "  --in N             input features [10]\n"
          "  --out N            output features [5]\n"
          "  --ranks LIST       comma-separated LoRA ranks, each 1..min(in,out),\n"
          "                     no repeats [1,2,3,4]\n"
          "  --alpha X          LoRA alpha, scale = alpha/r [alpha = r, scale 1]\n"
          "  --batch-size N     mini-batch size, shuffled each epoch; N >= samples\n"
          "                     is one full batch [full batch]\n"
          "  --output-dir DIR   where results are written, created if missing [results]\n"
          "  --threads N        worker threads, 1..256; results are bit-identical for\n"
          "                     every N [1]\n"
          "  --quiet            print nothing on stdout\n"
          "  --help             show this help and exit\n"
          "  --version          show the version and exit\n"
          "\n"
          "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input\n",
          fp);
}

/* Whole number in [lo, hi]. */
static ld_status parse_int(const char *flag, const char *s, long lo, long hi, int *out, char *err,
                           size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == ' ' || s[0] == '\t')
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not a whole number", flag, s);
    if (errno == ERANGE || v > hi || v > INT_MAX)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too large (at most %ld)", flag, s,
                       hi < INT_MAX ? hi : (long)INT_MAX);
    if (v < lo)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' must be at least %ld", flag, s, lo);
    *out = (int)v;
    return LD_OK;
}

static ld_status parse_u64(const char *flag, const char *s, uint64_t *out, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    /* strtoull accepts a sign and wraps negatives: allow digits only */
    if (s[0] < '0' || s[0] > '9')
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not a non-negative whole number", flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not a non-negative whole number", flag, s);
    if (errno == ERANGE || v > UINT64_MAX)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too large (at most 2^64-1)", flag, s);
    *out = (uint64_t)v;
    return LD_OK;
}

/* Finite real number > 0. */
static ld_status parse_positive(const char *flag, const char *s, double *out, char *err,
                                size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || s[0] == ' ' || s[0] == '\t')
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not a number", flag, s);
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not finite", flag, s);
    if (!(v > 0.0) || errno == ERANGE)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' must be greater than 0", flag, s);
    *out = v;
    return LD_OK;
}

/* "1,2,4": non-empty, each a whole number >= 1, no repeats. The upper bound
 * min(in, out) is checked after all options are read. */
static ld_status parse_ranks(const char *s, config *c, char *err, size_t errlen)
{
    int n = 0;
    const char *p = s;
    if (*p == '\0')
        return ld_fail(err, errlen, LD_EINPUT, "--ranks: empty list");
    for (;;) {
        char *end = NULL;
        if (*p < '0' || *p > '9')
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' is not a comma-separated list of ranks", s);
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno == ERANGE || v > INT_MAX)
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' has a rank that is too large", s);
        if (v < 1)
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s': every rank must be at least 1", s);
        if (n == CONFIG_MAX_RANKS)
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' has more than %d ranks", s, CONFIG_MAX_RANKS);
        for (int i = 0; i < n; i++)
            if (c->ranks[i] == (int)v)
                return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' lists rank %ld twice", s, v);
        c->ranks[n++] = (int)v;
        if (*end == '\0')
            break;
        if (*end != ',')
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' is not a comma-separated list of ranks", s);
        p = end + 1;
    }
    c->n_ranks = n;
    return LD_OK;
}

ld_status cli_parse(int argc, char **argv, config *cfg, cli_action *action, char *err,
                    size_t errlen)
{
    config_defaults(cfg);
    *action = CLI_RUN;
    ld_status st = LD_OK;
    opterr = 0;  /* we report errors ourselves */
    optind = 0;  /* GNU: full reset, so cli_parse can be called repeatedly */
    for (;;) {
        int longidx = -1;
        int c = getopt_long(argc, argv, ":qhV", long_options, &longidx);
        if (c == -1)
            break;
        const char *name = longidx >= 0 ? long_options[longidx].name : "";
        switch (c) {
        case OPT_EPOCHS: st = parse_int(name, optarg, 1, INT_MAX, &cfg->epochs, err, errlen); break;
        case OPT_SEED: st = parse_u64(name, optarg, &cfg->seed, err, errlen); break;
        case OPT_LR: st = parse_positive(name, optarg, &cfg->lr, err, errlen); break;
        case OPT_SAMPLES: st = parse_int(name, optarg, 1, INT_MAX, &cfg->samples, err, errlen); break;
        case OPT_TEST_SAMPLES:
            st = parse_int(name, optarg, 1, INT_MAX, &cfg->test_samples, err, errlen);
            break;
        case OPT_IN: st = parse_int(name, optarg, 1, INT_MAX, &cfg->in, err, errlen); break;
        case OPT_OUT: st = parse_int(name, optarg, 1, INT_MAX, &cfg->out, err, errlen); break;
        case OPT_RANKS: st = parse_ranks(optarg, cfg, err, errlen); break;
        case OPT_ALPHA: st = parse_positive(name, optarg, &cfg->alpha, err, errlen); break;
        case OPT_BATCH_SIZE:
            st = parse_int(name, optarg, 1, INT_MAX, &cfg->batch_size, err, errlen);
            break;
        case OPT_THREADS:
            st = parse_int(name, optarg, 1, CONFIG_MAX_THREADS, &cfg->threads, err, errlen);
            break;
        case OPT_OUTPUT_DIR:
            if (optarg[0] == '\0')
                st = ld_fail(err, errlen, LD_EINPUT, "--output-dir: empty path");
            cfg->output_dir = optarg;
            break;
        case 'q': cfg->quiet = 1; break;
        case 'h': *action = CLI_HELP; return LD_OK;
        case 'V': *action = CLI_VERSION; return LD_OK;
        case ':':
            return ld_fail(err, errlen, LD_EINPUT, "%s: missing value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return ld_fail(err, errlen, LD_EINPUT, "unknown option '-%c'", optopt);
            return ld_fail(err, errlen, LD_EINPUT, "unknown option '%s'", argv[optind - 1]);
        }
        if (st != LD_OK)
            return st;
    }
    if (optind < argc)
        return ld_fail(err, errlen, LD_EINPUT, "unexpected argument '%s'", argv[optind]);

    const int max_rank = cfg->in < cfg->out ? cfg->in : cfg->out;
    for (int i = 0; i < cfg->n_ranks; i++)
        if (cfg->ranks[i] > max_rank)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--ranks: rank %d exceeds min(--in, --out) = %d", cfg->ranks[i], max_rank);
    return LD_OK;
}
