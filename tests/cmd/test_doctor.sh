#!/usr/bin/env bash
# `hugepage doctor` prints each problem with a fix, lists every HUGEPAGE_*
# variable of the options table with its current value, and with -- CMD
# measures the program's peak memory and compares it with the free pool.
. "$(dirname "$0")/lib.sh"

# every problem line is followed by its fix
expect 0 env HUGEPAGE_MODE=thp HUGEPAGE_STATS=json "$HP" doctor
printf '%s\n' "$out" | awk '/^problem:/ { p = 1; next } p && !/^    fix: ./ { bad = 1 } { p = 0 } END { exit bad }' ||
    fail "a problem without a fix: $out"
contains "$out" "finding" "doctor counts its findings"

# the HUGEPAGE_* variables are those of hpi_option_docs (src/options.c), with values
names=$(grep -o '{"HUGEPAGE_[A-Z_]*"' "$HP_SOURCE_DIR/src/options.c" | tr -d '{"')
[ -n "$names" ] || fail "no HUGEPAGE_* names found in src/options.c"
for n in $names; do
    contains "$out" "  $n" "doctor lists $n"
done
contains "$out" "  HUGEPAGE_MODE=thp" "doctor shows the value of HUGEPAGE_MODE"
contains "$out" "  HUGEPAGE_STATS=json" "doctor shows the value of HUGEPAGE_STATS"
contains "$out" "  HUGEPAGE_VERBOSE unset (default: 0)" "doctor shows an unset variable's default"
[ "$(printf '%s\n' "$out" | grep -c '^  HUGEPAGE_')" = "$(printf '%s\n' "$names" | wc -l)" ] ||
    fail "doctor lists other variables than the options table"

# -- CMD: the program's peak memory, and its status
expect 0 "$HP" doctor -- python3 -c 'b = bytearray(64 << 20)'
peak=$(printf '%s\n' "$out" | sed -n 's/^program: python3 exited with status 0, peak memory \([0-9.]*\) MiB$/\1/p')
[ -n "$peak" ] || fail "doctor -- python3 does not report the peak in MiB: $out"
[ -n "$peak" ] && python3 -c "import sys; sys.exit(not 64 <= $peak < 256)" ||
    fail "peak of a program touching 64 MiB reported as '$peak MiB'"
expect 0 "$HP" doctor -- false
contains "$out" "program: false exited with status 1" "doctor reports the program's exit status"

# a program that needs more than the free pool: the finding and the exact fix
pool=/sys/kernel/mm/hugepages/hugepages-$(($(sed -n 's/^Hugepagesize: *\([0-9]*\) kB/\1/p' /proc/meminfo)))kB
if [ -d "$pool" ]; then
    r() { cat "$pool/$1"; }
    avail=$(($(r free_hugepages) - $(r resv_hugepages) + $(r nr_overcommit_hugepages) - $(r surplus_hugepages)))
    ps_kb=${pool##*hugepages-}
    ps_kb=${ps_kb%kB}
    want=$(((avail + 8) * ps_kb * 1024))
    if [ "$want" -lt $((4 << 30)) ]; then
        expect 0 "$HP" doctor -- python3 -c "b = bytearray($want)"
        contains "$out" "but the $((ps_kb / 1024)) MiB pool has only" "doctor finds the pool too small"
        fix=$(printf '%s\n' "$out" | sed -n "s/^    fix: hugepage pool $((ps_kb / 1024))M \([0-9]*\)$/\1/p")
        total=$(r nr_hugepages)
        [ -n "$fix" ] && [ "$fix" -ge $((total + 8)) ] ||
            fail "the fix does not grow the pool by at least 8 pages (total $total): $out"
    fi
fi
finish
