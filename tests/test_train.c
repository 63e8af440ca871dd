/* test_train.c - every training path against the plain step (train/plain.c),
 * and the plain step against the layers' own forward and backward.
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * What is promised, and so checked:
 *   - the plain step in the trainer (fast_paths = 0) is the layers' own
 *     model_forward, mse_backward, model_backward and Adam: the same bits of
 *     gradients and parameters as a loop written here with the public API;
 *   - the fused LoRA step, by row blocks or for narrow layers 16 rows at a
 *     time (on both code paths), is bit-identical to the plain step: losses,
 *     step-0 gradients and final parameters;
 *   - the closed-form dense epoch (X^T X, Y^T X) matches the plain step:
 *     losses and step-0 gradients to rtol 1e-5, final parameters to 1e-4;
 *   - so does the LoRA closed form (X^T X, R0^T X), from scratch, on a
 *     frozen base, with rsLoRA's scale and on near-exact fits;
 *   - training gives bit-identical losses and parameters for 1, 2, 3 threads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/linear.h"
#include "core/lora.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "kernels/matmul.h"
#include "test.h"
#include "train/train.h"

/* ------------------------------------------------------------------------ */
/* training paths */

typedef struct {
    int n, in, out, rank; /* rank 0: dense */
    int base;             /* LoRA on a frozen random base */
    int batch;            /* 0: full batch */
    int epochs;
    float noise;          /* < 0: random targets; else targets from a random
                           * linear map (of rank R for LoRA, added to the
                           * frozen base's output) plus this much noise */
    int rslora;           /* LoRA on a base: scale alpha/sqrt(R), not alpha/R */
    double loraplus;      /* LoRA+ ratio; 0: none (1) */
} setup;

typedef struct {
    float *x, *y;
    model m;
} problem;

/* w (O,I) <- sqrt(3 I / R) U V, U (O,R) the first R columns of w, V (R,I)
 * its first R rows (R <= min(O, I)): a rank-R map with entries of w's size. */
static void lowrank_map(float *w, int I, int O, int R)
{
    float *u = malloc((size_t)O * R * sizeof(float));
    float *v = malloc((size_t)R * I * sizeof(float));
    for (int o = 0; o < O; o++)
        for (int k = 0; k < R; k++)
            u[(size_t)o * R + k] = w[(size_t)o * I + k];
    memcpy(v, w, (size_t)R * I * sizeof(float));
    const double f = sqrt(3.0 * (double)I / (double)R);
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double t = 0.0;
            for (int k = 0; k < R; k++)
                t += (double)u[(size_t)o * R + k] * (double)v[(size_t)k * I + i];
            w[(size_t)o * I + i] = (float)(t * f);
        }
    free(u);
    free(v);
}

/* A LoRA model of setup s, with its LoRA+ ratio. */
static void make_lora(model *m, const setup *s, double alpha, float scale, const float *w0,
                      const float *b0)
{
    char err[128];
    model_spec spec = model_spec_lora(s->in, s->out, s->rank, alpha, scale, w0 != NULL);
    spec.loraplus_ratio = s->loraplus > 0.0 ? s->loraplus : 1.0;
    CHECK(model_init(m, &spec, w0, b0, err, sizeof err) == LD_OK, "model_init: %s", err);
}

