#!/usr/bin/env bash
# `hugepage run`: bad usage is exit 2, a missing program 127 and one that cannot
# be executed 126, like a shell; the program's exit status and signal death
# come through; the options become HUGEPAGE_* variables and LD_PRELOAD gets the
# library ahead of what it had; children of a program (bash -c 'python3; perl')
# run on the library too; a bad HUGEPAGE_* value is one warning and the program
# still runs; --stats prints the heap's figures at exit, and a large python3
# heap is mostly on huge pages there and in the kernel's smaps.
. "$(dirname "$0")/lib.sh"
need_prog python3 /usr/bin/python3
need_prog perl perl

expect_error 2 "$HP" run
expect_error 2 "$HP" run true
expect_error 2 "$HP" run --
expect_error 2 "$HP" run --bogus -- true
expect_error 2 "$HP" run --mode fast -- true
expect_error 2 "$HP" run --pagesize 3M -- true
expect_error 2 "$HP" run --reserve lots -- true
expect_error 2 "$HP" run --stats=xml -- true
expect_error 127 "$HP" run -- /nonexistent/program
expect_error 127 "$HP" run -- no-such-command-hp
printf 'not a program\n' >"$tmp/noexec" && chmod 644 "$tmp/noexec"
expect_error 126 "$HP" run -- "$tmp/noexec"
expect 0 "$HP" run --help
contains "$out" "usage: hugepage run" "run --help"

expect 7 "$HP" run -- sh -c 'exit 7'
bash -c '"$1" run -- sh -c "kill -KILL \$\$"; exit $?' _ "$HP" 2>/dev/null
[ $? = 137 ] || fail "a program killed by SIGKILL does not show as 137"

# the environment the program gets
expect 0 env LD_PRELOAD=/lib/x86_64-linux-gnu/libc.so.6 "$HP" run --mode thp --pagesize 2M \
    --reserve 4M --stats=json -- sh -c 'echo "$HUGEPAGE_MODE $HUGEPAGE_PAGESIZE $HUGEPAGE_RESERVE $HUGEPAGE_STATS $LD_PRELOAD"'
[ "$out" = "thp 2M 4M json $(realpath "$HP_LIB_SO"):/lib/x86_64-linux-gnu/libc.so.6" ] ||
    fail "environment under run: '$out'"
# without HUGEPAGE_LIBRARY: found next to the command in the build tree
expect 0 env -u HUGEPAGE_LIBRARY "$HP" run -- sh -c 'echo "$LD_PRELOAD"'
[ "$out" = "$(realpath "$(dirname "$HP")/libhugepage.so")" ] || fail "library next to the command: '$out'"
expect_error 1 env HUGEPAGE_LIBRARY="$tmp/none.so" "$HP" run -- true

# children: bash runs python3 and perl, each with the library mapped
mapped='grep -c libhugepage /proc/self/maps'
expect 0 "$HP" run -- bash -c "/usr/bin/python3 -c 'import json, _sqlite3; print(open(\"/proc/self/maps\").read().count(\"libhugepage\") > 0)'; perl -e 'open(M, \"/proc/self/maps\"); print((grep { /libhugepage/ } <M>) ? \"True\n\" : \"False\n\")'; $mapped >/dev/null && echo True"
[ "$out" = "$(printf 'True\nTrue\nTrue')" ] || fail "children of bash under run do not all have the library: '$out'"

# a bad value: one warning, defaults, the program's output unchanged
expect 0 env HUGEPAGE_MODE=fast "$HP" run -- /usr/bin/python3 -c 'print(sum(range(10)))'
[ "$out" = 45 ] || fail "program output with a bad HUGEPAGE_MODE: '$out'"
[ "$(printf '%s\n' "$err" | grep -c 'HUGEPAGE_MODE="fast" is not valid')" = 1 ] || fail "want one warning about HUGEPAGE_MODE=fast: $err"

# --stats: a 400 MiB python heap; the kernel's figures while it runs, and the
# library's at exit: Python has freed most of it by then, so what is still
# mapped (>= 90% on huge pages) plus what was given back covers the 400 MiB
big='import os, sys
data = [bytearray(4096) for _ in range(100000)]
print("ready", os.getpid(), file=sys.stderr, flush=True)
sys.stdin.readline()
print(len(data))'
for mode in "${modes[@]}"; do
    rm -f "$tmp/big.in" && mkfifo "$tmp/big.in"
    (exec timeout "$limit" "$HP" run --mode "$mode" --stats=json -- /usr/bin/python3 -c "$big") \
        <"$tmp/big.in" >"$tmp/big.out" 2>"$tmp/big.err" &
    pid=$!
    exec {big_fd}>"$tmp/big.in"
    wait_for "$tmp/big.err" '^ready' "$pid" "python3 --stats ($mode)"
    read -r _ prog_pid <"$tmp/big.err"
    coverage "$prog_pid" "python3 --stats --mode $mode" 90
    exec {big_fd}>&-
    wait "$pid" || fail "python3 --stats ($mode) exited $?"
    [ "$(cat "$tmp/big.out")" = 100000 ] || fail "python3 --stats ($mode) output: $(cat "$tmp/big.out")"
    tail -1 "$tmp/big.err" | python3 -c '
import json, sys
s = json.load(sys.stdin)
huge, mapped, released = s["mapped_hugetlb"] + s["mapped_thp"], s["mapped_hugetlb"] + s["mapped_thp"] + s["mapped_base"], s["released"]
print(f"--stats: {huge >> 20} of {mapped >> 20} MiB mapped at exit on huge pages, {released >> 20} MiB released")
sys.exit(0 if mapped + released >= 400 << 20 and huge >= 0.9 * mapped else 1)' ||
        fail "--stats=json ($mode): not 400 MiB mapped then released, or not 90% on huge pages: $(tail -1 "$tmp/big.err")"
done
expect 0 "$HP" run --stats -- /usr/bin/python3 -c 'x = bytearray(64 << 20); print(len(x))'
contains "$err" "hugepage statistics (heap on huge pages:" "--stats text"
contains "$err" "mapped_hugetlb" "--stats text"
finish
