#pragma once
// Helpers shared by the public-API glue files.

#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/check.h"
#include "gpu/gpu_api.h"
#include "resources_impl.h"
#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmr::detail {

/// The calling thread's default Resources (made on first use, destroyed at thread exit).
Resources& thread_default_resources();

/// Runs `f`, turning std::bad_alloc into Error(OutOfMemory) that names the call.
template <class F>
decltype(auto) translate_bad_alloc(const char* call, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc& e) {  // what(): the size, for xmr's large arrays (host_array.cpp)
    fail(ErrorCode::OutOfMemory, call, ": host memory allocation failed (", e.what(), ")");
  } catch (const std::length_error&) {  // a request beyond what a container can hold
    fail(ErrorCode::OutOfMemory, call, ": host memory request too large");
  }
}

/// The device a search runs on: Cpu, or Gpu when requested (Unavailable if unusable) or when
/// Auto finds the Resources' GPU usable.
inline Device resolve_device(Device requested, const Resources& res) {
  std::string why;
  switch (requested) {
    case Device::Cpu: return Device::Cpu;
    // No reason needed: Auto falls back silently (and allocates nothing on its way).
    case Device::Auto: return engine::gpu::device_usable(res.device_id(), nullptr) ? Device::Gpu : Device::Cpu;
    case Device::Gpu:
      XMR_CHECK(engine::gpu::device_usable(res.device_id(), &why), Unavailable, "device (= gpu) requested but GPU ",
                res.device_id(), " is not usable: ", why);
      return Device::Gpu;
  }
  fail(ErrorCode::InvalidArgument, "device (= ", static_cast<int>(requested), ") is not a Device value");
}

/// For `add` from device memory (copied to the host once): Unavailable naming `name` when no GPU
/// is usable (none, or a build without CUDA).
inline void check_device_input_usable(const char* name) {
  XMR_CHECK(engine::gpu::device_count() > 0, Unavailable, name,
            ".space (= Device) needs a GPU, but none is usable: ", engine::gpu::describe());
}

/// A caller buffer of a search, for the device rules of device memory (search_device).
struct BufferArg {
  MemorySpace space = MemorySpace::Host;
  const void* data = nullptr;  // null: nothing to read or write (no rows)
  const char* name = "";
};

/// A search argument for search_device: its memory space, and its pointer when it has rows.
template <class T>
BufferArg buffer_arg(const MatrixView<T>& view, const char* name) {
  return {view.space(), view.rows() > 0 ? view.data() : nullptr, name};
}

/// The device of a search. With no argument in device memory: resolve_device. Otherwise the GPU
/// of `res`: device Cpu (requested, or the index's default) is an InvalidArgument naming the
/// first device-memory argument, and a GPU that is not usable (none, a build without CUDA) is
/// Unavailable naming it. Then each device pointer is checked (gpu::check_device_pointer) before
/// any work: memory of another GPU, or host memory marked Device, is an InvalidArgument.
inline Device search_device(Device requested, const Resources& res, std::initializer_list<BufferArg> args) {
  const BufferArg* first = nullptr;
  for (const BufferArg& a : args) {
    if (a.space == MemorySpace::Device) {
      first = &a;
      break;
    }
  }
  if (first == nullptr) return resolve_device(requested, res);
  if (requested != Device::Auto && requested != Device::Gpu) {
    XMR_EXPECTS(requested != Device::Cpu, first->name,
                ".space (= Device) needs the GPU, but device (= cpu) is requested (SearchOptions::device, else the "
                "index's default device): pass host memory, or device Auto or Gpu");
    (void)resolve_device(requested, res);  // throws: not a Device value
  }
  std::string why;
  XMR_CHECK(engine::gpu::device_usable(res.device_id(), &why), Unavailable, first->name, ".space (= Device) needs GPU ",
            res.device_id(), " (the device of the search's Resources), which is not usable: ", why);
  for (const BufferArg& a : args) {
    if (a.space == MemorySpace::Device && a.data != nullptr) {
      engine::gpu::check_device_pointer(a.data, res.device_id(), a.name);
    }
  }
  return Device::Gpu;
}

/// Where a search writes one [rows x cols] result matrix: the caller's host view itself, or,
/// for a device view, dense host staging that copy() then describes for gpu::copy_to_device (one
/// 2-D copy into the caller's rows on the Resources' stream).
template <class T>
class OutputRows {
 public:
  explicit OutputRows(MatrixView<T> view) : view_(view) {
    if (view.space() == MemorySpace::Device) staging_.resize(to_size(view.rows()) * to_size(view.cols()));
  }
  [[nodiscard]] T* row(std::int64_t r) {
    return view_.space() == MemorySpace::Device ? staging_.data() + r * view_.cols() : view_.row(r);
  }
  [[nodiscard]] bool on_device() const { return view_.space() == MemorySpace::Device; }
  [[nodiscard]] engine::gpu::RowCopy copy(const char* what) const {
    engine::gpu::RowCopy c;
    c.dst = view_.data();
    c.dst_pitch = to_size(view_.stride()) * sizeof(T);
    c.src = staging_.data();
    c.src_pitch = to_size(view_.cols()) * sizeof(T);
    c.width = c.src_pitch;
    c.rows = to_size(view_.rows());
    c.what = what;
    return c;
  }

 private:
  MatrixView<T> view_;
  std::vector<T> staging_;
};

/// Copies the staged rows of device outputs into them (one copy each, on the stream of `res`,
/// synchronised before returning). Host outputs need nothing.
template <class A, class B>
void deliver(Resources& res, const OutputRows<A>& a, const char* what_a, const OutputRows<B>& b, const char* what_b) {
  engine::gpu::RowCopy copies[2];
  std::size_t n = 0;
  if (a.on_device()) copies[n++] = a.copy(what_a);
  if (b.on_device()) copies[n++] = b.copy(what_b);
  if (n > 0) engine::gpu::copy_to_device(res, std::span<const engine::gpu::RowCopy>(copies, n));
}

}  // namespace xmr::detail
