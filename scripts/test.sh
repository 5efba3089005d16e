#!/usr/bin/env bash
# test.sh: builds hugepage and runs the tests in three passes: a gcc build
# with -Werror and every test, a clang build with AddressSanitizer +
# UndefinedBehaviorSanitizer (also -Werror, so the code stays warnings-clean
# under both compilers) and every test, then a clang ThreadSanitizer build
# running the multithreaded tests (the heap suite and the stress test: the
# others are single-threaded, or preload the library into programs, which a
# TSan-built library cannot be), then a libFuzzer pass: the heap fuzzer for a
# bounded time in the default and the hardening mode, and the parser fuzzer.
# Installs what it needs first. Prints how long each pass took. Exit status: 0
# when every pass is green. A fuzzer crash leaves its input in build/test-fuzz:
# commit it to the fuzzer's corpus (tests/fuzz/corpus_*) as a regression case.
#   HUGEPAGE_TEST_PASSES="release asan"   which passes to run (default: all four)
#   HUGEPAGE_TEST_REQUIRE_POOL=1          a skip for lack of a pool is a failure
#   HUGEPAGE_FUZZ_SECONDS=N               the heap fuzzer's time per mode (90)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

jobs=$(nproc)

# fuzz NAME SECONDS DIR [ENV...]: runs one libFuzzer target for SECONDS, seeded
# from its corpus in the repository (read only: new inputs go to a scratch
# directory), crash inputs kept in DIR.
fuzz() {
  local name=$1 secs=$2 dir=$3; shift 3
  local scratch="$dir/corpus-$name"
  rm -rf "$scratch"; mkdir -p "$scratch"
  local log="$dir/$name.log" rc=0
  echo "--- $name for $secs s ${*:-}"
  env "$@" "$dir/tests/$name" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$dir/crash-$name-" "$scratch" "tests/fuzz/corpus_${name#fuzz_}" >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log"
    echo "FAIL: $name exited $rc; its input: $(ls "$dir"/crash-"$name"-* 2>/dev/null || echo none written)"
    return 1
  fi
}

run_fuzzers() {
  local dir=$1 secs=${HUGEPAGE_FUZZ_SECONDS:-90} ok=0
  rm -f "$dir"/crash-*
  fuzz fuzz_heap "$secs" "$dir" HUGEPAGE_SECURE=0 || ok=1
  fuzz fuzz_heap "$secs" "$dir" HUGEPAGE_SECURE=1 || ok=1
  fuzz fuzz_sysinfo 30 "$dir" || ok=1
  return $ok
}
passes=${HUGEPAGE_TEST_PASSES:-"release asan tsan fuzz"}
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
          select=(-R '^(test_heap(_thp|_base|_secure)?|stress_test_stress)$') ;;
    fuzz) dir=build/test-fuzz; cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                                  -DHUGEPAGE_FUZZ=ON) ;;
    *) echo "test.sh: unknown pass '$pass' (release, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
  if [ "$pass" = fuzz ]; then
    echo "=== test pass: fuzz ($dir)"
    cmake -S . -B "$dir" -DHUGEPAGE_WERROR=ON "${cfg[@]}" >/dev/null
    cmake --build "$dir" -j "$jobs" --target fuzz_heap fuzz_sysinfo
    if ! run_fuzzers "$dir"; then status=1; fi
    echo "=== test pass: fuzz took $((SECONDS - start)) s"
    continue
  fi
  echo "=== test pass: $pass ($dir)"
  cmake -S . -B "$dir" -DHUGEPAGE_WERROR=ON "${cfg[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 ctest --output-on-failure -j "$jobs" "${select[@]}"); then
    status=1
  fi
  echo "=== test pass: $pass took $((SECONDS - start)) s"
done
exit $status
