#!/bin/sh
# bad_inputs.sh - run lora_demo on bad input of every kind and print what it
# did, as the Markdown tables of tests/README.md ("Bad inputs tried").
#
# usage: sh tests/bad_inputs.sh ./lora_demo > /tmp/bad.md
# Works in tests/tmp/bad (relative paths, so the messages do not depend on
# where the tree is). Each row: the input, the exit status, and the first
# line of stderr (or a note). Not part of make test: tests/cli_test.sh,
# data_test.sh and fault_test.sh assert the same behaviour; this only
# records it.
set -u
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
W=tests/tmp/bad
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 1

# row "shown input" CMD...: run, print | input | exit | message |
row() {
    shown=$1
    shift
    "$@" >out.txt 2>err.txt
    rc=$?
    msg=$(head -n 1 err.txt | sed 's/|/\\|/g')
    [ -n "$msg" ] || msg="(nothing on stderr)"
    printf '| `%s` | %s | %s |\n' "$shown" "$rc" "$msg"
}
header() {
    printf '\n### %s\n\n| input | exit | stderr (first line) |\n| --- | --- | --- |\n' "$1"
}

header "Command line"
for args in "--epochs 10x" "--epochs 0" "--epochs 99999999999999999999" "--seed -1" \
    "--lr nan" "--lr 1e400" "--lr -0.1" "--alpha 0" "--ranks 1,,2" "--ranks 6" "--ranks 1,1" \
    "--batch-size 0" "--threads 0" "--experiment nope" "--noise 0.5" "--bogus" "--e 5" \
    "--rslora=1" "--quiet=1" "-x" "--epochs" "stray" "--seed 18446744073709551615 --repeats 2" \
    "--in 1 --ranks 2" "--test-data t.csv" "--output-dir ''" "--lr 1e-50" "--lr 1e39" \
    "--alpha 1e39 --rslora" "--alpha 2e-38 --rslora" "--experiment finetune --noise 1e20" \
    "--experiment finetune --noise 1e-50" "--experiment finetune --init lora" \
    "--experiment finetune --init pissa_niter_4" "--init pissa" "--loraplus-ratio 0.5" \
    "--lora-dropout 10%" "--dora" "--hidden 4 --dora"; do
    eval "set -- $args"
    row "lora_demo $args" "$BIN" --quiet "$@"
done
row "lora_demo --epochs \$'1\\\\n2'" "$BIN" --quiet --epochs "$(printf '1\n2')"
row "lora_demo --epochs \$'\\\\v5'" "$BIN" --quiet --epochs "$(printf '\v5')"
row "lora_demo --output-dir \$'r\\\\xe9sultats' (Latin-1, not UTF-8)" "$BIN" --quiet \
    --output-dir "$(printf 'r\351sultats')"

header "CSV data (--data)"
printf 'x0,x1,y0\n1,2,3\n4,5\n' >ragged.csv
printf 'x0,y0\n1,abc\n2,3\n' >nonnumber.csv
printf 'x0,y0\n1,nan\n2,3\n' >nan.csv
printf 'x0,y0\n1,1e999\n2,3\n' >overflow.csv
: >empty.csv
printf 'x0,x0,y0\n1,2,3\n' >duplicate.csv
printf 'x0,x2,y0\n1,2,3\n' >gap.csv
printf 'a,b\n1,2\n' >names.csv
printf '"x0,y0\n1,2\n' >quote.csv
printf '1,2\n3,4\n' >noheader.csv
printf 'x0,y0\n1,\0002\n' >nul.csv
printf '\357\273\277' >bom_only.csv
head -c 300 /dev/urandom >garbage.csv 2>/dev/null || printf '\001\002\377' >garbage.csv
printf 'x0,y0\r1,2\r3,4\r' >cr_only.csv
printf '\357\273\277x0,y0\n1,2\n\357\273\277x0,y0\n3,4\n' >two_boms.csv
mkdir adir.csv
for f in ragged nonnumber nan overflow empty duplicate gap names quote noheader nul bom_only garbage \
    cr_only two_boms; do
    row "--data $f.csv" "$BIN" --quiet --data "$f.csv" --output-dir out
