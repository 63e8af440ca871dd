#!/bin/sh
# coverage.sh - line coverage of src/ from the .gcda files a --coverage
# build left in BUILD_DIR (make coverage).
#
# usage: sh tests/coverage.sh BUILD_DIR [MIN_PERCENT]
# Prints one line per source file (lines executed / executable lines) and
# the total as "lines: NN.N%"; exits 1 if the total is below MIN_PERCENT.
set -u
BUILD=$1
MIN=${2:-0}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# gcov -n: summaries only, no .gcov files. Each source file's block is
#   File 'src/x.c'
#   Lines executed:93.10% of 290
for f in src/*.c src/*/*.c; do
    rel=${f#src/}
    o="$BUILD/${rel%.c}.o"
    [ -f "$BUILD/${rel%.c}.gcda" ] || { echo "coverage: no $BUILD/${rel%.c}.gcda (was the suite run?)" >&2; exit 1; }
    gcov -n -o "$o" "$f" 2>/dev/null
done >"$out/gcov.txt"
awk -v min="$MIN" '
    /^File / { file = $2; gsub(/\047/, "", file); next }
    /^Lines executed:/ && file ~ /^src\// {
        split($2, a, ":"); pct = a[2] + 0; n = $4 + 0
        hit = pct * n / 100; tot_hit += hit; tot += n
        printf "  %-30s %6.1f%% of %5d lines\n", file, pct, n
        file = ""
    }
    END {
        p = tot ? 100 * tot_hit / tot : 0
        printf "lines: %.1f%% (%d of %d lines of src/)\n", p, tot_hit + 0.5, tot
        if (p < min) { printf "coverage: below the floor of %s%%\n", min; exit 1 }
    }' "$out/gcov.txt"
