#!/usr/bin/env python3
"""PyTorch baseline for exact dense top-k search on a GPU: torch.mm + torch.topk.

The same shapes as bench_dense: N in {1e5, 1e6} (or the N of the files given with --data), D =
512, Q in {1, 100, 1000}, k in {10, 100, 1000}, fp32 and fp16. With --data DIR the vectors are
bench_dense's own (it writes DIR/dense_db_N<n>.npy and DIR/dense_queries.npy when run with
XMR_BENCH_DATA_DIR=DIR; scripts/bench_gpu.sh does both); without it, random normal vectors
normalised to unit length from torch's generator (the same distribution, other bytes). The
database lives on the GPU, as
xmr's device mirror does after its first search. One search mirrors what xmr's
DenseIndex::search does for its caller: copy the queries from host memory, score the database
in chunks (torch.mm, at most --chunk-bytes of scores at a time), keep a running top-k per query
(torch.topk on each chunk, then on the merged candidates), and copy ids and scores back to host
memory. fp16 scores come out of torch.mm as fp16 (cuBLAS accumulates in fp32 internally).

Timing: CUDA events around each whole search, after warm-up searches; the reported time is the
median of the repeats. Output is Google Benchmark-shaped JSON (names
`dense/torch_fp32/N:<n>/Q:<q>/k:<k>`, real_time in ms, counters queries_per_s and gflops) so
bench/summarize.py reads it beside bench_dense's.

Usage: torch_dense.py --out torch_dense.json [--data DIR] [--quick] [--device cuda:0]
XMR_BENCH_QUICK=1 in the environment is the same as --quick (N = 1e5 only).
"""

import argparse
import sys

import torch_common

DIM = 512
SIZES = [100_000, 1_000_000]
NUM_QUERIES = [1, 100, 1000]
NUM_RESULTS = [10, 100, 1000]


def make_unit_rows(torch, rows, dim, seed, device):
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    x = torch.randn(rows, dim, generator=gen, device=device, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


def search(torch, db, queries_host, k, chunk_rows):
    """Top-k by inner product of host queries against the device database; host results."""
    q = queries_host.to(db.device).to(db.dtype)
    best_s = best_i = None
    for start in range(0, db.shape[0], chunk_rows):
        scores = torch.mm(q, db[start:start + chunk_rows].t())
        s, i = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        i = i + start
        if best_s is None:
            best_s, best_i = s, i
        else:
            cat_s = torch.cat([best_s, s], dim=1)
            cat_i = torch.cat([best_i, i], dim=1)
            best_s, pos = torch.topk(cat_s, k, dim=1)
            best_i = torch.gather(cat_i, 1, pos)
    return best_i.cpu(), best_s.float().cpu()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    torch_common.add_run_args(ap)
    torch_common.add_timing_args(ap, "scores", warmup=3)
    torch_common.add_data_arg(ap, "database and queries")
    args = ap.parse_args(argv)
    quick = torch_common.quick_mode(args)

    import torch  # imported here so --help works without torch

    torch_common.require_cuda(torch, "torch_dense")
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as in cublasSgemm's default

    if args.data:
        import numpy

        files = torch_common.files_by_size(args.data, r"dense_db_N(\d+)\.npy")
        if not files:
            sys.exit(f"torch_dense: no dense_db_N<n>.npy in {args.data}: run bench_dense with "
                     f"XMR_BENCH_DATA_DIR={args.data} first")
        sizes = sorted(files)
        queries_all = torch.from_numpy(numpy.ascontiguousarray(torch_common.load_matrix(
            numpy, f"{args.data}/dense_queries.npy", numpy.float32, DIM)))
        data = f"bench_dense's vectors from {args.data}; metric inner product"
    else:
        sizes = SIZES[:1] if quick else SIZES
        queries_all = make_unit_rows(torch, max(NUM_QUERIES), DIM, 2, device).cpu()
        data = "torch.randn rows normalised to unit length; metric inner product"
    benchmarks = []
    for n in sizes:
        if args.data:
            base = torch.from_numpy(numpy.ascontiguousarray(
                torch_common.load_matrix(numpy, files[n], numpy.float32, DIM))).to(device)
        else:
            base = make_unit_rows(torch, n, DIM, 1, device)
        for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            db = base.to(dtype).contiguous()
            for q in NUM_QUERIES:
                queries = queries_all[:q].contiguous()
                elem = 4 if dtype == torch.float32 else 2
                chunk_rows = max(1, min(n, args.chunk_bytes // (q * elem)))
                for k in NUM_RESULTS:
                    ms, reps = torch_common.time_search(
                        torch, db.device, lambda: search(torch, db, queries, k, chunk_rows), args)
                    sec = ms * 1e-3
                    benchmarks.append(torch_common.record(f"dense/torch_{dtype_name}/N:{n}/Q:{q}/k:{k}", ms, reps, {
                        "queries_per_s": q / sec,
                        "gflops": 2.0 * q * n * DIM / sec * 1e-9,
                        "bytes_per_second": (n * DIM * elem + q * DIM * 4 + q * k * 12) / sec,
                    }, chunk_rows))
            del db
        del base
        torch.cuda.empty_cache()

    torch_common.write_results("torch_dense", torch, device, args, sizes, {"dim": str(DIM)}, data, benchmarks)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
