#pragma once
// IEEE binary16 <-> binary32 conversion on the host. The batch functions pick an F16C path at
// run time when the CPU has it (never -march=native: the library runs on any x86-64).

#include <cstddef>
#include <cstdint>

namespace xmr::detail {

/// Round-to-nearest-even float -> half bits; overflow gives +-inf; NaN stays NaN.
std::uint16_t float_to_half_bits(float f) noexcept;
/// Exact half bits -> float.
float half_bits_to_float(std::uint16_t h) noexcept;

void half_to_float_n(const std::uint16_t* in, float* out, std::size_t n) noexcept;
void float_to_half_n(const float* in, std::uint16_t* out, std::size_t n) noexcept;

}  // namespace xmr::detail
