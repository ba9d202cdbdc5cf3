#pragma once
// Composite 64-bit selection keys, shared by the CPU engine and the CUDA kernels.
//
// A key orders candidates exactly as the result contract does: ascending key == descending
// score, then ascending row position. Rows are stored in ascending id order, so ascending
// position is ascending id. Keys of distinct rows are distinct, which makes every selection
// ("the k smallest keys") unique and deterministic on every backend and every tiling.
//
//   key = (score_bits(score) << 32) | position        position < 2^32 - 1
//
// score_bits maps floats to uint32 so that a larger score gives a smaller value; -0.0 is folded
// into +0.0 (they compare equal, so ties must go to the id) and every NaN maps to 0xFFFFFFFF
// (after -inf). kEmptyKey (all ones) is never a real key because positions stop at 2^32 - 2.

#include <cstdint>

#if defined(__CUDACC__)
#define XMR_HD __host__ __device__ __forceinline__
#else
#define XMR_HD inline
#endif

namespace xmr::kernels {

inline constexpr std::uint64_t kEmptyKey = ~std::uint64_t{0};
inline constexpr std::uint32_t kNanScoreBits = 0xFFFFFFFFu;
inline constexpr std::uint64_t kMaxPositions = 0xFFFFFFFEull;  // positions are < this

XMR_HD std::uint32_t float_as_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  return __builtin_bit_cast(std::uint32_t, f);
#endif
}

XMR_HD float bits_as_float(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return __builtin_bit_cast(float, u);
#endif
}

/// Larger score -> smaller value; NaN last.
XMR_HD std::uint32_t score_bits(float score) {
  if (score != score) return kNanScoreBits;
  if (score == 0.0f) score = 0.0f;  // fold -0.0
  const std::uint32_t u = float_as_bits(score);
  const std::uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

/// Inverse of score_bits (NaN decodes to a NaN).
XMR_HD float score_from_bits(std::uint32_t s) {
  const std::uint32_t ascending = ~s;
  const std::uint32_t u = (ascending & 0x80000000u) ? (ascending & 0x7FFFFFFFu) : ~ascending;
  return bits_as_float(u);
}

XMR_HD std::uint64_t make_key(float score, std::uint64_t position) {
  return (static_cast<std::uint64_t>(score_bits(score)) << 32) | position;
}

XMR_HD std::uint32_t key_position(std::uint64_t key) {
  return static_cast<std::uint32_t>(key & 0xFFFFFFFFull);
}

XMR_HD float key_score(std::uint64_t key) {
  return score_from_bits(static_cast<std::uint32_t>(key >> 32));
}

}  // namespace xmr::kernels
