#!/usr/bin/env python3
"""Generate BENCHMARKS.md from the benchmark JSON in bench/results/<machine>/*.json (issue 7).

Reads every result file except smoke tests (*_quick.json): Google Benchmark JSON from the bench_*
binaries and the same shape from the PyTorch baselines (bench/torch_*.py), and writes one
Markdown page:
  * a header (what the page is, how to reproduce it, the machines),
  * the issue-7 targets, each with its measured values and "met", "MISSED" or "not measured",
  * one section per capability, in this order: dense exact search, Hamming search, top-k
    selection, two-stage pipeline, multi-vector MaxSim, metric evaluation, index I/O, Fashion-MNIST.
    Every table carries a caption with the machine (CPU model, threads, GPU), the date and the
    xmr commit from its JSON context, and its source file; comparison tables show xmr's
    throughput, the peer's, the ratio (xmr / peer: > 1 means xmr is faster), xmr's fraction of
    the measured limit (the frac_* counters) and, where an issue-7 target applies, whether it
    is met.
With repetitions, each case reports its fastest repetition (as bench/summarize.py does);
aggregate rows (_mean, _median, ...) are ignored. Where a result file has re-runs
(X.json and X_run2.json ...), the page reports X.json (the run the docs cite) and names the
others; with no X.json, the newest by its context date.

The output depends only on the JSON (no generation time, no absolute paths), so `--check` can
run in CI.

Usage: report.py [--results DIR] [--out PATH] [--check]
Standard library only.
"""

import argparse
import difflib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from plot_pipeline import load as load_pipeline  # noqa: E402  (standard library only)

TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
# Segments Google Benchmark appends to a case name (options of the run, not of the case).
GB_SUFFIX_RE = re.compile(r"^(min_time|min_warmup_time|iterations|repeats|threads):|"
                          r"^(real_time|manual_time|process_time)$")
RUN_RE = re.compile(r"^(?P<group>.+?)_run(?P<run>\d+)$")
FRACS = [("frac_gemm_peak", "GEMM peak"), ("frac_popcount_peak", "popcount peak"),
         ("frac_mem_bw", "mem BW")]
PLOTS = [("dense_vs_n.png", "dense: queries/s vs N"), ("dense_vs_batch.png", "dense: queries/s vs Q"),
         ("binary_vs_n.png", "Hamming: queries/s vs N"),
         ("binary_vs_batch.png", "Hamming: queries/s vs Q"),
         ("topk_vs_n.png", "top-k: queries/s vs N"), ("topk_vs_batch.png", "top-k: queries/s vs Q"),
         ("pipeline_recall.png", "pipeline: recall@10 and speedup vs C")]


# ---------------------------------------------------------------------------------------------
# Loading


def base_name(name):
    """The case name without the options Google Benchmark appends (/min_time:..., /real_time)."""
    return "/".join(s for s in name.split("/") if not GB_SUFFIX_RE.match(s))


class ResultFile:
    """One JSON file: its context and, per case, the fastest repetition's counters."""

    def __init__(self, path, machine):
        self.path = path
        self.machine = machine
        self.name = os.path.basename(path)
        self.stem = self.name[:-len(".json")]
        m = RUN_RE.match(self.stem)
        self.group = m["group"] if m else self.stem
        self.run = int(m["run"]) if m else 1
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.ctx = doc.get("context", {})
        self.runs, self.errors = {}, []
        reps = {}
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or "aggregate_name" in b:
                continue
            name = base_name(b.get("name", ""))
            if b.get("error_occurred"):
                self.errors.append((name, b.get("error_message", "")))
                continue
            reps.setdefault(name, []).append(b)
        for name, rs in reps.items():
            # The fastest repetition: on a shared machine other processes only ever add time.
            best = min(rs, key=lambda r: r.get("real_time", float("inf")))
            row = dict(best)
            row["ms"] = best["real_time"] * TO_MS.get(best.get("time_unit", "ns"), 1e-6) \
                if "real_time" in best else None
            row["reps"] = len(rs)
            self.runs[name] = row

    def date(self):
        return str(self.ctx.get("date", ""))[:10] or "unknown date"


class Machine:
    """One bench/results/<machine>/ folder: its headline result file per group, and re-runs."""

    def __init__(self, name, files):
        self.name = name
        by_group = {}
        for rf in files:
            by_group.setdefault(rf.group, []).append(rf)
        self.headline, self.others = {}, {}
        for group, rfs in sorted(by_group.items()):
            plain = [rf for rf in rfs if rf.stem == group]
            head = plain[0] if plain else max(rfs, key=lambda rf: (str(rf.ctx.get("date", "")), rf.run))
            self.headline[group] = head
            self.others[group] = sorted((rf for rf in rfs if rf is not head), key=lambda rf: rf.run)

    def files(self, prefixes):
        """Headline files whose group starts with one of `prefixes`, sorted by name."""
        return [rf for g, rf in sorted(self.headline.items()) if any(g.startswith(p) for p in prefixes)]

    def info(self, key):
        """The first non-empty value of a context key over the headline files (sorted by name)."""
        for _, rf in sorted(self.headline.items()):
            v = rf.ctx.get(key)
            if v not in (None, "", "not built", "0.0", "0.00"):
                return str(v)
        return None

    def gpu_name(self):
        name = self.info("gpu_name")
        if name:
            return name
        if self.name.startswith("gpu-"):
            return self.name[len("gpu-"):]  # the slug scripts/bench_gpu.sh made from nvidia-smi
        return None


