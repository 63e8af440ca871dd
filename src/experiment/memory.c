/* memory.c - the estimate that refuses a run before it allocates anything.
 *
 * It adds up the owners' own size functions, the ones they allocate with:
 * dataset_bytes, teacher_bytes, model_spec_bytes, trainer_sizes_for and
 * result_bytes. Models are trained one at a time, so the peak holds the
 * largest model and trainer beside everything that lives for the whole seed.
 *
 * Dimension key: N samples, NT held-out samples, I in, O out, R rank.
 */
#define _POSIX_C_SOURCE 199309L /* sysconf */
#include <stdio.h>
#include <unistd.h>

#include "experiment/teacher.h"
#include "runs.h"

/* *acc += *bytes, which the size function whose result is f_result has just
 * written (a pointer: an argument by value could be read before the call),
 * with *bad set on overflow or failure. */
static void add(size_t *acc, int f_result, const size_t *bytes, int *bad)
{
    if (f_result != 0 || ld_add_size(acc, *acc, *bytes) != 0)
        *bad = 1;
}

/* The largest model and trainer of the run (the pretraining model too). */
static void peak_model(const config *cfg, int pretrain, experiment_memory *m, int *bad)
{
    const int ft = cfg->experiment == EXPERIMENT_FINETUNE;
    trainer_options opt = trainer_defaults();
    opt.threads = cfg->threads;
    size_t model_max = 0, trainer_max = 0;
    for (int i = pretrain ? -1 : 0; i <= cfg->n_ranks; i++) {
        const int r = i <= 0 ? 0 : cfg->ranks[i - 1];
        const model_spec spec = run_model_spec(cfg, r, ft); /* its variants' buffers too */
        size_t mb = 0;
        trainer_sizes ts;
        if (model_spec_bytes(&spec, &mb) != 0 ||
            trainer_sizes_for(&ts, &spec, cfg->samples, cfg->batch_size, &opt) != 0) {
            *bad = 1;
            return;
        }
        model_max = mb > model_max ? mb : model_max;
        trainer_max = ts.bytes > trainer_max ? ts.bytes : trainer_max;
    }
    add(&m->models, 0, &model_max, bad);
    add(&m->buffers, 0, &trainer_max, bad);
}

