#!/bin/sh
# run_all.sh - the whole suite: the C unit tests, then the command-line,
# data, Python-reader, manual-page and README tests.
# Ends with "N passed, M failed" over all of them and exits non-zero on any
# failure. usage: sh tests/run_all.sh build/run_tests ./lora_demo
set -u
UNIT=$1
BIN=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$UNIT" | tee -a "$log" || status=1
for t in tests/cli_test.sh tests/data_test.sh tests/weights_py_test.sh tests/man_test.sh tests/readme_test.sh; do
    sh "$t" "$BIN" | tee -a "$log" || status=1
done
awk '/[0-9]+ passed, [0-9]+ failed/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i - 1); if ($(i) ~ /^failed/) f += $(i - 1) } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit $status
