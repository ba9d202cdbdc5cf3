#pragma once
// Exact multi-vector (late-interaction) top-k and rescoring on the CPU.
//
// Tiling: a query tile holds whole queries (at most Resources::max_query_rows() queries when
// that cap is set, and at most the planned number of query vectors); an item tile holds whole
// items, at most the planned number of item vectors (Resources::max_db_rows() caps the item
// VECTORS per tile), but always at least one item, so an item with more vectors than the cap gets
// a tile of its own. Per (query tile, item tile): one BLAS sgemm of all query vectors against all
// item vectors, the segmented max per (query vector, item) and the reduction per (query, item)
// (max, or a fp32 sum in ascending query-vector order), pushed into the query's running top-k with
// the item position as the key position. Threads take item tiles round-robin; scratch is bounded
// by the Resources budget and independent of the index size.
//
// NaN: a NaN similarity makes the score of its (query, item) pair NaN (ranks last), whatever the
// order the maxima are taken in; a sum of +inf and -inf maxima is NaN too.

#include <cstdint>

#include "multi_vector/storage.h"
#include "xmr/multi_vector_index.h"

namespace xmr {
class Resources;
}

namespace xmr::engine::cpu {

/// `queries`: prepared fp32 vectors, dense [query_offsets[num_queries] x dim]; query q owns rows
/// [query_offsets[q], query_offsets[q + 1]) (strictly increasing, query_offsets[0] = 0).
/// `k` <= snap.size. Writes [num_queries x k] selection keys (select_key.h; the position is the
/// item position in `snap`), best first, to `out_keys`. Throws OutOfMemory when one query and one
/// item do not fit the workspace budget.
void multi_vector_search(const MultiVectorSnapshot& snap, const float* queries, const std::int64_t* query_offsets,
                         std::int64_t num_queries, std::int64_t k, MultiVectorReduce reduce, const Resources& res,
                         std::uint64_t* out_keys);

/// Bytes of CPU scratch for a tile of `query_vectors` x `item_vectors` (exposed for tests).
std::int64_t multi_vector_scratch_bytes(std::int64_t query_vectors, std::int64_t item_vectors, std::int64_t k,
                                        std::int64_t dim, std::int64_t workers);

/// For each query q and slot j < num_candidates, out[q * out_ld + j] = the reduced score of query
/// q against item positions[q * num_candidates + j], every dot product and the reduction in
/// double, rounded to float once; a position of -1 gives -inf. Inputs as multi_vector_search;
/// positions are valid (checked by the caller). OpenMP-parallel over queries.
void multi_vector_rescore(const MultiVectorSnapshot& snap, const float* queries, const std::int64_t* query_offsets,
                          std::int64_t num_queries, const std::int64_t* positions, std::int64_t num_candidates,
                          MultiVectorReduce reduce, float* out, std::int64_t out_ld);

}  // namespace xmr::engine::cpu
