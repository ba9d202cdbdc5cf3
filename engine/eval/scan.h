#pragma once
// Streaming scans of one query against every database row for the metrics: Hamming distance and
// "shares a label" per row (mAP, PR curve), and label-overlap gains (NDCG). Codes and labels are
// packed into zero-padded 64-bit words once; the kernels use the popcnt instruction and are
// specialised for one and two code words (64- and 128-bit codes) and one label word (<= 64
// labels), picked once per call.

#include <cstdint>
#include <vector>

#include "xmr/matrix_view.h"

namespace xmr::engine::eval {

/// Bit rows packed into 64-bit words, zero-padded: for "shares a label" / overlap tests (labels,
/// one bit per class) and Hamming distances (codes, byte j of a row in word j / 8).
struct PackedLabels {
  std::int64_t rows = 0;
  std::int64_t words = 0;
  std::vector<std::uint64_t> bits;  // [rows x words]
  [[nodiscard]] const std::uint64_t* row(std::int64_t r) const { return bits.data() + r * words; }
};
using PackedCodes = PackedLabels;

/// Multi-hot labels [rows x C] (values 0/1, validated) packed one bit per class.
PackedLabels pack_labels(const MatrixView<const std::uint8_t>& labels);

/// Packed codes [rows x b] (b bytes) copied into zero-padded 64-bit words.
PackedCodes pack_codes(const MatrixView<const std::uint8_t>& codes);

/// Counts for one query over every database row i: key(i) = 2 * hamming(query, db_i) +
/// (1 if the labels share a class, else 0). Adds 1 to hist[key(i)] for every row (`hist` has
/// 2 * (8 * code bytes + 1) entries; it is not cleared) and, when `keys` is not null, stores
/// keys[i] = key(i) ([n] entries; a distance is at most 4096, so a key fits 16 bits).
using KeyScanFn = void (*)(const std::uint64_t* query_code, const std::uint64_t* query_labels, const PackedCodes& db,
                           const PackedLabels& db_labels, std::uint16_t* keys, std::int64_t* hist);

/// The key scan for these word counts (codes, labels).
KeyScanFn pick_key_scan(std::int64_t code_words, std::int64_t label_words);

/// Label-overlap gains of one query: adds 1 to hist[popcount(query & db_i)] for every row
/// (`hist` has at least C + 1 entries; not cleared).
void gain_histogram(const std::uint64_t* query_labels, const PackedLabels& db_labels, std::int64_t* hist);

/// popcount(a & b) over `words` words.
std::int64_t label_overlap(const std::uint64_t* a, const std::uint64_t* b, std::int64_t words) noexcept;

/// Whether any of the `db_labels` rows shares a class with `query_labels`.
bool any_shared_label(const std::uint64_t* query_labels, const PackedLabels& db_labels) noexcept;

}  // namespace xmr::engine::eval