def load_results(results_dir):
    """{machine name: Machine} for every bench/results/<machine>/*.json except *_quick.json."""
    machines = {}
    if not os.path.isdir(results_dir):
        return machines
    for machine in sorted(os.listdir(results_dir)):
        folder = os.path.join(results_dir, machine)
        if not os.path.isdir(folder):
            continue
        files = [ResultFile(os.path.join(folder, f), machine)
                 for f in sorted(os.listdir(folder))
                 if f.endswith(".json") and not f[:-len(".json")].endswith("_quick")]
        if files:
            machines[machine] = Machine(machine, files)
    return machines


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt(v):
    """A rate or time: thousands separators from 100, SI suffixes from a million."""
    if v is None:
        return "-"
    a = abs(v)
    for scale, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M")):
        if a >= scale:
            return f"{v / scale:.3g}{suffix}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}×"


def fmt_frac(v):
    return "-" if v is None else f"{v:.3f}"


def fmt_case_value(v):
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(header, rows, text_cols=0):
    """A Markdown table: the first `text_cols` columns left-aligned (names), the rest
    right-aligned (numbers)."""
    align = [":---"] * text_cols + ["---:"] * (len(header) - text_cols)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


class Links:
    """Relative links from the output file's folder, so the page has no absolute paths."""

    def __init__(self, out_path):
        self.base = os.path.dirname(os.path.abspath(out_path))

    def __call__(self, path):
        return os.path.relpath(os.path.abspath(path), self.base).replace(os.sep, "/")


def threads_text(get):
    omp, hw = get("omp_max_threads"), get("hardware_threads")
    if omp and hw and omp != hw:
        return f"{omp} threads (of {hw})"
    t = omp or hw
    return f"{t} threads" if t else "threads unknown"


def caption(machine, rf, link, peer_files=()):
    """The line above every table: machine, date, xmr commit and source file(s)."""
    def get(key):
        v = rf.ctx.get(key)
        return str(v) if v not in (None, "") else machine.info(key)
    parts = [f"Machine: {get('cpu_model') or 'unknown CPU'}, {threads_text(get)}"]
    gpu = rf.ctx.get("gpu_name") or (machine.gpu_name() if rf.machine.startswith("gpu-") else None)
    if gpu:
        parts[0] += f", GPU {gpu}"
    parts.append(f"date {rf.date()}")
    parts.append(f"xmr {rf.ctx.get('xmr_git', 'unknown')}")
    src = f"[`{rf.machine}/{rf.name}`]({link(rf.path)})"
    for p in peer_files:
        if p is not rf:
            extra = f"torch {p.ctx['torch_version']}, " if p.ctx.get("torch_version") else ""
            src += f" + [`{p.name}`]({link(p.path)}) ({extra}date {p.date()})"
    parts.append("source " + src)
    out = ["*" + " · ".join(parts) + "*"]
    others = machine.others.get(rf.group, [])
    if others:
        names = ", ".join(f"[`{o.name}`]({link(o.path)}) ({o.date()})" for o in others)
        out.append(f"*Headline run `{rf.name}`; other runs of the same suite, not tabulated: {names}.*")
    return out


# ---------------------------------------------------------------------------------------------
# Issue-7 targets


class Target:
    """One issue-7 target: a ratio against a peer (measure "ratio") or a fraction counter of
    xmr's (measure "frac_..."), over the cases `where` selects."""

    def __init__(self, tid, text, section, cand, peer, measure, threshold, where, ctx=None,
                 grid=None, gpu=False, command=""):
        self.tid, self.text, self.section = tid, text, section
        self.cand, self.peer, self.measure, self.threshold = cand, peer, measure, threshold
        self.where, self.ctx, self.grid, self.gpu, self.command = where, ctx or {}, grid, gpu, command

    def applies(self, section, cand, case, rf):
        if section != self.section or cand != self.cand:
            return False
        if any(str(rf.ctx.get(k, v)) != v for k, v in self.ctx.items()):
            return False
        return all(cond(case[key]) for key, cond in self.where.items())

    def value(self, row, peer_rows):
        if self.measure == "ratio":
            peer = peer_rows.get(self.peer)
            return ratio(row, peer, "queries_per_s") if peer else None
        return row.get(self.measure)

    def label(self):
        if self.measure == "ratio":
            return f"≥ {self.threshold:g}× {self.peer}"
        return f"≥ {self.threshold:g} {dict(FRACS).get(self.measure, self.measure)}"

    def verdict(self, value):
        if value is None:
            return f"{self.label()}: not measured"
        return f"{self.label()}: " + ("met" if value >= self.threshold else "MISSED")

    def show(self, value):
        return fmt_ratio(value) if self.measure == "ratio" else fmt_frac(value)


def in_range(lo, hi):
    return lambda v: lo <= v <= hi


def one_of(*values):
    return lambda v: v in values


