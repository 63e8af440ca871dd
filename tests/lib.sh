# lib.sh - what the shell tests share. Sourced from the repository's top
# directory, with SUITE set to the name the lines carry:
#     SUITE=faults
#     . tests/lib.sh
#
# ok              count a check that passed
# bad MESSAGE     count a failure and print "FAIL $SUITE: MESSAGE" on stderr
# finish [NOTE]   print "$SUITE: N passed, M failed[ NOTE]"; its status is
#                 0 only when nothing failed (so it ends a script)
# interrupt_when DIR DELAY OUT ERR CMD...
#                 run CMD in the background, its stdout to OUT and stderr
#                 to ERR; wait (at most 10 s) for DIR to appear, then DELAY
#                 seconds more, and send CMD SIGINT; rc is its exit status
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $SUITE: $*" >&2; }
finish() {
    echo "$SUITE: $pass passed, $fail failed${1:+ $1}"
    [ "$fail" -eq 0 ]
}
interrupt_when() {
    _dir=$1
    _delay=$2
    _out=$3
    _err=$4
    shift 4
    "$@" >"$_out" 2>"$_err" &
    _pid=$!
    _i=0
    while [ ! -d "$_dir" ] && [ $_i -lt 1000 ]; do sleep 0.01; _i=$((_i + 1)); done
    sleep "$_delay"
    kill -INT $_pid
    wait $_pid
    rc=$?
}
