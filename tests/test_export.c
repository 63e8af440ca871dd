/* test_export.c - the files a run hands to other tools, read back: weights
 * and adapters (safetensors), adapter_config.json and summary.json (parsed
 * with json_parse), train.csv/test.csv; and the input side: --data's
 * held-out split, the checks of the input files and the data round trip.
 *
 * Dimension key: N samples, I in, O out, R rank.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomicio.h"
#include "config.h"
#include "io/csv.h"
#include "core/data.h"
#include "io/dataio.h"
#include "experiment/experiment.h"
#include "report/export.h"
#include "io/json.h"
#include "core/linear.h"
#include "core/lora.h"
#include "core/model.h"
#include "core/optim.h"
#include "report/report.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* helpers */

static char *path2(const char *dir, const char *name)
{
    return path_join(dir, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len != NULL)
        *len = got;
    return buf;
}

/* Parse the JSON file at path; NULL (and a failed check) if it is not valid. */
static json_value *parse_file(const char *path)
{
    size_t len = 0;
    char *text = slurp(path, &len);
    json_value *root = NULL;
    char err[256] = "";
    CHECK(text != NULL, "%s: cannot read", path);
    if (text == NULL)
        return NULL;
    CHECK(json_parse(text, len, &root, err, sizeof err) == LD_OK, "%s: not valid JSON: %s", path, err);
    free(text);
    return root;
}

static int is_null(const json_value *v)
{
    return v != NULL && json_type_of(v) == JSON_NULL;
}

/* The fields of PEFT v0.1.0's PeftConfig and LoraConfig (huggingface/peft
 * src/peft/utils/config.py, src/peft/tuners/lora.py): keys every release
 * knows. PEFT 0.6 to 0.13 raise on any other key (LoraConfig(**json)). */
static const char *const PEFT_V010_KEYS[] = {
    "base_model_name_or_path", "peft_type", "task_type", "inference_mode", "r",
    "target_modules", "lora_alpha", "lora_dropout", "merge_weights", "fan_in_fan_out",
    "enable_lora", "bias", "modules_to_save",
};

/* adapter_config.json's keys are exactly want (n of them, in any order),
 * and every key but use_rslora (PEFT 0.8) is one every PEFT release knows. */
static void check_adapter_keys(const json_value *cfg, const char *const *want, size_t n,
                               const char *what)
{
    CHECK(json_length(cfg) == n, "%s: %zu keys, want %zu", what, json_length(cfg), n);
    for (size_t i = 0; i < n; i++)
        CHECK(json_get(cfg, want[i]) != NULL, "%s: no \"%s\"", what, want[i]);
    for (size_t i = 0; i < json_length(cfg); i++) {
        const char *key = json_key_at(cfg, i);
        int known = strcmp(key, "use_rslora") == 0;
        for (size_t k = 0; k < sizeof PEFT_V010_KEYS / sizeof PEFT_V010_KEYS[0]; k++)
            known |= strcmp(key, PEFT_V010_KEYS[k]) == 0;
        CHECK(known, "%s: \"%s\" is not a field of every PEFT release (0.6 to 0.13 refuse unknown keys)",
              what, key);
    }
}

static const char *const ADAPTER_KEYS[] = {
    "peft_type", "task_type", "base_model_name_or_path", "inference_mode", "r", "lora_alpha",
    "target_modules", "lora_dropout", "bias", "fan_in_fan_out", "use_rslora",
};
#define N_ADAPTER_KEYS (sizeof ADAPTER_KEYS / sizeof ADAPTER_KEYS[0])

static int str_is(const json_value *v, const char *s)
{
    return json_type_of(v) == JSON_STRING && strcmp(json_string(v), s) == 0;
}

/* Read the F32 tensor name of shape (rows, cols) (cols 0: 1-D) from f. */
static float *get(const st_file *f, const char *name, long long rows, long long cols)
{
    char err[256] = "";
    long long shape[2] = {rows, cols};
    float *x = NULL;
    CHECK(st_get_f32(f, name, cols > 0 ? 2 : 1, shape, &x, err, sizeof err) == LD_OK, "%s", err);
    return x;
}

