#!/bin/sh
# data_test.sh - data and weights in and out, end to end: the --save-data /
# --data round trip (byte-identical losses.csv, both experiments), the
# --base-weights round trip, the held-out split, and bad CSV and safetensors
# inputs (exit 2, one line naming the file, nothing trained, nothing written).
#
# usage: sh tests/data_test.sh ./lora_demo
# Prints one line per failure and ends with "data: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/data
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=data
. tests/lib.sh

# same A B WHAT: files A and B are byte-identical.
same() {
    if cmp -s "$1" "$2"; then ok; else bad "$3: $1 and $2 differ"; fi
}

# run ARGS...: a quiet run that must succeed.
run() {
    "$BIN" --quiet "$@" 2>"$TMP/run.err" || bad "'$*' failed: $(cat "$TMP/run.err")"
}

# expect_bad NEEDLE ARGS...: exit 2, one line on stderr containing NEEDLE,
# nothing on stdout (nothing trained), no output directory (nothing written),
# within TIMEOUT seconds (a run that hangs fails with 124 instead).
TIMEOUT=60
expect_bad() {
    needle=$1
    shift
    rm -rf "$TMP/never"
    timeout "$TIMEOUT" "$BIN" --output-dir "$TMP/never" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ "$rc" -ne 2 ]; then
        bad "'$*': exit $rc, want 2 ($(cat "$TMP/stderr"))"
    elif [ "$(wc -l <"$TMP/stderr")" -ne 1 ] || ! grep -qF -- "$needle" "$TMP/stderr"; then
        bad "'$*': stderr should be one line containing '$needle', got: $(cat "$TMP/stderr")"
    elif [ -s "$TMP/stdout" ]; then
        bad "'$*': printed on stdout"
    elif [ -e "$TMP/never" ]; then
        bad "'$*': created the output directory"
    else
        ok
    fi
}

# ---------------------------------------------------------------------------
# round trips

# scratch, default data (and mini-batches: shuffling has its own stream)
run --save-data --output-dir "$TMP/s1"
run --data "$TMP/s1/train.csv" --test-data "$TMP/s1/test.csv" --output-dir "$TMP/s2"
same "$TMP/s1/losses.csv" "$TMP/s2/losses.csv" "scratch --save-data / --data round trip"
run --save-data --batch-size 16 --seed 3 --epochs 30 --output-dir "$TMP/s3"
run --data "$TMP/s3/train.csv" --test-data "$TMP/s3/test.csv" --batch-size 16 --seed 3 --epochs 30 \
    --output-dir "$TMP/s4"
same "$TMP/s3/losses.csv" "$TMP/s4/losses.csv" "scratch mini-batch round trip"
if [ "$(wc -l <"$TMP/s1/train.csv")" -eq 101 ] && [ "$(wc -l <"$TMP/s1/test.csv")" -eq 21 ] &&
   [ "$(head -n 1 "$TMP/s1/train.csv")" = "x0,x1,x2,x3,x4,x5,x6,x7,x8,x9,y0,y1,y2,y3,y4" ]; then ok; else
    bad "train.csv/test.csv layout"; fi
# the same data without a header, split by --in/--out
tail -n +2 "$TMP/s1/train.csv" >"$TMP/train_nohdr.csv"
tail -n +2 "$TMP/s1/test.csv" >"$TMP/test_nohdr.csv"
run --data "$TMP/train_nohdr.csv" --test-data "$TMP/test_nohdr.csv" --in 10 --out 5 --output-dir "$TMP/s5"
same "$TMP/s1/losses.csv" "$TMP/s5/losses.csv" "header-less round trip"
# CRLF line ends, a byte order mark, quoted cells: the same numbers
{ printf '\357\273\277'; sed 's/$/\r/; s/^\([^,]*\),/"\1",/' "$TMP/s1/train.csv"; } >"$TMP/train_crlf.csv"
run --data "$TMP/train_crlf.csv" --test-data "$TMP/s1/test.csv" --output-dir "$TMP/s6"
same "$TMP/s1/losses.csv" "$TMP/s6/losses.csv" "CRLF/BOM/quoted round trip"

