/* finetune_net.c - the two tasks of the fine-tune experiment for a
 * --hidden network; finetune.c pretrains, fine-tunes and checks the models
 * layer by layer, as for one layer.
 *
 * Dimension key: N samples, I_l, O_l layer l's in and out, K the rank of
 * every layer's shift.
 *
 *   Task 1's teacher is a random dense network of the run's shape: layer l
 *     is drawn as teacher.h draws one layer (W_l, b_l from STREAM_TEACHER,
 *     its shift's U, V from STREAM_DELTA, each + l * STREAM_LAYER_STRIDE),
 *     with the activation between layers.
 *   Task 2's teacher is the pretrained network itself with every layer's
 *     weight moved by a shift of rank exactly K: layer l's teacher shift,
 *     rescaled so that ||dW_l||_F = FINETUNE_DELTA_FRACTION ||W_l||_F of the
 *     pretrained W_l. The shift is defined relative to the pretrained
 *     network, not to task 1's teacher: a student never learns its teacher
 *     exactly, and a shift of the teacher would leave every rank far above
 *     the noise floor (docs/finetune.md).
 * A base is passed around as model_init takes it: every layer's weight
 * (O_l, I_l) one after another, and every bias (O_l) one after another.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/teacher.h"
#include "runs.h"

void net_base_floats(const model_spec *spec, size_t *weights, size_t *biases)
{
    *weights = *biases = 0;
    for (int l = 0; l < model_spec_layers(spec); l++) {
        *weights += (size_t)model_spec_layer_out(spec, l) * (size_t)model_spec_layer_in(spec, l);
        *biases += (size_t)model_spec_layer_out(spec, l);
    }
}

void net_gather(const model *net, float *w, float *b)
{
    for (int l = 0; l < net->n_layers; l++) {
        const layer *L = &net->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        memcpy(w, L->W, nw * sizeof(float));
        memcpy(b, L->b, (size_t)L->out * sizeof(float));
        w += nw;
        b += L->out;
    }
}

ld_status net_from_base(model *net, const config *cfg, const float *w, const float *b,
                        char *err, size_t errlen)
{
    const model_spec spec = run_model_spec(cfg, 0, 0);
    ld_status st = model_init(net, &spec, NULL, NULL, err, errlen);
    for (int l = 0; st == LD_OK && l < net->n_layers; l++) {
        layer *L = &net->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        memcpy(L->W, w, nw * sizeof(float));
        memcpy(L->b, b, (size_t)L->out * sizeof(float));
        w += nw;
        b += L->out;
    }
    return st;
}

ld_status net_teachers(teacher *tc, const config *cfg, uint64_t seed, char *err, size_t errlen)
{
    const model_spec spec = run_model_spec(cfg, 0, 0);
    ld_status st = LD_OK;
    for (int l = 0; st == LD_OK && l < model_spec_layers(&spec); l++) {
        rng rb, rd;
        const uint64_t off = (uint64_t)l * STREAM_LAYER_STRIDE;
        rng_seed(&rb, seed, STREAM_TEACHER + off);
        rng_seed(&rd, seed, STREAM_DELTA + off);
        st = teacher_make(&tc[l], model_spec_layer_in(&spec, l), model_spec_layer_out(&spec, l),
                          cfg->delta_rank, &rb, &rd, err, errlen);
    }
    return st;
}

ld_status net_task1_teacher(model *net, const config *cfg, const teacher *tc, char *err,
                            size_t errlen)
{
    const model_spec spec = run_model_spec(cfg, 0, 0);
    ld_status st = model_init(net, &spec, NULL, NULL, err, errlen);
    for (int l = 0; st == LD_OK && l < net->n_layers; l++) {
        layer *L = &net->layers[l];
        memcpy(L->W, tc[l].w_base, (size_t)L->out * (size_t)L->in * sizeof(float));
        memcpy(L->b, tc[l].b, (size_t)L->out * sizeof(float));
    }
    return st;
}

/* Layer l's shift as task 2's teacher applies it to the base weight W
 * (O,I): (float)(c dW), c = FINETUNE_DELTA_FRACTION ||W||_F / ||dW||_F,
 * into shift (O,I). */
static void layer_shift(float *shift, const float *W, const teacher *tc, int O, int I)
{
    const size_t nw = (size_t)O * (size_t)I;
    const double c = FINETUNE_DELTA_FRACTION * frobenius(W, O, I) / frobenius(tc->dw, O, I);
    for (size_t i = 0; i < nw; i++)
        shift[i] = (float)(c * (double)tc->dw[i]);
}

ld_status net_task2_teacher(model *net, const config *cfg, const float *w, const float *b,
                            const teacher *tc, char *err, size_t errlen)
{
    ld_status st = net_from_base(net, cfg, w, b, err, errlen);
    size_t most = 1; /* the largest layer's O I; every layer has one weight or more */
    for (int l = 0; st == LD_OK && l < net->n_layers; l++)
        if ((size_t)net->layers[l].out * (size_t)net->layers[l].in > most)
            most = (size_t)net->layers[l].out * (size_t)net->layers[l].in;
    float *shift = st == LD_OK ? malloc(most * sizeof *shift) : NULL;
    if (st == LD_OK && shift == NULL)
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for a network's shift");
    for (int l = 0; st == LD_OK && l < net->n_layers; l++) {
        layer *L = &net->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        layer_shift(shift, L->W, &tc[l], L->out, L->in);
        for (size_t i = 0; i < nw; i++)
            L->W[i] += shift[i];
    }
    free(shift);
    return st;
}

ld_status net_shift_bases(shift_basis *sb, experiment_result *res, const config *cfg,
                          const float *w, const teacher *tc, char *err, size_t errlen)
{
    const model_spec spec = run_model_spec(cfg, 0, 0);
    const int n = model_spec_layers(&spec);
    size_t most = 1; /* the largest layer's O I; every layer has one weight or more */
    for (int l = 0; l < n; l++) {
        const size_t nw =
            (size_t)model_spec_layer_out(&spec, l) * (size_t)model_spec_layer_in(&spec, l);
        most = nw > most ? nw : most;
    }
    float *shift = malloc(most * sizeof *shift);
    if (shift == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for a network's shift");
    res->shift_rank = cfg->delta_rank;
    res->n_shift_layers = n;
    res->shift_energy = NAN; /* no rank bound for a network (docs/spectra.md) */
    ld_status st = LD_OK;
    for (int l = 0; st == LD_OK && l < n; l++) {
        const int O = model_spec_layer_out(&spec, l), I = model_spec_layer_in(&spec, l);
        double energy = 0.0;
        layer_shift(shift, w, &tc[l], O, I);
        st = shift_basis_make(&sb[l], &res->shift[l], &energy, shift, O, I, cfg->delta_rank, err,
                              errlen);
        w += (size_t)O * (size_t)I;
    }
    free(shift);
    return st;
}

ld_status net_make_data(dataset *d, const model *net, double noise, rng *r, char *err,
                        size_t errlen)
{
    const model_spec spec = model_spec_of(net);
    const size_t na = model_acts_floats(&spec, (size_t)d->n);
    float *acts = na != SIZE_MAX ? malloc((na + 1) * sizeof(float)) : NULL;
    if (acts == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory making a network's data");
    const size_t ny = (size_t)d->n * (size_t)d->out;
    rng_fill_normal(r, d->x, (size_t)d->n * (size_t)d->in); /* X first, then Z */
    model_forward(net, d->y, acts, d->x, NULL, d->n, NULL);
    for (size_t i = 0; i < ny; i++)
        d->y[i] += (float)(noise * rng_normal(r));
    free(acts);
    return LD_OK;
}
