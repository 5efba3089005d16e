#!/usr/bin/env bash
# `hugepage status --json` agrees with /proc/meminfo and sysfs: page sizes,
# each pool's counters (system-wide and per NUMA node), THP mode and defrag,
# hugetlbfs mounts; the text form shows the same pools.
. "$(dirname "$0")/lib.sh"

[ -d /sys/kernel/mm/hugepages ] || skip "this kernel has no hugetlb pages"

# Other tests may take and give back pool pages while this runs: compare a
# status snapshot with the kernel's files read just before and just after it,
# and only when those two readings agree. Retried a few times.
python3 - "$HP" <<'PY' || fail "status --json disagrees with the kernel (see above)"
import glob, json, os, re, subprocess, sys

hp = sys.argv[1]

def read(path):
    with open(path) as f:
        return f.read().strip()

def kernel():
    k = {"pools": {}, "nodes": {}}
    for d in sorted(glob.glob("/sys/kernel/mm/hugepages/hugepages-*kB")):
        size = int(re.search(r"(\d+)kB$", d).group(1)) * 1024
        k["pools"][size] = {f: int(read(f"{d}/{n}")) for f, n in [
            ("total", "nr_hugepages"), ("free", "free_hugepages"), ("reserved", "resv_hugepages"),
            ("surplus", "surplus_hugepages"), ("overcommit", "nr_overcommit_hugepages")]}
    for d in glob.glob("/sys/devices/system/node/node*/hugepages/hugepages-*kB"):
        node = int(re.search(r"node(\d+)/", d).group(1))
        size = int(re.search(r"(\d+)kB$", d).group(1)) * 1024
        k["nodes"][(size, node)] = {f: int(read(f"{d}/{n}")) for f, n in [
            ("total", "nr_hugepages"), ("free", "free_hugepages"), ("surplus", "surplus_hugepages")]}
    mi = dict(re.findall(r"^(\w+):\s+(\d+)", read("/proc/meminfo"), re.M))
    k["meminfo"] = {"size": int(mi["Hugepagesize"]) * 1024, "total": int(mi["HugePages_Total"]),
                    "free": int(mi["HugePages_Free"]), "reserved": int(mi["HugePages_Rsvd"]),
                    "surplus": int(mi["HugePages_Surp"])}
    return k

def mounts():
    found = []
    for line in read("/proc/self/mountinfo").splitlines():
        left, right = line.split(" - ", 1)
        if right.split()[0] == "hugetlbfs":
            found.append(left.split()[4].replace("\\040", " "))
    return sorted(found)

errors = []
for attempt in range(5):
    before = kernel()
    st = json.loads(subprocess.run([hp, "status", "--json"], check=True, capture_output=True,
                                   text=True).stdout)
    if kernel() == before:
        break
else:
    sys.exit("FAIL: the pool kept changing under the test; rerun it")

k = before
def check(cond, what):
    if not cond:
        errors.append(what)

check(st["page_sizes"] == sorted(k["pools"]), f"page_sizes {st['page_sizes']} vs sysfs {sorted(k['pools'])}")
check(st["default_page_size"] == k["meminfo"]["size"], "default_page_size vs Hugepagesize")
for p in st["pools"]:
    size = p["page_size"]
    for f, v in k["pools"][size].items():
        check(p[f] == v, f"pool {size}: {f} {p[f]} vs sysfs {v}")
        check(p[f + "_bytes"] == v * size, f"pool {size}: {f}_bytes")
    if size == k["meminfo"]["size"]:
        check(p["default"], f"pool {size} is the default")
        for f in ("total", "free", "reserved", "surplus"):
            check(p[f] == k["meminfo"][f], f"default pool {f} {p[f]} vs /proc/meminfo {k['meminfo'][f]}")
    nodes = {n["node"]: n for n in p["nodes"]}
    for (nsize, node), v in k["nodes"].items():
        if nsize != size:
            continue
        check(node in nodes, f"pool {size}: node {node} missing")
        for f in v:
            check(nodes.get(node, {}).get(f) == v[f], f"pool {size} node {node}: {f}")
thp = "/sys/kernel/mm/transparent_hugepage/"
if os.path.exists(thp + "enabled"):
    for f in ("enabled", "defrag"):
        want = re.search(r"\[(\S+)\]", read(thp + f)).group(1)
        check(st["thp"][f] == want, f"thp {f} {st['thp'][f]} vs {want}")
check(sorted(m["path"] for m in st["mounts"]) == mounts(), f"mounts {st['mounts']} vs {mounts()}")
for e in errors:
    print("FAIL:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# the text form names every page size and the THP mode
expect 0 "$HP" status
for d in /sys/kernel/mm/hugepages/hugepages-*kB; do
    kb=${d##*hugepages-}
    kb=${kb%kB}
    if [ $((kb % 1048576)) = 0 ]; then name="$((kb / 1048576)) GiB"; else name="$((kb / 1024)) MiB"; fi
    contains "$out" "$name pages" "status text shows the $name pool"
done
contains "$out" "transparent huge pages: enabled" "status text shows the THP mode"
finish
