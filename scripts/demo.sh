#!/usr/bin/env bash
# Sets up, builds (CUDA backend when nvcc is present) and runs the cross-modal retrieval demo.
# Extra arguments go to `xmr demo` (see `xmr demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DXMR_BUILD_TESTS=OFF -DXMR_BUILD_BENCH=OFF >/dev/null
cmake --build build/release
bash scripts/python_path.sh build/release  # `import xmr` (Debian's python3) from this build
./build/release/host_api/cli/xmr demo "$@"
