#!/usr/bin/env python3
"""Throughput plots of the dense, Hamming and top-k benchmarks, per machine (issue 7).

Reads the same result files as bench/report.py (bench/results/<machine>/*.json, not *_quick,
the headline run of each suite) and writes into each machine's folder:
  dense_vs_n.png       queries/s against N (log-log), one panel per Q at the smallest k, one line
                       per engine (xmr and its peers: FAISS, PyTorch)
  dense_vs_batch.png   queries/s against Q at the N measured with the most Q values, one panel
                       per k
  binary_vs_n.png      Hamming search: queries/s against N, one panel per code length, at the
                       smallest k, one line per engine and Q
  binary_vs_batch.png  Hamming search: queries/s against Q, one panel per code length, one line
                       per engine and k
  topk_vs_n.png, topk_vs_batch.png  top-k selection alone, as for dense (when its results exist)
The pipeline's recall-against-throughput plot is bench/plot_pipeline.py's pipeline_recall.png.
Every title names the machine, its CPU (and GPU) and the date of the results.

Needs matplotlib (Debian python3-matplotlib, for /usr/bin/python3: a pyenv or venv python3 first
on PATH may not see it); exits 3 with a message when it is missing.

Usage: /usr/bin/python3 bench/plot_throughput.py [--results DIR] [--machine NAME]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (bench/report.py: the loader and the case parsers)

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:gray", "tab:olive", "tab:cyan"]
STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]


class Figure:
    """What one PNG shows: panels by one case key, x by another, lines by engine (and a third
    key), the other case keys fixed."""

    def __init__(self, file, what, x, panel=None, style=None, fixed=()):
        self.file, self.what, self.x, self.panel, self.style, self.fixed = file, what, x, panel, style, fixed


FAMILIES = [
    (report.DENSE, [Figure("dense_vs_n.png", "queries/s vs N", "N", panel="Q", fixed=("k",)),
                    Figure("dense_vs_batch.png", "queries/s vs batch size Q", "Q", panel="k",
                           fixed=("N",))]),
    (report.BINARY, [Figure("binary_vs_n.png", "queries/s vs N", "N", panel="bits", style="Q",
                            fixed=("k",)),
                     Figure("binary_vs_batch.png", "queries/s vs batch size Q", "Q", panel="bits",
                            style="k", fixed=("N",))]),
    (report.TOPK, [Figure("topk_vs_n.png", "queries/s vs N", "N", panel="Q", fixed=("k",)),
                   Figure("topk_vs_batch.png", "queries/s vs batch size Q", "Q", panel="k",
                          fixed=("N",))]),
]


def points(cap, data):
    """[(engine, {case key: value}, queries/s, result file)] from Capability.collect's output."""
    out = []
    for engine, cases in sorted(data.items()):
        for case, (row, rf) in sorted(cases.items()):
            if row.get(cap.counter):
                out.append((engine, dict(zip(cap.case_keys, case)), row[cap.counter], rf))
    return out


def fixed_value(key, pts):
    """The value a fixed key is held at: k at its smallest; N where the most x values were
    measured (ties: the largest N), so the batch plot has the longest lines."""
    values = sorted({c[key] for _, c, _, _ in pts})
    if key != "N":
        return values[0]
    return max(values, key=lambda n: (len({c["Q"] for _, c, _, _ in pts if c["N"] == n}), n))


def machine_title(machine, pts):
    rf = pts[0][3]
    cpu = rf.ctx.get("cpu_model") or machine.info("cpu_model") or "unknown CPU"
    text = f"{machine.name} ({cpu}, {report.threads_text(lambda k: rf.ctx.get(k) or machine.info(k))}"
    gpu = machine.gpu_name()
    text += f", GPU {gpu})" if gpu else ")"
    dates = sorted({p[3].date() for p in pts})
    return f"{text}, {', '.join(dates)}"


