// mAP of dense rankings on the GPU (eval_launch.h: eval_dense_prepare, eval_dense_sort_workspace,
// eval_dense_sort, eval_dense_ap): one stable segmented sort per tile of queries, then a scan of
// each query's relevance flags in rank order. (Hamming codes: eval_hamming.cu.)
//
// Mapping: (1) dense_prepare_kernel, a thread per (query, item) element e = r * N + i of the tile
// (64-bit e), turns the GEMM's fp32 score into a 32-bit key in place and writes the relevance
// byte (AND of the label words); (2) cub::DeviceSegmentedRadixSort sorts each query's (key,
// relevance) pairs, segment r = [r * N, (r + 1) * N) (int32 offsets: the tile holds at most
// kEvalMaxItems elements); (3) dense_ap_kernel, a block of kApThreads per query, counts R, then
// scans the sorted flags in tiles of kApThreads x kApItems (blocked arrangement) with a
// BlockScan, which gives each relevant position p its relevant rank c; items with p <= window and
// c <= cap (eval_limits) add c / p to a per-thread double sum, reduced by BlockReduce (a fixed
// order: the same AP on every run). The tile loop stops at the window or once cap relevant items
// are counted; its trip count is block-uniform (the BlockScan aggregate reaches every thread), so
// its __syncthreads is reached by all.
// Ties: the keys' ascending order is descending score, and the radix sort is stable (CUB's
// segmented radix sort shares DeviceRadixSort's stable implementation) on segments laid out in
// item order, so equal scores keep ascending item index. -0.0 is folded into +0.0 (equal
// scores, one key) by score_bits.
// NaN: ranked as -inf (ties with -inf by index), as engine::eval's rank_descending does.
// Shared memory: CUB's BlockScan / BlockReduce temp storage (1.2 KiB static); CUB's temp storage
// for the sort comes from the caller (eval_dense_sort_workspace).
// Ranges: rows x N <= kEvalMaxItems per tile, rows <= 2^31 - 1 blocks; labels of any width; any
// k >= 1.
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <cub/util_type.cuh>

#include "eval_launch.h"
#include "select_key.h"

namespace xmr::kernels {
namespace {

constexpr std::int64_t kMaxGridX = 0x7FFFFFFF;
constexpr int kPrepareThreads = 256;
constexpr int kApThreads = 256;
constexpr int kApItems = 4;  // consecutive flags per thread and tile

__device__ __forceinline__ bool shares_label(const std::uint64_t* __restrict__ a, const std::uint64_t* __restrict__ b,
                                             std::int64_t words) {
  for (std::int64_t w = 0; w < words; ++w)
    if ((__ldg(a + w) & __ldg(b + w)) != 0) return true;
  return false;
}

__global__ __launch_bounds__(kPrepareThreads) void dense_prepare_kernel(
    std::uint32_t* __restrict__ keys, std::uint8_t* __restrict__ rel, std::int64_t items, std::int64_t n,
    const std::uint64_t* __restrict__ query_labels, const std::uint64_t* __restrict__ db_labels, std::int64_t words) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kPrepareThreads + threadIdx.x;
  if (e >= items) return;
  float s = __uint_as_float(keys[e]);
  if (s != s) s = -__int_as_float(0x7f800000);  // NaN ranks as -inf (ties with it by index)
  keys[e] = score_bits(s);                      // folds -0.0 into +0.0
  const std::int64_t r = e / n;
  const std::int64_t i = e - r * n;
  rel[e] = shares_label(query_labels + r * words, db_labels + i * words, words) ? 1 : 0;
}

__global__ __launch_bounds__(kApThreads) void dense_ap_kernel(const std::uint8_t* __restrict__ sorted_rel,
                                                              std::int64_t n, int variant, long long k,
                                                              double* __restrict__ out_ap) {
  using Scan = cub::BlockScan<int, kApThreads>;
  using SumD = cub::BlockReduce<double, kApThreads>;
  using SumL = cub::BlockReduce<long long, kApThreads>;
  __shared__ union {
    typename Scan::TempStorage scan;
    typename SumD::TempStorage sum_d;
    typename SumL::TempStorage sum_l;
  } tmp;
  __shared__ long long s_relevant;

  const int t = static_cast<int>(threadIdx.x);
  const std::uint8_t* row = sorted_rel + static_cast<std::int64_t>(blockIdx.x) * n;

  long long mine = 0;
  for (std::int64_t j = t; j < n; j += kApThreads) mine += row[j];
  const long long relevant = SumL(tmp.sum_l).Sum(mine);  // valid in thread 0
  if (t == 0) s_relevant = relevant;
  __syncthreads();

  const EvalLimits lim = eval_limits(variant, k, n, s_relevant);
  constexpr int kTile = kApThreads * kApItems;
  double sum = 0.0;
  long long count = 0;
  long long carry = 0;  // relevant items before the tile; the same in every thread
  for (std::int64_t base = 0; base < lim.window && carry < lim.cap; base += kTile) {
    const std::int64_t first = base + static_cast<std::int64_t>(t) * kApItems;
    int flag[kApItems];
    int before[kApItems];
#pragma unroll
    for (int u = 0; u < kApItems; ++u) flag[u] = first + u < n ? row[first + u] : 0;
    int tile_relevant = 0;
    Scan(tmp.scan).ExclusiveSum(flag, before, tile_relevant);
#pragma unroll
    for (int u = 0; u < kApItems; ++u) {
      if (flag[u] == 0) continue;
      const long long pos = first + u + 1;
      const long long c = carry + before[u] + 1;
      if (pos <= lim.window && c <= lim.cap) {
        sum += static_cast<double>(c) / static_cast<double>(pos);
        ++count;
      }
    }
    carry += tile_relevant;
    __syncthreads();  // the next tile's scan reuses tmp
  }
  const double total_sum = SumD(tmp.sum_d).Sum(sum);
  __syncthreads();
  const long long total_count = SumL(tmp.sum_l).Sum(count);
  if (t == 0) out_ap[blockIdx.x] = total_count == 0 ? 0.0 : total_sum / static_cast<double>(total_count);
}

}  // namespace

