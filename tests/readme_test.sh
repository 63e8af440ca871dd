#!/bin/sh
# readme_test.sh - README.md cannot go stale: every command it shows is run.
#
# The convention (README.md, "Tests"):
#   - every line of a ```sh block is a command and is run, in order, from the
#     top of a scratch copy of the source tree (tests/tmp/readme/tree), so
#     results/ is never touched; a line ending in '\' continues on the next;
#     it must exit 0;
#   - every ```python block is run with python3 in the same place, after the
#     sh blocks before it; without python3 they are skipped, and said so;
#   - a command, or a python block whose first line, carries the marker
#     "not run by make test: <reason>" is skipped, and the skip is printed
#     with its reason; nothing is skipped silently;
#   - ```text, ```json and other blocks are output and are not run.
# Nested `make` commands inherit the caller's MAKEFLAGS, so under
# `make sanitize` or `make CC=clang test` they use that build, already made.
#
# usage: sh tests/readme_test.sh ./lora_demo
# Ends with "readme: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/readme
TREE=$TMP/tree
rm -rf "$TMP"
mkdir -p "$TREE"
pass=0
fail=0
skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL readme: $*" >&2; }

# The scratch copy: the source tree with its build products and their
# timestamps (so make finds them up to date), without tests/tmp and .git.
tar cf - --exclude=./tests/tmp --exclude=./.git . | (cd "$TREE" && tar xf -)
# ./lora_demo in the copy is the binary under test (a sanitizer build, say).
cp -p "$BIN" "$TREE/lora_demo"

# Split README.md into numbered snippets: sh commands (one per file, with
# continuations joined) and python blocks (one per file), in document order.
awk -v dir="$TMP" '
    function flush() { if (cmd != "") { n++; f = sprintf("%s/%03d.sh", dir, n); printf "%s\n", cmd > f; close(f); cmd = "" } }
    /^```/ {
        if (lang == "") { lang = substr($0, 4); if (lang == "python") { n++; py = sprintf("%s/%03d.py", dir, n) } ; next }
        flush(); if (lang == "python") close(py); lang = ""; next
    }
    lang == "sh" {
        line = $0
        if (line ~ /^[ \t]*$/ && cmd == "") next
        if (cmd != "") cmd = cmd "\n" line; else cmd = line
        if (line !~ /\\$/) flush()
        next
    }
    lang == "python" { print > py }
' README.md

have_python=1
command -v python3 >/dev/null 2>&1 || have_python=0
n_py=0
for f in "$TMP"/[0-9]*.*; do
    [ -e "$f" ] || continue
    case $f in
    *.sh)
        cmd=$(cat "$f")
        if printf '%s' "$cmd" | grep -q "not run by make test:"; then
            echo "readme: skipped ($(printf '%s' "$cmd" | sed -n 's/.*not run by make test: *//p' | head -n 1)): $(printf '%s' "$cmd" | head -n 1 | sed 's/ *#.*//')"
            skip=$((skip + 1))
            continue
        fi
        if (cd "$TREE" && sh -c "$cmd") >"$f.out" 2>&1; then ok; else
            bad "README command failed: $cmd
$(tail -n 5 "$f.out")"
        fi
        ;;
    *.py)
        n_py=$((n_py + 1))
        first=$(head -n 1 "$f")
        if printf '%s' "$first" | grep -q "not run by make test:"; then
            echo "readme: skipped python block $n_py ($(printf '%s' "$first" | sed 's/.*not run by make test: *//'))"
            skip=$((skip + 1))
            continue
        fi
        if [ "$have_python" -eq 0 ]; then
            echo "readme: python3 not found, python block $n_py not run"
            skip=$((skip + 1))
            continue
        fi
        if (cd "$TREE" && python3 "../$(basename "$f")") >"$f.out" 2>&1; then ok; else
            bad "README python block $n_py failed:
$(tail -n 5 "$f.out")"
        fi
        ;;
    esac
done
[ $((pass + fail)) -gt 0 ] || bad "no commands found in README.md"

echo "readme: $pass passed, $fail failed ($skip skipped)"
[ "$fail" -eq 0 ]
