/* export.c - train.csv/test.csv, weights as safetensors, PEFT adapters and
 * the finetune base (see export.h).
 *
 * Dimension key: N samples, I in, O out, R rank.
 *
 * The tensor names and shapes come from each model's parameter table
 * (model.h), so a model is written by one loop over it.
 */
#include "report/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/staging.h"

/* The most tensors one weights file holds: the model's own plus the base
 * (every layer's weight and bias). */
#define EXPORT_MAX_TENSORS (MODEL_MAX_TENSORS + 2 * MODEL_MAX_LAYERS)
/* Room for "base_model.model.layers.<l>.lora_A.weight" and the like. */
#define EXPORT_NAME_MAX 64

/* Layer l's I and O under cfg: one layer, or the --hidden network. */
static int layer_in(const config *cfg, int l)
{
    return l == 0 ? cfg->in : cfg->hidden[l - 1];
}

static int layer_out(const config *cfg, int l)
{
    return l == cfg->n_hidden ? cfg->out : cfg->hidden[l];
}

/* The base's tensors into t, from w (every layer's weight, one after
 * another: the base, or PiSSA's residual) and b (every layer's bias): one
 * layer's named <prefix>weight and <prefix>bias, layer l of a network
 * layers.<l>.<mid>weight and .bias; names in names[]. Returns how many. */
static size_t base_tensors(st_f32_tensor *t, char (*names)[EXPORT_NAME_MAX], const config *cfg,
                           const float *w, const float *b, const char *prefix, const char *mid);

void export_float_string(char *buf, size_t n, float x)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            break;
    }
}

/* The shortest "%.{15..17}g" decimal of x that strtod reads back as x: alpha
 * as parsed, the number PEFT reads from adapter_config.json. */
static void export_double_string(char *buf, size_t n, double x)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
}

/* "dir/a/b" (b may be NULL: "dir/a"), newly allocated. */
static char *join(const char *dir, const char *a, const char *b)
{
    char *p = path_join(dir, a);
    if (p == NULL || b == NULL)
        return p;
    char *q = path_join(p, b);
    free(p);
    return q;
}

