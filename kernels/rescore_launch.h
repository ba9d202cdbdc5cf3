#pragma once
// Launcher of the exact rescoring kernel (rescore.cu): a plain C++ declaration (no CUDA headers),
// included by engine/gpu. It enqueues on `stream` (last parameter), needs no workspace, never
// allocates, never synchronises, and returns the cudaError_t of the launch as an int (0 =
// success; cudaErrorInvalidValue for arguments outside the documented ranges).
//
// The summation order is part of the contract, shared with the CPU backend (cpu/rescore.cpp):
// element i of a dot product goes to partial sum i % kRescoreLanes, each partial sum adds its
// products in ascending i (double), and the kRescoreLanes partial sums are folded by halving,
// p[l] += p[l + h] for h = kRescoreLanes / 2, ..., 1 and l < h (a warp's shuffle-down tree);
// p[0] is rounded to float once. Every product of two floats is exact in double, so fused or
// separate multiply-adds give the same bits, and both backends return bit-identical scores.

#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// Partial sums per dot product: the lanes of the warp that computes it.
inline constexpr int kRescoreLanes = 32;
/// Threads per block of the rescoring kernel (kRescoreThreads / kRescoreLanes pairs per block).
inline constexpr int kRescoreThreads = 256;

/// Element types of queries and rows.
inline constexpr int kRescoreF32 = 0;  ///< float
inline constexpr int kRescoreF16 = 1;  ///< binary16 bits (widened exactly to float)

/// Exact scores of (query, row) pairs: out[q * num_candidates + j] = <query q, row
/// positions[q * num_candidates + j]>, in the summation order above, or -inf for position -1.
///   queries        device, dense [num_queries x dim], element type `type`.
///   rows           device, row r at rows + r * row_pitch bytes, `dim` elements of type `type`
///                  (row_pitch >= dim * element size, a multiple of the element size).
///   positions      device int64 [num_queries x num_candidates], dense: -1 or a valid row.
///   out            device fp32 [num_queries x num_candidates], dense.
/// Requires dim >= 1, num_queries, num_candidates >= 0 and
/// ceil(num_queries * num_candidates / (kRescoreThreads / kRescoreLanes)) <= 2^31 - 1.
int rescore_pairs(const void* queries, const void* rows, std::int64_t row_pitch, int type, std::int64_t dim,
                  const std::int64_t* positions, std::int64_t num_queries, std::int64_t num_candidates, float* out,
                  CUstream_st* stream);

}  // namespace xmr::kernels
