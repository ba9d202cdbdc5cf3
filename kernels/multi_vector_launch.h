#pragma once
// Launcher of the multi-vector reduction kernel (multi_vector_reduce.cu): a plain C++ declaration
// (no CUDA headers), included by engine/gpu. It enqueues on `stream` (last parameter), never
// allocates, never synchronises, and returns the cudaError_t of the launch as an int (0 = success;
// cudaErrorInvalidValue for arguments outside the documented ranges).

#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// Threads per block of the reduction (one thread per (query, item) pair).
inline constexpr int kMultiVectorReduceThreads = 256;

/// How per-vector similarities reduce to one (query, item) score; the values of
/// xmr::MultiVectorReduce.
inline constexpr int kReduceMaxSim = 0;
inline constexpr int kReduceSumMaxSim = 1;

/// Reduces one GEMM tile of vector similarities to (query, item) scores.
///   scores        device fp32, row-major [query_offsets[queries] x ld]: scores[r * ld + c] is
///                 the similarity of query vector r and item vector c of the tile.
///   query_offsets device int32 [queries + 1]: query q owns rows [query_offsets[q],
///                 query_offsets[q + 1]); query_offsets[0] = 0, strictly increasing.
///   item_offsets  device int32 [items + 1]: item i owns columns [item_offsets[i] - item_offsets[0],
///                 item_offsets[i + 1] - item_offsets[0]), strictly increasing.
///   reduce        kReduceMaxSim: max over the query's rows and the item's columns;
///                 kReduceSumMaxSim: sum over the query's rows (fp32, ascending row order) of the
///                 max over the item's columns.
///   out           device fp32: out[q * out_ld + i], q < queries, i < items.
/// Requires 1 <= queries <= 65535, items >= 0. A NaN similarity makes its pair's score NaN.
int multi_vector_reduce(const float* scores, std::int64_t ld, const int* query_offsets, std::int64_t queries,
                        const int* item_offsets, std::int64_t items, int reduce, float* out, std::int64_t out_ld,
                        CUstream_st* stream);

}  // namespace xmr::kernels
