/* spectra.c - the first seed's spectra: of every layer's learned update
 * after training, and of the teacher's shift dW, with the effective ranks,
 * the energy of dW captured and the principal angles (core/spectrum.h,
 * docs/spectra.md). experiment.h's layer_spectrum holds them.
 *
 * Dimension key: I in, O out, R rank, K rank of the shift; k = min(O, I).
 *
 * The SVD refuses NaN and Inf, and a diverged model's numbers mean nothing,
 * so a matrix that is not finite is never decomposed: its spectrum is null
 * with the reason. An SVD that fails for another reason (no convergence)
 * also gives a null spectrum with the SVD's message, rather than failing a
 * run whose training is done; only running out of memory fails the run.
 *
 * A full (O,I) matrix - dense W - W0, or dW - is decomposed only when
 * min(O, I) <= SPECTRA_MAX_DENSE: the SVD's work grows as O I min(O, I)
 * (docs/performance.md: seconds at 1024 x 1024). Above it such a spectrum
 * is null ("too large"); LoRA's s B A, decomposed through its (R, R) core,
 * always has one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spectrum.h"
#include "core/svd.h"
#include "runs.h"

static int finite_floats(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

void layer_spectrum_free(layer_spectrum *ls)
{
    free(ls->sigma);
    free(ls->cosines);
    ls->sigma = NULL;
    ls->cosines = NULL;
    ls->k = 0;
    ls->n_cosines = 0;
}

void layer_spectrum_none(layer_spectrum *ls, const char *why)
{
    layer_spectrum_free(ls);
    ls->energy = NAN;
    ls->rank_entropy = NAN;
    ls->rank_threshold = 0;
    snprintf(ls->why_null, sizeof ls->why_null, "%s", why);
}

void spectra_none(model_result *mr, int n_layers, const char *why)
{
    mr->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++)
        layer_spectrum_none(&mr->spectra[l], why);
}

void spectra_unfinished(model_result *mr, int n_layers)
{
    char why[64];
    if (mr->diverged_at[0] > 0)
        snprintf(why, sizeof why, "diverged at epoch %d", mr->diverged_at[0]);
    else if (mr->epochs_done[0] > 0)
        snprintf(why, sizeof why, "interrupted at epoch %d", mr->epochs_done[0]);
    else
        snprintf(why, sizeof why, "not trained");
    spectra_none(mr, n_layers, why);
}

/* Keep sigma (k) in ls with its effective ranks; ls takes sigma over. */
static void keep_values(layer_spectrum *ls, double *sigma, int k)
{
    ls->k = k;
    ls->sigma = sigma;
    ls->rank_threshold = spectrum_rank_threshold(sigma, k, SPECTRUM_RANK_RTOL);
    ls->rank_entropy = spectrum_rank_entropy(sigma, k);
    ls->energy = NAN;
    ls->n_cosines = 0;
    ls->why_null[0] = '\0';
}

/* A failed SVD: out of memory fails the run, anything else leaves the
 * spectrum null with the SVD's message. */
static ld_status svd_failed(layer_spectrum *ls, ld_status st, char *err, size_t errlen)
{
    if (st == LD_ENOMEM)
        return st;
    layer_spectrum_none(ls, err);
    if (errlen > 0)
        err[0] = '\0';
    return LD_OK;
}

ld_status shift_basis_make(shift_basis *sb, layer_spectrum *out, double *dw_energy,
                           const float *dw, int O, int I, int K, char *err, size_t errlen)
{
    const int k = O < I ? O : I;
    memset(sb, 0, sizeof *sb);
    double energy = 0.0; /* ||dW||_F^2, for the rank bound even when dW is too large */
    for (size_t i = 0; i < (size_t)O * (size_t)I; i++)
        energy += (double)dw[i] * (double)dw[i];
    *dw_energy = energy;
    if (!isfinite(energy)) { /* a network's shift is scaled by its base's norm */
        layer_spectrum_none(out, "shift not finite");
        return LD_OK;
    }
    if (k > SPECTRA_MAX_DENSE) {
        char why[64];
        snprintf(why, sizeof why, "too large: min(out, in) = %d > %d", k, SPECTRA_MAX_DENSE);
        layer_spectrum_none(out, why);
        return LD_OK;
    }
    sb->d = malloc((size_t)O * (size_t)I * sizeof *sb->d);
    sb->u = malloc((size_t)O * (size_t)k * sizeof *sb->u);
    double *sigma = malloc((size_t)k * sizeof *sigma);
    if (sb->d == NULL || sb->u == NULL || sigma == NULL) {
        free(sigma);
        shift_basis_free(sb);
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for the spectrum of the shift");
    }
    for (size_t i = 0; i < (size_t)O * (size_t)I; i++)
        sb->d[i] = (double)dw[i];
    const ld_status st = svd(sigma, sb->u, NULL, sb->d, O, I, err, errlen);
    if (st != LD_OK) {
        free(sigma);
        shift_basis_free(sb); /* no basis: no energy or angles */
        return svd_failed(out, st, err, errlen);
    }
    keep_values(out, sigma, k);
    sb->k = K;
    sb->ld = k;
    return LD_OK;
}

