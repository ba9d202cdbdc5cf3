// Per-query scans over the whole database for the metrics. The library is built for baseline
// x86-64, where std::popcount compiles to a bit-twiddling sequence; the kernels below carry
// target("popcnt") (as the scalar kernels of binary/hamming_cpu.cpp do, on every x86-64 CPU made
// since 2008) and inline a body specialised by word counts, so the popcounts become single
// instructions. Measured on NUS-WIDE sized inputs (docs/eval.md), the scan is what mAP costs.
#include "eval/scan.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/check.h"

namespace xmr::engine::eval {
namespace {

/// Body of the key scan; kW / kL > 0 fix the code / label word counts at compile time.
template <int kW, int kL>
[[gnu::always_inline]] inline void key_scan_body(const std::uint64_t* q, const std::uint64_t* ql, const PackedCodes& db,
                                                 const PackedLabels& dl, std::uint16_t* keys, std::int64_t* hist) {
  const std::int64_t n = db.rows;
  const std::int64_t cw = kW > 0 ? kW : db.words;
  const std::int64_t lw = kL > 0 ? kL : dl.words;
  const std::uint64_t* c = db.bits.data();
  const std::uint64_t* l = dl.bits.data();
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t d = 0;
    for (std::int64_t w = 0; w < cw; ++w) d += static_cast<std::uint32_t>(__builtin_popcountll(c[w] ^ q[w]));
    std::uint64_t shared = 0;
    for (std::int64_t w = 0; w < lw; ++w) shared |= l[w] & ql[w];
    const auto key = static_cast<std::uint16_t>(2 * d + (shared != 0 ? 1U : 0U));
    ++hist[key];
    if (keys != nullptr) keys[i] = key;
    c += cw;
    l += lw;
  }
}

template <int kW, int kL>
__attribute__((target("popcnt"))) void key_scan(const std::uint64_t* q, const std::uint64_t* ql, const PackedCodes& db,
                                                const PackedLabels& dl, std::uint16_t* keys, std::int64_t* hist) {
  key_scan_body<kW, kL>(q, ql, db, dl, keys, hist);
}

template <int kL>
__attribute__((target("popcnt"))) void gain_scan(const std::uint64_t* ql, const PackedLabels& dl, std::int64_t* hist) {
  const std::int64_t lw = kL > 0 ? kL : dl.words;
  const std::uint64_t* l = dl.bits.data();
  for (std::int64_t i = 0; i < dl.rows; ++i) {
    std::int64_t g = 0;
    for (std::int64_t w = 0; w < lw; ++w) g += __builtin_popcountll(l[w] & ql[w]);
    ++hist[g];
    l += lw;
  }
}

}  // namespace

PackedLabels pack_labels(const MatrixView<const std::uint8_t>& labels) {
  PackedLabels p;
  p.rows = labels.rows();
  p.words = (labels.cols() + 63) / 64;
  p.bits.assign(detail::to_size(detail::mul_checked(p.rows, p.words, "labels")), 0);
  for (std::int64_t r = 0; r < p.rows; ++r) {
    const std::uint8_t* src = labels.row(r);
    std::uint64_t* dst = p.bits.data() + r * p.words;
    for (std::int64_t c = 0; c < labels.cols(); ++c)
      if (src[c] != 0) dst[c / 64] |= std::uint64_t{1} << (c % 64);
  }
  return p;
}

PackedCodes pack_codes(const MatrixView<const std::uint8_t>& codes) {
  PackedCodes p;
  p.rows = codes.rows();
  p.words = (codes.cols() + 7) / 8;
  p.bits.assign(detail::to_size(detail::mul_checked(p.rows, p.words, "codes")), 0);
  // Any fixed byte-to-bit placement preserves popcount(a ^ b); memcpy keeps the byte order.
  for (std::int64_t r = 0; r < p.rows; ++r)
    std::memcpy(p.bits.data() + r * p.words, codes.row(r), detail::to_size(codes.cols()));
  return p;
}

KeyScanFn pick_key_scan(std::int64_t code_words, std::int64_t label_words) {
  if (label_words == 1) {
    if (code_words == 1) return &key_scan<1, 1>;
    if (code_words == 2) return &key_scan<2, 1>;
    return &key_scan<0, 1>;
  }
  if (code_words == 1) return &key_scan<1, 0>;
  if (code_words == 2) return &key_scan<2, 0>;
  return &key_scan<0, 0>;
}

void gain_histogram(const std::uint64_t* query_labels, const PackedLabels& db_labels, std::int64_t* hist) {
  if (db_labels.words == 1)
    gain_scan<1>(query_labels, db_labels, hist);
  else
    gain_scan<0>(query_labels, db_labels, hist);
}

std::int64_t label_overlap(const std::uint64_t* a, const std::uint64_t* b, std::int64_t words) noexcept {
  std::int64_t g = 0;
  for (std::int64_t w = 0; w < words; ++w) g += std::popcount(a[w] & b[w]);
  return g;
}

bool any_shared_label(const std::uint64_t* query_labels, const PackedLabels& db_labels) noexcept {
  const std::uint64_t* l = db_labels.bits.data();
  for (std::int64_t i = 0; i < db_labels.rows; ++i, l += db_labels.words)
    for (std::int64_t w = 0; w < db_labels.words; ++w)
      if ((l[w] & query_labels[w]) != 0) return true;
  return false;
}

}  // namespace xmr::engine::eval
