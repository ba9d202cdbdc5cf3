#pragma once
// Metrics over result lists (validated by host_api/src/eval.cpp; definitions in xmr/eval.h):
// precision@K and NDCG@K with label relevance, recall@K against ground-truth neighbours.

#include <cstdint>
#include <vector>

#include "eval/scan.h"
#include "xmr/matrix_view.h"

namespace xmr::engine::eval {

/// Per-query values and the count of queries with no relevant item in the database.
struct RankedValues {
  std::vector<double> per_query;
  std::int64_t no_relevant = 0;
};

/// `ranked` [Q x L] with ids in [0, N) or trailing -1, no repeats; L >= min(k, N).
RankedValues precision_at_k(const MatrixView<const std::int64_t>& ranked, const PackedLabels& query_labels,
                            const PackedLabels& db_labels, std::int64_t k);

/// As precision_at_k; label words and C from the packed labels.
RankedValues ndcg_at_k(const MatrixView<const std::int64_t>& ranked, const PackedLabels& query_labels,
                       const PackedLabels& db_labels, std::int64_t k);

/// NaN for a query whose ground-truth row is empty. `k` <= L.
std::vector<double> neighbor_recall_at_k(const MatrixView<const std::int64_t>& ranked,
                                         const MatrixView<const std::int64_t>& ground_truth, std::int64_t k);

}  // namespace xmr::engine::eval
