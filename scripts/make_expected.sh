#!/bin/sh
# make_expected.sh - write the default run's final losses as the regression
# reference for tests/cli_test.sh. usage: make_expected.sh ./lora_demo OUT.csv
set -eu
BIN=$1
OUT=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$BIN" --quiet --epochs 100 --seed 42 --output-dir "$dir"
{
    echo "model,final_loss"
    head -n 1 "$dir/losses.csv" | tr ',' '\n' | tail -n +2 >"$dir/names"
    tail -n 1 "$dir/losses.csv" | tr ',' '\n' | tail -n +2 >"$dir/values"
    paste -d, "$dir/names" "$dir/values"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
