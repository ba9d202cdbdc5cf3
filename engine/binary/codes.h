#pragma once
// Packed binary codes: the format helpers shared by the binary index, the binarisers and the CLI.
// Format: B bits in B/8 bytes, bit j in byte j/8 at bit position j%8 (LSB first).

#include <cstdint>
#include <vector>

#include "xmr/matrix_view.h"

namespace xmr::engine {

/// Throws InvalidArgument unless `bits` is a multiple of 8 in [8, 4096]; names `what`.
void check_code_bits(std::int64_t bits, const char* what);

/// Copies a (possibly strided) view of codes into a dense [rows x cols] byte array.
std::vector<std::uint8_t> dense_codes(const MatrixView<const std::uint8_t>& codes);

/// Popcount of a XOR b over `bytes` bytes.
std::int32_t hamming(const std::uint8_t* a, const std::uint8_t* b, std::size_t bytes) noexcept;

}  // namespace xmr::engine
