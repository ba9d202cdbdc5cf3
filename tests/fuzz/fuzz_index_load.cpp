// Fuzz target for the index file format (xmr/index_file.h, docs/index_format.md):
// xmr::DenseIndex::from_bytes and xmr::BinaryIndex::from_bytes on untrusted bytes.
//
// Each input is parsed twice: as it is, and with every checksum recomputed (the header's and each
// section's that lies inside the input), so mutations also reach the checks behind the checksums.
// The contract checked:
//   - the loaders throw only xmr::Error: CorruptData or OutOfMemory, or InvalidArgument when the
//     file holds the other index type (and then the message says so);
//   - what loads re-serialises, with the extras it loaded, to the same bytes;
//   - a loaded index answers a search whose results follow the result contract (ids stored,
//     ascending ids among equal scores/distances, padding past the size).
// Seeds (XMR_FUZZ_SEEDS below): small valid files of both types, with and without extras.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fuzz_common.h"
#include "xmr/xmr.h"

namespace {

using xmr::BinaryIndex;
using xmr::DenseIndex;
using xmr::ErrorCode;
using xmr::IndexExtras;
using xmr::MatrixView;
using xmr::fuzz::check;
using xmr::fuzz::fail;

std::uint64_t get64(std::span<const std::uint8_t> b, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b[at + i]) << (8 * i);
  return v;
}
void put64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// `bytes` with every checksum that can be located recomputed (the layout of
/// docs/index_format.md: a 40-byte header, 32-byte table entries, the table's XXH3 after them).
std::vector<std::uint8_t> resealed(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out(bytes.begin(), bytes.end());
  if (out.size() < 40) return out;
  const std::uint64_t count = std::min<std::uint64_t>(get64(bytes, 20) & 0xFFFFFFFFu, 8);
  const std::uint64_t table_end = 40 + 32 * count + 8;
  if (table_end > out.size()) return out;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t e = static_cast<std::size_t>(40 + 32 * i);
    const std::uint64_t offset = get64(bytes, e + 8);
    const std::uint64_t length = get64(bytes, e + 16);
    if (offset <= out.size() && length <= out.size() - offset) {
      put64(out, e + 24, XXH3_64bits(out.data() + offset, static_cast<std::size_t>(length)));
    }
  }
  put64(out, static_cast<std::size_t>(table_end - 8), XXH3_64bits(out.data(), static_cast<std::size_t>(table_end - 8)));
  return out;
}

/// Ids of a result row: stored (in `ids`), distinct; then -1 padding exactly past the size.
void check_ids(std::span<const std::int64_t> row, const std::vector<std::int64_t>& ids) {
  const auto n = static_cast<std::size_t>(ids.size());
  for (std::size_t j = 0; j < row.size(); ++j) {
    if (j < n) {
      check(std::binary_search(ids.begin(), ids.end(), row[j]), "a search returned an id that is not stored");
    } else {
      check(row[j] == -1, "a padding slot holds an id");
    }
  }
}

void exercise(const DenseIndex& index) {
  if (index.size() == 0) return;
  const std::vector<float> q(static_cast<std::size_t>(index.dim()), 0.5f);
  const std::int64_t k = std::min<std::int64_t>(index.size() + 1, 64);
  const xmr::SearchResult r =
      index.search(MatrixView<const float>(q.data(), 1, index.dim()), k, {.device = xmr::Device::Cpu});
  const std::vector<std::int64_t> ids = index.ids();
  check_ids(r.ids, ids);
  for (std::int64_t j = 1; j < std::min<std::int64_t>(k, index.size()); ++j) {
    const float a = r.score(0, j - 1);
    const float b = r.score(0, j);
    if (std::isnan(a) || std::isnan(b)) continue;  // NaN ranks last; an overflowing product may make one
    check(a > b || (a == b && r.id(0, j - 1) < r.id(0, j)), "dense results out of order");
  }
}

void exercise(const BinaryIndex& index) {
  if (index.size() == 0) return;
  const std::vector<std::uint8_t> q(static_cast<std::size_t>(index.code_bytes()), 0x5A);
  const std::int64_t k = std::min<std::int64_t>(index.size() + 1, 64);
  const xmr::BinarySearchResult r =
      index.search(MatrixView<const std::uint8_t>(q.data(), 1, index.code_bytes()), k, {.device = xmr::Device::Cpu});
  check_ids(r.ids, index.ids());
  for (std::int64_t j = 1; j < std::min<std::int64_t>(k, index.size()); ++j) {
    const std::int32_t a = r.distance(0, j - 1);
    const std::int32_t b = r.distance(0, j);
    check(a < b || (a == b && r.id(0, j - 1) < r.id(0, j)), "binary results out of order");
  }
}

