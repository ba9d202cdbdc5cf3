#pragma once
// Helpers shared by the public-API glue files.

#include <new>
#include <stdexcept>

#include <string>

#include "common/check.h"
#include "gpu/gpu_api.h"
#include "resources_impl.h"
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

}  // namespace xmr::detail
