/* cli.c - getopt_long parsing with strict number checks.
 *
 * Parse, don't atoi: every number goes through strtol/strtoull/strtod with an
 * end-pointer and errno check, and out-of-range values are rejected with a
 * message that names the flag and the value; nothing is silently clamped.
 */
#define _GNU_SOURCE /* getopt_long */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/utf8.h"

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
    OPT_EXPERIMENT,
    OPT_DELTA_RANK,
    OPT_NOISE,
    OPT_PRETRAIN_EPOCHS,
    OPT_REPEATS,
    OPT_RSLORA,
    OPT_DATA,
    OPT_TEST_DATA,
    OPT_BASE_WEIGHTS,
    OPT_SAVE_DATA,
    OPT_SAVE_WEIGHTS,
    OPT_THREADS,
    OPT_INIT,
    OPT_HIDDEN,
    OPT_ACTIVATION,
    OPT_LORAPLUS_RATIO,
    OPT_LORA_DROPOUT,
    OPT_DORA,
    OPT_END /* one past the last long-only option */
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
    {"experiment", required_argument, NULL, OPT_EXPERIMENT},
    {"delta-rank", required_argument, NULL, OPT_DELTA_RANK},
    {"noise", required_argument, NULL, OPT_NOISE},
    {"pretrain-epochs", required_argument, NULL, OPT_PRETRAIN_EPOCHS},
    {"repeats", required_argument, NULL, OPT_REPEATS},
    {"rslora", no_argument, NULL, OPT_RSLORA},
    {"data", required_argument, NULL, OPT_DATA},
    {"test-data", required_argument, NULL, OPT_TEST_DATA},
    {"base-weights", required_argument, NULL, OPT_BASE_WEIGHTS},
    {"save-data", no_argument, NULL, OPT_SAVE_DATA},
    {"save-weights", no_argument, NULL, OPT_SAVE_WEIGHTS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"init", required_argument, NULL, OPT_INIT},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"activation", required_argument, NULL, OPT_ACTIVATION},
    {"loraplus-ratio", required_argument, NULL, OPT_LORAPLUS_RATIO},
    {"lora-dropout", required_argument, NULL, OPT_LORA_DROPOUT},
    {"dora", no_argument, NULL, OPT_DORA},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* strtol and strtod skip any leading isspace; trailing space stops them and
 * is refused, so leading space (' 5', but also '\n5', '\v5', '\f5', '\r5')
 * is refused too. */
static int leading_space(const char *s)
{
    return isspace((unsigned char)s[0]) != 0;
}

/* Whole number in [lo, hi]. */
static ld_status parse_int(const char *flag, const char *s, long lo, long hi, int *out, char *err,
                           size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || leading_space(s))
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

/* A finite real number, > 0 (allow_zero == 0) or >= 0 (allow_zero == 1).
 * A value that underflows to zero is refused rather than rounded. */
static ld_status parse_real(const char *flag, const char *s, int allow_zero, double *out,
                            char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || leading_space(s))
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not a number", flag, s);
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not finite", flag, s);
    if (!allow_zero && (!(v > 0.0) || errno == ERANGE))
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' must be greater than 0", flag, s);
    if (errno == ERANGE)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too small to represent", flag, s);
    if (!(v >= 0.0))
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' must be at least 0", flag, s);
    *out = v + 0.0; /* -0 becomes 0 */
    return LD_OK;
}

/* The smallest double that rounds to +inf as a float (FLT_MAX plus half an
 * ulp; csv.c has the same bound): comparing with it, not FLT_MAX, keeps
 * "3.40282347e+38", FLT_MAX's %.9g, and never casts a value out of range. */
#define CLI_FLOAT_OVERFLOW 0x1.ffffffp+127

/* A real option as the float it is used as (Adam's step sizes are floats;
 * alpha and the scale are floats; the noise is added to float targets): it
 * must be a normal float, at most max. A value that is 0 or subnormal as a
 * float would train nothing, or with another value than was asked, and is
 * refused like 0 itself; 0 stays 0 where allow_zero says it may. why_max
 * says where max comes from, if it is not the float range. */
