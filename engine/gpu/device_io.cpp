// Caller buffers in device memory (MemorySpace::Device): pointer checks, and the copies that
// deliver results to device outputs and bring device vectors to the host for `add`.
#include <ios>

#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "resources_impl.h"

namespace xmr::engine::gpu {

namespace {

const char* memory_type_name(cudaMemoryType t) {
  switch (t) {
    case cudaMemoryTypeUnregistered: return "unregistered host memory";
    case cudaMemoryTypeHost: return "page-locked host memory";
    case cudaMemoryTypeDevice: return "device memory";
    case cudaMemoryTypeManaged: return "managed memory";
  }
  return "unknown memory";
}

/// The attributes of `data`, which must be device or managed memory (else InvalidArgument naming
/// `name`).
cudaPointerAttributes attributes_of(const void* data, const char* name) {
  const auto addr = reinterpret_cast<std::uintptr_t>(data);
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, data);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    detail::fail(ErrorCode::InvalidArgument, name, ".data (= 0x", std::hex, addr, std::dec,
                 ") is not a CUDA pointer (cudaPointerGetAttributes: ", cudaGetErrorString(e), ")");
  }
  XMR_EXPECTS(a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged, name, ".data (= 0x", std::hex, addr,
              std::dec, ") is ", memory_type_name(a.type),
              ", not device memory: pass MemorySpace::Host for memory the host can read");
  return a;
}

}  // namespace

void check_device_pointer(const void* data, int device, const char* name) {
  const cudaPointerAttributes a = attributes_of(data, name);
  if (a.type == cudaMemoryTypeManaged) return;  // migrates to whichever GPU touches it
  const int holder = a.device;
  XMR_EXPECTS(holder == device, name, ".data (= 0x", std::hex, reinterpret_cast<std::uintptr_t>(data), std::dec,
              ") is memory of GPU ", holder, ", but the search runs on GPU ", device,
              " (the device of SearchOptions::resources, else of the thread's default Resources)");
}

void copy_to_device(Resources& res, std::span<const RowCopy> copies) {
  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;
  (void)cudaGetLastError();
  Context& ctx = context_of(res);
  try {
    for (const RowCopy& c : copies) {
      if (c.rows == 0 || c.width == 0) continue;
      copy_rows(c.dst, c.dst_pitch, c.src, c.src_pitch, c.width, c.rows, cudaMemcpyHostToDevice, ctx.stream, c.what);
    }
    // The host sources are the caller's temporaries: they must outlive the copies.
    check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
  } catch (...) {
    (void)cudaStreamSynchronize(ctx.stream);
    (void)cudaGetLastError();
    throw;
  }
}

void copy_from_device(const RowCopy& c, const char* name) {
  if (c.rows == 0 || c.width == 0) return;
  const int holder = attributes_of(c.src, name).device;
  const DeviceGuard device_guard;
  (void)cudaGetLastError();
  check_cuda(cudaSetDevice(holder), detail::concat("cudaSetDevice(", holder, ")").c_str());
  constexpr std::size_t kMaxPitch = 0x7FFFFFFF;
  if (c.dst_pitch <= kMaxPitch && c.src_pitch <= kMaxPitch) {
    check_cuda(cudaMemcpy2D(c.dst, c.dst_pitch, c.src, c.src_pitch, c.width, c.rows, cudaMemcpyDeviceToHost), c.what);
    return;
  }
  for (std::size_t i = 0; i < c.rows; ++i) {
    check_cuda(cudaMemcpy(static_cast<char*>(c.dst) + i * c.dst_pitch,
                          static_cast<const char*>(c.src) + i * c.src_pitch, c.width, cudaMemcpyDeviceToHost),
               c.what);
  }
}

}  // namespace xmr::engine::gpu
