#!/usr/bin/env bash
# bench.sh: runs the workloads in bench/ under glibc, jemalloc, mimalloc,
# tcmalloc, libhugetlbfs and hugepage (each in its default and huge-page
# configurations), interleaved (A B C A B C ...), and writes the report
# bench/results/<date>-<host>.md with a PNG chart per workload group.
# See bench/README.md for what each workload measures.
#
#   scripts/bench.sh                 quick run (1 GiB buffers, 3 reps, < 10 min)
#   scripts/bench.sh --full          the whole thing (4 GiB buffers, 5 reps)
#   scripts/bench.sh --only tlb_chase,fault --configs glibc,jemalloc-thp --reps 3 --size 256M
#
# As root it raises the 2 MiB and 1 GiB huge page pools to what the largest
# workload needs, mounts a hugetlbfs for tcmalloc, and restores both on exit
# (trap). Without root those configurations run on whatever is there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
invocation="scripts/bench.sh $*"

usage() {
  cat <<EOF
usage: scripts/bench.sh [--full] [--only W1,W2] [--configs C1,C2] [--reps N]
                        [--size SIZE] [--scale F] [--build DIR] [--out DIR] [--list]
  --full      4 GiB buffers (2 GiB for mem_release), 5 reps, full op counts
  --only      workloads to run (default: all; see --list)
  --configs   allocator configurations (default: all; see --list)
  --reps      repetitions of each run (default 3 quick, 5 full)
  --size      big-buffer size for tlb_*, fault and mem_release (e.g. 256M)
  --scale     multiply every operation count (e.g. 0.1 for a smoke test)
  --build     build directory holding libhugepage.so (default build/release)
  --out       directory for the report (default bench/results)
EOF
}

# ---- what runs: workloads and configurations --------------------------------
# name|group|arguments (BIG, REL, KEEP and the N_* counts are filled in below)|1 GiB reference?
workloads=(
  "tlb_hash|tlb|-s BIG -n N_HASH|ref"
  "tlb_rmw|tlb|-s BIG -n N_RMW|ref"
  "tlb_chase|tlb|-s BIG -n N_CHASE|ref"
  "fault|fault|-s BIG|"
  "churn1|alloc|-n N_CHURN|"
  "churn2|alloc|-n N_XTHREAD|"
  "server|alloc|-n N_SERVER|"
  "realloc_grow|alloc|-n N_REALLOC|"
  "mem_small|memory||"
  "mem_release|memory|-s REL -t KEEP|"
)

libdir=/usr/lib/x86_64-linux-gnu
# name|LD_PRELOAD|environment (space-separated VAR=value)
configs_all=(
  "glibc||"
  "glibc-hugetlb1||GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
  "glibc-hugetlb2||GLIBC_TUNABLES=glibc.malloc.hugetlb=2"
  "jemalloc|$libdir/libjemalloc.so.2|"
  "jemalloc-thp|$libdir/libjemalloc.so.2|MALLOC_CONF=thp:always,metadata_thp:always"
  "mimalloc|$libdir/libmimalloc.so.2|"
  "mimalloc-large|$libdir/libmimalloc.so.2|MIMALLOC_LARGE_OS_PAGES=1"
  "tcmalloc|$libdir/libtcmalloc_minimal.so.4|"
  "tcmalloc-hugetlbfs|$libdir/libtcmalloc_minimal.so.4|TCMALLOC_MEMFS_MALLOC_PATH=MNT/tcmalloc"
  "libhugetlbfs|$libdir/libhugetlbfs.so.0|HUGETLB_MORECORE=yes"
  "hugepage-auto|LIBHP|HUGEPAGE_MODE=auto"
  "hugepage-thp|LIBHP|HUGEPAGE_MODE=thp"
  "hugepage-hugetlb|LIBHP|HUGEPAGE_MODE=hugetlb"
  "hugepage-secure|LIBHP|HUGEPAGE_SECURE=1"
)
# Variables a run must not inherit from the caller's shell.
scrub=(LD_PRELOAD GLIBC_TUNABLES MALLOC_CONF MIMALLOC_LARGE_OS_PAGES MIMALLOC_ALLOW_LARGE_OS_PAGES
       TCMALLOC_MEMFS_MALLOC_PATH HUGETLB_MORECORE HUGEPAGE_MODE HUGEPAGE_PAGESIZE HUGEPAGE_RESERVE
       HUGEPAGE_STATS HUGEPAGE_VERBOSE HUGEPAGE_SECURE)

