#!/usr/bin/env bash
# test_exports.sh: the libraries export only the public names.
#  - libhugepage.so and libhugepage-api.so: every defined dynamic symbol is
#    hp_*; libhugepage.so may also export the malloc family and C++ operator
#    new/delete (the override), libhugepage-api.so may not (it keeps the
#    program's malloc);
#  - both carry a versioned SONAME (lib...so.0);
#  - libhugepage.a defines no global name outside hp_* / hpi_*, so linking it
#    statically cannot clash with a program's own functions.
# Environment (set by CTest): HP_LIB_SO, HP_LIB_API_SO, HP_BUILD_DIR.
set -euo pipefail

fail=0
say_fail() { echo "FAIL: $*" >&2; fail=1; }

malloc_family="malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign
  valloc pvalloc malloc_usable_size mallopt malloc_trim mallinfo mallinfo2 malloc_stats
  malloc_info cfree"

is_malloc_family() {
  local w
  for w in $malloc_family; do [ "$1" = "$w" ] && return 0; done
  # operator new / new[] (_Znwm, _Znam, nothrow and align_val_t variants),
  # operator delete / delete[] (_ZdlPv, _ZdaPv, sized and aligned variants).
  [[ "$1" =~ ^_Zn[wa]m ]] || [[ "$1" =~ ^_Zd[la]Pv ]]
}

# Prints the defined dynamic symbols of $1, one name a line, versions stripped.
dyn_names() { nm -D --defined-only "$1" | awk '{print $NF}' | sed 's/@.*//' | sort -u; }

check_so() {
  local lib=$1 allow_malloc=$2 soname_want=$3 n=0
  [ -f "$lib" ] || { say_fail "$lib does not exist"; return; }
  while read -r name; do
    n=$((n + 1))
    [[ "$name" == hp_* ]] && continue
    if [ "$allow_malloc" = yes ] && is_malloc_family "$name"; then continue; fi
    say_fail "$(basename "$lib") exports '$name', which is neither hp_* nor allowed"
  done < <(dyn_names "$lib")
  [ "$n" -gt 0 ] || say_fail "$(basename "$lib") exports nothing"
  # Names captured first: `| grep -q` under pipefail can fail on SIGPIPE.
  local names
  names=$(dyn_names "$lib")
  for name in hp_map hp_unmap hp_backing hp_memfd hp_page_size; do
    grep -qx "$name" <<<"$names" || say_fail "$(basename "$lib") does not export $name"
  done
  local soname
  soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ "$soname" = "$soname_want" ] || say_fail "$(basename "$lib") has SONAME '$soname', want '$soname_want'"
  echo "$(basename "$lib"): $n exported names, SONAME $soname"
}

check_so "${HP_LIB_SO:?set by CTest}" yes libhugepage.so.0
check_so "${HP_LIB_API_SO:?set by CTest}" no libhugepage-api.so.0

static="${HP_BUILD_DIR:?set by CTest}/libhugepage.a"
if [ -f "$static" ]; then
  bad=$(nm -g --defined-only "$static" | awk 'NF == 3 {print $3}' | grep -Ev '^(hp_|hpi_)' | sort -u || true)
  [ -z "$bad" ] || say_fail "libhugepage.a defines global names outside hp_*/hpi_*: $(echo $bad)"
else
  say_fail "$static does not exist"
fi

[ "$fail" -eq 0 ] && echo "exports: ok"
exit "$fail"
