#!/usr/bin/env python3
"""Recall/throughput curve of the two-stage pipeline benchmark (bench/bench_pipeline.cpp).

Reads the Google Benchmark JSON of bench_pipeline and writes, next to it or where told:
  * a CSV (--csv): one row per data set, device and case, columns data, device, method, C,
    recall_at_10, queries_per_s, shortlist_ms_per_query, rescore_ms_per_query, speedup_vs_exact
    (queries/s over the same data set's and device's exact dense search),
  * a PNG plot (--png): recall@10 against C (log2 axis), one curve per data set and device, with
    exact dense search as the reference line, and a second panel with throughput relative to the
    same data set's exact dense search (needs matplotlib,
    Debian python3-matplotlib, installed by `scripts/setup.sh --bench`; without it the plot is
    skipped with a note and the exit status stays 0),
  * a Markdown summary on stdout: machine context, setup times per data set, the table, and the
    fractions of the CPU peaks that bench_dense measured on the same machine (dense_cpu.json in
    the same folder), if present.
With repetitions, each case reports its fastest repetition (as bench/summarize.py does). Case
names are pipeline/<device>/<data>/<method>/N:<n>/C:<c>; a JSON from before the data sets
(pipeline/<device>/<method>/...) reads as data set cross_modal.

Usage: plot_pipeline.py pipeline_cpu.json [--csv OUT.csv] [--png OUT.png] [--title T]
"""

import argparse
import csv
import json
import os
import re
import sys

NAME_RE = re.compile(r"^pipeline/(?P<device>[^/]+)/(?:(?P<data>cross_modal|spectrum)/)?(?P<method>[^/]+)"
                     r"/N:(?P<n>\d+)/C:(?P<c>\d+)")
TO_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
CONTEXT_KEYS = [
    "xmr_git", "cpu_model", "hardware_threads", "omp_max_threads", "llc_bytes", "xmr_version",
    "xmr_devices", "xmr_built_with_cuda", "sizes_n", "dim", "code_bits", "k", "num_queries",
    "binarizer", "binarizer_cross_modal", "binarizer_spectrum", "spectrum_alpha", "train_pairs",
    "data", "data_cross_modal", "data_spectrum", "setup_generate_s", "setup_train_s",
    "setup_encode_s", "setup_add_s", "setup_exact_s", "load_avg", "date", "library_build_type",
]
SETUP_COUNTERS = ["build_s", "setup_generate_s", "setup_train_s", "setup_encode_s", "setup_add_s",
                  "setup_exact_s"]
DATA_ORDER = {"cross_modal": 0, "spectrum": 1}
DATA_LABEL = {"cross_modal": "cross-modal (text query, image db)",
              "spectrum": "spectrum (same-modality, decaying spectrum)"}
CSV_COLUMNS = ["data", "device", "method", "C", "recall_at_10", "queries_per_s", "shortlist_ms_per_query",
               "rescore_ms_per_query", "speedup_vs_exact"]
METHOD_ORDER = {"exact": 0, "two_stage": 1, "codes_only": 2}


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    reps, errors = {}, []
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        m = NAME_RE.match(b.get("name", ""))
        if not m:
            continue
        if b.get("error_occurred"):
            errors.append((b["name"], b.get("error_message", "")))
            continue
        key = (m["data"] or "cross_modal", m["device"], m["method"], int(m["c"]))
        reps.setdefault(key, []).append(b)
    rows = {}
    for key, rs in reps.items():
        # The fastest repetition: on a shared machine other processes only add time.
        best = min(rs, key=lambda r: r["real_time"])
        rows[key] = {
            "data": key[0], "device": key[1], "method": key[2], "C": key[3], "n": int(best.get("n", 0)),
            "recall_at_10": best["recall_at_10"], "queries_per_s": best["queries_per_s"],
            "shortlist_ms_per_query": best["shortlist_ms_per_query"],
            "rescore_ms_per_query": best["rescore_ms_per_query"],
            "other_ms_per_query": best.get("other_ms_per_query"),
            "gbytes_per_s": best.get("gbytes_per_s"), "gflops": best.get("gflops"),
            "invol_csw": best.get("invol_csw"), "iterations": int(best.get("iterations", 0)),
            "repetitions": len(rs),
            "ms_per_call": best["real_time"] * TO_S.get(best.get("time_unit", "ns"), 1e-9) * 1e3,
            "setup": {k: best[k] for k in SETUP_COUNTERS if k in best},
        }
    for (data, device, _, _), r in rows.items():
        exact = rows.get((data, device, "exact", 10))
        r["speedup_vs_exact"] = r["queries_per_s"] / exact["queries_per_s"] if exact else None
    ordered = sorted(rows.values(), key=lambda r: (DATA_ORDER.get(r["data"], 9), r["data"], r["device"],
                                                   METHOD_ORDER.get(r["method"], 9), r["C"]))
    return doc.get("context", {}), ordered, errors


