#!/bin/sh
# man_test.sh - the documentation cannot fall behind the options: every long
# option that --help lists is in lora_demo.1 and in README.md, and the man
# page renders without a groff warning (skipped, and said so, when groff is
# not installed).
#
# usage: sh tests/man_test.sh ./lora_demo
# Ends with "man: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
SUITE=man
. tests/lib.sh

opts=$("$BIN" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ -n "$opts" ] || bad "--help lists no options"
for o in $opts; do
    # in the man page a dash is written \-
    m=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
    if grep -q -- "$m" lora_demo.1; then ok; else bad "$o is not in lora_demo.1"; fi
    if grep -q -- "\`$o" README.md; then ok; else bad "$o is not in README.md"; fi
done

if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -Tutf8 -ww -z lora_demo.1 2>&1)
    if [ -z "$warnings" ]; then ok; else bad "groff -ww: $warnings"; fi
else
    echo "man: groff not installed, rendering not checked (apt-get install groff-base)"
fi

finish
