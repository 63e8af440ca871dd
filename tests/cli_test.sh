#!/bin/sh
# cli_test.sh - the command line, end to end: bad input, reproducibility and
# the smoke test on the default run's final losses.
#
# usage: sh tests/cli_test.sh ./lora_demo
# Prints one line per failure and ends with "cli: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/cli
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=cli
. tests/lib.sh

# expect_usage_error NEEDLE ARGS...: exit 2, a one-line message containing
# NEEDLE, nothing on stdout, and no output directory created.
expect_usage_error() {
    needle=$1
    shift
    out="$TMP/bad.out"
    "$BIN" --output-dir "$TMP/never" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    lines=$(wc -l <"$TMP/stderr")
    if [ "$rc" -ne 2 ]; then
        bad "'$*': exit $rc, want 2"
    elif [ "$lines" -ne 1 ] || ! grep -qF -- "$needle" "$TMP/stderr"; then
        bad "'$*': stderr should be one line containing '$needle', got: $(cat "$TMP/stderr")"
    elif [ -s "$TMP/stdout" ]; then
        bad "'$*': wrote to stdout"
    elif [ -e "$TMP/never" ]; then
        bad "'$*': created the output directory"
        rm -rf "$TMP/never"
    else
        ok
    fi
}

expect_usage_error "--epochs: '10x'" --epochs 10x
expect_usage_error "--epochs: 'ten'" --epochs ten
expect_usage_error "--epochs: '0'" --epochs 0
expect_usage_error "--epochs: '-3'" --epochs -3
expect_usage_error "--epochs: '99999999999999999999'" --epochs 99999999999999999999
expect_usage_error "--samples: '0'" --samples 0
expect_usage_error "--test-samples: '-1'" --test-samples -1
expect_usage_error "--in: '0'" --in 0
expect_usage_error "--out: '2.5'" --out 2.5
expect_usage_error "--seed: '-1'" --seed -1
expect_usage_error "--seed: '18446744073709551616'" --seed 18446744073709551616
expect_usage_error "--lr: 'nan'" --lr nan
expect_usage_error "--lr: 'inf'" --lr inf
expect_usage_error "--lr: '0'" --lr 0
expect_usage_error "--lr: '-1'" --lr -1
expect_usage_error "--lr: '1e400'" --lr 1e400
expect_usage_error "--alpha: '-2'" --alpha -2
# values checked as the floats they are used as, before anything is
# written: 0, subnormal or Inf as a float, a scale that is, or a noise
# whose square (the noise floor, like every loss a float) overflows
expect_usage_error "--lr: '1e-50' is too small for a float (at least 1.17549e-38)" --lr 1e-50
expect_usage_error "--lr: '1e39' is too large for a float (at most 3.40282e+38)" --lr 1e39
expect_usage_error "--alpha: '1e39' is too large for a float" --alpha 1e39 --rslora
expect_usage_error "--alpha: '1e-46' is too small for a float" --alpha 1e-46
expect_usage_error "--alpha: alpha 2e-38 gives lora_r4 the scale 1e-38 (alpha/sqrt(r)), not a normal float" \
    --alpha 2e-38 --rslora --ranks 1,4
expect_usage_error "--alpha: alpha 3e-38 gives lora_r3 the scale 1e-38 (alpha/r)" --alpha 3e-38
expect_usage_error "--noise: '1e20' is too large: the noise floor noise^2 would overflow a float" \
    --experiment finetune --noise 1e20
expect_usage_error "--noise: '1e-300' is too small for a float (0 or at least 1.17549e-38)" \
    --experiment finetune --noise 1e-300
expect_usage_error "--init: 'lora' is not an initialisation (default, pissa)" --experiment finetune --init lora
expect_usage_error "--init: 'pissa_niter_4' (PEFT's randomized SVD) is not supported" \
    --experiment finetune --init pissa_niter_4