static void problem_make(problem *p, const setup *s, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    p->x = malloc((size_t)s->n * s->in * sizeof(float));
    p->y = malloc((size_t)s->n * s->out * sizeof(float));
    rng_fill_normal(&r, p->x, (size_t)s->n * s->in);
    rng_fill_normal(&r, p->y, (size_t)s->n * s->out);
    if (s->noise >= 0.0f) {
        float *w = malloc((size_t)s->out * s->in * sizeof(float));
        float *b = malloc((size_t)s->out * sizeof(float));
        linear_init(w, b, s->in, s->out, &r);
        if (s->rank > 0) { /* a map LoRA of rank R can fit, with no bias */
            lowrank_map(w, s->in, s->out, s->rank);
            memset(b, 0, (size_t)s->out * sizeof(float));
        }
        for (int n = 0; n < s->n; n++)
            for (int o = 0; o < s->out; o++) {
                double v = b[o];
                for (int i = 0; i < s->in; i++)
                    v += (double)w[(size_t)o * s->in + i] * p->x[(size_t)n * s->in + i];
                p->y[(size_t)n * s->out + o] = (float)v + s->noise * p->y[(size_t)n * s->out + o];
            }
        free(w);
        free(b);
    }
    rng_seed(&r, seed, 1000);
    if (s->rank == 0) {
        char err[128];
        test_model_dense(&p->m, s->in, s->out, err, sizeof err);
        linear_init(p->m.layers[0].W, p->m.layers[0].b, s->in, s->out, &r);
    } else if (s->base) {
        float *w0 = malloc((size_t)s->out * s->in * sizeof(float));
        float *b0 = malloc((size_t)s->out * sizeof(float));
        linear_init(w0, b0, s->in, s->out, &r);
        /* scales that are not powers of two, so that the order of the
         * scaling multiplies shows; rsLoRA's alpha/sqrt(R) */
        const double alpha = 1.5 * s->rank;
        const float scale = s->rslora ? (float)(alpha / sqrt((double)s->rank)) : 1.5f;
        make_lora(&p->m, s, alpha, scale, w0, b0);
        if (s->noise >= 0.0f) { /* the targets sit on top of the base's output */
            float *y0 = malloc((size_t)s->n * s->out * sizeof(float));
            layer_base_forward(&p->m.layers[0], y0, p->x, s->n, NULL);
            for (size_t i = 0; i < (size_t)s->n * s->out; i++)
                p->y[i] += y0[i];
            free(y0);
        }
        lora_init_peft(p->m.layers[0].A, p->m.layers[0].B, s->in, s->rank, s->out, &r);
        /* a nonzero B, so that dA is not zero at step 0 */
        for (size_t i = 0; i < (size_t)s->out * s->rank; i++)
            p->m.layers[0].B[i] = 0.1f * rng_uniform_range(&r, -1.0f, 1.0f);
        free(w0);
        free(b0);
    } else {
        make_lora(&p->m, s, 0.7f * (float)s->rank, 0.7f, NULL, NULL);
        lora_init_scratch(p->m.layers[0].A, p->m.layers[0].B, s->in, s->rank, s->out, &r);
    }
}

static void problem_free(problem *p)
{
    free(p->x);
    free(p->y);
    model_free(&p->m);
}

/* A step written out here with the public layer API: what the plain step must be. */
static float ref_epoch(model *m, const float *x, const float *y, int n, const int *order, int batch,
                       const float *base_all, adam_config adam)
{
    const int I = m->in, O = m->out, R = m->layers[0].rank > 0 ? m->layers[0].rank : 1;
    if (batch <= 0 || batch > n)
        batch = n;
    float *xb = malloc((size_t)batch * I * sizeof(float));
    float *yb = malloc((size_t)batch * O * sizeof(float));
    float *bb = malloc((size_t)batch * O * sizeof(float));
    float *yhat = malloc((size_t)batch * O * sizeof(float));
    float *dy = malloc((size_t)batch * O * sizeof(float));
    float *h = malloc((size_t)batch * R * sizeof(float));
    float *dh = malloc((size_t)batch * R * sizeof(float));
    double loss = 0.0;
    int batches = 0;
    for (int s = 0; s < n; s += batch) {
        const int cnt = n - s < batch ? n - s : batch;
        for (int i = 0; i < cnt; i++) {
            const int row = order != NULL ? order[s + i] : s + i;
            memcpy(xb + (size_t)i * I, x + (size_t)row * I, (size_t)I * sizeof(float));
            memcpy(yb + (size_t)i * O, y + (size_t)row * O, (size_t)O * sizeof(float));
            if (base_all != NULL)
                memcpy(bb + (size_t)i * O, base_all + (size_t)row * O, (size_t)O * sizeof(float));
        }
        const size_t ny = (size_t)cnt * O;
        model_forward(m, yhat, h, xb, base_all != NULL ? bb : NULL, cnt, NULL);
        loss += mse_forward(yhat, yb, ny);
        mse_backward(dy, yhat, yb, ny, ny);
        model_zero_grad(m);
        model_backward(m, dy, dh, h, NULL, xb, cnt, NULL);
        model_adam_step(m, adam);
        batches++;
    }
    free(xb);
    free(yb);
    free(bb);
    free(yhat);
    free(dy);
    free(h);
    free(dh);
    return (float)(loss / batches);
}

