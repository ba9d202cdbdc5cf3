// Exact rescoring: the full-precision score of given (query, stored row) pairs, stage 2 of a
// shortlist-then-rescore pipeline (rescore_launch.h).
//
// Mapping: one warp per (query, candidate) pair, kRescoreThreads / kRescoreLanes pairs per block,
// pairs numbered q * num_candidates + j along the grid. Lane l multiplies elements l, l + 32, ...
// of the query and the row (each warp load reads 32 consecutive elements of one row: coalesced)
// and adds the products in double, ascending; a shuffle-down tree folds the 32 partial sums
// (the order rescore_launch.h documents, which cpu/rescore.cpp follows, so both backends give
// the same bits). Lane 0 rounds the sum to float once and writes it. The query row is read
// through L1/L2 by every warp that scores it. No shared memory.
//
// Ranges: any dim >= 1 (the loop strides by 32), pairs up to (2^31 - 1) * 8 (1-D grid); rows
// anywhere in a 64-bit address range. Position -1 (an empty slot) gives -inf.
// NaN: none arises from finite inputs (the caller validates them): products of floats are exact
// in double and a sum of up to 2^31 of them cannot overflow double; a sum beyond the float range
// rounds to +-inf, as on the CPU.
// Ties: not applicable (no selection here).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "rescore_launch.h"

namespace xmr::kernels {
namespace {

constexpr int kPairsPerBlock = kRescoreThreads / kRescoreLanes;
constexpr std::int64_t kMaxGridX = 0x7FFFFFFF;
static_assert(kRescoreLanes == 32, "one warp per pair");
static_assert(kRescoreThreads % kRescoreLanes == 0);

__device__ __forceinline__ double widen(float x) {
  return static_cast<double>(x);
}
__device__ __forceinline__ double widen(__half x) {
  return static_cast<double>(__half2float(x));  // exact
}

template <class T>
__global__ __launch_bounds__(kRescoreThreads) void rescore_kernel(const T* __restrict__ queries,
                                                                  const char* __restrict__ rows, std::int64_t row_pitch,
                                                                  std::int64_t dim,
                                                                  const std::int64_t* __restrict__ positions,
                                                                  std::int64_t num_candidates, std::int64_t pairs,
                                                                  float* __restrict__ out) {
  const int lane = static_cast<int>(threadIdx.x) % kRescoreLanes;
  const std::int64_t pair =
      static_cast<std::int64_t>(blockIdx.x) * kPairsPerBlock + static_cast<int>(threadIdx.x) / kRescoreLanes;
  if (pair >= pairs) return;  // uniform per warp: the shuffles below see full warps
  const std::int64_t pos = positions[pair];
  if (pos < 0) {
    if (lane == 0) out[pair] = -__int_as_float(0x7f800000);
    return;
  }
  const T* q = queries + (pair / num_candidates) * dim;
  const T* x = reinterpret_cast<const T*>(rows + pos * row_pitch);
  double acc = 0.0;
  for (std::int64_t i = lane; i < dim; i += kRescoreLanes) acc += widen(q[i]) * widen(x[i]);
  for (int h = kRescoreLanes / 2; h > 0; h /= 2) acc += __shfl_down_sync(0xFFFFFFFFu, acc, h);
  if (lane == 0) out[pair] = __double2float_rn(acc);
}

}  // namespace

int rescore_pairs(const void* queries, const void* rows, std::int64_t row_pitch, int type, std::int64_t dim,
                  const std::int64_t* positions, std::int64_t num_queries, std::int64_t num_candidates, float* out,
                  CUstream_st* stream) {
  if (dim < 1 || num_queries < 0 || num_candidates < 0) return static_cast<int>(cudaErrorInvalidValue);
  if (type != kRescoreF32 && type != kRescoreF16) return static_cast<int>(cudaErrorInvalidValue);
  const std::int64_t elem = type == kRescoreF32 ? 4 : 2;
  if (row_pitch < dim * elem || row_pitch % elem != 0) return static_cast<int>(cudaErrorInvalidValue);
  if (num_queries == 0 || num_candidates == 0) return 0;
  if (num_candidates > kMaxGridX * kPairsPerBlock / num_queries) return static_cast<int>(cudaErrorInvalidValue);
  const std::int64_t pairs = num_queries * num_candidates;
  const std::int64_t blocks = (pairs + kPairsPerBlock - 1) / kPairsPerBlock;
  if (type == kRescoreF32) {
    rescore_kernel<float><<<static_cast<unsigned>(blocks), kRescoreThreads, 0, stream>>>(
        static_cast<const float*>(queries), static_cast<const char*>(rows), row_pitch, dim, positions, num_candidates,
        pairs, out);
  } else {
    rescore_kernel<__half><<<static_cast<unsigned>(blocks), kRescoreThreads, 0, stream>>>(
        static_cast<const __half*>(queries), static_cast<const char*>(rows), row_pitch, dim, positions, num_candidates,
        pairs, out);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
