// Resident device copies of index rows, shared by the dense and binary GPU backends.
#include "gpu/mirror.h"

#include <algorithm>
#include <mutex>

#include "gpu/cuda_check.h"
#include "resources_impl.h"

namespace xmr::engine::gpu {

DeviceBuffer::~DeviceBuffer() {
  if (ptr == nullptr) return;
  int current = 0;
  const bool restore = cudaGetDevice(&current) == cudaSuccess && current != device;
  if (restore) (void)cudaSetDevice(device);
  (void)cudaFree(ptr);
  if (restore) (void)cudaSetDevice(current);
  (void)cudaGetLastError();  // a failed free must not surface as a later launch's error
}

void copy_rows(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
               std::size_t height, cudaMemcpyKind kind, cudaStream_t stream, const char* what) {
  constexpr std::size_t kMaxPitch = 0x7FFFFFFF;
  if (dpitch <= kMaxPitch && spitch <= kMaxPitch) {
    check_cuda(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, stream), what);
    return;
  }
  for (std::size_t r = 0; r < height; ++r) {
    check_cuda(cudaMemcpyAsync(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width,
                               kind, stream),
               what);
  }
}

namespace {

/// Uploads rows [first, first + count) of the snapshot into a copy with the given pitch.
void upload_rows(void* base, std::size_t stride, const char* host, std::size_t row_bytes, std::int64_t first,
                 std::int64_t count, cudaStream_t stream) {
  char* dst = static_cast<char*>(base) + static_cast<std::size_t>(first) * stride;
  const char* src = host + static_cast<std::size_t>(first) * row_bytes;
  if (stride == row_bytes) {
    check_cuda(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(count) * row_bytes, cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync(index rows)");
  } else {
    copy_rows(dst, stride, src, row_bytes, row_bytes, static_cast<std::size_t>(count), cudaMemcpyHostToDevice, stream,
              "cudaMemcpy2DAsync(index rows)");
  }
}

}  // namespace

std::shared_ptr<DeviceMatrix> resident(const DenseSnapshot& snap, MirrorCache& cache, Context& ctx, std::size_t stride,
                                       std::size_t tail_bytes) {
  const std::size_t row_bytes = snap.row_bytes();
  XMR_INVARIANT(stride >= row_bytes && row_bytes > 0);
  const bool padded = stride != row_bytes;
  std::lock_guard lock(cache.mutex);
  std::shared_ptr<DeviceMatrix>& slot = cache.by_device[ctx.device];
  const auto* host = reinterpret_cast<const char*>(snap.row_data());
  if (slot && slot->lineage == snap.lineage && slot->stride == stride) {
    if (slot->rows >= snap.size) {
      // Same rows (or a newer superset): the prefix is this snapshot's data.
      return std::make_shared<DeviceMatrix>(DeviceMatrix{slot->buffer, snap.size, snap.lineage, stride});
    }
    if (slot->buffer->capacity_rows >= snap.size) {
      // Rows past slot->rows are used by no search (vector loads may read some and ignore them):
      // append in place. A padded copy's padding was zeroed when it was allocated.
      upload_rows(slot->buffer->ptr, stride, host, row_bytes, slot->rows, snap.size - slot->rows, ctx.stream);
      check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
      slot = std::make_shared<DeviceMatrix>(DeviceMatrix{slot->buffer, snap.size, snap.lineage, stride});
      return slot;
    }
  }
  // Growth by appends (same lineage) reserves 50% headroom so that later appends upload only
  // their rows; a first upload or a rebuild takes exactly what it needs. The cache's old copy is
  // released first (searches still using it hold their own reference).
  const bool growing = slot && slot->lineage == snap.lineage && slot->stride == stride;
  slot.reset();
  auto buf = std::make_shared<DeviceBuffer>();
  buf->device = ctx.device;
  std::int64_t cap = growing ? std::min(snap.size + snap.size / 2, snap.ids->capacity) : snap.size;
  cap = std::max(cap, snap.size);
  try {
    buf->ptr = device_malloc(static_cast<std::size_t>(cap) * stride + tail_bytes, "GPU copy of the index");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::OutOfMemory || cap == snap.size) throw;
    cap = snap.size;
    buf->ptr = device_malloc(static_cast<std::size_t>(cap) * stride + tail_bytes, "GPU copy of the index");
  }
  buf->capacity_rows = cap;
  const std::size_t bytes = static_cast<std::size_t>(cap) * stride;
  if (padded) {
    check_cuda(cudaMemsetAsync(buf->ptr, 0, bytes + tail_bytes, ctx.stream), "cudaMemsetAsync(index copy)");
  } else if (tail_bytes != 0) {
    check_cuda(cudaMemsetAsync(static_cast<char*>(buf->ptr) + bytes, 0, tail_bytes, ctx.stream),
               "cudaMemsetAsync(index copy)");
  }
  upload_rows(buf->ptr, stride, host, row_bytes, 0, snap.size, ctx.stream);
  check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
  slot = std::make_shared<DeviceMatrix>(DeviceMatrix{std::move(buf), snap.size, snap.lineage, stride});
  return slot;
}

void upload_resident(const DenseSnapshot& snap, MirrorCache& cache, Resources& res, std::size_t stride,
                     std::size_t tail_bytes) {
  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;
  (void)cudaGetLastError();
  if (snap.size == 0) return;
  Context& ctx = context_of(res);
  (void)resident(snap, cache, ctx, stride, tail_bytes);
  check_cuda(cudaStreamSynchronize(ctx.stream), "upload: cudaStreamSynchronize");
}

}  // namespace xmr::engine::gpu
