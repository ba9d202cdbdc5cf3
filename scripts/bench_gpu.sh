#!/usr/bin/env bash
# GPU benchmarks on a machine with an NVIDIA GPU (e.g. an H100), given a built CUDA tree:
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=ON -DXMR_BUILD_TESTS=OFF
#   cmake --build build-cuda --target bench_dense bench_binary bench_topk bench_eval bench_multi_vector
#   scripts/bench_gpu.sh build-cuda            # or: scripts/bench_gpu.sh build-cuda/bench/bench_dense
#   scripts/bench_gpu.sh --dry-run build-cuda  # checks the plan on any machine (no GPU needed)
#
# Suites (each writes to bench/results/gpu-<gpu name slug>/; a PyTorch baseline is skipped, with a
# note, when torch is not importable):
# The baselines run on the same bytes as xmr: each benchmark binary writes the inputs it generates
# to a data folder as .npy (XMR_BENCH_DATA_DIR; default a new folder under $TMPDIR, removed at
# the end) and the baseline script reads them (--data); a suite's files are deleted after its
# baseline ran (XMR_BENCH_KEEP_DATA=1 keeps them). The largest suite writes about 22 GB (dense,
# N = 1e7 x 512 fp32).
# dense:  bench_dense's GPU engines (xmr_gpu, xmr_gpu_fp16) and their CPU cross-checks, then the
#         PyTorch baseline (bench/torch_dense.py: torch.mm + torch.topk, fp32 and fp16, same
#         vectors) -> dense_gpu.json, torch_dense.json, dense_gpu.md (xmr_gpu vs torch_fp32,
#         xmr_gpu_fp16 vs torch_fp16). N from XMR_BENCH_DENSE_SIZES (default 1e5, 1e6, 1e7).
# binary: bench_binary's GPU engine (xmr_gpu) on the grid bits in {64, 128, 256}, Q in {1, 100,
#         1000}, k in {10, 100, 1000} and its bit-identity checks against xmr_cpu, then the
#         PyTorch baseline (bench/torch_binary.py: xor, popcount, topk, same codes)
#         -> binary_gpu.json, torch_binary.json, binary_gpu.md (xmr_gpu vs torch). N from
#         XMR_BENCH_BINARY_SIZES (default 1e6, 1e7, 1e8).
# topk:   bench_topk's xmr_gpu engine (top-k selection alone over a device-resident [Q x N] score
#         matrix; k up to 4096, past the fast path's 2048) and its bit-identity checks against
#         xmr_cpu, then bench/torch_topk.py (torch.topk, same scores) -> topk_gpu.json,
#         torch_topk.json, topk_gpu.md. N from XMR_BENCH_TOPK_SIZES (default 1e5, 1e6, 1e7).
# eval:   bench_eval's GPU cases (map_hamming, map_dense) -> eval_gpu.json
# multivector: bench_multi_vector's GPU cases -> multi_vector_gpu.json
# pipeline (only when asked for: XMR_BENCH_WHAT=pipeline): bench_pipeline, two-stage retrieval
#         (128-bit Hamming shortlist of C candidates on the GPU + exact re-score on the CPU)
#         against exact dense search on the GPU, and the same cases on the host CPU for
#         comparison; N = 1e6 x 512, 1000 queries, data sets cross_modal (text queries) and
#         spectrum (one modality, decaying spectrum); recall@10 and queries/s per C
#         -> pipeline_gpu.{json,md}, pipeline_recall.csv, pipeline_recall.png
#         (bench/plot_pipeline.py; docs/benchmarks_pipeline.md).
# Afterwards BENCHMARKS.md and the plots are regenerated (bench/report.py, bench/plot_throughput.py).
#
# The first argument (after --dry-run) is the build folder, or the path of bench_dense (the other
# benchmarks are taken from the same folder). Extra arguments go to every benchmark binary.
# XMR_BENCH_WHAT=dense|binary|topk|eval|multivector|pipeline|all selects the suites (default all:
#   everything but pipeline). Under "all" a suite whose binary was not built is skipped with a note;
#   a suite asked for by name must exist.
# XMR_BENCH_QUICK=1 runs the smallest sizes only and writes *_quick.{json,md}.
# XMR_BENCH_REPETITIONS=r repeats every case r times (the summary takes the fastest).
# --dry-run: prints every command instead of running it, lists each benchmark binary's cases
#   (--benchmark_list_tests: no measurement, no GPU needed) and checks that every baseline script
#   parses its options (--help: no torch needed). Exits non-zero when something is missing.
#
# Sized for an H100 (80 GB): the largest cases hold 20 GB of fp32 vectors (dense, N = 1e7),
# 3.2 GB of codes (binary, N = 1e8) or 16 GB of sort keys (topk, k = 4096). On a smaller GPU set
# the *_SIZES variables lower.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
if [ $# -lt 1 ]; then
  echo "usage: $0 [--dry-run] BUILD_DIR|PATH/TO/bench_dense [benchmark args...]" >&2
  exit 2
fi
if [ -d "$1" ]; then
  bindir="$1/bench"
else
  bindir="$(dirname "$1")"
fi
shift
what="${XMR_BENCH_WHAT:-all}"
all_suites=(dense binary topk eval multivector)
case "$what" in
  all) suites=("${all_suites[@]}") ;;
  dense | binary | topk | eval | multivector | pipeline) suites=("$what") ;;
  *)
    echo "bench_gpu: XMR_BENCH_WHAT must be dense, binary, topk, eval, multivector, pipeline or all (got '$what')" >&2
    exit 2
    ;;
