#!/bin/sh
# run_all.sh - the whole suite: the C unit tests, then the command-line,
# data, Python-reader, manual-page and README tests, the fault tests
# (divergence, memory, SIGINT, SIGKILL), the result-set tests (a full disk,
# inputs in the output directory, two runs at once), and the fuzz regression inputs
# replayed through every fuzz target.
# Ends with "N passed, M failed" over all of them and exits non-zero on any
# failure. usage: sh tests/run_all.sh build/run_tests ./lora_demo
# The test tools (check_outputs, fuzz_replay_*) are taken from the
# directory of run_tests.
set -u
UNIT=$1
BIN=$2
TOOLS=$(dirname "$UNIT")
log=$(mktemp)
one=$(mktemp)
rcf=$(mktemp)
trap 'rm -f "$log" "$one" "$rcf"' EXIT
status=0

# run NAME CMD...: run one part, show its output and add it to the log. A
# pipeline's status is tee's, so the part's own status goes through $rcf. A
# part that fails without counting a failure (it crashed, say) counts as
# one failure.
run() {
    name=$1
    shift
    { "$@"; echo $? >"$rcf"; } | tee "$one"
    rc=$(cat "$rcf")
    cat "$one" >>"$log"
    if [ "$rc" -ne 0 ]; then
        status=1
        if ! grep -Eq '[1-9][0-9]* failed' "$one"; then
            echo "$name: exit status $rc: 0 passed, 1 failed" | tee -a "$log"
        fi
    fi
}

run unit "$UNIT"
for t in cli data weights_py man readme variants; do
    run "$t" sh "tests/${t}_test.sh" "$BIN"
done
run faults sh tests/fault_test.sh "$BIN" "$TOOLS/check_outputs"
run outputs sh tests/outputs_test.sh "$BIN" "$TOOLS/check_outputs"
run alloc_fail "$TOOLS/alloc_fail"
for target in csv json safetensors cli; do
    run "replay_$target" "$TOOLS/fuzz_replay_$target" "tests/fuzz/regress/$target"
done
awk '/[0-9]+ passed, [0-9]+ failed/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i - 1); if ($(i) ~ /^failed/) f += $(i - 1) } }
     END { printf "total: %d passed, %d failed\n", p, f; exit f > 0 }' "$log" || status=1
exit $status