int eval_dense_prepare(std::uint32_t* keys, std::uint8_t* rel, std::int64_t rows, std::int64_t num_items,
                       const std::uint64_t* query_labels, const std::uint64_t* db_labels, std::int64_t label_words,
                       CUstream_st* stream) {
  if (rows < 1 || num_items < 1 || label_words < 1 || rows > kEvalMaxItems / num_items) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  const std::int64_t items = rows * num_items;
  const std::int64_t blocks = (items + kPrepareThreads - 1) / kPrepareThreads;
  dense_prepare_kernel<<<static_cast<unsigned>(blocks), kPrepareThreads, 0, stream>>>(
      keys, rel, items, num_items, query_labels, db_labels, label_words);
  return static_cast<int>(cudaGetLastError());
}

int eval_dense_sort_workspace(std::int64_t rows, std::int64_t num_items, std::size_t* bytes) {
  if (rows < 1 || num_items < 1 || rows > kEvalMaxItems / num_items) return static_cast<int>(cudaErrorInvalidValue);
  cub::DoubleBuffer<std::uint32_t> keys(nullptr, nullptr);
  cub::DoubleBuffer<std::uint8_t> rel(nullptr, nullptr);
  *bytes = 0;
  return static_cast<int>(cub::DeviceSegmentedRadixSort::SortPairs(
      nullptr, *bytes, keys, rel, static_cast<int>(rows * num_items), static_cast<int>(rows),
      static_cast<const int*>(nullptr), static_cast<const int*>(nullptr), 0, 32));
}

int eval_dense_sort(std::uint32_t* keys, std::uint32_t* keys_alt, std::uint8_t* rel, std::uint8_t* rel_alt,
                    std::int64_t rows, std::int64_t num_items, const int* offsets, void* workspace,
                    std::size_t workspace_bytes, std::uint8_t** sorted_rel, CUstream_st* stream) {
  if (rows < 1 || num_items < 1 || rows > kEvalMaxItems / num_items || sorted_rel == nullptr) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  cub::DoubleBuffer<std::uint32_t> key_buf(keys, keys_alt);
  cub::DoubleBuffer<std::uint8_t> rel_buf(rel, rel_alt);
  std::size_t bytes = workspace_bytes;
  const cudaError_t e =
      cub::DeviceSegmentedRadixSort::SortPairs(workspace, bytes, key_buf, rel_buf, static_cast<int>(rows * num_items),
                                               static_cast<int>(rows), offsets, offsets + 1, 0, 32, stream);
  if (e != cudaSuccess) return static_cast<int>(e);
  *sorted_rel = rel_buf.Current();
  return static_cast<int>(cudaGetLastError());
}

int eval_dense_ap(const std::uint8_t* sorted_rel, std::int64_t rows, std::int64_t num_items, int variant,
                  std::int64_t k, double* out_ap, CUstream_st* stream) {
  if (rows < 1 || rows > kMaxGridX || num_items < 1 || !eval_valid_variant(variant, k)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  dense_ap_kernel<<<static_cast<unsigned>(rows), kApThreads, 0, stream>>>(sorted_rel, num_items, variant, k, out_ap);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