TARGETS = [
    Target("cpu-dense", "CPU dense: ≥ 1.2× FAISS IndexFlatIP throughput at 1e6 × 512, Q = 1000, "
           "k = 10/100 (same machine, same threads)", "dense", "xmr_cpu", "faiss_cpu", "ratio", 1.2,
           {"N": one_of(1_000_000), "Q": one_of(1000), "k": one_of(10, 100)}, ctx={"dim": "512"},
           grid=[{"k": 10}, {"k": 100}], command="XMR_BENCH_WHAT=dense scripts/bench_cpu.sh"),
    Target("cpu-hamming", "CPU Hamming: ≥ 2× FAISS IndexBinaryFlat at 1e6 × 64/256 bits "
           "(every measured Q and k)", "binary", "xmr_cpu", "faiss_cpu", "ratio", 2.0,
           {"N": one_of(1_000_000), "bits": one_of(64, 256)}, grid=[{"bits": 64}, {"bits": 256}],
           command="XMR_BENCH_WHAT=binary scripts/bench_cpu.sh"),
    Target("gpu-dense", "GPU dense: ≥ 2× PyTorch mm+topk at 1e6-1e7 × 512 fp16, Q ∈ {1, 100, 1000}, "
           "k ∈ {10, 100, 1000}", "dense", "xmr_gpu_fp16", "torch_fp16", "ratio", 2.0,
           {"N": in_range(1_000_000, 10_000_000), "Q": one_of(1, 100, 1000), "k": one_of(10, 100, 1000)},
           grid=[{"Q": q, "k": k} for q in (1, 100, 1000) for k in (10, 100, 1000)], gpu=True,
           command="XMR_BENCH_WHAT=dense scripts/bench_gpu.sh BUILD_DIR"),
    Target("gpu-hamming-popcount", "GPU Hamming: ≥ 50% of the popcount-throughput limit at Q = 1000",
           "binary", "xmr_gpu", None, "frac_popcount_peak", 0.5, {"Q": one_of(1000)}, gpu=True,
           command="XMR_BENCH_WHAT=binary scripts/bench_gpu.sh BUILD_DIR"),
    Target("gpu-hamming-bandwidth", "GPU Hamming: ≥ 50% of memory bandwidth at Q = 1", "binary",
           "xmr_gpu", None, "frac_mem_bw", 0.5, {"Q": one_of(1)}, gpu=True,
           command="XMR_BENCH_WHAT=binary scripts/bench_gpu.sh BUILD_DIR"),
]


# ---------------------------------------------------------------------------------------------
# Capabilities: which files, how a case name parses, which engines compare with which


def ratio(row, peer, counter):
    a, b = row.get(counter), peer.get(counter) if peer else None
    return a / b if a and b else None


def natural_key(case):
    """Sort key for a case tuple: numbers inside text compare as numbers ("bits 64" < "bits 128")."""
    return tuple(tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", v))
                 if isinstance(v, str) else ((v,),) for v in case)


def int_or_text(v):
    return int(v) if v.isdigit() else v


def regex_parser(pattern, keys):
    """A parser for names like dense/<engine>/N:<n>/...: (engine, case tuple in `keys` order)."""
    rx = re.compile(pattern)

    def parse(name):
        m = rx.match(name)
        return (m["engine"], tuple(int_or_text(m[k]) for k in keys)) if m else None
    return parse