/* Losses (E), step-0 gradients and final parameters of one training run. */
typedef struct {
    float *losses, *grad0, *params;
    size_t np;
    long fallbacks;
    train_method method;
} run_out;

static void run_free(run_out *r)
{
    free(r->losses);
    free(r->grad0);
    free(r->params);
}

/* Train with the trainer on `threads` threads, with its fast paths or the
 * plain step only; or (threads = 0) with the hand-written reference loop. */
static run_out train_run(const setup *s, int threads, int fast_paths)
{
    problem p;
    problem_make(&p, s, 42);
    run_out out = {malloc((size_t)s->epochs * sizeof(float)), malloc(p.m.n_params * sizeof(float)),
                   malloc(p.m.n_params * sizeof(float)), p.m.n_params, 0, TRAIN_PLAIN};
    const adam_config adam = adam_defaults(0.01);
    int *order = NULL;
    rng shuf;
    rng_seed(&shuf, 42, 2000);
    if (s->batch > 0) {
        order = malloc((size_t)s->n * sizeof(int));
        for (int i = 0; i < s->n; i++)
            order[i] = i;
    }
    trainer t;
    float *base_all = NULL;
    if (threads > 0) {
        char err[128];
        trainer_options opt = trainer_defaults();
        opt.threads = threads;
        opt.fast_paths = fast_paths;
        CHECK(trainer_init(&t, &p.m, p.x, p.y, s->n, s->batch, &opt, err, sizeof err) == LD_OK,
              "trainer_init_opts: %s", err);
        out.method = t.method;
    } else if (p.m.layers[0].has_base) {
        base_all = malloc((size_t)s->n * s->out * sizeof(float));
        layer_base_forward(&p.m.layers[0], base_all, p.x, s->n, NULL);
    }
    for (int e = 0; e < s->epochs; e++) {
        if (order != NULL)
            rng_shuffle(&shuf, order, s->n);
        out.losses[e] = threads > 0 ? trainer_epoch(&t, &p.m, order, adam)
                                    : ref_epoch(&p.m, p.x, p.y, s->n, order, s->batch, base_all, adam);
        if (e == 0)
            memcpy(out.grad0, p.m.grads, p.m.n_params * sizeof(float));
    }
    memcpy(out.params, p.m.params, p.m.n_params * sizeof(float));
    if (threads > 0) {
        out.fallbacks = t.gram_fallbacks;
        trainer_free(&t);
    }
    free(base_all);
    free(order);
    problem_free(&p);
    return out;
}

static void setup_name(char *buf, size_t len, const setup *s)
{
    snprintf(buf, len, "%s r=%d N=%d %d->%d batch=%d noise=%g loraplus=%g",
             s->rank == 0 ? "dense" : (s->base ? "lora-ft" : "lora"), s->rank, s->n, s->in, s->out,
             s->batch, (double)s->noise, s->loraplus);
}

/* The trainer's plain step against the loop written out here: the same
 * bits of step-0 gradients and final parameters, and losses to rounding
 * (the reference sums the loss with mse_forward, the trainer by rows). */
