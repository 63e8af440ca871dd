#!/bin/sh
# check_same_numbers.sh - does the working tree compute exactly what REV did?
#
#   scripts/check_same_numbers.sh REV      e.g. REV = main, HEAD, HEAD~3
#
# For refactors that must change no number (moving files, splitting
# modules). Builds git revision REV in a temporary directory and the working
# tree at the top of the repository, both with `make -s`, runs both
# ./lora_demo binaries over the same set of runs, each into a fresh output
# directory, and compares run by run:
#   - the exit status;
#   - every file the run writes (losses.csv, losses_std.csv, losses.svg,
#     train.csv, test.csv, weights/*.safetensors, base.safetensors and the
#     PEFT adapters/*/), byte for byte; a file only one side wrote differs;
#   - every number in summary.json (every loss, per seed too), except the
#     timings (*_ms), which change from run to run.
# Prints "same: NAME" or "DIFFERENT: NAME: FILE" for each run, then
# "N runs same, M different". Exit status: 0 all the same, 1 any run
# differs, 2 bad usage or a build failure.
set -u

prog=check_same_numbers

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 REV" >&2
    echo "  builds git revision REV and the working tree, and checks that both write the same numbers" >&2
    exit 2
fi
rev=$1

# The repository is the one the script is in, wherever it is run from.
top=$(cd "$(dirname "$0")" && git rev-parse --show-toplevel) || exit 2
commit=$(git -C "$top" rev-parse --verify --quiet "$rev^{commit}") || {
    echo "$prog: not a commit: $rev" >&2
    exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/lora_demo_same.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# git archive rather than a worktree: nothing to undo in the repository if
# the script is interrupted.
mkdir "$work/tree" "$work/old" "$work/new" || exit 2
if ! git -C "$top" archive --format=tar -o "$work/tree.tar" "$commit" ||
    ! tar -xf "$work/tree.tar" -C "$work/tree"; then
    echo "$prog: could not export $rev" >&2
    exit 2
fi

# The two builds are independent, so they run side by side.
(cd "$work/tree" && make -s) >"$work/build-old.log" 2>&1 &
old_pid=$!
(cd "$top" && make -s) >"$work/build-new.log" 2>&1 &
new_pid=$!
wait "$old_pid"
old_rc=$?
wait "$new_pid"
new_rc=$?
if [ "$old_rc" -ne 0 ]; then
    echo "$prog: building $rev failed:" >&2
    tail -n 30 "$work/build-old.log" >&2
    exit 2
fi
if [ "$new_rc" -ne 0 ]; then
    echo "$prog: building the working tree failed:" >&2
    tail -n 30 "$work/build-new.log" >&2
    exit 2
fi
old_bin=$work/tree/lora_demo
new_bin=$top/lora_demo
for b in "$old_bin" "$new_bin"; do
    [ -x "$b" ] || { echo "$prog: make did not build $b" >&2; exit 2; }
done

echo "comparing $rev ($(git -C "$top" rev-parse --short "$commit")) with the working tree"

# summary_numbers FILE: one `"key":value` line for every number, null,
# boolean or array of them in summary.json, in file order, and each model's
# name, so that a difference can be named. Strings such as output_dir are
# left out: they hold paths, not numbers. Floats are written in their
# shortest round-trip form (json.c), so equal text means equal bits.
summary_numbers() {
    tr '\n' ' ' <"$1" |
        grep -oE '"name":[[:space:]]*"[^"]*"|"[A-Za-z0-9_]+":[[:space:]]*(-?[0-9][0-9.eE+-]*|null|true|false|\[[^]["{}]*\])' |
        grep -vE '^"[A-Za-z0-9_]*_ms"' |
        tr -d ' \t'
}

# compare_dirs OLD NEW: print each file that differs between the two output
# directories, one a line; nothing when they are the same.
compare_dirs() {
    for f in losses.csv summary.json; do
        [ -f "$1/$f" ] || echo "$f (not written)"
    done
    { (cd "$1" && find . -type f); (cd "$2" && find . -type f); } |
        sed 's|^\./||' | sort -u |
        while IFS= read -r f; do
            if [ ! -f "$1/$f" ]; then
                echo "$f (only in the working tree's output)"
            elif [ ! -f "$2/$f" ]; then
                echo "$f (only in $rev's output)"
            elif [ "$f" = summary.json ]; then
                summary_numbers "$1/$f" >"$work/old.nums"
                summary_numbers "$2/$f" >"$work/new.nums"
                if ! grep -q 'loss' "$work/old.nums"; then
                    echo "summary.json (no losses found in it)"
                elif ! cmp -s "$work/old.nums" "$work/new.nums"; then
                    key=$(diff "$work/old.nums" "$work/new.nums" |
                        sed -n 's/^[<>] "\([A-Za-z0-9_]*\)".*/\1/p' | head -n 1)
                    echo "summary.json (${key:-its numbers})"
                fi
            elif ! cmp -s "$1/$f" "$2/$f"; then
                echo "$f"
            fi
        done
}

n_same=0
n_diff=0
n_failed=0

# check NAME OPTION...: run both binaries with the options, each into its
# own fresh output directory, and print how they compare.
check() {
    name=$1
    shift
    o=$work/old/$name
    n=$work/new/$name
    "$old_bin" --quiet --output-dir "$o" "$@" 2>"$o.err"
    orc=$?
    "$new_bin" --quiet --output-dir "$n" "$@" 2>"$n.err"
    nrc=$?
    if [ "$orc" -ne "$nrc" ]; then
        echo "DIFFERENT: $name: exit status $orc ($rev) vs $nrc (working tree)"
        n_diff=$((n_diff + 1))
        return
    fi
    # A run that fails on both sides proves nothing about the numbers.
    if [ "$orc" -ne 0 ]; then
        echo "FAILED: $name: exit status $orc on both sides: $(head -n 1 "$o.err")"
        n_failed=$((n_failed + 1))
        return
    fi
    compare_dirs "$o" "$n" >"$work/diffs"
    if [ -s "$work/diffs" ]; then
        more=$(($(wc -l <"$work/diffs") - 1))
        if [ "$more" -gt 0 ]; then
            echo "DIFFERENT: $name: $(head -n 1 "$work/diffs") and $more more"
        else
            echo "DIFFERENT: $name: $(head -n 1 "$work/diffs")"
        fi
        n_diff=$((n_diff + 1))
    else
        echo "same: $name"
        n_same=$((n_same + 1))
    fi
}

# The notebook's run, then each other way through an epoch (train.h):
# mini-batches (7 leaves a short last batch), threads, seeds, rsLoRA.
check default --epochs 100 --seed 42
check batch16 --epochs 100 --batch-size 16
check batch7 --epochs 100 --batch-size 7 --seed 7
check threads2 --epochs 100 --threads 2
check threads2-batch16 --epochs 100 --threads 2 --batch-size 16
check repeats3 --epochs 100 --repeats 3
check rslora --epochs 100 --rslora --alpha 8 --ranks 1,2,4 --lr 0.003

# Wider layers leave the narrow kernels for the fused and blocked ones
# (train.c, matmul.c); with in > samples the dense layer skips the closed form.
check mid64x32 --in 64 --out 32 --samples 300 --epochs 50 --ranks 4,16
check mid256x128-batch100-threads2 --in 256 --out 128 --samples 500 --epochs 20 \
    --ranks 1,8,32 --batch-size 100 --threads 2
check wide1024 --in 1024 --out 1024 --samples 256 --epochs 3 --ranks 1,8
check wide1024-closed-form-threads2 --in 1024 --out 1024 --samples 1100 --test-samples 50 \
    --epochs 3 --ranks 1,8 --threads 2

# Fine-tuning: pretraining, task shift, merge; then mini-batches and threads.
check finetune --experiment finetune --epochs 60 --pretrain-epochs 100
check finetune-repeats3 --experiment finetune --epochs 60 --pretrain-epochs 100 --repeats 3
check finetune-batch50-threads2 --experiment finetune --epochs 30 --pretrain-epochs 50 \
    --batch-size 50 --threads 2 --delta-rank 3 --noise 0.05

# Saved data and weights (safetensors, PEFT adapters, base.safetensors).
check scratch-save --epochs 50 --repeats 2 --save-weights --save-data
check finetune-save --experiment finetune --epochs 60 --pretrain-epochs 100 --save-weights --save-data

# Reading files back. Both binaries read REV's saved files, so that a
# difference in writing them cannot hide as a difference in input.
saved_s=$work/old/scratch-save
saved_f=$work/old/finetune-save
check scratch-data --epochs 50 --data "$saved_s/train.csv" --test-data "$saved_s/test.csv"
check scratch-data-holdout --epochs 50 --repeats 2 --data "$saved_s/train.csv"
check finetune-data --experiment finetune --epochs 60 --data "$saved_f/train.csv" \
    --test-data "$saved_f/test.csv" --base-weights "$saved_f/base.safetensors" --save-weights
check finetune-base-weights --experiment finetune --epochs 60 --base-weights "$saved_f/base.safetensors"

if [ "$n_failed" -gt 0 ]; then
    echo "$n_same runs same, $n_diff different, $n_failed failed on both sides"
else
    echo "$n_same runs same, $n_diff different"
fi
[ "$n_diff" -eq 0 ] && [ "$n_failed" -eq 0 ]
