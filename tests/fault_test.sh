#!/bin/sh
# fault_test.sh - the binary under faults: a diverging model, a run too big
# for memory, SIGINT in the middle of training, and SIGKILL at random
# points of a run (nothing half-written under a final name).
#
# usage: sh tests/fault_test.sh ./lora_demo build/check_outputs
# KILL_RUNS (20) and KILL_SEED (1) choose the SIGKILL runs.
# Prints one line per failure and ends with "faults: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
CHECK=${2:-build/check_outputs}
TMP=tests/tmp/fault
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=faults
. tests/lib.sh
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- divergence: --lr 1e10 blows every LoRA model up at epoch 2 (its loss
# overflows float); dense stays finite. Exit 0, the run is reported.
"$BIN" --lr 1e10 --epochs 20 --output-dir "$TMP/div" >"$TMP/div.out" 2>"$TMP/div.err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else bad "diverging run: exit $rc, want 0"; fi
if [ "$(grep -c 'warning: lora_r[1-4] diverged at epoch 2 (seed 42)' "$TMP/div.err")" -eq 4 ] &&
   [ "$(wc -l <"$TMP/div.err")" -eq 4 ]; then ok; else bad "diverging run: stderr: $(cat "$TMP/div.err")"; fi
if [ "$(grep -c 'diverged at epoch 2$' "$TMP/div.out")" -eq 4 ] && grep -q '^dense .*  ok$' "$TMP/div.out"; then ok; else
    bad "diverging run: the table should mark the four LoRA models"; fi
if "$CHECK" --all --interrupted 0 "$TMP/div" 20; then ok; else bad "diverging run: incomplete files"; fi
if ! grep -qi 'nan\|inf' "$TMP/div/losses.csv" "$TMP/div/losses_std.csv" &&
   [ "$(sed -n 3p "$TMP/div/losses.csv" | cut -d, -f3-)" = ",,," ]; then ok; else
    bad "diverging run: losses.csv should have empty cells from epoch 2: $(sed -n 3p "$TMP/div/losses.csv")"; fi
if grep -q '"name": "dense".*"diverged_at_epoch": null' "$TMP/div/summary.json" &&
   [ "$(grep -c '"diverged_at_epoch": 2,' "$TMP/div/summary.json")" -eq 4 ]; then ok; else
    bad "diverging run: summary.json diverged_at_epoch"; fi

# --lr 1e6 makes the losses huge (up to 3e20) but finite: every row of the
# table is as wide as its header, and every prediction row as its target
# row (cells of huge numbers fit their column: %.3e where %.6f does not).
"$BIN" --lr 1e6 --epochs 100 --output-dir "$TMP/huge_loss" >"$TMP/huge_loss.out" 2>"$TMP/huge_loss.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^lora_r4 .*e+20 ' "$TMP/huge_loss.out" &&
   awk '/^model / { w = length($0) } /^(dense|lora_r[0-9]) / { n++; if (length($0) != w) bad = 1 }
        /^  target / { t = length($0) } /^  (dense|lora_r[0-9]) / { p++; if (length($0) != t) bad = 1 }
        END { exit bad || n != 5 || p != 15 }' "$TMP/huge_loss.out"; then ok; else
    bad "huge losses: exit $rc, a table cell wider than its column:"; cat "$TMP/huge_loss.out" >&2; fi

# --lr 1e38 makes Adam's first step overflow: finetune's pretraining
# diverges at epoch 1 (reported as well), and so does every model that
# starts from its base.
"$BIN" --experiment finetune --lr 1e38 --pretrain-epochs 3 --epochs 3 --samples 20 \
    --test-samples 5 --quiet --output-dir "$TMP/div_pre" 2>"$TMP/div_pre.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q "warning: pretraining diverged at epoch 1 (seed 42)" "$TMP/div_pre.err" &&
   grep -q '"pretrain": {"epochs": 3, .*"diverged_at_epoch": 1' "$TMP/div_pre/summary.json" &&
   "$CHECK" --all --interrupted 0 "$TMP/div_pre" 3; then ok; else
    bad "diverging pretraining: exit $rc, stderr: $(cat "$TMP/div_pre.err")"; fi

# --- a result file that cannot be written after training (its final name is
# a non-empty directory): exit 1 naming the file, no temporary left.
mkdir -p "$TMP/blocked/losses.csv/x"
"$BIN" --quiet --epochs 2 --output-dir "$TMP/blocked" 2>"$TMP/blocked.err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "^lora_demo: $TMP/blocked/losses.csv: Is a directory$" "$TMP/blocked.err" &&
   [ -z "$(find "$TMP/blocked" -name '*.tmp.*')" ]; then ok; else
    bad "unwritable losses.csv: exit $rc, stderr: $(cat "$TMP/blocked.err")"; fi

# --- the same under a 4000-character output directory (20 names of 199
# characters): the message is one line, names the whole path and still
# ends with the reason (messages were cut at 512 bytes).
long=$TMP/long
i=0
while [ $i -lt 20 ]; do long=$long/$(printf '%0199d' 0); i=$((i + 1)); done
mkdir -p "$long/losses.csv/x"
"$BIN" --quiet --epochs 2 --output-dir "$long" 2>"$TMP/long.err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/long.err")" -eq 1 ] &&
   [ "$(cat "$TMP/long.err")" = "lora_demo: $long/losses.csv: Is a directory" ]; then ok; else
    bad "unwritable losses.csv under a ${#long}-character path: exit $rc, stderr ends: $(tail -c 80 "$TMP/long.err")"; fi