static ld_status check_float(const char *flag, const char *s, double v, int allow_zero, double max,
                             const char *why_max, char *err, size_t errlen)
{
    if (v >= CLI_FLOAT_OVERFLOW)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too large for a float (at most %g)",
                       flag, s, (double)FLT_MAX);
    if (v > max)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too large: %s (at most %g)", flag, s,
                       why_max, max);
    if (v == 0.0 && allow_zero)
        return LD_OK;
    if ((float)v < FLT_MIN)
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is too small for a float (%sat least %g)",
                       flag, s, allow_zero ? "0 or " : "", (double)FLT_MIN);
    return LD_OK;
}

/* --lr, --alpha: parse_real, > 0, and a normal float. */
static ld_status parse_float(const char *flag, const char *s, double *out, char *err, size_t errlen)
{
    ld_status st = parse_real(flag, s, 0, out, err, errlen);
    if (st == LD_OK)
        st = check_float(flag, s, *out, 0, HUGE_VAL, "", err, errlen);
    return st;
}

/* --noise: parse_real, >= 0, a normal float or 0, and its square, the
 * noise floor, finite as a float: every loss is a float, and one that
 * starts above FLT_MAX is Inf before the first update. (The targets, at
 * most 8.6 noise away from the teacher's, are then finite too.) */
static ld_status parse_noise(const char *flag, const char *s, double *out, char *err, size_t errlen)
{
    ld_status st = parse_real(flag, s, 1, out, err, errlen);
    if (st == LD_OK)
        st = check_float(flag, s, *out, 1, sqrt(FLT_MAX),
                         "the noise floor noise^2 would overflow a float, the type of every loss",
                         err, errlen);
    return st;
}

/* --loraplus-ratio: a float of at least 1, as PEFT's docstring asks: LoRA+
 * raises B's learning rate over A's, it never lowers it. */
static ld_status parse_ratio(const char *flag, const char *s, double *out, char *err,
                             size_t errlen)
{
    ld_status st = parse_float(flag, s, out, err, errlen);
    if (st == LD_OK && !(*out >= 1.0))
        st = ld_fail(err, errlen, LD_EINPUT,
                     "--%s: '%s' must be at least 1 (lora_B's learning rate over lora_A's)", flag,
                     s);
    return st;
}

/* --lora-dropout: a probability in [0, 1), written as a fraction; "10%"
 * gets a hint rather than a bare "not a number". */
static ld_status parse_dropout(const char *flag, const char *s, double *out, char *err,
                               size_t errlen)
{
    const size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '%')
        return ld_fail(err, errlen, LD_EINPUT,
                       "--%s: '%s' is a percentage; give the fraction (0.1 for 10%%)", flag, s);
    ld_status st = parse_real(flag, s, 1, out, err, errlen);
    if (st == LD_OK && !(*out < 1.0))
        st = ld_fail(err, errlen, LD_EINPUT,
                     "--%s: '%s' must be below 1 (the probability of dropping an input)", flag, s);
    if (st == LD_OK)
        st = check_float(flag, s, *out, 1, HUGE_VAL, "", err, errlen);
    return st;
}

static ld_status parse_experiment(const char *flag, const char *s, experiment_kind *out, char *err,
                                  size_t errlen)
{
    if (strcmp(s, "scratch") == 0)
        *out = EXPERIMENT_SCRATCH;
    else if (strcmp(s, "finetune") == 0)
        *out = EXPERIMENT_FINETUNE;
    else
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not an experiment (scratch, finetune)",
                       flag, s);
    return LD_OK;
}

/* --init: PEFT's init_lora_weights values that lora_demo has. PEFT's
 * "pissa_niter_N" (a randomized SVD, torch.svd_lowrank) is refused by name:
 * the exact SVD is cheap at these sizes. */
static ld_status parse_init(const char *flag, const char *s, lora_init_kind *out, char *err,
                            size_t errlen)
{
    if (strcmp(s, "default") == 0)
        *out = LORA_INIT_DEFAULT;
    else if (strcmp(s, "pissa") == 0)
        *out = LORA_INIT_PISSA;
    else if (strncmp(s, "pissa_niter_", 12) == 0)
        return ld_fail(err, errlen, LD_EINPUT,
                       "--%s: '%s' (PEFT's randomized SVD) is not supported; pissa takes the exact "
                       "SVD", flag, s);
    else
        return ld_fail(err, errlen, LD_EINPUT, "--%s: '%s' is not an initialisation (default, pissa)",
                       flag, s);
    return LD_OK;
}