def parse_eval(name):
    """eval/<metric>/<engine>/<parameters...>/Q:<q>/N:<n> -> (engine, (metric, parameters, Q, N))."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "eval":
        return None
    q = n = None
    params = []
    for seg in parts[3:]:
        if seg.startswith("Q:"):
            q = int(seg[2:])
        elif seg.startswith("N:"):
            n = int(seg[2:])
        else:
            params.append(seg.replace(":", " "))
    if q is None or n is None:
        return None
    return parts[2], (parts[1], ", ".join(params) or "-", q, n)


class Capability:
    """A benchmark family: its result files, its case names, its throughput counter and the
    engine pairs it compares (candidate, [peers], note)."""

    def __init__(self, key, title, prefixes, parse, case_keys, counter, unit, pairs=None,
                 xmr_devices=None, extras=(), intro="", checks=r"^check/"):
        self.key, self.title, self.prefixes, self.parse = key, title, prefixes, parse
        self.checks = re.compile(checks)
        self.case_keys, self.counter, self.unit = case_keys, counter, unit
        self.pairs, self.xmr_devices, self.extras, self.intro = pairs, xmr_devices, extras, intro

    def collect(self, files):
        """{engine: {case: (row, file)}} over `files` (first file wins for a duplicate case)."""
        data = {}
        for rf in files:
            for name, row in sorted(rf.runs.items()):
                parsed = self.parse(name)
                if parsed:
                    engine, case = parsed
                    data.setdefault(engine, {}).setdefault(case, (row, rf))
        return data

    def engine_pairs(self, engines):
        """(candidate, [peers], note) for the engines present; every engine appears somewhere."""
        if self.pairs is not None:
            pairs = [(c, [p for p in ps if p in engines], note) for c, ps, note in self.pairs
                     if c in engines]
        else:  # xmr engines are the devices; any other engine is a peer of the device it names
            peers = {d: [] for d in self.xmr_devices}
            for e in sorted(engines):
                if e not in self.xmr_devices:
                    dev = next((d for d in self.xmr_devices if e.startswith(d)), self.xmr_devices[0])
                    peers[dev].append(e)
            pairs = [(d, peers[d], "") for d in self.xmr_devices if d in engines]
        covered = {c for c, _, _ in pairs} | {p for _, ps, _ in pairs for p in ps}
        pairs += [(e, [], "") for e in sorted(engines) if e not in covered]
        return pairs


DENSE_RE = r"^dense/(?P<engine>[^/]+)/N:(?P<N>\d+)/Q:(?P<Q>\d+)/k:(?P<k>\d+)$"
BINARY_RE = r"^binary/(?P<engine>[^/]+)/N:(?P<N>\d+)/bits:(?P<bits>\d+)/Q:(?P<Q>\d+)/k:(?P<k>\d+)$"
DENSE_CHECKS = r"^check/[^/]+/N:\d+/k:\d+$"
BINARY_CHECKS = r"^check/[^/]+/N:\d+/bits:\d+/k:\d+$"
FP16_NOTE = ("xmr stores the database as fp16 and FAISS IndexFlatIP as fp32 (FAISS's flat index "
             "has no fp16 storage): the same queries and data, half the bytes for xmr.")
COSINE_NOTE = ("xmr under Metric::Cosine against FAISS inner product on the same unit-length rows "
               "(the same scores); one Q/k case per N.")
DENSE_PAIRS = [("xmr_cpu", ["faiss_cpu"], ""), ("xmr_cpu_fp16", ["faiss_cpu"], FP16_NOTE),
               ("xmr_cpu_cosine", ["faiss_cpu"], COSINE_NOTE), ("xmr_gpu", ["torch_fp32"], ""),
               ("xmr_gpu_fp16", ["torch_fp16"], "")]

DENSE = Capability(
    "dense", "Dense exact search", ("dense_", "torch_dense"), regex_parser(DENSE_RE, "N Q k".split()),
    ("N", "Q", "k"), "queries_per_s", "q/s", pairs=DENSE_PAIRS, checks=DENSE_CHECKS,
    intro="Exact top-k by inner product over N unit-length random vectors, D = 512 (bench/bench_dense.cpp; "
          "GPU peer: bench/torch_dense.py, torch.mm + torch.topk). frac GEMM peak: flop/s over a "
          "sgemm (GPU: also fp16 GEMM) peak measured in the same process; frac mem BW: database + "
          "queries + results bytes per second over the measured memory bandwidth.")
BINARY = Capability(
    "binary", "Hamming search", ("binary_", "torch_binary"),
    regex_parser(BINARY_RE, "N bits Q k".split()), ("N", "bits", "Q", "k"), "queries_per_s", "q/s",
    pairs=[("xmr_cpu", ["faiss_cpu"], ""), ("xmr_gpu", ["torch", "cupy"], "")], checks=BINARY_CHECKS,
    extras=[("gpairs_per_s", "Gpairs/s", fmt)],
    intro="Exact Hamming k-NN over N packed random codes (bench/bench_binary.cpp; GPU peer: "
          "bench/torch_binary.py, xor + popcount + torch.topk). Gpairs/s: query-code distances per "
          "second (1e9). frac popcount peak: 64-bit xor-popcounts per second over the peak measured "
          "in the same process (GPU: by a popcount kernel); frac mem BW above 1 means the database was served from a cache. "
          "The FAISS here is Debian's libfaiss-dev, built without hardware popcount "
          "(docs/benchmarks_binary.md).")
TOPK = Capability(
    "topk", "Top-k selection alone", ("topk_", "torch_topk"),
    regex_parser(r"^topk/(?P<engine>[^/]+)/N:(?P<N>\d+)/Q:(?P<Q>\d+)/k:(?P<k>\d+)$", "N Q k".split()),
    ("N", "Q", "k"), "queries_per_s", "q/s",
    pairs=[("xmr_cpu", ["faiss_cpu", "std_cpu"], ""), ("xmr_gpu", ["torch"], "")],
    extras=[("scores_per_s", "scores/s", fmt)],
    intro="Selecting the k best of N precomputed scores per query: xmr against FAISS's HeapArray "
          "(faiss_cpu), std::nth_element + sort (std_cpu) and torch.topk (torch). frac mem BW: "
          "score bytes read per second over the measured memory bandwidth.")
MULTI_VECTOR = Capability(
    "multi_vector", "Multi-vector max-sim", ("multi_vector_",),
    regex_parser(r"^multi_vector/(?P<engine>[^/]+)/(?P<reduce>[^/]+)/qvec:(?P<qvec>\d+)/N:(?P<N>\d+)"
                 r"/Q:(?P<Q>\d+)$", "reduce qvec N Q".split()),
    ("case: reduce", "qvec", "N", "Q"), "items_per_s", "items/s", xmr_devices=("cpu", "gpu"),
    extras=[("gflops", "GFLOP/s", fmt)],
    intro="MultiVectorIndex search (bench/bench_multi_vector.cpp): items of 32 vectors, D = 256, "
          "cosine, k = 10; queries of qvec vectors. items/s: query x item pairs per second. Peer "
          "cpu_blas: what a NumPy user writes (one OpenBLAS sgemm of the query against every item "
          "vector, max per item, partial sort). frac GEMM peak: 2 x 32 x qvec x D flop per pair "
          "per second over the measured sgemm peak.")
EVAL = Capability(
    "eval", "Metric evaluation", ("eval_",), parse_eval, ("case: metric", "case: parameters", "Q", "N"),
    "pairs_per_s", "pairs/s", xmr_devices=("cpu", "gpu"), extras=[("ms", "ms/call", fmt)],
    intro="xmr::eval calls on random data (bench/bench_eval.cpp), timed whole (uploads included on "
          "a GPU). pairs/s: query x item pairs per second; docs/benchmarks_eval.md reads them.")
FASHION_DENSE = Capability(
    "fashion_dense", "Fashion-MNIST: dense exact search", ("fashion_",),
    regex_parser(DENSE_RE, "N Q k".split()), ("N", "Q", "k"), "queries_per_s", "q/s",
    pairs=[("xmr_cpu", ["faiss_cpu"], "")], checks=DENSE_CHECKS)
FASHION_BINARY = Capability(
    "fashion_binary", "Fashion-MNIST: Hamming search", ("fashion_",),
    regex_parser(BINARY_RE, "N bits Q k".split()), ("N", "bits", "Q", "k"), "queries_per_s", "q/s",
    pairs=[("xmr_cpu", ["faiss_cpu"], "")], extras=[("gpairs_per_s", "Gpairs/s", fmt)],
    checks=BINARY_CHECKS)


# ---------------------------------------------------------------------------------------------
# Sections


def comparison_table(cap, data, cand, peers):
    """Header and rows comparing `cand` with each peer present, case by case, and the targets
    that apply; also returns {target id: [(case, value)]} for the summary."""
    cases = sorted(data[cand], key=natural_key)
    cand_rows = [data[cand][c][0] for c in cases]
    fracs = [(k, h) for k, h in FRACS if any(r.get(k) is not None for r in cand_rows)]
    extras = [(k, h, f) for k, h, f in cap.extras if any(r.get(k) is not None for r in cand_rows)]
    header = [text_key(h) for h in cap.case_keys] + [f"{cand} {cap.unit}"]
    for p in peers:
        header += [f"{p} {cap.unit}", f"{cand} / {p}"]
    header += [f"{cand} {h}" for _, h, _ in extras] + [f"{cand} frac {h}" for _, h in fracs]
    rows, found, any_target = [], {}, False
    for case, row in zip(cases, cand_rows):
        rf = data[cand][case][1]
        peer_rows = {p: data[p][case][0] for p in peers if case in data[p]}
        cells = [fmt_case_value(v) for v in case] + [fmt(row.get(cap.counter))]
        for p in peers:
            pr = peer_rows.get(p)
            cells += [fmt(pr.get(cap.counter)) if pr else "-", fmt_ratio(ratio(row, pr, cap.counter))]
        cells += [f(row.get(k)) for k, _, f in extras] + [fmt_frac(row.get(k)) for k, _ in fracs]
        named = dict(zip([text_key(k) for k in cap.case_keys], case))
        verdicts = []
        for t in TARGETS:
            if t.applies(cap.key, cand, named, rf):
                value = t.value(row, peer_rows)
                verdicts.append(t.verdict(value))
                # The GEMM fractions of both engines: why a ratio target can be out of reach.
                peer_row = peer_rows.get(t.peer) if t.peer else None
                roof = (row.get("frac_gemm_peak"), peer_row.get("frac_gemm_peak") if peer_row else None)
                found.setdefault(t.tid, []).append((named, value, roof))
        any_target = any_target or bool(verdicts)
        rows.append(cells + ["; ".join(verdicts) or "-"])
    if any_target:
        header.append("target")
    else:
        rows = [r[:-1] for r in rows]
    return header, rows, found


def text_key(key):
    """A case key without its "case: " mark (the mark: a text column, left-aligned)."""
    return key[len("case: "):] if key.startswith("case: ") else key


def checks_line(cap, files):
    """One line on the capability's correctness checks (check/... cases) in `files`."""
    total, failed = 0, []
    for rf in files:
        for name, row in sorted(rf.runs.items()):
            if cap.checks.match(name):
                total += 1
                if row.get("problems"):
                    failed.append(name)
        errored = [name for name, _ in rf.errors if cap.checks.match(name)]
        total += len(errored)
        failed += errored
    if not total:
        return []
    verdict = "all passed." if not failed else "FAILED: " + ", ".join(f"`{n}`" for n in failed) + "."
    return [f"Correctness checks in the same run: {total}, {verdict}", ""]


