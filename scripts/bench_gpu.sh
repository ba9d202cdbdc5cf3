#!/usr/bin/env bash
# GPU benchmarks on a machine with an NVIDIA GPU (e.g. an H100), given a built CUDA tree:
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=ON -DXMR_BUILD_TESTS=OFF
#   cmake --build build-cuda --target bench_dense bench_binary
#   scripts/bench_gpu.sh build-cuda            # or: scripts/bench_gpu.sh build-cuda/bench/bench_dense
#
# dense:  bench_dense's GPU engines (xmr_gpu, xmr_gpu_fp16) and their CPU cross-checks, then the
#         PyTorch baseline (bench/torch_dense.py: torch.mm + torch.topk, fp32 and fp16, same
#         shapes) -> dense_gpu.json, torch_dense.json, dense_gpu.md (xmr_gpu vs torch_fp32,
#         xmr_gpu_fp16 vs torch_fp16)
# binary: bench_binary's GPU engine (xmr_gpu) on the full grid (N in {1e6, 1e7}, bits in
#         {64, 128, 256}, Q in {1, 100, 1000}, k in {10, 100, 1000}) and its bit-identity checks
#         against xmr_cpu, then the PyTorch baseline (bench/torch_binary.py: xor, popcount, topk)
#         -> binary_gpu.json, torch_binary.json, binary_gpu.md (xmr_gpu vs torch)
# pipeline (only when asked for: XMR_BENCH_WHAT=pipeline): bench_pipeline, two-stage retrieval
#         (128-bit Hamming shortlist of C candidates on the GPU + exact re-score on the CPU)
#         against exact dense search on the GPU, and the same cases on the host CPU for
#         comparison; N = 1e6 x 512, 1000 queries, data sets cross_modal (text queries) and
#         spectrum (one modality, decaying spectrum); recall@10 and queries/s per C
#         -> pipeline_gpu.{json,md}, pipeline_recall.csv, pipeline_recall.png
#         (bench/plot_pipeline.py; docs/benchmarks_pipeline.md). Build it with
#         `cmake --build build-cuda --target bench_pipeline`.
# all written to bench/results/gpu-<gpu name slug>/. A baseline is skipped, with a note, when
# torch is not importable.
#
# The first argument is the build folder, or the path of bench_dense (bench_binary is taken from
# the same folder). Extra arguments go to every benchmark binary that runs.
# XMR_BENCH_WHAT=dense|binary|pipeline|all selects the suites (default all: dense and binary).
# XMR_BENCH_QUICK=1 runs N = 1e5 only and writes *_quick.{json,md}.
# XMR_BENCH_REPETITIONS=r repeats every case r times (the summary takes the fastest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR|PATH/TO/bench_dense [benchmark args...]" >&2
  exit 2
fi
if [ -d "$1" ]; then
  bindir="$1/bench"
else
  bindir="$(dirname "$1")"
fi
shift
what="${XMR_BENCH_WHAT:-all}"
case "$what" in
  dense | binary | pipeline | all) ;;
  *)
    echo "bench_gpu: XMR_BENCH_WHAT must be dense, binary, pipeline or all (got '$what')" >&2
    exit 2
    ;;
esac
# Under "all", a suite whose binary was not built is skipped with a note; a suite asked for by
# name must exist.
run_dense=0
run_binary=0
run_pipeline=0
[ "$what" = dense ] || [ "$what" = all ] && [ -x "$bindir/bench_dense" ] && run_dense=1
[ "$what" = binary ] || [ "$what" = all ] && [ -x "$bindir/bench_binary" ] && run_binary=1
[ "$what" = pipeline ] && [ -x "$bindir/bench_pipeline" ] && run_pipeline=1
for b in dense binary pipeline; do
  if [ "$what" = all ] && [ "$b" = pipeline ]; then continue; fi
  if [ "$what" != all ] && [ "$what" != "$b" ]; then continue; fi
  if [ ! -x "$bindir/bench_$b" ]; then
    if [ "$what" = all ]; then
      echo "bench_gpu: $bindir/bench_$b not built; its suite is skipped" >&2
    else
      echo "bench_gpu: $bindir/bench_$b not found or not executable" >&2
      exit 2
    fi
  fi
done
if [ "$run_dense" = 0 ] && [ "$run_binary" = 0 ] && [ "$run_pipeline" = 0 ]; then
  echo "bench_gpu: nothing to run in $bindir" >&2
  exit 2
fi

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
have_torch=0
if python3 -c 'import torch' 2>/dev/null; then
  have_torch=1
else
  echo "bench_gpu: python3 cannot import torch; the PyTorch baselines are skipped" >&2
fi

# run_suite BINARY NAME FILTER BASELINE_SCRIPT TITLE [extra args...]
run_suite() {
  local bin="$1" name="$2" filter="$3" baseline="$4" title="$5"
  shift 5
  "$bindir/$bin" --benchmark_filter="$filter" \
    --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
    --benchmark_context="xmr_git=$git_rev" \
    --benchmark_out="$out/${name}_gpu$suffix.json" --benchmark_out_format=json "$@"
  local inputs=("$out/${name}_gpu$suffix.json")
  if [ "$have_torch" = 1 ]; then
    python3 "$root/bench/$baseline.py" --out "$out/$baseline$suffix.json"
    inputs+=("$out/$baseline$suffix.json")
  fi
  local s=0
  python3 "$root/bench/summarize.py" "${inputs[@]}" --title "$title" >"$out/${name}_gpu$suffix.md" || s=$?
  cat "$out/${name}_gpu$suffix.md"
  echo
  echo "bench_gpu: wrote ${inputs[*]} and $out/${name}_gpu$suffix.md"
  return "$s"
}

status=0
if [ "$run_dense" = 1 ]; then
  run_suite bench_dense dense '^(dense/xmr_gpu|check/xmr_gpu)' torch_dense \
    "Dense exact top-k search on $machine (D = 512, inner product)" "$@" || status=$?
fi
if [ "$run_binary" = 1 ]; then
  run_suite bench_binary binary '^(binary/xmr_gpu|check/xmr_gpu)' torch_binary \
    "Hamming k-NN search on $machine (packed binary codes)" "$@" || status=$?
fi
if [ "$run_pipeline" = 1 ]; then
  name="pipeline_gpu$suffix"
  # Every case: the GPU curve and, for comparison on the same machine, the host CPU's.
  "$bindir/bench_pipeline" --benchmark_filter='^pipeline/' \
    --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
    --benchmark_context="xmr_git=$git_rev" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@"
  py=python3
  if ! python3 -c 'import matplotlib' 2>/dev/null && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    py=/usr/bin/python3
  fi
  "$py" "$root/bench/plot_pipeline.py" "$out/$name.json" --csv "$out/pipeline_recall$suffix.csv" \
    --png "$out/pipeline_recall$suffix.png" \
    --title "Two-stage retrieval on $machine: Hamming shortlist + exact re-score vs exact dense" \
    >"$out/$name.md" || status=$?
  cat "$out/$name.md"
  echo
  echo "bench_gpu: wrote $out/$name.{json,md} and $out/pipeline_recall$suffix.{csv,png}"
fi
exit "$status"
