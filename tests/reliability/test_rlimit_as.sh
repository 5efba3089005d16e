#!/usr/bin/env bash
# Out of memory: NULL + ENOMEM, nothing lost. Under RLIMIT_AS (the program
# sets it to its size + 256 MiB) it allocates small objects until hp_malloc
# returns NULL, then checks that every kind of request fails cleanly with
# ENOMEM (hp_malloc small and 64 MiB, hp_calloc, hp_aligned_alloc, hp_realloc
# leaving its block intact and usable, hp_map with and without HP_STRICT, a
# mapping of an hp_memfd), that every object kept its contents, and that after
# freeing half of them large and small requests succeed again. The same
# through malloc & co in a program with libhugepage.so preloaded.
# AddressSanitizer reserves terabytes of shadow address space: under it the
# program says SKIP and the test skips with that reason.
. "$(dirname "$0")/lib.sh"

timeout "$limit" "$COND" oom >"$tmp/api.out" 2>"$tmp/api.err"
rc=$?
cat "$tmp/api.out" "$tmp/api.err"
if [ "$rc" = 77 ]; then
    echo "SKIP: $(sed -n 's/^SKIP: //p' "$tmp/api.out")" >&2
    exit 77
fi
[ "$rc" = 0 ] || fail "hp_* under RLIMIT_AS: exited $rc: $(tail -2 "$tmp/api.err")"

if nm -D --undefined-only "$HP_LIB_SO" | grep -q '__[at]san_'; then
    echo "note: $HP_LIB_SO is built with a sanitizer: the preload leg is not run"
else
    LD_PRELOAD=$HP_LIB_SO timeout "$limit" "$COND" oom --libc >"$tmp/libc.out" 2>"$tmp/libc.err"
    rc=$?
    cat "$tmp/libc.out" "$tmp/libc.err"
    [ "$rc" = 0 ] || fail "malloc under LD_PRELOAD and RLIMIT_AS: exited $rc: $(tail -2 "$tmp/libc.err")"
    grep -q '^malloc from .*libhugepage\.so' "$tmp/libc.out" ||
        fail "malloc was not libhugepage's under LD_PRELOAD: $(head -1 "$tmp/libc.out")"
fi
finish
