#!/usr/bin/env bash
# Installs xmr's build and test dependencies from Debian packages (idempotent; runs apt-get only
# when something is missing). nvcc (CUDA Toolkit 13) is optional: without it the build is
# CPU-only.
#   scripts/setup.sh --bench   also installs what only the benchmark reports need
#                              (python3-matplotlib: the plot of bench/plot_pipeline.py); the
#                              build, tests and CI do not need it.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libopenblas-openmp-dev   # CPU GEMM (OpenMP threading, shares the pool with our OpenMP loops)
  libgtest-dev             # tests
  libbenchmark-dev         # bench/
  libcli11-dev             # the xmr command-line tool
  gnuplot-nox              # the demo's recall-vs-throughput plot (PNG)
  python3-numpy            # tests: .npy files written and read by NumPy (Debian's /usr/bin/python3)
  python3-dev pybind11-dev libdlpack-dev  # the Python module (python/): headers, pybind11, DLPack
  python3-pytest           # the Python tests (CTest test_python)
  libfaiss-dev             # CPU peer in bench/ (side-by-side numbers)
  libxxhash-dev            # checksums of index files
  clang libclang-rt-14-dev libomp-14-dev  # fuzzing: libFuzzer and sanitizer runtimes, OpenMP for clang
)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-matplotlib dataset-fashion-mnist zlib1g-dev) ;;  # plot_pipeline.py's PNG; bench_fashion's data and gzip reader (bench reports only)
    *)
      echo "setup: unknown argument '$arg' (known: --bench)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian dependencies present"
fi

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: nvcc found: the CUDA backend will be built"
else
  echo "setup: nvcc not found: building CPU-only"
fi
