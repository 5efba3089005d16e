#!/usr/bin/env bash
# Pool exhaustion falls back, no SIGBUS: with the 2 MiB hugetlb pool cut to 8
# free pages, a program that allocates 256 MiB of small objects and large ones
# of 3, 12 and 48 MiB (every object written and verified) gets all of them; the
# heap takes what the pool has, the rest is on THP (checked in the program's
# /proc/self/smaps), and after it exits /proc/meminfo shows the pool's pages
# all free again. The pool's size is restored at the end, also on failure.
. "$(dirname "$0")/lib.sh"
need_root
pool_save
need_pool 8

# Leave the pages other processes hold or have reserved, plus 8 free.
held=$(($(cat /proc/sys/vm/nr_hugepages) - $(pool_free)))
pool_set $((held + 8))
free_before=$(pool_free)
echo "pool cut from $pool_orig to $(cat /proc/sys/vm/nr_hugepages) pages ($free_before free)"
[ "$free_before" -ge 1 ] || skip "could not leave free pages in the pool (others hold $held)"

run_cond small fill 256
line=$(grep '^heap ' <<<"$out")
hugetlb=$(field hugetlb_kb "$line")
thp=$(field thp_kb "$line")
rss=$(field rss_kb "$line")
if [ -n "$rss" ]; then
    # Pages other processes free meanwhile return to the (small) pool: bound
    # the heap's share by the pool's size, not by what was free at the start.
    total=$(cat /proc/sys/vm/nr_hugepages)
    [ "$hugetlb" -le $((total * 2048)) ] ||
        fail "the heap holds $hugetlb kB of hugetlb pages, more than the pool's $total pages"
    [ "$hugetlb" -gt 0 ] || fail "the heap took none of the $free_before free pool pages"
    [ "$rss" -ge $(((256 + 63) * 1024)) ] || fail "the heap has only $rss kB resident"
    if ! grep -q '\[never\]' "$thp_enabled"; then
        [ "$thp" -gt 0 ] || fail "nothing of the heap fell back to THP: $line"
        [ $(((hugetlb + thp) * 100)) -ge $((rss * 90)) ] ||
            fail "huge pages hold $((hugetlb + thp)) of $rss kB of the heap (< 90%): $line"
    fi
else
    fail "no 'heap' line in the program's output"
fi

# Every page the program had is back in the pool, none left over as surplus.
# Other processes share the pool: give pages they took meanwhile 5 s to return.
for ((i = 0; i < 50; i++)); do
    free_after=$(pool_free)
    [ "$free_after" -ge "$free_before" ] && break
    sleep 0.1
done
[ "$free_after" -ge "$free_before" ] ||
    fail "$free_before pool pages were free before the program, $free_after after it exited"
[ "$(meminfo HugePages_Surp)" = 0 ] || fail "surplus hugetlb pages after exit: $(meminfo HugePages_Surp)"
finish