# finetune, default data: --data replaces task 2's data, --base-weights the pretraining
run --experiment finetune --save-data --save-weights --output-dir "$TMP/f1"
run --experiment finetune --data "$TMP/f1/train.csv" --test-data "$TMP/f1/test.csv" \
    --base-weights "$TMP/f1/base.safetensors" --output-dir "$TMP/f2"
same "$TMP/f1/losses.csv" "$TMP/f2/losses.csv" "finetune --save-data / --data round trip"
# --base-weights alone: the teacher's data as before, the saved base instead of pretraining
run --experiment finetune --base-weights "$TMP/f1/base.safetensors" --output-dir "$TMP/f3"
same "$TMP/f1/losses.csv" "$TMP/f3/losses.csv" "--base-weights round trip"
grep -o '"test_loss": [^,]*' "$TMP/f1/summary.json" >"$TMP/f1.test"
grep -o '"test_loss": [^,]*' "$TMP/f3/summary.json" >"$TMP/f3.test"
same "$TMP/f1.test" "$TMP/f3.test" "--base-weights round trip: held-out MSE"
if [ "$(wc -l <"$TMP/f1/train.csv")" -eq 501 ] && [ "$(wc -l <"$TMP/f1/test.csv")" -eq 1001 ]; then ok; else
    bad "finetune --save-data: task 2's 500 + 1000 rows"; fi
# a dense weights file (weight/bias) is a base too
run --experiment finetune --epochs 5 --base-weights "$TMP/f1/weights/dense.final.safetensors" \
    --output-dir "$TMP/f4"

# ---------------------------------------------------------------------------
# the held-out split of --data

run --data "$TMP/s1/train.csv" --save-data --epochs 5 --output-dir "$TMP/h1"
run --data "$TMP/s1/train.csv" --save-data --epochs 5 --output-dir "$TMP/h2"
run --data "$TMP/s1/train.csv" --save-data --epochs 5 --seed 43 --output-dir "$TMP/h3"
if [ "$(wc -l <"$TMP/h1/train.csv")" -eq 81 ] && [ "$(wc -l <"$TMP/h1/test.csv")" -eq 21 ]; then ok; else
    bad "20% of 100 rows held out"; fi
same "$TMP/h1/test.csv" "$TMP/h2/test.csv" "same seed, same held-out rows"
if ! cmp -s "$TMP/h1/test.csv" "$TMP/h3/test.csv"; then ok; else bad "another seed, the same held-out rows"; fi
# together the two parts are the file's rows, in order
sort "$TMP/h1/train.csv" "$TMP/h1/test.csv" | uniq >"$TMP/h1.rows"
sort "$TMP/s1/train.csv" >"$TMP/s1.rows"
same "$TMP/h1.rows" "$TMP/s1.rows" "held-out split: the parts make up the file"
run --data "$TMP/s1/train.csv" --test-samples 7 --save-data --epochs 5 --output-dir "$TMP/h4"
if [ "$(wc -l <"$TMP/h4/test.csv")" -eq 8 ] && grep -q '"test_samples": 7' "$TMP/h4/summary.json" &&
   grep -q '"samples": 93' "$TMP/h4/summary.json"; then ok; else bad "--test-samples with --data"; fi

# ---------------------------------------------------------------------------
# bad CSV input

