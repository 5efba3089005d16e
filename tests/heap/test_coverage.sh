#!/usr/bin/env bash
# A heap of 1 GiB of small objects is at least 99% on huge pages, measured from
# /proc/self/smaps: on hugetlb pages with a pool, on THP with the pool empty,
# and on 1 GiB pages with HUGEPAGE_PAGESIZE=1G when the kernel has one free.
set -uo pipefail
prog=${HP_PROG_heap_coverage:?built by CMake}
fail=0
skip() {
  if [ "${HUGEPAGE_TEST_REQUIRE_POOL:-0}" = 1 ]; then echo "FAIL (pool required): $*"; fail=1
  else echo "SKIP: $*"; skipped=1; fi
}
skipped=0
# check KIND MINPCT OUTPUT: the heap's huge pages of KIND cover >= 99%
check() {
  local what=$1 line=$2
  echo "$what: $line"
  local heap hugetlb thp pct
  heap=$(sed -n 's/.*heap_kb=\([0-9]*\).*/\1/p' <<<"$line")
  hugetlb=$(sed -n 's/.*hugetlb_kb=\([0-9]*\).*/\1/p' <<<"$line")
  thp=$(sed -n 's/.*thp_kb=\([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$heap" ] || { echo "FAIL: $what: no coverage line"; fail=1; return; }
  local want=$hugetlb; [ "$3" = thp ] && want=$thp
  if [ "$heap" -lt $((900 * 1024)) ]; then echo "FAIL: $what: heap only ${heap} kB resident"; fail=1; fi
  if [ $((want * 100)) -lt $((heap * 99)) ]; then
    echo "FAIL: $what: only $want of $heap kB on $3 pages (< 99%)"; fail=1
  else echo "ok: $what: $want of $heap kB on $3 pages"; fi
}

free2m=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free2m" -ge 600 ]; then
  check "pool present" "$(HUGEPAGE_MODE=auto "$prog" 1024)" hugetlb
else
  skip "needs 600 free 2 MiB hugetlb pages for 1 GiB of objects, pool has $free2m"
fi

# Pool empty: the program holds every free page first, then the heap must use THP.
check "pool empty" "$(HUGEPAGE_MODE=auto "$prog" 1024 --exhaust-pool)" thp

free1g=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free1g" -ge 1 ]; then
  check "1 GiB pages" "$(HUGEPAGE_PAGESIZE=1G "$prog" 900)" hugetlb
else
  echo "note: no free 1 GiB page; the 1 GiB-page case is not run"
fi
[ $fail -ne 0 ] && exit 1
[ $skipped -ne 0 ] && exit 77
exit 0
