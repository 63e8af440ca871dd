#!/bin/sh
# outputs_test.sh - result sets you can trust (docs/faults.md, "Result
# sets"): a run that fails while writing leaves the previous set whole (a
# full tmpfs), no earlier run's file stays under a summary that claims it
# (a diverging --save-weights run after a full one), what is in the way is
# refused before training, inputs are never overwritten (by path, symlink
# or hard link: exit 2, nothing written), a symlink at a predictable
# temporary name is not followed, and two runs with the same PID writing to
# one directory at once end with one whole set.
#
# usage: sh tests/outputs_test.sh ./lora_demo build/check_outputs
# The tmpfs and PID-namespace cases need unshare (root, or user
# namespaces); where it is not allowed they say so and are skipped.
# Prints one line per failure and ends with "outputs: N passed, M failed".
set -u

# --- the tmpfs case runs in its own mount namespace (so the mount cannot
# outlive it): this script calls itself with --tmpfs-inner, which prints
# "ok" or "FAIL: why" per check.
if [ "${1:-}" = "--tmpfs-inner" ]; then
    BIN=$2
    T=$3
    m=$T/mnt
    big="--quiet --epochs 3 --in 256 --out 256 --samples 300 --test-samples 10 --ranks 1 --save-weights"
    mount -t tmpfs -o size=2m tmpfs "$m" || { echo "FAIL: mount"; exit 0; }
    "$BIN" $big --seed 1 --output-dir "$m/r" || echo "FAIL: the first run, on an empty tmpfs"
    cp -a "$m/r" "$T/before"
    # Leave about 100 KiB: enough for losses.csv, summary.json and the SVG,
    # not for weights/dense.init.safetensors (260 KiB).
    avail=$(df -Pk "$m" | awk 'NR == 2 { print $4 }')
    head -c $(((avail - 100) * 1024)) /dev/zero >"$m/filler" 2>/dev/null
    "$BIN" $big --seed 2 --output-dir "$m/r" 2>"$T/full.err"
    rc=$?
    if [ "$rc" -eq 1 ]; then echo ok; else echo "FAIL: a full disk while writing: exit $rc, want 1"; fi
    if [ "$(wc -l <"$T/full.err")" -eq 1 ] && grep -q "^lora_demo: $m/r/weights/dense\..*safetensors: " "$T/full.err"; then
        echo ok; else echo "FAIL: a full disk: stderr should name the weights file: $(cat "$T/full.err")"; fi
    if diff -r "$T/before" "$m/r" >"$T/full.diff" 2>&1; then echo ok; else
        echo "FAIL: a full disk: the previous set is not whole: $(head -n 3 "$T/full.diff" | tr '\n' ' ')"; fi
    if [ -z "$(ls -A "$m/r" | grep '^\.lora_demo\.')" ]; then echo ok; else echo "FAIL: a full disk: a staging directory was left"; fi
    # with the space back, the same run goes through
    rm -f "$m/filler"
    if "$BIN" $big --seed 2 --output-dir "$m/r" && ! diff -r -q "$T/before" "$m/r" >/dev/null; then echo ok; else
        echo "FAIL: a full disk: the run after it, with space"; fi
    umount "$m"
    exit 0
fi

BIN=${1:-./lora_demo}
CHECK=${2:-build/check_outputs}
TMP=tests/tmp/outputs
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=outputs
. tests/lib.sh

# snapshot DIR: every name under DIR, and a checksum of every file.
snapshot() {
    (cd "$1" && find . | sort && find . -type f | sort | xargs cksum)
}

# --- a full disk partway through writing (tmpfs of 2 MiB, filled first).
if unshare -m true 2>/dev/null; then ns="unshare -m"; elif unshare -Urm true 2>/dev/null; then ns="unshare -Urm"; else ns=""; fi
mkdir -p "$TMP/full/mnt"
if [ -z "$ns" ]; then
    echo "outputs: skipped the full-tmpfs case: unshare -m is not permitted here (needs root or user namespaces)"