printf 'x0,x1,y0\n1,2,3\n4,5\n' >"$TMP/ragged.csv"
printf 'x0,x1,y0\n1,2,3\n4,abc,6\n' >"$TMP/word.csv"
printf 'x0,x1,y0\n1,nan,3\n' >"$TMP/nan.csv"
printf 'x0,x1,y0\n1,inf,3\n' >"$TMP/inf.csv"
printf 'x0,x2,y0\n1,2,3\n4,5,6\n' >"$TMP/gap.csv"
printf 'x0,x1,t\n1,2,3\n4,5,6\n' >"$TMP/names.csv"
printf 'x0,x1,x2,y0\n1,2,3,4\n' >"$TMP/three.csv"
printf 'x0,x1,y0\n1,2,3\n' >"$TMP/one.csv"
expect_bad "$TMP/ragged.csv:3:" --data "$TMP/ragged.csv"
expect_bad "$TMP/word.csv:3:2: not a number: 'abc'" --data "$TMP/word.csv"
expect_bad "$TMP/nan.csv:2:2: NaN/Inf" --data "$TMP/nan.csv"
expect_bad "$TMP/inf.csv:2:2: NaN/Inf" --data "$TMP/inf.csv"
expect_bad "$TMP/gap.csv: header has x2 but no x1" --data "$TMP/gap.csv"
expect_bad "$TMP/names.csv: unknown column 't'" --data "$TMP/names.csv"
expect_bad "$TMP/s1/train.csv: header has 10 input columns but --in is 8" --data "$TMP/s1/train.csv" --in 8
expect_bad "$TMP/s1/train.csv: header has 5 output columns but --out is 4" --data "$TMP/s1/train.csv" --out 4
expect_bad "--samples: 50, but $TMP/s1/train.csv has 80 training rows" --data "$TMP/s1/train.csv" --samples 50
expect_bad "$TMP/three.csv: 3 inputs and 1 outputs, but $TMP/one.csv has 2 and 1" --data "$TMP/one.csv" \
    --test-data "$TMP/three.csv"
expect_bad "$TMP/one.csv: 1 data row" --data "$TMP/one.csv"
expect_bad "$TMP/train_nohdr.csv: no header, so --in and --out" --data "$TMP/train_nohdr.csv"
expect_bad "$TMP/ragged.csv:3:" --data "$TMP/s1/train.csv" --test-data "$TMP/ragged.csv"
expect_bad "$TMP/missing.csv: No such file" --data "$TMP/missing.csv"
expect_bad "rank 2 exceeds min(--in, --out) = 1 (in 2, out 1 from $TMP/one.csv)" --data "$TMP/one.csv" \
    --test-data "$TMP/one.csv" --ranks 1,2
# old Mac CR-only line ends, and a second byte order mark (two exported
# files joined): a message that says so, not one about a column name
tr '\n' '\r' <"$TMP/s1/train.csv" >"$TMP/cr_only.csv"
{ printf '\357\273\277'; cat "$TMP/s1/train.csv"; printf '\357\273\277'; tail -n +2 "$TMP/s1/test.csv"; } \
    >"$TMP/two_boms.csv"
expect_bad "$TMP/cr_only.csv:1:15: carriage return inside a line (old Mac CR-only line ends?); lines must end in LF or CRLF" \
    --data "$TMP/cr_only.csv"
expect_bad "$TMP/two_boms.csv:102:1: byte order mark (U+FEFF) inside the file; only its very start may have one" \
    --data "$TMP/two_boms.csv"
expect_bad "$TMP/cr_only.csv:1:15: carriage return inside a line" --data "$TMP/s1/train.csv" \
    --test-data "$TMP/cr_only.csv"

# ---------------------------------------------------------------------------
# bad safetensors input for --base-weights

