#pragma once
// The database passes of the exact Hamming top-k (histogram, count, write), templated on the
// device row stride; instantiated per stride in hamming_w4.cu ... hamming_vn.cu, launched through
// the dispatch in hamming.cu (which describes the whole algorithm).
//
// Mapping (all three passes): grid (chunks, ceil(num_queries / kGroup)); block kHammingThreads
// threads. Block (c, y) owns rows [c * chunk_rows, min(rows, (c + 1) * chunk_rows)) and queries
// [y * kGroup, y * kGroup + kGroup), whose codes it keeps in shared memory. It walks its rows in
// tiles of kThreads * kRows rows: thread t takes rows tile + t * kRows + j, j < kRows (kRows = 4,
// 2, 1 for strides 4, 8, >= 16), so thread order within a tile is row order. A thread reads its
// rows once per tile with 16-byte loads (one load covers 4 or 2 rows of 32- or 64-bit codes, or
// one of kVecs vectors of a longer row) and computes their distances to all kGroup queries with
// 32-bit popcounts (query words are shared-memory broadcasts); the write pass, which runs only
// on chunks holding winners, does one query at a time to keep its registers low.
//
// Thread-order invariants the results rely on: rows of a tile are in thread order, tiles and
// chunks ascend, so every rank computed in row order is a rank in id order.
//
// Shared memory: the queries (kGroup x max(1, stride / 16) vectors: at most 4 KiB); histogram
// pass: plus the dynamic histogram (<= kHammingHistBytes); write pass: plus one BlockScan.

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <cub/block/block_scan.cuh>
#include <type_traits>

#include "hamming_launch.h"

