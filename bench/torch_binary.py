#!/usr/bin/env python3
"""PyTorch baseline for exact Hamming k-NN search on a GPU: xor, popcount, torch.topk.

The same grid as bench_binary: N in {1e6, 1e7} (or the N of the files given with --data), B in
{64, 128, 256} bits, Q in {1, 100, 1000}, k in {10, 100, 1000}. With --data DIR the codes are
bench_binary's own (it writes DIR/binary_codes_N<n>_bits<b>.npy and
DIR/binary_queries_bits<b>.npy when run with XMR_BENCH_DATA_DIR=DIR; scripts/bench_gpu.sh does
both); without it, uniform random bits from torch's generator (the same distribution, other
bytes). Codes are packed bytes, as xmr stores them; the database
lives on the GPU as int64 words [N x B/64] (xmr's device mirror after its first search). One
search mirrors what xmr's BinaryIndex::search does for its caller: copy the packed queries from
host memory, compute distances to the database in chunks (bitwise_xor of the int64 words,
popcount, sum over the words; at most --chunk-bytes of xor-ed words at a time), keep a running
top-k per query (torch.topk with largest=False on each chunk, then on the merged candidates),
and copy ids and distances back to host memory.

Popcount: torch.bitwise_count when this torch has it, else SWAR bit arithmetic on the int64
words (x - (x >> 1 & 0x55..), nibble sums, multiply by 0x0101.. and shift; arithmetic shifts are
harmless because every mask clears the bits they fill), or a 256-entry byte lookup table
(--popcount lut). torch.topk does not order ties by id, so ids at equal distance may differ from
xmr's; distances do not.

Timing: CUDA events around each whole search, after warm-up searches; the reported time is the
median of the repeats. Output is Google Benchmark-shaped JSON (names
`binary/torch/N:<n>/bits:<b>/Q:<q>/k:<k>`, real_time in ms, counters queries_per_s and
gpairs_per_s) so bench/summarize.py reads it beside bench_binary's.

Usage: torch_binary.py --out torch_binary.json [--data DIR] [--quick] [--device cuda:0]
                       [--popcount auto]
XMR_BENCH_QUICK=1 in the environment is the same as --quick (N = 1e5 only).
"""

import argparse
import sys

import torch_common

SIZES = [1_000_000, 10_000_000]
QUICK_SIZES = [100_000]
BITS = [64, 128, 256]
NUM_QUERIES = [1, 100, 1000]
NUM_RESULTS = [10, 100, 1000]

# SWAR popcount constants; all below 2**63, so they are valid int64 scalars.
M1 = 0x5555555555555555
M2 = 0x3333333333333333
M4 = 0x0F0F0F0F0F0F0F0F
H01 = 0x0101010101010101


def popcount_swar(x):
    """Per-element popcount of an int64 tensor (two's complement bit pattern)."""
    x = x - ((x >> 1) & M1)
    x = (x & M2) + ((x >> 2) & M2)
    x = (x + (x >> 4)) & M4
    return (x * H01) >> 56  # the product wraps; the top byte holds the count (<= 64)


def make_popcount(torch, kind, device):
    """Returns (name, fn): fn maps an int64 tensor [..., W] to int32 distances [...]."""
    if kind == "auto":
        kind = "bitwise_count" if hasattr(torch, "bitwise_count") else "swar"
    if kind == "bitwise_count":
        if not hasattr(torch, "bitwise_count"):
            sys.exit("torch_binary: this torch has no torch.bitwise_count")
        return kind, lambda x: torch.bitwise_count(x).sum(dim=-1, dtype=torch.int32)
    if kind == "swar":
        return kind, lambda x: popcount_swar(x).sum(dim=-1, dtype=torch.int32)
    if kind == "lut":
        lut = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.uint8, device=device)

        def lut_fn(x):
            b = x.contiguous().view(torch.uint8).view(*x.shape[:-1], x.shape[-1] * 8)
            return lut[b.long()].sum(dim=-1, dtype=torch.int32)

        return kind, lut_fn
    sys.exit(f"torch_binary: unknown popcount {kind}")


def search(torch, db, queries_host, k, chunk_rows, popcount):
    """Top-k by Hamming distance of host queries ([Q x B/8] uint8) against the device database
    ([N x B/64] int64); host results (ids int64, distances int32)."""
    q = queries_host.to(db.device).view(torch.int64)  # [Q x W]
    best_d = best_i = None
    for start in range(0, db.shape[0], chunk_rows):
        chunk = db[start:start + chunk_rows]
        dist = popcount(torch.bitwise_xor(q[:, None, :], chunk[None, :, :]))  # [Q x C]
        d, i = torch.topk(dist, min(k, dist.shape[1]), dim=1, largest=False)
        i = i + start
        if best_d is None:
            best_d, best_i = d, i
        else:
            cat_d = torch.cat([best_d, d], dim=1)
            cat_i = torch.cat([best_i, i], dim=1)
            best_d, pos = torch.topk(cat_d, k, dim=1, largest=False)
            best_i = torch.gather(cat_i, 1, pos)
    return best_i.cpu(), best_d.cpu()


