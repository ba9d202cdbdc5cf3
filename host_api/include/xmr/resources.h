#pragma once
/// \file
/// Execution resources (device, stream, cuBLAS handle, scratch budget) and device queries.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "xmr/export.h"

struct CUstream_st;  // what cudaStream_t points to; no CUDA header needed

namespace xmr {

/// Execution resources for searches: a CUDA device, a stream (owned, or borrowed from the
/// caller), a cuBLAS handle bound to it (made on first GPU use), and a scratch-memory budget that
/// the tiling sizes itself from. The same budget bounds the CPU path's scratch memory.
///
/// A call that takes no Resources uses a per-thread default, so concurrent searches from
/// different threads never share a stream or handle. One Resources object may be shared by
/// threads: its GPU work is then serialised on its stream.
///
/// Constructing a Resources never touches the GPU: a CPU-only machine can make one.
class XMR_API Resources {
 public:
  /// \param device_id CUDA device ordinal used by GPU work (>= 0).
  /// \param stream    a caller-owned CUDA stream to borrow (never destroyed by xmr), or null for
  ///                  a stream that xmr creates on first use and owns.
  explicit Resources(int device_id = 0, CUstream_st* stream = nullptr);
  ~Resources();
  Resources(Resources&&) noexcept;
  Resources& operator=(Resources&&) noexcept;
  Resources(const Resources&) = delete;
  Resources& operator=(const Resources&) = delete;

  /// CUDA device ordinal.
  [[nodiscard]] int device_id() const noexcept;
  /// The borrowed stream, or null when xmr owns (or has not yet made) its stream.
  [[nodiscard]] CUstream_st* borrowed_stream() const noexcept;

  /// Upper bound on scratch memory (bytes) one search may use on the device it runs on,
  /// excluding the index itself, the queries and the results. Default 512 MiB. Throws
  /// InvalidArgument below 1 MiB.
  void set_workspace_bytes(std::size_t bytes);
  [[nodiscard]] std::size_t workspace_bytes() const noexcept;

  /// Caps on tile sizes: at most `max_query_rows` queries and `max_db_rows` database rows per
  /// tile (0 = no cap beyond the workspace budget). For tests of multi-tile merges on small
  /// inputs and for tuning. The selection is exact for any tiling, but the GEMM's summation
  /// order can depend on tile shapes, so scores may differ in their last bits (and ids at
  /// near-ties) between tilings. Throws InvalidArgument when negative.
  void set_tile_caps(std::int64_t max_query_rows, std::int64_t max_db_rows);
  [[nodiscard]] std::int64_t max_query_rows() const noexcept;
  [[nodiscard]] std::int64_t max_db_rows() const noexcept;

  struct Impl;
  /// Internal state (not part of the stable API).
  [[nodiscard]] Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Number of usable CUDA devices: 0 in a CPU-only build, or without a driver or GPU.
/// Never throws.
XMR_API int gpu_count() noexcept;

/// True when this build has the CUDA backend compiled in (it may still find no GPU).
XMR_API bool built_with_cuda() noexcept;

/// One line describing the compute devices seen, e.g. "CPU (2 threads, popcount avx2); GPU 0: NVIDIA H100"
/// or "CPU (2 threads, popcount avx2); no GPU (CUDA driver not found)".
XMR_API std::string device_summary();

}  // namespace xmr