def fmt(v, digits=3):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow([r["data"], r["device"], r["method"], r["C"], f"{r['recall_at_10']:.4f}",
                        f"{r['queries_per_s']:.1f}", f"{r['shortlist_ms_per_query']:.5f}",
                        f"{r['rescore_ms_per_query']:.5f}",
                        "" if r["speedup_vs_exact"] is None else f"{r['speedup_vs_exact']:.3f}"])


def write_png(path, rows, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"plot_pipeline: matplotlib not importable (scripts/setup.sh --bench installs it); "
              f"{path} not written", file=sys.stderr)
        return False
    series = sorted({(r["data"], r["device"]) for r in rows},
                    key=lambda dd: (DATA_ORDER.get(dd[0], 9), dd[0], dd[1]))
    fig, (ax_r, ax_s) = plt.subplots(2, 1, figsize=(8, 8.5), sharex=True)
    colours = {"cross_modal": "tab:blue", "spectrum": "tab:orange"}
    styles = {"cpu": "-", "gpu": "--"}
    markers = {"cpu": "o", "gpu": "s"}
    for i, (data, dev) in enumerate(series):
        col = colours.get(data, "tab:gray")
        dy = 6 if i % 2 == 0 else -11  # alternate labels above and below, so two curves stay legible
        ls, mk = styles.get(dev, ":"), markers.get(dev, "^")
        name = f"{data}/{dev}"
        sel = [r for r in rows if r["data"] == data and r["device"] == dev]
        two = [r for r in sel if r["method"] == "two_stage"]
        cs = [r["C"] for r in two]
        ax_r.plot(cs, [r["recall_at_10"] for r in two], marker=mk, linestyle=ls, color=col,
                  label=f"{name}: Hamming shortlist of C + exact re-score")
        if all(r["speedup_vs_exact"] is not None for r in two):
            ax_s.plot(cs, [r["speedup_vs_exact"] for r in two], marker=mk, linestyle=ls, color=col,
                      label=f"{name}: two-stage")
        for r in two:
            ax_r.annotate(f"{r['recall_at_10']:.2f}", (r["C"], r["recall_at_10"]),
                          textcoords="offset points", xytext=(0, dy), ha="center", fontsize=7, color=col)
            if r["speedup_vs_exact"] is not None:
                ax_s.annotate(f"{r['speedup_vs_exact']:.1f}x", (r["C"], r["speedup_vs_exact"]),
                              textcoords="offset points", xytext=(0, dy), ha="center", fontsize=7,
                              color=col)
        for r in (r for r in sel if r["method"] == "codes_only"):
            ax_r.plot([r["C"]], [r["recall_at_10"]], "x", color=col, markersize=9,
                      label=f"{name}: codes alone (top-10 by Hamming)")
            if r["speedup_vs_exact"] is not None:
                ax_s.plot([r["C"]], [r["speedup_vs_exact"]], "x", color=col, markersize=9,
                          label=f"{name}: codes alone")
        exact = [r for r in sel if r["method"] == "exact"]
        if exact:
            ax_s.plot([], [], " ", label=f"{name}: exact dense = {exact[0]['queries_per_s']:.0f} q/s")
    ax_r.axhline(1.0, color="black", linestyle="--", linewidth=1, label="exact dense (recall 1 by definition)")
    ax_s.axhline(1.0, color="black", linestyle="--", linewidth=1, label="exact dense = 1")
    ax_r.axhline(0.95, color="tab:red", linestyle=":", linewidth=1, label="recall 0.95")
    ax_r.set_ylabel("recall@10 vs exact dense")
    ax_r.set_ylim(0, 1.05)
    ax_r.grid(True, which="both", alpha=0.3)
    ax_r.legend(fontsize=6.5, loc="lower right")
    ax_s.set_xscale("log", base=2)
    ax_s.set_yscale("log")
    ax_s.set_xlabel("C (shortlist size, log2)")
    ax_s.set_ylabel("queries/s relative to exact dense")
    ax_s.grid(True, which="both", alpha=0.3)
    ax_s.legend(fontsize=6.5, loc="upper right")
    all_c = sorted({r["C"] for r in rows})
    ax_s.set_xticks(all_c)
    ax_s.set_xticklabels([str(c) for c in all_c])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def peaks_from(json_path):
    """CPU peaks measured by bench_dense in the same results folder, if it is there."""
    p = os.path.join(os.path.dirname(os.path.abspath(json_path)), "dense_cpu.json")
    try:
        with open(p, encoding="utf-8") as f:
            ctx = json.load(f).get("context", {})
        return float(ctx["peak_cpu_sgemm_gflops"]), float(ctx["peak_cpu_mem_gbs"]), p
    except (OSError, KeyError, ValueError):
        return None, None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--csv")
    ap.add_argument("--png")
    ap.add_argument("--title", default="Two-stage retrieval: Hamming shortlist + exact re-score")
    args = ap.parse_args()
    ctx, rows, errors = load(args.json)
    if not rows:
        print(f"plot_pipeline: no pipeline results in {args.json}", file=sys.stderr)
        return 1
    if args.csv:
        write_csv(args.csv, rows)
    n = rows[0]["n"]
    datas = sorted({r["data"] for r in rows}, key=lambda d: (DATA_ORDER.get(d, 9), d))
    binarizers = []
    for d in datas:
        b = ctx.get(f"binarizer_{d}", ctx.get("binarizer", "?") if d == "cross_modal" else "?")
        binarizers.append(f"{d}: {b}")
    subtitle = (f"N = {n:,}, D = {ctx.get('dim', '?')}, {ctx.get('code_bits', '?')}-bit codes "
                f"({', '.join(binarizers)}), Q = {ctx.get('num_queries', '?')} queries, k = 10")
    png_ok = write_png(args.png, rows, f"{args.title}\n{subtitle}") if args.png else False

    out = [f"# {args.title}", "", subtitle + ".", "", "## Machine and setup", "",
           f"From `{os.path.basename(args.json)}`:", ""]
    out += [f"- {k}: {ctx[k]}" for k in CONTEXT_KEYS if k in ctx]
    setups = {}
    for r in rows:
        if r["setup"] and r["data"] not in setups:
            setups[r["data"]] = r["setup"]
    if setups:
        out += ["", "Setup seconds per data set (made once, outside every timing):", "",
                "| data | total | generate | train | encode | add | exact |",
                "|:---|---:|---:|---:|---:|---:|---:|"]
        for d, st in setups.items():
            out.append("| " + " | ".join([d] + [f"{st[k]:.1f}" if k in st else "-" for k in SETUP_COUNTERS]) + " |")
    out += ["", "## Recall and throughput", ""]
    header = ["data", "device", "method", "C", "recall@10", "queries/s", "speedup vs exact",
              "shortlist ms/q", "rescore ms/q", "other ms/q", "eff. GB/s", "GFLOP/s", "reps",
              "preempt/call"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join([":---", ":---", ":---"] + ["---:"] * (len(header) - 3)) + "|")
    for r in rows:
        out.append("| " + " | ".join([
            r["data"], r["device"], r["method"], str(r["C"]), f"{r['recall_at_10']:.4f}", fmt(r["queries_per_s"]),
            "-" if r["speedup_vs_exact"] is None else f"{r['speedup_vs_exact']:.2f}x",
            f"{r['shortlist_ms_per_query']:.4f}", f"{r['rescore_ms_per_query']:.4f}",
            "-" if r["other_ms_per_query"] is None else f"{r['other_ms_per_query']:.4f}",
            fmt(r["gbytes_per_s"]), fmt(r["gflops"]), str(r["repetitions"]), fmt(r["invol_csw"])]) + " |")
    out += ["",
            "recall@10 = |top-10 ∩ exact top-10| / 10, averaged over the queries (exact dense search "
            "on the CPU is the ground truth). speedup = queries/s over the same data set's and "
            "device's exact dense queries/s. shortlist / rescore ms/q: PipelineStats stage times per "
            "query; other: the rest of the call. eff. GB/s: bytes a query logically reads (N·B/8 codes + C·D·4 re-scored "
            "rows; N·D·4 for exact) times queries/s: a batch re-uses database blocks from cache, so "
            "this can exceed the DRAM bandwidth. Fastest of `reps` repetitions; preempt/call: "
            "involuntary context switches per call (well above 0: other processes shared the cores)."]
    sgemm, mem, src = peaks_from(args.json)
    if sgemm:
        out += ["", f"CPU peaks measured by bench_dense on this machine (`{os.path.basename(src)}`): "
                f"sgemm {sgemm:.1f} GFLOP/s, memory {mem:.1f} GB/s."]
        for r in rows:
            if r["device"] == "cpu" and r["method"] == "exact" and r["gflops"]:
                out.append(f"Exact dense search ({r['data']}) reaches {r['gflops']:.1f} GFLOP/s = "
                           f"{r['gflops'] / sgemm:.2f} of that sgemm peak.")
    if args.csv:
        out += ["", f"CSV: `{os.path.basename(args.csv)}`."]
    if png_ok:
        out += ["", f"![recall and throughput against C]({os.path.basename(args.png)})"]
    if errors:
        out += ["", "## Errors", ""] + [f"- `{name}`: {msg}" for name, msg in errors]
    print("\n".join(out))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