done
row "--data missing.csv" "$BIN" --quiet --data missing.csv --output-dir out
row "--data adir.csv (a directory)" "$BIN" --quiet --data adir.csv --output-dir out
printf 'x0,x1,y0\n1,2,3\n4,5,6\n7,8,9\n' >ok.csv
printf 'x0,y0\n1,2\n' >test_other.csv
row "--data ok.csv --test-data test_other.csv (other columns)" "$BIN" --quiet --data ok.csv \
    --test-data test_other.csv --output-dir out
row "--data ok.csv --in 3" "$BIN" --quiet --data ok.csv --in 3 --output-dir out
mkfifo fifo.csv
row "--data fifo.csv (a FIFO)" timeout 5 "$BIN" --quiet --data fifo.csv --output-dir out
row "--data /dev/zero" timeout 5 "$BIN" --quiet --data /dev/zero --output-dir out
printf 'x0,y0\n1,2\n' >big.csv
truncate -s 4G big.csv
row "--data big.csv (4 GiB, sparse)" timeout 5 "$BIN" --quiet --data big.csv --output-dir out
printf 'garbage line\n' >firstline.csv
truncate -s 1G firstline.csv
row "--data firstline.csv (a bad first line, then 1 GiB)" timeout 5 "$BIN" --quiet \
    --data firstline.csv --output-dir out
rm -f big.csv firstline.csv

