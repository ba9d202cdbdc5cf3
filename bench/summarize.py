#!/usr/bin/env python3
"""Summarise dense-search benchmark JSON as Markdown.

Reads Google Benchmark JSON from bench_dense (and the same shape from bench/torch_dense.py),
and prints:
  * the machine context (CPU, threads, versions, measured peaks),
  * one comparison table per engine pair (default: xmr_cpu vs faiss_cpu, xmr_gpu vs torch_fp32,
    xmr_gpu_fp16 vs torch_fp16, each where both are present): N, Q, k, queries/s of both,
    ratio (candidate / baseline, > 1 means the candidate is faster), and the candidate's
    fraction of the GEMM peak and of the memory-bandwidth peak,
  * every engine's numbers, the correctness checks, and any benchmark that reported an error.
With repetitions (--benchmark_repetitions), each case reports its fastest repetition.

Usage: summarize.py RESULT.json [MORE.json ...] [--pair CANDIDATE=BASELINE ...] [--title T]
Standard library only.
"""

import argparse
import json
import re
import sys

DENSE_RE = re.compile(r"^dense/(?P<engine>[^/]+)/N:(?P<n>\d+)/Q:(?P<q>\d+)/k:(?P<k>\d+)")
CHECK_RE = re.compile(r"^check/(?P<pair>[^/]+)/N:(?P<n>\d+)/k:(?P<k>\d+)")
DEFAULT_PAIRS = [("xmr_cpu", "faiss_cpu"), ("xmr_gpu", "torch_fp32"), ("xmr_gpu_fp16", "torch_fp16")]
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
CONTEXT_KEYS = [
    "xmr_git", "cpu_model", "hardware_threads", "omp_max_threads", "openblas_config", "llc_bytes",
    "xmr_version", "xmr_devices", "xmr_built_with_cuda", "faiss_version", "torch_version",
    "gpu_name", "peak_cpu_sgemm_gflops", "peak_cpu_copy_gbs", "peak_cpu_read_gbs",
    "peak_cpu_mem_gbs", "peak_gpu_sgemm_gflops", "peak_gpu_hgemm_gflops", "peak_gpu_copy_gbs",
    "peak_gpu_note", "load_avg", "date", "library_build_type",
]


def load(paths):
    """Returns (contexts, dense rows, check rows, errors)."""
    contexts, runs, checks, errors = [], {}, {}, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        contexts.append((path, doc.get("context", {})))
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue  # aggregates: we take the median of the repetitions ourselves
            name = b.get("name", "")
            if b.get("error_occurred"):
                errors.append((name, b.get("error_message", "")))
                continue
            m = DENSE_RE.match(name)
            if m:
                key = (m["engine"], int(m["n"]), int(m["q"]), int(m["k"]))
                runs.setdefault(key, []).append(b)
                continue
            m = CHECK_RE.match(name)
            if m:
                checks[(m["pair"], int(m["n"]), int(m["k"]))] = b
    dense = {}
    for key, reps in runs.items():
        # With --benchmark_repetitions, report the fastest repetition: on a shared machine other
        # processes only ever add time, so the fastest run is the least disturbed one.
        best = min(reps, key=lambda r: r.get("real_time", float("inf")))
        unit = TO_MS.get(best.get("time_unit", "ns"), 1e-6)
        dense[key] = {
            "ms": best["real_time"] * unit if "real_time" in best else None,
            "qps": best.get("queries_per_s"),
            "gflops": best.get("gflops"),
            "frac_gemm_peak": best.get("frac_gemm_peak"),
            "frac_mem_bw": best.get("frac_mem_bw"),
            "iterations": int(best.get("iterations", 0)),
            "repetitions": len(reps),
            "wall_ms": best.get("wall_ms"),
            "invol_csw": best.get("invol_csw"),
        }
    return contexts, dense, checks, errors