# mkst FILE HEADER NBYTES: the 8-byte little-endian header length, the
# header, then NBYTES zero bytes of data.
mkst() {
    n=$(printf '%s' "$2" | wc -c)
    le=
    i=0
    while [ $i -lt 8 ]; do
        le="$le$(printf '\\%03o' $((n % 256)))"
        n=$((n / 256))
        i=$((i + 1))
    done
    printf "$le" >"$1"
    printf '%s' "$2" >>"$1"
    head -c "$3" /dev/zero >>"$1"
}
W='"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]}'
B='"layer.bias":{"dtype":"F32","shape":[5],"data_offsets":[200,220]}'
mkst "$TMP/good.st" "{$W,$B}" 220
FT="--experiment finetune --epochs 3"
run $FT --base-weights "$TMP/good.st" --output-dir "$TMP/g"
# JSON whitespace before the header's '{' (and after its '}'), as the
# reference reader accepts: the same base, the same run
mkst "$TMP/ws.st" "$(printf ' \n\t\r')""{$W,$B}"' ' 220
run $FT --base-weights "$TMP/ws.st" --output-dir "$TMP/ws"
same "$TMP/g/losses.csv" "$TMP/ws/losses.csv" "--base-weights with whitespace around the header"
head -c 100 "$TMP/f1/base.safetensors" >"$TMP/truncated.st"
mkst "$TMP/json.st" '{"layer.weight":{"dtype":"F32",' 0
mkst "$TMP/dtype.st" '{"layer.weight":{"dtype":"F16","shape":[5,10],"data_offsets":[0,100]},'"$(printf '%s' "$B" | sed 's/200,220/100,120/')}" 120
mkst "$TMP/shape.st" "{$W,"'"layer.bias":{"dtype":"F32","shape":[4],"data_offsets":[200,216]}}' 216
mkst "$TMP/range.st" "{$W,$B}" 100
mkst "$TMP/overlap.st" '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]},"layer.bias":{"dtype":"F32","shape":[5],"data_offsets":[100,120]}}' 200
mkst "$TMP/nobias.st" "{$W}" 200
mkst "$TMP/none.st" '{"w":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]}}' 200
: >"$TMP/empty.st"
expect_bad "$TMP/truncated.st:" $FT --base-weights "$TMP/truncated.st"
expect_bad "$TMP/json.st: " $FT --base-weights "$TMP/json.st"
expect_bad "$TMP/dtype.st: tensor \"layer.weight\" has dtype F16, expected F32" $FT --base-weights "$TMP/dtype.st"
expect_bad "$TMP/shape.st: tensor \"layer.bias\" has shape [4], expected [5]" $FT --base-weights "$TMP/shape.st"
expect_bad "$TMP/good.st: tensor \"layer.weight\" has shape [5, 10], expected [5, 8]" $FT --in 8 \
    --base-weights "$TMP/good.st"
expect_bad "$TMP/range.st: " $FT --base-weights "$TMP/range.st"
expect_bad "$TMP/overlap.st: " $FT --base-weights "$TMP/overlap.st"
expect_bad "$TMP/nobias.st: no tensor named \"layer.bias\"" $FT --base-weights "$TMP/nobias.st"
expect_bad "$TMP/none.st: no tensor \"layer.weight\" or \"weight\"" $FT --base-weights "$TMP/none.st"
expect_bad "$TMP/empty.st: " $FT --base-weights "$TMP/empty.st"
expect_bad "$TMP/missing.st: No such file" $FT --base-weights "$TMP/missing.st"
expect_bad "$TMP/good.st: tensor \"layer.weight\" has shape [5, 10], expected [1, 2]" $FT \
    --data "$TMP/one.csv" --test-data "$TMP/one.csv" --ranks 1 --base-weights "$TMP/good.st"
# the messages say why
expect_bad "$TMP/truncated.st: header length 200 is larger than" $FT --base-weights "$TMP/truncated.st"
expect_bad "beyond the data buffer" $FT --base-weights "$TMP/range.st"
expect_bad "overlap tensor" $FT --base-weights "$TMP/overlap.st"
expect_bad "not valid JSON" $FT --base-weights "$TMP/json.st"

# paths are printed on stdout by the rule of every message: a newline in a
# file name is shown as '?', and the table's header stays one line per item
nlcsv=$TMP/$(printf 'one\ncopy.csv')
cp "$TMP/one.csv" "$nlcsv"
"$BIN" --epochs 2 --ranks 1 --data "$nlcsv" --test-data "$nlcsv" --output-dir "$TMP/nl" >"$TMP/nl.out" 2>&1
if grep -qx "data from $TMP/one?copy.csv, held out: $TMP/one?copy.csv" "$TMP/nl.out" &&
   ! grep -q '^copy.csv' "$TMP/nl.out"; then ok; else bad "a newline in --data on stdout: $(head -n 3 "$TMP/nl.out")"; fi
