/* test_scale.c - the LoRA scale a run trains with is the one PEFT computes
 * from the same adapter_config.json, for every (alpha, r).
 *
 * tests/fixtures/scale_pairs.txt (from tests/scale_reference.py, standard
 * library Python, checked there against torch's multiplication) holds
 * float32(alpha / r) and float32(alpha / sqrt(r)) computed in double from
 * the decimal alpha, for 50 alphas and 41 ranks. Each alpha goes through the
 * command-line parser as a user would type it, and config_scale must give
 * the same bits. The PyTorch parity fixtures' scales must agree too.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fixture.h"
#include "test.h"

#define SCALE_FIXTURE "tests/fixtures/scale_pairs.txt"
#define SCALE_REGEN "regenerate with python3 tests/scale_reference.py > " SCALE_FIXTURE
#define SCALE_CASES 4100 /* 50 alphas x 41 ranks x (LoRA, rsLoRA) */

static uint32_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The config of `lora_demo --in 1024 --out 1024 --ranks R --alpha A
 * [--rslora]`; LD_OK or the parser's status. */
static ld_status parse_case(config *c, const char *alpha, int rank, int rslora, char *err,
                            size_t errlen)
{
    char r[16];
    snprintf(r, sizeof r, "%d", rank);
    char *argv[] = {"lora_demo", "--in", "1024", "--out", "1024", "--ranks", r,
                    "--alpha", (char *)alpha, "--rslora", NULL};
    const int argc = rslora ? 10 : 9;
    cli_action a;
    return cli_parse(argc, argv, c, &a, err, errlen);
}

static void test_pairs(void)
{
    FILE *fp = fopen(SCALE_FIXTURE, "r");
    CHECK(fp != NULL, "%s: cannot open (%s)", SCALE_FIXTURE, SCALE_REGEN);
    if (fp == NULL)
        return;
    char line[256], alpha[128], err[256] = "";
    int n = 0, bad = 0, bad_alpha = 0, unparsed = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        int rank, rslora;
        unsigned bits;
        if (line[0] == '#')
            continue;
        if (sscanf(line, "%127s %d %d %x", alpha, &rank, &rslora, &bits) != 4) {
            unparsed++;
            continue;
        }
        n++;
        config c;
        if (parse_case(&c, alpha, rank, rslora, err, sizeof err) != LD_OK) {
            unparsed++;
            fprintf(stderr, "scale: --alpha %s --ranks %d: %s\n", alpha, rank, err);
            continue;
        }
        const float got = config_scale(&c, rank);
        if (float_bits(got) != bits) {
            if (bad < 5)
                fprintf(stderr, "scale: --alpha %s, r %d%s: %.9g (0x%08x), PEFT %.9g (0x%08x)\n", alpha,
                        rank, rslora ? ", rsLoRA" : "", (double)got, (unsigned)float_bits(got),
                        (double)bits_float(bits), bits);
            bad++;
        }
        /* alpha itself is the decimal as parsed, not rounded to float */
        if (config_alpha(&c, rank) != strtod(alpha, NULL))
            bad_alpha++;
    }
    fclose(fp);
    CHECK(n == SCALE_CASES && unparsed == 0, "%s: %d cases read, %d unreadable, want %d (%s)",
          SCALE_FIXTURE, n, unparsed, SCALE_CASES, SCALE_REGEN);
    CHECK(bad == 0, "%d of %d (alpha, r) pairs give another scale than PEFT's (%s)", bad, n,
          SCALE_FIXTURE);
    CHECK(bad_alpha == 0, "%d of %d alphas are not the decimal as parsed", bad_alpha, n);

    /* The example of issue 11: 0.9 / 3 in double is 0.3, which rounds to
     * 0.30000001; alpha rounded to float first gave 0.29999998. */
    config c;
    CHECK(parse_case(&c, "0.9", 3, 0, err, sizeof err) == LD_OK &&
              float_bits(config_scale(&c, 3)) == 0x3e99999au,
          "--alpha 0.9 --ranks 3: scale %.9g, want 0.300000012", (double)config_scale(&c, 3));
}

/* The parity fixtures trained PyTorch with scale = alpha / r or alpha /
 * sqrt(r) in Python doubles: the scale the program computes from the same
 * alpha and r is that one, as a float. */
static void test_parity_fixtures(void)
{
    static const char *const cases[] = {"lora_r2_7x3_b5", "base_lora_r4_10x5",
                                        "base_rslora_r3_7x3_b5"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], err[512] = "", alpha[64];
        snprintf(path, sizeof path, "tests/fixtures/%s.ldfx", cases[i]);
        static fixture f;
        ld_status st = fixture_load(&f, path, err, sizeof err);
        CHECK(st == LD_OK, "%s", err);
        if (st != LD_OK)
            continue;
        config c;
        snprintf(alpha, sizeof alpha, "%.17g", f.alpha);
        const int rslora = strstr(cases[i], "rslora") != NULL;
        st = parse_case(&c, alpha, f.rank, rslora, err, sizeof err);
        CHECK(st == LD_OK && config_scale(&c, f.rank) == (float)f.scale,
              "%s: alpha %s, r %d: scale %.9g, the fixture's %.9g", cases[i], alpha, f.rank,
              (double)config_scale(&c, f.rank), f.scale);
        fixture_free(&f);
    }
}

void test_scale(void)
{
    test_pairs();
    test_parity_fixtures();
}