def capability_section(cap, machines, link, level="##", found=None):
    """Markdown for one capability over every machine that has its results."""
    out = [f"{level} {cap.title}", ""]
    if cap.intro:
        out += [cap.intro, ""]
    any_data = False
    for mname, machine in sorted(machines.items()):
        files = machine.files(cap.prefixes)
        data = cap.collect(files)
        if not data:
            continue
        any_data = True
        for cand, peers, note in cap.engine_pairs(set(data)):
            title = f"{cand} vs {', '.join(peers)}" if peers else f"{cand}"
            out += [f"{level}# {title} on `{mname}`", ""]
            cand_file = next(iter(data[cand].values()))[1]
            peer_files = sorted({data[p][c][1].name: data[p][c][1] for p in peers for c in data[p]}.values(),
                                key=lambda rf: rf.name)
            out += caption(machine, cand_file, link, peer_files) + [""]
            header, rows, hits = comparison_table(cap, data, cand, peers)
            text_cols = sum(1 for k in cap.case_keys if k.startswith("case: "))
            out += table(header, rows, text_cols) + [""]
            if note:
                out += [note, ""]
            missing = [p for c, ps, _ in (cap.pairs or []) if c == cand for p in ps if p not in data]
            if missing and cap.pairs is not None:
                out += [f"No {' / '.join(missing)} results on this machine.", ""]
            if found is not None:
                for tid, values in hits.items():
                    found.setdefault(tid, []).extend((mname, case, v, roof) for case, v, roof in values)
        out += checks_line(cap, files)
        pngs = [(f, what) for f, what in PLOTS if f.startswith(cap.key + "_")]
        pngs = [(f, what) for f, what in pngs if os.path.exists(os.path.join(os.path.dirname(files[0].path), f))]
        if pngs:
            folder = os.path.dirname(files[0].path)
            out += ["Plots: " + ", ".join(f"[{what}]({link(os.path.join(folder, f))})" for f, what in pngs), ""]
    if not any_data:
        out += ["No results yet.", ""]
    return out