namespace xmr::kernels::hamming {

constexpr int kThreads = kHammingThreads;

enum class Pass { Histogram, Count, Write };

/// Everything a database pass reads or writes (unused members are null).
struct PassArgs {
  HammingProblem p;
  std::uint32_t* hist = nullptr;             // histogram (out, +=)
  std::uint32_t* chunk_min_out = nullptr;    // histogram (out)
  const std::uint32_t* chunk_min = nullptr;  // count
  const HammingCut* cuts = nullptr;          // count, write
  std::uint64_t* counts_out = nullptr;       // count (out)
  const std::uint64_t* counts = nullptr;     // write
  const std::uint64_t* offsets = nullptr;    // write
  std::uint32_t kk = 0;                      // write
  std::uint64_t* winners = nullptr;          // write (out)
};

/// kStride: 4, 8, 16, 32, 64, 128, or 0 for any multiple of 16 (the vector count is then a
/// runtime value).
template <int kStride>
struct Shape {
  static constexpr int kRows = kStride == 4 ? 4 : kStride == 8 ? 2 : 1;              // rows per thread and tile
  static constexpr int kVecs = kStride >= 16 ? kStride / 16 : kStride == 0 ? 0 : 1;  // 0: runtime
  static constexpr int kQueryVecs = kStride == 0 ? kHammingMaxVecs : kVecs;          // shared slots per query
  static constexpr int kTileRows = kThreads * kRows;
};

/// Copies the block's queries into shared memory, [kGroup][vecs] vectors; queries past the batch
/// and words past the stride (strides 4 and 8 use the first words of their vector) are zero.
template <int kGroup>
__device__ __forceinline__ void load_queries(const HammingProblem& p, int g0, int gn, int vecs, uint4* s_q) {
  auto* words = reinterpret_cast<std::uint32_t*>(s_q);
  const auto* src = static_cast<const std::uint32_t*>(p.queries);
  const int slot_words = vecs * 4;
  const int query_words = p.stride / 4;
  for (int i = static_cast<int>(threadIdx.x); i < kGroup * slot_words; i += kThreads) {
    const int g = i / slot_words;
    const int w = i - g * slot_words;
    words[i] = g < gn && w < query_words ? src[static_cast<std::int64_t>(g0 + g) * query_words + w] : 0U;
  }
}

__device__ __forceinline__ int popc_xor(uint4 a, uint4 b) {
  return __popc(a.x ^ b.x) + __popc(a.y ^ b.y) + __popc(a.z ^ b.z) + __popc(a.w ^ b.w);
}

/// Distances d[j][g] of rows first + j (j < kRows) to the block's queries. Rows at or past `end`
/// get unspecified values; a load happens only when row `first` is before `end` (the database is
/// readable for 16 bytes past its last row, which covers the other rows of that load).
template <int kStride, int kGroup>
__device__ __forceinline__ void distances(const uint4* __restrict__ db, std::int64_t first, std::int64_t end, int vecs,
                                          const uint4* s_q, int (&d)[Shape<kStride>::kRows][kGroup]) {
  using S = Shape<kStride>;
  const bool live = first < end;
  if constexpr (kStride == 4) {
    const uint4 x = live ? __ldg(db + first / 4) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      const std::uint32_t q = s_q[g].x;
      d[0][g] = __popc(x.x ^ q);
      d[1][g] = __popc(x.y ^ q);
      d[2][g] = __popc(x.z ^ q);
      d[3][g] = __popc(x.w ^ q);
    }
  } else if constexpr (kStride == 8) {
    const uint4 x = live ? __ldg(db + first / 2) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      const uint4 q = s_q[g];
      d[0][g] = __popc(x.x ^ q.x) + __popc(x.y ^ q.y);
      d[1][g] = __popc(x.z ^ q.x) + __popc(x.w ^ q.y);
    }
  } else {
    const int nv = S::kVecs > 0 ? S::kVecs : vecs;
#pragma unroll
    for (int g = 0; g < kGroup; ++g) d[0][g] = 0;
    if (live) {
      const uint4* row = db + first * nv;
      if constexpr (S::kVecs > 0) {
        uint4 x[S::kVecs];  // all loads in flight before the first use
#pragma unroll
        for (int u = 0; u < S::kVecs; ++u) x[u] = __ldg(row + u);
#pragma unroll
        for (int u = 0; u < S::kVecs; ++u) {
#pragma unroll
          for (int g = 0; g < kGroup; ++g) d[0][g] += popc_xor(x[u], s_q[g * S::kVecs + u]);
        }
      } else {
#pragma unroll 2
        for (int u = 0; u < nv; ++u) {
          const uint4 x = __ldg(row + u);
#pragma unroll
          for (int g = 0; g < kGroup; ++g) d[0][g] += popc_xor(x, s_q[g * nv + u]);
        }
      }
    }
  }
}

