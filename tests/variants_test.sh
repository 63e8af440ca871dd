#!/bin/sh
# variants_test.sh - the LoRA variants of issue 14 (LoRA+, LoRA dropout, DoRA), end to
# end through the binary: bad values (exit 2, one line naming the option),
# and with each variant, a fine-tuning run that
#   - records the variant in summary.json and, for the adapter fields PEFT
#     has, in adapter_config.json (--save-weights),
#   - changes what LoRA learns (its losses differ from plain LoRA's) but
#     not the dense model's,
#   - gives the same losses.csv again from its own --save-data files and
#     base.safetensors (--data, --test-data, --base-weights),
#   - runs with --repeats (two seeds recorded, their mean not one seed's curve),
#   - stops on SIGINT with exit 130 and whole files,
#   - reports a divergence (--lr 1e20 on a sane base) as a result, exit 0.
#
# usage: sh tests/variants_test.sh ./lora_demo
# Prints one line per failure and ends with "variants: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/variants
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=variants
. tests/lib.sh

# run ARGS...: a quiet run that must succeed.
run() {
    "$BIN" --quiet "$@" 2>"$TMP/run.err" || bad "'$*' failed: $(cat "$TMP/run.err")"
}

# has FILE TEXT WHAT: FILE contains TEXT.
has() {
    if grep -qF -- "$2" "$1" 2>/dev/null; then ok; else bad "$3: $1 lacks '$2'"; fi
}

# expect_usage_error NEEDLE ARGS...: exit 2, one line on stderr containing
# NEEDLE, nothing on stdout, no output directory.
expect_usage_error() {
    needle=$1
    shift
    rm -rf "$TMP/never"
    "$BIN" --output-dir "$TMP/never" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ "$rc" -ne 2 ]; then
        bad "'$*': exit $rc, want 2"
    elif [ "$(wc -l <"$TMP/stderr")" -ne 1 ] || ! grep -qF -- "$needle" "$TMP/stderr"; then
        bad "'$*': stderr should be one line containing '$needle', got: $(cat "$TMP/stderr")"
    elif [ -s "$TMP/stdout" ] || [ -e "$TMP/never" ]; then
        bad "'$*': wrote to stdout or created the output directory"
    else
        ok
    fi
}

# column N of losses.csv (1 = epoch, 2 = dense, 3 = the first LoRA)
column() { cut -d, -f"$2" "$1"; }

# ---------------------------------------------------------------------------
# bad values

expect_usage_error "--loraplus-ratio: '0.5' must be at least 1" --loraplus-ratio 0.5
expect_usage_error "--loraplus-ratio: '0' must be greater than 0" --loraplus-ratio 0
expect_usage_error "--loraplus-ratio: 'nan' is not finite" --loraplus-ratio nan
expect_usage_error "--loraplus-ratio: 'inf' is not finite" --loraplus-ratio inf
expect_usage_error "--loraplus-ratio: '16%' is not a number" --loraplus-ratio 16%
expect_usage_error "--loraplus-ratio: '1e39' is too large for a float" --loraplus-ratio 1e39
expect_usage_error "--lora-dropout: '1' must be below 1" --lora-dropout 1
expect_usage_error "--lora-dropout: '-0.2' must be at least 0" --lora-dropout -0.2
expect_usage_error "--lora-dropout: 'nan' is not finite" --lora-dropout nan
expect_usage_error "--lora-dropout: '10%' is a percentage; give the fraction (0.1 for 10%)" --lora-dropout 10%
expect_usage_error "--dora: only used by --experiment finetune" --dora

# ---------------------------------------------------------------------------
# each variant: NAME, its options, what summary.json must then hold, and
# what adapter_config.json must hold ('' for nothing of its own)

FT="--experiment finetune --epochs 60 --pretrain-epochs 100 --samples 200 --test-samples 100 --ranks 1,2"
run $FT --save-data --save-weights --output-dir "$TMP/plain"

variant() {
    name=$1
    opts=$2
    summary=$3
    adapter=$4
    d="$TMP/$name"
    # shellcheck disable=SC2086
    run $FT $opts --save-data --save-weights --output-dir "$d/a"
    has "$d/a/summary.json" "$summary" "$name: summary.json"
    if [ -n "$adapter" ]; then
        has "$d/a/adapters/lora_r2/adapter_config.json" "$adapter" "$name: adapter_config.json"
    fi
    if [ "$(column "$d/a/losses.csv" 2)" = "$(column "$TMP/plain/losses.csv" 2)" ]; then ok; else
        bad "$name: the dense model's losses changed"; fi
    if [ "$(column "$d/a/losses.csv" 3)" != "$(column "$TMP/plain/losses.csv" 3)" ]; then ok; else
        bad "$name: lora_r1 learned exactly what plain LoRA learns"; fi

    # the same run from its own files
    # shellcheck disable=SC2086
    run --experiment finetune --epochs 60 --ranks 1,2 $opts --data "$d/a/train.csv" \
        --test-data "$d/a/test.csv" --base-weights "$d/a/base.safetensors" --output-dir "$d/b"
    if cmp -s "$d/a/losses.csv" "$d/b/losses.csv"; then ok; else
        bad "$name: --data/--base-weights run differs from the run that saved them"; fi

    # --repeats: both seeds recorded, the mean is not seed 42's curve alone
    # shellcheck disable=SC2086
    run $FT $opts --repeats 2 --output-dir "$d/r"
    has "$d/r/summary.json" '"seeds": [42, 43]' "$name --repeats"
    has "$d/r/summary.json" "$summary" "$name --repeats: summary.json"
    if ! cmp -s "$d/a/losses.csv" "$d/r/losses.csv" && [ -s "$d/r/losses_std.csv" ]; then ok; else
        bad "$name --repeats: the mean over two seeds equals one seed's curve"; fi

    # divergence is a result, not a failure
    # shellcheck disable=SC2086
    "$BIN" --experiment finetune --epochs 20 --ranks 1,2 $opts --lr 1e20 \
        --base-weights "$TMP/plain/base.safetensors" --output-dir "$d/div" >/dev/null 2>"$d/div.err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "warning: lora_r1 diverged at epoch" "$d/div.err"; then ok; else
        bad "$name --lr 1e20: exit $rc, stderr: $(cat "$d/div.err")"; fi

    # SIGINT: exit 130 and a summary marked interrupted
    # shellcheck disable=SC2086
    interrupt_when "$d/int" 0.5 /dev/null "$d/int.err" \
        "$BIN" --quiet $opts --experiment finetune --samples 20000 --epochs 2000 --output-dir "$d/int"
    if [ "$rc" -eq 130 ] && grep -q '"interrupted": true' "$d/int/summary.json" &&
       grep -q "$summary" "$d/int/summary.json"; then ok; else
        bad "$name SIGINT: exit $rc, stderr: $(cat "$d/int.err")"; fi
}

