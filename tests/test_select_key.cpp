// The selection keys (kernels/select_key.h) that both backends rank by: a larger score gives a
// smaller key, equal scores order by position, -0 equals +0, NaN ranks after -inf, and the score
// decodes back exactly; and the CPU's running top-k over them (engine/cpu/topk_buffer.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/topk_buffer.h"
#include "select_key.h"

namespace {

using xmr::kernels::kEmptyKey;
using xmr::kernels::key_position;
using xmr::kernels::key_score;
using xmr::kernels::make_key;

TEST(SelectKey, OrderIsDescendingScoreThenAscendingPosition) {
  constexpr std::uint64_t kSeed = 20261125;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<std::uint32_t> bits;
  std::uniform_int_distribution<std::uint64_t> pos(0, 1000);
  for (int i = 0; i < 200000; ++i) {
    float a = 0.0f;
    float b = 0.0f;
    const std::uint32_t ua = bits(rng);
    const std::uint32_t ub = i % 3 == 0 ? ua ^ 1u : bits(rng);
    std::memcpy(&a, &ua, 4);
    std::memcpy(&b, &ub, 4);
    if (std::isnan(a) || std::isnan(b)) continue;
    const std::uint64_t pa = pos(rng);
    const std::uint64_t pb = pos(rng);
    const bool a_first = a > b || (a == b && pa < pb);
    const bool b_first = b > a || (a == b && pb < pa);
    const std::uint64_t ka = make_key(a, pa);
    const std::uint64_t kb = make_key(b, pb);
    ASSERT_EQ(ka < kb, a_first) << a << "@" << pa << " vs " << b << "@" << pb;
    ASSERT_EQ(kb < ka, b_first) << a << "@" << pa << " vs " << b << "@" << pb;
    ASSERT_EQ(key_position(ka), pa);
    ASSERT_EQ(key_score(ka), a == 0.0f ? 0.0f : a);
  }
}

TEST(SelectKey, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(make_key(-0.0f, 7), make_key(0.0f, 7)) << "-0 and +0 are one score";
  EXPECT_FALSE(std::signbit(key_score(make_key(-0.0f, 7))));
  EXPECT_LT(make_key(inf, 9), make_key(std::numeric_limits<float>::max(), 0));
  EXPECT_LT(make_key(-inf, 5), make_key(nan, 0)) << "NaN ranks after -inf";
  EXPECT_EQ(make_key(nan, 3), make_key(-nan, 3)) << "every NaN is one (worst) score";
  EXPECT_TRUE(std::isnan(key_score(make_key(nan, 3))));
  EXPECT_LT(make_key(nan, xmr::kernels::kMaxPositions - 1), kEmptyKey) << "no real key is the empty key";
  EXPECT_EQ(key_score(make_key(-inf, 0)), -inf);
  EXPECT_EQ(key_score(make_key(std::numeric_limits<float>::denorm_min(), 0)), std::numeric_limits<float>::denorm_min());
}

}  // namespace

// TopKBuffer (engine/cpu/topk_buffer.h), the CPU selection of the dense and multi-vector searches,
// against a full sort of the keys: random rows of awkward lengths (around its 16-score prefilter
// groups and its buffer of 2k + 64), pushed in one call or in uneven pieces, with many equal
// scores, -0 / +0, infinities and NaN (which ranks last).
TEST(TopKBuffer, MatchesAFullSortOfTheKeys) {
  constexpr std::uint64_t kSeed = 20261126;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  for (const std::int64_t n : {1, 7, 15, 16, 17, 33, 100, 1000, 4099}) {
    for (const std::int64_t k : {1, 2, 10, 16, 100, 1000, 5000}) {
      for (const int pieces : {1, 3}) {
        // Scores on a coarse grid (ties), with a few special values; in the sparse pattern most
        // scores are low and one in ten is drawn from the grid, so groups the prefilter rejects
        // whole are followed by scores that must enter.
        const bool sparse = pieces == 3;
        std::uniform_int_distribution<int> grid(-20, 20);
        std::uniform_int_distribution<int> pick(0, 49);
        std::vector<float> scores(static_cast<std::size_t>(n));
        for (float& s : scores) {
          const int p = pick(rng);
          if (p < 5) {
            s = specials[p];
          } else if (sparse && p >= 10) {
            s = -100.0f;
          } else {
            s = static_cast<float>(grid(rng)) / 4.0f;
          }
        }
        std::vector<std::uint64_t> expected(scores.size());
        for (std::size_t i = 0; i < scores.size(); ++i) expected[i] = make_key(scores[i], i);
        std::sort(expected.begin(), expected.end());
        expected.resize(static_cast<std::size_t>(std::min(k, n)));
        expected.resize(static_cast<std::size_t>(k), kEmptyKey);

        xmr::engine::cpu::TopKBuffer buf;
        buf.reset(k);
        const std::int64_t step = (n + pieces - 1) / pieces;
        for (std::int64_t b = 0; b < n; b += step) {
          buf.push_scores(scores.data() + b, std::min(step, n - b), static_cast<std::uint64_t>(b));
        }
        std::vector<std::uint64_t> cand = buf.candidates();
        std::vector<std::uint64_t> got(static_cast<std::size_t>(k));
        xmr::engine::cpu::write_smallest(cand, k, got.data());
        ASSERT_EQ(got, expected) << "n " << n << " k " << k << " pieces " << pieces;
      }
    }
  }
}
