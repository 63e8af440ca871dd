/* test_cli.c - option parsing: defaults, good values, and every bad input. */
#include <float.h>
#include <string.h>

#include "cli.h"
#include "test.h"

/* Parse a NULL-terminated list of arguments (after the program name). */
static ld_status parse(config *c, cli_action *a, char *err, size_t errlen, const char **args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"lora_demo";
    for (; *args != NULL && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return cli_parse(argc, argv, c, a, err, errlen);
}

void test_cli(void)
{
    config c;
    cli_action a;
    char err[256];

    const char *none[] = {NULL};
    CHECK(parse(&c, &a, err, sizeof err, none) == LD_OK && a == CLI_RUN, "no args: %s", err);
    CHECK(c.epochs == 100 && c.seed == 42 && c.lr == 0.01 && c.samples == 100 && c.in == 10 &&
              c.out == 5 && c.n_ranks == 4 && c.ranks[3] == 4 && c.batch_size == 0 &&
              strcmp(c.output_dir, "results") == 0 && c.test_samples == 20,
          "defaults changed");

    const char *good[] = {"--epochs", "7", "--seed", "18446744073709551615", "--lr", "1e-3",
                          "--ranks", "3,1", "--in=4", "--out", "3", "--alpha", "2.5",
                          "--batch-size", "9", "--quiet", NULL};
    CHECK(parse(&c, &a, err, sizeof err, good) == LD_OK, "good args rejected: %s", err);
    CHECK(c.epochs == 7 && c.seed == UINT64_MAX && c.lr == 1e-3 && c.n_ranks == 2 &&
              c.ranks[0] == 3 && c.ranks[1] == 1 && c.in == 4 && c.alpha == 2.5 &&
              c.batch_size == 9 && c.quiet,
          "good args parsed wrong");
    CHECK(config_scale(&c, 3) == (float)(2.5 / 3.0), "scale with --alpha");

    /* the float checks' edges: FLT_MAX's %.9g (above FLT_MAX as a double,
     * FLT_MAX as a float), the smallest normal float, the largest noise */
    const char *edges[] = {"--experiment", "finetune", "--lr", "3.40282347e+38", "--alpha",
                           "1.17549435e-38", "--ranks", "1", "--noise", "1.8446743e19", NULL};
    CHECK(parse(&c, &a, err, sizeof err, edges) == LD_OK && (float)c.lr == FLT_MAX &&
              config_scale(&c, 1) == FLT_MIN,
          "float edges refused: %s", err);
    const char *zero_noise[] = {"--experiment", "finetune", "--noise", "0", NULL};
    CHECK(parse(&c, &a, err, sizeof err, zero_noise) == LD_OK && c.noise == 0.0, "--noise 0: %s", err);

    /* --ranks all: every rank up to min(in, out), whichever option comes first */
    const char *all[] = {"--ranks", "all", "--out", "3", NULL};
    CHECK(parse(&c, &a, err, sizeof err, all) == LD_OK && c.ranks_all && c.n_ranks == 3 &&
              c.ranks[0] == 1 && c.ranks[2] == 3,
          "--ranks all --out 3: %d ranks (%s)", c.n_ranks, err);
    const char *all_then[] = {"--ranks", "all", "--ranks", "2", NULL};
    CHECK(parse(&c, &a, err, sizeof err, all_then) == LD_OK && !c.ranks_all && c.n_ranks == 1 &&
              c.ranks[0] == 2,
          "--ranks all, then --ranks 2: the last wins");
    CHECK(c.loraplus_ratio == 1.0 && c.lora_dropout == 0.0, "LoRA+ and dropout are off by default");
    const char *drop[] = {"--lora-dropout", "0.05", NULL};
    CHECK(parse(&c, &a, err, sizeof err, drop) == LD_OK && c.lora_dropout == 0.05,
          "--lora-dropout 0.05: %s", err);
    const char *dora[] = {"--experiment", "finetune", "--dora", NULL};
    CHECK(parse(&c, &a, err, sizeof err, dora) == LD_OK && c.dora == 1, "--dora: %s", err);
    const char *drop0[] = {"--lora-dropout", "0", NULL};
    CHECK(parse(&c, &a, err, sizeof err, drop0) == LD_OK && c.lora_dropout == 0.0,
          "--lora-dropout 0: %s", err);
    const char *plus[] = {"--loraplus-ratio", "16", NULL};
    CHECK(parse(&c, &a, err, sizeof err, plus) == LD_OK && c.loraplus_ratio == 16.0,
          "--loraplus-ratio 16: %s", err);
    const char *plus_one[] = {"--loraplus-ratio=1", NULL};
    CHECK(parse(&c, &a, err, sizeof err, plus_one) == LD_OK && c.loraplus_ratio == 1.0,
          "--loraplus-ratio=1 (plain LoRA) refused: %s", err);

    const char *help[] = {"--help", NULL};
    CHECK(parse(&c, &a, err, sizeof err, help) == LD_OK && a == CLI_HELP, "--help");
    const char *ver[] = {"--version", NULL};
    CHECK(parse(&c, &a, err, sizeof err, ver) == LD_OK && a == CLI_VERSION, "--version");

    /* Every bad input: LD_EINPUT, and the message names the flag and value. */
    struct {
        const char *args[6];
        const char *must_contain;
    } bad[] = {
        {{"--epochs", "10x", NULL}, "--epochs: '10x'"},
        {{"--epochs", "", NULL}, "--epochs"},
        {{"--epochs", "abc", NULL}, "'abc'"},
        {{"--epochs", "0", NULL}, "--epochs: '0'"},
        {{"--epochs", "-5", NULL}, "'-5'"},
        {{"--epochs", "99999999999999999999", NULL}, "too large"},
        {{"--epochs", "3000000000", NULL}, "too large"},
        {{"--samples", "0", NULL}, "--samples"},
        {{"--test-samples", "-1", NULL}, "--test-samples"},
        {{"--in", "0", NULL}, "--in"},
        {{"--out", "1.5", NULL}, "--out: '1.5'"},
        /* leading space of every kind, not only ' ' and '\t' (issue 11) */
        {{"--epochs", " 5", NULL}, "--epochs: ' 5' is not a whole number"},
        {{"--epochs", "\t5", NULL}, "is not a whole number"},
        {{"--epochs", "\n5", NULL}, "is not a whole number"},
        {{"--epochs", "\v5", NULL}, "is not a whole number"},
        {{"--epochs", "\f5", NULL}, "is not a whole number"},
        {{"--epochs", "\r5", NULL}, "is not a whole number"},
        {{"--repeats", "\v2", NULL}, "--repeats"},
        {{"--seed", "\n5", NULL}, "not a non-negative whole number"},
        {{"--ranks", "\v1", NULL}, "not a comma-separated list"},
        {{"--lr", "\n0.1", NULL}, "is not a number"},
        {{"--alpha", "\f2", NULL}, "is not a number"},
        {{"--epochs", "5 ", NULL}, "is not a whole number"},
        {{"--seed", "-1", NULL}, "--seed: '-1'"},
        {{"--seed", "18446744073709551616", NULL}, "--seed"},
        {{"--seed", "4x", NULL}, "--seed: '4x'"},
        {{"--lr", "nan", NULL}, "--lr: 'nan'"},
        {{"--lr", "inf", NULL}, "--lr: 'inf'"},
        {{"--lr", "0", NULL}, "--lr: '0'"},
        {{"--lr", "-0.1", NULL}, "--lr: '-0.1'"},
        {{"--lr", "1e999", NULL}, "--lr: '1e999'"},
        {{"--lr", "0.01x", NULL}, "--lr: '0.01x'"},
        {{"--alpha", "0", NULL}, "--alpha"},
        /* checked as the floats they are used as: 0, subnormal or Inf there
         * is refused, and so is a scale that is (issue 11) */
        {{"--lr", "1e-50", NULL}, "--lr: '1e-50' is too small for a float"},
        {{"--lr", "1e-40", NULL}, "--lr: '1e-40' is too small for a float"},
        {{"--lr", "1e39", NULL}, "--lr: '1e39' is too large for a float"},
        {{"--alpha", "1e-50", NULL}, "--alpha: '1e-50' is too small for a float"},
        {{"--alpha", "1e39", "--rslora", NULL}, "--alpha: '1e39' is too large for a float"},
        {{"--alpha", "2e-38", "--ranks", "2", NULL}, "--alpha: alpha 2e-38 gives lora_r2 the scale 1e-38"},
        {{"--alpha", "2e-38", "--rslora", "--ranks", "4", NULL}, "gives lora_r4 the scale 1e-38 (alpha/sqrt(r))"},
        {{"--experiment", "finetune", "--noise", "1e20", NULL}, "--noise: '1e20' is too large: the noise floor"},
        {{"--experiment", "finetune", "--noise", "1e-50", NULL}, "--noise: '1e-50' is too small for a float (0 or"},
        {{"--ranks", "", NULL}, "--ranks"},
        {{"--ranks", "1,,2", NULL}, "--ranks: '1,,2'"},
        {{"--ranks", "1,2,", NULL}, "--ranks: '1,2,'"},
        {{"--ranks", ",1", NULL}, "--ranks"},
        {{"--ranks", "a", NULL}, "--ranks: 'a'"},
        {{"--ranks", "0", NULL}, "--ranks: '0'"},
        {{"--ranks", "6", NULL}, "rank 6 exceeds min(--in, --out) = 5"},
        {{"--ranks", "2,2", NULL}, "twice"},
        {{"--ranks", "-1", NULL}, "--ranks"},
        {{"--ranks", "all,2", NULL}, "--ranks: 'all,2': 'all' cannot be mixed with ranks"},
        {{"--ranks", "1,all", NULL}, "--ranks: '1,all': 'all' cannot be mixed with ranks"},
        {{"--ranks", "all", "--in=65", "--out=70", NULL}, "--ranks: 'all' is 65 ranks"},
        {{"--ranks", "all", "--alpha", "2e-38", NULL}, "gives lora_r2 the scale 1e-38"},
        {{"--batch-size", "0", NULL}, "--batch-size"},
        {{"--output-dir", "", NULL}, "--output-dir"},
        {{"--bogus", NULL}, "unknown option '--bogus'"},
        {{"-x", NULL}, "unknown option '-x'"},
        {{"--epochs", NULL}, "--epochs: missing value"},
        {{"stray", NULL}, "unexpected argument 'stray'"},
        /* found by fuzz_cli: a value given to an option that takes none */
        {{"--rslora=1", NULL}, "--rslora takes no value: '--rslora=1'"},
        {{"--quiet=1", NULL}, "--quiet takes no value: '--quiet=1'"},
        {{"--rs=", NULL}, "--rslora takes no value: '--rs='"},
        {{"--e", NULL}, "ambiguous option '--e'"},
        {{"--r=1", NULL}, "ambiguous option '--r=1'"},
        /* LoRA+ (issue 14): a ratio of at least 1, finite, a plain number */
        {{"--loraplus-ratio", "0.5", NULL}, "--loraplus-ratio: '0.5' must be at least 1"},
        {{"--loraplus-ratio", "0.99999999", NULL}, "must be at least 1"},
        {{"--loraplus-ratio", "-16", NULL}, "--loraplus-ratio: '-16' must be greater than 0"},
        {{"--loraplus-ratio", "nan", NULL}, "--loraplus-ratio: 'nan' is not finite"},
        {{"--loraplus-ratio", "16%", NULL}, "--loraplus-ratio: '16%' is not a number"},
        {{"--loraplus-ratio", "", NULL}, "--loraplus-ratio: '' is not a number"},
        /* LoRA dropout: a fraction in [0, 1) */
        {{"--lora-dropout", "1", NULL}, "--lora-dropout: '1' must be below 1"},
        {{"--lora-dropout", "-0.1", NULL}, "--lora-dropout: '-0.1' must be at least 0"},
        {{"--lora-dropout", "nan", NULL}, "--lora-dropout: 'nan' is not finite"},
        {{"--lora-dropout", "10%", NULL}, "--lora-dropout: '10%' is a percentage; give the fraction"},
        {{"--lora-dropout", "0.1x", NULL}, "--lora-dropout: '0.1x' is not a number"},
        {{"--lora-dropout", "1e-50", NULL}, "--lora-dropout: '1e-50' is too small for a float"},
        /* DoRA decomposes a frozen base: finetune only */
        {{"--dora", NULL}, "--dora: only used by --experiment finetune"},
        {{"--dora=1", "--experiment", "finetune", NULL}, "--dora takes no value: '--dora=1'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ld_status st = parse(&c, &a, err, sizeof err, bad[i].args);
        /* a newline in an argument is quoted as it is (main prints it as '?') */
        int quoted_newline = 0;
        for (int k = 0; bad[i].args[k] != NULL; k++)
            quoted_newline |= strchr(bad[i].args[k], '\n') != NULL;
        CHECK(st == LD_EINPUT && strstr(err, bad[i].must_contain) != NULL &&
                  (quoted_newline || strchr(err, '\n') == NULL),
              "args %s %s: status %d, message '%s' (want it to contain '%s')", bad[i].args[0],
              bad[i].args[1] ? bad[i].args[1] : "", (int)st, err, bad[i].must_contain);
    }
}