/// Histogram pass. Dynamic shared memory: [kGroup][bins][copies] counters.
template <int kStride, int kGroup>
__global__ __launch_bounds__(kThreads) void histogram_kernel(const PassArgs a) {
  using S = Shape<kStride>;
  extern __shared__ std::uint32_t s_hist[];
  __shared__ uint4 s_q[kGroup * S::kQueryVecs];
  __shared__ std::uint32_t s_min[kGroup];
  const HammingProblem& p = a.p;
  const int t = static_cast<int>(threadIdx.x);
  const int g0 = static_cast<int>(blockIdx.y) * kGroup;
  const int gn = min(kGroup, p.num_queries - g0);
  const int vecs = S::kVecs > 0 ? S::kVecs : p.stride / 16;
  const int bins = p.bins;
  const int copies = p.copies;

  load_queries<kGroup>(p, g0, gn, vecs, s_q);
  for (int i = t; i < kGroup * bins * copies; i += kThreads) s_hist[i] = 0;
  if (t < kGroup) s_min[t] = UINT_MAX;
  __syncthreads();

  const std::int64_t start = static_cast<std::int64_t>(blockIdx.x) * p.chunk_rows;
  const std::int64_t end = min(p.rows, start + p.chunk_rows);
  const auto* db = static_cast<const uint4*>(p.db);
  const int copy = t & (copies - 1);
  std::uint32_t mins[kGroup];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) mins[g] = UINT_MAX;

  for (std::int64_t tile = start; tile < end; tile += S::kTileRows) {
    const std::int64_t first = tile + static_cast<std::int64_t>(t) * S::kRows;
    int d[S::kRows][kGroup];
    distances<kStride, kGroup>(db, first, end, vecs, s_q, d);
#pragma unroll
    for (int j = 0; j < S::kRows; ++j) {
      if (first + j >= end) break;
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        if (g >= gn) break;
        const int v = d[j][g];
        mins[g] = min(mins[g], static_cast<std::uint32_t>(v));
        if (v < bins) atomicAdd(&s_hist[(g * bins + v) * copies + copy], 1U);
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    const std::uint32_t m = __reduce_min_sync(0xFFFFFFFFU, mins[g]);
    if ((t & 31) == 0 && g < gn) atomicMin(&s_min[g], m);
  }
  __syncthreads();

  // Flush: one global atomic per nonzero (query, bin). Each thread starts its sum of the copies
  // at a different copy, so that a warp's reads spread over the banks.
  for (int i = t; i < gn * bins; i += kThreads) {
    std::uint32_t sum = 0;
    for (int c = 0; c < copies; ++c) sum += s_hist[i * copies + ((c + i) & (copies - 1))];
    if (sum != 0) {
      const int g = i / bins;
      atomicAdd(&a.hist[static_cast<std::int64_t>(g0 + g) * bins + (i - g * bins)], sum);
    }
  }
  if (t < gn) a.chunk_min_out[static_cast<std::int64_t>(g0 + t) * p.chunks + blockIdx.x] = s_min[t];
}

/// Count pass: per (query, chunk), #(d < T) and #(d == T). A query whose chunk minimum exceeds
/// T has no winner here (both counts 0); a block with no such query reads no rows.
template <int kStride, int kGroup>
__global__ __launch_bounds__(kThreads) void count_kernel(const PassArgs a) {
  using S = Shape<kStride>;
  __shared__ uint4 s_q[kGroup * S::kQueryVecs];
  __shared__ std::uint32_t s_lt[kGroup];
  __shared__ std::uint32_t s_eq[kGroup];
  const HammingProblem& p = a.p;
  const int t = static_cast<int>(threadIdx.x);
  const int g0 = static_cast<int>(blockIdx.y) * kGroup;
  const int gn = min(kGroup, p.num_queries - g0);
  const int vecs = S::kVecs > 0 ? S::kVecs : p.stride / 16;
  const std::int64_t c = blockIdx.x;

  bool active[kGroup];
  int thr[kGroup];
  bool any = false;
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    active[g] = false;
    thr[g] = 0;
    if (g < gn) {
      const std::int64_t q = g0 + g;
      thr[g] = static_cast<int>(a.cuts[q].t);
      active[g] = a.chunk_min[q * p.chunks + c] <= a.cuts[q].t;
      any = any || active[g];
    }
  }
  if (!any) {  // the same for every thread of the block
    if (t < gn) a.counts_out[static_cast<std::int64_t>(g0 + t) * p.chunks + c] = 0;
    return;
  }
  load_queries<kGroup>(p, g0, gn, vecs, s_q);
  if (t < kGroup) {
    s_lt[t] = 0;
    s_eq[t] = 0;
  }
  __syncthreads();

  const std::int64_t start = c * p.chunk_rows;
  const std::int64_t end = min(p.rows, start + p.chunk_rows);
  const auto* db = static_cast<const uint4*>(p.db);
  std::uint32_t lt[kGroup];
  std::uint32_t eq[kGroup];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    lt[g] = 0;
    eq[g] = 0;
  }
  for (std::int64_t tile = start; tile < end; tile += S::kTileRows) {
    const std::int64_t first = tile + static_cast<std::int64_t>(t) * S::kRows;
    int d[S::kRows][kGroup];
    distances<kStride, kGroup>(db, first, end, vecs, s_q, d);
#pragma unroll
    for (int j = 0; j < S::kRows; ++j) {
      if (first + j >= end) break;
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        lt[g] += d[j][g] < thr[g] ? 1U : 0U;
        eq[g] += d[j][g] == thr[g] ? 1U : 0U;
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    const std::uint32_t l = __reduce_add_sync(0xFFFFFFFFU, lt[g]);
    const std::uint32_t e = __reduce_add_sync(0xFFFFFFFFU, eq[g]);
    if ((t & 31) == 0 && active[g]) {
      atomicAdd(&s_lt[g], l);
      atomicAdd(&s_eq[g], e);
    }
  }
  __syncthreads();
  if (t < gn) {
    a.counts_out[static_cast<std::int64_t>(g0 + t) * p.chunks + c] =
        (static_cast<std::uint64_t>(s_lt[t]) << 32) | s_eq[t];  // inactive queries: 0
  }
}

