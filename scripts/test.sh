#!/usr/bin/env bash
# test.sh: builds hugepage and runs the tests in three passes: a gcc build
# with -Werror and every test, a clang build with AddressSanitizer +
# UndefinedBehaviorSanitizer (also -Werror, so the code stays warnings-clean
# under both compilers) and every test, then a clang ThreadSanitizer build
# running the multithreaded tests (the heap suite and the stress test: the
# others are single-threaded, or preload the library into programs, which a
# TSan-built library cannot be). Installs what it needs first. Prints how long
# each pass took. Exit status: 0 when every pass is green.
#   HUGEPAGE_TEST_PASSES="release asan"   which passes to run (default: all three)
#   HUGEPAGE_TEST_REQUIRE_POOL=1          a skip for lack of a pool is a failure
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

jobs=$(nproc)
passes=${HUGEPAGE_TEST_PASSES:-"release asan tsan"}
status=0
for pass in $passes; do
  start=$SECONDS
  select=()
  case "$pass" in
    release) dir=build/test-release; cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DHUGEPAGE_DEBUG=ON) ;;
    asan) dir=build/test-asan; cfg=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                                  -DHUGEPAGE_SANITIZE=address,undefined -DHUGEPAGE_DEBUG=full) ;;
    tsan) dir=build/test-tsan; cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                                  -DHUGEPAGE_SANITIZE=thread)
          select=(-R '^(test_heap(_thp|_base)?|stress_test_stress)$') ;;
    *) echo "test.sh: unknown pass '$pass' (release, asan, tsan)" >&2; exit 2 ;;
  esac
  echo "=== test pass: $pass ($dir)"
  cmake -S . -B "$dir" -DHUGEPAGE_WERROR=ON "${cfg[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 ctest --output-on-failure -j "$jobs" "${select[@]}"); then
    status=1
  fi
  echo "=== test pass: $pass took $((SECONDS - start)) s"
done
exit $status
