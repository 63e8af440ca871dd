#!/bin/sh
# check_variants.sh - the LoRA variants against plain LoRA in the fine-tune
# experiment, seed by seed (docs/finetune.md, "The variants over seeds").
#
#   sh scripts/check_variants.sh [LORA_DEMO [SEEDS [FIRST_SEED]]]
#   defaults: ./lora_demo, 20 seeds, first seed 42
#
# For every seed and each of plain LoRA, --dora, --loraplus-ratio 16,
# --loraplus-ratio 4, --lora-dropout 0.1 and --lora-dropout 0.05, runs the
# default fine-tune experiment (ranks 1 to 4, task shift of rank k = 2)
# and prints, per variant and rank:
#   - the median, worst and best over seeds of test MSE / plain LoRA's test
#     MSE of the same seed and rank (paired: the same data and base);
#   - the median over seeds of the first epoch whose training loss is below
#     2e-4 (twice the noise floor), and how many seeds never get there.
set -eu

bin=${1:-./lora_demo}
seeds=${2:-20}
first=${3:-42}
out=$(mktemp -d "${TMPDIR:-/tmp}/lora_demo_variants.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

variants="plain dora lp16 lp4 drop10 drop05"
opts_of() {
    case $1 in
    plain) echo "" ;;
    dora) echo "--dora" ;;
    lp16) echo "--loraplus-ratio 16" ;;
    lp4) echo "--loraplus-ratio 4" ;;
    drop10) echo "--lora-dropout 0.1" ;;
    drop05) echo "--lora-dropout 0.05" ;;
    esac
}

s=0
while [ "$s" -lt "$seeds" ]; do
    seed=$((first + s))
    for v in $variants; do
        d="$out/$v.$seed"
        # shellcheck disable=SC2046
        "$bin" --experiment finetune --seed "$seed" --quiet $(opts_of "$v") --output-dir "$d" || exit 2
        # one line per model: variant seed rank test_mse first_epoch_below_2e-4 (0: never)
        awk -v v="$v" -v seed="$seed" -F, '
            NR == 1 { for (c = 2; c <= NF; c++) { name[c] = $c; ep[c] = 0 } next }
            { for (c = 2; c <= NF; c++) if (ep[c] == 0 && $c != "" && $c + 0 < 2e-4) ep[c] = $1 }
            END { for (c = 2; c <= NF; c++) print v, seed, name[c], ep[c] }' "$d/losses.csv" \
            >"$d/epochs"
        awk '/"name": "/ { n = $0; sub(/.*"name": "/, "", n); sub(/".*/, "", n) }
             /"test_loss_per_seed": \[/ { t = $0; sub(/.*"test_loss_per_seed": \[/, "", t);
                                          sub(/\].*/, "", t); print n, t }' "$d/summary.json" \
            >"$d/test"
        awk 'NR == FNR { t[$1] = $2; next } { print $1, $2, $3, t[$3], $4 }' "$d/test" "$d/epochs"
    done
    s=$((s + 1))
done >"$out/all"

awk -v seeds="$seeds" '
function sort(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
function median(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ v = $1; seed = $2; m = $3; mse[v, seed, m] = $4; ep[v, seed, m] = $5
  if (!(v in seen)) { seen[v] = 1; vs[++nv] = v }
  if (!(m in seenm)) { seenm[m] = 1; ms[++nm] = m }
  if (!((v, seed) in seens)) { seens[v, seed] = 1; if (v == "plain") ss[++ns] = seed } }
END {
  printf "%-7s %-8s %10s %10s %10s %12s %7s\n", "variant", "model", "median", "worst", "best", "epoch<2e-4", "never"
  for (i = 1; i <= nv; i++) for (j = 1; j <= nm; j++) {
    v = vs[i]; m = ms[j]; n = 0; k = 0; never = 0; worst = 0; best = 1e30
    for (s = 1; s <= ns; s++) {
      r = mse[v, ss[s], m] / mse["plain", ss[s], m]; rr[++n] = r
      if (r > worst) worst = r
      if (r < best) best = r
      if (ep[v, ss[s], m] > 0) ee[++k] = ep[v, ss[s], m]; else never++
    }
    printf "%-7s %-8s %10.3f %10.3f %10.3f %12s %7d\n", v, m, median(rr, n), worst, best,
           (k > 0 ? sprintf("%g", median(ee, k)) : "-"), never
  }
}' "$out/all"