expect_usage_error "--init: pissa needs --experiment finetune" --init pissa
expect_usage_error "--ranks: empty list" --ranks ""
expect_usage_error "--ranks: '1,,2'" --ranks 1,,2
expect_usage_error "--ranks: '1,2,'" --ranks 1,2,
expect_usage_error "--ranks: 'one'" --ranks one
expect_usage_error "--ranks: '0'" --ranks 0
expect_usage_error "rank 6 exceeds min(--in, --out) = 5" --ranks 6
expect_usage_error "rank 4 exceeds min(--in, --out) = 3" --out 3 --ranks 1,4
expect_usage_error "--ranks: '1,1'" --ranks 1,1
expect_usage_error "--ranks: 'all,1': 'all' cannot be mixed with ranks" --ranks all,1
expect_usage_error "--batch-size: '0'" --batch-size 0
expect_usage_error "unknown option '--bogus'" --bogus
expect_usage_error "--epochs: missing value" --epochs
expect_usage_error "--rslora takes no value: '--rslora=1'" --rslora=1
expect_usage_error "ambiguous option '--e'" --e 5
# a control character in an argument is printed as '?': still one line
expect_usage_error "--epochs: '1?2' is not a whole number" --epochs "$(printf '1\n2')"
# leading space of any kind is refused, as ' 5' always was
expect_usage_error "--epochs: ' 5' is not a whole number" --epochs " 5"
expect_usage_error "--epochs: '?5' is not a whole number" --epochs "$(printf '\n5')"
expect_usage_error "--samples: '?5' is not a whole number" --samples "$(printf '\v5')"
expect_usage_error "--in: '?5' is not a whole number" --in "$(printf '\f5')"
expect_usage_error "--batch-size: '?5' is not a whole number" --batch-size "$(printf '\r5')"
expect_usage_error "--lr: '?0.1' is not a number" --lr "$(printf '\n0.1')"

# A path that is not UTF-8 cannot be written into summary.json as JSON: it
# is refused before anything is read or created, its bad bytes shown as \xNN.
badname=$TMP/$(printf 'bad\377name')
expect_usage_error "--output-dir: not valid UTF-8, so summary.json could not record it" --output-dir "$badname"
if [ ! -e "$badname" ]; then ok; else bad "non-UTF-8 --output-dir was created"; fi
expect_usage_error "'$TMP/bad\xffname'" --output-dir "$badname"
expect_usage_error "--data: not valid UTF-8" --data "$badname.csv"
expect_usage_error "--test-data: not valid UTF-8" --data "$TMP/x.csv" --test-data "$(printf '\300\200.csv')"
expect_usage_error "--base-weights: not valid UTF-8" --experiment finetune --base-weights "$(printf '\355\240\200')"
# A name that is UTF-8, with a control character and a non-ASCII letter:
# the run works and summary.json is valid JSON that names it.
oddname=$TMP/$(printf 'r\303\251sultats\tdir')
if "$BIN" --quiet --epochs 2 --output-dir "$oddname" && grep -q 'r\\u00e9\|résultats\\tdir' "$oddname/summary.json"; then ok; else
    bad "a UTF-8 --output-dir with a tab"; fi
if ! command -v python3 >/dev/null 2>&1 || python3 -c 'import json, sys; c = json.load(open(sys.argv[1], encoding="utf-8"))["config"]; sys.exit(c["output_dir"] != sys.argv[2])' \
        "$oddname/summary.json" "$oddname"; then ok; else bad "summary.json of a UTF-8 --output-dir with a tab"; fi

# --help and --version succeed and print to stdout.
if "$BIN" --help >"$TMP/stdout" 2>&1 && grep -q -- "--batch-size" "$TMP/stdout" && grep -q "\[100\]" "$TMP/stdout"; then ok; else bad "--help"; fi
if "$BIN" --version >"$TMP/stdout" 2>&1 && grep -q "^lora_demo [0-9]" "$TMP/stdout"; then ok; else bad "--version"; fi