/* 1 if dir/name exists. */
static int exists(const char *dir, const char *name)
{
    char *p = path2(dir, name);
    FILE *f = fopen(p, "rb");
    free(p);
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

static int same_floats(const float *a, const float *b, size_t n)
{
    return a != NULL && b != NULL && memcmp(a, b, n * sizeof(float)) == 0;
}

/* A data set read back from a CSV written by --save-data. */
static void read_dataset(const char *path, dataset *d)
{
    char err[256] = "";
    csv_table t;
    memset(d, 0, sizeof *d);
    CHECK(csv_read_table(path, &t, err, sizeof err) == LD_OK, "%s", err);
    CHECK(csv_table_split_xy(&t, 0, 0, &d->x, &d->y, &d->n, &d->in, &d->out, path, err, sizeof err) ==
              LD_OK,
          "%s", err);
    csv_table_free(&t);
}

/* MSE of model m on d (fresh buffers, the model's own forward). */
static float model_mse(const model *m, const dataset *d)
{
    float *y = malloc((size_t)d->n * (size_t)m->out * sizeof(float));
    float *h = malloc((size_t)d->n * (size_t)(m->layers[0].rank > 0 ? m->layers[0].rank : 1) * sizeof(float));
    model_forward(m, y, h, d->x, NULL, d->n, NULL);
    const float l = mse_forward(y, d->y, (size_t)d->n * (size_t)m->out);
    free(y);
    free(h);
    return l;
}

static int close_to(float got, float want)
{
    return fabsf(got - want) <= 1e-7f + 1e-5f * fabsf(want);
}

/* Run cfg with everything saved into dir; res is kept for the checks. */
static int run_and_save(config *c, const char *dir, experiment_result *res)
{
    char err[256] = "";
    c->output_dir = dir;
    c->save_data = 1;
    c->save_weights = 1;
    c->quiet = 1;
    ld_status st = experiment_run(c, NULL, NULL, res, err, sizeof err);
    CHECK(st == LD_OK, "%s", err);
    if (st != LD_OK)
        return 0;
    st = report_write_summary(dir, c, res, err, sizeof err);
    if (st == LD_OK)
        st = export_data(dir, res, err, sizeof err);
    if (st == LD_OK)
        st = export_weights(dir, c, res, err, sizeof err);
    CHECK(st == LD_OK, "%s", err);
    return st == LD_OK;
}

/* Load dir/weights/<model>.<stage>.safetensors. */
static int load_weights(const char *dir, const char *model_name, const char *stage, st_file *f)
{
    char name[128], err[256] = "";
    snprintf(name, sizeof name, "weights/%s.%s.safetensors", model_name, stage);
    char *p = path2(dir, name);
    ld_status st = st_load(p, f, err, sizeof err);
    CHECK(st == LD_OK, "%s", err);
    free(p);
    return st == LD_OK;
}

/* The value of metadata key in f (st_file.meta), or NULL. */
static const char *meta_value(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

/* The metadata every weights file carries. */
static void check_meta(const st_file *f, const model_result *mr, uint64_t seed)
{
    char r[16], s[24];
    snprintf(r, sizeof r, "%d", mr->rank);
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    const char *fmt = meta_value(f, "format"), *model = meta_value(f, "model");
    const char *rr = meta_value(f, "r"), *ss = meta_value(f, "seed");
    CHECK(fmt != NULL && strcmp(fmt, "pt") == 0, "%s: format", mr->name);
    CHECK(model != NULL && strcmp(model, mr->name) == 0, "%s: model '%s'", mr->name, model ? model : "");
    CHECK(rr != NULL && strcmp(rr, r) == 0, "%s: r", mr->name);
    CHECK(ss != NULL && strcmp(ss, s) == 0, "%s: seed", mr->name);
    const char *alpha = meta_value(f, "lora_alpha"), *scale = meta_value(f, "scale");
    if (mr->rank == 0) {
        CHECK(alpha == NULL && scale == NULL && f->n_meta == 4, "dense: no lora_alpha/scale");
    } else {
        CHECK(alpha != NULL && strtod(alpha, NULL) == mr->alpha, "%s: lora_alpha '%s'", mr->name,
              alpha ? alpha : "");
        CHECK(scale != NULL && strtof(scale, NULL) == mr->scale, "%s: scale '%s'", mr->name,
              scale ? scale : "");
        CHECK(f->n_meta == 6, "%s: %zu metadata keys", mr->name, f->n_meta);
    }
}

/* ------------------------------------------------------------------------ */
/* scratch: weights, their values and what they predict */

static void test_scratch_weights(void)
{
    config c;
    experiment_result res;
    config_defaults(&c);
    c.epochs = 15;
    c.samples = 30;
    c.test_samples = 9;
    c.in = 7;
    c.out = 3;
    c.n_ranks = 2;
    c.ranks[0] = 3;
    c.ranks[1] = 1;
    c.alpha = 0.9; /* not a float: PEFT divides the double */
    c.rslora = 1;
    c.seed = 5;
    const char *dir = test_tmpdir("export_scratch");
    if (!run_and_save(&c, dir, &res))
        return;
    dataset train, test;
    char *p = path2(dir, "train.csv");
    read_dataset(p, &train);
    free(p);
    p = path2(dir, "test.csv");
    read_dataset(p, &test);
    free(p);
    CHECK(train.n == 30 && train.in == 7 && train.out == 3 && test.n == 9, "train.csv/test.csv sizes");

    for (int i = 0; i < res.n_models; i++) {
        const model_result *mr = &res.models[i];
        const int R = mr->rank;
        st_file fi, ff;
        if (!load_weights(dir, mr->name, "init", &fi))
            continue;
        if (!load_weights(dir, mr->name, "final", &ff)) {
            st_free(&fi);
            continue;
        }
        check_meta(&fi, mr, 5);
        check_meta(&ff, mr, 5);
        CHECK(fi.n_tensors == 2 && ff.n_tensors == 2, "%s: %zu tensors", mr->name, fi.n_tensors);

        /* the initial weights are those of the documented init and stream */
        model m;
        char err[256];
        rng r;
        rng_seed(&r, 5, STREAM_INIT_BASE + (uint64_t)R);
        if (R == 0) {
            test_model_dense(&m, 7, 3, err, sizeof err);
            linear_init(m.layers[0].W, m.layers[0].b, 7, 3, &r);
            float *w = get(&fi, "weight", 3, 7), *b = get(&fi, "bias", 3, 0);
            CHECK(same_floats(w, m.layers[0].W, 21) && same_floats(b, m.layers[0].b, 3), "dense init weights");
            free(w);
            free(b);
        } else {
            test_model_lora(&m, 7, 3, R, mr->alpha, mr->scale, NULL, NULL, err, sizeof err);
            lora_init_scratch(m.layers[0].A, m.layers[0].B, 7, R, 3, &r);
            float *a = get(&fi, "lora_A.weight", R, 7), *b = get(&fi, "lora_B.weight", 3, R);
            CHECK(same_floats(a, m.layers[0].A, (size_t)R * 7) && same_floats(b, m.layers[0].B, (size_t)3 * R),
                  "%s init weights", mr->name);
            free(a);
            free(b);
            CHECK(st_find(&fi, "base_layer.weight") == NULL, "scratch LoRA has no base");
        }
        /* ... which give the first recorded loss on train.csv */
        const float first = model_mse(&m, &train);
        CHECK(close_to(first, mr->losses[0]), "%s: init weights give %.9g on train.csv, losses.csv %.9g",
              mr->name, (double)first, (double)mr->losses[0]);
        /* the final weights give the reported held-out MSE on test.csv */
        for (int k = 0; k < m.n_tensors; k++) {
            const param_tensor *t = &m.tensors[k];
            float *x = get(&ff, t->name, t->shape[0], t->ndim == 2 ? t->shape[1] : 0);
            if (x != NULL)
                memcpy(m.params + t->offset, x, t->numel * sizeof(float));
            CHECK(same_floats(x, mr->final_params + t->offset, t->numel), "%s: %s", mr->name, t->name);
            free(x);
        }
        const float final = model_mse(&m, &test);
        CHECK(close_to(final, mr->test_loss), "%s: final weights give %.9g on test.csv, summary %.9g",
              mr->name, (double)final, (double)mr->test_loss);
        model_free(&m);
        st_free(&fi);
        st_free(&ff);
    }

    /* adapters: PEFT's key names and the final A, B */
    for (int i = 1; i < res.n_models; i++) {
        const model_result *mr = &res.models[i];
        char name[128], err[256] = "";
        snprintf(name, sizeof name, "adapters/%s/adapter_model.safetensors", mr->name);
        p = path2(dir, name);
        st_file f;
        ld_status st = st_load(p, &f, err, sizeof err);
        free(p);
        CHECK(st == LD_OK, "%s", err);
        if (st != LD_OK)
            continue;
        const int R = mr->rank;
        CHECK(f.n_tensors == 2 && f.n_meta == 1 && strcmp(meta_value(&f, "format"), "pt") == 0,
              "%s adapter: tensors and metadata", mr->name);
        float *a = get(&f, "base_model.model.layer.lora_A.weight", R, 7);
        float *b = get(&f, "base_model.model.layer.lora_B.weight", 3, R);
        CHECK(same_floats(a, mr->final_params + mr->tensors[0].offset, (size_t)R * 7) &&
                  same_floats(b, mr->final_params + mr->tensors[1].offset, (size_t)3 * R),
              "%s adapter values", mr->name);
        free(a);
        free(b);
        st_free(&f);

        snprintf(name, sizeof name, "adapters/%s/adapter_config.json", mr->name);
        p = path2(dir, name);
        json_value *cfg = parse_file(p);
        free(p);
        if (cfg == NULL)
            continue;
        const json_value *tm = json_get(cfg, "target_modules");
        CHECK(str_is(json_get(cfg, "peft_type"), "LORA"), "peft_type");
        CHECK(json_number(json_get(cfg, "r")) == R && json_number_is_integer(json_get(cfg, "r")), "r");
        CHECK(json_number(json_get(cfg, "lora_alpha")) == 0.9, "lora_alpha %.17g",
              json_number(json_get(cfg, "lora_alpha")));
        CHECK(json_type_of(json_get(cfg, "use_rslora")) == JSON_TRUE,
              "use_rslora");
        CHECK(json_length(tm) == 1 && str_is(json_at(tm, 0), "layer"), "target_modules");
        CHECK(json_type_of(json_get(cfg, "lora_dropout")) == JSON_NUMBER &&
                  json_number(json_get(cfg, "lora_dropout")) == 0.0,
              "lora_dropout");
        CHECK(str_is(json_get(cfg, "bias"), "none"), "bias");
        CHECK(json_type_of(json_get(cfg, "fan_in_fan_out")) == JSON_FALSE, "fan_in_fan_out");
        CHECK(is_null(json_get(cfg, "task_type")) && is_null(json_get(cfg, "base_model_name_or_path")),
              "task_type, base_model_name_or_path");
        CHECK(json_type_of(json_get(cfg, "inference_mode")) == JSON_TRUE, "inference_mode");
        /* rsLoRA: the plain keys and use_rslora */
        check_adapter_keys(cfg, ADAPTER_KEYS, N_ADAPTER_KEYS, "rsLoRA adapter_config.json");
        /* PEFT's scale from the config is the one the model trained with */
        const double scale = json_number(json_get(cfg, "lora_alpha")) / sqrt((double)R);
        CHECK((float)scale == mr->scale, "%s: PEFT scale %.9g, ours %.9g", mr->name, scale,
              (double)mr->scale);
        json_free(cfg);
    }
    CHECK(!exists(dir, "base.safetensors"), "no base.safetensors in scratch");
    dataset_free(&train);
    dataset_free(&test);
    experiment_result_free(&res);
}

/* ------------------------------------------------------------------------ */
/* finetune: base.safetensors and the frozen base in every LoRA file */

static void small_finetune(config *c)
{
    config_defaults_for(c, EXPERIMENT_FINETUNE);
    c->in = 6;
    c->out = 4;
    c->samples = 60;
    c->test_samples = 40;
    c->epochs = 12;
    c->pretrain_epochs = 30;
    c->n_ranks = 2;
    c->ranks[0] = 1;
    c->ranks[1] = 2;
    c->seed = 9;
}

static void test_finetune_weights(void)
{
    config c;
    experiment_result res;
    small_finetune(&c);
    const char *dir = test_tmpdir("export_finetune");
    if (!run_and_save(&c, dir, &res))
        return;
    char err[256] = "";
    char *p = path2(dir, "base.safetensors");
    st_file base;
    ld_status st = st_load(p, &base, err, sizeof err);
    free(p);
    CHECK(st == LD_OK, "%s", err);
    if (st != LD_OK) {
        experiment_result_free(&res);
        return;
    }
    float *w0 = get(&base, "layer.weight", 4, 6), *b0 = get(&base, "layer.bias", 4, 0);
    CHECK(base.n_tensors == 2 && same_floats(w0, res.base_w, 24) && same_floats(b0, res.base_b, 4),
          "base.safetensors holds the pretrained base");
    CHECK(strcmp(meta_value(&base, "format"), "pt") == 0, "base: format pt");
    st_free(&base);
    dataset test;
    p = path2(dir, "test.csv");
    read_dataset(p, &test);
    free(p);

    for (int i = 0; i < res.n_models; i++) {
        const model_result *mr = &res.models[i];
        const int R = mr->rank;
        st_file fi, ff;
        if (!load_weights(dir, mr->name, "init", &fi))
            continue;
        if (!load_weights(dir, mr->name, "final", &ff)) {
            st_free(&fi);
            continue;
        }
        check_meta(&fi, mr, 9);
        model m;
        if (R == 0) {
            /* full fine-tuning starts from the base */
            float *w = get(&fi, "weight", 4, 6), *b = get(&fi, "bias", 4, 0);
            CHECK(fi.n_tensors == 2 && same_floats(w, w0, 24) && same_floats(b, b0, 4),
                  "dense init is the pretrained base");
            free(w);
            free(b);
            test_model_dense(&m, 6, 4, err, sizeof err);
            float *wf = get(&ff, "weight", 4, 6), *bf = get(&ff, "bias", 4, 0);
            if (wf != NULL && bf != NULL) {
                memcpy(m.layers[0].W, wf, 24 * sizeof(float));
                memcpy(m.layers[0].b, bf, 4 * sizeof(float));
            }
            free(wf);
            free(bf);
        } else {
            CHECK(fi.n_tensors == 4 && ff.n_tensors == 4, "%s: base_layer + lora tensors", mr->name);
            for (int k = 0; k < 2; k++) {
                const st_file *f = k ? &ff : &fi;
                float *w = get(f, "base_layer.weight", 4, 6), *b = get(f, "base_layer.bias", 4, 0);
                CHECK(same_floats(w, w0, 24) && same_floats(b, b0, 4), "%s: base_layer is W0, b0",
                      mr->name);
                free(w);
                free(b);
            }
            /* PEFT's init: A from its stream, B = 0 */
            rng r;
            rng_seed(&r, 9, STREAM_INIT_BASE + (uint64_t)R);
            test_model_lora(&m, 6, 4, R, mr->alpha, mr->scale, w0, b0, err, sizeof err);
            lora_init_peft(m.layers[0].A, m.layers[0].B, 6, R, 4, &r);
            float *a = get(&fi, "lora_A.weight", R, 6), *b = get(&fi, "lora_B.weight", 4, R);
            CHECK(same_floats(a, m.layers[0].A, (size_t)R * 6) && same_floats(b, m.layers[0].B, (size_t)4 * R),
                  "%s init (B = 0)", mr->name);
            free(a);
            free(b);
            a = get(&ff, "lora_A.weight", R, 6);
            b = get(&ff, "lora_B.weight", 4, R);
            if (a != NULL && b != NULL) {
                memcpy(m.layers[0].A, a, (size_t)R * 6 * sizeof(float));
                memcpy(m.layers[0].B, b, (size_t)4 * R * sizeof(float));
            }
            free(a);
            free(b);
            char merr[256];
            CHECK(model_merge(&m, merr, sizeof merr) == LD_OK, "%s", merr);
        }
        /* the saved final weights (merged for LoRA) give the reported held-out MSE */
        const float l = model_mse(&m, &test);
        CHECK(close_to(l, mr->test_loss), "%s: final weights give %.9g on test.csv, summary %.9g",
              mr->name, (double)l, (double)mr->test_loss);
        model_free(&m);
        st_free(&fi);
        st_free(&ff);
    }
    CHECK(exists(dir, "adapters/lora_r2/adapter_model.safetensors") &&
              exists(dir, "adapters/lora_r1/adapter_config.json") && !exists(dir, "adapters/dense"),
          "one adapter directory per LoRA model");
    p = path2(dir, "adapters/lora_r2/adapter_config.json");
    json_value *cfg = parse_file(p);
    free(p);
    if (cfg != NULL) {
        CHECK(json_number(json_get(cfg, "lora_alpha")) == 2.0 && json_get(cfg, "use_rslora") == NULL,
              "finetune adapter: alpha = r, alpha/r scale (PEFT's default, so no use_rslora)");
        /* a plain adapter: only keys that every PEFT release knows */
        check_adapter_keys(cfg, ADAPTER_KEYS, N_ADAPTER_KEYS - 1, "plain adapter_config.json");
        json_free(cfg);
    }
    free(w0);
    free(b0);
    dataset_free(&test);
    experiment_result_free(&res);
}

/* ------------------------------------------------------------------------ */
/* summary.json is valid JSON whatever the strings in it */

static void test_summary_json(void)
{
    config c;
    experiment_result res;
    char err[256] = "";
    small_finetune(&c);
    c.repeats = 2;
    /* an output directory whose name needs escaping: quote, backslash, tab */
    test_tmpdir("export_json");
    const char *dir = "tests/tmp/export_json/we\"ird\\dir\tname";
    CHECK(make_dirs(dir, err, sizeof err) == LD_OK, "%s", err);
    c.output_dir = dir;
    c.quiet = 1;
    CHECK(experiment_run(&c, NULL, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    if (res.models == NULL)
        return;
    CHECK(report_write_summary(dir, &c, &res, err, sizeof err) == LD_OK, "%s", err);
    char *p = path2(dir, "summary.json");
    json_value *root = parse_file(p);
    free(p);
    if (root != NULL) {
        const json_value *cf = json_get(root, "config"), *models = json_get(root, "models");
        uint64_t seed = 0;
        CHECK(str_is(json_get(root, "experiment"), "finetune"), "experiment");
        CHECK(str_is(json_get(cf, "output_dir"), dir), "output_dir does not read back");
        CHECK(json_number_u64(json_get(cf, "seed"), &seed) && seed == 9, "config.seed");
        CHECK(json_number(json_get(cf, "lr")) == 0.01 && json_number(json_get(cf, "noise")) == 0.01,
              "lr, noise");
        CHECK(is_null(json_get(cf, "data")) && is_null(json_get(cf, "base_weights")) &&
                  json_type_of(json_get(cf, "save_weights")) == JSON_FALSE,
              "data, base_weights, save_weights");
        CHECK(json_length(json_get(root, "seeds")) == 2, "seeds");
        CHECK(json_length(models) == 3, "three models");
        for (size_t i = 0; i < json_length(models) && i < 3; i++) {
            const json_value *m = json_at(models, i);
            const model_result *mr = &res.models[i];
            CHECK(str_is(json_get(m, "name"), mr->name), "model %zu name", i);
            CHECK(json_number(json_get(m, "rank")) == mr->rank, "model %zu rank", i);
            /* floats are written so that they read back exactly */
            CHECK((float)json_number(json_get(m, "first_loss")) == mr->first_loss &&
                      (float)json_number(json_get(m, "test_loss")) == mr->test_loss &&
                      (float)json_number(json_get(m, "final_loss_std")) == mr->final_loss_std,
                  "model %zu losses do not read back", i);
            CHECK(json_length(json_get(m, "test_loss_per_seed")) == 2, "per-seed losses");
        }
        const json_value *pre = json_get(root, "pretrain");
        CHECK(json_number(json_get(pre, "epochs")) == 30 &&
                  json_number(json_get(pre, "noise_floor")) == 0.01 * 0.01,
              "pretrain section");
        json_free(root);
    }
    experiment_result_free(&res);

    /* with --data and --base-weights, what was not used is null */
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    c.data = "d.csv";
    c.base_weights = "b.safetensors";
    c.epochs = 3;
    c.in = 3;
    c.out = 2;
    c.samples = 10;
    c.test_samples = 4;
    c.n_ranks = 1;
    c.ranks[0] = 1;
    run_inputs in;
    memset(&in, 0, sizeof in);
    rng r;
    rng_seed(&r, 1, 1);
    dataset_alloc(&in.all, 14, 3, 2, err, sizeof err);
    dataset_make_random(&in.all, &r);
    in.has_data = 1;
    in.n_test = 4;
    in.base_w = calloc(6, sizeof(float));
    in.base_b = calloc(2, sizeof(float));
    const char *dir2 = test_tmpdir("export_json_data");
    c.output_dir = dir2;
    CHECK(experiment_run(&c, &in, NULL, &res, err, sizeof err) == LD_OK, "%s", err);
    if (res.models != NULL) {
        CHECK(report_write_summary(dir2, &c, &res, err, sizeof err) == LD_OK, "%s", err);
        p = path2(dir2, "summary.json");
        root = parse_file(p);
        free(p);
        if (root != NULL) {
            const json_value *cf = json_get(root, "config"), *pre = json_get(root, "pretrain");
            CHECK(str_is(json_get(cf, "data"), "d.csv") && str_is(json_get(cf, "base_weights"), "b.safetensors") &&
                      is_null(json_get(cf, "test_data")),
                  "file names in config");
            CHECK(is_null(json_get(cf, "noise")) && is_null(json_get(cf, "delta_rank")) &&
                      is_null(json_get(cf, "pretrain_epochs")),
                  "unused finetune options are null");
            CHECK(is_null(json_get(pre, "epochs")) && is_null(json_get(pre, "noise_floor")) &&
                      is_null(json_at(json_get(pre, "final_loss_per_seed"), 0)) &&
                      json_type_of(json_at(json_get(pre, "test_loss_before_per_seed"), 0)) == JSON_NUMBER,
                  "pretrain section without pretraining");
            json_free(root);
        }
    }
    experiment_result_free(&res);
    inputs_free(&in);
}

/* ------------------------------------------------------------------------ */
/* inputs: the held-out split, the checks of the input files, the data round trip */

static void test_holdout_split(void)
{
    char err[256] = "";
    run_inputs in;
    memset(&in, 0, sizeof in);
    const int N = 23;
    dataset_alloc(&in.all, N, 2, 1, err, sizeof err);
    for (int i = 0; i < N; i++) {
        in.all.x[(size_t)2 * i] = (float)i;
        in.all.x[(size_t)2 * i + 1] = (float)-i;
        in.all.y[i] = (float)(100 + i);
    }
    in.has_data = 1;
    in.n_test = (int)floor(DATAIO_HOLDOUT_FRACTION * N); /* 4 */
    dataset tr, te, tr2, te2, tr3, te3;
    rng r;
    rng_seed(&r, 42, STREAM_HOLDOUT);
    CHECK(inputs_split(&in, &r, &tr, &te, err, sizeof err) == LD_OK, "%s", err);
    CHECK(tr.n == 19 && te.n == 4, "split %d + %d", tr.n, te.n);
    int seen[23] = {0}, ordered = 1, rows_intact = 1;
    for (int k = 0; k < 2; k++) {
        const dataset *d = k ? &te : &tr;
        for (int i = 0; i < d->n; i++) {
            const float *xi = d->x + (size_t)2 * i; /* row i: (x0, x1) */
            const int row = (int)xi[0];
            if (row >= 0 && row < N)
                seen[row]++;
            rows_intact &= xi[1] == (float)-row && d->y[i] == (float)(100 + row);
            if (i > 0)
                ordered &= xi[0] > xi[-2];
        }
    }
    int once = 1;
    for (int i = 0; i < N; i++)
        once &= seen[i] == 1;
    CHECK(once, "every row in exactly one part");
    CHECK(ordered && rows_intact, "parts keep the file's order and whole rows");
    rng_seed(&r, 42, STREAM_HOLDOUT);
    inputs_split(&in, &r, &tr2, &te2, err, sizeof err);
    CHECK(te2.n == 4 && memcmp(te.x, te2.x, 8 * sizeof(float)) == 0, "same seed, same split");
    rng_seed(&r, 43, STREAM_HOLDOUT);
    inputs_split(&in, &r, &tr3, &te3, err, sizeof err);
    CHECK(te3.n == 4 && memcmp(te.x, te3.x, 8 * sizeof(float)) != 0, "another seed, another split");
    dataset_free(&tr);
    dataset_free(&te);
    dataset_free(&tr2);
    dataset_free(&te2);
    dataset_free(&tr3);
    dataset_free(&te3);
    inputs_free(&in);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* The input files c names, read and merged into c as main.c's load_inputs
 * does; on failure in is empty. */
static ld_status load_inputs(config *c, run_inputs *in, char *err, size_t errlen)
{
    input_files files;
    input_sizes sizes;
    config_input_files(c, &files);
    ld_status st = inputs_load_data(&files, in, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_counts(c, &sizes, err, errlen);
    if (st == LD_OK)
        st = inputs_load_base(&files, in, &sizes, err, errlen);
    if (st == LD_OK)
        st = config_merge_sizes(c, &sizes, err, errlen);
    if (st != LD_OK)
        inputs_free(in);
    return st;
}

/* load_inputs on cfg (a copy); returns the status, message in err. */
static ld_status load(config c, config *out, char *err, size_t errlen)
{
    run_inputs in;
    err[0] = '\0';
    ld_status st = load_inputs(&c, &in, err, errlen);
    inputs_free(&in);
    if (out != NULL)
        *out = c;
    return st;
}

static void test_inputs_load(void)
{
    const char *dir = test_tmpdir("export_inputs");
    char err[256], d1[256], d2[256], nh[256], bw[256], bp[256], both[256];
    snprintf(d1, sizeof d1, "%s/d1.csv", dir);
    snprintf(d2, sizeof d2, "%s/d2.csv", dir);
    snprintf(nh, sizeof nh, "%s/noheader.csv", dir);
    write_text(d1, "y0,x1,x0\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n16,17,18\n");
    write_text(d2, "x0,x1,y0\n1,2,3\n");
    write_text(nh, "1,2,3\n4,5,6\n");
    config c, got;
    config_defaults(&c);
    c.data = d1;
    c.n_ranks = 1;
    c.ranks[0] = 1;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.in == 2 && got.out == 1 && got.samples == 5 &&
              got.test_samples == 1,
          "sizes from the header (%s)", err);
    c.given = CONFIG_GIVEN_TEST_SAMPLES;
    c.test_samples = 2;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.samples == 4 && got.test_samples == 2,
          "--test-samples chooses the held-out rows (%s)", err);
    c.test_samples = 6;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "--test-samples") && strstr(err, "6"),
          "all rows held out: '%s'", err);
    c.given = CONFIG_GIVEN_SAMPLES;
    c.samples = 100;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "--samples: 100") &&
              strstr(err, "5 training rows") && strstr(err, d1),
          "--samples disagreeing: '%s'", err);
    c.given = CONFIG_GIVEN_IN;
    c.in = 10;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "--in is 10") &&
              strstr(err, "2 input columns") && strstr(err, d1),
          "--in disagreeing with the header: '%s'", err);
    c.given = 0;
    c.in = 10;
    c.test_data = d2;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.samples == 6 && got.test_samples == 1,
          "--test-data (%s)", err);
    c.test_data = nh;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.test_samples == 2,
          "a header-less --test-data is split like --data (%s)", err);
    c.data = nh;
    c.test_data = NULL;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "--in and --out"),
          "header-less --data without --in/--out: '%s'", err);
    c.given = CONFIG_GIVEN_IN | CONFIG_GIVEN_OUT;
    c.in = 1;
    c.out = 2;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.in == 1 && got.out == 2,
          "header-less --data split by --in/--out (%s)", err);
    c.ranks[0] = 2;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "--ranks") && strstr(err, nh),
          "rank above min(in, out) of the file: '%s'", err);

    /* --base-weights: both naming conventions, sizes from the shape */
    snprintf(bw, sizeof bw, "%s/layer.safetensors", dir);
    snprintf(bp, sizeof bp, "%s/plain.safetensors", dir);
    snprintf(both, sizeof both, "%s/both.safetensors", dir);
    const float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[3] = {-1, -2, -3};
    const st_f32_tensor lt[2] = {{"layer.weight", 2, {3, 4}, w}, {"layer.bias", 1, {3}, b}};
    const st_f32_tensor pt[2] = {{"weight", 2, {3, 4}, w}, {"bias", 1, {3}, b}};
    const st_f32_tensor bt[3] = {{"layer.weight", 2, {3, 4}, w}, {"layer.bias", 1, {3}, b},
                                 {"weight", 2, {3, 4}, w}};
    CHECK(st_write_f32(bw, lt, 2, NULL, 0, err, sizeof err) == LD_OK, "%s", err);
    CHECK(st_write_f32(bp, pt, 2, NULL, 0, err, sizeof err) == LD_OK, "%s", err);
    CHECK(st_write_f32(both, bt, 3, NULL, 0, err, sizeof err) == LD_OK, "%s", err);
    config_defaults_for(&c, EXPERIMENT_FINETUNE);
    c.n_ranks = 1;
    c.ranks[0] = 1;
    c.delta_rank = 1;
    c.base_weights = bw;
    run_inputs in;
    CHECK(load_inputs(&c, &in, err, sizeof err) == LD_OK && c.in == 4 && c.out == 3 && in.base_w != NULL &&
              memcmp(in.base_w, w, sizeof w) == 0 && memcmp(in.base_b, b, sizeof b) == 0,
          "layer.weight/layer.bias (%s)", err);
    inputs_free(&in);
    c.base_weights = bp;
    CHECK(load(c, &got, err, sizeof err) == LD_OK && got.in == 4 && got.out == 3, "weight/bias (%s)", err);
    c.base_weights = both;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "ambiguous") && strstr(err, both),
          "both names: '%s'", err);
    c.base_weights = bw;
    c.given = CONFIG_GIVEN_IN;
    c.in = 5;
    CHECK(load(c, NULL, err, sizeof err) == LD_EINPUT && strstr(err, "[3, 4]") && strstr(err, "[3, 5]") &&
              strstr(err, bw),
          "--in disagreeing with the base: '%s'", err);
}

