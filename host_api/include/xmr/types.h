#pragma once
/// \file
/// Small vocabulary types shared by the public API.

#include <cstdint>

#include "xmr/export.h"

namespace xmr {

/// Similarity metric of a dense index. Both rank by descending score.
enum class Metric : int {
  InnerProduct = 0,  ///< score = <q, x>
  Cosine = 1,        ///< score = <q, x> / (|q| |x|); zero-norm vectors are rejected
};

/// Where a computation runs.
enum class Device : int {
  Auto = 0,  ///< the GPU when one is usable, else the CPU
  Cpu = 1,   ///< always the CPU
  Gpu = 2,   ///< the GPU; ErrorCode::Unavailable when there is none
};

/// Scalar type of stored vectors or of a query buffer.
enum class DType : int {
  F32 = 0,  ///< IEEE binary32
  F16 = 1,  ///< IEEE binary16 (products accumulate in fp32)
};

/// Where a buffer lives.
enum class MemorySpace : int {
  Host = 0,    ///< ordinary (pageable or pinned) host memory
  Device = 1,  ///< CUDA device memory (or managed memory) of the GPU that the call runs on
};

/// IEEE binary16 storage type: the 16 bits of a half-precision value, nothing more. Fill it from
/// numpy.float16, torch.float16 (`.view(torch.int16)`), or xmr::to_half().
struct half {
  std::uint16_t bits;
};

/// Round-to-nearest-even conversion from float to binary16 (overflow gives ±inf).
XMR_API half to_half(float value) noexcept;
/// Exact conversion from binary16 to float.
XMR_API float to_float(half value) noexcept;

XMR_API const char* to_string(Metric metric) noexcept;
XMR_API const char* to_string(Device device) noexcept;
XMR_API const char* to_string(DType dtype) noexcept;

}  // namespace xmr
