#include "common/half.h"

#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace xmr::detail {

std::uint16_t float_to_half_bits(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // inf or NaN
    const std::uint32_t nan_bit = abs > 0x7F800000u ? 0x0200u : 0u;
    return static_cast<std::uint16_t>(sign | 0x7C00u | nan_bit | ((abs >> 13) & 0x03FFu));
  }
  if (abs >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (abs < 0x38800000u) {                                                    // half subnormal or zero
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);           // rounds to 0
    const std::uint32_t exp = abs >> 23;
    const std::uint32_t mant = (abs & 0x007FFFFFu) | 0x00800000u;
    const std::uint32_t shift = 126u - exp;  // 14..24
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1u);
    const std::uint32_t half_way = 1u << (shift - 1u);
    if (rem > half_way || (rem == half_way && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  // normal: rebias exponent 127 -> 15 and round the 13 dropped mantissa bits to nearest even
  std::uint32_t h = ((abs - 0x38000000u) >> 13);
  const std::uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
  return static_cast<std::uint16_t>(sign | h);
}

float half_bits_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t mant = h & 0x03FFu;
  std::uint32_t x = 0;
  if (exp == 0x1Fu) {
    x = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant != 0) {  // subnormal: normalise
    std::uint32_t m = mant;
    std::uint32_t e = 113u;
    while ((m & 0x0400u) == 0) {
      m <<= 1;
      --e;
    }
    x = sign | (e << 23) | ((m & 0x03FFu) << 13);
  } else {
    x = sign;
  }
  return std::bit_cast<float>(x);
}

namespace {

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void half_to_float_f16c(const std::uint16_t* in, float* out,
                                                            std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) out[i] = half_bits_to_float(in[i]);
}

__attribute__((target("avx,f16c"))) void float_to_half_f16c(const float* in, std::uint16_t* out,
                                                            std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = float_to_half_bits(in[i]);
}

/// F16C is CPUID.1:ECX bit 29, read directly: clang (14) has no "f16c" for
/// __builtin_cpu_supports. The "avx" check there also covers the OS saving the YMM state (XGETBV),
/// which the 256-bit conversions need.
bool cpu_has_f16c() noexcept {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & bit_F16C) == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0;
  }();
  return has;
}
#endif

}  // namespace

void half_to_float_n(const std::uint16_t* in, float* out, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (cpu_has_f16c()) return half_to_float_f16c(in, out, n);
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = half_bits_to_float(in[i]);
}

void float_to_half_n(const float* in, std::uint16_t* out, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (cpu_has_f16c()) return float_to_half_f16c(in, out, n);
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = float_to_half_bits(in[i]);
}

}  // namespace xmr::detail
