#!/usr/bin/env bash
# `hugepage pool` sets the 2 MiB pool (system-wide, per node, overcommit) and
# reports what the kernel granted; without permission it names the file and
# the command to run as root, exit 1; bad input changes nothing.
# The pool is shared with other tests running now: it is raised by 2 pages at
# most and restored exactly, by a trap, also on failure.
. "$(dirname "$0")/lib.sh"
need_root
sys=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -w "$sys/nr_hugepages" ] || skip "no writable 2 MiB pool ($sys)"

orig_total=$(cat "$sys/nr_hugepages")
orig_over=$(cat "$sys/nr_overcommit_hugepages")
cleanups+=("echo $orig_total > $sys/nr_hugepages; echo $orig_over > $sys/nr_overcommit_hugepages")

# raising the pool by 2 pages: the kernel's file and the command's report agree
want=$((orig_total + 2))
expect 0 "$HP" pool 2M "$want"
got=$(cat "$sys/nr_hugepages")
[ "$got" = "$want" ] || fail "pool 2M $want: nr_hugepages is $got"
contains "$out" "2 MiB pool: $want pages" "pool reports the new total"
contains "$out" "was $orig_total pages" "pool reports the old total"

# the overcommit limit is set with it
expect 0 "$HP" pool 2M "$want" --overcommit $((orig_over + 1))
got=$(cat "$sys/nr_overcommit_hugepages")
[ "$got" = $((orig_over + 1)) ] || fail "--overcommit: nr_overcommit_hugepages is $got"
contains "$out" "overcommit limit $((orig_over + 1))" "pool reports the overcommit limit"

# back to the original size through the command itself
expect 0 "$HP" pool 2048K "$orig_total" --overcommit "$orig_over"
[ "$(cat "$sys/nr_hugepages")" = "$orig_total" ] || fail "pool 2048K $orig_total did not restore the pool"
[ "$(cat "$sys/nr_overcommit_hugepages")" = "$orig_over" ] || fail "--overcommit $orig_over did not restore"

# per NUMA node: node 0's pool grows by one page, and so does the total
node=/sys/devices/system/node/node0/hugepages/hugepages-2048kB
if [ -w "$node/nr_hugepages" ]; then
    n0=$(cat "$node/nr_hugepages")
    cleanups+=("echo $n0 > $node/nr_hugepages")
    expect 0 "$HP" pool 2M $((n0 + 1)) --node 0
    [ "$(cat "$node/nr_hugepages")" = $((n0 + 1)) ] || fail "--node 0: node0 nr_hugepages is $(cat "$node/nr_hugepages")"
    [ "$(cat "$sys/nr_hugepages")" = $((orig_total + 1)) ] || fail "--node 0: the system-wide total did not follow"
    contains "$out" "on node 0" "pool --node reports the node"
    echo "$orig_total" >"$sys/nr_hugepages"
fi

# bad input after a good one changes nothing (everything is validated first)
expect_error 2 "$HP" pool 2M "$want" --overcommit 2X
[ "$(cat "$sys/nr_hugepages")" = "$orig_total" ] || fail "a rejected command changed nr_hugepages"

# without permission: the file, the command to run as root, exit 1, no change
expect_error 1 as_nobody "$HP" pool 2M "$want" --overcommit $((orig_over + 1))
contains "$err" "$sys/nr_hugepages" "the permission error names the file"
contains "$err" "sudo hugepage pool 2M $want" "the permission error gives the command to run as root"
[ "$(cat "$sys/nr_hugepages")" = "$orig_total" ] || fail "a refused command changed nr_hugepages"
[ "$(cat "$sys/nr_overcommit_hugepages")" = "$orig_over" ] || fail "a refused command changed the overcommit"
finish