/// Write pass: the winners of each query in this chunk, at their rank among the query's winners
/// in row order: rank = #(d < T before it) + min(#(d == T before it), m). Ranks within a tile come
/// from a BlockScan of packed flags (lt << 16 | eq; a tile has at most 1024 rows); the ranks of
/// earlier chunks and tiles from the scanned counts and the running totals. A query is dropped
/// from the block once all its winners of the chunk are written; the block stops when none is
/// left (or never starts when the chunk holds no winner).
template <int kStride, int kGroup>
__global__ __launch_bounds__(kThreads) void write_kernel(const PassArgs a) {
  using S = Shape<kStride>;
  using Scan = cub::BlockScan<std::uint32_t, kThreads>;
  static_assert(S::kTileRows < (1 << 16), "tile ranks are packed in 16 bits");
  __shared__ typename Scan::TempStorage s_scan;
  __shared__ uint4 s_q[kGroup * S::kQueryVecs];
  const HammingProblem& p = a.p;
  const int t = static_cast<int>(threadIdx.x);
  const int g0 = static_cast<int>(blockIdx.y) * kGroup;
  const int gn = min(kGroup, p.num_queries - g0);
  const int vecs = S::kVecs > 0 ? S::kVecs : p.stride / 16;
  const std::int64_t c = blockIdx.x;

  // Per query (identical in every thread): T, m, running ranks, and where this chunk's winners end.
  int thr[kGroup];
  std::uint32_t take_eq[kGroup];  // m
  std::uint32_t lt_run[kGroup];
  std::uint32_t eq_run[kGroup];
  std::uint32_t lt_end[kGroup];
  std::uint32_t eq_end[kGroup];  // min(ties up to the end of this chunk, m)
  bool active[kGroup];
  bool any = false;
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    thr[g] = 0;
    take_eq[g] = lt_run[g] = eq_run[g] = lt_end[g] = eq_end[g] = 0;
    active[g] = false;
    if (g < gn) {
      const std::int64_t q = g0 + g;
      const HammingCut cut = a.cuts[q];
      const std::uint64_t cnt = a.counts[q * p.chunks + c];
      const std::uint64_t off = a.offsets[q * p.chunks + c];
      thr[g] = static_cast<int>(cut.t);
      take_eq[g] = cut.m;
      lt_run[g] = static_cast<std::uint32_t>(off >> 32);
      eq_run[g] = static_cast<std::uint32_t>(off);
      lt_end[g] = lt_run[g] + static_cast<std::uint32_t>(cnt >> 32);
      eq_end[g] = min(eq_run[g] + static_cast<std::uint32_t>(cnt), cut.m);
      active[g] = lt_run[g] < lt_end[g] || eq_run[g] < eq_end[g];
      any = any || active[g];
    }
  }
  if (!any) return;  // the same for every thread of the block
  load_queries<kGroup>(p, g0, gn, vecs, s_q);
  __syncthreads();

  const std::int64_t start = c * p.chunk_rows;
  const std::int64_t end = min(p.rows, start + p.chunk_rows);
  const auto* db = static_cast<const uint4*>(p.db);
  for (std::int64_t tile = start; tile < end && any; tile += S::kTileRows) {
    const std::int64_t first = tile + static_cast<std::int64_t>(t) * S::kRows;
    any = false;
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (!active[g]) continue;  // uniform: the BlockScan below is reached by all threads or none
      // One query at a time keeps registers low; the rows' reloads hit L1.
      int d[S::kRows][1];
      distances<kStride, 1>(db, first, end, vecs, s_q + g * vecs, d);
      std::uint32_t flags[S::kRows];
      std::uint32_t ranks[S::kRows];
#pragma unroll
      for (int j = 0; j < S::kRows; ++j) {
        const bool valid = first + j < end;
        flags[j] = valid ? ((d[j][0] < thr[g] ? 1U << 16 : 0U) | (d[j][0] == thr[g] ? 1U : 0U)) : 0U;
      }
      std::uint32_t total = 0;
      Scan(s_scan).ExclusiveSum(flags, ranks, total);
#pragma unroll
      for (int j = 0; j < S::kRows; ++j) {
        if (flags[j] == 0) continue;
        const std::uint32_t lt_before = lt_run[g] + (ranks[j] >> 16);
        const std::uint32_t eq_before = eq_run[g] + (ranks[j] & 0xFFFFU);
        if ((flags[j] >> 16) != 0 || eq_before < take_eq[g]) {
          const std::uint32_t slot = lt_before + min(eq_before, take_eq[g]);
          a.winners[static_cast<std::int64_t>(g0 + g) * a.kk + slot] =
              (static_cast<std::uint64_t>(d[j][0]) << 32) | static_cast<std::uint32_t>(first + j);
        }
      }
      lt_run[g] += total >> 16;
      eq_run[g] += total & 0xFFFFU;
      active[g] = lt_run[g] < lt_end[g] || eq_run[g] < eq_end[g];
      any = any || active[g];
      __syncthreads();  // s_scan is reused by the next query or tile
    }
  }
}