# ---- arguments ----------------------------------------------------------------
full=0 only="" want_configs="" reps="" size="" scale=1 build=build/release out=bench/results partial=0
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --only) only=$2; partial=1; shift ;;
    --configs) want_configs=$2; partial=1; shift ;;
    --reps) reps=$2; shift ;;
    --size) size=$2; partial=1; shift ;;
    --scale) scale=$2; partial=1; shift ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    --list)
      echo "workloads:"; for w in "${workloads[@]}"; do echo "  ${w%%|*}"; done
      echo "configs:"; for c in "${configs_all[@]}"; do echo "  ${c%%|*}"; done
      echo "  1g-ref (TLB workloads only: one explicit 1 GiB-page mapping, glibc)"
      exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Quick vs full sizes. Op counts are chosen so one run takes about a second
# on glibc (quick) or several seconds (full).
if [ $full = 1 ]; then
  mode=full big=4G rel=2G keep_s=10 reps=${reps:-5}
  n_hash=20000000 n_rmw=100000000 n_chase=20000000 n_churn=100000000 n_xthread=20000000
  n_server=50000000 n_realloc=20000000
else
  mode=quick big=1G rel=1G keep_s=2 reps=${reps:-3}
  n_hash=5000000 n_rmw=20000000 n_chase=5000000 n_churn=20000000 n_xthread=5000000
  n_server=10000000 n_realloc=5000000
fi
if [ -n "$size" ]; then big=$size rel=$size; fi
if [ "$mode" = quick ] && [ $partial = 1 ]; then mode=custom; fi
if [ "$mode" = full ] && [ $partial = 1 ]; then mode="full-custom"; fi

to_bytes() { # 512M -> bytes
  local v=${1%[kKmMgG]} u=${1: -1}
  case "$u" in k | K) echo $((v << 10)) ;; m | M) echo $((v << 20)) ;; g | G) echo $((v << 30)) ;; *) echo "$1" ;; esac
}
scaled() { awk -v n="$1" -v f="$scale" 'BEGIN { v = int(n * f); if (v < 1000) v = 1000; print v }'; }
big_bytes=$(to_bytes "$big")
rel_bytes=$(to_bytes "$rel")
max_bytes=$((big_bytes > rel_bytes ? big_bytes : rel_bytes))

# ---- dependencies, the library, the workloads ----------------------------------
scripts/deps.sh bench
# libhugetlbfs.so.0 is in libhugetlbfs0, not libhugetlbfs-bin (the bench group
# lists only the latter); fetch it the same way when missing.
if [ ! -e $libdir/libhugetlbfs.so.0 ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libhugetlbfs0 >/dev/null ||
    echo "bench.sh: could not install libhugetlbfs0" >&2
fi

libhp=$root/$build/libhugepage.so
# Rebuilt when missing or older than any source; a failed build leaves the
# hugepage configurations "not available" instead of stopping the run.
if [ ! -e "$libhp" ] || [ -n "$(find src include CMakeLists.txt -newer "$libhp" -print -quit 2>/dev/null)" ]; then
  echo "bench.sh: building $build/libhugepage.so" >&2
  if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
         cmake --build "$build" -j "$(nproc)" --target hugepage >/dev/null; }; then
    echo "bench.sh: building libhugepage.so failed; hugepage configurations will be skipped" >&2
  fi
fi
hp_status="available"
if [ ! -e "$libhp" ]; then
  hp_status="not available: $build/libhugepage.so could not be built"
elif ! nm -D --defined-only "$libhp" 2>/dev/null | awk '$3 == "malloc" { found = 1 } END { exit !found }'; then
  hp_status="not available: $build/libhugepage.so does not export malloc yet"
fi