nlst=$TMP/$(printf 'good\nbase.st')
cp "$TMP/good.st" "$nlst"
"$BIN" $FT --base-weights "$nlst" --output-dir "$TMP/nl2" >"$TMP/nl2.out" 2>&1
if grep -q "^base from $TMP/good?base.st, fine-tune 3 epochs" "$TMP/nl2.out" &&
   ! grep -q '^base.st' "$TMP/nl2.out"; then ok; else bad "a newline in --base-weights on stdout: $(head -n 3 "$TMP/nl2.out")"; fi

# ---------------------------------------------------------------------------
# a network's base (--hidden): --hidden must be given and match the file

NFT="--experiment finetune --hidden 8 --samples 200 --test-samples 100 --epochs 20 --ranks 1,2"
run $NFT --pretrain-epochs 50 --save-data --save-weights --output-dir "$TMP/n1"
# the saved base instead of pretraining: task 2 is drawn from it as from the
# pretrained network, so every model fine-tunes as in the first run
run $NFT --base-weights "$TMP/n1/base.safetensors" --save-weights --output-dir "$TMP/n2"
same "$TMP/n1/losses.csv" "$TMP/n2/losses.csv" "network --base-weights round trip"
same "$TMP/n1/base.safetensors" "$TMP/n2/base.safetensors" "network --base-weights: base.safetensors written back"
grep -o '"test_loss[_a-z]*": [^,]*' "$TMP/n1/summary.json" | grep -v per_seed >"$TMP/n1.test"
grep -o '"test_loss[_a-z]*": [^,]*' "$TMP/n2/summary.json" | grep -v per_seed >"$TMP/n2.test"
if [ "$(grep -c test_loss_before "$TMP/n1.test")" -eq 3 ]; then ok; else bad "network: no test_loss_before"; fi
same "$TMP/n1.test" "$TMP/n2.test" "network --base-weights round trip: MSE before and after"
if grep -q '"pretrain": {"epochs": null' "$TMP/n2/summary.json"; then ok; else
    bad "network --base-weights: something was pretrained"; fi
# with --data: the data's columns fix the first layer's in and the last one's out
run $NFT --data "$TMP/n1/train.csv" --test-data "$TMP/n1/test.csv" \
    --base-weights "$TMP/n1/base.safetensors" --output-dir "$TMP/n3"
same "$TMP/n1/losses.csv" "$TMP/n3/losses.csv" "network --data / --base-weights round trip"
# a fully fine-tuned network (layers.<i>.weight, .bias) is a base too
run $NFT --epochs 2 --base-weights "$TMP/n1/weights/dense.final.safetensors" --output-dir "$TMP/n4"
NB="$TMP/n1/base.safetensors"
expect_bad "$NB: a network's base (10 -> 8 -> 5), but no --hidden: give --hidden 8 to use it" \
    --experiment finetune --base-weights "$NB"
expect_bad "$NB: layers.0.weight is (8, 10) but --hidden 16 needs (16, 10)" \
    --experiment finetune --hidden 16 --base-weights "$NB"
expect_bad "$NB: 2 layers (10 -> 8 -> 5), but --hidden 8,8 needs 3" \
    --experiment finetune --hidden 8,8 --base-weights "$NB"
expect_bad "$NB: layers.0.weight is (8, 10) but --in 7 needs (8, 7)" $NFT --in 7 --base-weights "$NB"
expect_bad "$NB: layers.1.weight is (5, 8) but --out 3 needs (3, 8)" $NFT --out 3 --base-weights "$NB"
expect_bad "$NB: layers.0.weight is (8, 10) but the 2 inputs of $TMP/one.csv need (8, 2)" \
    --experiment finetune --hidden 8 --ranks 1 --data "$TMP/one.csv" --test-data "$TMP/one.csv" \
    --base-weights "$NB"
cut -d, -f1-13 "$TMP/n1/train.csv" >"$TMP/n_out3.csv"
expect_bad "$NB: layers.1.weight is (5, 8) but the 3 outputs of $TMP/n_out3.csv need (3, 8)" \
    --experiment finetune --hidden 8 --ranks 1 --data "$TMP/n_out3.csv" --base-weights "$NB"
