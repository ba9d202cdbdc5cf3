// Validation and preparation of queries that arrive in device memory (prepare_launch.h): every
// value finite, under cosine no zero-norm row, rows normalised under cosine and converted to the
// storage type, with engine/dense/prepare.cpp's arithmetic so that the results are bit-identical
// to the host preparation's.
//
// Mapping: one block of kPrepareThreads threads per row (grid x = rows of one launch, at most
// kMaxGridRows; the launcher loops over larger counts). The squared norm must be summed in
// ascending column order, as the host does, so it is sequential: the block stages kTile values
// of the row in shared memory (coalesced loads, widened to double), then thread 0 adds them in
// order; the next tile follows. The scale is broadcast through shared memory, and every thread
// then writes (and, for fp16, range-checks) columns tid, tid + kPrepareThreads, ... .
// Shared memory: kTile doubles (8 KiB) plus two words. Any cols >= 1; any row stride.
// NaN / inf: a non-finite value makes the squared norm non-finite (squares of finite floats or
// halves cannot overflow double, nor can a sum of up to 2^31 of them), which is how a row is
// found bad, as the host's per-value isfinite finds it. Ties: not applicable.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "prepare_launch.h"

namespace xmr::kernels {
namespace {

constexpr int kTile = 1024;
constexpr std::int64_t kMaxGridRows = 0x7FFFFFFF;

__device__ __forceinline__ double widen(const float* p, std::int64_t c) {
  return static_cast<double>(p[c]);
}
__device__ __forceinline__ double widen(const __half* p, std::int64_t c) {
  return static_cast<double>(__half2float(p[c]));  // exact
}

/// Sum of squares of one row in double: ascending columns, each product and each sum rounded on
/// its own (the host's `sq += x * x` without contraction), staged through the block's `tile`.
/// Called by every thread of the block; the sum is valid in thread 0.
template <class T>
__device__ double square_sum(const T* p, std::int64_t cols, double* tile, int tid) {
  double sq = 0.0;
  for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
    const int n = static_cast<int>(cols - c0 < kTile ? cols - c0 : kTile);
    for (int i = tid; i < n; i += kPrepareThreads) tile[i] = widen(p, c0 + i);
    __syncthreads();
    if (tid == 0) {
      for (int i = 0; i < n; ++i) sq = __dadd_rn(sq, __dmul_rn(tile[i], tile[i]));
    }
    __syncthreads();  // the tile is rewritten next step
  }
  return sq;
}

template <class T, bool kHalfOut>
__global__ __launch_bounds__(kPrepareThreads) void prepare_kernel(const T* __restrict__ in, std::int64_t cols,
                                                                  std::int64_t stride, bool cosine,
                                                                  void* __restrict__ out, std::int64_t row_base,
                                                                  unsigned long long* __restrict__ status) {
  __shared__ double tile[kTile];
  __shared__ double scale;
  __shared__ int bad;
  __shared__ int overflow;
  const std::int64_t r = blockIdx.x;
  const T* p = in + r * stride;
  const int tid = static_cast<int>(threadIdx.x);

  if (status != nullptr || cosine) {
    // Pass 1: the checks (with a status word) and the norm (under cosine).
    const double sq = square_sum(p, cols, tile, tid);
    if (tid == 0) {
      if (status != nullptr) {
        const bool ok = isfinite(sq);
        bad = (!ok || (cosine && sq == 0.0)) ? 1 : 0;
        scale = (cosine && ok && sq > 0.0) ? __ddiv_rn(1.0, __dsqrt_rn(sq)) : 1.0;
      } else {  // rows known valid: the scale only
        bad = 0;
        scale = __ddiv_rn(1.0, __dsqrt_rn(sq));
      }
      overflow = 0;
    }
  } else if (tid == 0) {
    bad = 0;
    overflow = 0;
    scale = 1.0;
  }
  __syncthreads();
  if (bad != 0) {  // uniform over the block
    if (tid == 0) atomicMin(&status[0], static_cast<unsigned long long>(row_base + r));
    return;
  }
  if (!kHalfOut && out == nullptr) return;  // fp32 output: nothing can overflow
  const double s = scale;
  bool over = false;
  for (std::int64_t c = tid; c < cols; c += kPrepareThreads) {
    const float v = __double2float_rn(__dmul_rn(widen(p, c), s));
    if constexpr (kHalfOut) {
      const unsigned short h = __half_as_ushort(__float2half_rn(v));
      over = over || (h & 0x7C00u) == 0x7C00u;
      if (out != nullptr) static_cast<unsigned short*>(out)[r * cols + c] = h;
    } else {
      static_cast<float*>(out)[r * cols + c] = v;
    }
  }
  if constexpr (kHalfOut) {
    if (status != nullptr) {
      if (over) overflow = 1;  // benign race: every writer stores 1
      __syncthreads();
      if (tid == 0 && overflow != 0) atomicMin(&status[1], static_cast<unsigned long long>(row_base + r));
    }
  }
}

template <class T>
void launch(const T* in, std::int64_t rows, std::int64_t cols, std::int64_t stride, bool cosine, bool half_out,
            void* out, std::int64_t row_base, unsigned long long* status, cudaStream_t stream) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += kMaxGridRows) {
    const std::int64_t n = rows - r0 < kMaxGridRows ? rows - r0 : kMaxGridRows;
    const T* src = in + r0 * stride;
    const std::size_t elem = half_out ? 2 : 4;
    void* dst = out == nullptr ? nullptr : static_cast<void*>(static_cast<char*>(out) + r0 * cols * elem);
    if (half_out) {
      prepare_kernel<T, true><<<static_cast<unsigned>(n), kPrepareThreads, 0, stream>>>(src, cols, stride, cosine, dst,
                                                                                        row_base + r0, status);
    } else {
      prepare_kernel<T, false><<<static_cast<unsigned>(n), kPrepareThreads, 0, stream>>>(src, cols, stride, cosine, dst,
                                                                                         row_base + r0, status);
    }
  }
}

}  // namespace

int prepare_queries(const void* in, int in_type, std::int64_t rows, std::int64_t cols, std::int64_t in_stride,
                    bool cosine, int out_type, void* out, std::int64_t row_base, std::uint64_t* status,
                    CUstream_st* stream) {
  if (rows < 0 || cols < 1 || in_stride < cols || row_base < 0) return static_cast<int>(cudaErrorInvalidValue);
  if ((in_type != kPrepareF32 && in_type != kPrepareF16) || (out_type != kPrepareF32 && out_type != kPrepareF16)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (rows == 0) return 0;
  if (in == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t));
  auto* st = reinterpret_cast<unsigned long long*>(status);
  const bool half_out = out_type == kPrepareF16;
  if (in_type == kPrepareF32) {
    launch(static_cast<const float*>(in), rows, cols, in_stride, cosine, half_out, out, row_base, st, stream);
  } else {
    launch(static_cast<const __half*>(in), rows, cols, in_stride, cosine, half_out, out, row_base, st, stream);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
