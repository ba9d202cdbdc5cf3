#include "binary/codes.h"

#include <bit>
#include <cstring>

#include "common/check.h"
#include "xmr/binary_index.h"

namespace xmr::engine {

void check_code_bits(std::int64_t bits, const char* what) {
  XMR_EXPECTS(bits >= kMinCodeBits && bits <= kMaxCodeBits && bits % 8 == 0, what, " (= ", bits,
              ") must be a multiple of 8 in [", kMinCodeBits, ", ", kMaxCodeBits, "]");
}

std::vector<std::uint8_t> dense_codes(const MatrixView<const std::uint8_t>& codes) {
  const auto cols = static_cast<std::size_t>(codes.cols());
  std::vector<std::uint8_t> out(static_cast<std::size_t>(codes.rows()) * cols);
  if (codes.is_dense()) {
    if (!out.empty()) std::memcpy(out.data(), codes.data(), out.size());
    return out;
  }
  for (std::int64_t r = 0; r < codes.rows(); ++r) {
    std::memcpy(out.data() + static_cast<std::size_t>(r) * cols, codes.row(r), cols);
  }
  return out;
}

std::int32_t hamming(const std::uint8_t* a, const std::uint8_t* b, std::size_t bytes) noexcept {
  std::int32_t d = 0;
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    d += std::popcount(x ^ y);
  }
  for (; i < bytes; ++i) d += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

}  // namespace xmr::engine