def self_check(torch, device, popcount):
    """The popcount against Python's on awkward words (sign bit, all ones, single bits)."""
    words = [0, 1, -1, -(2**63), 2**63 - 1, M1, M2, M4, H01, 0x00FF00FF00FF00FF, -0x123456789ABCDEF]
    x = torch.tensor(words, dtype=torch.int64, device=device)[:, None]
    got = popcount(x).cpu().tolist()
    want = [bin(w & (2**64 - 1)).count("1") for w in words]
    if got != want:
        sys.exit(f"torch_binary: popcount self-check failed: {got} != {want}")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    torch_common.add_run_args(ap)
    ap.add_argument("--popcount", default="auto", choices=["auto", "bitwise_count", "swar", "lut"])
    torch_common.add_timing_args(ap, "xor-ed words", warmup=2)
    torch_common.add_data_arg(ap, "codes")
    args = ap.parse_args(argv)
    quick = torch_common.quick_mode(args)

    import torch  # imported here so --help works without torch

    torch_common.require_cuda(torch, "torch_binary")
    device = torch.device(args.device)
    popcount_name, popcount = make_popcount(torch, args.popcount, device)
    self_check(torch, device, popcount)

    if args.data:
        import numpy
    all_sizes = set()
    benchmarks = []
    for bits in BITS:
        nbytes = bits // 8
        words = (bits + 63) // 64
        if args.data:
            files = torch_common.files_by_size(args.data, rf"binary_codes_N(\d+)_bits{bits}\.npy")
            if not files:
                continue
            sizes = sorted(files)
            queries_all = torch.from_numpy(numpy.ascontiguousarray(torch_common.load_matrix(
                numpy, f"{args.data}/binary_queries_bits{bits}.npy", numpy.uint8, nbytes)))
        else:
            sizes = QUICK_SIZES if quick else SIZES
            gen = torch.Generator(device=device)
            gen.manual_seed(2)
            queries_all = torch.randint(0, 256, (max(NUM_QUERIES), words * 8), generator=gen, device=device,
                                        dtype=torch.uint8).cpu()
        all_sizes.update(sizes)
        for n in sizes:
            if args.data:
                # BITS are multiples of 64, so the packed bytes are whole int64 words.
                db = torch.from_numpy(numpy.ascontiguousarray(
                    torch_common.load_matrix(numpy, files[n], numpy.uint8, nbytes))).to(device).view(torch.int64)
            else:
                gen.manual_seed(1)
                db = torch.randint(0, 256, (n, words * 8), generator=gen, device=device,
                                   dtype=torch.uint8).view(torch.int64)
            for q in NUM_QUERIES:
                queries = queries_all[:q].contiguous()
                # The lookup table expands every byte to an int64 index: 64x the xor-ed words.
                budget = args.chunk_bytes // (64 if popcount_name == "lut" else 1)
                chunk_rows = max(1, min(n, budget // (q * words * 8)))
                for k in NUM_RESULTS:
                    ms, reps = torch_common.time_search(
                        torch, db.device, lambda: search(torch, db, queries, k, chunk_rows, popcount), args)
                    sec = ms * 1e-3
                    benchmarks.append(torch_common.record(f"binary/torch/N:{n}/bits:{bits}/Q:{q}/k:{k}", ms, reps, {
                        "queries_per_s": q / sec,
                        "gpairs_per_s": q * n / sec * 1e-9,
                        "bytes_per_second": (n * nbytes + q * nbytes + q * k * 12) / sec,
                    }, chunk_rows))
            del db
            torch.cuda.empty_cache()

    if not benchmarks:
        sys.exit(f"torch_binary: no binary_codes_N<n>_bits<b>.npy for bits in {BITS} in {args.data}: run "
                 f"bench_binary with XMR_BENCH_DATA_DIR={args.data} first")
    data = (f"bench_binary's codes from {args.data}" if args.data else "torch.randint uniform random bytes") + \
        "; packed codes, Hamming distance"
    torch_common.write_results("torch_binary", torch, device, args, sorted(all_sizes),
                               {"torch_popcount": popcount_name}, data, benchmarks)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
