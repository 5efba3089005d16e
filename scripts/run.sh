#!/usr/bin/env bash
# run.sh: the main job (`make run`). Installs the build dependencies, builds
# build/release, and runs examples/hugepage_demo: the same memory-heavy
# workload on base pages, on 2 MiB pages and on 1 GiB pages, with the time of
# each, how much really landed on huge pages, and the speedup.
#
# As root, it first makes sure the hugetlb pools can hold the demo's buffer:
# when the 2 MiB pool has fewer free pages than the buffer needs it is grown by
# the difference, and likewise (best effort: the kernel often cannot find
# contiguous 1 GiB) the 1 GiB pool. The old sizes are put back at the end, also
# when the demo fails or is interrupted. Without root the demo still runs; the
# huge page runs then take what the pools and THP give, and say how much.
#
# Usage: scripts/run.sh [demo options]   e.g. --size 1024 --hops 10 (see --help)
#   BUILD=dir   build directory (default build/release, as `make build`)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD:-build/release}
scripts/deps.sh build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"

# The buffer size the demo will use, to size the pools (default as the demo's).
size_mib=2048
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --size) size_mib=${args[i + 1]:-$size_mib} ;;
    --size=*) size_mib=${args[i]#--size=} ;;
  esac
done
case "$size_mib" in '' | *[!0-9]*) echo "run.sh: --size wants MiB, a number" >&2; exit 2 ;; esac

pools=/sys/kernel/mm/hugepages
restore=() # "sysfs-file old-value" pairs, undone at exit

restore_pools() {
  local entry
  for entry in "${restore[@]}"; do
    set -- $entry
    echo "$2" >"$1" 2>/dev/null && echo "run.sh: $(basename "$(dirname "$1")") pool back to $2 pages" ||
      echo "run.sh: could not restore $1 to $2" >&2
  done
  restore=()
}
trap restore_pools EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Grows the pool of page size $1 (kB) so that $2 pages are free to take.
reserve() {
  local dir=$pools/hugepages-${1}kB want=$2
  [ -d "$dir" ] || return 0
  local total free resv avail
  total=$(cat "$dir/nr_hugepages")
  free=$(cat "$dir/free_hugepages")
  resv=$(cat "$dir/resv_hugepages")
  avail=$((free > resv ? free - resv : 0))
  [ "$avail" -ge "$want" ] && return 0
  restore+=("$dir/nr_hugepages $total")
  echo $((total + want - avail)) >"$dir/nr_hugepages" 2>/dev/null || true
  local got
  got=$(cat "$dir/nr_hugepages")
  echo "run.sh: ${1} kB pool: $total -> $got pages (the demo needs $want free)"
}

if [ "$(id -u)" -eq 0 ]; then
  reserve 2048 $(((size_mib + 1) / 2))
  reserve 1048576 $(((size_mib + 1023) / 1024))
else
  echo "run.sh: not root: the hugetlb pools stay as they are (huge page runs may fall back to THP)"
fi

status=0
"$build/hugepage_demo" "$@" || status=$?
exit "$status"
