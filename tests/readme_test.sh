#!/bin/sh
# readme_test.sh - the documentation cannot go stale: every command that
# README.md and docs/*.md show is run.
#
# The convention (tests/README.md, "The documentation"):
#   - every line of a ```sh block is a command and is run, in order, from the
#     top of a scratch copy of the source tree (tests/tmp/readme/<doc>/tree,
#     a fresh copy for each document), so results/ is never touched; a line
#     ending in '\' continues on the next; it must exit 0;
#   - every ```python block is run with python3 in the same place, after the
#     sh blocks before it; without python3 they are skipped, and said so;
#   - a block is skipped only when an HTML comment, which the rendered page
#     does not show, stands on the line right before its opening fence:
#         <!-- readme_test: skip (REASON) -->            the whole block
#         <!-- readme_test: skip "COMMAND" (REASON) -->  that command only
#     (sh blocks; COMMAND is the command's first line without its trailing
#     '# comment'). Several such lines may stand together. Every skip is
#     printed with its reason; nothing is skipped silently. A marker that is
#     not right before a block, that names a command the block does not
#     have, or has no reason, is a failure, and so is the old in-block
#     marker "not run by make test:";
#   - ```text, ```json and other blocks are output and are not run.
# Nested `make` commands inherit the caller's MAKEFLAGS, so under
# `make sanitize` or `make CC=clang test` they use that build, already made.
#
# usage: sh tests/readme_test.sh ./lora_demo
# Ends with "readme: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/readme
rm -rf "$TMP"
mkdir -p "$TMP"
SUITE=readme
. tests/lib.sh
skip=0

have_python=1
command -v python3 >/dev/null 2>&1 || have_python=0

# split DOC DIR: write DOC's snippets to DIR, numbered in document order: sh
# commands (one per file, continuations joined) as NNN.sh, python blocks as
# NNN.py, and for a skipped one its reason in NNN.skip. Problems with the
# markers go to DIR/problems, one per line.
split() {
    awk -v dir="$2" '
        function problem(msg) { print FILENAME ":" FNR ": " msg > (dir "/problems") }
        function strip(s) { sub(/[ \t]+#.*$/, "", s); sub(/[ \t]+$/, "", s); return s }
        function flush(   base, first, i, r) {
            if (cmd == "") return
            n++; base = sprintf("%s/%03d", dir, n)
            printf "%s\n", cmd > (base ".sh"); close(base ".sh")
            first = cmd; sub(/\n.*/, "", first); first = strip(first)
            r = block_reason
            for (i = 1; i <= ncmd; i++)
                if (skip_cmd[i] == first) { r = skip_why[i]; used[i] = 1 }
            if (r != "") { print r > (base ".skip"); close(base ".skip") }
            cmd = ""
        }
        # a skip marker: remember it for the block that must follow
        lang == "" && /^<!-- readme_test:/ {
            line = $0
            if (line !~ /^<!-- readme_test: skip .*\(.+\) -->$/) { problem("malformed marker: " line); next }
            sub(/^<!-- readme_test: skip /, "", line); sub(/ -->$/, "", line)
            if (line ~ /^"/) {
                c = line; sub(/^"/, "", c); sub(/".*$/, "", c)
                why = line; sub(/^"[^"]*" */, "", why)
                if (c == "" || why !~ /^\(.+\)$/) { problem("malformed marker: " $0); next }
                pend_n++; pend_cmd[pend_n] = c; pend_why[pend_n] = substr(why, 2, length(why) - 2); pend_line[pend_n] = FNR
            } else {
                if (line !~ /^\(.+\)$/) { problem("malformed marker: " $0); next }
                pend_block = substr(line, 2, length(line) - 2); pend_bline = FNR
            }
            marker = 1
            next
        }
        /^```/ {
            if (lang == "") {
                lang = substr($0, 4)
                block_reason = pend_block; ncmd = pend_n
                for (i = 1; i <= ncmd; i++) { skip_cmd[i] = pend_cmd[i]; skip_why[i] = pend_why[i]; skip_line[i] = pend_line[i]; used[i] = 0 }
                if ((block_reason != "" || ncmd > 0) && lang != "sh" && lang != "python")
                    problem("skip marker before a ```" lang " block, which is not run anyway")
                if (ncmd > 0 && lang == "python")
                    problem("a python block is skipped whole: skip (REASON), not skip \"COMMAND\"")
                pend_block = ""; pend_n = 0; marker = 0
                if (lang == "python") {
                    n++; py = sprintf("%s/%03d", dir, n)
                    if (block_reason != "") { print block_reason > (py ".skip"); close(py ".skip") }
                    py = py ".py"
                }
                next
            }
            flush(); if (lang == "python") close(py)
            if (lang == "sh")
                for (i = 1; i <= ncmd; i++)
                    if (!used[i]) problem("line " skip_line[i] ": the marker names \"" skip_cmd[i] "\", which the block does not have")
            lang = ""; block_reason = ""; ncmd = 0
            next
        }
        marker { problem("skip marker not right before a fenced block"); pend_block = ""; pend_n = 0; marker = 0 }
        (lang == "sh" || lang == "python") && /not run by make test:/ {
            problem("old in-block marker \"not run by make test:\" (it shows on the page); use <!-- readme_test: skip (REASON) -->")
        }
        lang == "sh" {
            line = $0
            if (line ~ /^[ \t]*$/ && cmd == "") next
            if (cmd != "") cmd = cmd "\n" line; else cmd = line
            if (line !~ /\\$/) flush()
            next
        }
        lang == "python" { print > py }
        END { if (marker) problem("skip marker at the end of the file") }
    ' "$1"
}