# A write error on stdout is exit 1 and one line on stderr with the reason,
# for --help, --version and a run alike: /dev/full (a full disk), a closed
# stdout, and a file-size limit. A --quiet run writes nothing there: exit 0.
# expect_stdout_error REASON REDIRECT ARGS...: REDIRECT is full or closed.
expect_stdout_error() {
    reason=$1
    how=$2
    shift 2
    if [ "$how" = full ]; then
        "$BIN" "$@" >/dev/full 2>"$TMP/stderr"
    else
        "$BIN" "$@" >&- 2>"$TMP/stderr"
    fi
    rc=$?
    if [ "$rc" -eq 1 ] && [ "$(cat "$TMP/stderr")" = "lora_demo: standard output: $reason" ]; then ok; else
        bad "'$*' with stdout $how: exit $rc, want 1; stderr: $(cat "$TMP/stderr")"; fi
}
if [ -w /dev/full ]; then
    expect_stdout_error "No space left on device" full --help
    expect_stdout_error "No space left on device" full --version
    expect_stdout_error "No space left on device" full --epochs 2 --output-dir "$TMP/full"
    # a table larger than stdio's buffer: the first failed write is not the last
    expect_stdout_error "No space left on device" full --epochs 2 --in 40 --out 40 --ranks 1,2,3,4,5,6,7,8 \
        --output-dir "$TMP/full"
    if "$BIN" --quiet --epochs 2 --output-dir "$TMP/full" >/dev/full 2>"$TMP/stderr" && [ ! -s "$TMP/stderr" ]; then ok; else
        bad "--quiet with stdout on /dev/full: $(cat "$TMP/stderr")"; fi
else
    echo "cli: skipped the /dev/full tests: /dev/full is not writable here"
fi
expect_stdout_error "Bad file descriptor" closed --help
expect_stdout_error "Bad file descriptor" closed --version
expect_stdout_error "Bad file descriptor" closed --epochs 2 --output-dir "$TMP/closed"
# with stdout closed, no result file takes its descriptor (and the table)
if [ -s "$TMP/closed/summary.json" ] && ! grep -rq "final loss" "$TMP/closed"; then ok; else
    bad "a run with stdout closed: the table went into a result file"; fi
if "$BIN" --quiet --epochs 2 --output-dir "$TMP/closed" >&- 2>"$TMP/stderr" && [ ! -s "$TMP/stderr" ]; then ok; else
    bad "--quiet with stdout closed: $(cat "$TMP/stderr")"; fi
# stderr goes to a pipe, which the limit does not cut. A coverage build's
# profiling runtime, writing its counts at exit under the same limit, adds
# lines of its own; they are not lora_demo's.
errs=$( (ulimit -f 1 && exec "$BIN" --help >"$TMP/help.txt") 2>&1 )
rc=$?
first=$(printf '%s\n' "$errs" | head -n 1)
others=$(printf '%s\n' "$errs" | tail -n +2 | grep -v '^libgcov profiling error:')
if [ "$rc" -eq 1 ] && [ "$first" = "lora_demo: standard output: File too large" ] && [ -z "$others" ]; then ok; else
    bad "--help into a file past ulimit -f: exit $rc, stderr: $errs"; fi

# An output directory that cannot be created: exit 1, path in the message,
# and it fails before training (nothing printed on stdout).
: >"$TMP/file"
"$BIN" --output-dir "$TMP/file/sub" >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "$TMP/file/sub\|$TMP/file" "$TMP/stderr" && [ ! -s "$TMP/stdout" ]; then ok; else
    bad "uncreatable output dir: exit $rc, stderr: $(cat "$TMP/stderr")"; fi

# Reproducibility: the same seed gives byte-identical losses.csv; another differs.
"$BIN" --quiet --epochs 30 --seed 7 --output-dir "$TMP/a" && \
"$BIN" --quiet --epochs 30 --seed 7 --output-dir "$TMP/b" && \
"$BIN" --quiet --epochs 30 --seed 8 --output-dir "$TMP/c"
if cmp -s "$TMP/a/losses.csv" "$TMP/b/losses.csv"; then ok; else bad "same seed, different losses.csv"; fi
if ! cmp -s "$TMP/a/losses.csv" "$TMP/c/losses.csv"; then ok; else bad "different seeds, same losses.csv"; fi
# --quiet prints nothing; no temporary files are left behind.
if [ -z "$("$BIN" --quiet --epochs 2 --output-dir "$TMP/q")" ]; then ok; else bad "--quiet printed"; fi
if [ -z "$(find "$TMP/a" "$TMP/q" -name '*.tmp.*')" ]; then ok; else bad "temporary files left"; fi
# Mini-batches are reproducible too, and differ from full batch.
"$BIN" --quiet --epochs 5 --batch-size 16 --output-dir "$TMP/mb1" && \
"$BIN" --quiet --epochs 5 --batch-size 16 --output-dir "$TMP/mb2"
if cmp -s "$TMP/mb1/losses.csv" "$TMP/mb2/losses.csv" && ! cmp -s "$TMP/mb1/losses.csv" "$TMP/a/losses.csv"; then ok; else bad "mini-batch reproducibility"; fi