def tick_label(y):
    """1,000 below a million, then 2 M, 1.5 G: short labels on a log axis."""
    for scale, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M")):
        if y >= scale:
            return f"{y / scale:g}{suffix}"
    return f"{y:,g}"


def import_pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display), or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def draw(plt, path, cap, fig_spec, pts, machine):
    """One PNG; returns False when there is nothing to draw."""
    from matplotlib.ticker import FuncFormatter, NullLocator
    plain = FuncFormatter(lambda y, _: tick_label(y))
    # Minor ticks labelled at 2 and 5 x 10^n only, so a short log axis still reads.
    sparse = FuncFormatter(lambda y, _: tick_label(y) if y > 0 and f"{y:e}"[0] in "25" else "")
    held = []
    for key in fig_spec.fixed:
        value = fixed_value(key, pts)
        pts = [p for p in pts if p[1][key] == value]
        held.append(f"{key} = {value:,}")
    if not pts:
        return False
    panels = sorted({p[1][fig_spec.panel] for p in pts}) if fig_spec.panel else [None]
    engines = sorted({p[0] for p in pts})
    styles = sorted({p[1][fig_spec.style] for p in pts}) if fig_spec.style else [None]
    cols = min(len(panels), 3)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows + 0.9), squeeze=False)
    for i, panel in enumerate(panels):
        ax = axes[i // cols][i % cols]
        sel = [p for p in pts if panel is None or p[1][fig_spec.panel] == panel]
        for e_i, engine in enumerate(engines):
            for s_i, style in enumerate(styles):
                line = sorted((c[fig_spec.x], v) for e, c, v, _ in sel
                              if e == engine and (style is None or c[fig_spec.style] == style))
                if not line:
                    continue
                ls, marker = STYLES[s_i % len(STYLES)]
                label = engine if style is None else f"{engine}, {fig_spec.style} = {style:,}"
                ax.plot([x for x, _ in line], [y for _, y in line], linestyle=ls, marker=marker,
                        color=COLOURS[e_i % len(COLOURS)], linewidth=2.2 if engine.startswith("xmr") else 1.3,
                        markersize=5, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        xs = sorted({p[1][fig_spec.x] for p in sel})
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:,}" if x < 1e6 else f"{x:.0e}".replace("e+0", "e") for x in xs], fontsize=8)
        ax.xaxis.set_minor_locator(NullLocator())  # the measured x values are the ticks
        ax.yaxis.set_major_formatter(plain)
        lo, hi = ax.get_ylim()
        if hi < 100 * lo:  # under two decades: label some minor ticks, else one label or none
            ax.yaxis.set_minor_formatter(sparse)
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel(fig_spec.x)
        ax.set_ylabel(cap.unit.replace("q/s", "queries/s"))
        ax.set_title(f"{fig_spec.panel} = {panel:,}" if panel is not None else "", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(f"{cap.title}: {fig_spec.what} ({', '.join(held)})\n{machine_title(machine, pts)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(report.ROOT, "bench", "results"))
    ap.add_argument("--machine", action="append", default=[], help="only this machine (repeatable)")
    args = ap.parse_args(argv)
    plt = import_pyplot()
    if plt is None:
        print(f"plot_throughput: {sys.executable} cannot import matplotlib; run it with "
              "/usr/bin/python3 (Debian python3-matplotlib; scripts/setup.sh --bench installs it)",
              file=sys.stderr)
        return 3
    machines = report.load_results(args.results)
    wrote = 0
    for name, machine in sorted(machines.items()):
        if args.machine and name not in args.machine:
            continue
        for cap, figures in FAMILIES:
            files = machine.files(cap.prefixes)
            pts = points(cap, cap.collect(files))
            if not pts:
                continue
            for fig_spec in figures:
                path = os.path.join(os.path.dirname(files[0].path), fig_spec.file)
                if draw(plt, path, cap, fig_spec, pts, machine):
                    print(f"plot_throughput: wrote {os.path.relpath(path)}")
                    wrote += 1
    if not wrote:
        print("plot_throughput: no dense, Hamming or top-k results to plot", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
