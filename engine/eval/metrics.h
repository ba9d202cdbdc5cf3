#pragma once
// Retrieval metrics over validated host inputs (host_api/src/eval.cpp validates): average
// precision of one ranking under each variant and tie policy, and the streaming drivers.

#include <cstdint>
#include <span>
#include <vector>

#include "eval/scan.h"
#include "xmr/eval.h"
#include "xmr/matrix_view.h"

namespace xmr::engine::eval {

/// AP of one ranking. `rel` [N]: relevance (0/1) in rank order. `groups`: sizes of the tied
/// groups in rank order (summing to N); ignored unless `average`. `k` >= 1 (unused for All).
double average_precision(std::span<const std::uint8_t> rel, std::span<const std::int64_t> groups,
                         xmr::eval::MapVariant variant, std::int64_t k, bool average);

/// Tie-averaged AP (TiePolicy::Average) from the tied groups alone: `groups` [G] sizes in rank
/// order (summing to N), `relevant` [G] the relevant items in each. Empty groups are allowed.
double average_precision_grouped(std::span<const std::int64_t> groups, std::span<const std::int64_t> relevant,
                                 xmr::eval::MapVariant variant, std::int64_t k);

/// Per-query AP of Hamming rankings (inputs validated, codes dense or strided). One pass per
/// query histograms (distance, relevant) and keeps a 16-bit key per item; the tie-averaged AP
/// needs only the histogram, the stable one walks the keys in index order once more (an item's
/// position is the count of items at smaller distances plus those before it at its distance).
std::vector<double> hamming_ap(const MatrixView<const std::uint8_t>& query_codes,
                               const MatrixView<const std::uint8_t>& db_codes, const PackedLabels& query_labels,
                               const PackedLabels& db_labels, xmr::eval::MapVariant variant, std::int64_t k,
                               bool average);

/// Per-query AP of dense rankings by descending score. `queries` [Q x D] and `db` [N x D] dense
/// floats, already prepared (normalised under cosine).
std::vector<double> dense_ap(const float* queries, std::int64_t q, const float* db, std::int64_t n, std::int64_t dim,
                             const PackedLabels& query_labels, const PackedLabels& db_labels,
                             xmr::eval::MapVariant variant, std::int64_t k, bool average);

/// Recall of the image-text protocol over prepared (normalised, dense) embeddings.
xmr::eval::RetrievalRecall image_text_recall(const float* images, std::int64_t n_images, const float* texts,
                                             std::int64_t n_texts, std::int64_t dim, std::int64_t captions_per_image);

/// PR curve over Hamming radius 0..B (inputs validated; definitions in xmr/eval.h). Queries are
/// histogrammed in parallel in blocks and reduced in query order, so the result is deterministic.
xmr::eval::PrCurve pr_curve_hamming(const MatrixView<const std::uint8_t>& query_codes,
                                    const MatrixView<const std::uint8_t>& db_codes, const PackedLabels& query_labels,
                                    const PackedLabels& db_labels);

}  // namespace xmr::engine::eval