template <Pass kPass, int kStride, int kGroup>
int launch_pass(const PassArgs& a, CUstream_st* stream) {
  const dim3 grid(static_cast<unsigned>(a.p.chunks), static_cast<unsigned>((a.p.num_queries + kGroup - 1) / kGroup));
  if constexpr (kPass == Pass::Histogram) {
    const std::size_t smem = static_cast<std::size_t>(kGroup) * static_cast<std::size_t>(a.p.bins) *
                             static_cast<std::size_t>(a.p.copies) * sizeof(std::uint32_t);
    histogram_kernel<kStride, kGroup><<<grid, kThreads, smem, stream>>>(a);
  } else if constexpr (kPass == Pass::Count) {
    count_kernel<kStride, kGroup><<<grid, kThreads, 0, stream>>>(a);
  } else {
    write_kernel<kStride, kGroup><<<grid, kThreads, 0, stream>>>(a);
  }
  return static_cast<int>(cudaGetLastError());
}

/// The pass for one stride, dispatched on the query group (validated by the caller: 1 or 8, and
/// 2 for the generic stride only).
template <int kStride>
int run_pass(Pass pass, const PassArgs& a, CUstream_st* stream) {
  const auto go = [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    switch (pass) {
      case Pass::Histogram: return launch_pass<Pass::Histogram, kStride, kGroup>(a, stream);
      case Pass::Count: return launch_pass<Pass::Count, kStride, kGroup>(a, stream);
      case Pass::Write: return launch_pass<Pass::Write, kStride, kGroup>(a, stream);
    }
    return static_cast<int>(cudaErrorInvalidValue);
  };
  switch (a.p.group) {
    case 1: return go(std::integral_constant<int, 1>{});
    case 8: return go(std::integral_constant<int, 8>{});
    case 2:
      if constexpr (kStride == 0) return go(std::integral_constant<int, 2>{});
      break;
    default: break;
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace xmr::kernels::hamming