/* "1,2,4": non-empty, each a whole number >= 1, no repeats. The upper bound
 * min(in, out) is checked after all options are read. "all": every rank
 * from 1 to min(in, out), filled in then (config_resolve_ranks); it stands
 * alone. */
static ld_status parse_ranks(const char *s, config *cfg, char *err, size_t errlen)
{
    int n = 0;
    const char *p = s;
    if (*p == '\0')
        return ld_fail(err, errlen, LD_EINPUT, "--ranks: empty list");
    cfg->ranks_all = strcmp(s, "all") == 0;
    if (cfg->ranks_all) {
        cfg->n_ranks = 0;
        return LD_OK;
    }
    if (strstr(s, "all") != NULL)
        return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s': 'all' cannot be mixed with ranks", s);
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
            if (cfg->ranks[i] == (int)v)
                return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' lists rank %ld twice", s, v);
        cfg->ranks[n++] = (int)v;
        if (*end == '\0')
            break;
        if (*end != ',')
            return ld_fail(err, errlen, LD_EINPUT, "--ranks: '%s' is not a comma-separated list of ranks", s);
        p = end + 1;
    }
    cfg->n_ranks = n;
    return LD_OK;
}

/* --hidden: comma-separated widths, each 1..CONFIG_MAX_WIDTH, at most
 * CONFIG_MAX_HIDDEN of them; an empty item is refused, not skipped. */
static ld_status parse_hidden(const char *s, config *cfg, char *err, size_t errlen)
{
    int n = 0;
    if (*s == '\0')
        return ld_fail(err, errlen, LD_EINPUT, "--hidden: empty list");
    for (const char *p = s;;) {
        if (*p == ',' || *p == '\0')
            return ld_fail(err, errlen, LD_EINPUT, "--hidden: '%s' has an empty item", s);
        if (*p < '0' || *p > '9')
            return ld_fail(err, errlen, LD_EINPUT,
                           "--hidden: '%s' is not a comma-separated list of widths", s);
        char *end = NULL;
        errno = 0;
        const long v = strtol(p, &end, 10);
        if (v < 1)
            return ld_fail(err, errlen, LD_EINPUT, "--hidden: '%s': every width must be at least 1",
                           s);
        if (errno == ERANGE || v > CONFIG_MAX_WIDTH)
            return ld_fail(err, errlen, LD_EINPUT, "--hidden: '%s' has a width over the limit %d",
                           s, CONFIG_MAX_WIDTH);
        if (n == CONFIG_MAX_HIDDEN)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--hidden: '%s' has more than %d widths (at most %d hidden layers)", s,
                           CONFIG_MAX_HIDDEN, CONFIG_MAX_HIDDEN);
        cfg->hidden[n++] = (int)v;
        if (*end == '\0')
            break;
        if (*end != ',')
            return ld_fail(err, errlen, LD_EINPUT,
                           "--hidden: '%s' is not a comma-separated list of widths", s);
        p = end + 1;
    }
    cfg->n_hidden = n;
    return LD_OK;
}

static ld_status parse_activation(const char *s, config *cfg, char *err, size_t errlen)
{
    if (activation_parse(s, &cfg->activation) != 0)
        return ld_fail(err, errlen, LD_EINPUT, "--activation: '%s' is not relu, tanh or gelu", s);
    return LD_OK;
}

/* The message for getopt_long's '?': arg is the argument it stopped at.
 * Found by fuzz_cli: for "--rslora=1", a value given to an option that takes
 * none, glibc sets optopt to the option's code (here a number > 255, which
 * printed as a control character) and for "--quiet=1" to 'q'; neither names
 * what was typed. */