ndocs=0
for doc in README.md docs/*.md; do
    [ -e "$doc" ] || continue
    ndocs=$((ndocs + 1))
    name=$(printf '%s' "$doc" | sed 's|/|_|g; s|\.md$||')
    dir=$TMP/$name
    tree=$dir/tree
    mkdir -p "$tree"
    # The scratch copy: the source tree with its build products and their
    # timestamps (so make finds them up to date), without tests/tmp and .git.
    tar cf - --exclude=./tests/tmp --exclude=./.git . | (cd "$tree" && tar xf -)
    # ./lora_demo in the copy is the binary under test (a sanitizer build, say).
    cp -p "$BIN" "$tree/lora_demo"

    split "$doc" "$dir"
    if [ -s "$dir/problems" ]; then
        while IFS= read -r p; do bad "$p"; done <"$dir/problems"
    fi

    n_py=0
    # the snippets in document order (NNN.sh and NNN.py share one count)
    ls "$dir" | grep -E '^[0-9]+\.(sh|py)$' | sort >"$dir/list"
    while IFS= read -r f; do
        f=$dir/$f
        base=${f%.*}
        case $f in
        *.sh)
            cmd=$(cat "$f")
            if [ -e "$base.skip" ]; then
                echo "readme: skipped ($(cat "$base.skip")): $doc: $(printf '%s' "$cmd" | head -n 1 | sed 's/ *#.*//')"
                skip=$((skip + 1))
                continue
            fi
            if (cd "$tree" && sh -c "$cmd") </dev/null >"$f.out" 2>&1; then ok; else
                bad "$doc: command failed: $cmd
$(tail -n 5 "$f.out")"
            fi
            ;;
        *.py)
            n_py=$((n_py + 1))
            if [ -e "$base.skip" ]; then
                echo "readme: skipped ($(cat "$base.skip")): $doc: python block $n_py"
                skip=$((skip + 1))
                continue
            fi
            if [ "$have_python" -eq 0 ]; then
                echo "readme: python3 not found, $doc: python block $n_py not run"
                skip=$((skip + 1))
                continue
            fi
            if (cd "$tree" && python3 "../$(basename "$f")") </dev/null >"$f.out" 2>&1; then ok; else
                bad "$doc: python block $n_py failed:
$(tail -n 5 "$f.out")"
            fi
            ;;
        esac
    done <"$dir/list"
done
[ "$ndocs" -gt 0 ] || bad "no README.md"
[ $((pass + fail)) -gt 0 ] || bad "no commands found in README.md or docs/*.md"

finish "($skip skipped; $ndocs documents)"