static void check_plain(const setup *s, const char *name, const run_out *pl)
{
    char what[256];
    run_out ref = train_run(s, 0, 0);
    CHECK(same_bits(pl->grad0, ref.grad0, pl->np), "%s plain step: step-0 gradients differ at [%zu]",
          name, first_diff(pl->grad0, ref.grad0, pl->np));
    CHECK(same_bits(pl->params, ref.params, pl->np), "%s plain step: final parameters differ at [%zu]",
          name, first_diff(pl->params, ref.params, pl->np));
    snprintf(what, sizeof what, "%s plain step vs model_*: losses", name);
    check_close(what, pl->losses, ref.losses, (size_t)s->epochs, 0.0, 1e-6);
    run_free(&ref);
}

/* A closed form (`method`) against the plain step on each setup: losses and
 * step-0 gradients to rtol 1e-5, final parameters to 1e-4; the loss from
 * the forward pass on near-exact fits (noise >= 0) and only there. */
static void check_closed(const setup *setups, size_t count, train_method method, const char *label)
{
    for (size_t i = 0; i < count; i++) {
        const setup *s = &setups[i];
        char name[128], what[256];
        setup_name(name, sizeof name, s);
        run_out cf = train_run(s, 1, 1);
        run_out pl = train_run(s, 1, 0);
        CHECK(cf.method == method && pl.method == TRAIN_PLAIN,
              "%s: expected the %s vs plain, got methods %d, %d", name, label, cf.method, pl.method);
        snprintf(what, sizeof what, "%s %s: losses", name, label);
        check_close(what, cf.losses, pl.losses, (size_t)s->epochs, 0.0, 1e-5);
        snprintf(what, sizeof what, "%s %s: step-0 gradients", name, label);
        check_close(what, cf.grad0, pl.grad0, cf.np, 1e-7, 1e-5);
        snprintf(what, sizeof what, "%s %s: final parameters", name, label);
        check_close(what, cf.params, pl.params, cf.np, 1e-6, 1e-4);
        check_plain(s, name, &pl);
        if (s->noise >= 0.0f)
            CHECK(cf.fallbacks > 0, "%s: the near-exact fit never took the loss from the forward pass",
                  name);
        else
            CHECK(cf.fallbacks == 0, "%s: %ld fallbacks on random targets", name, cf.fallbacks);
        run_free(&cf);
        run_free(&pl);
    }
}

static void check_closed_form(void)
{
    const setup setups[] = {
        {100, 10, 5, 0, 0, 0, 100, -1.0f, 0, 0},   /* the default experiment's dense model */
        {37, 13, 7, 0, 0, 0, 60, -1.0f, 0, 0},     /* odd shapes */
        {300, 64, 33, 0, 0, 0, 40, -1.0f, 0, 0},
        {64, 64, 3, 0, 0, 0, 40, -1.0f, 0, 0},     /* I = N */
        {200, 17, 9, 0, 0, 0, 200, 0.01f, 0, 0},   /* a near-exact fit: the loss falls 4 decades */
    };
    check_closed(setups, sizeof setups / sizeof setups[0], TRAIN_CLOSED_FORM, "closed form");
}

