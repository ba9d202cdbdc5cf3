#!/usr/bin/env python3
"""Summarise dense-search, Hamming-search and index-file benchmark JSON as Markdown.

Reads Google Benchmark JSON from bench_dense, bench_binary and bench_io (and the same shapes from
bench/torch_dense.py and bench/torch_binary.py), and prints:
  * the machine context (CPU, threads, versions, measured peaks),
  * one comparison table per engine pair (default: xmr_cpu vs faiss_cpu, xmr_gpu vs torch_fp32,
    xmr_gpu_fp16 vs torch_fp16, each where both are present): N, Q, k, queries/s of both,
    ratio (candidate / baseline, > 1 means the candidate is faster), and the candidate's
    fraction of the GEMM peak and of the memory-bandwidth peak,
  * for Hamming search (`binary/...` names), one table per engine pair and (N, bits) (default:
    xmr_cpu vs faiss_cpu, xmr_gpu vs torch): Q, k, queries/s of both, ratio, the candidate's
    pairs/s and fractions of the popcount and memory-bandwidth peaks, and the baseline's
    fraction of the popcount peak,
  * for index files (`io/...` names), save and load times and GB/s per engine, as a fraction of
    the raw write/read of the same bytes and against FAISS,
  * for retrieval quality (`quality/map_all/...` names, bench_fashion), mAP@ALL per binariser and
    code length next to the float ranking's mAP (a quality number, not a timing),
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
BINARY_RE = re.compile(
    r"^binary/(?P<engine>[^/]+)/N:(?P<n>\d+)/bits:(?P<bits>\d+)/Q:(?P<q>\d+)/k:(?P<k>\d+)")
IO_RE = re.compile(r"^io/(?P<op>save|load)/(?P<engine>[^/]+)/N:(?P<n>\d+)/D:(?P<d>\d+)")
QUALITY_RE = re.compile(r"^quality/map_all/(?P<method>[^/]+)(?:/bits:(?P<bits>\d+))?")
BINARY_CHECK_RE = re.compile(r"^check/(?P<pair>[^/]+)/N:(?P<n>\d+)/bits:(?P<bits>\d+)/k:(?P<k>\d+)")
DEFAULT_PAIRS = [("xmr_cpu", "faiss_cpu"), ("xmr_gpu", "torch_fp32"), ("xmr_gpu_fp16", "torch_fp16")]
DEFAULT_BINARY_PAIRS = [("xmr_cpu", "faiss_cpu"), ("xmr_gpu", "torch")]
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
CONTEXT_KEYS = [
    "xmr_git", "cpu_model", "hardware_threads", "omp_max_threads", "openblas_config", "llc_bytes",
    "xmr_version", "xmr_devices", "xmr_built_with_cuda", "faiss_version", "torch_version",
    "gpu_name", "peak_cpu_sgemm_gflops", "peak_cpu_copy_gbs", "peak_cpu_read_gbs",
    "peak_cpu_mem_gbs", "peak_gpu_sgemm_gflops", "peak_gpu_hgemm_gflops", "peak_gpu_copy_gbs",
    "peak_gpu_note", "xmr_popcount_kernel", "xmr_cpu_isa_env", "peak_cpu_popcount_isa",
    "peak_cpu_popcount_gwords", "peak_gpu_popcount_gwords", "peak_gpu_popcount_gwords_nominal",
    "torch_popcount", "data",
    "load_avg", "date", "library_build_type", "data_dir", "queries",
]


TIMING_NOTE = ("ms/search: mean over the iterations of the fastest repetition (reps). "
               "preempt/search: involuntary context switches of the benchmark process per "
               "search; well above 0 means other processes shared the cores (slower timings).")


def _nonzero(value):
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def ratio_note(cand, base):
    return f"ratio = {cand} queries/s over {base} queries/s (> 1: {cand} is faster)."


def best_of(reps):
    """The fastest repetition (--benchmark_repetitions): on a shared machine other processes only
    ever add time, so the fastest run is the least disturbed one."""
    best = min(reps, key=lambda r: r.get("real_time", float("inf")))
    unit = TO_MS.get(best.get("time_unit", "ns"), 1e-6)
    return best, {
        "ms": best["real_time"] * unit if "real_time" in best else None,
        "qps": best.get("queries_per_s"),
        "frac_mem_bw": best.get("frac_mem_bw"),
        "iterations": int(best.get("iterations", 0)),
        "repetitions": len(reps),
        "wall_ms": best.get("wall_ms"),
        "invol_csw": best.get("invol_csw"),
    }


def load(paths):
    """Returns (contexts, dense rows, check rows, errors, binary rows, binary check rows, io rows,
    quality rows)."""
    contexts, runs, checks, errors = [], {}, {}, []
    binary_runs, binary_checks, io_runs, quality = {}, {}, {}, {}
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
            m = BINARY_RE.match(name)
            if m:
                key = (m["engine"], int(m["n"]), int(m["bits"]), int(m["q"]), int(m["k"]))
                binary_runs.setdefault(key, []).append(b)
                continue
            m = BINARY_CHECK_RE.match(name)
            if m:
                binary_checks[(m["pair"], int(m["n"]), int(m["bits"]), int(m["k"]))] = b
                continue
            m = DENSE_RE.match(name)
            if m:
                key = (m["engine"], int(m["n"]), int(m["q"]), int(m["k"]))
                runs.setdefault(key, []).append(b)
                continue
            m = CHECK_RE.match(name)
            if m:
                checks[(m["pair"], int(m["n"]), int(m["k"]))] = b
                continue
            m = IO_RE.match(name)
            if m:
                io_runs.setdefault((m["op"], m["engine"], int(m["n"]), int(m["d"])), []).append(b)
                continue
            m = QUALITY_RE.match(name)
            if m:
                quality[(m["method"], int(m["bits"]) if m["bits"] else 0)] = b
    dense = {}
    for key, reps in runs.items():
        best, row = best_of(reps)
        row["gflops"] = best.get("gflops")
        row["frac_gemm_peak"] = best.get("frac_gemm_peak")
        dense[key] = row
    binary = {}
    for key, reps in binary_runs.items():
        best, row = best_of(reps)
        row["gpairs"] = best.get("gpairs_per_s")
        row["frac_popcount_peak"] = best.get("frac_popcount_peak")
        binary[key] = row
    io = {}
    for key, reps in io_runs.items():
        best, row = best_of(reps)
        row["gbs"] = best.get("bytes_per_second", 0.0) / 1e9
        row["mb"] = best.get("file_mb")
        io[key] = row
    return contexts, dense, checks, errors, binary, binary_checks, io, quality


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


def binary_sections(binary, checks, pairs):
    """Markdown lines for bench_binary's results (empty when there are none)."""
    out = []
    if not binary and not checks:
        return out
    engines = sorted({key[0] for key in binary})
    for cand, base in pairs:
        shapes = sorted({(n, bits) for (e, n, bits, _, _) in binary if e == cand})
        shapes = [(n, bits) for (n, bits) in shapes
                  if any((base, n, bits, q, k) in binary for (e, nn, bb, q, k) in binary
                         if e == cand and (nn, bb) == (n, bits))]
        if not shapes:
            continue
        out.append(f"## {cand} vs {base}")
        out.append("")
        for n, bits in shapes:
            keys = sorted({(q, k) for (e, nn, bb, q, k) in binary
                           if e == cand and (nn, bb) == (n, bits) and (base, n, bits, q, k) in binary})
            out.append(f"### N = {n:,}, {bits}-bit codes")
            out.append("")
            rows = []
            for q, k in keys:
                c, b = binary[(cand, n, bits, q, k)], binary[(base, n, bits, q, k)]
                ratio = c["qps"] / b["qps"] if c["qps"] and b["qps"] else None
                rows.append([q, k, fmt(c["qps"]), fmt(b["qps"]), fmt(ratio, "ratio"), fmt(c["gpairs"]),
                             fmt(c["frac_popcount_peak"], "frac"), fmt(c["frac_mem_bw"], "frac"),
                             fmt(b["frac_popcount_peak"], "frac")])
            out += table(["Q", "k", f"{cand} q/s", f"{base} q/s", "ratio", f"{cand} Gpairs/s",
                          f"{cand} frac popcount peak", f"{cand} frac mem BW",
                          f"{base} frac popcount peak"], rows)
            out.append("")
        out.append(ratio_note(cand, base) + " Gpairs/s: query-code distances per second (1e9). "
                   "frac popcount peak: 64-bit xor-popcounts per second over the measured peak; "
                   "frac mem BW: (database + queries + results) bytes per second over the measured "
                   "memory bandwidth (above 1: the database came from a cache).")
        out.append("")

    if binary:
        out.append("## All engines (Hamming search)")
        out.append("")
        rows = []
        order = sorted(binary, key=lambda key: (key[1], key[2], key[3], key[4], engines.index(key[0])))
        for key in order:
            e, n, bits, q, k = key
            r = binary[key]
            rows.append([e, f"{n:,}", bits, q, k, fmt(r["ms"]), fmt(r["qps"]), fmt(r["gpairs"]),
                         fmt(r["frac_popcount_peak"], "frac"), fmt(r["frac_mem_bw"], "frac"),
                         r["iterations"], r["repetitions"], fmt(r["invol_csw"])])
        out += table(["engine", "N", "bits", "Q", "k", "ms/search", "q/s", "Gpairs/s",
                      "frac popcount peak", "frac mem BW", "iters", "reps", "preempt/search"], rows)
        out.append("")
        out.append(TIMING_NOTE)
        out.append("")

    if checks:
        out.append("## Correctness checks (first 100 queries against an exact scalar reference)")
        out.append("")
        rows = []
        for (pair, n, bits, k), b in sorted(checks.items()):
            if b.get("error_occurred"):
                result = "FAIL"
            else:
                result = "pass" if not b.get("problems") else "FAIL"
            rows.append([pair, f"{n:,}", bits, k, result, int(b.get("checked_results", 0)),
                         int(b.get("boundary_tie_diffs", 0))])
        out += table(["check", "N", "bits", "k", "result", "results", "boundary tie choices"], rows)
        out.append("")
        out.append("xmr engines must equal the reference exactly (ties by ascending id). FAISS "
                   "does not order ties by id: its distances must match rank by rank and its ids "
                   "as sets within each distance; \"boundary tie choices\" counts queries where it "
                   "picked other (equally distant) codes in the last distance group cut by k.")
        out.append("")
    return out


