#!/usr/bin/env bash
# `hugepage inspect` of a child that maps 8 MiB of hugetlb memory and 8 MiB of
# THP-advised memory (tests/progs/inspect_target.c): the figures, in total and
# for those two mappings, match the kernel's /proc/PID/smaps; preloading
# libhugepage is detected from the maps and from LD_PRELOAD; a process that
# cannot be read is one line on stderr and exit 1.
. "$(dirname "$0")/lib.sh"
: "${HP_PROG_inspect_target:?HP_PROG_inspect_target must name the built test program}"

# start_target NAME [VAR=VALUE...]: runs inspect_target with that environment,
# waits for its "ready" line; sets $pid, $hugetlb_addr, $thp_addr. Its stdin is
# a FIFO held open by this shell until stop_target.
start_target() {
    local name=$1
    shift
    mkfifo "$tmp/$name.in"
    env "$@" "$HP_PROG_inspect_target" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    exec {target_fd}>"$tmp/$name.in"
    cleanups+=("kill $pid 2>/dev/null")
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q '^ready' "$tmp/$name.out" && break
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            local rc=$?
            [ "$rc" = 3 ] && skip "inspect_target could not map 8 MiB of 2 MiB hugetlb pages: $(cat "$tmp/$name.err")"
            fail "inspect_target ($name) exited $rc before it was ready: $(cat "$tmp/$name.err")"
            finish
        fi
        sleep 0.1
    done
    read -r _ hugetlb_addr thp_addr <"$tmp/$name.out"
    hugetlb_addr=${hugetlb_addr#hugetlb=}
    thp_addr=${thp_addr#thp=}
}
stop_target() {
    exec {target_fd}>&-
    wait "$pid" || fail "inspect_target exited $? at the end"
}

avail=$(python3 -c '
d = "/sys/kernel/mm/hugepages/hugepages-2048kB/"
r = lambda n: int(open(d + n).read())
print(r("free_hugepages") - r("resv_hugepages"))' 2>/dev/null || echo 0)
[ "$avail" -ge 4 ] || skip "needs 4 free 2 MiB hugetlb pages, the pool has $avail (hugepage pool 2M N)"

start_target plain
expect 0 "$HP" inspect "$pid" --json
printf '%s' "$out" >"$tmp/plain.json"
python3 - "$tmp/plain.json" "$pid" "$hugetlb_addr" "$thp_addr" <<'PY' || fail "inspect --json figures (see above)"
import json, re, sys
path, pid, hugetlb_addr, thp_addr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 16), int(sys.argv[4], 16)
d = json.load(open(path))
MiB = 1 << 20
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

# the kernel's view: every VMA of the target's smaps
vmas, cur = [], None
for line in open(f"/proc/{pid}/smaps"):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
    if m:
        cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16)}
        vmas.append(cur)
        continue
    m = re.match(r"^(\w+):\s+(\d+) kB", line)
    if m:
        cur[m.group(1)] = int(m.group(2)) * 1024
def huge(v):
    return v.get("KernelPageSize", 4096) > 4096
def thp(v):
    return v.get("AnonHugePages", 0) + v.get("ShmemPmdMapped", 0) + v.get("FilePmdMapped", 0)
k_hugetlb = sum(v.get("Private_Hugetlb", 0) + v.get("Shared_Hugetlb", 0) for v in vmas if huge(v))
k_thp = sum(thp(v) for v in vmas if not huge(v))
k_base = sum(v.get("Rss", 0) - thp(v) for v in vmas if not huge(v))

t = d["total"]
check(d["pid"] == pid, f"pid {d['pid']}")
check(d["comm"] == "inspect_target", f"comm {d['comm']}")
check(t["hugetlb_bytes"] == k_hugetlb == 8 * MiB, f"total hugetlb {t['hugetlb_bytes']}, smaps {k_hugetlb}, mapped 8 MiB")
check(t["thp_bytes"] == k_thp, f"total thp {t['thp_bytes']}, smaps {k_thp}")
check(t["base_bytes"] == k_base, f"total base {t['base_bytes']}, smaps {k_base}")
check(t["resident_bytes"] == k_hugetlb + k_thp + k_base, "resident = hugetlb + thp + base")
check(len(d["mappings"]) == len(vmas), f"{len(d['mappings'])} mappings, smaps has {len(vmas)}")

