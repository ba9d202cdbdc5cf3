#!/usr/bin/env bash
# Runs the CPU dense-search benchmarks (xmr_cpu, xmr_cpu_fp16, xmr_cpu_cosine, faiss_cpu and the
# xmr-vs-FAISS correctness check) and writes
#   bench/results/<machine>/dense_cpu.json   Google Benchmark JSON
#   bench/results/<machine>/dense_cpu.md     Markdown summary (bench/summarize.py)
# where <machine> is cpu-<cores>c-<cpu model slug>. Builds bench_dense (Release, CPU-only) in
# build-bench first when needed.
#
# XMR_BENCH_QUICK=1   N = 1e5 only (smoke test); writes dense_cpu_quick.{json,md} instead, so a
#                     quick run never replaces a full result.
# XMR_BENCH_BUILD_DIR build folder (default: build-bench)
# Extra arguments go to bench_dense (e.g. --benchmark_filter=...).
#
# The full suite takes about 10 minutes on 2 cores. Timings suffer from anything else running:
# the script prints the load average before and after, and the JSON records it too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${XMR_BENCH_BUILD_DIR:-$root/build-bench}"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=OFF \
  -DXMR_BUILD_TESTS=OFF -DXMR_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target bench_dense

model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- || true)"
slug="$(printf '%s' "${model:-unknown}" | tr '[:upper:]' '[:lower:]' |
  sed -E 's/\((r|tm)\)//g; s/(cpu|processor|[0-9]+-core)//g; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')"
machine="cpu-$(nproc)c-${slug:-unknown}"
out="$root/bench/results/$machine"
mkdir -p "$out"

name=dense_cpu
if [ "${XMR_BENCH_QUICK:-0}" != "0" ]; then
  name=dense_cpu_quick
  export XMR_BENCH_QUICK=1
fi

echo "bench_cpu: machine $machine, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/bench_dense" \
  --benchmark_filter='^(dense/(xmr_cpu|faiss_cpu)|check/xmr_cpu_vs_faiss_cpu)' \
  --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@"
echo "bench_cpu: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# summarize.py exits 1 when a correctness check failed; the summary is written either way.
status=0
python3 "$root/bench/summarize.py" "$out/$name.json" \
  --title "Dense exact top-k search on $machine (D = 512, inner product)" >"$out/$name.md" || status=$?
cat "$out/$name.md"
echo
echo "bench_cpu: wrote $out/$name.json and $out/$name.md"
exit "$status"