static ld_status unknown_option(const char *arg, int opt, char *err, size_t errlen)
{
    if (strncmp(arg, "--", 2) == 0) {
        /* the options the name before any '=' abbreviates (an exact name wins) */
        const char *eq = strchr(arg, '=');
        const size_t n = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const struct option *match = NULL;
        int matches = 0;
        for (const struct option *o = long_options; o->name != NULL; o++) {
            if (strlen(o->name) < n || memcmp(o->name, arg + 2, n) != 0)
                continue;
            if (strlen(o->name) == n) {
                match = o;
                matches = 1;
                break;
            }
            match = o;
            matches++;
        }
        if (matches > 1)
            return ld_fail(err, errlen, LD_EINPUT, "ambiguous option '%s'", arg);
        if (matches == 1 && eq != NULL && match->has_arg == no_argument)
            return ld_fail(err, errlen, LD_EINPUT, "--%s takes no value: '%s'", match->name, arg);
    }
    if (opt > 0x20 && opt < 0x7F)
        return ld_fail(err, errlen, LD_EINPUT, "unknown option '-%c'", opt);
    return ld_fail(err, errlen, LD_EINPUT, "unknown option '%s'", arg);
}

/* Which long options were given, so the finetune defaults fill only the
 * rest and finetune-only options can be refused in scratch. */
typedef struct {
    unsigned char opt[OPT_END - OPT_EPOCHS];
} given_options;

static int was_given(const given_options *given, int opt)
{
    return given->opt[opt - OPT_EPOCHS] != 0;
}

/* s for a message, with the bytes that are not UTF-8 as \xNN: at most
 * 120 bytes of s, then "...". */