# --- a file-size limit (ulimit -f 16: 8 or 16 KiB, as the shell counts
# blocks) and a 110 KB losses.csv: the write fails with EFBIG instead of
# SIGXFSZ ending the process: exit 1, the file and the reason on one line,
# and nothing left in the directory (no temporary file, no probe).
mkdir -p "$TMP/fsize"
(ulimit -f 16 && exec "$BIN" --quiet --epochs 2000 --output-dir "$TMP/fsize") 2>"$TMP/fsize.err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(cat "$TMP/fsize.err")" = "lora_demo: $TMP/fsize/losses.csv: File too large" ] &&
   [ -z "$(ls -A "$TMP/fsize")" ]; then ok; else
    bad "ulimit -f: exit $rc, stderr: $(cat "$TMP/fsize.err"), left: $(ls -A "$TMP/fsize" | tr '\n' ' ')"; fi

# --- a full disk: a 64 KiB tmpfs in a mount namespace of its own (unshare
# -rm: root, or any user where user namespaces are allowed), filled part way
# through a run that saves its data and weights (110 KB): exit 1, one line
# naming a file under it and "No space left on device" (not EIO), and no
# temporary file left. The mount ends with the namespace, so the checks of
# the directory run inside it.
mkdir -p "$TMP/disk"
if unshare -rm true 2>/dev/null; then
    unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
        "$2" --quiet --epochs 300 --save-data --save-weights --output-dir "$1/out" 2>"$3"
        echo $? >"$4"
        find "$1/out" -name "*.tmp.*" >"$5"' sh "$TMP/disk" "$BIN" "$TMP/disk.err" "$TMP/disk.rc" \
        "$TMP/disk.left"
    rc=$(cat "$TMP/disk.rc" 2>/dev/null || echo none)
    if [ "$rc" = 1 ] && [ "$(wc -l <"$TMP/disk.err")" -eq 1 ] &&
       grep -q "^lora_demo: $TMP/disk/out/[a-z_./0-9]*: No space left on device$" "$TMP/disk.err" &&
       [ ! -s "$TMP/disk.left" ]; then ok; else
        bad "full disk: exit $rc, stderr: $(cat "$TMP/disk.err"), temporary files: $(cat "$TMP/disk.left")"; fi
