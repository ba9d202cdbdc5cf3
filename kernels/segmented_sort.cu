// General top-k path (k > kFastMaxK): score tiles become keys, and each row's running top-k
// plus the tile's keys are sorted with CUB's segmented radix sort (all 64 bits; keys are unique
// so the order is total). Mapping of scores_to_keys: one thread per element, 2-D grid
// (x over columns in blocks of 256, y over rows).
#include <cuda_runtime.h>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "dense_launch.h"
#include "select_key.h"

namespace xmr::kernels {
namespace {

constexpr int kConvertThreads = 256;

__global__ __launch_bounds__(kConvertThreads) void scores_to_keys_kernel(const float* __restrict__ scores,
                                                                         std::int64_t len, std::int64_t ld,
                                                                         std::int64_t base_position,
                                                                         std::uint64_t* __restrict__ out,
                                                                         std::int64_t out_ld) {
  const std::int64_t row = blockIdx.y;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kConvertThreads + threadIdx.x;
  if (i < len) {
    out[row * out_ld + i] = make_key(scores[row * ld + i], static_cast<std::uint64_t>(base_position + i));
  }
}

}  // namespace

int scores_to_keys(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                   std::int64_t base_position, std::uint64_t* out, std::int64_t out_ld, CUstream_st* stream) {
  if (rows <= 0 || len <= 0) return 0;
  if (rows > kMaxLaunchRows) return static_cast<int>(cudaErrorInvalidValue);
  const std::int64_t blocks = (len + kConvertThreads - 1) / kConvertThreads;
  if (blocks > 0x7FFFFFFF) return static_cast<int>(cudaErrorInvalidValue);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(rows));
  scores_to_keys_kernel<<<grid, kConvertThreads, 0, stream>>>(scores, len, ld, base_position, out, out_ld);
  return static_cast<int>(cudaGetLastError());
}

int segmented_sort_workspace(std::int64_t items, std::int64_t segments, std::size_t* bytes) {
  if (items < 0 || items > 0x7FFFFFFF || segments < 0 || segments > 0x7FFFFFFF) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  *bytes = 0;
  return static_cast<int>(cub::DeviceSegmentedRadixSort::SortKeys(
      nullptr, *bytes, static_cast<const std::uint64_t*>(nullptr), static_cast<std::uint64_t*>(nullptr),
      static_cast<int>(items), static_cast<int>(segments), static_cast<const int*>(nullptr),
      static_cast<const int*>(nullptr)));
}

int segmented_sort_keys(const std::uint64_t* in, std::uint64_t* out, std::int64_t items, std::int64_t segments,
                        const int* begin, const int* end, void* workspace, std::size_t workspace_bytes,
                        CUstream_st* stream) {
  if (items < 0 || items > 0x7FFFFFFF || segments < 0 || segments > 0x7FFFFFFF) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (items == 0 || segments == 0) return 0;
  std::size_t bytes = workspace_bytes;
  const cudaError_t e = cub::DeviceSegmentedRadixSort::SortKeys(workspace, bytes, in, out, static_cast<int>(items),
                                                                static_cast<int>(segments), begin, end, 0, 64, stream);
  if (e != cudaSuccess) return static_cast<int>(e);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
