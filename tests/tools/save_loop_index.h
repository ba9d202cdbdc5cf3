#pragma once
// The deterministic index versions of the kill-during-save test: version v holds 20000 + 37 (v %
// 50) codes of 256 bits whose ids start at v * 10^6 and whose bytes and labels are a function of
// (v, row), so a loaded file can be checked to hold exactly one complete version.

#include <cstdint>
#include <vector>

#include "xmr/xmr.h"

namespace xmr_test {

struct VersionedIndex {
  xmr::BinaryIndex index{xmr::BinaryIndexOptions{.bits = 256}};
  xmr::IndexExtras extras;
};

inline std::uint8_t version_byte(std::int64_t v, std::int64_t row, std::int64_t col) {
  std::uint64_t x = static_cast<std::uint64_t>(v) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(row) * 31 +
                    static_cast<std::uint64_t>(col);
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return static_cast<std::uint8_t>(x);
}

inline std::int64_t version_rows(std::int64_t v) {
  return 20000 + 37 * (v % 50);
}

inline VersionedIndex make_version(std::int64_t v) {
  const std::int64_t n = version_rows(v);
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n) * 32);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
  std::vector<std::uint8_t> multi_hot(static_cast<std::size_t>(n) * 5);
  for (std::int64_t r = 0; r < n; ++r) {
    ids[static_cast<std::size_t>(r)] = v * 1000000 + r;
    for (std::int64_t c = 0; c < 32; ++c) codes[static_cast<std::size_t>(r * 32 + c)] = version_byte(v, r, c);
    for (std::int64_t c = 0; c < 5; ++c) {
      multi_hot[static_cast<std::size_t>(r * 5 + c)] = static_cast<std::uint8_t>(version_byte(v, r, 100 + c) & 1u);
    }
  }
  VersionedIndex x;
  x.index.add(xmr::MatrixView<const std::uint8_t>(codes.data(), n, 32), ids);
  x.extras.labels = xmr::Labels::from_multi_hot(xmr::MatrixView<const std::uint8_t>(multi_hot.data(), n, 5));
  return x;
}

}  // namespace xmr_test
