#!/usr/bin/env bash
# fork from a thread other than main while other threads allocate and free:
# each child allocates and frees in a new thread and in its own, then leaves
# through exit(), whose atexit handler frees the objects the parent's threads
# left behind (objects verified before every free); the parent checks every
# child's exit status. Run on the default chain (the heap on hugetlb pages,
# with block.c's headroom for the children's copy-on-write) and on THP.
# Then forks with another thread stopped by a signal in the middle of the heap.
# tests/stress covers forks from main while threads allocate, and threads
# that exit while others still hold and later free their objects.
. "$(dirname "$0")/lib.sh"
# Sanitizer builds run about 2x slower per fork round (17 s for 200 rounds on
# a slow day of the 2-core VM, alone): half the work. Beside other tests they
# slow down 4x more: forkstop-secure (50 rounds, ASan) took 4-6 s alone and
# 15-21 s beside the ASan stress test, and once passed lib.sh's 30 s limit in
# CI. The limit only has to catch a hang, so sanitizer runs get 90 s (the
# test has 600 s in CTest).
seconds=4 rounds=200
grep -q '^HUGEPAGE_SANITIZE:STRING=.' "${HP_BUILD_DIR:-.}/CMakeCache.txt" 2>/dev/null &&
  seconds=2 rounds=100 limit=90
run_cond auto forkthread "$seconds"
HUGEPAGE_MODE=thp run_cond thp forkthread "$seconds"
# fork while a thread is stopped wherever a signal found it, often halfway
# through a malloc or free: the child must not reuse that thread's heap (every
# run of this failed before fork_child left such heaps alone).
run_cond forkstop forkstop "$rounds"
HUGEPAGE_SECURE=1 run_cond forkstop-secure forkstop $((rounds / 2))
finish