elif ! $ns sh -c "mount -t tmpfs -o size=1m tmpfs '$TMP/full/mnt'" 2>/dev/null; then
    echo "outputs: skipped the full-tmpfs case: mounting a tmpfs is not permitted here"
else
    $ns sh "$0" --tmpfs-inner "$BIN" "$TMP/full" >"$TMP/full.out" 2>"$TMP/full.stderr"
    n_ok=$(grep -c '^ok$' "$TMP/full.out")
    pass=$((pass + n_ok))
    if [ "$n_ok" -eq 0 ]; then bad "full tmpfs: no check ran: $(cat "$TMP/full.stderr")"; fi
    grep '^FAIL' "$TMP/full.out" | while IFS= read -r line; do echo "FAIL outputs: full tmpfs: ${line#FAIL: }" >&2; done
    fail=$((fail + $(grep -c '^FAIL' "$TMP/full.out")))
fi

# --- every model's timings: setup_ms (its trainer's one-time set-up) beside
# train_ms, numbers >= 0, in both experiments; a summary without them fails.
for exp in scratch "finetune --pretrain-epochs 5"; do
    d=$TMP/timings_${exp%% *}
    "$BIN" --quiet --experiment $exp --epochs 5 --output-dir "$d"
    if "$CHECK" --all "$d" 5 && [ "$(grep -c '"setup_ms": [0-9]' "$d/summary.json")" -ge 5 ]; then ok; else
        bad "$exp: summary.json timings: $(grep -o '"setup_ms": [^,]*' "$d/summary.json" | tr '\n' ' ')"; fi
done
sed 's/"setup_ms": [0-9.]*, //' "$TMP/timings_scratch/summary.json" >"$TMP/timings_scratch/summary.new"
mv "$TMP/timings_scratch/summary.new" "$TMP/timings_scratch/summary.json"
if ! "$CHECK" --all "$TMP/timings_scratch" 5 >/dev/null 2>&1; then ok; else
    bad "check_outputs took a summary.json without setup_ms"; fi

# --- a --save-weights run whose LoRA models diverge, after a full one: its
# weights/ and adapters/ replace the old ones whole, so no earlier adapter
# stays under a summary that says "save_weights": true.
d=$TMP/div
"$BIN" --quiet --epochs 20 --save-weights --output-dir "$d"
cp "$d/weights/dense.final.safetensors" "$TMP/div_dense_before"
"$BIN" --quiet --epochs 20 --lr 1e10 --save-weights --output-dir "$d" 2>/dev/null
rc=$?
if [ "$rc" -eq 0 ] && grep -q '"save_weights": true' "$d/summary.json"; then ok; else bad "diverging run: exit $rc"; fi
if [ -d "$d/adapters" ] && [ -z "$(ls -A "$d/adapters")" ]; then ok; else
    bad "diverging run: adapters of an earlier run left: $(ls "$d/adapters" | tr '\n' ' ')"; fi
if [ "$(ls "$d/weights" | tr '\n' ' ')" = "dense.final.safetensors dense.init.safetensors " ] &&
   ! cmp -s "$d/weights/dense.final.safetensors" "$TMP/div_dense_before"; then ok; else
    bad "diverging run: weights/ should hold this run's dense only: $(ls "$d/weights" | tr '\n' ' ')"; fi
# A run without --save-weights leaves weights/ and adapters/ as they were
# (its summary says "save_weights": false); lora_demo deletes nothing it
# does not replace.
snapshot "$d/weights" >"$TMP/div_w1"
"$BIN" --quiet --epochs 20 --output-dir "$d"
snapshot "$d/weights" >"$TMP/div_w2"
if cmp -s "$TMP/div_w1" "$TMP/div_w2" && grep -q '"save_weights": false' "$d/summary.json"; then ok; else
    bad "a run without --save-weights changed weights/"; fi

# finetune --save-weights interrupted while pretraining has no base to
# save: the earlier run's base.safetensors is removed, not left under a
# summary that says "save_weights": true.
d=$TMP/base
"$BIN" --quiet --experiment finetune --epochs 5 --pretrain-epochs 5 --save-weights --output-dir "$d"
"$BIN" --quiet --experiment finetune --epochs 5 --pretrain-epochs 3000000 --samples 20 \
    --save-weights --output-dir "$d" 2>"$TMP/base.err" &