def io_sections(best):
    """Markdown lines for bench_io's results (empty when there are none): per operation, every
    engine's time and GB/s, its fraction of the raw limit (write+fsync / pread of the same bytes)
    and its speed relative to FAISS."""
    if not best:
        return []
    out = ["## Saving and loading index files", ""]
    rows = []
    for (op, engine, n, d) in sorted(best, key=lambda k: (k[2], k[3], k[0] != "save", k[1])):
        r = best[(op, engine, n, d)]
        raw = best.get((op, "raw", n, d))
        faiss = best.get((op, "faiss", n, d))
        frac = r["gbs"] / raw["gbs"] if raw and raw["gbs"] and engine != "raw" else None
        vs_faiss = faiss["ms"] / r["ms"] if faiss and r["ms"] and engine not in ("raw", "faiss") else None
        rows.append([f"{op} {engine}", f"{n:,} x {d}", fmt(r["mb"]), fmt(r["ms"]), fmt(r["gbs"]),
                     fmt(frac, "frac"), fmt(vs_faiss, "ratio"), r["iterations"]])
    out += table(["operation", "N x D (fp32)", "file MB", "ms", "GB/s", "frac of raw", "vs FAISS",
                  "iters"], rows)
    out.append("")
    out.append("raw: the same bytes with plain write()+fsync() (save) or pread() into a fresh "
               "huge-page buffer (load): the limit for this machine. Loads read from the page "
               "cache (the file was just written); saves include fsync. vs FAISS: FAISS's time "
               "over xmr's (> 1: xmr is faster); FAISS write_index does not fsync. xmr_read / "
               "xmr_map verify every checksum and value; *_trust only the header and ids.")
    out.append("")
    return out


