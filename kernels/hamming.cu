// Exact Hamming top-k by counting selection: no comparison sort anywhere.
//
// Per batch of queries, with kk = min(k, rows) and bins = min(max_distance, bits) + 1:
//  1. histogram (hamming_kernels.cuh): every distance d <= bins - 1 is counted in a per-block
//     shared histogram per query, flushed with atomics into a global [queries x bins] histogram;
//     each (query, chunk) also records its minimum distance.
//  2. cut (here; one block per query): an exclusive scan of the histogram finds the k-th distance
//     T (the smallest T whose cumulative count reaches kk; bins - 1 when fewer than kk distances
//     are counted) and m, the number of rows at T to take; the histogram becomes its exclusive
//     prefix sums, which are the counting sort's cursors.
//  3. count: per (query, chunk), #(d < T) and #(d == T), packed in 64 bits; a chunk whose minimum
//     exceeds T is not read again.
//  4. scan (here; one block per query): exclusive prefix sums of the packed counts over chunks.
//  5. write: the winners (every row with d < T and the first m rows with d == T, in row order) go
//     to their rank in row order, from the scanned counts plus block-local BlockScan ranks; only
//     chunks holding winners are read.
//  6. sort (here; one warp per query): a stable counting sort by distance of the winners (in row
//     order) with cursors from step 2; __match_any_sync ranks equal distances within a warp step.
// Result per query: the winners by ascending (distance, row), then INT32_MAX / UINT32_MAX. Rows
// are in ascending id order, so ties are by ascending id, exactly as on the CPU.
//
// Memory per batch (the caller's workspace): histogram and cursors [q x bins] u32, cuts [q],
// chunk minima [q x chunks] u32, counts and offsets [q x chunks] u64, winners [q x kk] u64 and the
// results [q x kk] (i32 + u32): no scratch grows with the database beyond the chunk arrays.
#include <cuda_runtime.h>

#include <climits>
#include <cub/block/block_scan.cuh>

#include "hamming_kernels.cuh"
#include "hamming_launch.h"