# losses.csv format: exact header, one row per epoch, ranks in the order given.
"$BIN" --quiet --epochs 4 --ranks 3,1 --output-dir "$TMP/fmt"
if [ "$(head -n 1 "$TMP/fmt/losses.csv")" = "epoch,dense,lora_r3,lora_r1" ] && \
   [ "$(wc -l <"$TMP/fmt/losses.csv")" -eq 5 ] && \
   [ "$(tail -n 1 "$TMP/fmt/losses.csv" | cut -d, -f1)" = "4" ]; then ok; else bad "losses.csv layout"; fi
if grep -q '"experiment": "scratch"' "$TMP/fmt/summary.json" && grep -q '"ranks": \[3, 1\]' "$TMP/fmt/summary.json" \
   && grep -q '"trainable_params": 55' "$TMP/fmt/summary.json"; then ok; else bad "summary.json content"; fi

# Every run draws losses.svg, no gnuplot needed (its XML is checked in test_svg.c).
if head -c 200 "$TMP/fmt/losses.svg" | grep -q "<svg" && grep -q "lora_r3" "$TMP/fmt/losses.svg"; then ok; else bad "losses.svg missing or without curves"; fi

# Smoke test on the default run (--epochs 100 --seed 42).
"$BIN" --quiet --epochs 100 --seed 42 --output-dir "$TMP/default"
last=$(tail -n 1 "$TMP/default/losses.csv")
first=$(sed -n 2p "$TMP/default/losses.csv")
header=$(head -n 1 "$TMP/default/losses.csv")
if [ "$header" = "epoch,dense,lora_r1,lora_r2,lora_r3,lora_r4" ]; then ok; else bad "default header: $header"; fi
# every model ends below its first loss
if awk -F, -v f="$first" -v l="$last" 'BEGIN { n = split(f, a, ","); split(l, b, ",");
      for (i = 2; i <= n; i++) if (!(b[i] < a[i])) exit 1 }'; then ok; else bad "a model did not improve: $first -> $last"; fi
# rank 4 ends no higher than rank 1
if awk -v l="$last" 'BEGIN { split(l, b, ","); exit !(b[6] <= b[3]) }'; then ok; else bad "rank 4 above rank 1: $last"; fi
# the dense model ends lowest, or within 2% of the lowest
if awk -v l="$last" 'BEGIN { n = split(l, b, ","); lo = b[2]; for (i = 3; i <= n; i++) if (b[i] < lo) lo = b[i];
      exit !(b[2] <= lo * 1.02) }'; then ok; else bad "dense not within 2% of the lowest: $last"; fi
# regression: final losses match tests/expected/final_losses.csv within 1e-5 relative
if awk -F, -v l="$last" 'BEGIN { split(l, b, ",") }
      NR > 1 { i = NR; d = b[i] - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2;
               if (d > 1e-5 * s) { print "  " $1 ": got " b[i] ", expected " $2 > "/dev/stderr"; bad = 1 } ; n++ }
      END { exit bad || n != 5 }' tests/expected/final_losses.csv; then ok; else
    bad "final losses differ from tests/expected/final_losses.csv (regenerate with 'make expected' only for a deliberate change)"; fi