int experiment_memory_needed(const config *cfg, experiment_memory *mem)
{
    const int ft = cfg->experiment == EXPERIMENT_FINETUNE;
    const int pretrain = ft && cfg->base_weights == NULL && cfg->data == NULL;
    const size_t N = (size_t)cfg->samples, NT = (size_t)cfg->test_samples, O = (size_t)cfg->out;
    experiment_memory m = {0, 0, 0, 0, 0};
    size_t b = 0;
    int bad = 0;
    /* data: the training and held-out sets, task 1's, and the files as read */
    add(&m.data, dataset_bytes(cfg->samples, cfg->in, cfg->out, &b), &b, &bad);
    add(&m.data, dataset_bytes(cfg->test_samples, cfg->in, cfg->out, &b), &b, &bad);
    if (pretrain)
        add(&m.data, dataset_bytes(cfg->samples, cfg->in, cfg->out, &b), &b, &bad);
    if (cfg->data != NULL) {
        add(&m.data, dataset_bytes(cfg->samples, cfg->in, cfg->out, &b), &b, &bad);
        add(&m.data, dataset_bytes(cfg->test_samples, cfg->in, cfg->out, &b), &b, &bad);
    }
    /* models and trainers, one at a time */
    peak_model(cfg, pretrain, &m, &bad);
    const model_spec net = run_model_spec(cfg, 0, 0);
    for (int l = 0; ft && cfg->data == NULL && l < model_spec_layers(&net); l++)
        add(&m.models,
            teacher_bytes(model_spec_layer_in(&net, l), model_spec_layer_out(&net, l),
                          cfg->delta_rank, &b),
            &b, &bad);
    if (ft && cfg->n_hidden > 0) {
        /* a network's teacher (dense, one at a time) and its acts on a task's
         * samples (finetune_net.c); the base gathered; the held-out acts */
        add(&m.models, model_spec_bytes(&net, &b), &b, &bad);
        add(&m.buffers, ld_mul_size(&b, model_acts_floats(&net, N), sizeof(float)), &b, &bad);
        add(&m.models, ld_mul_size(&b, model_spec_params(&net), sizeof(float)), &b, &bad);
        size_t acts = 0; /* finetune.c keeps one buffer, for the largest model */
        for (int i = 0; i <= cfg->n_ranks; i++) {
            const model_spec s = run_model_spec(cfg, model_rank(cfg, i), i > 0);
            const size_t na = model_acts_floats(&s, NT);
            acts = na > acts ? na : acts;
        }
        add(&m.buffers, ld_mul_size(&b, acts, sizeof(float)), &b, &bad);
    }
    if (ft) { /* the base every model starts from: pretrained, or read */
        const model_spec base = run_model_spec(cfg, 0, 0);
        add(&m.models, model_spec_bytes(&base, &b), &b, &bad);
    }
    /* finetune.c's held-out predictions (NT,O) x 2 and (NT,R), the
     * pretraining curve; fit.c's batch order */
    size_t R = 1;
    for (int i = 0; i < cfg->n_ranks; i++)
        R = (size_t)cfg->ranks[i] > R ? (size_t)cfg->ranks[i] : R;
    if (ft) {
        add(&m.buffers, ld_mul3_size(&b, NT, 2 * O + R, sizeof(float)), &b, &bad);
        add(&m.buffers, ld_mul_size(&b, (size_t)cfg->pretrain_epochs, sizeof(float)), &b, &bad);
    }
    if (cfg->batch_size > 0 && cfg->batch_size < cfg->samples)
        add(&m.buffers, ld_mul_size(&b, N, sizeof(int)), &b, &bad);
    add(&m.results, result_bytes(cfg, &b), &b, &bad);
    add(&m.total, 0, &m.data, &bad);
    add(&m.total, 0, &m.models, &bad);
    add(&m.total, 0, &m.buffers, &bad);
    add(&m.total, 0, &m.results, &bad);
    if (mem != NULL)
        *mem = m;
    return bad ? -1 : 0;
}

/* Physical memory in bytes, 0 if sysconf cannot tell. */
static size_t physical_memory(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t bytes = 0;
    if (pages <= 0 || page <= 0)
        return 0;
    if (ld_mul_size(&bytes, (size_t)pages, (size_t)page) != 0)
        return SIZE_MAX;
    return bytes;
}

/* "1.5 GiB", "12.0 MiB", "900 B" */
static void format_bytes(char *buf, size_t len, size_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%zu B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

ld_status experiment_check_memory(const config *cfg, size_t limit, char *err, size_t errlen)
{
    experiment_memory m;
    if (experiment_memory_needed(cfg, &m) != 0)
        return ld_fail(err, errlen, LD_ENOMEM,
                       "this run does not fit in memory: its size in bytes overflows (--in %d, --out %d, "
                       "--samples %d, --test-samples %d, --epochs %d, --repeats %d)",
                       cfg->in, cfg->out, cfg->samples, cfg->test_samples, cfg->epochs, cfg->repeats);
    const int physical = limit == 0;
    if (physical)
        limit = physical_memory();
    if (limit == 0 || m.total <= limit)
        return LD_OK;
    char total[32], data[32], models[32], buffers[32], results[32], lim[32];
    format_bytes(total, sizeof total, m.total);
    format_bytes(data, sizeof data, m.data);
    format_bytes(models, sizeof models, m.models);
    format_bytes(buffers, sizeof buffers, m.buffers);
    format_bytes(results, sizeof results, m.results);
    format_bytes(lim, sizeof lim, limit);
    return ld_fail(err, errlen, LD_ENOMEM,
                   "this run needs about %s of memory (data %s, models %s, training buffers %s, "
                   "results %s), more than the %s %s",
                   total, data, models, buffers, results, lim,
                   physical ? "of physical memory" : "allowed");
}
