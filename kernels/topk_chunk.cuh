#pragma once
// Chunked top-k selection of 64-bit keys (select_key.h) with CUB block primitives.
//
// Mapping: one block of kChunkThreads threads per (row, chunk); blockIdx.y is the row,
// blockIdx.x the chunk of kChunkSize consecutive elements. Each thread loads kChunkItems
// elements in a striped (coalesced) arrangement, turns them into keys, and drops keys that are
// not below the row's threshold (the running k-th best key from earlier tiles). A BlockScan
// counts the survivors; then
//   - none survive: the chunk writes k empty keys (the common case once the threshold is tight);
//   - at most kChunkThreads survive: they are compacted through shared memory and sorted with a
//     one-item-per-thread BlockRadixSort;
//   - otherwise the whole chunk is sorted with BlockRadixSort (64-bit keys, all bits).
// The chunk writes its min(k, survivors) smallest keys in ascending order, padded with
// kEmptyKey. Keys are unique, so the result is the same whatever the chunking: ties in score
// are broken by position, which is id order.
//
// Shared memory: a union of the scan storage, the compaction buffer (kChunkThreads keys) and the
// two sort storages; the large sort dominates (about 33 KiB for 256 x 16 64-bit keys).
// Supported k: 1..kFastMaxK. NaN scores map to the worst score (select_key.h).

#include <cuda_runtime.h>
#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_scan.cuh>

#include "dense_launch.h"
#include "select_key.h"

namespace xmr::kernels::detail {

struct ScoreLoader {
  const float* scores;
  std::int64_t ld;
  std::int64_t base_position;
  __device__ __forceinline__ std::uint64_t operator()(std::int64_t row, std::int64_t i) const {
    return make_key(scores[row * ld + i], static_cast<std::uint64_t>(base_position + i));
  }
};

struct KeyLoader {
  const std::uint64_t* keys;
  std::int64_t ld;
  __device__ __forceinline__ std::uint64_t operator()(std::int64_t row, std::int64_t i) const {
    return keys[row * ld + i];
  }
};

template <class Loader>
__global__ __launch_bounds__(kChunkThreads) void select_chunks_kernel(
    Loader load, std::int64_t len, const std::uint64_t* __restrict__ thresholds, std::int64_t thr_ld, int k,
    std::uint64_t* out, std::int64_t out_ld) {  // out may alias the keys (in-place merge)
  using Scan = cub::BlockScan<int, kChunkThreads>;
  using SortSmall = cub::BlockRadixSort<std::uint64_t, kChunkThreads, 1>;
  using SortLarge = cub::BlockRadixSort<std::uint64_t, kChunkThreads, kChunkItems>;
  __shared__ union {
    typename Scan::TempStorage scan;
    std::uint64_t compact[kChunkThreads];
    typename SortSmall::TempStorage sort_small;
    typename SortLarge::TempStorage sort_large;
  } smem;

  const std::int64_t row = blockIdx.y;
  const std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * kChunkSize;
  const int t = static_cast<int>(threadIdx.x);
  const std::uint64_t thr = thresholds != nullptr ? thresholds[row * thr_ld] : kEmptyKey;

  std::uint64_t keys[kChunkItems];
  int kept = 0;
#pragma unroll
  for (int i = 0; i < kChunkItems; ++i) {
    const std::int64_t idx = start + static_cast<std::int64_t>(i) * kChunkThreads + t;
    const std::uint64_t key = idx < len ? load(row, idx) : kEmptyKey;
    keys[i] = key < thr ? key : kEmptyKey;
    kept += key < thr ? 1 : 0;
  }
  int offset = 0;
  int total = 0;
  Scan(smem.scan).ExclusiveSum(kept, offset, total);
  __syncthreads();  // every load of this block (in-place use) and the scan storage are done

  std::uint64_t* dst = out + row * out_ld + static_cast<std::int64_t>(blockIdx.x) * k;
  if (total == 0) {
    for (int j = t; j < k; j += kChunkThreads) dst[j] = kEmptyKey;
    return;
  }
  if (total <= kChunkThreads) {
#pragma unroll
    for (int i = 0; i < kChunkItems; ++i) {
      if (keys[i] != kEmptyKey) smem.compact[offset++] = keys[i];
    }
    __syncthreads();
    std::uint64_t one[1] = {t < total ? smem.compact[t] : kEmptyKey};
    __syncthreads();  // the union is reused by the sort
    SortSmall(smem.sort_small).Sort(one);
    if (t < k) dst[t] = one[0];  // blocked arrangement with one item: thread t holds rank t
    for (int j = kChunkThreads + t; j < k; j += kChunkThreads) dst[j] = kEmptyKey;
    return;
  }
  SortLarge(smem.sort_large).SortBlockedToStriped(keys);
#pragma unroll
  for (int i = 0; i < kChunkItems; ++i) {
    const int rank = i * kChunkThreads + t;  // striped arrangement
    if (rank < k) dst[rank] = keys[i];
  }
}

template <class Loader>
int launch_select_chunks(Loader load, std::int64_t rows, std::int64_t len, const std::uint64_t* thresholds,
                         std::int64_t thr_ld, int k, std::uint64_t* out, std::int64_t out_ld, CUstream_st* stream) {
  if (rows <= 0 || len <= 0) return 0;
  if (k < 1 || k > kFastMaxK || rows > kMaxLaunchRows) return static_cast<int>(cudaErrorInvalidValue);
  const std::int64_t chunks = (len + kChunkSize - 1) / kChunkSize;
  if (chunks > 0x7FFFFFFF) return static_cast<int>(cudaErrorInvalidValue);
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
  select_chunks_kernel<<<grid, kChunkThreads, 0, stream>>>(load, len, thresholds, thr_ld, k, out, out_ld);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels::detail
