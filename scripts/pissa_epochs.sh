#!/bin/sh
# pissa_epochs.sh - how many epochs each LoRA rank needs to reach twice the
# noise floor, with PEFT's default init (B = 0) and with PiSSA.
#
#   sh scripts/pissa_epochs.sh [LORA_DEMO [SEEDS [FIRST_SEED [EPOCHS [-- extra options]]]]]
#   defaults: ./lora_demo, 20 seeds, first seed 42, 3000 epochs
#
# For each seed and each --init (default, pissa), runs
# `LORA_DEMO --experiment finetune --seed S --epochs EPOCHS` (plus any extra
# options) and reads losses.csv: a model's epoch count is the first epoch
# whose training loss is at most 2 noise^2 (summary.json's noise_floor).
# Prints, per init and model, the median, smallest and largest count over
# the seeds that got there, and how many seeds did not within EPOCHS.
# Results: docs/finetune.md. Exits 2 on a usage or run failure.
set -eu

bin=${1:-./lora_demo}
seeds=${2:-20}
first=${3:-42}
epochs=${4:-3000}
[ $# -ge 4 ] && shift 4 || shift $#
[ "${1:-}" = "--" ] && shift

out=$(mktemp -d "${TMPDIR:-/tmp}/lora_demo_pissa.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

s=0
while [ "$s" -lt "$seeds" ]; do
    seed=$((first + s))
    for init in default pissa; do
        dir="$out/$init.$seed"
        "$bin" --experiment finetune --init "$init" --seed "$seed" --epochs "$epochs" --quiet \
            --output-dir "$dir" "$@" || exit 2
        floor=$(sed -n 's/.*"noise_floor": *\([^,}]*\).*/\1/p' "$dir/summary.json" | head -n 1)
        awk -F, -v init="$init" -v floor="$floor" '
            NR == 1 { for (i = 2; i <= NF; i++) name[i] = $i; n = NF; next }
            { for (i = 2; i <= n; i++) if (!(i in hit) && $i != "" && $i + 0 <= 2 * floor) hit[i] = $1 }
            END { for (i = 2; i <= n; i++) print init, name[i], (i in hit) ? hit[i] : "never" }
        ' "$dir/losses.csv" >>"$out/counts"
        rm -rf "$dir"
    done
    s=$((s + 1))
done

echo "epochs to a training loss <= 2 x noise^2, $seeds seeds from $first, at most $epochs epochs"
echo "init     model      median     min     max  never"
sort -k1,1 -k2,2 -k3,3n "$out/counts" | awk '
    function flush() {
        if (key == "") return
        med = c > 0 ? (c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2) : "-"
        printf "%-8s %-8s %8s %7s %7s %6d\n", i0, m0, med, (c > 0 ? v[1] : "-"), (c > 0 ? v[c] : "-"), never
    }
    { k = $1 " " $2
      if (k != key) { flush(); key = k; i0 = $1; m0 = $2; c = 0; never = 0 }
      if ($3 == "never") never++; else v[++c] = $3 + 0 }
    END { flush() }'