def quality_sections(quality):
    """Markdown lines for mAP@ALL results (empty when there are none): one row per binariser and
    code length, with its fraction of the float ranking's mAP (method float_cosine, bits 0)."""
    if not quality:
        return []
    ceiling = next((b.get("map_all") for (m, bits), b in quality.items() if bits == 0), None)
    rows = []
    for (method, bits), b in sorted(quality.items(), key=lambda kv: (kv[0][1] != 0, kv[0][0], kv[0][1])):
        value = b.get("map_all")
        frac = value / ceiling if value is not None and ceiling else None
        rows.append([method, "float" if bits == 0 else bits, fmt(value, "frac") if value is not None else "-",
                     fmt(frac, "frac"), fmt(b.get("train_s")), fmt(b.get("encode_s")),
                     int(b.get("queries", 0))])
    out = ["## Retrieval quality: mAP@ALL (relevant: same label)", ""]
    out += table(["ranking", "bits", "mAP@ALL", "of float mAP", "train s", "encode s", "queries"], rows)
    out.append("")
    out.append("Each query ranks the whole database (Hamming distance, ties by ascending index; float: "
               "cosine). \"of float mAP\": the ratio to the float ranking's mAP@ALL, which is not an "
               "upper bound (a learned code can rank classes better than raw cosine).")
    out.append("")
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--pair", action="append", default=[],
                    help="CANDIDATE=BASELINE engine names (repeatable)")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)

    contexts, dense, checks, errors, binary, binary_checks, io_rows, quality = load(args.json)
    pairs = [tuple(p.split("=", 1)) for p in args.pair] or DEFAULT_PAIRS
    binary_pairs = [tuple(p.split("=", 1)) for p in args.pair] or DEFAULT_BINARY_PAIRS
    engines = sorted({e for (e, _, _, _) in dense})
    io = io_sections(io_rows)
    title = args.title
    if title is None and io and not dense and not binary:
        title = "Index files: save and load"
    if title is None:
        title = ("Hamming k-NN search (packed binary codes)" if binary and not dense
                 else "Dense exact top-k search (D = 512, inner product)")
    out = [f"# {title}", ""]

    out.append("## Machine and peaks")
    out.append("")
    for path, ctx in contexts:
        out.append(f"From `{path}`:")
        out.append("")
        for key in CONTEXT_KEYS:
            # The measured GPU popcount peak when there is one; the nominal one otherwise.
            if key == "peak_gpu_popcount_gwords_nominal" and _nonzero(ctx.get("peak_gpu_popcount_gwords")):
                continue
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
        out.append(ratio_note(cand, base))
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
        out.append(TIMING_NOTE)
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

    out += binary_sections(binary, binary_checks, binary_pairs)
    out += io
    out += quality_sections(quality)

    if errors:
        out.append("## Skipped or failed")
        out.append("")
        for name, msg in errors:
            out.append(f"- `{name}`: {msg}")
        out.append("")

    sys.stdout.write("\n".join(out))
    failed = any(name.startswith("check/") for name, _ in errors)
    failed = failed or any(b.get("problems") for b in binary_checks.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