def fmt(v, kind="num"):
    if v is None:
        return "-"
    if kind == "frac":
        return f"{v:.3f}"
    if kind == "ratio":
        return f"{v:.2f}x"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def table(header, rows):
    # First column left-aligned (names), the rest right-aligned (numbers).
    align = [":---"] + ["---:"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--pair", action="append", default=[],
                    help="CANDIDATE=BASELINE engine names (repeatable)")
    ap.add_argument("--title", default="Dense exact top-k search (D = 512, inner product)")
    args = ap.parse_args(argv)
    pairs = [tuple(p.split("=", 1)) for p in args.pair] or DEFAULT_PAIRS

    contexts, dense, checks, errors = load(args.json)
    engines = sorted({e for (e, _, _, _) in dense})
    out = [f"# {args.title}", ""]

    out.append("## Machine and peaks")
    out.append("")
    for path, ctx in contexts:
        out.append(f"From `{path}`:")
        out.append("")
        for key in CONTEXT_KEYS:
            if key in ctx and ctx[key] not in ("", None):
                out.append(f"- {key}: {ctx[key]}")
        out.append("")

    for cand, base in pairs:
        keys = sorted({(n, q, k) for (e, n, q, k) in dense if e in (cand, base)})
        keys = [key for key in keys if (cand, *key) in dense and (base, *key) in dense]
        if not keys:
            continue
        out.append(f"## {cand} vs {base}")
        out.append("")
        rows = []
        for n, q, k in keys:
            c, b = dense[(cand, n, q, k)], dense[(base, n, q, k)]
            ratio = c["qps"] / b["qps"] if c["qps"] and b["qps"] else None
            rows.append([f"{n:,}", q, k, fmt(c["qps"]), fmt(b["qps"]), fmt(ratio, "ratio"),
                         fmt(c["frac_gemm_peak"], "frac"), fmt(c["frac_mem_bw"], "frac")])
        out += table(["N", "Q", "k", f"{cand} q/s", f"{base} q/s", "ratio",
                      f"{cand} frac GEMM peak", f"{cand} frac mem BW"], rows)
        out.append("")
        out.append(f"ratio = {cand} queries/s over {base} queries/s (> 1: {cand} is faster).")
        out.append("")

    if dense:
        out.append("## All engines")
        out.append("")
        rows = []
        for (e, n, q, k) in sorted(dense, key=lambda key: (key[1], key[2], key[3], engines.index(key[0]))):
            r = dense[(e, n, q, k)]
            rows.append([e, f"{n:,}", q, k, fmt(r["ms"]), fmt(r["qps"]), fmt(r["gflops"]),
                         fmt(r["frac_gemm_peak"], "frac"), fmt(r["frac_mem_bw"], "frac"),
                         r["iterations"], r["repetitions"], fmt(r["invol_csw"])])
        out += table(["engine", "N", "Q", "k", "ms/search", "q/s", "GFLOP/s", "frac GEMM peak",
                      "frac mem BW", "iters", "reps", "preempt/search"], rows)
        out.append("")
        out.append("ms/search: mean over the iterations of the fastest repetition (reps). "
                   "preempt/search: involuntary context switches of the benchmark process per "
                   "search; well above 0 means other processes shared the cores (slower timings).")
        out.append("")

    if checks:
        out.append("## Correctness checks (first 100 queries, scores recomputed in double)")
        out.append("")
        rows = []
        for (pair, n, k), b in sorted(checks.items()):
            rows.append([pair, f"{n:,}", k, "pass" if not b.get("problems") else "FAIL",
                         int(b.get("checked_results", 0)), int(b.get("tie_swaps", 0)),
                         f"{b.get('max_score_err', 0.0):.2e}"])
        out += table(["check", "N", "k", "result", "results", "near-tie swaps", "max abs score err"], rows)
        out.append("")

    if errors:
        out.append("## Skipped or failed")
        out.append("")
        for name, msg in errors:
            out.append(f"- `{name}`: {msg}")
        out.append("")

    sys.stdout.write("\n".join(out))
    failed = any(name.startswith("check/") for name, _ in errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
