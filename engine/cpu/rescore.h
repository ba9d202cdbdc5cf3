#pragma once
// Exact scores of given (query, stored row) pairs on the CPU: stage 2 of a shortlist-then-rescore
// pipeline (candidates from a cheaper index re-scored with the stored vectors).

#include <cstdint>

#include "dense/storage.h"

namespace xmr::engine::cpu {

/// For each query q and slot j < num_candidates, out[q * out_ld + j] = <query q, row
/// positions[q * num_candidates + j]>, accumulated in double in the summation order of
/// kernels/rescore_launch.h (32 lane sums folded by halving: the GPU kernel's, so both give the
/// same bits) and rounded to float once; a position of -1 gives -inf. `queries` are prepared ([q x dim] dense fp32;
/// for F16 storage, values already rounded to binary16). Positions are valid (checked by the
/// caller). OpenMP-parallel over queries.
void rescore(const DenseSnapshot& snap, const float* queries, std::int64_t num_queries, const std::int64_t* positions,
             std::int64_t num_candidates, float* out, std::int64_t out_ld);

}  // namespace xmr::engine::cpu