else
    echo "faults: skipped the full-disk test: no tmpfs can be mounted here (unshare -rm fails)"
fi

# --- memory: refused before anything is allocated or created: exit 1,
# one line, at once.
t0=$(now_ms)
"$BIN" --in 100000 --out 100000 --samples 100000 --output-dir "$TMP/huge" >"$TMP/huge.out" 2>"$TMP/huge.err"
rc=$?
t1=$(now_ms)
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/huge.err")" -eq 1 ] &&
   grep -q "^lora_demo: this run needs about .* GiB of memory (data .*), more than the .* of physical memory$" "$TMP/huge.err"; then ok; else
    bad "huge run: exit $rc, stderr: $(cat "$TMP/huge.err")"; fi
if [ ! -e "$TMP/huge" ] && [ ! -s "$TMP/huge.out" ] && [ $((t1 - t0)) -lt 2000 ]; then ok; else
    bad "huge run: created its directory, printed, or took $((t1 - t0)) ms"; fi
"$BIN" --in 2147483647 --out 2147483647 --samples 2147483647 --ranks 1 --output-dir "$TMP/huge" 2>"$TMP/huge.err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "does not fit in memory: its size in bytes overflows" "$TMP/huge.err" && [ ! -e "$TMP/huge" ]; then ok; else
    bad "overflowing sizes: exit $rc, stderr: $(cat "$TMP/huge.err")"; fi

# --- SIGINT in the middle of training. The output directory appears once
# the handler is installed (main.c), so wait for it, let the run train for
# over a second (past the progress line's delay), then interrupt it: exit
# 130, whole files marked "interrupted": true, and on a stderr that is not
# a terminal the one "interrupted" line and no progress line.
# interrupt NAME ARGS...: run with --output-dir $TMP/NAME (stdout and stderr
# to $TMP/NAME.out, .err), SIGINT 1.2 s after the directory appears; rc is
# its exit status.
interrupt() {
    name=$1
    shift
    interrupt_when "$TMP/$name" 1.2 "$TMP/$name.out" "$TMP/$name.err" \
        "$BIN" "$@" --output-dir "$TMP/$name"
}
interrupt int --samples 20000 --epochs 2000
if [ "$rc" -eq 130 ]; then ok; else bad "SIGINT: exit $rc, want 130"; fi
if "$CHECK" --all --interrupted 1 "$TMP/int" 2000; then ok; else bad "SIGINT: incomplete files"; fi
if [ "$(wc -l <"$TMP/int.err")" -eq 1 ] &&
   grep -q "^lora_demo: interrupted in [a-z0-9_]* at epoch [0-9]* (seed 42); the results so far are in $TMP/int$" "$TMP/int.err" &&
   ! grep -q "$(printf '\r')" "$TMP/int.err"; then ok; else bad "SIGINT: stderr: $(cat "$TMP/int.err")"; fi
# dense trained at least an epoch; the last model never finished
trained=$(grep -o '"epochs_trained_per_seed": \[[0-9]*\]' "$TMP/int/summary.json" | tr -dc '0-9\n')
if [ "$(echo "$trained" | wc -l)" -eq 5 ] && [ "$(echo "$trained" | head -n 1)" -gt 0 ] &&
   [ "$(echo "$trained" | tail -n 1)" -lt 2000 ]; then ok; else
    bad "SIGINT: epochs trained per model: $(echo $trained)"; fi
if grep -q 'interrupted at epoch\|not started' "$TMP/int.out"; then ok; else
    bad "SIGINT: the table should mark the unfinished models"; fi

# --- the same for a --hidden network: exit 130 and whole files
interrupt intnet --hidden 32 --samples 20000 --epochs 2000
if [ "$rc" -eq 130 ] && "$CHECK" --all --interrupted 1 "$TMP/intnet" 2000 &&
   grep -q "^lora_demo: interrupted in [a-z0-9_]* at epoch" "$TMP/intnet.err"; then ok; else
    bad "SIGINT, --hidden: exit $rc, stderr: $(cat "$TMP/intnet.err")"; fi

