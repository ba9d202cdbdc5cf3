#pragma once
// Retrieval metrics over validated host inputs (host_api/src/eval.cpp validates): average
// precision of one ranking under each variant and tie policy, and the streaming drivers.

#include <cstdint>
#include <span>
#include <vector>

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

/// Multi-hot labels packed into 64-bit words per row, for "shares a label" tests.
struct PackedLabels {
  std::int64_t rows = 0;
  std::int64_t words = 0;
  std::vector<std::uint64_t> bits;  // [rows x words]
  [[nodiscard]] const std::uint64_t* row(std::int64_t r) const { return bits.data() + r * words; }
};
PackedLabels pack_labels(const MatrixView<const std::uint8_t>& labels);

/// Per-query AP of Hamming rankings (inputs validated, codes dense or strided).
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

}  // namespace xmr::engine::eval
