#!/usr/bin/env bash
# Runs the CPU benchmarks and writes Google Benchmark JSON plus a Markdown summary
# (bench/summarize.py) to bench/results/<machine>/, where <machine> is
# cpu-<cores>c-<cpu model slug>. Builds the benchmark binaries (Release, CPU-only) in
# build-bench first when needed.
#   dense   bench_dense: xmr_cpu, xmr_cpu_fp16, xmr_cpu_cosine, faiss_cpu (IndexFlatIP) and the
#           xmr-vs-FAISS correctness check -> dense_cpu.{json,md}
#   binary  bench_binary: xmr_cpu, faiss_cpu (IndexBinaryFlat) and the xmr-vs-FAISS check
#           -> binary_cpu.{json,md}. N = 1e6: every bits/Q/k; N = 1e7: Q in {1, 100} and
#           k in {10, 100} only (the rest takes too long on a 2-core CPU; scripts/bench_gpu.sh
#           runs the full grid for the GPU engine); checks at every N, bits and k.
#   io      bench_io: saving and loading a 1e6 x 256 fp32 index (1 GiB): xmr (Read / Map,
#           verified / trusted) vs raw write+fsync / pread of the same bytes and FAISS
#           write_index / read_index -> io_cpu.{json,md}. Files go to XMR_BENCH_DIR (default
#           /tmp); needs 3 GB free there.
#   pipeline  bench_pipeline: two-stage retrieval (128-bit Hamming shortlist of C candidates +
#           exact re-score) against exact dense search, N = 1e6 x 512-d, 1000 queries, on two data
#           sets (cross_modal: text queries, image database; spectrum: one modality with a
#           decaying eigenvalue spectrum), recall@10 and queries/s per C -> pipeline_cpu.{json,md},
#           pipeline_recall.csv (with a data column) and pipeline_recall.png
#           (bench/plot_pipeline.py; the plot needs python3-matplotlib: scripts/setup.sh --bench).
#           Estimated at about 9 minutes with 1 repetition and 13 with 2 on the
#           2-core EPYC (cross_modal alone, 2 repetitions, took 7 minutes under load, 3 of them
#           making the data, training the binariser and encoding); docs/benchmarks_pipeline.md.
#   fashion bench_fashion: real data, Fashion-MNIST (Debian dataset-fashion-mnist; another
#           directory through XMR_FASHION_MNIST_DIR): 60,000 train images as the database, the
#           10,000 test images as queries, 784-d cosine. Dense exact search xmr_cpu vs faiss_cpu
#           (IndexFlatIP) with the check, mAP@ALL (same class relevant) of LSH / ITQ codes at
#           32-256 bits and sign-median codes at 784 bits next to the float cosine mAP, and Hamming
#           search xmr_cpu vs faiss_cpu on those codes -> fashion_cpu.{json,md}. Skipped (with a
#           message, status 0; under "all" the other suites still run) when the data set is missing;
#           docs/benchmarks_fashion.md.
#   eval    bench_eval: metric evaluation throughput (map_hamming 64/128 bits with both tie
#           policies, map_dense cosine D = 128/512, pr_curve_hamming, precision_at_k / ndcg_at_k)
#           over Q x N = 100 x 1e4, 500 x 5e4 and NUS-WIDE's 2,100 x 190,000 (21 labels)
#           -> eval_cpu.json; docs/benchmarks_eval.md.
#   multivector  bench_multi_vector: MultiVectorIndex MaxSim / SumMaxSim search, items of 32
#           vectors, D = 256, N = 1e3 ... 1e5, queries of 1 or 32 vectors, Q in {1, 100}, k = 10,
#           against the cpu_blas peer (one sgemm per query, max per item, partial sort) with the
#           xmr-vs-peer checks -> multi_vector_cpu.json.
#   topk    bench_topk: top-k selection alone over a resident [Q x N] fp32 score matrix, xmr's CPU
#           selection vs FAISS's HeapArray and std::nth_element, N = 1e5 ... 1e7, Q * N <= 1e9,
#           k in {10, 100, 1000}, with the equality checks -> topk_cpu.json.
#           eval, multivector and topk write the JSON only: bench/summarize.py has no table for
#           them (BENCHMARKS.md has), so no .md.
#   report  no benchmark: regenerates BENCHMARKS.md (bench/report.py) and the throughput plots
#           (bench/plot_throughput.py) from every bench/results/*/*.json.
#
# XMR_BENCH_WHAT=dense|binary|io|pipeline|fashion|eval|multivector|topk|report|all  which suites
#                     to run (default all: every suite, then the report; about 60 minutes on the
#                     idle 2-core EPYC). Every run but a quick one ends by regenerating the report.
# XMR_BENCH_QUICK=1   N = 1e5 only (smoke test); writes *_cpu_quick.{json,md} instead, so a
#                     quick run never replaces a full result (pipeline: also
#                     pipeline_recall_quick.{csv,png}).
# XMR_BENCH_REPETITIONS  run every case this many times (default 1); the summary reports the
#                     fastest repetition (on a busy machine other processes only add time)
# XMR_BENCH_BUILD_DIR build folder (default: build-bench)
# XMR_BENCH_IDLE_WAIT_S  wait up to this many seconds (default 300; 0 = don't wait) for the CPUs
#                     to be idle (< 10% busy over 3 s) before starting, then start regardless
# Extra arguments go to every benchmark binary that runs (e.g. --benchmark_filter=...; combine a
# filter with XMR_BENCH_WHAT, since the two binaries name their cases differently).
#
# On an idle 2-core AMD EPYC (Zen 4) the dense suite takes about 3 minutes, the binary suite
# about 6; both take longer when other processes compete for the cores. Timings suffer from
# anything else running: the script waits for idle CPUs, prints the load average before and
# after each suite, and every benchmark reports its preemptions per search (invol_csw;
# "preempt/search" in the summary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${XMR_BENCH_BUILD_DIR:-$root/build-bench}"
what="${XMR_BENCH_WHAT:-all}"
case "$what" in
  dense) targets=(bench_dense) ;;
  binary) targets=(bench_binary) ;;
  io) targets=(bench_io) ;;
  pipeline) targets=(bench_pipeline) ;;
  fashion) targets=(bench_fashion) ;;
  eval) targets=(bench_eval) ;;
  multivector) targets=(bench_multi_vector) ;;
  topk) targets=(bench_topk) ;;
  report) targets=() ;;
  all) targets=(bench_dense bench_binary bench_io bench_pipeline bench_fashion bench_eval bench_multi_vector bench_topk) ;;
  *)
    echo "bench_cpu: XMR_BENCH_WHAT must be dense, binary, io, pipeline, fashion, eval, multivector, topk, report or all (got '$what')" >&2
    exit 2
    ;;