static const char *show_bytes(char *dst, size_t dstlen, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    const size_t len = strlen(s);
    size_t i = 0, o = 0;
    while (i < len && i < 120 && o + 8 < dstlen) {
        const size_t k = utf8_seq_len(u + i, len - i);
        if (k == 0) {
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", u[i]);
            i++;
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        }
    }
    if (i < len && o + 4 <= dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

/* The path option --name arg into *out. summary.json records every path as
 * a JSON string, which must be UTF-8: a name that is not cannot be written
 * faithfully (escaping its bytes as \u00XX would name another file), so it is
 * refused here, before anything is read or written (docs/files.md). */
static ld_status parse_path(const char *name, const char *arg, const char **out, char *err,
                            size_t errlen)
{
    if (arg[0] == '\0')
        return ld_fail(err, errlen, LD_EINPUT, "--%s: empty path", name);
    if (!utf8_valid(arg, strlen(arg))) {
        char shown[600];
        return ld_fail(err, errlen, LD_EINPUT,
                       "--%s: not valid UTF-8, so summary.json could not record it (use a UTF-8 "
                       "name; a symbolic link will do): '%s'",
                       name, show_bytes(shown, sizeof shown, arg));
    }
    *out = arg;
    return LD_OK;
}

/* The value arg of the long option opt (called name) into cfg. */
static ld_status parse_value(int opt, const char *name, const char *arg, config *cfg, char *err,
                             size_t errlen)
{
    switch (opt) {
    case OPT_EPOCHS: return parse_int(name, arg, 1, INT_MAX, &cfg->epochs, err, errlen);
    case OPT_THREADS: return parse_int(name, arg, 1, CONFIG_MAX_THREADS, &cfg->threads, err, errlen);
    case OPT_SEED: return parse_u64(name, arg, &cfg->seed, err, errlen);
    case OPT_LR: return parse_float(name, arg, &cfg->lr, err, errlen);
    case OPT_SAMPLES: return parse_int(name, arg, 1, INT_MAX, &cfg->samples, err, errlen);
    case OPT_TEST_SAMPLES: return parse_int(name, arg, 1, INT_MAX, &cfg->test_samples, err, errlen);
    case OPT_IN: return parse_int(name, arg, 1, INT_MAX, &cfg->in, err, errlen);
    case OPT_OUT: return parse_int(name, arg, 1, INT_MAX, &cfg->out, err, errlen);
    case OPT_RANKS: return parse_ranks(arg, cfg, err, errlen);
    case OPT_HIDDEN: return parse_hidden(arg, cfg, err, errlen);
    case OPT_ACTIVATION: return parse_activation(arg, cfg, err, errlen);
    case OPT_ALPHA: return parse_float(name, arg, &cfg->alpha, err, errlen);
    case OPT_BATCH_SIZE: return parse_int(name, arg, 1, INT_MAX, &cfg->batch_size, err, errlen);
    case OPT_EXPERIMENT: return parse_experiment(name, arg, &cfg->experiment, err, errlen);
    case OPT_INIT: return parse_init(name, arg, &cfg->init, err, errlen);
    case OPT_DELTA_RANK: return parse_int(name, arg, 1, INT_MAX, &cfg->delta_rank, err, errlen);
    case OPT_NOISE: return parse_noise(name, arg, &cfg->noise, err, errlen);
    case OPT_PRETRAIN_EPOCHS:
        return parse_int(name, arg, 1, INT_MAX, &cfg->pretrain_epochs, err, errlen);
    case OPT_REPEATS: return parse_int(name, arg, 1, INT_MAX, &cfg->repeats, err, errlen);
    case OPT_RSLORA: cfg->rslora = 1; return LD_OK;
    case OPT_LORAPLUS_RATIO: return parse_ratio(name, arg, &cfg->loraplus_ratio, err, errlen);
    case OPT_LORA_DROPOUT: return parse_dropout(name, arg, &cfg->lora_dropout, err, errlen);
    case OPT_DORA: cfg->dora = 1; return LD_OK;
    case OPT_SAVE_DATA: cfg->save_data = 1; return LD_OK;
    case OPT_SAVE_WEIGHTS: cfg->save_weights = 1; return LD_OK;
    case OPT_OUTPUT_DIR: return parse_path(name, arg, &cfg->output_dir, err, errlen);
    case OPT_DATA: return parse_path(name, arg, &cfg->data, err, errlen);
    case OPT_TEST_DATA: return parse_path(name, arg, &cfg->test_data, err, errlen);
    case OPT_BASE_WEIGHTS: return parse_path(name, arg, &cfg->base_weights, err, errlen);
    default: return LD_OK;
    }
}

/* getopt_long over argv: every option into cfg and given, or *action set
 * by --help or --version (which end the parse). */
static ld_status read_options(int argc, char **argv, config *cfg, given_options *given,
                              cli_action *action, char *err, size_t errlen)
{
    opterr = 0; /* we report errors ourselves */
    optind = 0; /* GNU: full reset, so cli_parse can be called repeatedly */
    for (;;) {
        int longidx = -1;
        const int opt = getopt_long(argc, argv, ":qhV", long_options, &longidx);
        if (opt == -1)
            break;
        switch (opt) {
        case 'q': cfg->quiet = 1; continue;
        case 'h': *action = CLI_HELP; return LD_OK;
        case 'V': *action = CLI_VERSION; return LD_OK;
        case ':': return ld_fail(err, errlen, LD_EINPUT, "%s: missing value", argv[optind - 1]);
        default: break;
        }
        if (opt < OPT_EPOCHS || opt >= OPT_END)
            return unknown_option(argv[optind - 1], optopt, err, errlen);
        given->opt[opt - OPT_EPOCHS] = 1;
        const char *name = longidx >= 0 ? long_options[longidx].name : "";
        const ld_status st = parse_value(opt, name, optarg, cfg, err, errlen);
        if (st != LD_OK)
            return st;
    }
    if (optind < argc)
        return ld_fail(err, errlen, LD_EINPUT, "unexpected argument '%s'", argv[optind]);
    return LD_OK;
}

/* The options whose default depends on the experiment take the finetune
 * one unless given; in scratch, the finetune-only options are refused. */
static ld_status apply_experiment(config *cfg, const given_options *given, char *err,
                                  size_t errlen)
{
    if (cfg->experiment == EXPERIMENT_FINETUNE) {
        config ft;
        config_defaults_for(&ft, EXPERIMENT_FINETUNE);
        if (!was_given(given, OPT_EPOCHS))
            cfg->epochs = ft.epochs;
        if (!was_given(given, OPT_LR))
            cfg->lr = ft.lr;
        if (!was_given(given, OPT_SAMPLES))
            cfg->samples = ft.samples;
        if (!was_given(given, OPT_TEST_SAMPLES))
            cfg->test_samples = ft.test_samples;
        return LD_OK;
    }
    static const struct {
        int opt;
        const char *name;
    } ft_only[] = {
        {OPT_DELTA_RANK, "delta-rank"},
        {OPT_NOISE, "noise"},
        {OPT_PRETRAIN_EPOCHS, "pretrain-epochs"},
        {OPT_BASE_WEIGHTS, "base-weights"},
        {OPT_DORA, "dora"}, /* DoRA decomposes a frozen base: scratch has none */
    };
    for (size_t i = 0; i < sizeof ft_only / sizeof ft_only[0]; i++)
        if (was_given(given, ft_only[i].opt))
            return ld_fail(err, errlen, LD_EINPUT, "--%s: only used by --experiment finetune",
                           ft_only[i].name);
    if (cfg->init == LORA_INIT_PISSA)
        return ld_fail(err, errlen, LD_EINPUT,
                       "--init: pissa needs --experiment finetune (it splits a pretrained base; "
                       "scratch has none)");
    return LD_OK;
}

/* The options that go with the input files, or not. */
static ld_status check_file_options(const config *cfg, const given_options *given, char *err,
                                    size_t errlen)
{
    if (cfg->test_data != NULL && cfg->data == NULL)
        return ld_fail(err, errlen, LD_EINPUT, "--test-data: needs --data FILE, the training set");
    if (cfg->experiment == EXPERIMENT_FINETUNE && cfg->data != NULL) {
        /* Task 1's teacher is drawn for generated data only: a file of the
         * user's own has no task 1 to pretrain on. */
        if (cfg->base_weights == NULL)
            return ld_fail(err, errlen, LD_EINPUT,
                           "--data: --experiment finetune needs --base-weights FILE too "
                           "(there is no task 1 to pretrain on for data from a file)");
        if (was_given(given, OPT_NOISE))
            return ld_fail(err, errlen, LD_EINPUT,
                           "--noise: not used with --data (no teacher draws the data)");
        if (was_given(given, OPT_DELTA_RANK))
            return ld_fail(err, errlen, LD_EINPUT,
                           "--delta-rank: not used with --data (no teacher draws the data)");
    }
    if (was_given(given, OPT_ACTIVATION) && cfg->n_hidden == 0)
        return ld_fail(err, errlen, LD_EINPUT,
                       "--activation: needs --hidden (one layer has no activation)");
    if (cfg->base_weights != NULL && was_given(given, OPT_PRETRAIN_EPOCHS))
        return ld_fail(err, errlen, LD_EINPUT,
                       "--pretrain-epochs: not used with --base-weights (nothing is pretrained)");
    return LD_OK;
}

ld_status cli_parse(int argc, char **argv, config *cfg, cli_action *action, char *err,
                    size_t errlen)
{
    config_defaults(cfg);
    *action = CLI_RUN;
    given_options given;
    memset(&given, 0, sizeof given);
    ld_status st = read_options(argc, argv, cfg, &given, action, err, errlen);
    if (st != LD_OK || *action != CLI_RUN)
        return st;
    cfg->given = (was_given(&given, OPT_IN) ? CONFIG_GIVEN_IN : 0u) |
                 (was_given(&given, OPT_OUT) ? CONFIG_GIVEN_OUT : 0u) |
                 (was_given(&given, OPT_SAMPLES) ? CONFIG_GIVEN_SAMPLES : 0u) |
                 (was_given(&given, OPT_TEST_SAMPLES) ? CONFIG_GIVEN_TEST_SAMPLES : 0u);
    st = apply_experiment(cfg, &given, err, errlen);
    if (st == LD_OK)
        st = check_file_options(cfg, &given, err, errlen);
    /* With files, 'all' is resolved once their sizes are read */
    if (st == LD_OK && cfg->data == NULL && cfg->base_weights == NULL)
        st = config_resolve_ranks(cfg, err, errlen);
    if (st == LD_OK)
        st = config_check_scales(cfg, err, errlen);
    /* With files, --in and --out come from them: config_merge_sizes checks
     * the sizes once they are read. */
    if (st == LD_OK && cfg->data == NULL && cfg->base_weights == NULL)
        st = config_check_sizes(cfg, NULL, err, errlen);
    if (st == LD_OK && (uint64_t)cfg->repeats - 1u > UINT64_MAX - cfg->seed)
        st = ld_fail(err, errlen, LD_EINPUT, "--repeats: %d seeds from --seed %llu run past 2^64-1",
                     cfg->repeats, (unsigned long long)cfg->seed);
    return st;
}
