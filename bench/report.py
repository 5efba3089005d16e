#!/usr/bin/env python3
"""report.py: turns the raw runs of scripts/bench.sh into the Markdown report,
one PNG chart per workload group (drawn by gnuplot), and a summary on stdout.

Input: the raw TSV (one line per run: workload, group, config, rep, status,
value, unit, better, coverage fields), the machine facts (key=value lines) and
the exact command of every workload x config. Medians and min-max are over the
runs with status ok. "vs glibc" is always oriented so that above 1 is better
than glibc: glibc/value when lower is better (seconds, kB), value/glibc when
higher is better (ops/s)."""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

GROUPS = {
    "tlb": "TLB-bound",
    "fault": "Fault-in",
    "alloc": "Allocation speed",
    "memory": "Memory",
}
# Configurations that ask for huge pages: a median coverage under 1% is flagged.
CLAIMS_HUGE = {"glibc-hugetlb1", "glibc-hugetlb2", "jemalloc-thp", "mimalloc-large",
               "tcmalloc-hugetlbfs", "libhugetlbfs", "hugepage-auto", "hugepage-thp",
               "hugepage-hugetlb", "1g-ref"}
REF = "1g-ref"


def is_ours(config):
    return config.startswith("hugepage-")


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ops/s":
        return f"{v / 1e6:.2f} M"
    if unit == "kB":
        return f"{v / 1024:.1f} MiB"
    return f"{v:.3f}"


def unit_label(unit):
    return {"ops/s": "M ops/s", "kB": "MiB", "s": "s"}.get(unit, unit)


class Cell:
    """All runs of one workload under one configuration."""

    def __init__(self, config):
        self.config = config
        self.values, self.pcts, self.peaks = [], [], []
        self.thp_kb = self.hugetlb_kb = 0.0  # summed over runs: which kind of huge page
        self.problems = []
        self.unit = self.better = None

    def add(self, row):
        if row["status"] != "ok":
            self.problems.append(row["status"])
            return
        self.values.append(float(row["value"]))
        self.unit, self.better = row["unit"], row["better"]
        if row["huge_pct"] not in ("-", ""):
            self.pcts.append(float(row["huge_pct"]))
        if row["anon_huge_kb"] not in ("-", ""):
            self.thp_kb += float(row["anon_huge_kb"])
            self.hugetlb_kb += float(row["hugetlb_kb"])
        if row["peak_kb"] not in ("-", ""):
            self.peaks.append(float(row["peak_kb"]))

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    def vs(self, base):
        """How many times better than base (above 1 = better)."""
        if self.median is None or base is None or base.median is None or not self.median:
            return None
        if self.better == "lower":
            return base.median / self.median
        return self.median / base.median

    def note(self):
        if not self.values:
            return self.problems[0] if self.problems else "no runs"
        notes = []
        failed = [p for p in self.problems if not p.startswith("n/a")]
        if failed:
            notes.append(f"{len(failed)} run(s) failed: {failed[0]}")
        if self.config in CLAIMS_HUGE and self.pcts and statistics.median(self.pcts) < 1.0:
            notes.append("**asked for huge pages, got none**")
        return "; ".join(notes)


def load(args):
    meta = {}
    with open(args.meta) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    commands, order = {}, []
    with open(args.commands) as f:
        for line in f:
            w, c, cmd = line.rstrip("\n").split("\t", 2)
            commands[(w, c)] = cmd
            if c not in order:
                order.append(c)
    workloads = {}  # name -> (group, {config: Cell}); insertion order = run order
    with open(args.raw) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            group, cells = workloads.setdefault(row["workload"], (row["group"], {}))
            cell = cells.setdefault(row["config"], Cell(row["config"]))
            cell.add(row)
    for name, (group, cells) in workloads.items():
        ordered = {c: cells[c] for c in order if c in cells}
        ordered.update({c: v for c, v in cells.items() if c not in ordered})
        workloads[name] = (group, ordered)
    return meta, commands, workloads


