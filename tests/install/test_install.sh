#!/usr/bin/env bash
# test_install.sh: `cmake --install` lays the package out as users expect, and
# a small program builds and runs against the installed copy, found once with
# pkg-config and once with CMake's find_package(hugepage). Nothing from the
# source or build tree is used by the program's build.
# Environment (set by CTest): HP_BUILD_DIR; HP_CMD when the command is built.
set -euo pipefail

build=${HP_BUILD_DIR:?set by CTest}
tmp=$(mktemp -d /tmp/hp_install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail=0
say_fail() { echo "FAIL: $*" >&2; fail=1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install failed" >&2; exit 1; }

expect=(lib/libhugepage.so lib/libhugepage.so.0 lib/libhugepage-api.so lib/libhugepage-api.so.0
        lib/libhugepage.a include/hugepage.h lib/pkgconfig/hugepage.pc
        lib/cmake/hugepage/hugepageConfig.cmake lib/cmake/hugepage/hugepageConfigVersion.cmake
        lib/cmake/hugepage/hugepageTargets.cmake)
[ -n "${HP_CMD:-}" ] && expect+=(bin/hugepage)
for f in "${expect[@]}"; do
  [ -e "$prefix/$f" ] || say_fail "the install has no $f"
done
[ "$fail" -eq 0 ] || { (cd "$prefix" && find . | sort) >&2; exit 1; }

# Build the user's program the way the library was built: same compiler and,
# in a sanitizer build, the same -fsanitize (the library needs its runtime).
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" 2>/dev/null | head -1; }
cc=$(cache_get CMAKE_C_COMPILER)
cc=${cc:-${CC:-cc}}
sanitize=$(cache_get HUGEPAGE_SANITIZE)
extra=()
[ -n "$sanitize" ] && extra=(-fsanitize="$sanitize")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

# The user's program: map, touch, ask what backs it, unmap.
cat >"$tmp/prog.c" <<'PROG'
#include <hugepage.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    size_t len = (size_t)4 << 20;
    char *p = hp_map(len, 0);
    if (!p) { perror("hp_map"); return 1; }
    memset(p, 1, len);
    printf("page size %zu, backing %s\n", hp_page_size(), hp_backing_name(hp_backing(p)));
    return hp_unmap(p, len) == 0 ? 0 : 1;
}
PROG

# 1. pkg-config
flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs hugepage) ||
  { echo "FAIL: pkg-config does not find hugepage" >&2; exit 1; }
case " $flags " in *" -I$prefix/include "*) ;; *) say_fail "pkg-config --cflags does not point into the install: $flags" ;; esac
"$cc" -Wall -Werror "${extra[@]}" -o "$tmp/prog_pc" "$tmp/prog.c" $flags || say_fail "the program does not build with pkg-config ($flags)"
if [ -x "$tmp/prog_pc" ]; then
  out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/prog_pc") || say_fail "the pkg-config build does not run"
  echo "pkg-config build: $out"
  # Capture first: `ldd | grep -q` under pipefail fails whenever grep exits
  # on its match while ldd is still writing (SIGPIPE), as it did under ASan.
  libs=$(LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/prog_pc") || say_fail "ldd fails on the pkg-config build"
  grep -q "$prefix/lib/libhugepage-api.so.0" <<<"$libs" ||
    say_fail "the pkg-config build is not linked with the installed libhugepage-api.so.0"
fi

# 2. CMake find_package
mkdir -p "$tmp/proj"
cp "$tmp/prog.c" "$tmp/proj/prog.c"
cat >"$tmp/proj/CMakeLists.txt" <<'CML'
cmake_minimum_required(VERSION 3.18)
project(hp_install_user C)
find_package(hugepage 0.1 REQUIRED)
add_executable(prog prog.c)
target_link_libraries(prog PRIVATE hugepage::hugepage_api)
CML
if cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
     -DCMAKE_C_FLAGS="${extra[*]}" -DCMAKE_EXE_LINKER_FLAGS="${extra[*]}" >"$tmp/cmake.log" 2>&1 &&
   cmake --build "$tmp/proj/build" >>"$tmp/cmake.log" 2>&1; then
  out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/proj/build/prog") || say_fail "the CMake build does not run"
  echo "find_package build: $out"
else
  cat "$tmp/cmake.log" >&2
  say_fail "the program does not build with find_package(hugepage)"
fi

[ "$fail" -eq 0 ] && echo "install: ok"
exit "$fail"
