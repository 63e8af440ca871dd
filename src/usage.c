/* usage.c - the --help text (cli_usage, declared in cli.h).
 *
 * One function per section of the text, in the order printed. The defaults
 * are printed from config.c, so the help and the code cannot disagree; the
 * man page (docs/lora_demo.1) has the long form of every option.
 */
#include "cli.h"

#include <stdio.h>

static void usage_intro(FILE *fp)
{
    fputs("usage: lora_demo [options]\n"
          "\n"
          "Trains a dense nn.Linear-style baseline and LoRA layers of several ranks\n"
          "with Adam on MSE, and writes their loss curves and a summary.\n"
          "\n"
          "experiments:\n"
          "  scratch    the notebook: random data, every model trained from scratch\n"
          "  finetune   pretrain a dense layer on task 1, then adapt it to task 2, whose\n"
          "             teacher differs by a shift of rank --delta-rank: full fine-tuning\n"
          "             (dense) against LoRA on the frozen layer, merged after training\n"
          "\n"
          "options (defaults in brackets):\n",
          fp);
}

/* The options of both experiments; sc holds the scratch defaults. */
static void usage_common(FILE *fp, const config *sc)
{
    fprintf(fp, "  --experiment NAME  scratch or finetune [%s]\n", config_experiment_name(sc->experiment));
    fprintf(fp, "  --epochs N         training (finetune: fine-tuning) epochs per model [%d]\n",
            sc->epochs);
    fprintf(fp, "  --seed N           seed of every random stream, 0..2^64-1 [%llu]\n",
            (unsigned long long)sc->seed);
    fprintf(fp, "  --repeats N        seeds seed..seed+N-1, reported as mean +- sample std [%d]\n",
            sc->repeats);
    fprintf(fp, "  --lr X             Adam learning rate, > 0 and a normal float [%g]\n", sc->lr);
    fprintf(fp, "  --samples N        training samples (finetune: of each task) [%d]\n", sc->samples);
    fprintf(fp, "  --test-samples N   held-out samples for test MSE and predictions [%d]\n",
            sc->test_samples);
    fprintf(fp, "  --in N             input features [%d]\n", sc->in);
    fprintf(fp, "  --out N            output features [%d]\n", sc->out);
    fputs("  --ranks LIST       comma-separated LoRA ranks, each 1..min(in,out),\n"
          "                     no repeats, or 'all': every one (and rank.svg) [", fp);
    for (int i = 0; i < sc->n_ranks; i++)
        fprintf(fp, "%s%d", i ? "," : "", sc->ranks[i]);
    fputs("]\n", fp);
    fputs("  --alpha X          LoRA alpha, the same for every rank; it and every scale\n"
          "                     normal floats [alpha = r]\n"
          "  --rslora           scale alpha/sqrt(r) (rsLoRA) instead of alpha/r\n"
          "  --loraplus-ratio R LoRA+: lora_B learns at R times --lr, lora_A at --lr;\n"
          "                     R >= 1 [1]\n"
          "  --lora-dropout P   dropout on the LoRA branch's input while training,\n"
          "                     a fraction, 0 <= P < 1 [0]\n"
          "  --batch-size N     mini-batch size, shuffled each epoch; N >= samples\n"
          "                     is one full batch [full batch]\n"
          "  --threads N        worker threads, 1..256; results are bit-identical for\n"
          "                     every N [1]\n", fp);
    fprintf(fp, "  --hidden LIST      hidden widths, e.g. 32 or 64,64: a network in -> ... -> out,\n"
                "                     LoRA on every layer; up to %d widths, each 1..%d [none]\n"
                "  --activation NAME  relu, tanh or gelu, between layers (needs --hidden) [%s]\n",
            CONFIG_MAX_HIDDEN, CONFIG_MAX_WIDTH, activation_name(sc->activation));
}

/* The options of --experiment finetune; ft holds its defaults. */
static void usage_finetune(FILE *fp, const config *ft)
{
    fputs("\nfinetune only:\n", fp);
    fprintf(fp, "  --delta-rank K     rank of the task shift dW, 1..min(in,out) [%d]\n", ft->delta_rank);
    fprintf(fp, "  --noise X          std of the Gaussian noise on every target, 0 or a normal\n"
                "                     float whose square is one too [%g]\n", ft->noise);
    fprintf(fp, "  --pretrain-epochs N  epochs of pretraining on task 1 [%d]\n", ft->pretrain_epochs);
    fputs("  --init NAME        how LoRA's A and B start: default (PEFT's: B = 0) or\n"
          "                     pissa (the base's top-r singular triplets; the base\n"
          "                     becomes the residual) [default]\n", fp);
    fputs("  --dora             DoRA: LoRA with a trainable magnitude per output on the\n"
          "                     frozen base (PEFT's use_dora)\n", fp);
    fputs("  --base-weights FILE  take W0, b0 from a safetensors file (layer.weight and\n"
          "                     layer.bias, or weight and bias) instead of pretraining;\n"
          "                     with --hidden, every layers.<i>.weight and .bias, whose\n"
          "                     widths must be --hidden's\n", fp);
    fprintf(fp, "  with --experiment finetune, --epochs, --samples, --test-samples and --lr\n"
                "  default to %d, %d, %d and %g unless given\n", ft->epochs, ft->samples,
            ft->test_samples, ft->lr);
}

/* Data files, outputs and the exit status; sc holds the scratch defaults. */
static void usage_files(FILE *fp, const config *sc)
{
    fputs("\ndata:\n"
          "  --data FILE        train on a CSV file (header x0,...,y0,...; without a\n"
          "                     header, --in and --out split the columns); the sizes\n"
          "                     come from the file. finetune: needs --base-weights\n"
          "  --test-data FILE   the held-out set [20% of --data's rows, drawn per seed]\n", fp);
    fprintf(fp, "\noutput:\n"
                "  --output-dir DIR   where results are written, created if missing [%s]\n"
                "  --save-data        also write train.csv and test.csv (the first seed's data)\n"
                "  --save-weights     also write weights/<model>.{init,final}.safetensors,\n"
                "                     adapters/lora_r<k>/ (PEFT) and, finetune, base.safetensors\n"
                "  --quiet            print nothing on stdout\n"
                "  --help             show this help and exit\n"
                "  --version          show the version and exit\n"
                "\n"
                "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
                "130 interrupted (SIGINT: the results so far are written)\n",
            sc->output_dir);
}

void cli_usage(FILE *fp)
{
    config sc, ft;
    config_defaults_for(&sc, EXPERIMENT_SCRATCH);
    config_defaults_for(&ft, EXPERIMENT_FINETUNE);
    usage_intro(fp);
    usage_common(fp, &sc);
    usage_finetune(fp, &ft);
    usage_files(fp, &sc);
}