def best_peer(cells):
    peers = [c for c in cells.values() if not is_ours(c.config) and c.config != REF and c.values]
    if not peers:
        return None
    key = (lambda c: c.median) if peers[0].better == "higher" else (lambda c: -c.median)
    return max(peers, key=key)


def metric_of(cells):
    for c in cells.values():
        if c.values:
            return c.unit, c.better
    return None, None


def bar_color(config):
    """Peers blue, hugepage orange, the 1 GiB reference grey (as 0xRRGGBB)."""
    if is_ours(config):
        return 0xEE8833
    return 0x999999 if config == REF else 0x4477AA


def chart(group, names, workloads, png, tmp):
    """One PNG per group: a panel per workload, a bar per configuration
    showing 'vs glibc' (above the dashed line at 1 = better than glibc)."""
    panels = []
    for name in names:
        cells = workloads[name][1]
        base = cells.get("glibc")
        rows = [(c.config, c.vs(base)) for c in cells.values() if c.vs(base) is not None]
        if not rows:
            continue
        dat = os.path.join(tmp, f"{name}.dat")
        with open(dat, "w") as f:
            for i, (config, r) in enumerate(rows):
                f.write(f'{i} "{config}" {r:.4f} {bar_color(config)}\n')
        unit, better = metric_of(cells)
        panels.append((name, dat, len(rows), unit, better))
    if not panels:
        return False
    height = 330 * len(panels)
    script = [
        f'set terminal pngcairo size 1100,{height} font "DejaVu Sans,10" noenhanced',
        f'set output "{png}"',
        f'set multiplot layout {len(panels)},1 title "{GROUPS.get(group, group)}: times better than glibc '
        f'(above 1 = better; for memory, less memory = better; hugepage orange, 1 GiB-page reference grey)"',
        "set style fill solid 0.7 border -1",
        "set boxwidth 0.7",
        "set xtics rotate by -30 left nomirror",
        "set grid ytics",
        "set yrange [0:*]",
        "set offsets 0.5, 0.5, graph 0.12, 0",
        "set key off",
        "set bmargin 6",
    ]
    for name, dat, n, unit, better in panels:
        script += [
            f'set title "{name} ({unit}, {better} is better)"',
            f"set xrange [-0.5:{n - 0.5}]",
            f'plot "{dat}" using 1:3:4:xtic(2) with boxes lc rgb variable, '
            f'"" using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.7, '
            f'1 with lines dt 2 lc rgb "#aa3333"',
        ]
    script.append("unset multiplot")
    gp = os.path.join(tmp, f"{group}.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    try:
        subprocess.run(["gnuplot", gp], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: gnuplot failed for {group}: {getattr(e, 'stderr', e)}", file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--commands", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    meta, commands, workloads = load(args)
    stem = os.path.splitext(args.out)[0]
    base_name = os.path.basename(stem)

    md = [f"# hugepage benchmarks: {meta.get('date', '')} on {meta.get('host', '')}", ""]
    md += ["## Machine", ""]
    for key, label in [("cpu", "CPU"), ("memory", "Memory"), ("kernel", "Kernel"), ("glibc", "glibc"),
                       ("thp", "THP"), ("pool_2m", "2 MiB pool"), ("pool_1g", "1 GiB pool"),
                       ("hugetlbfs", "hugetlbfs mount"), ("mode", "Run"), ("reps", "Repetitions"),
                       ("sizes", "Sizes"), ("hugepage", "libhugepage"), ("ref1g", "1 GiB reference")]:
        if key in meta:
            md.append(f"- **{label}**: {meta[key]}")
    pkgs = ", ".join(f"{k[4:]} {v}" for k, v in meta.items() if k.startswith("pkg_"))
    md.append(f"- **Packages**: {pkgs}")
    if "libhugetlbfs_says" in meta:
        md.append(f"- **libhugetlbfs with HUGETLB_MORECORE=yes says**: `{meta['libhugetlbfs_says']}`")
    md += ["", f"Runner: `{meta.get('invocation', '')}`", "",
           "How to read: each row is one allocator configuration; *median* and *min-max* are over the "
           "repetitions, which ran interleaved (every configuration once, then again). *vs glibc* is "
           "how many times better than glibc's default (above 1 = better: faster, more ops/s, or "
           "less memory). *vs 1 GiB* is the time relative to the same workload on one explicit "
           "1 GiB-page mapping (1.00 = the practical limit of translation cost). *huge* is the share "
           "of the process's resident memory on huge pages at the workload's peak, and which kind dominates "
           "((AnonHugePages + hugetlb) / (Rss + hugetlb), from /proc/self/smaps); *peak* is VmHWM + "
           "hugetlb. See bench/README.md.", ""]

    by_group = {}
    for name, (group, _) in workloads.items():
        by_group.setdefault(group, []).append(name)

    summary = []
    for group, names in by_group.items():
        md += [f"## {GROUPS.get(group, group)}", ""]
        with tempfile.TemporaryDirectory() as tmp:
            png = f"{stem}-{group}.png"
            if chart(group, names, workloads, png, tmp):
                md += [f"![{GROUPS.get(group, group)}]({os.path.basename(png)})", ""]
        for name in names:
            cells = workloads[name][1]
            unit, better = metric_of(cells)
            base = cells.get("glibc")
            ref = cells.get(REF)
            has_ref = ref is not None and ref.values
            md.append(f"### {name}: {unit_label(unit) if unit else '?'}, {better or '?'} is better")
            md.append("")
            peer = best_peer(cells)
            if peer:
                vs = peer.vs(base)
                md.append(f"Best peer: **{peer.config}** ({fmt(peer.median, peer.unit)}"
                          + (f", {vs:.2f}x glibc" if vs else "") + ").")
                md.append("")
            head = "| config | median | min-max | vs glibc |" + (" vs 1 GiB |" if has_ref else "") + \
                   " huge | peak | note |"
            md += [head, "|" + "---|" * (head.count("|") - 1)]
            for c in cells.values():
                if c.values:
                    rng = f"{fmt(min(c.values), c.unit)} - {fmt(max(c.values), c.unit)}"
                    vs = c.vs(base)
                    dist = (c.median / ref.median if c.better == "lower" else ref.median / c.median) \
                        if has_ref and ref.median else None
                    pct = f"{statistics.median(c.pcts):.0f}%" if c.pcts else "-"
                    if c.thp_kb or c.hugetlb_kb:
                        pct += " hugetlb" if c.hugetlb_kb >= c.thp_kb else " THP"
                    peak = f"{statistics.median(c.peaks) / 1024:.0f} MiB" if c.peaks else "-"
                else:
                    rng, vs, dist, pct, peak = "-", None, None, "-", "-"
                name_md = f"**{c.config}**" if peer and c.config == peer.config else c.config
                row = f"| {name_md} | {fmt(c.median, c.unit)} | {rng} | " + \
                      (f"{vs:.2f}x" if vs else "-") + " |"
                if has_ref:
                    row += (f" {dist:.2f} |" if dist else " - |")
                row += f" {pct} | {peak} | {c.note()} |"
                md.append(row)
                summary.append((name, c.config, fmt(c.median, c.unit), f"{vs:.2f}x" if vs else "-", pct,
                                c.note() if not c.values else ""))
            md.append("")

    md += ["## Commands", "",
           "Every run is `env -u VAR... <environment> <binary> <arguments>` (the variables of the other "
           "configurations removed first):", "", "```"]
    for (w, c), cmd in commands.items():
        md.append(f"{w:13s} {c:19s} {cmd}")
    md += ["```", "", f"Raw runs: [{base_name}.tsv]({base_name}.tsv).", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(md))

    print(f"\n{'workload':13s} {'config':19s} {'median':>12s} {'vs glibc':>9s} {'huge':>5s}")
    for w, c, med, vs, pct, why in summary:
        print(f"{w:13s} {c:19s} {med:>12s} {vs:>9s} {pct:>5s}  {why}")


if __name__ == "__main__":
    main()
