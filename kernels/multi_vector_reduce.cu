// Multi-vector reduction: a (query vectors x item vectors) similarity tile from one GEMM becomes
// (query x item) scores, MaxSim or SumMaxSim (multi_vector_launch.h).
//
// Mapping: one thread per (query, item) pair; blockIdx.y is the query, blockIdx.x a run of
// kMultiVectorReduceThreads consecutive items. A thread walks its query's rows in ascending order
// and, per row, its item's columns left to right, keeping the running max; then it folds the
// row maximum into the pair's score (max, or an fp32 sum in ascending row order, so the result is
// deterministic and independent of the launch shape). Threads of a warp read neighbouring column
// runs of the same row, so the tile is read about once through L1/L2. No shared memory.
//
// Ranges: queries <= 65535 (grid y), items < 2^31 * kMultiVectorReduceThreads; offsets are int32
// (tile-local). NaN: max_nan keeps a NaN once seen, so a NaN similarity makes the pair's score
// NaN (then ranked last by select_key.h); a sum of +inf and -inf row maxima is NaN as well.
// Ties: not applicable (no selection here; the caller selects by (score, item position)).
#include <cuda_runtime.h>

#include "multi_vector_launch.h"

namespace xmr::kernels {
namespace {

constexpr std::int64_t kMaxGridY = 65535;
constexpr std::int64_t kMaxGridX = 0x7FFFFFFF;

/// max that lets a NaN in and never out (in any order of the operands), as the CPU backend.
__device__ __forceinline__ float max_nan(float m, float x) {
  return (x > m || x != x) ? x : m;
}

__global__ __launch_bounds__(kMultiVectorReduceThreads) void multi_vector_reduce_kernel(
    const float* __restrict__ scores, std::int64_t ld, const int* __restrict__ query_offsets,
    const int* __restrict__ item_offsets, std::int64_t items, int reduce, float* __restrict__ out,
    std::int64_t out_ld) {
  const std::int64_t q = blockIdx.y;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kMultiVectorReduceThreads + threadIdx.x;
  if (i >= items) return;
  const int base = item_offsets[0];
  const std::int64_t c0 = item_offsets[i] - base;
  const std::int64_t c1 = item_offsets[i + 1] - base;
  const std::int64_t r0 = query_offsets[q];
  const std::int64_t r1 = query_offsets[q + 1];
  float acc = 0.0f;
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* row = scores + r * ld;
    float m = row[c0];
    for (std::int64_t c = c0 + 1; c < c1; ++c) m = max_nan(m, row[c]);
    if (r == r0) {
      acc = m;
    } else if (reduce == kReduceMaxSim) {
      acc = max_nan(acc, m);
    } else {
      acc += m;
    }
  }
  out[q * out_ld + i] = acc;
}

}  // namespace

int multi_vector_reduce(const float* scores, std::int64_t ld, const int* query_offsets, std::int64_t queries,
                        const int* item_offsets, std::int64_t items, int reduce, float* out, std::int64_t out_ld,
                        CUstream_st* stream) {
  if (queries < 0 || items < 0 || queries > kMaxGridY) return static_cast<int>(cudaErrorInvalidValue);
  if (reduce != kReduceMaxSim && reduce != kReduceSumMaxSim) return static_cast<int>(cudaErrorInvalidValue);
  if (queries == 0 || items == 0) return 0;
  const std::int64_t blocks = (items + kMultiVectorReduceThreads - 1) / kMultiVectorReduceThreads;
  if (blocks > kMaxGridX) return static_cast<int>(cudaErrorInvalidValue);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(queries));
  multi_vector_reduce_kernel<<<grid, kMultiVectorReduceThreads, 0, stream>>>(scores, ld, query_offsets, item_offsets,
                                                                             items, reduce, out, out_ld);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