/* make_dirs on dir/sub. */
static ld_status make_sub(const char *dir, const char *sub, char *err, size_t errlen)
{
    char *p = join(dir, sub, NULL);
    if (p == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    ld_status st = make_dirs(p, err, errlen);
    free(p);
    return st;
}

/* ------------------------------------------------------------------------ */
/* the entries of the result set (staging.h) */

/* Past a model's name at the start of s ("dense", "lora_r<k>"), or NULL. */
static const char *skip_model_name(const char *s)
{
    if (strncmp(s, "dense", 5) == 0)
        return s + 5;
    if (strncmp(s, "lora_r", 6) != 0 || s[6] < '0' || s[6] > '9')
        return NULL;
    for (s += 6; *s >= '0' && *s <= '9'; s++)
        ;
    return s;
}

/* s is file, or a temporary of it that a killed run left ("<file>.tmp.<x>"). */
static int file_or_tmp(const char *s, const char *file)
{
    size_t n = strlen(file);
    return strncmp(s, file, n) == 0 && (s[n] == '\0' || strncmp(s + n, ".tmp.", 5) == 0);
}

/* weights/<model>.init.safetensors and .final.safetensors */
static int owns_weights(const char *rel, int is_dir)
{
    const char *p = skip_model_name(rel);
    return !is_dir && p != NULL && p != rel &&
           (file_or_tmp(p, ".init.safetensors") || file_or_tmp(p, ".final.safetensors"));
}

/* adapters/lora_r<k>/ and the files in it (base.safetensors: PiSSA's residual) */
static int owns_adapters(const char *rel, int is_dir)
{
    const char *p = strncmp(rel, "lora_r", 6) == 0 ? skip_model_name(rel) : NULL;
    if (p == NULL)
        return 0;
    if (*p == '\0')
        return is_dir;
    return !is_dir && *p == '/' &&
           (file_or_tmp(p + 1, "adapter_model.safetensors") || file_or_tmp(p + 1, "adapter_config.json") ||
            file_or_tmp(p + 1, "base.safetensors"));
}

size_t export_output_set(const config *cfg, staging_entry *set)
{
    size_t n = 0;
    if (cfg->save_data) {
        set[n++] = (staging_entry){"train.csv", 0, NULL};
        set[n++] = (staging_entry){"test.csv", 0, NULL};
    }
    if (cfg->save_weights) {
        set[n++] = (staging_entry){"weights", 1, owns_weights};
        set[n++] = (staging_entry){"adapters", 1, owns_adapters};
        if (cfg->experiment == EXPERIMENT_FINETUNE)
            set[n++] = (staging_entry){"base.safetensors", 0, NULL};
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* data */

ld_status export_data(const char *dir, const experiment_result *res, char *err, size_t errlen)
{
    if (res->train.x == NULL || res->test.x == NULL)
        return ld_fail(err, errlen, LD_ESTATE, "no data was kept to save (config.save_data unset)");
    char *train = path_join(dir, "train.csv");
    char *test = path_join(dir, "test.csv");
    ld_status st = train == NULL || test == NULL ? ld_fail(err, errlen, LD_ENOMEM, "out of memory")
                                                 : LD_OK;
    if (st == LD_OK)
        st = csv_write_xy(train, res->train.x, res->train.y, res->train.n, res->train.in,
                          res->train.out, err, errlen);
    if (st == LD_OK)
        st = csv_write_xy(test, res->test.x, res->test.y, res->test.n, res->test.in, res->test.out,
                          err, errlen);
    free(train);
    free(test);
    return st;
}

/* ------------------------------------------------------------------------ */
/* weights */

/* An F32 tensor entry: 2-D if cols > 0, else 1-D of length rows. */
static st_f32_tensor tensor(const char *name, int rows, int cols, const float *data)
{
    st_f32_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.ndim = cols > 0 ? 2 : 1;
    t.shape[0] = rows;
    t.shape[1] = cols > 0 ? cols : 0;
    t.data = data;
    return t;
}

static size_t base_tensors(st_f32_tensor *t, char (*names)[EXPORT_NAME_MAX], const config *cfg,
                           const float *w, const float *b, const char *prefix, const char *mid)
{
    size_t n = 0, ow = 0, ob = 0;
    for (int l = 0; l <= cfg->n_hidden; l++) {
        const int I = layer_in(cfg, l), O = layer_out(cfg, l);
        for (int k = 0; k < 2; k++) {
            const char *what = k == 0 ? "weight" : "bias";
            if (cfg->n_hidden > 0)
                snprintf(names[n], EXPORT_NAME_MAX, "layers.%d.%s%s", l, mid, what);
            else
                snprintf(names[n], EXPORT_NAME_MAX, "%s%s", prefix, what);
            t[n] = k == 0 ? tensor(names[n], O, I, w + ow) : tensor(names[n], O, 0, b + ob);
            n++;
        }
        ow += (size_t)O * (size_t)I;
        ob += (size_t)O;
    }
    return n;
}

/* weights/<model>.<stage>.safetensors from params (the model's block). */
static ld_status write_model(const char *dir, const config *cfg, const experiment_result *res,
                             const model_result *mr, const float *params, const char *stage,
                             char *err, size_t errlen)
{
    if (mr->has_base && (res->base_w == NULL || res->base_b == NULL))
        return ld_fail(err, errlen, LD_ESTATE, "%s: its base was not kept to save", mr->name);
    st_f32_tensor t[EXPORT_MAX_TENSORS];
    char names[2 * MODEL_MAX_LAYERS][EXPORT_NAME_MAX]; /* t[] points into it */
    /* PiSSA: the residual base this model trained on */
    const float *w = mr->pissa_base != NULL ? mr->pissa_base : res->base_w;
    size_t n = mr->has_base ? base_tensors(t, names, cfg, w, res->base_b, "base_layer.", "base_layer.")
                            : 0;
    for (int i = 0; i < mr->n_tensors; i++) {
        const param_tensor *p = &mr->tensors[i];
        t[n++] = tensor(p->name, p->shape[0], p->ndim == 2 ? p->shape[1] : 0, params + p->offset);
    }

    char r[16], seed[24], alpha[32], scale[32];
    snprintf(r, sizeof r, "%d", mr->rank);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)res->seeds[0]);
    export_double_string(alpha, sizeof alpha, mr->alpha);
    export_float_string(scale, sizeof scale, mr->scale);
    const st_kv meta[] = {{"format", "pt"}, {"model", mr->name}, {"r", r}, {"seed", seed},
                          {"lora_alpha", alpha}, {"scale", scale}};
    const size_t n_meta = mr->rank > 0 ? 6 : 4; /* dense has no alpha or scale */

    char name[64];
    snprintf(name, sizeof name, "%s.%s.safetensors", mr->name, stage);
    char *path = join(dir, "weights", name);
    if (path == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    ld_status st = st_write_f32(path, t, n, meta, n_meta, err, errlen);
    free(path);
    return st;
}

/* adapters/lora_r<k>/adapter_config.json: the LoraConfig fields that say
 * how to apply the adapter, and only fields that every PEFT release has
 * (PeftConfig and LoraConfig of v0.1.0: huggingface/peft
 * src/peft/utils/config.py and src/peft/tuners/lora.py, today
 * src/peft/config.py and src/peft/tuners/lora/config.py). PEFT 0.6 to 0.13
 * build the config with LoraConfig(**json) and raise on a key they do not
 * know (revision before 0.4, init_lora_weights before 0.3, rank_pattern and
 * alpha_pattern before 0.6, use_rslora before 0.8); 0.14 and later drop it
 * with a warning. So a plain adapter loads in every version, and
 * use_rslora is written only when it is true: an rsLoRA adapter needs
 * PEFT 0.8 (earlier versions would refuse it, or up to 0.5 ignore the key
 * and apply alpha/r). Everything else keeps PEFT's defaults. */
static ld_status write_adapter_config(const char *path, const config *cfg, const model_result *mr,
                                      char *err, size_t errlen)
{
    atomic_file af;
    ld_status st = atomic_open(&af, path, err, errlen);
    if (st != LD_OK)
        return st;
    FILE *fp = af.fp;
    fputs("{\n  \"peft_type\": \"LORA\",\n  \"task_type\": null,\n"
          "  \"base_model_name_or_path\": null,\n  \"inference_mode\": true,\n",
          fp);
    fprintf(fp, "  \"r\": %d,\n  \"lora_alpha\": ", mr->rank);
    json_write_number(fp, mr->alpha);
    if (cfg->rslora)
        fputs(",\n  \"use_rslora\": true", fp);
    /* like use_rslora, only when true: PEFT 0.9 brought use_dora */
    if (cfg->dora)
        fputs(",\n  \"use_dora\": true", fp);
    /* PEFT >= 0.11: "pissa" re-runs the SVD on the original base at load
     * (docs/files.md); written only then, like use_rslora */
    if (cfg->init == LORA_INIT_PISSA)
        fputs(",\n  \"init_lora_weights\": \"pissa\"", fp);
    /* a network names every layer, "layers.<l>": PEFT matches a module
     * whose full name is in the list (src/peft/tuners/tuners_utils.py,
     * check_target_module_exists) */
    fputs(",\n  \"target_modules\": [", fp);
    for (int l = 0; l <= cfg->n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "layers.%d", l);
        fputs(l > 0 ? ", " : "", fp);
        json_write_string(fp, cfg->n_hidden > 0 ? name : EXPORT_TARGET_MODULE);
    }
    /* training only in PEFT too: the adapter predicts without it */
    fputs("],\n  \"lora_dropout\": ", fp);
    json_write_number(fp, cfg->lora_dropout);
    fputs(",\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": false\n}\n", fp);
    return atomic_commit(&af, err, errlen);
}

/* adapters/lora_r<k>/base.safetensors: PiSSA's residual base W0 - s B A
 * (the initial A and B) and the bias of every layer, under the names of
 * base.safetensors. */
static ld_status write_pissa_base(const char *dir, const char *sub, const config *cfg,
                                  const experiment_result *res, const model_result *mr, char *err,
                                  size_t errlen)
{
    st_f32_tensor t[2 * MODEL_MAX_LAYERS];
    char names[2 * MODEL_MAX_LAYERS][EXPORT_NAME_MAX];
    const size_t n =
        base_tensors(t, names, cfg, mr->pissa_base, res->base_b, EXPORT_TARGET_MODULE ".", "");
    const st_kv meta[] = {{"format", "pt"}, {"model", "pissa residual base"}};
    char *path = join(dir, sub, "base.safetensors");
    if (path == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    ld_status st = st_write_f32(path, t, n, meta, 2, err, errlen);
    free(path);
    return st;
}

/* 1 if name ends with suffix. */
static int ends_with(const char *name, const char *suffix)
{
    const size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* adapters/lora_r<k>/: the trained A and B of every layer under PEFT's
 * names (base_model.model.<module>.lora_A.weight, the module "layer" or a
 * network's "layers.<l>"), DoRA's magnitude, and the config. */
static ld_status write_adapter(const char *dir, const config *cfg, const experiment_result *res,
                               const model_result *mr, char *err, size_t errlen)
{
    st_f32_tensor t[MODEL_MAX_TENSORS];
    char names[MODEL_MAX_TENSORS][EXPORT_NAME_MAX];
    size_t n = 0;
    for (int i = 0; i < mr->n_tensors; i++) {
        const param_tensor *p = &mr->tensors[i];
        const int mag = ends_with(p->name, "lora_magnitude_vector.weight");
        if (!ends_with(p->name, "lora_A.weight") && !ends_with(p->name, "lora_B.weight") && !mag)
            continue;
        /* DoRA's magnitude under the key PEFT saves it with: the module's
         * lora_magnitude_vector.default.weight loses the adapter name and,
         * since the DoRA refactor, the ".weight" too, so that the checkpoint
         * format stayed that of the older ParameterDict
         * (LoraModel._get_adapter_state_dict in src/peft/tuners/lora/model.py) */
        snprintf(names[n], EXPORT_NAME_MAX, "base_model.model.%s%.*s",
                 cfg->n_hidden > 0 ? "" : EXPORT_TARGET_MODULE ".",
                 (int)(strlen(p->name) - (mag ? strlen(".weight") : 0)), p->name);
        t[n] = tensor(names[n], p->shape[0], p->shape[1], mr->final_params + p->offset);
        n++;
    }
    if (n < 2)
        return ld_fail(err, errlen, LD_ESTATE, "%s has no lora_A/lora_B to save", mr->name);
    char sub[64];
    snprintf(sub, sizeof sub, "adapters/%s", mr->name);
    ld_status st = make_sub(dir, sub, err, errlen);
    if (st != LD_OK)
        return st;
    const st_kv meta[] = {{"format", "pt"}};
    char *st_path = join(dir, sub, "adapter_model.safetensors");
    char *cfg_path = join(dir, sub, "adapter_config.json");
    if (st_path == NULL || cfg_path == NULL)
        st = ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    if (st == LD_OK)
        st = st_write_f32(st_path, t, n, meta, 1, err, errlen);
    if (st == LD_OK)
        st = write_adapter_config(cfg_path, cfg, mr, err, errlen);
    if (st == LD_OK && mr->pissa_base != NULL)
        st = write_pissa_base(dir, sub, cfg, res, mr, err, errlen);
    free(st_path);
    free(cfg_path);
    return st;
}

ld_status export_weights(const char *dir, const config *cfg, const experiment_result *res,
                         char *err, size_t errlen)
{
    ld_status st = make_sub(dir, "weights", err, errlen);
    for (int i = 0; i < res->n_models && st == LD_OK; i++) {
        const model_result *mr = &res->models[i];
        /* A model whose first seed diverged or was interrupted has no final
         * weights worth saving (experiment.h): it gets no files at all. */
        if (mr->epochs_done != NULL &&
            (mr->epochs_done[0] != res->epochs || mr->diverged_at[0] != 0))
            continue;
        if (mr->init_params == NULL || mr->final_params == NULL)
            return ld_fail(err, errlen, LD_ESTATE,
                           "%s: no weights were kept to save (config.save_weights unset)", mr->name);
        st = write_model(dir, cfg, res, mr, mr->init_params, "init", err, errlen);
        if (st == LD_OK)
            st = write_model(dir, cfg, res, mr, mr->final_params, "final", err, errlen);
        /* a scratch network's LoRA layers train a bias, which an adapter
         * (bias "none") cannot carry: its weights/ files hold the model */
        if (st == LD_OK && mr->rank > 0 &&
            (cfg->n_hidden == 0 || cfg->experiment == EXPERIMENT_FINETUNE))
            st = write_adapter(dir, cfg, res, mr, err, errlen);
    }
    if (st == LD_OK && res->experiment == EXPERIMENT_FINETUNE &&
        !(res->interrupted && res->base_w == NULL)) { /* stopped while pretraining: no base */
        if (res->base_w == NULL || res->base_b == NULL)
            return ld_fail(err, errlen, LD_ESTATE, "the base was not kept to save");
        st_f32_tensor t[2 * MODEL_MAX_LAYERS];
        char names[2 * MODEL_MAX_LAYERS][EXPORT_NAME_MAX];
        const size_t n =
            base_tensors(t, names, cfg, res->base_w, res->base_b, EXPORT_TARGET_MODULE ".", "");
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)res->seeds[0]);
        const st_kv meta[] = {{"format", "pt"}, {"model", "base"}, {"seed", seed}};
        char *path = path_join(dir, "base.safetensors");
        if (path == NULL)
            return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
        st = st_write_f32(path, t, n, meta, 3, err, errlen);
        free(path);
    }
    return st;
}