maps = {int(m["start"], 16): m for m in d["mappings"]}
h = maps.get(hugetlb_addr)
check(h is not None, "the hugetlb mapping is listed")
if h:
    check(h["hugetlb_bytes"] == 8 * MiB and h["size"] == 8 * MiB, f"hugetlb mapping {h}")
    check(h["kernel_page_size"] == 2 * MiB, f"hugetlb mapping page size {h['kernel_page_size']}")
    check(h["thp_bytes"] == 0 and h["base_bytes"] == 0, f"hugetlb mapping {h}")
tm = maps.get(thp_addr)
kv = [v for v in vmas if v["start"] == thp_addr]
check(tm is not None and len(kv) == 1, "the THP mapping is listed")
if tm and kv:
    check(tm["thp_advised"], "the THP mapping is advised")
    check(tm["thp_bytes"] == thp(kv[0]), f"THP mapping thp {tm['thp_bytes']}, smaps {thp(kv[0])}")
    check(tm["thp_bytes"] + tm["base_bytes"] == 8 * MiB, f"THP mapping: thp + base {tm}")
    if thp(kv[0]) < 8 * MiB:
        print(f"note: the kernel gave only {thp(kv[0]) >> 20} MiB of THP (fragmented memory)", file=sys.stderr)
check(d["libhugepage"] == {"preloaded": False, "mapped": None, "ld_preload": None, "environ_readable": True},
      f"libhugepage {d['libhugepage']}")
largest = d["largest_base"]
check(all(a["base_bytes"] >= b["base_bytes"] for a, b in zip(largest, largest[1:])), "largest_base is sorted")
check(all(m["base_bytes"] > 0 for m in largest), "largest_base lists only base-page mappings")
for e in errors:
    print("FAIL:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# the text form says the same
expect 0 "$HP" inspect "$pid"
contains "$out" "process $pid (inspect_target)" "inspect text header"
contains "$out" "hugetlb pages      8 MiB" "inspect text hugetlb total"
contains "$out" "libhugepage: not loaded" "inspect text preload line"

# a process that cannot be read: one line, exit 1
if [ "$(id -u)" = 0 ]; then
    expect_error 1 as_nobody "$HP" inspect "$pid"
    contains "$err" "cannot read /proc/$pid/smaps" "inspect of another user's process"
fi
stop_target

# LD_PRELOAD naming a libhugepage that cannot load: named, not mapped
start_target badpreload LD_PRELOAD=/nonexistent/libhugepage.so
expect 0 "$HP" inspect "$pid" --json
printf '%s' "$out" | python3 -c '
import json, sys
l = json.load(sys.stdin)["libhugepage"]
assert l == {"preloaded": False, "mapped": None, "ld_preload": "/nonexistent/libhugepage.so",
             "environ_readable": True}, l' || fail "inspect of a failed preload"
expect 0 "$HP" inspect "$pid"
contains "$out" "but it is not mapped" "inspect text of a failed preload"
stop_target

# preloaded for real: mapped and named (not with a sanitizer-built library,
# which only loads into a program built with the same sanitizer)
if [ ! -f "${HP_LIB_SO:-}" ]; then
    echo "note: not checking a real preload: no library at HP_LIB_SO='${HP_LIB_SO:-}'" >&2
elif nm -D --undefined-only "$HP_LIB_SO" | grep -q '__[at]san_'; then
    echo "note: not checking a real preload: $HP_LIB_SO is built with a sanitizer" >&2
else
    start_target preload LD_PRELOAD="$HP_LIB_SO"
    expect 0 "$HP" inspect "$pid" --json
    printf '%s' "$out" | python3 -c '
import json, os, sys
l = json.load(sys.stdin)["libhugepage"]
so = os.path.realpath(sys.argv[1])
assert l["preloaded"] and l["ld_preload"] == sys.argv[1] and os.path.realpath(l["mapped"]) == so, l' \
        "$HP_LIB_SO" || fail "inspect of a preloaded process"
    expect 0 "$HP" inspect "$pid"
    contains "$out" "libhugepage: preloaded" "inspect text of a preloaded process"
    stop_target
fi

# --self: the command itself
expect 0 "$HP" inspect --self --json
printf '%s' "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["comm"] == "hugepage" and d["mappings"], d["comm"]' ||
    fail "inspect --self"
finish