def pipeline_section(machines, link):
    """Recall@10 against queries/s per shortlist size C, with exact dense search as the peer."""
    out = ["## Two-stage pipeline", "",
           "Hamming shortlist of C candidates (128-bit codes) + exact re-score, against exact dense "
           "search on the same data through the same call (bench/bench_pipeline.cpp, "
           "docs/benchmarks_pipeline.md). recall@10: overlap with the exact top-10; the ratio is "
           "the case's queries/s over exact dense search's on the same data set and device.", ""]
    any_data = False
    for mname, machine in sorted(machines.items()):
        for rf in machine.files(("pipeline_",)):
            _, rows, errors = load_pipeline(rf.path)
            if not rows:
                continue
            any_data = True
            for data, device in sorted({(r["data"], r["device"]) for r in rows}):
                sel = [r for r in rows if (r["data"], r["device"]) == (data, device)]
                out += [f"### {data}, stage 1 on {device}, on `{mname}`", ""]
                out += caption(machine, rf, link) + [""]
                n = sel[0]["n"]
                exact = next((r for r in sel if r["method"] == "exact"), None)
                body = [[r["method"], r["C"], f"{r['recall_at_10']:.4f}", fmt(r["queries_per_s"]),
                         fmt(exact["queries_per_s"]) if exact else "-",
                         fmt_ratio(r["speedup_vs_exact"])] for r in sel]
                out += table(["method", "C", "recall@10", "q/s", "exact dense q/s",
                              "speedup vs exact"], body, 1)
                out += ["", f"N = {n:,}, Q = {rf.ctx.get('num_queries', '?')}, D = {rf.ctx.get('dim', '?')}, "
                        f"{rf.ctx.get('code_bits', '?')}-bit codes, binariser "
                        f"{rf.ctx.get('binarizer_' + data, rf.ctx.get('binarizer', '?'))}.", ""]
            if errors:
                out += ["Failed or skipped: " + ", ".join(f"`{name}`" for name, _ in errors), ""]
            png = os.path.join(os.path.dirname(rf.path), "pipeline_recall.png")
            if os.path.exists(png):
                out += [f"![recall@10 and speedup against C on {mname}]({link(png)})", ""]
    if not any_data:
        out += ["No results yet.", ""]
    return out


IO_RE = re.compile(r"^io/(?P<op>save|load)/(?P<engine>[^/]+)/N:(?P<n>\d+)/D:(?P<d>\d+)$")


def io_rank(engine):
    """The limit first, then xmr's variants, then the peers."""
    return 0 if engine == "raw" else 1 if engine.startswith("xmr") else 2


def io_section(machines, link):
    """Save and load times per engine, as a fraction of the raw limit and against FAISS."""
    out = ["## Index I/O", "",
           "Saving and loading an N x D fp32 index (bench/bench_io.cpp). The limit (raw) moves the "
           "same bytes with write()+fsync() or pread(); loads read from the page cache. vs FAISS: "
           "FAISS's time over xmr's (> 1: xmr is faster; FAISS write_index does not fsync). "
           "xmr_read / xmr_map verify every checksum and value, *_trust only the header and ids.", ""]
    any_data = False
    for mname, machine in sorted(machines.items()):
        for rf in machine.files(("io_",)):
            rows = {}
            for name, row in rf.runs.items():
                m = IO_RE.match(name)
                if m:
                    rows[(m["op"], m["engine"], int(m["n"]), int(m["d"]))] = row
            if not rows:
                continue
            any_data = True
            out += [f"### Index files on `{mname}`", ""] + caption(machine, rf, link) + [""]
            body = []
            for key in sorted(rows, key=lambda k: (k[2], k[3], k[0] != "save", io_rank(k[1]), k[1])):
                op, engine, n, d = key
                r = rows[key]
                raw, faiss = rows.get((op, "raw", n, d)), rows.get((op, "faiss", n, d))
                gbs = (r.get("bytes_per_second") or 0) / 1e9
                frac = (r.get("bytes_per_second") / raw["bytes_per_second"]
                        if raw and engine != "raw" and raw.get("bytes_per_second") else None)
                vs = faiss["ms"] / r["ms"] if faiss and r["ms"] and engine not in ("raw", "faiss") else None
                body.append([f"{op} {engine}", f"{n:,} x {d}", fmt(r.get("file_mb")), fmt(r["ms"]),
                             fmt(gbs), fmt_frac(frac), fmt_ratio(vs)])
            out += table(["operation", "N x D", "file MB", "ms", "GB/s", "frac of raw",
                          "vs FAISS"], body, 1) + [""]
    if not any_data:
        out += ["No results yet.", ""]
    return out


