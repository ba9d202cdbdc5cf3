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
# XMR_BENCH_REPETITIONS  run every case this many times (default 1); the summary reports the
#                     fastest repetition (on a busy machine other processes only add time)
# XMR_BENCH_BUILD_DIR build folder (default: build-bench)
# XMR_BENCH_IDLE_WAIT_S  wait up to this many seconds (default 300; 0 = don't wait) for the CPUs
#                     to be idle (< 10% busy over 3 s) before starting, then start regardless
# Extra arguments go to bench_dense (e.g. --benchmark_filter=...).
#
# The full suite takes about 3 minutes on an idle 2-core AMD EPYC (Zen 4), 6-7 minutes when
# other processes compete for the cores. Timings suffer from anything else running: the script
# waits for idle CPUs, prints the load average before and after, and every benchmark reports
# its preemptions per search (invol_csw; "preempt/search" in the summary).
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

echo "bench_cpu: machine $machine, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The commit of the library being measured (others may be changing it).
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain -- engine kernels host_api cmake CMakeLists.txt 2>/dev/null)" ]; then
  git_rev="$git_rev+dirty"
fi
"$build/bench/bench_dense" \
  --benchmark_filter='^(dense/(xmr_cpu|faiss_cpu)|check/xmr_cpu_vs_faiss_cpu)' \
  --benchmark_repetitions="${XMR_BENCH_REPETITIONS:-1}" \
  --benchmark_context="xmr_git=$git_rev" \
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