# --- networks (--hidden): bad input, then runs
expect_usage_error "--hidden: empty list" --hidden ''
expect_usage_error "--hidden: '32,,4' has an empty item" --hidden 32,,4
expect_usage_error "--hidden: '4,' has an empty item" --hidden 4,
expect_usage_error "--hidden: ',4' has an empty item" --hidden ,4
expect_usage_error "--hidden: '8,0': every width must be at least 1" --hidden 8,0
expect_usage_error "--hidden: '65537' has a width over the limit 65536" --hidden 65537
expect_usage_error "--hidden: '99999999999999999999' has a width over the limit" --hidden 99999999999999999999
expect_usage_error "--hidden: '1,2,3,4,5,6,7,8' has more than 7 widths" --hidden 1,2,3,4,5,6,7,8
expect_usage_error "--hidden: 'x' is not a comma-separated list of widths" --hidden x
expect_usage_error "--hidden: '8;4' is not a comma-separated list of widths" --hidden '8;4'
expect_usage_error "--activation: 'sigmoid' is not relu, tanh or gelu" --hidden 8 --activation sigmoid
expect_usage_error "--activation: needs --hidden" --activation relu
expect_usage_error "--ranks: rank 4 does not fit layer 1 (8 -> 3, from the command line): at most 3" --hidden 8,3 --ranks 4
expect_usage_error "--ranks: rank 3 does not fit layer 0 (2 -> 8" --in 2 --hidden 8 --ranks 3
expect_usage_error "--dora: only used by --experiment finetune" --hidden 8 --dora
expect_usage_error "--delta-rank: 5 does not fit layer 1 (8 -> 4, from the command line): at most 4" --hidden 8,4 --experiment finetune --delta-rank 5 --ranks 1

# bytes [OFF, OFF+LEN) of the data of safetensors FILE (past its header)
st_data() {
    hl=$(od -An -t u8 -N8 "$1" | tr -d ' ')
    tail -c +$((9 + hl + $2)) "$1" | head -c "$3"
}
NET="$TMP/net"
if "$BIN" --quiet --hidden 8,6 --activation relu --epochs 5 --batch-size 16 --repeats 2 --rslora \
    --save-weights --save-data --output-dir "$NET.1" &&
   "$BIN" --quiet --hidden 8,6 --activation relu --epochs 5 --batch-size 16 --repeats 2 --rslora \
    --save-weights --save-data --threads 3 --output-dir "$NET.3"; then ok; else bad "network runs failed"; fi
same=1
for f in losses.csv losses_std.csv train.csv test.csv weights/dense.final.safetensors \
    weights/lora_r3.final.safetensors; do
    cmp -s "$NET.1/$f" "$NET.3/$f" || { same=0; bad "network: $f differs between --threads 1 and 3"; }
done
[ "$same" -eq 1 ] && ok
for name in layers.0.weight layers.2.bias; do
    if grep -q "\"$name\"" "$NET.1/weights/dense.init.safetensors"; then ok; else bad "network: no $name in dense weights"; fi
done
for name in layers.0.lora_A.weight layers.1.lora_B.weight layers.2.bias; do
    if grep -q "\"$name\"" "$NET.1/weights/lora_r2.final.safetensors"; then ok; else bad "network: no $name in lora_r2 weights"; fi
done
if grep -q '"hidden": \[8, 6\]' "$NET.1/summary.json" && grep -q '"activation": "relu"' "$NET.1/summary.json" &&
   grep -q '<svg' "$NET.1/losses.svg"; then ok; else bad "network: summary.json or losses.svg"; fi
# adding a layer leaves layer 0's initial weights (8 x 10 floats) as they were
"$BIN" --quiet --hidden 8 --epochs 1 --save-weights --output-dir "$NET.one" || bad "--hidden 8 run failed"
st_data "$NET.one/weights/dense.init.safetensors" 0 320 >"$TMP/w0.one"
st_data "$NET.1/weights/dense.init.safetensors" 0 320 >"$TMP/w0.two"
if [ "$(wc -c <"$TMP/w0.one")" -eq 320 ] && cmp -s "$TMP/w0.one" "$TMP/w0.two"; then ok; else
    bad "network: layer 0's initial weights changed when a layer was added"; fi
# --data with --hidden: the sizes from the file, the widths from the command line
if "$BIN" --quiet --hidden 8,6 --epochs 3 --data "$NET.1/train.csv" --test-data "$NET.1/test.csv" \
    --output-dir "$NET.data"; then ok; else bad "network: --data run failed"; fi
