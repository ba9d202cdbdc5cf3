#!/usr/bin/env bash
# GPU dense-search benchmarks on a machine with an NVIDIA GPU (e.g. an H100), given a built
# CUDA tree:
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=ON -DXMR_BUILD_TESTS=OFF
#   cmake --build build-cuda --target bench_dense
#   scripts/bench_gpu.sh build-cuda/bench/bench_dense
#
# Runs bench_dense's GPU engines (xmr_gpu, xmr_gpu_fp16) and their CPU cross-checks, then the
# PyTorch baseline (bench/torch_dense.py: torch.mm + torch.topk, fp32 and fp16, same shapes), and
# writes to bench/results/gpu-<gpu name slug>/:
#   dense_gpu.json    Google Benchmark JSON from bench_dense
#   torch_dense.json  the PyTorch baseline (skipped, with a note, when torch is not importable)
#   dense_gpu.md      summary: xmr_gpu vs torch_fp32, xmr_gpu_fp16 vs torch_fp16
#
# XMR_BENCH_QUICK=1 runs N = 1e5 only and writes *_quick.{json,md}.
# XMR_BENCH_REPETITIONS=r repeats every bench_dense case r times (the summary takes the fastest).
# Extra arguments after the binary go to bench_dense.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/bench_dense [bench_dense args...]" >&2
  exit 2
fi
bin="$1"
shift

gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)"
slug="$(printf '%s' "${gpu:-unknown}" | tr '[:upper:]' '[:lower:]' |
  sed -E 's/nvidia//g; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')"
machine="gpu-${slug:-unknown}"
out="$root/bench/results/$machine"
mkdir -p "$out"

suffix=""
if [ "${XMR_BENCH_QUICK:-0}" != "0" ]; then
  suffix="_quick"
  export XMR_BENCH_QUICK=1
fi

git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "bench_gpu: machine $machine ($gpu), xmr $git_rev"
"$bin" --benchmark_filter='^(dense/xmr_gpu|check/xmr_gpu)' \
  --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
  --benchmark_context="xmr_git=$git_rev" \
  --benchmark_out="$out/dense_gpu$suffix.json" --benchmark_out_format=json "$@"

inputs=("$out/dense_gpu$suffix.json")
if python3 -c 'import torch' 2>/dev/null; then
  python3 "$root/bench/torch_dense.py" --out "$out/torch_dense$suffix.json"
  inputs+=("$out/torch_dense$suffix.json")
else
  echo "bench_gpu: python3 cannot import torch; the PyTorch baseline is skipped" >&2
fi

status=0
python3 "$root/bench/summarize.py" "${inputs[@]}" \
  --title "Dense exact top-k search on $machine (D = 512, inner product)" \
  >"$out/dense_gpu$suffix.md" || status=$?
cat "$out/dense_gpu$suffix.md"
echo
echo "bench_gpu: wrote ${inputs[*]} and $out/dense_gpu$suffix.md"
exit "$status"
