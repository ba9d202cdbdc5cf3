#!/usr/bin/env python3
"""PyTorch baseline for top-k selection alone on a GPU: torch.topk over a resident score matrix.

The peer of bench_topk's xmr_gpu engine, on the same bytes: bench_topk, run with
XMR_BENCH_DATA_DIR=DIR, writes each N's score matrix to DIR/topk_scores_N<n>.npy ([max Q x N]
float32, random normal rounded to multiples of 2^-12); this script loads those files (numpy),
copies each to the GPU once, and times torch.topk(scores[:Q], k, dim=1, largest=True,
sorted=True) for the same (N, Q, k) grid: Q * N <= 1e9, Q in {1, 100, 1000}, k in {10, 100,
1000, 4096}. Results stay on the device, as bench_topk's do (its keys are copied back outside
the timing). torch.topk orders equal scores as it likes; xmr orders them by ascending column.

Timing: CUDA events around each call, after warm-up calls; the median of the repeats
(bench/torch_common.py). Output is Google Benchmark-shaped JSON, names
`topk/torch/N:<n>/Q:<q>/k:<k>`, counters queries_per_s, scores_per_s.

Usage: torch_topk.py --data DIR --out torch_topk.json [--quick] [--device cuda:0]
XMR_BENCH_QUICK=1 in the environment is the same as --quick (N = 1e5 and Q <= 100 only; the
files of a quick bench_topk run).
"""

import argparse
import sys

import torch_common

NUM_QUERIES = [1, 100, 1000]
NUM_RESULTS = [10, 100, 1000, 4096]
MAX_SCORES = 1_000_000_000  # Q * N per case, as bench_topk's kMaxScores


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    torch_common.add_run_args(ap)
    torch_common.add_timing_args(ap, "scores", warmup=3)
    ap.add_argument("--data", required=True, help="folder of bench_topk's topk_scores_N<n>.npy files")
    args = ap.parse_args(argv)
    quick = torch_common.quick_mode(args)

    files = sorted(torch_common.files_by_size(args.data, r"topk_scores_N(\d+)\.npy").items())
    if not files:
        sys.exit(f"torch_topk: no topk_scores_N<n>.npy in {args.data}: run bench_topk with "
                 f"XMR_BENCH_DATA_DIR={args.data} first")

    import numpy
    import torch  # imported here so --help works without torch

    torch_common.require_cuda(torch, "torch_topk")
    device = torch.device(args.device)
    benchmarks = []
    sizes = []
    for n, path in files:
        host = torch_common.load_matrix(numpy, path, numpy.float32, n)
        sizes.append(n)
        scores = torch.from_numpy(numpy.ascontiguousarray(host)).to(device)
        for q in NUM_QUERIES:
            if q * n > MAX_SCORES or q > scores.shape[0] or (quick and q > 100):
                continue
            rows = scores[:q]
            for k in NUM_RESULTS:
                if k > n:
                    continue
                ms, reps = torch_common.time_search(
                    torch, device, lambda: torch.topk(rows, k, dim=1, largest=True, sorted=True), args)
                sec = ms * 1e-3
                benchmarks.append(torch_common.record(f"topk/torch/N:{n}/Q:{q}/k:{k}", ms, reps, {
                    "queries_per_s": q / sec,
                    "scores_per_s": q * n / sec,
                    "bytes_per_second": q * n * 4 / sec,
                }))
        del scores
        torch.cuda.empty_cache()

    torch_common.write_results("torch_topk", torch, device, args, sizes, {},
                               f"bench_topk's score files in {args.data}", benchmarks,
                               timing="CUDA events around each torch.topk on the device-resident "
                                      "matrix (results stay on the device), median of repeats "
                                      "after warm-up")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