QUALITY_RE = re.compile(r"^quality/map_all/(?P<method>[^/]+)(?:/bits:(?P<bits>\d+))?$")


def quality_table(machine, rf, link):
    """mAP@ALL per binariser and code length next to the float ranking's (bench_fashion)."""
    rows = {}
    for name, row in rf.runs.items():
        m = QUALITY_RE.match(name)
        if m:
            rows[(m["method"], int(m["bits"]) if m["bits"] else 0)] = row
    if not rows:
        return []
    ceiling = next((r.get("map_all") for (_, bits), r in sorted(rows.items()) if bits == 0), None)
    body = []
    for (method, bits), r in sorted(rows.items(), key=lambda kv: (kv[0][1] != 0, kv[0][0], kv[0][1])):
        value = r.get("map_all")
        body.append([method, "float" if bits == 0 else bits, fmt_frac(value),
                     fmt_frac(value / ceiling if value is not None and ceiling else None)])
    out = [f"### Fashion-MNIST retrieval quality: mAP@ALL on `{machine.name}`", ""]
    out += caption(machine, rf, link) + [""]
    out += table(["ranking", "bits", "mAP@ALL", "of float mAP"], body, 1) + [""]
    out += ["Relevance: same class. \"of float mAP\" is the ratio to the float cosine ranking's "
            "mAP@ALL, which is not an upper bound. A quality number, not a timing.", ""]
    return out


def fashion_section(machines, link, found):
    out = ["## Fashion-MNIST (real data)", "",
           "60,000 training images as the database, the 10,000 test images as queries, 784-d, "
           "cosine (bench/bench_fashion.cpp, docs/benchmarks_fashion.md). Hamming search runs on "
           "ITQ codes (32-256 bits) and sign-median codes (784 bits).", ""]
    body = []
    for cap in (FASHION_DENSE, FASHION_BINARY):
        body += capability_section(cap, machines, link, level="###", found=found)
    for _, machine in sorted(machines.items()):
        for rf in machine.files(("fashion_",)):
            body += quality_table(machine, rf, link)
    if not any(line.startswith("|") for line in body):
        return out + ["No results yet.", ""]
    # Sub-sections carry their own "No results yet." when one part is missing.
    return out + body


# ---------------------------------------------------------------------------------------------
# Header and targets


def machine_line(machine):
    parts = [f"`{machine.name}`: {machine.info('cpu_model') or 'unknown CPU'}",
             threads_text(machine.info)]
    gpu = machine.gpu_name()
    parts.append(f"GPU {gpu}" if gpu else "no GPU")
    blas = machine.info("openblas_config")
    if blas:
        parts.append(" ".join(blas.split()[:2]))
    for key, label in (("faiss_version", "FAISS"), ("torch_version", "torch")):
        v = machine.info(key)
        if v:
            parts.append(f"{label} {v}")
    return "- " + ", ".join(parts)


def header_section(machines, link, results_dir):
    out = ["# xmr benchmarks", "",
           "<!-- GENERATED by `python3 bench/report.py` from bench/results/*/*.json: do not edit by "
           "hand; rerun the script (and `--check` in CI compares). -->", "",
           "Measured throughput of xmr against its peers (FAISS on the CPU, PyTorch on the GPU), per "
           "capability, with the fraction of the machine's measured limit it reaches and the "
           "issue-7 targets. Generated by `python3 bench/report.py` from the Google Benchmark JSON "
           f"in [`bench/results/`]({link(results_dir)}) (smoke tests, `*_quick.json`, are left "
           "out): do not edit this file by hand.", "",
           "Reproduce on a CPU machine with `scripts/bench_cpu.sh` and on a GPU machine with "
           "`scripts/bench_gpu.sh BUILD_DIR`; `XMR_BENCH_WHAT` picks the suites (e.g. "
           "`XMR_BENCH_WHAT=dense`, `binary`, `topk`, `io`, `pipeline`, `fashion`, `eval`, "
           "`multivector`; each script's header lists its own; the method: "
           "[docs/benchmarks.md](docs/benchmarks.md)). Then `/usr/bin/python3 bench/plot_throughput.py` "
           "redraws the plots and `python3 bench/report.py` this page.", "",
           "Ratios are xmr's throughput over the peer's, from one run of one binary on one machine "
           "with the same thread count (> 1: xmr is faster). Every case reports its fastest "
           "repetition; GPU rates are over the median of the searches' device times (CUDA events), "
           "PyTorch's over the median of its repeats. The context key `library_build_type: debug` describes Debian's Google "
           "Benchmark library, not xmr: `scripts/bench_cpu.sh` builds xmr and its benchmarks with "
           "`-DCMAKE_BUILD_TYPE=Release`.", "", "Machines:", ""]
    out += [machine_line(m) for _, m in sorted(machines.items())] or ["- none yet"]
    out.append("")
    return out


