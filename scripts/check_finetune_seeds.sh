#!/bin/sh
# check_finetune_seeds.sh - does the finetune finding hold seed by seed?
#
#   sh scripts/check_finetune_seeds.sh [LORA_DEMO [SEEDS [FIRST_SEED [-- extra options]]]]
#   defaults: ./lora_demo, 20 seeds, first seed 42
#
# Runs `LORA_DEMO --experiment finetune --repeats SEEDS --seed FIRST_SEED`
# (plus any extra options) and, from the per-seed held-out MSEs in
# summary.json, computes for every seed and LoRA rank r the ratio
#     test MSE (lora_r<r>) / test MSE (dense, full fine-tuning).
# The finding holds when, on every seed, r >= k (--delta-rank) gives a ratio
# <= 1.10 and r < k a ratio >= 2; and r < k is at least 10 times worse
# than r = k on every seed (the knee, which holds for --hidden networks
# too, where dense may overfit). Prints each rank's worst ratio and exits
# 1 if any seed breaks a rule (2 on a usage or run failure).
set -eu

bin=${1:-./lora_demo}
seeds=${2:-20}
first=${3:-42}
[ $# -ge 3 ] && shift 3 || shift $#
[ "${1:-}" = "--" ] && shift

out=$(mktemp -d "${TMPDIR:-/tmp}/lora_demo_seeds.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

"$bin" --experiment finetune --repeats "$seeds" --seed "$first" --quiet --output-dir "$out" "$@" || exit 2

awk -v seeds="$seeds" -v first="$first" '
# summary.json writes one model per two lines: the first has "name" and
# "rank", the second the per-seed arrays.
/"delta_rank":/ { v = $0; sub(/.*"delta_rank": */, "", v); sub(/[^0-9].*/, "", v); k = v + 0 }
/"name": "/ {
    name = $0; sub(/.*"name": "/, "", name); sub(/".*/, "", name)
    r = $0; sub(/.*"rank": */, "", r); sub(/[^0-9].*/, "", r)
    m++; names[m] = name; ranks[m] = r + 0
}
/"test_loss_per_seed": \[/ {
    v = $0; sub(/.*"test_loss_per_seed": \[/, "", v); sub(/\].*/, "", v)
    n = split(v, a, /, */)
    for (s = 1; s <= n; s++) mse[m, s] = a[s] + 0
    nseeds = n
}
END {
    if (m < 2 || nseeds != seeds) { print "check: could not read summary.json" > "/dev/stderr"; exit 2 }
    bad = 0
    printf "finetune finding over %d seeds (%d..%d), task shift rank k = %d\n", nseeds, first, first + nseeds - 1, k
    printf "%-9s %6s %12s %12s %8s  %s\n", "model", "rank", "min ratio", "max ratio", "rule", "verdict"
    for (i = 2; i <= m; i++) {
        lo = 1e300; hi = -1; worst_seed = first
        for (s = 1; s <= nseeds; s++) {
            ratio = mse[i, s] / mse[1, s]
            if (ratio < lo) { lo = ratio; if (ranks[i] < k) worst_seed = first + s - 1 }
            if (ratio > hi) { hi = ratio; if (ranks[i] >= k) worst_seed = first + s - 1 }
        }
        if (ranks[i] >= k) { rule = "<= 1.10"; ok = hi <= 1.10 } else { rule = ">= 2"; ok = lo >= 2 }
        if (!ok) bad++
        printf "%-9s %6d %12.4f %12.4f %8s  %s (worst seed %d)\n", names[i], ranks[i], lo, hi, rule,
               ok ? "ok" : "BROKEN", worst_seed
    }
    # the knee: every rank below k against rank k itself, seed by seed
    for (i = 2; i <= m; i++) if (ranks[i] == k) ik = i
    if (ik) {
        lo = 1e300
        for (i = 2; i <= m; i++) if (ranks[i] < k)
            for (s = 1; s <= nseeds; s++)
                if (mse[i, s] / mse[ik, s] < lo) { lo = mse[i, s] / mse[ik, s]; ws = first + s - 1 }
        if (lo < 1e300) {
            ok = lo >= 10
            if (!ok) bad++
            printf "r < k against r = k: worst ratio %.4f, rule >= 10: %s (seed %d)\n", lo,
                   ok ? "ok" : "BROKEN", ws
        }
    }
    exit bad ? 1 : 0
}' "$out/summary.json"
