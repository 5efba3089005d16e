# lib.sh: what the real-program tests share (sourced, not a test itself), on
# top of tests/cmd/lib.sh (check/fail/skip/finish, $tmp, cleanups). Env from
# CTest: HP_CMD (the built command), HP_LIB_SO (the built libhugepage.so).
#
# Each test runs an unmodified program from Debian's packages twice, plainly
# and under `hugepage run`, compares the outputs, and checks from the running
# program's /proc/PID/smaps (smaps_coverage.py) that its memory is on huge
# pages; once for each mode in $modes (auto: the whole chain, hugetlb first;
# thp: transparent huge pages only).
#
# The criterion: huge pages (AnonHugePages + anonymous hugetlb) hold at least
# $min_coverage percent of the process's anonymous resident memory
# (Anonymous + hugetlb). The heap is what a workload of 50 MiB or more
# mostly consists of; what is left on base pages is the program's stacks, the
# relocated data of its libraries, memory it maps itself (Python's arenas) and
# the tail of a huge page not yet touched. A plain run of these programs has
# almost none on huge pages in the kernel's madvise THP mode, so the figure
# shows the override at work, and it is the kernel's, not the library's.
. "$(dirname "$0")/../cmd/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
: "${HP_LIB_SO:?HP_LIB_SO must name the built libhugepage.so}"
export HUGEPAGE_LIBRARY=$HP_LIB_SO
modes=(auto thp)
min_coverage=75
limit=300 # seconds for any one program run

# A library built with a sanitizer loads only into a program built with the
# same sanitizer, not into Debian's programs.
if nm -D --undefined-only "$HP_LIB_SO" | grep -q '__[at]san_'; then
    echo "SKIP: $HP_LIB_SO is built with a sanitizer; Debian's programs cannot preload it" >&2
    exit 77
fi

# need_prog PACKAGE PROGRAM...: installs the preload group (scripts/deps.sh)
# when a program is missing; skips when it still is.
need_prog() {
    local pkg=$1 p
    shift
    for p in "$@"; do
        command -v "$p" >/dev/null && continue
        bash "$HP_SOURCE_DIR/scripts/deps.sh" preload >&2 || true
        command -v "$p" >/dev/null || skip "$p (Debian package $pkg) is not installed and cannot be"
    done
}

# the pool's free pages, for the note on what auto mode got
pool_free() {
    local d=/sys/kernel/mm/hugepages/hugepages-2048kB
    echo $(($(cat $d/free_hugepages) - $(cat $d/resv_hugepages)))
}

# same_run NAME MODE CMD ARGS...: runs CMD plainly and under `hugepage run
# --mode MODE`, both bounded by $limit; fails unless both exit alike and write
# the same stdout. The outputs stay in $tmp/NAME.plain and $tmp/NAME.hp.
same_run() {
    local name=$1 mode=$2
    shift 2
    timeout "$limit" "$@" >"$tmp/$name.plain" 2>"$tmp/$name.plain.err"
    local rc_plain=$?
    timeout "$limit" "$HP" run --mode "$mode" -- "$@" >"$tmp/$name.hp" 2>"$tmp/$name.hp.err"
    local rc_hp=$?
    [ "$rc_plain" = "$rc_hp" ] ||
        fail "$name ($mode): exit $rc_hp under hugepage run, $rc_plain plainly; stderr: $(tail -5 "$tmp/$name.hp.err")"
    cmp -s "$tmp/$name.plain" "$tmp/$name.hp" ||
        fail "$name ($mode): output differs from the plain run: $(diff "$tmp/$name.plain" "$tmp/$name.hp" | head -5)"
}

# wait_for FILE PATTERN PID WHAT: waits (up to $limit s) until FILE has a line
# matching PATTERN; fails and finishes when PID exits first.
wait_for() {
    local file=$1 pattern=$2 pid=$3 what=$4 i
    for ((i = 0; i < limit * 10; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$what exited before it was ready: $(tail -5 "$file" "$file.err" 2>/dev/null)"
            finish
        fi
        sleep 0.1
    done
    fail "$what was not ready within $limit s"
    finish
}

# coverage PID WHAT [MIN]: the smaps criterion above, for a running process.
# Sets $cov_line (smaps_coverage.py's figures) and prints it.
coverage() {
    local pid=$1 what=$2 min=${3:-$min_coverage}
    cov_line=$(python3 "$here/smaps_coverage.py" "$pid") || {
        fail "$what: cannot read /proc/$pid/smaps"
        return
    }
    echo "$what: $cov_line"
    local cov=${cov_line##*coverage=}
    awk -v c="$cov" -v m="$min" 'BEGIN { exit !(c >= m) }' ||
        fail "$what: huge pages hold $cov% of its anonymous memory, want >= $min% ($cov_line)"
}

# start_paused NAME MODE CMD ARGS...: starts CMD under `hugepage run --mode
# MODE` with stdin a FIFO that this shell holds open (closed by resume), stdout
# in $tmp/NAME.out; sets $pid (CMD's own PID: the subshell execs hugepage,
# which execs CMD). The workload says when it is at its peak.
start_paused() {
    local name=$1 mode=$2
    shift 2
    rm -f "$tmp/$name.in" "$tmp/$name.out" "$tmp/$name.out.err"
    mkfifo "$tmp/$name.in"
    (exec timeout --foreground "$limit" "$HP" run --mode "$mode" -- "$@") \
        <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.out.err" &
    pid=$!
    exec {paused_fd}>"$tmp/$name.in"
    cleanups+=("kill $pid 2>/dev/null")
}

# resume: closes the paused program's stdin and waits for it; fails unless it
# exits 0.
resume() {
    exec {paused_fd}>&-
    wait "$pid" || fail "the paused program exited $? at the end: $(tail -5 "$tmp"/*.out.err)"
}