esac

binary_of() {
  case "$1" in
    multivector) echo bench_multi_vector ;;
    *) echo "bench_$1" ;;
  esac
}

# Keep the suites whose binary exists (all) or stop (a suite asked for by name).
runnable=()
for s in "${suites[@]}"; do
  if [ -x "$bindir/$(binary_of "$s")" ]; then
    runnable+=("$s")
  elif [ "$what" = all ]; then
    echo "bench_gpu: $bindir/$(binary_of "$s") not built; its suite is skipped" >&2
  else
    echo "bench_gpu: $bindir/$(binary_of "$s") not found or not executable" >&2
    exit 2
  fi
done
if [ "${#runnable[@]}" = 0 ]; then
  echo "bench_gpu: nothing to run in $bindir" >&2
  exit 2
fi

gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)"
slug="$(printf '%s' "${gpu:-unknown}" | tr '[:upper:]' '[:lower:]' |
  sed -E 's/nvidia//g; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')"
machine="gpu-${slug:-unknown}"
out="$root/bench/results/$machine"
quick=0
suffix=""
if [ "${XMR_BENCH_QUICK:-0}" != "0" ]; then
  quick=1
  suffix="_quick"
  export XMR_BENCH_QUICK=1
fi
if [ -n "${XMR_BENCH_DATA_DIR:-}" ]; then
  data_dir="$XMR_BENCH_DATA_DIR"
elif [ "$dry_run" = 1 ]; then
  data_dir="${TMPDIR:-/tmp}/xmr-bench-data.XXXXXX"
else
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/xmr-bench-data.XXXXXX")"
  [ "${XMR_BENCH_KEEP_DATA:-0}" != "0" ] || trap 'rm -rf "$data_dir"' EXIT
fi
if [ "$quick" = 1 ]; then
  dense_sizes="${XMR_BENCH_DENSE_SIZES:-100000}"
  binary_sizes="${XMR_BENCH_BINARY_SIZES:-100000}"
  topk_sizes="${XMR_BENCH_TOPK_SIZES:-100000}"
else
  dense_sizes="${XMR_BENCH_DENSE_SIZES:-100000,1000000,10000000}"
  binary_sizes="${XMR_BENCH_BINARY_SIZES:-1000000,10000000,100000000}"
  topk_sizes="${XMR_BENCH_TOPK_SIZES:-100000,1000000,10000000}"
fi

git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "bench_gpu: machine $machine (${gpu:-no nvidia-smi}), xmr $git_rev, suites: ${runnable[*]}"

# Debian's matplotlib and numpy belong to /usr/bin/python3; a pyenv or venv python3 first on PATH
# may have torch instead. Each script runs with the interpreter that has what it needs.
py_with() {
  if python3 -c "import $1" 2>/dev/null; then
    echo python3
  elif /usr/bin/python3 -c "import $1" 2>/dev/null; then
    echo /usr/bin/python3
  fi
}
torch_py="$(py_with torch)"
if [ -z "$torch_py" ]; then
  echo "bench_gpu: no python3 can import torch; the PyTorch baselines are skipped" >&2
fi