esac

# want SUITE: true when the run includes SUITE.
want() { [ "$what" = "$1" ] || [ "$what" = all ]; }

run_fashion=0
if want fashion; then
  run_fashion=1
  fashion_dir="${XMR_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -f "$fashion_dir/$f.gz" ]; then
      echo "bench_cpu: fashion: skipped: Fashion-MNIST not found ($fashion_dir/$f.gz is missing; install" \
        "the Debian package dataset-fashion-mnist: scripts/setup.sh --bench, or set XMR_FASHION_MNIST_DIR)" >&2
      [ "$what" = fashion ] && exit 0
      run_fashion=0
      targets=("${targets[@]/bench_fashion/}")
      break
    fi
  done
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=OFF \
  -DXMR_BUILD_TESTS=OFF -DXMR_BUILD_BENCH=ON >/dev/null
# (empty entries: a suite dropped above)
build_targets=()
for t in "${targets[@]}"; do [ -z "$t" ] || build_targets+=("$t"); done
if [ "${#build_targets[@]}" -gt 0 ]; then
  cmake --build "$build" --target "${build_targets[@]}"
fi

model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- || true)"
slug="$(printf '%s' "${model:-unknown}" | tr '[:upper:]' '[:lower:]' |
  sed -E 's/\((r|tm)\)//g; s/(cpu|processor|[0-9]+-core)//g; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')"
machine="cpu-$(nproc)c-${slug:-unknown}"
out="$root/bench/results/$machine"
mkdir -p "$out"

suffix=""
quick=0
if [ "${XMR_BENCH_QUICK:-0}" != "0" ]; then
  suffix="_quick"
  quick=1
  export XMR_BENCH_QUICK=1
fi

# Percent of CPU time busy over the next 3 seconds (from /proc/stat).
cpu_busy_percent() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 3
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(((100 * (total - idle)) / (total > 0 ? total : 1)))
}
wait_s="${XMR_BENCH_IDLE_WAIT_S:-300}"
waited=0
while [ "$wait_s" -gt 0 ]; do
  busy="$(cpu_busy_percent)"
  [ "$busy" -lt 10 ] && break
  waited=$((waited + 3))
  if [ "$waited" -ge "$wait_s" ]; then
    echo "bench_cpu: WARNING: CPUs still ${busy}% busy after ${waited}s; timings will be pessimistic" >&2
    break
  fi
done

echo "bench_cpu: machine $machine"
# The commit of the library being measured (others may be changing it).
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain -- engine kernels host_api cmake CMakeLists.txt 2>/dev/null)" ]; then
  git_rev="$git_rev+dirty"
