/* closed_form_error.c - how far the closed-form dense epoch is from the
 * forward-backward one, on one shape. Prints one JSON object.
 *
 * Dimension key: N samples, I in, O out.
 *
 *   closed_form_error [--in I] [--out O] [--samples N] [--epochs E]
 *                     [--noise S]   (S >= 0: targets = a random linear map
 *                                    of the inputs + S * noise; default:
 *                                    random targets)
 *
 * Reported: the largest relative difference of the per-epoch losses, of the
 * step-0 gradients (relative to the largest step-0 gradient), and of the
 * final parameters (relative to the largest parameter); the number of epochs
 * whose loss came from the forward pass; the first and last loss; and each
 * method's step-0 gradient error against the exact one (computed in double,
 * a forward and backward pass of N*I*O multiply-adds).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/linear.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "train/train.h"

typedef struct {
    float *losses, *grad0, *params;
    long fallbacks;
} run;

/* The step-0 gradient of the model train() starts from, in double. */
static double *exact_grad0(const dataset *d)
{
    const int I = d->in, O = d->out, N = d->n;
    float *w = malloc((size_t)O * I * sizeof(float)), *b = malloc((size_t)O * sizeof(float));
    rng r;
    rng_seed(&r, 42, 1000);
    linear_init(w, b, I, O, &r);
    double *g = calloc((size_t)O * I + O, sizeof(double));
    double *res = malloc((size_t)O * sizeof(double));
    const double s = 2.0 / ((double)N * O);
    for (int n = 0; n < N; n++) {
        const float *x = d->x + (size_t)n * I;
        for (int o = 0; o < O; o++) {
            double v = b[o];
            for (int i = 0; i < I; i++)
                v += (double)w[(size_t)o * I + i] * x[i];
            res[o] = s * (v - d->y[(size_t)n * O + o]);
        }
        for (int o = 0; o < O; o++) {
            double *go = g + (size_t)o * I;
            for (int i = 0; i < I; i++)
                go[i] += res[o] * x[i];
            g[(size_t)O * I + o] += res[o];
        }
    }
    free(w);
    free(b);
    free(res);
    return g;
}

static double maxerr(const float *a, const double *exact, size_t n)
{
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(exact[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - exact[i]));
    return worst / scale;
}

static run train(const dataset *d, int epochs, int closed_form)
{
    model m;
    char err[256];
    rng r;
    rng_seed(&r, 42, 1000);
    if (model_init(&m, (const model_spec[]){model_spec_dense(d->in, d->out)}, NULL, NULL, err, sizeof err) != LD_OK) {
        fprintf(stderr, "closed_form_error: %s\n", err);
        exit(1);
    }
    linear_init(m.layers[0].W, m.layers[0].b, d->in, d->out, &r);
    trainer t;
    trainer_options opt = trainer_defaults();
    opt.fast_paths = closed_form;
    if (trainer_init(&t, &m, d->x, d->y, d->n, 0, &opt, err, sizeof err) != LD_OK) {
        fprintf(stderr, "closed_form_error: %s\n", err);
        exit(1);
    }
    run out = {malloc((size_t)epochs * sizeof(float)), malloc(m.n_params * sizeof(float)),
               malloc(m.n_params * sizeof(float)), 0};
    for (int e = 0; e < epochs; e++) {
        out.losses[e] = trainer_epoch(&t, &m, NULL, adam_defaults(0.01));
        if (e == 0)
            memcpy(out.grad0, m.grads, m.n_params * sizeof(float));
    }
    memcpy(out.params, m.params, m.n_params * sizeof(float));
    out.fallbacks = t.gram_fallbacks;
    trainer_free(&t);
    model_free(&m);
    return out;
}

/* max |a-b| / scale, scale = max |b| (or elementwise |b| when per_elem) */
static double maxrel(const float *a, const float *b, size_t n, int per_elem)
{
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double s = per_elem ? fabs((double)b[i]) : scale;
        if (s > 0.0)
            worst = fmax(worst, fabs((double)a[i] - (double)b[i]) / s);
    }
    return worst;
}

int main(int argc, char **argv)
{
    int in = 1024, out = 1024, n = 4096, epochs = 20;
    double noise = -1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end = NULL;
        errno = 0;
        if (strcmp(argv[i], "--noise") == 0) {
            noise = strtod(argv[i + 1], &end);
            if (end == argv[i + 1] || *end != '\0' || !(noise >= 0.0))
                return 2;
            continue;
        }
        long v = strtol(argv[i + 1], &end, 10);
        if (end == argv[i + 1] || *end != '\0' || errno == ERANGE || v < 1 || v > INT_MAX)
            return 2;
        if (strcmp(argv[i], "--in") == 0) in = (int)v;
        else if (strcmp(argv[i], "--out") == 0) out = (int)v;
        else if (strcmp(argv[i], "--samples") == 0) n = (int)v;
        else if (strcmp(argv[i], "--epochs") == 0) epochs = (int)v;
        else return 2;
    }
    dataset d;
    char err[256];
    if (dataset_alloc(&d, n, in, out, err, sizeof err) != LD_OK) {
        fprintf(stderr, "closed_form_error: %s\n", err);
        return 1;
    }
    rng r;
    rng_seed(&r, 42, 1);
    dataset_make_random(&d, &r);
    if (noise >= 0.0) {
        float *w = malloc((size_t)in * out * sizeof(float)), *b = malloc((size_t)out * sizeof(float));
        linear_init(w, b, in, out, &r);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < out; o++) {
                double v = b[o];
                for (int i = 0; i < in; i++)
                    v += (double)w[(size_t)o * in + i] * d.x[(size_t)s * in + i];
                d.y[(size_t)s * out + o] = (float)(v + noise * d.y[(size_t)s * out + o]);
            }
        free(w);
        free(b);
    }
    run cf = train(&d, epochs, 1), fb = train(&d, epochs, 0);
    const size_t np = (size_t)out * in + out;
    /* parameters off by more than 1e-4 of the largest */
    double pmax = 0.0;
    long off = 0;
    for (size_t i = 0; i < np; i++)
        pmax = fmax(pmax, fabs((double)fb.params[i]));
    for (size_t i = 0; i < np; i++)
        if (fabs((double)cf.params[i] - (double)fb.params[i]) > 1e-4 * pmax)
            off++;
    double *ex = exact_grad0(&d);
    printf("{\"in\": %d, \"out\": %d, \"samples\": %d, \"epochs\": %d, \"noise\": %g, "
           "\"loss_maxrel\": %.3g, \"grad0_maxrel\": %.3g, \"params_maxrel\": %.3g, "
           "\"params_off_1e-4\": %ld, \"fallback_epochs\": %ld, \"first_loss\": %.9g, "
           "\"last_loss\": %.9g, \"grad0_err_closed_form\": %.3g, "
           "\"grad0_err_forward_backward\": %.3g}\n",
           in, out, n, epochs, noise, maxrel(cf.losses, fb.losses, (size_t)epochs, 1),
           maxrel(cf.grad0, fb.grad0, np, 0), maxrel(cf.params, fb.params, np, 0), off,
           cf.fallbacks, (double)fb.losses[0], (double)fb.losses[epochs - 1],
           maxerr(cf.grad0, ex, np), maxerr(fb.grad0, ex, np));
    free(ex);
    dataset_free(&d);
    return 0;
}
