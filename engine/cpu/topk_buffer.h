#pragma once
// Running top-k of selection keys for one query: candidates below the current threshold are
// appended; when the buffer fills, nth_element keeps the k smallest and tightens the threshold.
// Amortised O(1) per candidate; memory O(k).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "select_key.h"

namespace xmr::engine::cpu {

class TopKBuffer {
 public:
  void reset(std::int64_t k) {
    k_ = static_cast<std::size_t>(k);
    cap_ = 2 * k_ + 64;
    thr_ = kernels::kEmptyKey;
    thr_score_ = -std::numeric_limits<float>::infinity();
    score_filter_ = false;
    keys_.clear();
    keys_.reserve(cap_);
  }
  /// Offers one candidate (keys are distinct).
  void push(std::uint64_t key) {
    if (key >= thr_) return;
    keys_.push_back(key);
    if (keys_.size() == cap_) shrink();
  }
  /// Offers a row of scores for positions base, base + 1, ...: scores below the k-th best are
  /// rejected by one float compare before any key is formed, a group of kGroup at a time
  /// (group_may_enter) once the buffer has a numeric threshold.
  void push_scores(const float* scores, std::int64_t count, std::uint64_t base) {
    std::int64_t i = 0;
    while (i < count) {
      if (score_filter_ && count - i >= kGroup) {
        // NaN fails the compare, which is right once the k-th best is a number (NaN ranks last).
        if (!group_may_enter(scores + i, thr_score_)) {
          i += kGroup;
          continue;
        }
        // Some score of the group may enter: offer each (the threshold may tighten in between).
        for (const std::int64_t end = i + kGroup; i < end; ++i) offer(scores[i], base + static_cast<std::uint64_t>(i));
      } else {
        offer(scores[i], base + static_cast<std::uint64_t>(i));
        ++i;
      }
    }
  }
  /// Whether any of the kGroup scores at `s` is >= thr (NaN is not): four packed compares. GCC
  /// vectorises no plain loop form of this test inside push_scores, so it is written with the
  /// GCC/Clang vector extension (SSE2 on x86-64, NEON on AArch64).
  static bool group_may_enter(const float* s, float thr) {
    using v4f = float __attribute__((vector_size(16)));
    using v4i = std::int32_t __attribute__((vector_size(16)));
    static_assert(kGroup % 4 == 0);
    const v4f t = {thr, thr, thr, thr};
    v4i hit = {0, 0, 0, 0};
    for (std::int64_t j = 0; j < kGroup; j += 4) {
      v4f x;
      std::memcpy(&x, s + j, sizeof x);
      hit |= x >= t;
    }
    return (hit[0] | hit[1] | hit[2] | hit[3]) != 0;
  }

  /// One score at position `position`, through the score prefilter.
  void offer(float score, std::uint64_t position) {
    if (!score_filter_ || score >= thr_score_) push(kernels::make_key(score, position));
  }

  /// Current candidates (unordered, possibly more than k).
  [[nodiscard]] const std::vector<std::uint64_t>& candidates() const { return keys_; }

  /// Keeps the k smallest keys (threshold = the k-th).
  void shrink() {
    if (keys_.size() <= k_) return;
    std::nth_element(keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(k_ - 1), keys_.end());
    thr_ = keys_[k_ - 1];
    thr_score_ = kernels::key_score(thr_);
    score_filter_ = thr_score_ == thr_score_;  // the score prefilter needs a numeric threshold
    keys_.resize(k_);
  }

 private:
  static constexpr std::int64_t kGroup = 16;  // scores per vectorised prefilter step
  std::size_t k_ = 0;
  std::size_t cap_ = 0;
  std::uint64_t thr_ = kernels::kEmptyKey;
  float thr_score_ = 0.0f;
  bool score_filter_ = false;
  std::vector<std::uint64_t> keys_;
};

/// Writes the k smallest of `keys` in ascending order to `out`, padding with kEmptyKey.
inline void write_smallest(std::vector<std::uint64_t>& keys, std::int64_t k, std::uint64_t* out) {
  const auto kk = static_cast<std::size_t>(k);
  const std::size_t m = std::min(kk, keys.size());
  std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(m), keys.end());
  std::copy_n(keys.begin(), m, out);
  std::fill(out + m, out + kk, kernels::kEmptyKey);
}

}  // namespace xmr::engine::cpu
