#!/usr/bin/env bash
# Pool shrunk while running: a program allocates 64 MiB with the heap on
# hugetlb pages, then the test lowers /proc/sys/vm/nr_hugepages under it, and
# the program goes on allocating, freeing, reallocating and verifying every
# object for 3 s and exits 0 (no SIGBUS, nothing lost):
#  1. the pool lowered to 0: the kernel keeps the pages in use as surplus;
#  2. the pool lowered to the pages in use (none free), with a fork every 0.5 s
#     whose child reads and verifies every object it inherited and exits, and
#     the parent rewriting all its objects after each child. The child starts
#     with objects on pool pages in its thread cache; after the library's
#     check at exit its smaps must show no hugetlb page copied for it (a write
#     there would need a free pool page, and with none left kill it).
# Not run by default (HUGEPAGE_TEST_KNOWN_BUGS=1 runs it): 3. as 2, with the
# child writing to the inherited heap. A written MAP_PRIVATE hugetlb page is
# copied for the child from the pool's unreserved pages; with none left the
# child dies of SIGBUS (the heap's headroom in src/block.c is gone once the
# pool is shrunk). Reproducer: tests/progs/conditions.c, shrink --fork-write.
# The pool's size is restored after each leg and at exit.
. "$(dirname "$0")/lib.sh"
need_root
pool_save
need_pool 64

# leg NAME TARGET ARGS...: runs `conditions shrink 64 3 ARGS`, and when it is
# ready lowers the pool to TARGET pages ("inuse": the pages taken or reserved).
leg() {
    local name=$1 target=$2
    shift 2
    start_paused "$name" shrink 64 3 "$@"
    wait_line "$name" '^ready'
    local ready
    ready=$(grep '^ready' "$tmp/$name.out")
    [ "$(field hugetlb_kb "$ready")" -gt 0 ] || fail "$name: the heap was not on hugetlb pages: $ready"
    [ "$target" = inuse ] && target=$(($(cat /proc/sys/vm/nr_hugepages) - $(pool_free)))
    pool_set "$target"
    echo "$name: pool lowered to $target pages: total $(meminfo HugePages_Total)," \
        "free $(meminfo HugePages_Free), reserved $(meminfo HugePages_Rsvd), surplus $(meminfo HugePages_Surp)"
    go
    wait "$pid"
    local rc=$?
    echo "--- $name: conditions shrink 64 3 $* (exit $rc)"
    cat "$tmp/$name.out" "$tmp/$name.err"
    [ "$rc" = 0 ] || fail "$name: exited $rc after the pool shrank: $(tail -2 "$tmp/$name.err")"
    grep -q '^done' "$tmp/$name.out" || fail "$name: did not finish its run"
    pool_restore || fail "$name: could not restore the pool"
}

leg to_zero 0
leg to_in_use_fork inuse --fork-read
if [ "${HUGEPAGE_TEST_KNOWN_BUGS:-0}" = 1 ]; then
    leg to_in_use_fork_write inuse --fork-write
else
    echo "note: leg 3 (the child writes its inherited heap after the pool shrank) not run: known bug, HUGEPAGE_TEST_KNOWN_BUGS=1 runs it"
fi
finish
