#pragma once
// Per-Resources GPU state: the stream (owned or borrowed), a cuBLAS handle bound to it, and a
// grow-only device workspace.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "gpu/gpu_api.h"

namespace xmr::engine::gpu {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  bool owns_stream = false;
  cublasHandle_t cublas = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_size = 0;

  /// Returns at least `bytes` of device scratch (contents undefined), reallocating if needed.
  void* scratch(std::size_t bytes);
};

/// cudaMalloc through the fault-injection hook (xmr/testing.h); throws OutOfMemory naming
/// `what` and the size.
void* device_malloc(std::size_t bytes, const char* what);

/// The context of `res` (made on first use: sets the device, creates the stream and handle).
/// Caller holds res.impl().mutex.
Context& context_of(Resources& res);

}  // namespace xmr::engine::gpu
