# lib.sh: what the reliability tests share (sourced, not a test itself), on top
# of tests/cmd/lib.sh (fail/skip/need_root/contains/finish, $tmp, cleanups run
# in reverse on EXIT, INT and TERM). Env from CTest: HP_PROG_conditions (the
# helper program, tests/progs/conditions.c), HP_BUILD_DIR.
#
# These tests change machine-wide settings (the 2 MiB hugetlb pool, the THP
# mode); CTest runs them under RESOURCE_LOCK hugetlb_pool, and every change is
# undone by a cleanup registered before it is made, so it is undone also when
# the program under test crashes or the test is interrupted.
. "$(dirname "$0")/../cmd/lib.sh"
: "${HP_PROG_conditions:?HP_PROG_conditions must name the built conditions program}"
COND=$HP_PROG_conditions
pool=/sys/kernel/mm/hugepages/hugepages-2048kB
thp_enabled=/sys/kernel/mm/transparent_hugepage/enabled
limit=30 # seconds for any one program run

# pool_free: pages of the 2 MiB pool a new mapping can still reserve.
pool_free() { echo $(($(cat $pool/free_hugepages) - $(cat $pool/resv_hugepages))); }
# meminfo FIELD: a number from /proc/meminfo (HugePages_Total, Hugetlb, ...).
meminfo() { awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo; }

# pool_save: remembers the pool's size now and restores it at exit. Growing
# the pool back needs free 2 MiB runs of memory: compact and retry when the
# kernel gives fewer pages than asked.
pool_save() {
    [ -w /proc/sys/vm/nr_hugepages ] || skip "needs root to resize the hugetlb pool"
    pool_orig=$(cat /proc/sys/vm/nr_hugepages)
    cleanups+=("pool_restore")
}
pool_restore() {
    local i
    for ((i = 0; i < 5; i++)); do
        echo "$pool_orig" >/proc/sys/vm/nr_hugepages
        [ "$(cat /proc/sys/vm/nr_hugepages)" = "$pool_orig" ] && return 0
        echo 1 >/proc/sys/vm/compact_memory
        sleep 0.2
    done
    echo "FAIL: could not restore the 2 MiB pool to $pool_orig pages (now $(cat /proc/sys/vm/nr_hugepages))" >&2
    return 1
}
pool_set() { echo "$1" >/proc/sys/vm/nr_hugepages; }

# thp_save: remembers the THP mode and restores it at exit.
thp_save() {
    [ -w "$thp_enabled" ] || skip "needs root and THP support ($thp_enabled)"
    thp_orig=$(sed 's/.*\[\(.*\)\].*/\1/' "$thp_enabled")
    cleanups+=("echo $thp_orig >$thp_enabled")
}

# need_pool N: skips (fails under HUGEPAGE_TEST_REQUIRE_POOL=1) unless N pages
# of the 2 MiB pool are free.
need_pool() {
    local free
    free=$(pool_free 2>/dev/null || echo 0)
    [ "$free" -ge "$1" ] || skip "needs $1 free 2 MiB hugetlb pages, the pool has $free"
}

# field NAME TEXT: the value of NAME=value in TEXT (the program's output lines).
field() { sed -n "s/.*[ ^]$1=\([0-9]*\).*/\1/p" <<<" $2" | head -1; }

# run_cond NAME ARGS...: runs the program bounded by $limit, output in
# $tmp/NAME.out/.err; sets $out and $rc, and fails unless it exited 0.
run_cond() {
    local name=$1
    shift
    timeout "$limit" "$COND" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    out=$(cat "$tmp/$name.out")
    echo "--- $name: conditions $* (exit $rc)"
    cat "$tmp/$name.out" "$tmp/$name.err"
    [ "$rc" = 0 ] || fail "$name: 'conditions $*' exited $rc: $(tail -3 "$tmp/$name.err")"
}

# start_paused NAME ARGS...: starts the program in the background with stdin a
# FIFO this shell holds open; sets $pid. go sends the line it waits for.
start_paused() {
    local name=$1
    shift
    mkfifo "$tmp/$name.in"
    timeout "$limit" "$COND" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    exec {paused_fd}>"$tmp/$name.in"
    cleanups+=("kill $pid 2>/dev/null")
}
go() { echo go >&"$paused_fd"; exec {paused_fd}>&-; }

# wait_line NAME PATTERN: waits until the paused program prints a line
# matching PATTERN; fails and finishes when it exits first or takes $limit s.
wait_line() {
    local i
    for ((i = 0; i < limit * 10; i++)); do
        grep -q "$2" "$tmp/$1.out" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$1: no '$2' line: $(cat "$tmp/$1.out" "$tmp/$1.err")"
    finish
}