/* The LoRA closed form (lora_closed.c): from scratch and on a frozen base. */
static void check_lora_closed(void)
{
    const setup setups[] = {
        {100, 20, 10, 4, 0, 0, 100, -1.0f, 0, 0},  /* the default experiment's samples and
                                                  * epochs; 10 -> 5 takes the narrow pass */
        {100, 20, 10, 1, 1, 0, 100, -1.0f, 0, 0},  /* the same on a frozen base */
        {37, 23, 7, 2, 0, 0, 60, -1.0f, 0, 0},     /* odd shapes */
        {301, 37, 13, 5, 1, 0, 60, -1.0f, 0, 0},
        {300, 64, 33, 8, 1, 0, 40, -1.0f, 0, 0},   /* several row blocks, rank 8 */
        {64, 64, 3, 2, 0, 0, 40, -1.0f, 0, 0},     /* I = N */
        {300, 40, 70, 9, 1, 0, 40, -1.0f, 1, 0},   /* rsLoRA: scale alpha/sqrt(R) */
        {200, 17, 9, 2, 1, 0, 200, 0.01f, 0, 0},   /* near-exact fits: the loss falls decades */
        {200, 17, 9, 2, 0, 0, 200, 0.01f, 0, 0},
    };
    check_closed(setups, sizeof setups / sizeof setups[0], TRAIN_LORA_CLOSED, "LoRA closed form");
}