/// Runs `f`: a loader may only throw xmr::Error with CorruptData or OutOfMemory, or
/// InvalidArgument saying that the file holds the other index type.
template <class F>
void expect_only_load_errors(F&& f) {
  xmr::fuzz::expect_only_errors(std::forward<F>(f), [](const xmr::Error& e) {
    if (e.code() == ErrorCode::InvalidArgument) {
      check(std::string(e.what()).find(" index (") != std::string::npos,
            "InvalidArgument other than 'holds a <type> index'");
      return;
    }
    xmr::fuzz::expect_code(e, {ErrorCode::CorruptData, ErrorCode::OutOfMemory});
  });
}

void parse(std::span<const std::uint8_t> bytes) {
  expect_only_load_errors([&] {
    IndexExtras extras;
    const DenseIndex index = DenseIndex::from_bytes(bytes, {}, &extras);
    xmr::fuzz::check_round_trip(bytes, index.to_bytes(extras), "DenseIndex");
    exercise(index);
  });
  expect_only_load_errors([&] {
    IndexExtras extras;
    const BinaryIndex index = BinaryIndex::from_bytes(bytes, {}, &extras);
    xmr::fuzz::check_round_trip(bytes, index.to_bytes(extras), "BinaryIndex");
    exercise(index);
  });
}

// ---------------------------------------------------------------------------------------------
// Seeds: tiny valid files (a few hundred bytes to a few KB).

void write_seeds(xmr::fuzz::SeedWriter& out) {
  const std::vector<float> v = xmr::synth::random_normal(9, 7, 1);
  const std::vector<std::int64_t> ids = {3, 1, 4, 15, 9, 2, 6, 5, 35};
  for (const xmr::Metric metric : {xmr::Metric::Cosine, xmr::Metric::InnerProduct}) {
    for (const xmr::DType storage : {xmr::DType::F32, xmr::DType::F16}) {
      DenseIndex d({.dim = 7, .metric = metric, .storage = storage});
      d.add(MatrixView<const float>(v.data(), 9, 7), ids);
      out.write(std::string("dense_") + xmr::to_string(metric) + "_" + xmr::to_string(storage), d.to_bytes());
    }
  }
  out.write("dense_empty", DenseIndex({.dim = 3}).to_bytes());

  std::vector<std::uint8_t> codes(9 * 8);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 37 + 11);
  std::vector<std::uint8_t> hot(9 * 10);
  for (std::size_t i = 0; i < hot.size(); ++i) hot[i] = static_cast<std::uint8_t>(i % 3 == 0);
  IndexExtras labels;
  labels.labels = xmr::Labels::from_multi_hot(MatrixView<const std::uint8_t>(hot.data(), 9, 10));
  for (const std::int64_t bits : {8, 24, 64}) {
    BinaryIndex b({.bits = bits});
    b.add(MatrixView<const std::uint8_t>(codes.data(), 9, bits / 8), ids);
    out.write("binary_" + std::to_string(bits), b.to_bytes());
    out.write("binary_" + std::to_string(bits) + "_labels", b.to_bytes(labels));
  }
  BinaryIndex b16({.bits = 16});
  b16.add(MatrixView<const std::uint8_t>(codes.data(), 9, 2));
  IndexExtras with_binarizer = labels;
  with_binarizer.binarizer = xmr::Binarizer::lsh(5, 16, 2);
  out.write("binary_16_labels_lsh", b16.to_bytes(with_binarizer));
  IndexExtras with_pair;
  with_pair.cross_modal_binarizer = xmr::CrossModalBinarizer{xmr::Binarizer::sign(16), xmr::Binarizer::lsh(3, 16, 4)};
  out.write("binary_16_pair", b16.to_bytes(with_pair));
  out.write("binary_empty", BinaryIndex({.bits = 32}).to_bytes());
}

}  // namespace

XMR_FUZZ_SEEDS(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  parse(bytes);
  const std::vector<std::uint8_t> fixed = resealed(bytes);
  if (!std::equal(fixed.begin(), fixed.end(), bytes.begin())) parse(fixed);
  return 0;
}
