#pragma once
// Exact dense top-k on the CPU: blocked BLAS sgemm plus per-query selection, OpenMP-parallel
// over database blocks, with scratch memory bounded by the Resources budget (independent of N).

#include <cstdint>

#include "dense/storage.h"

namespace xmr {
class Resources;
}

namespace xmr::engine::cpu {

/// `queries` are prepared ([q x dim] dense fp32; for F16 storage, values already rounded to
/// binary16). Writes [q x k] selection keys (select_key.h), best first, to `out_keys`.
void dense_search(const DenseSnapshot& snap, const float* queries, std::int64_t num_queries, std::int64_t k,
                  const Resources& res, std::uint64_t* out_keys);

/// Bytes of scratch the CPU search needs for a tile plan (exposed for tests).
std::int64_t dense_scratch_bytes(std::int64_t query_rows, std::int64_t db_rows, std::int64_t k, std::int64_t dim,
                                 std::int64_t workers);

}  // namespace xmr::engine::cpu
