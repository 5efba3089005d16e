#!/usr/bin/env python3
"""smaps_coverage.py PID: how much of a process's anonymous memory is on huge
pages, from the kernel's /proc/PID/smaps (the criterion of lib.sh).

anon:    the anonymous resident memory: Anonymous of every mapping, plus the
         hugetlb bytes (Private_Hugetlb + Shared_Hugetlb) of anonymous hugetlb
         mappings (/anon_hugepage), which Anonymous does not count.
huge:    AnonHugePages of every mapping plus those hugetlb bytes.
heap:    resident bytes of the mappings that look like the hugepage heap:
         named [anon:hugepage-heap] (kernels with CONFIG_ANON_VMA_NAME),
         anonymous hugetlb, or anonymous and madvised (VmFlags hg or nh:
         the library advises every THP or base block it maps). For information.
coverage = 100 * huge / anon.

Prints one line of key=value (bytes; coverage in percent, last)."""
import re
import sys

totals = {"anon": 0, "huge": 0, "hugetlb": 0, "thp": 0, "heap": 0}


def account(header, f):
    if header is None:
        return
    name = header.split(None, 5)[5].strip() if len(header.split(None, 5)) > 5 else ""
    hugetlb = f.get("Private_Hugetlb", 0) + f.get("Shared_Hugetlb", 0) if "anon_hugepage" in name else 0
    flags = f.get("VmFlags", "").split()
    totals["anon"] += f.get("Anonymous", 0) + hugetlb
    totals["huge"] += f.get("AnonHugePages", 0) + hugetlb
    totals["hugetlb"] += hugetlb
    totals["thp"] += f.get("AnonHugePages", 0)
    if name == "[anon:hugepage-heap]" or hugetlb or (name == "" and ("hg" in flags or "nh" in flags)):
        totals["heap"] += f.get("Rss", 0) + hugetlb


header, fields = None, {}
with open(f"/proc/{sys.argv[1]}/smaps") as smaps:
    for line in smaps:
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            account(header, fields)
            header, fields = line.rstrip("\n"), {}
        elif line.startswith("VmFlags:"):
            fields["VmFlags"] = line[len("VmFlags:"):]
        else:
            m = re.match(r"^(\w+):\s+(\d+) kB", line)
            if m:
                fields[m.group(1)] = int(m.group(2)) * 1024
    account(header, fields)
cov = 100.0 * totals["huge"] / totals["anon"] if totals["anon"] else 0.0
print(" ".join(f"{k}={v}" for k, v in totals.items()) + f" coverage={cov:.1f}")