/* Training on the data a run kept gives that run's losses, bit for bit. */
static void test_data_round_trip(void)
{
    char err[256] = "";
    for (int ft = 0; ft < 2; ft++) {
        config c;
        experiment_result a, b;
        if (ft) {
            small_finetune(&c);
        } else {
            config_defaults(&c);
            c.epochs = 20;
            c.batch_size = 16; /* the shuffle stream does not depend on the data's origin */
        }
        c.save_data = 1;
        c.save_weights = 1;
        CHECK(experiment_run(&c, NULL, NULL, &a, err, sizeof err) == LD_OK, "%s", err);
        if (a.models == NULL)
            continue;
        run_inputs in;
        memset(&in, 0, sizeof in);
        in.has_data = 1;
        in.has_test = 1;
        dataset_clone(&in.all, &a.train, err, sizeof err);
        dataset_clone(&in.test, &a.test, err, sizeof err);
        config c2 = c;
        c2.save_data = c2.save_weights = 0;
        if (ft) {
            in.base_w = malloc((size_t)c.in * c.out * sizeof(float));
            in.base_b = malloc((size_t)c.out * sizeof(float));
            memcpy(in.base_w, a.base_w, (size_t)c.in * c.out * sizeof(float));
            memcpy(in.base_b, a.base_b, (size_t)c.out * sizeof(float));
        }
        CHECK(experiment_run(&c2, &in, NULL, &b, err, sizeof err) == LD_OK, "%s", err);
        if (b.models != NULL)
            for (int i = 0; i < a.n_models; i++)
                CHECK(memcmp(a.models[i].losses, b.models[i].losses, (size_t)c.epochs * sizeof(float)) == 0 &&
                          a.models[i].test_loss == b.models[i].test_loss,
                      "%s %s: losses differ on the same data", ft ? "finetune" : "scratch", a.models[i].name);
        experiment_result_free(&a);
        experiment_result_free(&b);
        inputs_free(&in);
    }
}

void test_export(void)
{
    test_scratch_weights();
    test_finetune_weights();
    test_summary_json();
    test_holdout_split();
    test_inputs_load();
    test_data_round_trip();
}
