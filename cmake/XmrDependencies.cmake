# Host dependencies, all from Debian packages installed by scripts/setup.sh.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)

# OpenBLAS built with OpenMP threading (libopenblas-openmp-dev) so BLAS calls and our own
# OpenMP regions share one thread pool instead of oversubscribing the cores.
find_package(PkgConfig REQUIRED)
pkg_check_modules(XMR_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
# xxHash (libxxhash-dev) for the checksums of index files, used header-only (XXH_INLINE_ALL), so
# libxmr has no run-time dependency on it.
find_path(XMR_XXHASH_INCLUDE_DIR xxhash.h REQUIRED)

if(XMR_BUILD_TESTS)
  find_package(GTest 1.12 REQUIRED)
endif()
if(XMR_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  find_package(faiss QUIET)  # optional peer for side-by-side CPU benchmarks (libfaiss-dev)
endif()
if(XMR_BUILD_CLI)
  find_package(CLI11 2.1 REQUIRED)
endif()