pid=$!
i=0
while [ -z "$(find "$d" -maxdepth 1 -name '.lora_demo.*')" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.2
kill -INT $pid
wait $pid
rc=$?
if [ "$rc" -eq 130 ] && grep -q '"interrupted": true' "$d/summary.json" && [ ! -e "$d/base.safetensors" ] &&
   [ -z "$(ls -A "$d/weights")" ]; then ok; else
    bad "finetune interrupted in pretraining: exit $rc, base.safetensors $([ -e "$d/base.safetensors" ] && echo left || echo gone), stderr $(cat "$TMP/base.err")"; fi

# --- what is in the way is refused before training (exit 1, one line, no
# result written): the run would train 100000 epochs first otherwise.
long="--epochs 100000 --samples 10 --save-weights"
# in_the_way NAME NEEDLE: the output directory $TMP/way/NAME is set up; exit 1,
# one line containing NEEDLE, nothing on stdout, no losses.csv, no staging.
in_the_way() {
    w=$TMP/way/$1
    "$BIN" $long --output-dir "$w" >"$TMP/way.out" 2>"$TMP/way.err"
    rc=$?
    if [ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/way.err")" -eq 1 ] && grep -qF -- "$2" "$TMP/way.err" &&
       [ ! -s "$TMP/way.out" ] && [ ! -e "$w/losses.csv" ] && [ -z "$(ls -A "$w" | grep '^\.lora_demo\.')" ]; then ok; else
        bad "$1 in the way: exit $rc, stderr $(cat "$TMP/way.err"), files $(ls -A "$w" | tr '\n' ' ')"; fi
}
mkdir -p "$TMP/way/file_weights" "$TMP/way/file_adapters" "$TMP/way/foreign/weights" "$TMP/way/link/elsewhere"
echo "mine" >"$TMP/way/file_weights/weights"
in_the_way file_weights "$TMP/way/file_weights/weights: Not a directory"
echo "mine" >"$TMP/way/file_adapters/adapters"
in_the_way file_adapters "$TMP/way/file_adapters/adapters: Not a directory"
echo "mine" >"$TMP/way/foreign/weights/notes.txt"
in_the_way foreign "$TMP/way/foreign/weights/notes.txt: not written by lora_demo"
if [ "$(cat "$TMP/way/foreign/weights/notes.txt")" = "mine" ]; then ok; else bad "weights/notes.txt was touched"; fi
ln -s elsewhere "$TMP/way/link/weights"
in_the_way link "$TMP/way/link/weights: a symbolic link, not a directory"

# --- inputs are never overwritten: an input that the run would replace is
# refused with exit 2, one line naming the option, before anything is
# trained, and the directory is left exactly as it was.
d=$TMP/in
"$BIN" --quiet --experiment finetune --epochs 5 --pretrain-epochs 5 --save-data --save-weights --output-dir "$d"
cp "$d/train.csv" "$TMP/copy.csv"
ln -s in/train.csv "$TMP/link.csv"
ln "$d/test.csv" "$TMP/hard.csv"
snapshot "$d" >"$TMP/in_before"
# refused OPTION ARGS...: exit 2, one line with OPTION, nothing written.
refused() {
    opt=$1
    shift
    "$BIN" "$@" >"$TMP/in.out" 2>"$TMP/in.err"
    rc=$?
    snapshot "$d" >"$TMP/in_after"
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/in.err")" -eq 1 ] && grep -q "^lora_demo: $opt: .*an output of this run" "$TMP/in.err" &&
       [ ! -s "$TMP/in.out" ] && cmp -s "$TMP/in_before" "$TMP/in_after"; then ok; else
        bad "'$*': exit $rc, want 2 with nothing written; stderr $(cat "$TMP/in.err")"; fi
}
refused --data --data "$d/train.csv" --save-data --output-dir "$d"
refused --data --data "$d/train.csv" --save-data --output-dir "$d/./"
refused --data --data "$TMP/link.csv" --save-data --output-dir "$d"
refused --test-data --data "$TMP/copy.csv" --test-data "$TMP/hard.csv" --save-data --output-dir "$d"
refused --base-weights --experiment finetune --base-weights "$d/base.safetensors" --save-weights --output-dir "$d"
refused --base-weights --experiment finetune --base-weights "$d/weights/dense.final.safetensors" --save-weights --output-dir "$d"
# reading an input from the output directory is fine when the run does not write it
if "$BIN" --quiet --epochs 5 --data "$d/train.csv" --output-dir "$d" && cmp -s "$d/train.csv" "$TMP/copy.csv"; then ok; else
    bad "--data DIR/train.csv without --save-data"; fi