void shift_basis_free(shift_basis *sb)
{
    free(sb->d);
    free(sb->u);
    memset(sb, 0, sizeof *sb);
}

/* The energy of dW in the span of u's first q columns (u (O, ld)), and the
 * principal angles between that span and dW's top K. */
static ld_status compare_with_shift(layer_spectrum *ls, const double *u, int ld, int q,
                                    const shift_basis *sb, int O, int I, char *err, size_t errlen)
{
    const int n = q < sb->k ? q : sb->k;
    ls->energy = spectrum_energy(u, ld, q, sb->d, O, I);
    ls->cosines = malloc((size_t)n * sizeof *ls->cosines);
    if (ls->cosines == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory for principal angles");
    const ld_status st = spectrum_angles(ls->cosines, u, ld, q, sb->u, sb->ld, sb->k, O, err, errlen);
    if (st != LD_OK)
        return svd_failed(ls, st, err, errlen);
    ls->n_cosines = n;
    return LD_OK;
}

/* The update of a layer formed in d (O,I): W - W0 (W0 NULL: W itself), or
 * a LoRA layer's (Wb + s B A) - W0 in double, Wb its frozen base (Wres, the
 * residual, with PiSSA; else W0); with DoRA, (mag / n)(Wb + s B A) - W0, n
 * the row norms of Wb + s B A (its merge). */
static void form_update(double *d, const layer *L, const float *W0, const float *Wres)
{
    const int O = L->out, I = L->in, R = L->rank;
    const float *Wb = Wres != NULL ? Wres : W0 != NULL ? W0 : L->W0;
    for (int o = 0; o < O; o++) {
        for (int i = 0; i < I; i++) {
            const size_t oi = (size_t)o * (size_t)I + (size_t)i;
            double v;
            if (L->kind == LAYER_LORA) {
                double ba = 0.0;
                for (int r = 0; r < R; r++)
                    ba += (double)L->B[(size_t)o * (size_t)R + (size_t)r] *
                          (double)L->A[(size_t)r * (size_t)I + (size_t)i];
                v = (double)Wb[oi] + (double)L->scale * ba;
            } else {
                v = (double)L->W[oi];
            }
            d[oi] = v;
        }
        double g = 1.0;
        if (L->kind == LAYER_LORA && L->dora) {
            double ss = 0.0;
            for (int i = 0; i < I; i++)
                ss += d[(size_t)o * (size_t)I + (size_t)i] * d[(size_t)o * (size_t)I + (size_t)i];
            g = ss > 0.0 ? (double)L->mag[o] / sqrt(ss) : 1.0;
        }
        for (int i = 0; i < I; i++) {
            const size_t oi = (size_t)o * (size_t)I + (size_t)i;
            d[oi] = g * d[oi] - (W0 != NULL ? (double)W0[oi] : 0.0);
        }
    }
}

/* One layer: LoRA's s B A (by svd_lowrank, never formed), or a dense
 * layer's W - W0 (W0 NULL: W itself), or with PiSSA (Wres, the residual
 * base it trained on) or DoRA the whole change of the layer, formed; W0 is
 * this layer's original base. */
static ld_status layer_spectrum_of(layer_spectrum *ls, const layer *L, const float *W0,
                                   const float *Wres, const shift_basis *sb, pool *pl, char *err,
                                   size_t errlen)
{
    const int O = L->out, I = L->in, R = L->rank;
    const int lora = L->kind == LAYER_LORA && !L->dora && Wres == NULL;
    const int k = lora ? R : (O < I ? O : I);
    const size_t n = (size_t)O * (size_t)I;
    const int finite = L->kind == LAYER_LORA
                           ? finite_floats(L->A, (size_t)R * (size_t)I) &&
                                 finite_floats(L->B, (size_t)O * (size_t)R) &&
                                 (Wres == NULL || finite_floats(Wres, n)) &&
                                 (!L->dora || finite_floats(L->mag, (size_t)O))
                           : finite_floats(L->W, n) && (W0 == NULL || finite_floats(W0, n));
    layer_spectrum_free(ls);
    if (!finite) {
        layer_spectrum_none(ls, "weights not finite");
        return LD_OK;
    }
    if (!lora && k > SPECTRA_MAX_DENSE) {
        char why[64];
        snprintf(why, sizeof why, "too large: min(out, in) = %d > %d", k, SPECTRA_MAX_DENSE);
        layer_spectrum_none(ls, why);
        return LD_OK;
    }
    double *sigma = malloc((size_t)k * sizeof *sigma);
    double *u = malloc((size_t)O * (size_t)k * sizeof *u);
    double *d = lora ? NULL : malloc(n * sizeof *d);
    ld_status st = LD_OK;
    if (sigma == NULL || u == NULL || (!lora && d == NULL)) {
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory for a spectrum");
    } else if (lora) {
        st = svd_lowrank(sigma, u, NULL, L->B, L->A, (double)L->scale, O, R, I, err, errlen);
    } else {
        form_update(d, L, W0, Wres);
        const svd_options opt = {.pool = pl};
        st = svd_ex(sigma, u, NULL, d, O, I, &opt, NULL, err, errlen);
    }
    free(d);
    if (st == LD_OK) {
        keep_values(ls, sigma, k);
        sigma = NULL;
        if (sb != NULL && sb->k > 0)
            st = compare_with_shift(ls, u, k, L->kind == LAYER_LORA ? (R < k ? R : k)
                                                                    : (sb->k < k ? sb->k : k),
                                    sb, O, I, err, errlen);
    } else {
        st = svd_failed(ls, st, err, errlen); /* out of memory stays a failure */
    }
    free(sigma);
    free(u);
    return st;
}

ld_status spectra_of_model(model_result *mr, const model *m, const float *W0, const float *Wres,
                           const shift_basis *sb, pool *pl, char *err, size_t errlen)
{
    mr->n_layers = m->n_layers;
    ld_status st = LD_OK;
    /* W0: every layer's base weight, one after another; sb: every layer's
     * shift, layer l's update compared with sb[l] */
    for (int l = 0; l < m->n_layers && st == LD_OK; l++) {
        const layer *L = &m->layers[l];
        const size_t nw = (size_t)L->out * (size_t)L->in;
        st = layer_spectrum_of(&mr->spectra[l], L, W0, L->kind == LAYER_LORA ? Wres : NULL,
                               sb != NULL ? &sb[l] : NULL, pl, err, errlen);
        if (W0 != NULL)
            W0 += nw;
        if (Wres != NULL)
            Wres += nw;
    }
    return st;
}

int spectra_bytes(const config *cfg, size_t *bytes)
{
    const size_t I = (size_t)cfg->in, O = (size_t)cfg->out, M = 1 + (size_t)cfg->n_ranks;
    const size_t k = I < O ? I : O, l = I < O ? O : I;
    size_t R = 1;
    for (int i = 0; i < cfg->n_ranks; i++)
        if ((size_t)cfg->ranks[i] > R)
            R = (size_t)cfg->ranks[i];
    /* kept: sigma and cosines of every model and of the shift, 2 k (M + 1).
     * While one is computed, twice (the shift's dW and basis stay while a
     * model's is made): with full matrices (k small enough), one (O,I), U
     * (O,k) and svd's work space (svd.h: k l + 2 k^2 + O(l) doubles, here
     * 4 l); else only LoRA's U (O,R) and svd_lowrank's R (O + I) + 3 R^2
     * + l. From k = SVD_BIDIAG_MIN the bidiagonal route's own, once (one
     * SVD runs at a time): k l + 16 k + 2 l doubles and 1.5 MiB of buffered
     * rotations (svd.h). */
    size_t kept = 0, a = 0, b = 0, work = 0, total = 0, bd = 0;
    const int full = k <= SPECTRA_MAX_DENSE;
    if (full && k >= SVD_BIDIAG_MIN &&
        (ld_mul_size(&bd, k, l + 16) != 0 || ld_add_size(&bd, bd, 2 * l + (3u << 19) / 8) != 0))
        return -1;
    if (ld_mul3_size(&kept, 2, k, M + 1) != 0 ||
        (full ? ld_mul_size(&a, O, I + k) : ld_mul_size(&a, O, R)) != 0 ||
        (full ? ld_mul_size(&b, k, l + 2 * k) : ld_mul_size(&b, R, O + I + 3 * R)) != 0 ||
        ld_add_size(&work, a, b) != 0 || ld_add_size(&work, work, 4 * l) != 0 ||
        ld_add_size(&total, work, work) != 0 || ld_add_size(&total, total, kept) != 0 ||
        ld_add_size(&total, total, bd) != 0 ||
        ld_mul_size(bytes, total, sizeof(double)) != 0)
        return -1;
    /* a network keeps every layer's shift basis, d (O_l,I_l) and u (O_l,k_l),
     * and its sigma (k_l), while its models train */
    const model_spec spec = run_model_spec(cfg, 0, 0);
    for (int j = 0; cfg->n_hidden > 0 && j < model_spec_layers(&spec); j++) {
        const size_t Ol = (size_t)model_spec_layer_out(&spec, j);
        const size_t Il = (size_t)model_spec_layer_in(&spec, j);
        const size_t kl = Ol < Il ? Ol : Il;
        size_t n = 0, nb = 0;
        if (ld_mul_size(&n, Ol, Il + kl + 1) != 0 || ld_mul_size(&nb, n, sizeof(double)) != 0 ||
            ld_add_size(bytes, *bytes, nb) != 0)
            return -1;
    }
    return 0;
}

double experiment_rank_bound(const experiment_result *res, int r)
{
    const int K = res->shift_rank;
    if (K < 1 || !isfinite(res->shift_energy))
        return NAN;
    const double missed = r < K ? (double)(K - r) / (double)K : 0.0;
    return res->noise_floor + missed * res->shift_energy / (double)res->out;
}