def targets_section(found, machines):
    """Each issue-7 target with its measured values and verdict."""
    out = ["## Targets (issue 7)", "",
           "Targets to report against, not tests. A target is met when every measured case "
           "meets it.", ""]
    have_gpu = any(name.startswith("gpu-") for name in machines)
    rows = []
    for t in TARGETS:
        hits = [(m, case, v) for m, case, v, _ in found.get(t.tid, []) if v is not None]
        roofs = [(case, roof) for _, case, v, roof in found.get(t.tid, [])
                 if v is not None and v < t.threshold and None not in roof]
        if not hits:
            why = ("no gpu-* results in bench/results" if t.gpu and not have_gpu
                   else "no matching results")
            rows.append([t.text, f"not measured ({why}; run `{t.command}`)", "not measured"])
            continue
        missed = [(m, case, v) for m, case, v in hits if v < t.threshold]
        # Name the cases by what distinguishes them: the grid's keys, else every case key.
        keys = list(t.grid[0]) if t.grid else list(hits[0][1])

        def case_text(m, case, v):
            where = ", ".join(f"{k} = {fmt_case_value(case[k])}" for k in keys)
            return f"{where}: {t.show(v)}" + (f" (`{m}`)" if len(machines) > 1 else "")
        if len(hits) <= 4:
            measured = "; ".join(case_text(*h) for h in hits)
        else:
            values = [v for _, _, v in hits]
            measured = f"{len(hits)} cases, {t.show(min(values))} to {t.show(max(values))}"
            if missed:
                measured += "; below target: " + "; ".join(case_text(*h) for h in missed)
        if t.grid:
            absent = [cell for cell in t.grid
                      if not any(all(case.get(k) == v for k, v in cell.items()) for _, case, _ in hits)]
            if absent:
                measured += "; not measured: " + ", ".join(
                    "(" + ", ".join(f"{k} = {v}" for k, v in cell.items()) + ")" for cell in absent)
        if roofs:
            # Both engines near the same GEMM peak: the ratio cannot reach the target by much.
            measured += "; at the missed cases xmr ran at " + ", ".join(
                f"{fmt_frac(x)} and {t.peer} at {fmt_frac(p)}" for _, (x, p) in roofs) + \
                " of the measured sgemm peak"
            if all(min(x, p) >= 0.7 for _, (x, p) in roofs):
                measured += " (both GEMM-bound: no exact search can be much faster than its GEMM)"
        verdict = "**MISSED**" if missed else "met"
        if not missed and t.grid and absent:
            verdict = "met where measured"
        rows.append([t.text, measured, verdict])
    out += ["| target | measured | verdict |", "|:---|:---|:---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out.append("")
    return out


def links_section(machines, link):
    out = ["## Plots and notes", ""]
    for mname, machine in sorted(machines.items()):
        folder = os.path.dirname(next(iter(machine.headline.values())).path)
        pngs = [(f, what) for f, what in PLOTS if os.path.exists(os.path.join(folder, f))]
        if pngs:
            out.append(f"- `{mname}`: " + ", ".join(f"[{what}]({link(os.path.join(folder, f))})"
                                                      for f, what in pngs))
    docs = os.path.join(ROOT, "docs")
    notes = sorted(f for f in os.listdir(docs) if f.startswith("benchmarks_") and f.endswith(".md")) \
        if os.path.isdir(docs) else []
    if notes:
        out.append("- Method, peers and reading of the numbers: " + ", ".join(
            f"[{f}]({link(os.path.join(docs, f))})" for f in notes))
    if len(out) == 2:
        out.append("- none yet")
    out.append("")
    return out


def errors_section(machines, link):
    """Every case a headline file reports as failed or skipped (error_occurred)."""
    out = []
    for mname, machine in sorted(machines.items()):
        for _, rf in sorted(machine.headline.items()):
            out += [f"- [`{mname}/{rf.name}`]({link(rf.path)}) `{name}`: {msg}" for name, msg in rf.errors]
    return ["## Failed or skipped cases", ""] + out + [""] if out else []


def render(results_dir, out_path):
    """The whole page as one string."""
    machines = load_results(results_dir)
    link = Links(out_path)
    found = {}
    body = []
    for cap in (DENSE, BINARY, TOPK):
        body += capability_section(cap, machines, link, found=found)
    body += pipeline_section(machines, link)
    for cap in (MULTI_VECTOR, EVAL):
        body += capability_section(cap, machines, link, found=found)
    body += io_section(machines, link)
    body += fashion_section(machines, link, {})  # issue-7 targets are about synthetic 1e6 x 512
    body += errors_section(machines, link)
    page = header_section(machines, link, results_dir) + targets_section(found, machines)
    page += links_section(machines, link) + body
    while page and page[-1] == "":
        page.pop()
    return "\n".join(page) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"),
                    help="results folder (default: bench/results)")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"),
                    help="output file (default: BENCHMARKS.md at the repository root)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if --out differs from what would be generated")
    args = ap.parse_args(argv)
    text = render(args.results, args.out)
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current == text:
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                         os.path.basename(args.out) + " (committed)",
                                         os.path.basename(args.out) + " (generated)", lineterm=""))
        sys.stdout.write("\n".join(diff[:200]) + "\n")
        if len(diff) > 200:
            print(f"... {len(diff) - 200} more diff lines")
        print(f"report: {os.path.basename(args.out)} is out of date; run python3 bench/report.py",
              file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
