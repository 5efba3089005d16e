#!/usr/bin/env bash
# Debian's python3 under `hugepage run` (workload.py: dicts, sorting, json,
# threads, C extensions loaded with dlopen) prints what it prints plainly, and
# at its peak huge pages hold most of its anonymous memory: >= 75% with
# PYTHONMALLOC=malloc; >= 30% with Python's own small-object allocator, whose
# 1 MiB arenas come from mmap, not malloc, and so stay on base pages.
. "$(dirname "$0")/lib.sh"
need_prog python3 /usr/bin/python3
py=(/usr/bin/python3 "$here/workload.py")
echo "note: 2 MiB pool free pages: $(pool_free)"

for mode in "${modes[@]}"; do
    same_run python-$mode "$mode" "${py[@]}"
    for alloc in malloc pymalloc; do
        start_paused python "$mode" env PYTHONMALLOC="$alloc" "${py[@]}" --pause
        wait_for "$tmp/python.out.err" '^ready' "$pid" "python3 ($mode, $alloc)"
        read -r _ prog_pid <"$tmp/python.out.err"
        coverage "$prog_pid" "python3 --mode $mode PYTHONMALLOC=$alloc" "$([ $alloc = malloc ] && echo 75 || echo 30)"
        resume
        cmp -s "$tmp/python.out" "$tmp/python-$mode.plain" || fail "python3 ($mode, $alloc) paused run printed otherwise"
    done
done
finish