variant loraplus "--loraplus-ratio 16" '"loraplus_ratio": 16' ''
# PEFT keeps LoRA+ out of the adapter (docs/files.md)
if grep -q loraplus "$TMP/loraplus/a/adapters/lora_r2/adapter_config.json"; then
    bad "loraplus: adapter_config.json mentions LoRA+, which PEFT does not store"; else ok; fi

variant dropout "--lora-dropout 0.1" '"lora_dropout": 0.1' '"lora_dropout": 0.1'
variant dora "--dora" '"dora": true' '"use_dora": true'
# the magnitude is in the adapter under PEFT's key (no ".weight"), and in the weights file
if grep -q '"base_model.model.layer.lora_magnitude_vector":' \
    "$TMP/dora/a/adapters/lora_r2/adapter_model.safetensors"; then ok; else
    bad "dora: the adapter lacks base_model.model.layer.lora_magnitude_vector"; fi
if grep -q '"lora_magnitude_vector.weight":' "$TMP/dora/a/weights/lora_r2.final.safetensors"; then ok; else
    bad "dora: the weights file lacks lora_magnitude_vector.weight"; fi
if grep -q use_dora "$TMP/plain/adapters/lora_r2/adapter_config.json"; then
    bad "plain LoRA's adapter_config.json says use_dora"; else ok; fi
# all three at once
variant all "--lora-dropout 0.2 --loraplus-ratio 4 --dora" '"loraplus_ratio": 4' '"lora_dropout": 0.2'
# the plain run's adapter says no dropout
has "$TMP/plain/adapters/lora_r2/adapter_config.json" '"lora_dropout": 0' "plain adapter_config.json"

# --hidden: every variant on every layer (test_network.c checks LoRA+'s
# step and the gradients of dropout and DoRA, layer by layer); here each
# network run records its variant, its LoRA learns otherwise than plain
# LoRA, the dense network not; the adapter names every layer.
for exp in scratch finetune; do
    NET="--experiment $exp --hidden 6,4 --epochs 20 --pretrain-epochs 50 --samples 60 --test-samples 20 --ranks 1,2"
    [ "$exp" = scratch ] && NET="--hidden 6,4 --epochs 20 --samples 60 --test-samples 20 --ranks 1,2"
    # shellcheck disable=SC2086
    run $NET --output-dir "$TMP/net_$exp/plain"
    for v in "plus:--loraplus-ratio 16:\"loraplus_ratio\": 16" "drop:--lora-dropout 0.2:\"lora_dropout\": 0.2" \
        "dora:--dora:\"dora\": true"; do
        name=${v%%:*}
        rest=${v#*:}
        opts=${rest%%:*}
        summary=${rest#*:}
        [ "$exp" = scratch ] && [ "$name" = dora ] && continue # DoRA needs a base
        d="$TMP/net_$exp/$name"
        # shellcheck disable=SC2086
        run $NET $opts --save-weights --output-dir "$d"
        has "$d/summary.json" "$summary" "--hidden $exp $opts: summary.json"
        if [ "$(column "$d/losses.csv" 2)" = "$(column "$TMP/net_$exp/plain/losses.csv" 2)" ]; then ok; else
            bad "--hidden $exp $opts: the dense network's losses changed"; fi
        if [ "$(column "$d/losses.csv" 3)" != "$(column "$TMP/net_$exp/plain/losses.csv" 3)" ]; then ok; else
            bad "--hidden $exp $opts: lora_r1 learned exactly what plain LoRA learns"; fi
    done
done
has "$TMP/net_finetune/plus/adapters/lora_r2/adapter_config.json" '"layers.2"' "--hidden LoRA+ adapter"
has "$TMP/net_finetune/dora/adapters/lora_r2/adapter_config.json" '"use_dora": true' "--hidden DoRA adapter"
if grep -q '"base_model.model.layers.2.lora_magnitude_vector":' \
    "$TMP/net_finetune/dora/adapters/lora_r2/adapter_model.safetensors"; then ok; else
    bad "--hidden dora: the adapter lacks base_model.model.layers.2.lora_magnitude_vector"; fi

finish
