#!/usr/bin/env bash
# Sets up and runs everything CI checks:
#   1. the CUDA build (when nvcc is present; GPU tests skip with a reason without a GPU),
#   2. the CPU-only build (XMR_CUDA=OFF),
#   3. the example consumer and the Python package against the installed package,
#   4. the test suite under ASan + UBSan (CPU-only build, with the CLI and its end-to-end tests),
#   5. the test suite under TSan (CPU-only build, one OpenMP thread),
#   6. a short libFuzzer run of every fuzz target (scripts/fuzz.sh: clang, 30 s per target).
# ctest in every build also runs the example programs (examples/, label `examples`).
# Set XMR_SKIP_SANITIZERS=1 to skip steps 4 and 5 locally, XMR_SKIP_FUZZ=1 to skip step 6.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

jobs=$(nproc)
ctest_args=(--output-on-failure --no-tests=error -j "$jobs")
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/xmr-ccache}"
section() { printf '\n=== %s ===\n' "$1"; }

section "CUDA build (XMR_CUDA=AUTO)"
cmake -S . -B build/ci-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=AUTO >/dev/null
cmake --build build/ci-cuda -j "$jobs"
./build/ci-cuda/host_api/cli/xmr info
ctest --test-dir build/ci-cuda "${ctest_args[@]}"

section "CPU-only build (XMR_CUDA=OFF)"
cmake -S . -B build/ci-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_CUDA=OFF -DXMR_BUILD_BENCH=OFF >/dev/null
cmake --build build/ci-cpu -j "$jobs"
ctest --test-dir build/ci-cpu "${ctest_args[@]}"

section "Example consumer against the installed package"
rm -rf build/ci-install build/ci-consumer
cmake --install build/ci-cuda --prefix "$PWD/build/ci-install" >/dev/null
cmake -S examples/consumer -B build/ci-consumer -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/ci-install" >/dev/null
cmake --build build/ci-consumer
LD_LIBRARY_PATH="$PWD/build/ci-install/lib" ./build/ci-consumer/xmr_consumer
LD_LIBRARY_PATH="$PWD/build/ci-install/lib" ./build/ci-consumer/xmr_consumer_c
PKG_CONFIG_PATH="$PWD/build/ci-install/lib/pkgconfig" pkg-config --modversion xmr
# The installed Python package imports (relative RPATH to the installed libxmr.so).
(cd / && PYTHONPATH="$OLDPWD/build/ci-install/lib/python3/dist-packages" /usr/bin/python3 -c \
  "import xmr, numpy; i = xmr.DenseIndex(4); i.add(numpy.eye(4, dtype=numpy.float32)); print('installed Python package:', xmr.__file__, i.search(numpy.eye(4, dtype=numpy.float32), 1)[1].ravel())")
# ... and a plain `python3 -c "import xmr"` finds the CUDA build's package (scripts/python_path.sh).
bash scripts/python_path.sh build/ci-cuda

if [ "${XMR_SKIP_SANITIZERS:-0}" != "1" ]; then
  section "ASan + UBSan (CPU-only build)"
  # The CLI is built too: test_cli runs the sanitized xmr binary end to end (a report in it fails
  # the test through the exit code). So is the Python module: test_python runs pytest with libasan
  # preloaded (python/CMakeLists.txt), covering the bindings' array and DLPack handling.
  cmake -S . -B build/ci-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXMR_CUDA=OFF -DXMR_BUILD_BENCH=OFF \
    -DXMR_BUILD_CLI=ON -DXMR_PYTHON=ON -DXMR_SANITIZE=address,undefined >/dev/null
  cmake --build build/ci-asan -j "$jobs"
  # OpenMP's runtime keeps thread pools alive at exit; those are not leaks of ours.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/ci-asan "${ctest_args[@]}"

  section "TSan (CPU-only build, one OpenMP thread)"
  # GCC's libgomp is not built with TSan, so TSan cannot see its barriers and reports races
  # between OpenMP threads that are not there. With one OpenMP thread, TSan checks xmr's own
  # threading: snapshots, locks, Resources and device-copy caches under the concurrency and
  # stress tests (16 searching threads against a mutating one).
  cmake -S . -B build/ci-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXMR_CUDA=OFF -DXMR_BUILD_BENCH=OFF \
    -DXMR_BUILD_CLI=OFF -DXMR_SANITIZE=thread >/dev/null
  cmake --build build/ci-tsan -j "$jobs"
  OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build/ci-tsan "${ctest_args[@]}"
fi

if [ "${XMR_SKIP_FUZZ:-0}" != "1" ]; then
  fuzz_seconds=30
  section "Fuzz (libFuzzer, clang; ${fuzz_seconds} s per target)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
