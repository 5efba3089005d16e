#!/usr/bin/env bash
# THP never: with transparent_hugepage/enabled set to never and the hugetlb
# pool empty (the program holds every free page with hp_map HP_STRICT first),
# the heap works on base pages: no AnonHugePages and no hugetlb pages in its
# smaps, and both hp_stats and HUGEPAGE_STATS say base; with the pool present,
# the heap still gets hugetlb pages. The THP mode is restored at the end.
. "$(dirname "$0")/lib.sh"
need_root
thp_save
echo never >"$thp_enabled"
grep -q '\[never\]' "$thp_enabled" || fail "could not set THP to never"

HUGEPAGE_STATS=1 run_cond empty fill 64 --exhaust-pool
line=$(grep '^heap ' <<<"$out")
stats=$(grep '^stats ' <<<"$out")
[ "$(field hugetlb_kb "$line")" = 0 ] || fail "pool empty: the heap has hugetlb pages: $line"
[ "$(field thp_kb "$line")" = 0 ] || fail "THP never: the heap has AnonHugePages: $line"
[ "$(field base_kb "$line")" -ge $((64 * 1024)) ] || fail "the heap is not on base pages: $line"
[ "$(field mapped_thp "$stats")" = 0 ] || fail "hp_stats counts THP memory under THP never: $stats"
[ "$(field mapped_base "$stats")" -gt 0 ] || fail "hp_stats counts no base memory: $stats"
# HUGEPAGE_STATS at exit: the fallback to base pages is counted.
fb=$(awk '$1 == "fallback_base" { print $2 }' "$tmp/empty.err")
[ "${fb:-0}" -gt 0 ] || fail "HUGEPAGE_STATS shows no fallback to base pages: $(cat "$tmp/empty.err")"

need_pool 64
run_cond pool fill 64
line=$(grep '^heap ' <<<"$out")
[ "$(field hugetlb_kb "$line")" -gt 0 ] || fail "THP never with a pool: no hugetlb pages: $line"
finish