expect_bad "$TMP/good.st: one layer's base (\"layer.weight\"), but --hidden 8 needs a network's: layers.0.weight to layers.1.weight" \
    $FT --hidden 8 --base-weights "$TMP/good.st"
expect_bad "$TMP/none.st: no tensor \"layers.0.weight\" (--hidden 8,4 needs layers.0 to layers.2)" \
    $FT --hidden 8,4 --base-weights "$TMP/none.st"
expect_bad "$TMP/n1/weights/lora_r1.final.safetensors: tensor \"layers.0.base_layer.weight\" is not part of a network's base" \
    $FT --hidden 8 --base-weights "$TMP/n1/weights/lora_r1.final.safetensors"
# nlst FILE TENSOR...: a network's base of zeros; each TENSOR is NAME:DIMS
# (F32, or F16 as NAME=F16; DIMS comma-separated), laid out in turn
nlst() {
    out=$1
    shift
    hdr=
    off=0
    for t in "$@"; do
        name=${t%%:*}
        dims=${t#*:}
        dt=F32 size=4
        case $name in *=F16) dt=F16 size=2 name=${name%=F16} ;; esac
        n=$(echo "$dims" | tr , '*')
        end=$((off + size * $n))
        hdr="$hdr${hdr:+,}\"$name\":{\"dtype\":\"$dt\",\"shape\":[$dims],\"data_offsets\":[$off,$end]}"
        off=$end
    done
    mkst "$out" "{$hdr}" "$off"
}
nlst "$TMP/n_ok.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:5,8 layers.1.bias:5
run $FT --hidden 8 --ranks 1,2 --base-weights "$TMP/n_ok.st" --output-dir "$TMP/n5"
nlst "$TMP/n_chain.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:5,9 layers.1.bias:5
expect_bad "$TMP/n_chain.st: layers.1.weight is (5, 9) but layers.0.weight's 8 outputs need (5, 8)" \
    $FT --hidden 8 --base-weights "$TMP/n_chain.st"
nlst "$TMP/n_gap.st" layers.0.weight:8,10 layers.0.bias:8 layers.2.weight:5,8 layers.2.bias:5
expect_bad "$TMP/n_gap.st: no tensor \"layers.1.weight\" (the file has layers up to layers.2)" \
    $FT --hidden 8 --base-weights "$TMP/n_gap.st"
nlst "$TMP/n_nobias.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:5,8
expect_bad "$TMP/n_nobias.st: no tensor \"layers.1.bias\"" $FT --hidden 8 --base-weights "$TMP/n_nobias.st"
nlst "$TMP/n_bias.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:5,8 layers.1.bias:4
expect_bad "$TMP/n_bias.st: tensor \"layers.1.bias\" has shape [4], expected [5]" \
    $FT --hidden 8 --base-weights "$TMP/n_bias.st"
nlst "$TMP/n_extra.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:5,8 layers.1.bias:5 layer.weight:5,8
expect_bad "$TMP/n_extra.st: tensor \"layer.weight\" is not part of a network's base" \
    $FT --hidden 8 --base-weights "$TMP/n_extra.st"
nlst "$TMP/n_zero.st" layers.00.weight:8,10 layers.0.bias:8 layers.1.weight:5,8 layers.1.bias:5
expect_bad "$TMP/n_zero.st: tensor \"layers.00.weight\" is not part of a network's base" \
    $FT --hidden 8 --base-weights "$TMP/n_zero.st"
nlst "$TMP/n_many.st" layers.0.weight:8,10 layers.0.bias:8 layers.8.weight:5,8 layers.8.bias:5
expect_bad "$TMP/n_many.st: tensor \"layers.8.weight\": a network has at most 8 layers" \
    $FT --hidden 8 --base-weights "$TMP/n_many.st"
