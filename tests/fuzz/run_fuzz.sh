#!/bin/sh
# run_fuzz.sh - run each libFuzzer target for a while (make fuzz).
#
# usage: sh tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS TARGET...
#
# Each target starts from its seed corpus tests/fuzz/corpus/<t>/ and its
# regression inputs tests/fuzz/regress/<t>/, copied to BUILD_DIR/corpus/<t>
# so that what the fuzzer adds never dirties the repository; a dictionary
# tests/fuzz/<t>.dict is used if there is one. A crash, sanitizer report,
# broken invariant (abort) or a hang over 10 s stops that target and leaves
# the input in fuzz-out/<t>/ (gitignored); once fixed, it goes into
# tests/fuzz/regress/<t>/, which `make test` replays. Exits 1 if any target
# found something.
set -u
BUILD=$1
SECONDS_EACH=$2
shift 2
status=0
for t in "$@"; do
    corpus="$BUILD/corpus/$t"
    rm -rf "$corpus"
    mkdir -p "$corpus" "fuzz-out/$t"
    cp tests/fuzz/corpus/"$t"/* "$corpus"/
    dict=
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    log="$BUILD/fuzz_$t.log"
    echo "== fuzz_$t: $SECONDS_EACH s"
    "$BUILD/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz-out/$t/" $dict "$corpus" "tests/fuzz/regress/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    size=$(ls "$corpus" | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$t: ${runs:-?} executions, corpus of $size inputs, nothing found"
    else
        status=1
        echo "fuzz_$t: FOUND A PROBLEM (exit $rc) after ${runs:-?} executions:"
        grep -E "ERROR|SUMMARY|Test unit written|runtime error|deadly signal" "$log" | head -n 10
        echo "  full log: $log; add the input to tests/fuzz/regress/$t/ once fixed"
    fi
done
exit $status
