#!/usr/bin/env bash
# test.sh: builds hugepage and runs every test, twice: a gcc build with
# -Werror, then a clang build with AddressSanitizer + UndefinedBehaviorSanitizer
# (also -Werror, so the code stays warnings-clean under both compilers).
# Installs what it needs first. Exit status: 0 when every pass is green.
#   HUGEPAGE_TEST_PASSES="release asan"   which passes to run (default: all)
#   HUGEPAGE_TEST_REQUIRE_POOL=1          a skip for lack of a pool is a failure
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

jobs=$(nproc)
passes=${HUGEPAGE_TEST_PASSES:-"release asan"}
status=0
for pass in $passes; do
  case "$pass" in
    release) dir=build/test-release; cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DHUGEPAGE_DEBUG=ON) ;;
    asan) dir=build/test-asan; cfg=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                                  -DHUGEPAGE_SANITIZE=address,undefined -DHUGEPAGE_DEBUG=full) ;;
    tsan) dir=build/test-tsan; cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                                  -DHUGEPAGE_SANITIZE=thread) ;;
    *) echo "test.sh: unknown pass '$pass' (release, asan, tsan)" >&2; exit 2 ;;
  esac
  echo "=== test pass: $pass ($dir)"
  cmake -S . -B "$dir" -DHUGEPAGE_WERROR=ON "${cfg[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 ctest --output-on-failure -j "$jobs"); then
    status=1
  fi
done
exit $status