status=0
# run CMD...: runs it, or prints it under --dry-run.
run() {
  if [ "$dry_run" = 1 ]; then
    printf 'bench_gpu: would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# bench BINARY NAME FILTER SIZES [extra args...]: one benchmark binary into $out/NAME.json, with
# XMR_BENCH_SIZES=SIZES when SIZES is not empty and the assignments in bench_env (e.g. the data
# folder).
bench_env=()
bench() {
  local bin="$1" name="$2" filter="$3" sizes="$4"
  shift 4
  local envs=("${bench_env[@]}")
  [ -z "$sizes" ] || envs+=("XMR_BENCH_SIZES=$sizes")
  if [ "$dry_run" = 1 ]; then
    # The plan: the cases this filter selects (listing measures nothing and needs no GPU).
    local cases
    cases="$(env "${envs[@]}" "$bindir/$bin" --benchmark_filter="$filter" --benchmark_list_tests | wc -l)"
    echo "bench_gpu: $bin lists $cases cases for $name${sizes:+ (N = $sizes)}"
    if [ "$cases" -eq 0 ]; then
      echo "bench_gpu: $bin: the filter '$filter' selects no case" >&2
      return 1
    fi
  fi
  run env "${envs[@]}" "$bindir/$bin" --benchmark_filter="$filter" \
    --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
    --benchmark_context="xmr_git=$git_rev" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@"
}

# baseline SCRIPT NAME [args...]: a PyTorch baseline into $out/NAME.json (skipped without torch;
# under --dry-run only its option parsing is checked).
baseline() {
  local script="$1" name="$2"
  shift 2
  if [ "$dry_run" = 1 ]; then
    python3 "$root/bench/$script" --help >/dev/null
    echo "bench_gpu: $script parses its options"
  fi
  if [ -n "$torch_py" ] || [ "$dry_run" = 1 ]; then
    run "${torch_py:-python3}" "$root/bench/$script" --out "$out/$name.json" "$@"
    baselines+=("$out/$name.json")
  fi
}

# clean_data GLOB: removes a suite's exported inputs from the data folder (unless
# XMR_BENCH_KEEP_DATA=1).
clean_data() {
  if [ "${XMR_BENCH_KEEP_DATA:-0}" = "0" ]; then
    # shellcheck disable=SC2086 # the glob is meant to expand
    run rm -f "$data_dir"/$1
  fi
}

# summary NAME TITLE JSON...: the Markdown summary of the suite (1 when a check failed).
summary() {
  local name="$1" title="$2"
  shift 2
  if [ "$dry_run" = 1 ]; then
    run python3 "$root/bench/summarize.py" "$@" --title "$title"
    return 0
  fi
  local s=0
  python3 "$root/bench/summarize.py" "$@" --title "$title" >"$out/$name.md" || s=$?
  cat "$out/$name.md"
  echo
  echo "bench_gpu: wrote $* and $out/$name.md"
  return "$s"
}

# paired_suite BINARY SUITE FILTER SIZES BASELINE TITLE [extra args...]: xmr's GPU cases of
# BINARY, writing their inputs to the data folder, then the PyTorch BASELINE (bench/BASELINE.py) on
# those files, which are then deleted, then the summary of both -> SUITE_gpu.{json,md} and
# BASELINE.json. Returns 1 when a step failed (the later steps still run).
paired_suite() {
  local bin="$1" suite="$2" filter="$3" sizes="$4" base="$5" title="$6" s=0
  shift 6
  baselines=()
  bench_env=("XMR_BENCH_DATA_DIR=$data_dir")
  bench "$bin" "${suite}_gpu$suffix" "$filter" "$sizes" "$@" || s=1
  bench_env=()
  baseline "$base.py" "$base$suffix" --data "$data_dir" || s=1
  clean_data "${suite}_*.npy"
  summary "${suite}_gpu$suffix" "$title" "$out/${suite}_gpu$suffix.json" "${baselines[@]}" || s=1
  return "$s"
}

if [ "$dry_run" = 0 ]; then
  mkdir -p "$out" "$data_dir"
fi
for s in "${runnable[@]}"; do
  case "$s" in
    dense)
      paired_suite bench_dense dense '^(dense/xmr_gpu|check/xmr_gpu)' "$dense_sizes" torch_dense \
        "Dense exact top-k search on $machine (D = 512, inner product)" "$@" || status=1
      ;;
    binary)
      paired_suite bench_binary binary '^(binary/xmr_gpu|check/xmr_gpu)' "$binary_sizes" torch_binary \
        "Hamming k-NN search on $machine (packed binary codes)" "$@" || status=1
      ;;
    topk)
      paired_suite bench_topk topk '^(topk/xmr_gpu|check/xmr_gpu)' "$topk_sizes" torch_topk \
        "Top-k selection alone on $machine (resident fp32 scores)" "$@" || status=1
      ;;
    eval)
      bench bench_eval "eval_gpu$suffix" '^eval/[a-z_]+/gpu/' "" "$@" || status=1
      ;;
    multivector)
      bench bench_multi_vector "multi_vector_gpu$suffix" '^multi_vector/gpu/' "" "$@" || status=1
      ;;
    pipeline)
      name="pipeline_gpu$suffix"
      # Every case: the GPU curve and, for comparison on the same machine, the host CPU's.
      bench bench_pipeline "$name" '^pipeline/' "" "$@" || status=1
      plot_py="$(py_with matplotlib)"
      run "${plot_py:-python3}" "$root/bench/plot_pipeline.py" "$out/$name.json" \
        --csv "$out/pipeline_recall$suffix.csv" --png "$out/pipeline_recall$suffix.png" \
        --title "Two-stage retrieval on $machine: Hamming shortlist + exact re-score vs exact dense" || status=1
      ;;
  esac
done

# BENCHMARKS.md and the throughput plots from every machine's results (quick runs are not
# reported).
# The plots first: the report links the PNGs that exist.
if [ "$quick" = 0 ]; then
  plot_py="$(py_with matplotlib)"
  if [ -n "$plot_py" ] || [ "$dry_run" = 1 ]; then
    run "${plot_py:-python3}" "$root/bench/plot_throughput.py" || status=1
  else
    echo "bench_gpu: no python3 has matplotlib; plots not redrawn" >&2
  fi
  run python3 "$root/bench/report.py" || status=1
fi
[ "$dry_run" = 0 ] || echo "bench_gpu: dry run complete (status $status)"
exit "$status"
