#!/usr/bin/env bash
# compare.sh: the interleaved side-by-side runs behind bench/results/*-issue3.md
# (issue 3's table), until scripts/bench.sh runs the full suite. As root.
#   bench/compare.sh tlb ROUNDS    TLB-bound and fault-in workloads at 4 GiB, with
#                                  the 2 MiB pool raised to 2600 and a 1 GiB reference
#   bench/compare.sh alloc ROUNDS  churn1, churn2, mem_thread (also hugepage with HUGEPAGE_SECURE=1)
#   CONFIGS="glibc hugepage ..."   only these configurations (default: all)
# Configurations run in a shuffled order, a new one each round (seeded by the
# round, so reruns repeat it). Prints one line per run: ROUND WORKLOAD CONFIG
# <the workload's output>.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-alloc}; rounds=${2:-3}
L=/usr/lib/x86_64-linux-gnu
HP=$PWD/build/release/libhugepage.so
scripts/deps.sh bench >&2
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build/release -j2 --target hugepage >/dev/null
bin=$(mktemp -d)
for w in tlb_hash tlb_rmw tlb_chase fault churn1 churn2 mem_thread; do
  cc -O2 -pthread bench/$w.c -o "$bin/$w" -lm
done
old2m=$(cat /proc/sys/vm/nr_hugepages); old1g=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages)
mnt=$(mktemp -d); mount -t hugetlbfs none "$mnt"
trap 'umount "$mnt"; rmdir "$mnt"; echo $old2m > /proc/sys/vm/nr_hugepages;
      echo $old1g > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages; rm -rf "$bin"' EXIT
echo 2600 > /proc/sys/vm/nr_hugepages
cfgs=("glibc||" "glibc-hugetlb1||GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
      "glibc-hugetlb2||GLIBC_TUNABLES=glibc.malloc.hugetlb=2" "jemalloc|$L/libjemalloc.so.2|"
      "mimalloc|$L/libmimalloc.so.2|" "mimalloc-large|$L/libmimalloc.so.2|MIMALLOC_LARGE_OS_PAGES=1"
      "tcmalloc|$L/libtcmalloc_minimal.so.4|" "tcmalloc-hugetlbfs|$L/libtcmalloc_minimal.so.4|TCMALLOC_MEMFS_MALLOC_PATH=$mnt/tc"
      "hugepage|$HP|")
case $what in
  tlb) works=(tlb_hash tlb_rmw tlb_chase fault); args=(-s 4G) ;;
  alloc) works=(churn1 churn2 mem_thread); args=(); cfgs+=("hugepage-secure|$HP|HUGEPAGE_SECURE=1") ;;
  *) echo "usage: bench/compare.sh tlb|alloc [ROUNDS]" >&2; exit 2 ;;
esac
if [ -n "${CONFIGS:-}" ]; then
  kept=()
  for c in "${cfgs[@]}"; do
    [[ " $CONFIGS " == *" ${c%%|*} "* ]] && kept+=("$c")
  done
  [ ${#kept[@]} -gt 0 ] || { echo "compare.sh: CONFIGS names no configuration" >&2; exit 2; }
  cfgs=("${kept[@]}")
fi
for round in $(seq "$rounds"); do
  # A new order every round (reproducible: seeded by the round). A run's speed
  # depends on the one before it, which left the pool's free huge pages in its
  # own order: in a fixed order each configuration always follows the same one.
  order=("${cfgs[@]}"); RANDOM=$round
  for ((i = ${#order[@]} - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1))); t=${order[i]}; order[i]=${order[j]}; order[j]=$t
  done
  for w in "${works[@]}"; do
    for c in "${order[@]}"; do
      IFS='|' read -r name lib envs <<<"$c"
      out=$(env -i PATH="$PATH" ${lib:+LD_PRELOAD=$lib} $envs timeout 300 "$bin/$w" "${args[@]}" 2>&1 | tr '\n' ' ')
      echo "$round $w $name $out"
    done
    if [ "$what" = tlb ] && [ "$w" != fault ]; then
      echo 5 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages || true
      echo "$round $w ref-1g $("$bin/$w" "${args[@]}" -1 2>&1 | tr '\n' ' ')"
    fi
  done
done
