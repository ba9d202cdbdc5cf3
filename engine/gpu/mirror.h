#pragma once
// Host-side helpers shared by the GPU backends: the resident device copy of an index's rows (the
// entries of a MirrorCache), device-guarding, workspace carving and row copies.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "gpu/context.h"
#include "gpu/gpu_api.h"

namespace xmr::engine::gpu {

/// Alignment of every sub-buffer carved out of the workspace.
inline constexpr std::int64_t kAlign = 256;

inline std::int64_t round_up(std::int64_t v, std::int64_t a) {
  return (v + a - 1) / a * a;
}

/// Device allocation owned by a shared_ptr, so in-flight searches keep it alive.
struct DeviceBuffer {
  void* ptr = nullptr;
  std::int64_t capacity_rows = 0;
  int device = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
};

/// An index's rows [0, rows) on one device, `stride` bytes apart.
struct DeviceMatrix {
  std::shared_ptr<DeviceBuffer> buffer;
  std::int64_t rows = 0;
  std::uint64_t lineage = 0;
  std::size_t stride = 0;
};

/// The index's rows on the context's device: reuses, extends (appended rows only) or rebuilds the
/// copy cached in `cache`. Uploads are synchronous on the context's stream. `stride` (>=
/// snap.row_bytes()) is the device row pitch; when it exceeds the row size, each row is zero
/// padded. `tail_bytes` more bytes (zeros) stay readable past the copy's capacity, so that vector
/// loads covering the last rows never leave the allocation. Use a cache with one (stride,
/// tail_bytes) only.
std::shared_ptr<DeviceMatrix> resident(const DenseSnapshot& snap, MirrorCache& cache, Context& ctx, std::size_t stride,
                                       std::size_t tail_bytes);

/// resident(), on its own: under the Resources' lock, on its device and stream, synchronised
/// before returning (loading an index straight to the GPU). `stride` and `tail_bytes` as the
/// index kind's searches use them.
void upload_resident(const DenseSnapshot& snap, MirrorCache& cache, Resources& res, std::size_t stride,
                     std::size_t tail_bytes);

/// Restores the calling thread's current device on scope exit.
class DeviceGuard {
 public:
  DeviceGuard() {
    if (cudaGetDevice(&saved_) != cudaSuccess) {
      (void)cudaGetLastError();
      saved_ = -1;
    }
  }
  ~DeviceGuard() {
    if (saved_ >= 0) (void)cudaSetDevice(saved_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int saved_ = -1;
};

/// cudaMemcpy2DAsync, or one copy per row when a pitch exceeds what the 2-D copy accepts.
void copy_rows(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
               std::size_t height, cudaMemcpyKind kind, cudaStream_t stream, const char* what);

/// Carves aligned sub-buffers out of one workspace allocation.
class Carver {
 public:
  explicit Carver(void* base) : base_(static_cast<char*>(base)) {}
  template <class T>
  T* take(std::int64_t count) {
    T* p = reinterpret_cast<T*>(base_ + used_);
    used_ += static_cast<std::size_t>(round_up(count * static_cast<std::int64_t>(sizeof(T)), kAlign));
    return p;
  }
  [[nodiscard]] std::size_t used() const { return used_; }

 private:
  char* base_;
  std::size_t used_ = 0;
};

}  // namespace xmr::engine::gpu
