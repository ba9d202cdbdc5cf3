#pragma once
// CUDA and cuBLAS status to xmr::Error. Failures throw; the library never aborts.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>

#include "common/check.h"

namespace xmr::engine::gpu {

/// Checked calls still to be reported as failed (xmr::testing::fail_next_device_calls; defined in
/// gpu_runtime.cpp). Zero unless a test armed it: one relaxed load per check.
extern std::atomic<int> g_injected_call_failures;

/// While failures are armed: lets the armed number of calls pass first, then takes one failure.
/// True: report this call as failed.
bool take_injected_call_failure() noexcept;

/// Throws OutOfMemory for allocation failures and Device for the rest, naming `what`. Clears the
/// (non-sticky) last error first so later calls start clean. A successful call may be reported
/// as a Device failure when one is armed (xmr/testing.h); the call itself has run.
inline void check_cuda(int status, const char* what) {
  if (status == 0) {
    if (g_injected_call_failures.load(std::memory_order_relaxed) == 0 || !take_injected_call_failure()) return;
    detail::fail(ErrorCode::Device, what, " failed: device error injected by xmr::testing::fail_next_device_calls");
  }
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