fi

# The python3 that has matplotlib: Debian installs it for /usr/bin/python3, and a pyenv or venv
# python3 first on PATH may not see it.
matplotlib_python() {
  if ! python3 -c 'import matplotlib' 2>/dev/null && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    echo /usr/bin/python3
  else
    echo python3
  fi
}

# run_json BINARY NAME FILTER [extra args...]: runs one benchmark binary into $out/NAME.json.
run_json() {
  local bin="$1" name="$2" filter="$3"
  shift 3
  echo "bench_cpu: $name: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$build/bench/$bin" \
    --benchmark_filter="$filter" \
    --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
    --benchmark_context="xmr_git=$git_rev" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@"
  echo "bench_cpu: $name: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "bench_cpu: wrote $out/$name.json"
}

# run_suite BINARY NAME FILTER TITLE [extra args...]: run_json, then the Markdown summary in
# $out/NAME.md. Returns summarize.py's status (1 when a correctness check failed; the summary is
# written either way).
run_suite() {
  local bin="$1" name="$2" filter="$3" title="$4"
  shift 4
  run_json "$bin" "$name" "$filter" "$@"
  local s=0
  python3 "$root/bench/summarize.py" "$out/$name.json" --title "$title" >"$out/$name.md" || s=$?
  cat "$out/$name.md"
  echo
  echo "bench_cpu: wrote $out/$name.md"
  return "$s"
}

status=0
if want dense; then
  run_suite bench_dense "dense_cpu$suffix" '^(dense/(xmr_cpu|faiss_cpu)|check/xmr_cpu_vs_faiss_cpu)' \
    "Dense exact top-k search on $machine (D = 512, inner product)" "$@" || status=$?
fi
if want binary; then
  if [ "$quick" = 1 ]; then
    filter='^(binary/(xmr_cpu|faiss_cpu)/|check/xmr_cpu_vs_faiss_cpu/)'
  else
    # N = 1e6: everything; N = 1e7: Q in {1, 100}, k in {10, 100}; every check.
    filter='^(binary/(xmr_cpu|faiss_cpu)/(N:1000000/|N:10000000/bits:[0-9]+/Q:(1|100)/k:(10|100)/)|check/xmr_cpu_vs_faiss_cpu/)'
  fi
  run_suite bench_binary "binary_cpu$suffix" "$filter" \
    "Hamming k-NN search on $machine (packed binary codes)" "$@" || status=$?
fi
if want io; then
  run_suite bench_io "io_cpu$suffix" '^io/' "Index files: save and load on $machine" "$@" || status=$?
fi
if want pipeline; then
  name="pipeline_cpu$suffix"
  run_json bench_pipeline "$name" '^pipeline/cpu/' "$@"
  "$(matplotlib_python)" "$root/bench/plot_pipeline.py" "$out/$name.json" --csv "$out/pipeline_recall$suffix.csv" \
    --png "$out/pipeline_recall$suffix.png" \
    --title "Two-stage retrieval on $machine: Hamming shortlist + exact re-score vs exact dense" \
    >"$out/$name.md" || status=$?
  cat "$out/$name.md"
  echo
  echo "bench_cpu: wrote $out/$name.{json,md} and $out/pipeline_recall$suffix.{csv,png}"
fi
if [ "$run_fashion" = 1 ]; then
  run_suite bench_fashion "fashion_cpu$suffix" '^(dense|binary|check|quality)/' \
    "Fashion-MNIST on $machine (60,000 x 784 database, 10,000 test queries, cosine)" "$@" || status=$?
fi
if want eval; then
  run_json bench_eval "eval_cpu$suffix" '^eval/[a-z_]+/cpu/' "$@" || status=$?
fi
if want multivector; then
  run_json bench_multi_vector "multi_vector_cpu$suffix" '^(multi_vector/(cpu|cpu_blas)/|check/multi_vector_)' "$@" || status=$?
fi
if want topk; then
  run_json bench_topk "topk_cpu$suffix" '^(topk/(xmr_cpu|faiss_cpu|std_cpu)/|check/xmr_cpu_vs_)' "$@" || status=$?
fi
# BENCHMARKS.md and the throughput plots from every machine's results (quick runs are not
# reported). Debian's matplotlib belongs to /usr/bin/python3.
# The plots first: the report links the PNGs that exist.
if [ "$quick" = 0 ]; then
  "$(matplotlib_python)" "$root/bench/plot_throughput.py" || status=$?
  python3 "$root/bench/report.py" || status=$?
  echo "bench_cpu: regenerated the plots and $root/BENCHMARKS.md"
fi
exit "$status"