bindir=$root/$build/bench
mkdir -p "$bindir"
for w in "${workloads[@]}"; do
  name=${w%%|*}
  if [ ! -x "$bindir/$name" ] || [ "bench/$name.c" -nt "$bindir/$name" ] || [ bench/common.h -nt "$bindir/$name" ]; then
    cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -o "$bindir/$name" "bench/$name.c"
  fi
done

# ---- huge page pools and the hugetlbfs mount, restored on exit -----------------
pool2=/proc/sys/vm/nr_hugepages
sys2=/sys/kernel/mm/hugepages/hugepages-2048kB
sys1g=/sys/kernel/mm/hugepages/hugepages-1048576kB
orig2=$(cat $pool2) set2="" orig1g="" set1g="" mnt="" work=""
cleanup() {
  # Put back only what we changed, and only if nobody changed it since.
  if [ -n "$set2" ] && [ "$(cat $pool2)" = "$set2" ]; then echo "$orig2" >$pool2; fi
  if [ -n "$set1g" ] && [ "$(cat $sys1g/nr_hugepages)" = "$set1g" ]; then echo "$orig1g" >$sys1g/nr_hugepages; fi
  if [ -n "$mnt" ]; then umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true; fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
work=$(mktemp -d /tmp/bench-run.XXXXXX)

# 2 MiB pages for the largest buffer + 10% + 64 (tcmalloc-hugetlbfs, glibc
# hugetlb=2 and hugepage-hugetlb each take them from the pool, one at a time).
need2=$(( (max_bytes >> 21) * 11 / 10 + 64 ))
# 1 GiB pages for the reference: the whole buffer on 1 GiB pages.
need1g=$(( (big_bytes + (1 << 30) - 1) >> 30 ))
is_root=0; [ "$(id -u)" = 0 ] && is_root=1
if [ $is_root = 1 ]; then
  free2=$(cat $sys2/free_hugepages)
  if [ "$free2" -lt "$need2" ]; then
    set2=$((orig2 + need2 - free2))
    echo "$set2" >$pool2 || true
    echo "bench.sh: 2 MiB pool $orig2 -> $(cat $pool2) pages (restored at exit)" >&2
  fi
  if [ -d $sys1g ]; then
    orig1g=$(cat $sys1g/nr_hugepages)
    free1g=$(cat $sys1g/free_hugepages)
    if [ "$free1g" -lt "$need1g" ]; then
      set1g=$((orig1g + need1g - free1g))
      echo "$set1g" >$sys1g/nr_hugepages 2>/dev/null || true
      set1g=$(cat $sys1g/nr_hugepages) # what the kernel granted
      echo "bench.sh: 1 GiB pool $orig1g -> $set1g pages (restored at exit)" >&2
    fi
  fi
  mnt=$(mktemp -d /tmp/bench-hugetlbfs.XXXXXX)
  if ! mount -t hugetlbfs -o pagesize=2M none "$mnt"; then rmdir "$mnt"; mnt=""; fi
else
  echo "bench.sh: not root: pools left as they are, no hugetlbfs mount for tcmalloc" >&2
fi
ref_status="available"
if [ ! -d $sys1g ]; then
  ref_status="not available: the kernel has no 1 GiB pages"
elif [ "$(cat $sys1g/free_hugepages)" -lt "$need1g" ]; then
  ref_status="not available: $need1g free 1 GiB pages needed, the kernel granted $(cat $sys1g/free_hugepages)"
fi

# ---- the plan ----------------------------------------------------------------------
selected() { # selected NAME LIST: is NAME in the comma list (or the list empty)?
  [ -z "$2" ] || [[ ",$2," == *",$1,"* ]]
}
configs=()
for c in "${configs_all[@]}"; do
  name=${c%%|*}
  selected "$name" "$want_configs" && configs+=("$c")
done
if selected 1g-ref "$want_configs"; then want_ref=1; else want_ref=0; fi

config_status() { # why a configuration cannot run, or "available"
  local name=$1 pre=$2
  case "$name" in hugepage-*) echo "$hp_status"; return ;; esac
  if [ -n "$pre" ] && [ ! -e "$pre" ]; then echo "not available: $pre missing"; return; fi
  if [ "$name" = tcmalloc-hugetlbfs ] && [ -z "$mnt" ]; then echo "not available: no hugetlbfs mount (needs root)"; return; fi
  echo available
}