static void check_lora_fused(void)
{
    /* The narrow pass takes O, R <= 8 and I <= 16 on one thread (train.h);
     * the setups sit on both sides of each limit. */
    const struct {
        setup s;
        train_method method;
    } cases[] = {
        {{100, 10, 5, 3, 0, 0, 50, -1.0f, 0, 0}, TRAIN_LORA_NARROW}, /* the default experiment's shape */
        {{37, 13, 7, 2, 0, 0, 30, -1.0f, 0, 0}, TRAIN_LORA_NARROW},  /* a partial block of 5 rows */
        {{48, 10, 5, 4, 0, 0, 20, -1.0f, 0, 0}, TRAIN_LORA_NARROW},  /* whole blocks only */
        {{50, 16, 8, 8, 0, 0, 20, -1.0f, 0, 0}, TRAIN_LORA_NARROW},  /* every limit reached */
        /* and one past each (mini-batches: a full batch takes the closed form) */
        {{50, 17, 8, 8, 0, 25, 20, -1.0f, 0, 0}, TRAIN_LORA_FUSED},
        {{50, 16, 9, 8, 0, 25, 20, -1.0f, 0, 0}, TRAIN_LORA_FUSED},
        {{50, 16, 8, 9, 0, 25, 20, -1.0f, 0, 0}, TRAIN_LORA_FUSED},
        {{100, 10, 5, 2, 1, 0, 30, -1.0f, 0, 0}, TRAIN_LORA_NARROW}, /* on a frozen base */
        {{500, 10, 5, 2, 1, 0, 5, -1.0f, 0, 0}, TRAIN_LORA_NARROW},  /* base output past the tiny products */
        {{100, 10, 5, 4, 1, 36, 8, -1.0f, 0, 0}, TRAIN_LORA_NARROW}, /* mini-batches of 36 and 28 */
        {{1, 3, 2, 1, 0, 0, 10, -1.0f, 0, 0}, TRAIN_LORA_NARROW},    /* one sample */
        /* on a frozen base, full batch: I > N keeps it off the closed form */
        {{300, 700, 33, 5, 1, 0, 10, -1.0f, 0, 0}, TRAIN_LORA_FUSED},
        {{300, 40, 70, 9, 1, 64, 6, -1.0f, 0, 0}, TRAIN_LORA_FUSED}, /* mini-batches, rank > 8 */
        {{260, 33, 40, 1, 0, 100, 6, -1.0f, 0, 0}, TRAIN_LORA_FUSED},
        /* LoRA+: B at 16 lr. Every path ends in train_adam, whose
         * model_adam_span gives each tensor its own rate */
        {{100, 10, 5, 2, 1, 0, 30, -1.0f, 0, 16.0}, TRAIN_LORA_NARROW},
        {{100, 10, 5, 4, 1, 36, 8, -1.0f, 0, 16.0}, TRAIN_LORA_NARROW},
        {{300, 700, 33, 5, 1, 0, 10, -1.0f, 0, 16.0}, TRAIN_LORA_FUSED},
        {{300, 40, 70, 9, 0, 64, 6, -1.0f, 0, 4.0}, TRAIN_LORA_FUSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const setup *s = &cases[i].s;
        char name[128];
        setup_name(name, sizeof name, s);
        run_out pl = train_run(s, 1, 0);
        check_plain(s, name, &pl);
        /* the narrow pass has a portable and an AVX2 build: both */
        for (int isa = 0; isa < 2; isa++) {
            matmul_set_isa(isa == 0 ? MATMUL_ISA_PORTABLE : MATMUL_ISA_AUTO);
            run_out fu = train_run(s, 1, 1);
            matmul_set_isa(MATMUL_ISA_AUTO);
            const char *path = isa == 0 ? "portable" : matmul_isa_name();
            CHECK(fu.method == cases[i].method, "%s: method %d, expected %d", name, fu.method,
                  cases[i].method);
            CHECK(same_bits(fu.losses, pl.losses, (size_t)s->epochs),
                  "%s %s fused: losses differ from the plain step's at epoch %zu", name, path,
                  first_diff(fu.losses, pl.losses, (size_t)s->epochs));
            CHECK(same_bits(fu.grad0, pl.grad0, fu.np), "%s %s fused: step-0 gradients differ at [%zu]",
                  name, path, first_diff(fu.grad0, pl.grad0, fu.np));
            CHECK(same_bits(fu.params, pl.params, fu.np), "%s %s fused: final parameters differ at [%zu]",
                  name, path, first_diff(fu.params, pl.params, fu.np));
            run_free(&fu);
        }
        run_free(&pl);
    }
}

/* Every path, 1, 2 and 3 threads: the same bits. */
static void check_thread_identity(void)
{
    const setup setups[] = {
        {300, 64, 33, 0, 0, 0, 8, -1.0f, 0, 0},   /* closed form */
        {300, 64, 33, 0, 0, 50, 4, -1.0f, 0, 0},  /* dense forward-backward, mini-batches */
        {700, 64, 33, 4, 0, 0, 6, -1.0f, 0, 0},   /* LoRA closed form */
        {300, 700, 33, 4, 0, 0, 4, -1.0f, 0, 0},  /* fused LoRA, several row blocks */
        {200, 17, 9, 2, 1, 0, 200, 0.01f, 0, 0},  /* LoRA closed form with fallbacks */
        {100, 10, 5, 3, 0, 0, 30, -1.0f, 0, 0},   /* narrow LoRA on 1 thread, the block pass on 2, 3 */
        {100, 10, 5, 2, 1, 36, 8, -1.0f, 0, 0},   /* the same on a base, mini-batches */
        {700, 64, 40, 9, 1, 250, 4, -1.0f, 0, 0}, /* fused LoRA on a base, mini-batches */
        {200, 17, 9, 0, 0, 0, 200, 0.01f, 0, 0},  /* closed form with fallbacks */
        /* LoRA+ past train.c's ADAM_PARALLEL_MIN (65536 parameters): Adam
         * in shares of the block, each share cut at the tensors' rates */
        {64, 2000, 1500, 19, 1, 0, 3, -1.0f, 0, 16.0},
    };
    for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
        const setup *s = &setups[i];
        char name[128];
        setup_name(name, sizeof name, s);
        run_out one = train_run(s, 1, 1);
        for (int th = 2; th <= 3; th++) {
            run_out many = train_run(s, th, 1);
            CHECK(same_bits(many.losses, one.losses, (size_t)s->epochs),
                  "%s: losses with %d threads differ from 1 thread at epoch %zu", name, th,
                  first_diff(many.losses, one.losses, (size_t)s->epochs));
            CHECK(same_bits(many.params, one.params, one.np),
                  "%s: parameters with %d threads differ from 1 thread at [%zu]", name, th,
                  first_diff(many.params, one.params, one.np));
            run_free(&many);
        }
        run_free(&one);
    }
}

void test_train(void)
{
    check_closed_form();
    check_lora_closed();
    check_lora_fused();
    check_thread_identity();
}
