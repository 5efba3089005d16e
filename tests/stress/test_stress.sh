#!/usr/bin/env bash
# Many threads allocate, realloc and free objects of 1 B to 4 MiB with random
# alignments, freeing each other's objects, forking and exiting while others
# hold their objects; no object is ever corrupted, and after everything is
# freed and trimmed the process is back near its starting resident size.
# Runs 20 s, or 10 s in a sanitizer build (HUGEPAGE_STRESS_SECONDS overrides),
# split over three legs:
#  - THP blocks, with forks while the threads allocate;
#  - the default chain (hugetlb from the pool while it lasts), without forks:
#    a MAP_PRIVATE hugetlb page written after fork needs a fresh page from the
#    pool, and when the pool is empty the kernel takes the page away from the
#    child, which then dies of SIGBUS (Documentation/mm/hugetlbpage.rst; the
#    heap takes the pool's pages, so this happens whenever the pool is short).
#    Reported to the heap's owner; until the heap decides what fork does to
#    hugetlb blocks, forks are tested on THP;
#  - the hardening mode (HUGEPAGE_SECURE=1) on THP, with forks.
# The main thread forks, and has no heap of its own: the child's first malloc
# must not take over a heap whose owner fork froze halfway through an update
# (legs 1 and 3 failed now and then until fork_child stopped that).
# Env from CTest: HP_PROG_stress (tests/progs/stress.c), HP_BUILD_DIR.
set -u
: "${HP_PROG_stress:?HP_PROG_stress must name the built stress program}"

seconds=${HUGEPAGE_STRESS_SECONDS:-}
if [ -z "$seconds" ]; then
    seconds=20
    if grep -q '^HUGEPAGE_SANITIZE:STRING=.' "${HP_BUILD_DIR:-.}/CMakeCache.txt" 2>/dev/null; then
        seconds=10
    fi
fi
leg=$(((seconds + 2) / 3))

# Threads: the program's default (4 x cores, at least 8); sizes up to 4 MiB;
# a fixed seed so a failure names the run that found it.
status=0
echo "--- leg 1: THP, with forks"
HUGEPAGE_MODE=thp "$HP_PROG_stress" 0 "$leg" $((4 << 20)) 42 || status=1
echo "--- leg 2: default chain (hugetlb pool first), no forks"
HP_STRESS_FORK=0 "$HP_PROG_stress" 0 "$leg" $((4 << 20)) 43 || status=1
echo "--- leg 3: hardening mode, THP, with forks"
HUGEPAGE_SECURE=1 HUGEPAGE_MODE=thp "$HP_PROG_stress" 0 "$leg" $((4 << 20)) 44 || status=1
exit $status
