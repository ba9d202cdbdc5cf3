#pragma once
// CUDA and cuBLAS status to xmr::Error. Failures throw; the library never aborts.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/check.h"

namespace xmr::engine::gpu {

/// Throws OutOfMemory for allocation failures and Device for the rest, naming `what`. Clears the
/// (non-sticky) last error first so later calls start clean.
inline void check_cuda(int status, const char* what) {
  if (status == 0) return;
  (void)cudaGetLastError();
  const auto e = static_cast<cudaError_t>(status);
  if (e == cudaErrorMemoryAllocation) {
    detail::fail(ErrorCode::OutOfMemory, what, ": out of device memory (", cudaGetErrorString(e), ")");
  }
  detail::fail(ErrorCode::Device, what, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

inline void check_cublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  (void)cudaGetLastError();
  if (status == CUBLAS_STATUS_ALLOC_FAILED) {
    detail::fail(ErrorCode::OutOfMemory, what, ": cuBLAS could not allocate device memory");
  }
  detail::fail(ErrorCode::Device, what, " failed: ", cublasGetStatusName(status), " (", cublasGetStatusString(status),
               ")");
}

}  // namespace xmr::engine::gpu
