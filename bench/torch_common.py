"""Shared pieces of the PyTorch GPU baselines (bench/torch_dense.py, torch_binary.py, torch_topk.py):
command-line options, CUDA-event timing of one search, and Google Benchmark-shaped JSON.

Imports no torch itself: each script imports torch after parsing its arguments (so --help works
without torch) and passes the module in.
"""

import datetime
import json
import os
import re
import statistics
import sys

TIMING = ("CUDA events around each search (host queries in, host results out), "
          "median of repeats after warm-up")


def add_run_args(ap):
    """--out, --device, --quick."""
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--quick", action="store_true", help="N = 1e5 only")


def add_timing_args(ap, chunk_what, warmup):
    """--chunk-bytes (at most that many bytes of `chunk_what` per chunk), --warmup (default
    `warmup`), --min-repeats, --max-repeats, --target-seconds."""
    ap.add_argument("--chunk-bytes", type=int, default=512 << 20,
                    help=f"most bytes of {chunk_what} per chunk (default 512 MiB, xmr's default workspace)")
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--min-repeats", type=int, default=5)
    ap.add_argument("--max-repeats", type=int, default=50)
    ap.add_argument("--target-seconds", type=float, default=1.0,
                    help="repeat until this much time was measured (within the repeat bounds)")


def add_data_arg(ap, what):
    """--data DIR: the folder a benchmark binary exported its inputs to (XMR_BENCH_DATA_DIR)."""
    ap.add_argument("--data", help=f"folder of the benchmark's exported {what} (.npy, written by the "
                                   "benchmark binary under XMR_BENCH_DATA_DIR): the same bytes xmr was "
                                   "measured on; without it the data are generated here (same "
                                   "distribution, other bytes)")


def files_by_size(data_dir, pattern):
    """{N: path} of the files in data_dir whose names fully match the regular expression `pattern`
    (its first group is N)."""
    found = {}
    for name in sorted(os.listdir(data_dir)):
        m = re.fullmatch(pattern, name)
        if m:
            found[int(m.group(1))] = os.path.join(data_dir, name)
    return found


def load_matrix(numpy, path, dtype, cols=None):
    """The 2-d array in `path` (memory-mapped), checked for dtype and, when given, column count;
    exits with a message naming the file otherwise."""
    a = numpy.load(path, mmap_mode="r")
    if a.dtype != numpy.dtype(dtype) or a.ndim != 2 or (cols is not None and a.shape[1] != cols):
        want = f"{numpy.dtype(dtype)} [rows, {cols if cols is not None else 'cols'}]"
        sys.exit(f"{path} holds {a.dtype} {list(a.shape)}, expected {want}")
    return a


def quick_mode(args):
    """--quick, or XMR_BENCH_QUICK set to something other than "" or "0"."""
    return args.quick or os.environ.get("XMR_BENCH_QUICK", "0") not in ("", "0")


def require_cuda(torch, prog):
    if not torch.cuda.is_available():
        sys.exit(f"{prog}: torch.cuda.is_available() is False: no GPU baseline")


def time_search(torch, device, search, args):
    """Median milliseconds of `search()` (CUDA events around each call) and the number of calls
    timed: args.warmup untimed calls first, then at least args.min_repeats and at most
    args.max_repeats, stopping once args.target_seconds were measured."""
    for _ in range(args.warmup):
        search()
    torch.cuda.synchronize(device)
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    times_ms = []
    while len(times_ms) < args.max_repeats:
        start.record()
        search()
        stop.record()
        stop.synchronize()
        times_ms.append(start.elapsed_time(stop))
        if len(times_ms) >= args.min_repeats and sum(times_ms) >= args.target_seconds * 1e3:
            break
    return statistics.median(times_ms), len(times_ms)


def record(name, ms, reps, counters, chunk_rows=None):
    """One Google Benchmark-shaped run (`counters` in order, queries_per_s first), printed as a
    progress line. `chunk_rows`: the database rows scored per chunk, when the search chunks."""
    print(f"{name}: {ms:.3f} ms (median of {reps}), {counters['queries_per_s']:,.0f} q/s", flush=True)
    run = {
        "name": name, "run_name": name, "run_type": "iteration",
        "iterations": reps, "real_time": ms, "cpu_time": ms, "time_unit": "ms",
        **counters,
    }
    if chunk_rows is not None:
        run["chunk_rows"] = chunk_rows
    return run


def write_results(prog, torch, device, args, sizes, extra_context, data, benchmarks, timing=TIMING):
    """Writes {"context", "benchmarks"} to args.out; `extra_context` follows gpu_name."""
    context = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "torch_version": torch.__version__,
        "torch_cuda": str(torch.version.cuda),
        "gpu_name": torch.cuda.get_device_name(device),
        **extra_context,
        "sizes_n": ",".join(str(n) for n in sizes),
        "timing": timing,
        "chunk_bytes": str(args.chunk_bytes),
        "data": data,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f, indent=1)
    print(f"{prog}: wrote {args.out}")
