#!/usr/bin/env python3
"""summarize.py: markdown tables from bench/compare.sh output.

Usage: bench/summarize.py RUNS.txt [ROUNDS]   (ROUNDS e.g. 1,3 to keep some)
Per workload: each config's median and min-max, its ratio to glibc (>1 is
better, whichever way the metric runs), the share of memory on huge pages
(median huge_pct the workload read from its own smaps), and for the TLB-bound
workloads the distance from the 1 GiB-page reference. tlb_hash also gets a
table for its build phase (build_s, fault-bound). Under each table, hugepage
against the best peer both by medians and paired by round (the median of the
per-round ratios, which is steadier when the machine's speed drifts)."""
import collections
import statistics
import sys


def parse(path, keep):
    """vals and build: (work, config) -> {round: value}; cover: -> [huge_pct]."""
    vals, build = (collections.defaultdict(dict) for _ in range(2))
    cover = collections.defaultdict(list)
    better = {}
    for line in open(path):
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        rnd, work, cfg = int(parts[0]), parts[1], parts[2]
        if keep and rnd not in keep:
            continue
        kv = dict(p.split('=', 1) for p in parts[3:] if '=' in p)
        if 'value' not in kv:
            continue
        vals[(work, cfg)][rnd] = float(kv['value'])
        better[work] = kv.get('better', 'lower')
        if 'huge_pct' in kv:
            cover[(work, cfg)].append(float(kv['huge_pct']))
        if 'build_s' in kv:
            build[(work, cfg)][rnd] = float(kv['build_s'])
    return vals, cover, build, better


# Table order: compare.sh's list (its runs come in a shuffled order).
ORDER = ['glibc', 'glibc-hugetlb1', 'glibc-hugetlb2', 'jemalloc', 'mimalloc', 'mimalloc-large',
         'tcmalloc', 'tcmalloc-hugetlbfs', 'hugepage', 'hugepage-secure', 'ref-1g']


def table(title, work, vals, cover, lower):
    cfgs = sorted((c for (w, c) in vals if w == work),
                  key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))
    med = {c: statistics.median(vals[(work, c)].values()) for c in cfgs}
    ratio = {c: (med['glibc'] / med[c] if lower else med[c] / med['glibc']) for c in cfgs}
    print(f"\n### {title}\n")
    print("| config | median | min-max | vs glibc | on huge pages | vs 1 GiB reference |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in cfgs:
        v = vals[(work, c)].values()
        huge = f"{statistics.median(cover[(work, c)]):.0f}%" if cover.get((work, c)) else "-"
        ref = f"{ratio[c] / ratio['ref-1g']:.2f}" if 'ref-1g' in ratio else "-"
        print(f"| {c} | {med[c]:.4g} | {min(v):.4g}-{max(v):.4g} | {ratio[c]:.2f}x | {huge} | {ref} |")
    peers = [c for c in cfgs if c != 'glibc' and c != 'ref-1g' and not c.startswith('hugepage')]
    best = max(peers, key=lambda c: ratio[c])
    hp, bp = vals[(work, 'hugepage')], vals[(work, best)]
    paired = [(bp[r] / hp[r] if lower else hp[r] / bp[r]) for r in hp if r in bp]
    print(f"\nBest peer: {best}, {ratio[best]:.2f}x glibc. hugepage: {ratio['hugepage']:.2f}x glibc, "
          f"{ratio['hugepage'] / ratio[best]:.2f}x the best peer; paired by round "
          f"{statistics.median(paired):.2f}x ({len(paired)} rounds).")


def main():
    keep = set(int(r) for r in sys.argv[2].split(',')) if len(sys.argv) > 2 else None
    vals, cover, build, better = parse(sys.argv[1], keep)
    for work in dict.fromkeys(w for (w, _) in vals):
        lower = better[work] == 'lower'
        unit = 'lower is better' if lower else 'higher is better'
        table(f"{work} ({unit})", work, vals, cover, lower)
        if any(w == work for (w, _) in build):
            table(f"{work}, build phase (seconds, lower is better)", work, build, cover, True)


if __name__ == '__main__':
    main()