header "Safetensors weights (--base-weights, finetune)"
st() { # st FILE HEADER [DATA-BYTES]: 8-byte little-endian length, header, data
    n=$(printf '%s' "$2" | wc -c)
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\000\\000\\000\\000' $((n % 256)) $((n / 256 % 256)) \
        $((n / 65536 % 256)) $((n / 16777216)))" >"$1"
    printf '%s' "$2" >>"$1"
    [ $# -lt 3 ] || head -c "$3" /dev/zero >>"$1"
}
printf 'hello' >short.safetensors
printf '\377\377\377\377\377\377\377\377{}' >huge_prefix.safetensors
st notjson.safetensors 'not json'
st dtype.safetensors '{"layer.weight":{"dtype":"F99","shape":[5,10],"data_offsets":[0,200]}}' 200
st shape.safetensors '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]},"layer.bias":{"dtype":"F32","shape":[4],"data_offsets":[200,216]}}' 216
st offsets.safetensors '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,400]}}' 200
st overlap.safetensors '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]},"layer.bias":{"dtype":"F32","shape":[5],"data_offsets":[180,200]}}' 200
st nobias.safetensors '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]}}' 200
st i32.safetensors '{"layer.weight":{"dtype":"I32","shape":[5,10],"data_offsets":[0,200]},"layer.bias":{"dtype":"F32","shape":[5],"data_offsets":[200,220]}}' 220
st overflow.safetensors '{"layer.weight":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}' 16
for f in short huge_prefix notjson dtype shape offsets overlap nobias i32 overflow; do
    row "--base-weights $f.safetensors" "$BIN" --quiet --experiment finetune --base-weights \
        "$f.safetensors" --output-dir out
done
# a network's base (--hidden): layers.<i>.weight (out_i, in_i) and .bias (out_i),
# the shapes chained; net.safetensors is 10 -> 8 -> 5
L0='"layers.0.weight":{"dtype":"F32","shape":[8,10],"data_offsets":[0,320]},"layers.0.bias":{"dtype":"F32","shape":[8],"data_offsets":[320,352]}'
st net.safetensors "{$L0,"'"layers.1.weight":{"dtype":"F32","shape":[5,8],"data_offsets":[352,512]},"layers.1.bias":{"dtype":"F32","shape":[5],"data_offsets":[512,532]}}' 532
st net_chain.safetensors "{$L0,"'"layers.1.weight":{"dtype":"F32","shape":[5,9],"data_offsets":[352,532]},"layers.1.bias":{"dtype":"F32","shape":[5],"data_offsets":[532,552]}}' 552
st net_gap.safetensors "{$L0,"'"layers.2.weight":{"dtype":"F32","shape":[5,8],"data_offsets":[352,512]},"layers.2.bias":{"dtype":"F32","shape":[5],"data_offsets":[512,532]}}' 532
st net_extra.safetensors "{$L0,"'"layers.1.weight":{"dtype":"F32","shape":[5,8],"data_offsets":[352,512]},"layers.1.bias":{"dtype":"F32","shape":[5],"data_offsets":[512,532]},"layers.1.lora_A.weight":{"dtype":"F32","shape":[1,8],"data_offsets":[532,564]}}' 564
st one.safetensors '{"layer.weight":{"dtype":"F32","shape":[5,10],"data_offsets":[0,200]},"layer.bias":{"dtype":"F32","shape":[5],"data_offsets":[200,220]}}' 220
for args in "--base-weights net.safetensors" "--hidden 16 --base-weights net.safetensors" \
    "--hidden 8,8 --base-weights net.safetensors" "--hidden 8 --in 7 --base-weights net.safetensors" \
    "--hidden 8 --base-weights net_chain.safetensors" "--hidden 8 --base-weights net_gap.safetensors" \
    "--hidden 8 --base-weights net_extra.safetensors" "--hidden 8 --base-weights one.safetensors"; do
    eval "set -- $args"
    row "$args" "$BIN" --quiet --experiment finetune "$@" --output-dir out
done
row "--base-weights ok.csv (a CSV file)" "$BIN" --quiet --experiment finetune --base-weights ok.csv \
    --output-dir out
row "--base-weights (scratch)" "$BIN" --quiet --base-weights short.safetensors --output-dir out
row "--base-weights fifo.csv (a FIFO)" timeout 5 "$BIN" --quiet --experiment finetune \
    --base-weights fifo.csv --output-dir out
row "--base-weights /dev/zero" timeout 5 "$BIN" --quiet --experiment finetune \
    --base-weights /dev/zero --output-dir out

header "Output directory"
: >afile
row "--output-dir afile/sub (a file in the way)" "$BIN" --quiet --epochs 1 --output-dir afile/sub

mkdir -p blocked/losses.csv/x
row "--output-dir blocked (blocked/losses.csv is a directory)" "$BIN" --quiet --epochs 2 \
    --output-dir blocked
header "Write errors"
long=long
i=0
while [ $i -lt 20 ]; do long=$long/$(printf '%0199d' 0); i=$((i + 1)); done
mkdir -p "$long/losses.csv/x"
# only the end of the message: the path is 4000 characters
"$BIN" --quiet --epochs 2 --output-dir "$long" 2>err.txt
printf '| `%s` | %s | %s |\n' "--output-dir long/000.../000 (4000 characters; losses.csv a directory)" "$?" \
    "lora_demo: long/000...$(head -n 1 err.txt | tail -c 60)"
row "ulimit -f 16; --epochs 2000 --output-dir fsize" sh -c \
    'ulimit -f 16 && exec "$1" --quiet --epochs 2000 --output-dir fsize' sh "$BIN"
mkdir disk
if unshare -rm true 2>/dev/null; then
    row "--epochs 300 --save-data --save-weights --output-dir disk/out (a 64 KiB tmpfs)" \
        unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" --quiet --epochs 300 \
            --save-data --save-weights --output-dir "$1/out"' sh disk "$BIN"
fi
row "--epochs 2 --output-dir out >/dev/full" sh -c 'exec "$1" --epochs 2 --output-dir out >/dev/full' sh "$BIN"
row "--help >/dev/full" sh -c 'exec "$1" --help >/dev/full' sh "$BIN"
row "--version >&- (stdout closed)" sh -c 'exec "$1" --version >&-' sh "$BIN"

mkdir -p wfile foreign/weights
: >wfile/weights
row "--save-weights --output-dir wfile (wfile/weights is a file)" "$BIN" --quiet --save-weights \
    --output-dir wfile
: >foreign/weights/notes.txt
row "--save-weights --output-dir foreign (foreign/weights/notes.txt)" "$BIN" --quiet \
    --save-weights --output-dir foreign
"$BIN" --quiet --experiment finetune --epochs 2 --pretrain-epochs 2 --save-data --save-weights \
    --output-dir in
row "--data in/train.csv --save-data --output-dir in" "$BIN" --quiet --data in/train.csv \
    --save-data --output-dir in
ln -s in/train.csv link.csv
row "--data link.csv --save-data --output-dir in (link.csv -> in/train.csv)" "$BIN" --quiet \
    --data link.csv --save-data --output-dir in
row "--experiment finetune --base-weights in/base.safetensors --save-weights --output-dir in" \
    "$BIN" --quiet --experiment finetune --base-weights in/base.safetensors --save-weights \
    --output-dir in

header "Memory"
row "--in 100000 --out 100000 --samples 100000" "$BIN" --quiet --in 100000 --out 100000 \
    --samples 100000 --output-dir out
row "--in 2147483647 --out 2147483647 --samples 2147483647 --ranks 1" "$BIN" --quiet \
    --in 2147483647 --out 2147483647 --samples 2147483647 --ranks 1 --output-dir out
row "--repeats 2000000000 --epochs 2000000000" "$BIN" --quiet --repeats 2000000000 \
    --epochs 2000000000 --output-dir out

header "Divergence (exit 0: reported, not a failure)"
row "--lr 1e10" "$BIN" --quiet --lr 1e10 --output-dir div1
row "--lr 1e38" "$BIN" --quiet --lr 1e38 --output-dir div2
row "--experiment finetune --lr 1e38 --pretrain-epochs 3 --epochs 3" "$BIN" --quiet \
    --experiment finetune --lr 1e38 --pretrain-epochs 3 --epochs 3 --output-dir div3
row "--lr 1e6 (large, but no overflow)" "$BIN" --quiet --lr 1e6 --output-dir div4

# signal NAME SIG DELAY: start a long run, wait until its output directory
# exists (the SIGINT handler is installed before it is created), let it
# train DELAY seconds, send SIG, and report the exit status and stderr
signal() {
    shown=$1
    sig=$2
    delay=$3
    rm -rf sig
    "$BIN" --quiet --samples 20000 --epochs 2000 --output-dir sig >out.txt 2>err.txt &
    pid=$!
    i=0
    while [ ! -d sig ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    sleep "$delay"
    kill -s "$sig" $pid
    [ "$sig" != INT2 ] || true
    wait $pid
    rc=$?
    msg=$(head -n 1 err.txt)
    [ -n "$msg" ] || msg="(nothing on stderr)"
    files=$(ls -A sig 2>/dev/null | tr '\n' ' ')
    printf '| %s | %s | %s; files: %s |\n' "$shown" "$rc" "$msg" "${files:-none}"
}
header "Signals (a run of about 10 s)"
signal "SIGINT after 1 s" INT 1
signal "SIGKILL after 1 s" KILL 1
signal "SIGTERM after 1 s (not handled: default action)" TERM 1
# two SIGINTs: the first stops training, the second, 50 ms later, finds the
# default action (SA_RESETHAND) and ends the process while it writes its
# files (a run whose writing takes a few hundred ms)
rm -rf sig
"$BIN" --quiet --epochs 200000 --samples 10 --output-dir sig >out.txt 2>err.txt &
pid=$!
i=0
while [ ! -d sig ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
sleep 0.05
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
msg=$(head -n 1 err.txt)
files=$(ls -A sig 2>/dev/null | tr '\n' ' ')
printf '| %s | %s | %s; files: %s |\n' "SIGINT, and again 50 ms later (while writing)" "$rc" \
    "${msg:-(nothing on stderr)}" "${files:-none}"