namespace xmr::kernels {
namespace hamming {

// The database passes are instantiated per stride in hamming_w4.cu ... hamming_vn.cu.
extern template int run_pass<4>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<8>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<16>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<32>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<64>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<128>(Pass, const PassArgs&, CUstream_st*);
extern template int run_pass<0>(Pass, const PassArgs&, CUstream_st*);

namespace {

constexpr int kCutThreads = 256;
constexpr int kScanThreads = 256;
constexpr int kScanItems = 4;

/// One block per query; bins <= 4097, so at most 17 block-wide steps.
__global__ __launch_bounds__(kCutThreads) void cut_kernel(std::uint32_t* hist, int bins, std::uint32_t kk,
                                                          HammingCut* cuts) {
  using Scan = cub::BlockScan<std::uint32_t, kCutThreads>;
  __shared__ typename Scan::TempStorage s_scan;
  __shared__ std::uint32_t s_last[2];  // prefix and count of the last bin
  const int t = static_cast<int>(threadIdx.x);
  std::uint32_t* h = hist + static_cast<std::int64_t>(blockIdx.x) * bins;
  HammingCut* cut = cuts + blockIdx.x;
  std::uint32_t running = 0;  // counts are at most rows < 2^32
  for (int base = 0; base < bins; base += kCutThreads) {
    const int b = base + t;
    const std::uint32_t v = b < bins ? h[b] : 0U;
    std::uint32_t excl = 0;
    std::uint32_t total = 0;
    Scan(s_scan).ExclusiveSum(v, excl, total);
    excl += running;
    if (b < bins) {
      h[b] = excl;
      // Exactly one bin satisfies excl < kk <= excl + v when the total reaches kk.
      if (excl < kk && kk - excl <= v) {
        cut->t = static_cast<std::uint32_t>(b);
        cut->m = kk - excl;
        cut->lt = excl;
      }
      if (b == bins - 1) {
        s_last[0] = excl;
        s_last[1] = v;
      }
    }
    running += total;
    __syncthreads();  // s_scan is reused; s_last is read below
  }
  if (t == 0) {
    cut->within = running;
    if (running < kk) {  // fewer than kk within range: take all of them
      cut->t = static_cast<std::uint32_t>(bins - 1);
      cut->m = s_last[1];
      cut->lt = s_last[0];
    }
  }
}

/// One block per query: exclusive sums of the packed (lt << 32 | eq) counts over the chunks
/// (neither half can carry: each totals at most rows < 2^32).
__global__ __launch_bounds__(kScanThreads) void scan_kernel(const std::uint64_t* counts, std::int64_t chunks,
                                                            std::uint64_t* offsets) {
  using Scan = cub::BlockScan<std::uint64_t, kScanThreads>;
  __shared__ typename Scan::TempStorage s_scan;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * chunks;
  const int t = static_cast<int>(threadIdx.x);
  std::uint64_t running = 0;
  for (std::int64_t base = 0; base < chunks; base += kScanThreads * kScanItems) {
    std::uint64_t v[kScanItems];
    std::uint64_t ex[kScanItems];
#pragma unroll
    for (int j = 0; j < kScanItems; ++j) {
      const std::int64_t i = base + t * kScanItems + j;
      v[j] = i < chunks ? counts[row + i] : 0ULL;
    }
    std::uint64_t total = 0;
    Scan(s_scan).ExclusiveSum(v, ex, total);
#pragma unroll
    for (int j = 0; j < kScanItems; ++j) {
      const std::int64_t i = base + t * kScanItems + j;
      if (i < chunks) offsets[row + i] = running + ex[j];
    }
    running += total;
    __syncthreads();  // s_scan is reused
  }
}

/// One warp per query. The winners arrive in row order; 32 at a time, each goes to
/// cursor[d] + (its rank among the lanes with the same d), then the highest such lane advances
/// cursor[d]. Dynamic shared memory: the cursors [bins].
__global__ __launch_bounds__(32) void sort_kernel(const std::uint64_t* winners, const std::uint32_t* cursors,
                                                  const HammingCut* cuts, int bins, std::uint32_t kk,
                                                  std::int32_t* out_dist, std::uint32_t* out_pos) {
  extern __shared__ std::uint32_t s_cur[];
  const unsigned lane = threadIdx.x;
  const std::int64_t q = blockIdx.x;
  const HammingCut cut = cuts[q];
  const std::int64_t take = static_cast<std::int64_t>(cut.lt) + cut.m;  // <= kk
  for (std::int64_t b = lane; b <= cut.t; b += 32) s_cur[b] = cursors[q * bins + b];
  __syncwarp();
  const std::uint64_t* w = winners + q * kk;
  std::int32_t* od = out_dist + q * kk;
  std::uint32_t* op = out_pos + q * kk;
  const unsigned below = (1U << lane) - 1U;
  for (std::int64_t i0 = 0; i0 < take; i0 += 32) {
    const std::int64_t i = i0 + lane;
    const bool valid = i < take;
    const std::uint64_t item = valid ? w[i] : 0ULL;
    const auto d = valid ? static_cast<std::uint32_t>(item >> 32) : UINT_MAX;
    const unsigned peers = __match_any_sync(0xFFFFFFFFU, d);
    std::uint32_t base = 0;
    if (valid) {
      base = s_cur[d];
      const std::uint32_t slot = base + static_cast<std::uint32_t>(__popc(peers & below));
      od[slot] = static_cast<std::int32_t>(d);
      op[slot] = static_cast<std::uint32_t>(item);
    }
    __syncwarp();  // every lane has read its cursor
    if (valid && lane == 31U - static_cast<unsigned>(__clz(static_cast<int>(peers)))) {
      s_cur[d] = base + static_cast<std::uint32_t>(__popc(peers));
    }
    __syncwarp();  // cursor updates are visible to the next step
  }
  for (std::int64_t i = take + lane; i < kk; i += 32) {
    od[i] = INT_MAX;
    op[i] = UINT_MAX;
  }
}

bool valid_stride(int stride) {
  return stride == 4 || stride == 8 || (stride >= 16 && stride <= kHammingMaxCodeBytes && stride % 16 == 0);
}

bool valid_problem(const HammingProblem& p) {
  if (p.db == nullptr || p.queries == nullptr || !valid_stride(p.stride)) return false;
  if (p.rows < 1 || p.rows > std::int64_t{UINT_MAX} - 1) return false;
  if (p.num_queries < 1 || p.num_queries > kHammingMaxQueries) return false;
  if (p.group != 1 && p.group != 8 && !(p.group == 2 && !hamming_tuned_stride(p.stride))) return false;
  if (p.bins < 1 || p.bins > p.stride * 8 + 1) return false;
  if (p.copies < 1 || p.copies > 32 || (p.copies & (p.copies - 1)) != 0) return false;
  if (std::int64_t{p.group} * p.bins * p.copies * 4 > kHammingHistBytes) return false;
  const std::int64_t tile = hamming_tile_rows(p.stride);
  if (p.chunk_rows < tile || p.chunk_rows % tile != 0) return false;
  return p.chunks == (p.rows + p.chunk_rows - 1) / p.chunk_rows && p.chunks <= kHammingMaxChunks;
}

int dispatch(Pass pass, const PassArgs& a, CUstream_st* stream) {
  if (!valid_problem(a.p)) return static_cast<int>(cudaErrorInvalidValue);
  switch (a.p.stride) {
    case 4: return run_pass<4>(pass, a, stream);
    case 8: return run_pass<8>(pass, a, stream);
    case 16: return run_pass<16>(pass, a, stream);
    case 32: return run_pass<32>(pass, a, stream);
    case 64: return run_pass<64>(pass, a, stream);
    case 128: return run_pass<128>(pass, a, stream);
    default: return run_pass<0>(pass, a, stream);
  }
}

}  // namespace
}  // namespace hamming

int hamming_histogram(const HammingProblem& p, std::uint32_t* hist, std::uint32_t* chunk_min, CUstream_st* stream) {
  if (hist == nullptr || chunk_min == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  hamming::PassArgs a;
  a.p = p;
  a.hist = hist;
  a.chunk_min_out = chunk_min;
  return hamming::dispatch(hamming::Pass::Histogram, a, stream);
}

int hamming_cut(std::uint32_t* hist, int num_queries, int bins, std::uint32_t kk, HammingCut* cuts,
                CUstream_st* stream) {
  if (hist == nullptr || cuts == nullptr || num_queries < 1 || bins < 1 || bins > kHammingMaxCodeBytes * 8 + 1 ||
      kk < 1) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  hamming::cut_kernel<<<static_cast<unsigned>(num_queries), hamming::kCutThreads, 0, stream>>>(hist, bins, kk, cuts);
  return static_cast<int>(cudaGetLastError());
}

int hamming_count(const HammingProblem& p, const std::uint32_t* chunk_min, const HammingCut* cuts,
                  std::uint64_t* counts, CUstream_st* stream) {
  if (chunk_min == nullptr || cuts == nullptr || counts == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  hamming::PassArgs a;
  a.p = p;
  a.cuts = cuts;
  a.chunk_min = chunk_min;
  a.counts_out = counts;
  return hamming::dispatch(hamming::Pass::Count, a, stream);
}

int hamming_scan(const std::uint64_t* counts, int num_queries, std::int64_t chunks, std::uint64_t* offsets,
                 CUstream_st* stream) {
  if (counts == nullptr || offsets == nullptr || num_queries < 1 || chunks < 1 || chunks > kHammingMaxChunks) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  hamming::scan_kernel<<<static_cast<unsigned>(num_queries), hamming::kScanThreads, 0, stream>>>(counts, chunks,
                                                                                                 offsets);
  return static_cast<int>(cudaGetLastError());
}

int hamming_write(const HammingProblem& p, const HammingCut* cuts, const std::uint64_t* counts,
                  const std::uint64_t* offsets, std::uint32_t kk, std::uint64_t* winners, CUstream_st* stream) {
  if (cuts == nullptr || counts == nullptr || offsets == nullptr || winners == nullptr || kk < 1 ||
      kk > static_cast<std::uint64_t>(p.rows)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  hamming::PassArgs a;
  a.p = p;
  a.cuts = cuts;
  a.counts = counts;
  a.offsets = offsets;
  a.kk = kk;
  a.winners = winners;
  return hamming::dispatch(hamming::Pass::Write, a, stream);
}

int hamming_sort(const std::uint64_t* winners, const std::uint32_t* cursors, const HammingCut* cuts, int num_queries,
                 int bins, std::uint32_t kk, std::int32_t* out_dist, std::uint32_t* out_pos, CUstream_st* stream) {
  if (winners == nullptr || cursors == nullptr || cuts == nullptr || out_dist == nullptr || out_pos == nullptr ||
      num_queries < 1 || bins < 1 || bins > kHammingMaxCodeBytes * 8 + 1 || kk < 1) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  const std::size_t smem = static_cast<std::size_t>(bins) * sizeof(std::uint32_t);
  hamming::sort_kernel<<<static_cast<unsigned>(num_queries), 32, smem, stream>>>(winners, cursors, cuts, bins, kk,
                                                                                 out_dist, out_pos);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace xmr::kernels