nlst "$TMP/n_one.st" layers.0.weight:5,10 layers.0.bias:5
expect_bad "$TMP/n_one.st: a network's base of one layer (layers.0, 10 -> 5)" $FT --base-weights "$TMP/n_one.st"
nlst "$TMP/n_1d.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight:40 layers.1.bias:5
expect_bad "$TMP/n_1d.st: tensor \"layers.1.weight\" is not (out, in)" $FT --hidden 8 --base-weights "$TMP/n_1d.st"
nlst "$TMP/n_f16.st" layers.0.weight:8,10 layers.0.bias:8 layers.1.weight=F16:5,8 layers.1.bias:5
expect_bad "$TMP/n_f16.st: tensor \"layers.1.weight\" has dtype F16, expected F32" \
    $FT --hidden 8 --base-weights "$TMP/n_f16.st"

# ---------------------------------------------------------------------------
# inputs that are not regular files, or too large: refused at once, before a
# byte is read (a FIFO would block the open, /dev/zero fill memory)

TIMEOUT=5
mkfifo "$TMP/fifo.csv"
expect_bad "$TMP/fifo.csv: not a regular file (a FIFO)" --data "$TMP/fifo.csv"
expect_bad "$TMP/fifo.csv: not a regular file (a FIFO)" --data "$TMP/one.csv" --test-data "$TMP/fifo.csv"
expect_bad "$TMP/fifo.csv: not a regular file (a FIFO)" $FT --base-weights "$TMP/fifo.csv"
expect_bad "/dev/zero: not a regular file (a character device)" --data /dev/zero
expect_bad "/dev/zero: not a regular file (a character device)" $FT --base-weights /dev/zero
expect_bad "/dev/null: not a regular file (a character device)" --data /dev/null
# larger than the 1 GiB limit (sparse: no disk used): refused by its size
printf 'x0,y0\n1,2\n' >"$TMP/big.csv"
truncate -s 4G "$TMP/big.csv"
expect_bad "$TMP/big.csv: file is 4294967296 bytes, more than the 1073741824-byte limit" --data "$TMP/big.csv"
cp "$TMP/good.st" "$TMP/big.st"
truncate -s 1073741825 "$TMP/big.st"
expect_bad "$TMP/big.st: file is 1073741825 bytes, more than the 1073741824-byte limit" $FT \
    --base-weights "$TMP/big.st"
# at the limit, but the first line is not ours: refused by the first line,
# not after reading a gigabyte of NUL bytes (test_csv.c counts the bytes read)
printf 'garbage line\n' >"$TMP/garbage.csv"
truncate -s 1G "$TMP/garbage.csv"
expect_bad "$TMP/garbage.csv: unknown column 'garbage line' (column 1)" --data "$TMP/garbage.csv"
printf '"unclosed\n' >"$TMP/quote.csv"
truncate -s 1G "$TMP/quote.csv"
expect_bad "$TMP/quote.csv:1:1: unterminated quoted cell" --data "$TMP/quote.csv"
# a 50 MB safetensors header that does not start like a JSON object, in a
# 1 GiB file: refused by its first bytes
printf '\200\360\372\002\0\0\0\0not json' >"$TMP/garbage.st"
truncate -s 1G "$TMP/garbage.st"
expect_bad "$TMP/garbage.st: header does not start with '{'" $FT --base-weights "$TMP/garbage.st"
rm -f "$TMP/big.csv" "$TMP/big.st" "$TMP/garbage.csv" "$TMP/quote.csv" "$TMP/garbage.st"
TIMEOUT=60

# ---------------------------------------------------------------------------
# options that do not go together

expect_bad "--test-data: needs --data" --test-data "$TMP/one.csv"
expect_bad "--data: --experiment finetune needs --base-weights" --experiment finetune --data "$TMP/one.csv"
expect_bad "--noise: not used with --data" --experiment finetune --data "$TMP/one.csv" \
    --base-weights "$TMP/good.st" --noise 0.1
expect_bad "--delta-rank: not used with --data" --experiment finetune --data "$TMP/one.csv" \
    --base-weights "$TMP/good.st" --delta-rank 1
expect_bad "--pretrain-epochs: not used with --base-weights" --experiment finetune \
    --base-weights "$TMP/good.st" --pretrain-epochs 10
expect_bad "--base-weights: only used by --experiment finetune" --base-weights "$TMP/good.st"
expect_bad "--data: empty path" --data ""

finish
