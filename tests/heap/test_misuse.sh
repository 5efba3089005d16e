#!/usr/bin/env bash
# What the heap does about misuse, one case per process (tests/progs/misuse.c):
# by default it aborts, naming the address, on a double free by one thread
# (at the latest when the object leaves its thread cache, at exit here for
# some cases) and on a free of a pointer that is not its own; it never hands
# one address to two live objects after a single-threaded double free. With
# HUGEPAGE_SECURE=1 it also catches cross-thread double frees, frees of inner
# pointers, realloc of a freed pointer, a use-after-free write over a free-list
# link, an overwritten large-object header, and a large object's overflow
# faults on its guard block at once.
set -uo pipefail
prog=${HP_PROG_misuse:?built by CMake}
fail=0

# expect MODE CASE SIGNAL WORDS: the case dies of SIGNAL, and for SIGABRT its
# one-line report contains WORDS and an address.
expect() {
  local mode=$1 case=$2 want=$3 words=$4 out status sig
  # handle_segv=0: under ASan a fault must stay a fault, not a report + exit 1.
  out=$(HUGEPAGE_SECURE=$mode ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0" \
        "$prog" "$case" 2>&1)
  status=$?
  sig=$((status > 128 ? status - 128 : 0))
  local label="HUGEPAGE_SECURE=$mode $case"
  if [ "$sig" -ne "$want" ]; then
    echo "FAIL: $label: exit status $status (want signal $want): $out"; fail=1; return
  fi
  if [ "$want" -eq 6 ] && ! grep -q -- "$words.*0x[0-9a-f]" <<<"$out"; then
    echo "FAIL: $label: report does not say '$words' with an address: $out"; fail=1; return
  fi
  echo "ok: $label: signal $sig${words:+ ($words)}"
}

# Default mode.
expect 0 double_free 6 "double free detected at"
expect 0 double_free_behind_others 6 "double free detected at"
expect 0 double_free_then_two_mallocs 6 "double free detected at"
expect 0 double_free_after_flush 6 "double free detected at"
expect 0 double_free_cross_thread 6 "double free detected at"
expect 0 free_stack_pointer 6 "invalid pointer"
expect 0 free_large_inner_pointer 6 "invalid pointer"

# Hardening mode: everything above, and more.
expect 1 double_free 6 "double free detected at"
expect 1 double_free_behind_others 6 "double free detected at"
expect 1 double_free_then_two_mallocs 6 "double free detected at"
expect 1 double_free_cross_thread 6 "double free detected at"
expect 1 double_free_foreign_twice 6 "double free detected at"
expect 1 double_free_after_flush 6 "double free detected at"
expect 1 free_stack_pointer 6 "invalid pointer"
expect 1 free_inner_pointer 6 "invalid pointer"
expect 1 free_large_inner_pointer 6 "invalid pointer"
expect 1 realloc_after_free 6 "invalid pointer"
expect 1 write_after_free 6 "heap corruption"
expect 1 large_underflow 6 "heap corruption"
expect 1 large_overflow 11 ""

# An unknown case is a usage error, not a crash.
"$prog" no_such_case >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: misuse no_such_case did not exit 2"; fail=1; }
exit $fail