expect_usage_error "--ranks: rank 7 does not fit layer 1 (8 -> 6, from" --hidden 8,6 --ranks 7 --data "$NET.1/train.csv"
# divergence is a result: every LoRA network blows up, exit 0
if "$BIN" --hidden 8 --lr 1e10 --epochs 5 --output-dir "$NET.div" >"$TMP/net.div.out" 2>"$TMP/net.div.err" &&
   [ "$(grep -c 'diverged at epoch' "$TMP/net.div.err")" -ge 1 ]; then ok; else
    bad "network: diverging run: $(cat "$TMP/net.div.err")"; fi

# PiSSA's SVD and the spectra on a layer wide enough for the SVD's
# bidiagonal route (min(in, out) >= 64), whose vectors are formed on the
# threads: the same files for 1 and 2 threads. Rank 70 takes every
# singular vector (the top few of a random matrix hardly depend on the
# last rows of the bidiagonalisation's reflectors, so rank 4 alone would
# not see a thread that skipped one)
PI="--experiment finetune --init pissa --in 80 --out 70 --samples 64 --epochs 3 --ranks 4,70 --save-weights --quiet"
# shellcheck disable=SC2086
if "$BIN" $PI --output-dir "$TMP/pissa1" && "$BIN" $PI --threads 2 --output-dir "$TMP/pissa2"; then ok; else
    bad "wide PiSSA runs failed"; fi
for f in spectrum.csv weights/lora_r4.init.safetensors adapters/lora_r4/adapter_model.safetensors \
    adapters/lora_r70/adapter_model.safetensors; do
    if [ -s "$TMP/pissa1/$f" ] && cmp -s "$TMP/pissa1/$f" "$TMP/pissa2/$f"; then ok; else
        bad "wide PiSSA: $f missing or differs between 1 and 2 threads"; fi
done

# --- fine-tuning a network: LoRA on every layer of a frozen pretrained
# network, merged; files named as PEFT names them; the same bits for 1 and 2
# threads; the knee at the shift's rank (k = 2) on this seed
FT="--experiment finetune --hidden 12 --samples 400 --test-samples 200 --epochs 200 --pretrain-epochs 200 --ranks 1,2,3 --batch-size 100"
# shellcheck disable=SC2086
if "$BIN" $FT --save-weights --output-dir "$NET.ft1" >"$TMP/ft1.out" &&
   "$BIN" $FT --save-weights --threads 2 --quiet --output-dir "$NET.ft2"; then ok; else bad "network finetune runs failed"; fi
for f in losses.csv base.safetensors weights/lora_r2.final.safetensors adapters/lora_r3/adapter_model.safetensors; do
    if cmp -s "$NET.ft1/$f" "$NET.ft2/$f"; then ok; else bad "network finetune: $f differs between 1 and 2 threads"; fi
done
if awk '$1 == "lora_r1" && $2 == 1 { r1 = $8 } $1 == "lora_r2" && $2 == 2 { r2 = $8 }
        END { exit !(r1 > 0 && r2 > 0 && r1 >= 10 * r2) }' "$TMP/ft1.out"; then ok; else
    bad "network finetune: lora_r1 should be 10x worse than lora_r2: $(grep '^lora_r' "$TMP/ft1.out" | head -3)"; fi
if awk '/merged weight/ { on = 1; next } on && /^lora_r/ { n++; if ($2 > 1e-5 || $4 > 1e-5) bad = 1 }
        END { exit !(n == 3 && !bad) }' "$TMP/ft1.out"; then ok; else
    bad "network finetune: merged and unmerged predictions or W0 differ"; fi
for name in layers.0.weight layers.1.bias; do
    if grep -q "\"$name\"" "$NET.ft1/base.safetensors"; then ok; else bad "network finetune: no $name in base.safetensors"; fi
done
for name in base_model.model.layers.0.lora_A.weight base_model.model.layers.1.lora_B.weight; do
    if grep -q "\"$name\"" "$NET.ft1/adapters/lora_r2/adapter_model.safetensors"; then ok; else
        bad "network finetune: no $name in the adapter"; fi
done
if grep -q '"target_modules": \["layers.0", "layers.1"\]' "$NET.ft1/adapters/lora_r2/adapter_config.json" &&
   grep -q '"layers.1.base_layer.weight"' "$NET.ft1/weights/lora_r2.final.safetensors"; then ok; else
    bad "network finetune: target_modules or base_layer names"; fi

finish
