# lib.sh: what the shell tests of the hugepage command share (sourced, not a
# test itself). Env from CTest: HP_CMD (the built command), HP_SOURCE_DIR.
# A test calls check/expect for each claim, then finish: exit 0 when all
# passed, 1 when any failed (each failure printed), 77 to skip.
set -u
: "${HP_CMD:?HP_CMD must name the built hugepage command}"
HP=$HP_CMD
fails=0
tmp=$(mktemp -d /tmp/hp_cmd_test.XXXXXX)
cleanups=("rm -rf '$tmp'")
on_exit() {
    local i
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
}
trap on_exit EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# skip REASON: exit 77, or fail when CI reserved a pool and runs as root.
skip() {
    if [ "${HUGEPAGE_TEST_REQUIRE_POOL:-0}" = 1 ]; then
        echo "FAIL: HUGEPAGE_TEST_REQUIRE_POOL=1 but this test would skip: $*" >&2
        exit 1
    fi
    echo "SKIP: $*" >&2
    exit 77
}
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# expect RC CMD ARGS...: runs the command, sets $out (stdout) and $err (stderr),
# and fails unless it exited with RC.
expect() {
    local want=$1
    shift
    out=$("$@" 2>"$tmp/stderr")
    rc=$?
    err=$(cat "$tmp/stderr")
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want; stderr: $err"
}

# expect_error RC CMD ARGS...: as expect, and the error is one line on stderr
# starting "hugepage: ", with nothing on stdout.
expect_error() {
    expect "$@"
    shift
    [ -z "$out" ] || fail "'$*' printed on stdout: $out"
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "'$*' printed more than one line on stderr: $err"
    case "$err" in hugepage:\ *) ;; *) fail "'$*': stderr does not start with 'hugepage: ': $err" ;; esac
}

# contains TEXT PATTERN WHAT: fails unless the fixed string PATTERN is in TEXT.
contains() { case "$1" in *"$2"*) ;; *) fail "$3: '$2' not found in: $1" ;; esac; }

# as_nobody CMD ARGS...: runs a command without root's privileges.
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

finish() {
    if [ "$fails" = 0 ]; then
        echo "all checks passed"
        exit 0
    fi
    echo "$fails check(s) failed" >&2
    exit 1
}
