#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, CPU-only, RelWithDebInfo, ASan + UBSan) in
# build/fuzz, writes each target's seeds and fuzzes every target for the given time.
#
#   scripts/fuzz.sh [seconds_per_target]     (default 30)
#
# The corpus of each target stays in build/fuzz/corpus/<target> (reruns grow it); its seeds are
# regenerated into build/fuzz/seeds/<target> on every run; crashing, leaking or slow inputs go to
# build/fuzz/artifacts/<target>/. Exits non-zero when any target finds a crash, leak or timeout;
# prints libFuzzer's final stats line (executions, coverage, features, corpus) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [seconds_per_target]" >&2; exit 2; }
bash scripts/setup.sh

build=build/fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXMR_CUDA=OFF -DXMR_FUZZ=ON \
  -DXMR_BUILD_TESTS=OFF -DXMR_BUILD_BENCH=OFF -DXMR_BUILD_CLI=OFF -DXMR_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"

# Inputs are tiny, so one OpenMP thread; a failed UBSan check aborts (and libFuzzer keeps the input).
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
while IFS=$'\t' read -r name exe max_len dict; do
  [ -n "$name" ] || continue
  corpus="$build/corpus/$name"
  seeds="$build/seeds/$name"
  artifacts="$build/artifacts/$name"
  log="$build/logs/$name.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  rm -rf "$seeds"
  "$exe" -xmr_seeds="$seeds"
  args=(-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -z "$dict" ] || args+=(-dict="$dict")
  echo "fuzz: $name for ${seconds}s (max_len $max_len), log $log"
  rc=0
  # New inputs are written to the first directory (the corpus); the seeds are only read.
  timeout --kill-after=30 $((seconds + 300)) "$exe" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
  summary+=("$name: ${stats:-no stats line} (exit $rc)")
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "fuzz: $name FAILED (exit $rc); end of its log:" >&2
    tail -n 60 "$log" >&2
    ls -l "$artifacts" >&2 || true
  fi
done <"$build/fuzzers.tsv"

echo
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (reproduce: <target> <artifact>)" >&2
  exit 1
fi
echo "fuzz: no crashes, leaks or timeouts"