args_for() { # the argument template with sizes and counts filled in
  local a=$1
  a=${a//N_HASH/$(scaled $n_hash)}; a=${a//N_RMW/$(scaled $n_rmw)}; a=${a//N_CHASE/$(scaled $n_chase)}
  a=${a//N_CHURN/$(scaled $n_churn)}; a=${a//N_XTHREAD/$(scaled $n_xthread)}
  a=${a//N_SERVER/$(scaled $n_server)}; a=${a//N_REALLOC/$(scaled $n_realloc)}
  a=${a//BIG/$big}; a=${a//REL/$rel}; a=${a//KEEP/$keep_s}
  echo "$a"
}

raw=$work/raw.tsv meta=$work/meta.txt cmds=$work/commands.tsv
printf 'workload\tgroup\tconfig\trep\tstatus\tvalue\tunit\tbetter\trss_kb\tanon_huge_kb\thugetlb_kb\thuge_pct\tpeak_kb\n' >"$raw"
: >"$cmds"

# One run: prints the raw line. The environment is scrubbed of every variable
# another configuration sets, then given this configuration's.
run_one() { # workload group config preload env args rep
  local w=$1 g=$2 c=$3 pre=$4 envs=$5 args=$6 rep=$7 rc=0 o=$work/out e=$work/err
  local cmd=(env)
  for v in "${scrub[@]}"; do cmd+=(-u "$v"); done
  # shellcheck disable=SC2206 # envs and args are word lists by construction
  cmd+=($envs)
  [ -n "$pre" ] && cmd+=("LD_PRELOAD=$pre")
  # shellcheck disable=SC2206
  cmd+=("$bindir/$w" $args)
  timeout 900 "${cmd[@]}" >"$o" 2>"$e" || rc=$?
  # Not available (e.g. the shared 1 GiB page is held by someone else): once more.
  if [ $rc = 3 ]; then sleep 2; rc=0; timeout 900 "${cmd[@]}" >"$o" 2>"$e" || rc=$?; fi
  local status=ok
  if [ $rc = 3 ]; then
    status="n/a: $(head -1 "$e" | tr '\t' ' ')"
  elif [ $rc != 0 ]; then
    status="fail($rc)"
  fi
  if [ "$status" != ok ]; then
    sed "s/^/  $w $c: /" "$e" | head -3 >&2
  fi
  awk -v w="$w" -v g="$g" -v c="$c" -v rep="$rep" -v st="$status" '
    function field(line, key,    i, n, kv) {
      n = split(line, kv, " ")
      for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
      return "-"
    }
    /^result / { r = $0 }
    /^coverage / && cov == "" { cov = $0 }
    END {
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w, g, c, rep,
        (r == "" && st == "ok") ? "fail(no result)" : st,
        field(r, "value"), field(r, "unit"), field(r, "better"), field(cov, "rss_kb"),
        field(cov, "anon_huge_kb"), field(cov, "hugetlb_kb"), field(cov, "huge_pct"), field(cov, "peak_kb")
    }' "$o"
}

# Commands, for the report: exactly what each run executes.
command_line() { # config preload env args workload
  local s=""
  [ -n "$3" ] && s="$3 "
  [ -n "$2" ] && s="${s}LD_PRELOAD=$2 "
  echo "${s}$build/bench/$5${4:+ $4}"
}

plan=()
for w in "${workloads[@]}"; do
  IFS='|' read -r name group targs ref <<<"$w"
  selected "$name" "$only" || continue
  args=$(args_for "$targs")
  for c in "${configs[@]}"; do
    IFS='|' read -r cname pre envs <<<"$c"
    pre=${pre//LIBHP/$libhp}; envs=${envs//MNT/$mnt}
    st=$(config_status "$cname" "$pre")
    printf '%s\t%s\t%s\n' "$name" "$cname" "$(command_line "$cname" "${pre#"$root/"}" "$envs" "$args" "$name")" >>"$cmds"
    if [ "$st" != available ]; then
      printf '%s\t%s\t%s\t0\t%s\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "$group" "$cname" "$st" >>"$raw"
      continue
    fi
    plan+=("$name|$group|$cname|$pre|$envs|$args")
  done
  if [ "$ref" = ref ] && [ $want_ref = 1 ]; then
    printf '%s\t%s\t%s\n' "$name" 1g-ref "$build/bench/$name $args -1" >>"$cmds"
    if [ "$ref_status" = available ]; then
      plan+=("$name|$group|1g-ref|||$args -1")
    else
      printf '%s\t%s\t1g-ref\t0\t%s\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "$group" "$ref_status" >>"$raw"
    fi
  fi
done

# ---- the machine ------------------------------------------------------------------
{
  echo "date=$(date '+%F %T %Z')"
  echo "host=$(hostname -s)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) CPUs)"
  echo "kernel=$(uname -sr)"
  echo "glibc=$(ldd --version | head -1 | awk '{ print $NF }')"
  echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "thp=enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled); defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag)"
  echo "pool_2m=$(cat $pool2) pages during the run ($orig2 before; $(cat $sys2/free_hugepages) free at start)"
  [ -d $sys1g ] && echo "pool_1g=$(cat $sys1g/nr_hugepages) pages during the run (${orig1g:-$(cat $sys1g/nr_hugepages)} before)"
  echo "hugetlbfs=${mnt:-none} (pagesize=2M, for tcmalloc-hugetlbfs)"
  echo "mode=$mode"
  echo "reps=$reps"
  echo "sizes=big buffers $big, mem_release $rel, keep running ${keep_s}s, op counts x$scale"
  echo "invocation=$invocation"
  echo "hugepage=$hp_status"
  echo "ref1g=$ref_status"
  for p in libc6 libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libhugetlbfs0; do
    echo "pkg_$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)"
  done
  # What libhugetlbfs says about HUGETLB_MORECORE on this glibc (it no longer hooks morecore).
  if [ -e $libdir/libhugetlbfs.so.0 ]; then
    msg=$(env HUGETLB_VERBOSE=3 HUGETLB_MORECORE=yes LD_PRELOAD=$libdir/libhugetlbfs.so.0 "$bindir/fault" -s 4M 2>&1 >/dev/null |
          grep -i morecore | head -1 || true)
    echo "libhugetlbfs_says=${msg:-nothing about morecore}"
  fi
} >"$meta"

# ---- run, interleaved: for each workload, rep 1 of every config, then rep 2 ... ----
total=$(( ${#plan[@]} * reps ))
echo "bench.sh: $mode run, $total runs (${#plan[@]} workload x config pairs, $reps reps); hugepage: $hp_status" >&2
i=0
started=$(date +%s)
for ((k = 0; k < ${#plan[@]}; )); do
  # the block of plan entries that share this workload
  w=${plan[$k]%%|*}
  block=()
  while [ $k -lt ${#plan[@]} ] && [ "${plan[$k]%%|*}" = "$w" ]; do block+=("${plan[$k]}"); k=$((k + 1)); done
  for ((rep = 1; rep <= reps; rep++)); do
    for p in "${block[@]}"; do
      IFS='|' read -r name group cname pre envs args <<<"$p"
      i=$((i + 1))
      line=$(run_one "$name" "$group" "$cname" "$pre" "$envs" "$args" "$rep")
      echo "$line" >>"$raw"
      IFS=$'\t' read -r _ _ _ _ st val unit _ _ _ _ pct _ <<<"$line"
      printf '[%d/%d %3ds] %-12s %-18s rep %d: %s %s %s, huge %s%%\n' "$i" "$total" $(( $(date +%s) - started )) \
        "$name" "$cname" "$rep" "$st" "$val" "$unit" "$pct" >&2
    done
  done
done

# ---- the report ------------------------------------------------------------------
mkdir -p "$out"
stem="$(date +%F)-$(hostname -s)"
[ $partial = 1 ] && stem="$stem-partial"
cp "$raw" "$out/$stem.tsv"
python3 bench/report.py --raw "$out/$stem.tsv" --meta "$meta" --commands "$cmds" --out "$out/$stem.md"
echo "bench.sh: report in $out/$stem.md" >&2