# The line that says where the results went follows the rule of every
# message: an output directory with a newline (and a C1 control character,
# U+0085, a line break to some terminals) in its name stays on one line,
# each shown as '?'.
nldir=$TMP/$(printf 'int\nnl\302\205x')
interrupt_when "$nldir" 0.3 "$TMP/intnl.out" "$TMP/intnl.err" \
    "$BIN" --samples 20000 --epochs 2000 --output-dir "$nldir"
if [ "$rc" -eq 130 ] && [ "$(wc -l <"$TMP/intnl.err")" -eq 1 ] &&
   grep -q "^lora_demo: interrupted in .* the results so far are in $TMP/int?nl?x$" "$TMP/intnl.err" &&
   "$CHECK" --all --interrupted 1 "$nldir" 2000; then ok; else
    bad "SIGINT, a newline in the output directory: exit $rc, stderr: $(cat "$TMP/intnl.err")"; fi

# A second SIGINT finds the default action (SA_RESETHAND) and ends the
# process at once, here while it writes its files: exit 130 either way, and
# whatever it leaves is whole or a temporary file.
"$BIN" --quiet --epochs 200000 --samples 10 --output-dir "$TMP/int2" 2>"$TMP/int2.err" &
pid=$!
i=0
while [ ! -d "$TMP/int2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
sleep 0.05
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ "$rc" -eq 130 ] && "$CHECK" "$TMP/int2" 200000; then ok; else bad "SIGINT twice: exit $rc"; fi

# --- SIGKILL at KILL_RUNS points spread over a whole run (stratified: run i
# dies at a random moment in the i-th slice of the measured run time).
# The directory starts with a complete earlier run, so every final name
# exists throughout; each must stay whole, partial files may only be inside
# a staging directory (.lora_demo.XXXXXX), and each run clears the one the
# run before it left.
# The run is chosen so that writing its files (about 12 MB of CSV and SVG)
# takes a good part of it.
KILL_RUNS=${KILL_RUNS:-20}
KILL_SEED=${KILL_SEED:-1}
E=100000
kargs="--quiet --epochs $E --samples 10 --output-dir $TMP/kill"
t0=$(now_ms)
"$BIN" $kargs
t1=$(now_ms)
T=$((t1 - t0))
if "$CHECK" --all "$TMP/kill" $E; then ok; else bad "SIGKILL: the reference run is incomplete"; fi
delays=$(awk -v n="$KILL_RUNS" -v seed="$KILL_SEED" -v t="$T" \
    'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%.3f\n", t * 1.1 * (i + rand()) / n / 1000 }')
killed_writing=0
k=0
for d in $delays; do
    k=$((k + 1))
    "$BIN" $kargs &
    pid=$!
    sleep "$d"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    if "$CHECK" --all "$TMP/kill" $E; then ok; else bad "SIGKILL run $k (after ${d} s of a ${T} ms run): a final file is incomplete"; fi
    if [ -n "$(find "$TMP/kill" -name '*.tmp.*')" ]; then killed_writing=$((killed_writing + 1)); fi
    stages=$(find "$TMP/kill" -maxdepth 1 -name '.lora_demo.*' | wc -l)
    if [ "$stages" -le 1 ]; then ok; else bad "SIGKILL run $k: $stages staging directories: the run did not clear the one before"; fi
done
echo "faults: $KILL_RUNS SIGKILLs over a $T ms run, $killed_writing while a file was being written"
# One more run clears what the last kill left, and leaves a whole set.
"$BIN" $kargs
if "$CHECK" --all "$TMP/kill" $E && [ -z "$(find "$TMP/kill" -name '.lora_demo.*' -o -name '*.tmp.*')" ]; then ok; else
    bad "SIGKILL: the run after the kills left a staging directory or a temporary file"; fi

finish
