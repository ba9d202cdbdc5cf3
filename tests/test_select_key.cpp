// The selection keys (kernels/select_key.h) that both backends rank by: a larger score gives a
// smaller key, equal scores order by position, -0 equals +0, NaN ranks after -inf, and the score
// decodes back exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

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