# --- PID namespaces: the process is PID 1, so the old temporary names
# ("<file>.tmp.<pid>") were predictable, and shared by two such runs.
if unshare -pf --mount-proc true 2>/dev/null; then pidns="unshare -pf --mount-proc"; elif unshare -Urpf --mount-proc true 2>/dev/null; then pidns="unshare -Urpf --mount-proc"; else pidns=""; fi
if [ -z "$pidns" ]; then
    echo "outputs: skipped the PID-namespace cases: unshare -pf is not permitted here (needs root or user namespaces)"
else
    # A symlink planted at each old temporary name of PID 1 is not followed.
    d=$TMP/pid1
    mkdir -p "$d"
    echo "precious" >"$TMP/victim"
    for f in losses.csv losses_std.csv summary.json losses.svg spectrum.csv spectrum.svg; do ln -s ../victim "$d/$f.tmp.1"; done
    $pidns "$BIN" --quiet --epochs 5 --output-dir "$d"
    rc=$?
    if [ "$rc" -eq 0 ] && [ "$(cat "$TMP/victim")" = "precious" ] && [ -L "$d/losses.csv.tmp.1" ]; then ok; else
        bad "a symlink at a temporary name of PID 1: exit $rc, the victim now holds $(head -c 40 "$TMP/victim")"; fi

    # Two runs, both PID 1, into one directory at once, three times: each
    # ends with a whole set, all of one run (losses.csv, summary.json and
    # the weights agree), never a torn file.
    P="--quiet --epochs 30000 --samples 10 --save-weights"
    "$BIN" $P --seed 1 --output-dir "$TMP/ref1"
    "$BIN" $P --seed 2 --output-dir "$TMP/ref2"
    d=$TMP/both
    for round in 1 2 3; do
        $pidns "$BIN" $P --seed 1 --output-dir "$d" 2>"$TMP/both1.err" &
        p1=$!
        $pidns "$BIN" $P --seed 2 --output-dir "$d" 2>"$TMP/both2.err" &
        p2=$!
        wait $p1
        rc1=$?
        wait $p2
        rc2=$?
        if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; then ok; else
            bad "two PID 1 runs, round $round: exit $rc1 and $rc2: $(cat "$TMP/both1.err" "$TMP/both2.err")"; fi
        if "$CHECK" --all --interrupted 0 "$d" 30000 && [ -z "$(ls -A "$d" | grep '^\.lora_demo\.')" ]; then ok; else
            bad "two PID 1 runs, round $round: the set is not whole"; fi
        whole=""
        for r in 1 2; do
            if cmp -s "$d/losses.csv" "$TMP/ref$r/losses.csv" &&
               grep -q "\"seeds\": \[$r\]" "$d/summary.json" &&
               cmp -s "$d/weights/lora_r4.final.safetensors" "$TMP/ref$r/weights/lora_r4.final.safetensors" &&
               cmp -s "$d/losses.svg" "$TMP/ref$r/losses.svg"; then whole=$r; fi
        done
        if [ -n "$whole" ]; then ok; else
            bad "two PID 1 runs, round $round: losses.csv, summary.json and weights are not all one run's (torn: $(cmp "$d/losses.csv" "$TMP/ref1/losses.csv" 2>&1 | head -n 1))"; fi
    done
fi

finish
