// binary16 conversion, synthetic data, errors, enum names and the version.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::half;

// ---------------------------------------------------------------------------------------------
// binary16

/// Decodes binary16 bits by the definition (sign, 5-bit exponent with bias 15, 10-bit fraction).
double decode_half(std::uint16_t bits) {
  const int sign = (bits >> 15) != 0 ? -1 : 1;
  const int exp = (bits >> 10) & 0x1F;
  const int frac = bits & 0x3FF;
  if (exp == 0x1F)
    return frac == 0 ? sign * std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(static_cast<double>(frac), -24);
  return sign * std::ldexp(static_cast<double>(1024 + frac), exp - 25);
}

std::uint16_t bits_of(float f) {
  return xmr::to_half(f).bits;
}

TEST(Half, ToFloatOfEveryBitPattern) {
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float got = xmr::to_float(half{bits});
    const double want = decode_half(bits);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "bits 0x" << std::hex << b;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << "bits 0x" << std::hex << b;
    }
    EXPECT_EQ(std::signbit(got), (b & 0x8000u) != 0) << "sign of bits 0x" << std::hex << b;
    // Every non-NaN value survives the round trip bit for bit (including -0 and the infinities).
    if (!std::isnan(want)) {
      EXPECT_EQ(bits_of(got), bits) << "round trip of bits 0x" << std::hex << b;
    }
  }
}

TEST(Half, RoundToNearestEven) {
  const float eps11 = std::ldexp(1.0f, -11);  // half of a binary16 ulp at 1
  EXPECT_EQ(bits_of(1.0f), 0x3C00);
  EXPECT_EQ(bits_of(1.0f + eps11), 0x3C00);                          // tie -> even (down)
  EXPECT_EQ(bits_of(1.0f + 3 * eps11), 0x3C02);                      // tie -> even (up)
  EXPECT_EQ(bits_of(1.0f + eps11 + std::ldexp(1.0f, -20)), 0x3C01);  // just above the tie
  EXPECT_EQ(bits_of(1.0f + eps11 - std::ldexp(1.0f, -20)), 0x3C00);  // just below the tie
  EXPECT_EQ(bits_of(-1.0f - eps11), 0xBC00);
  EXPECT_EQ(bits_of(2.0f - std::ldexp(1.0f, -12)), 0x4000);  // carry into the exponent
  EXPECT_EQ(bits_of(65504.0f), 0x7BFF);                      // largest finite
  EXPECT_EQ(bits_of(65519.0f), 0x7BFF);
  EXPECT_EQ(bits_of(65520.0f), 0x7C00);  // tie past the top -> inf
  EXPECT_EQ(bits_of(-65520.0f), 0xFC00);
  EXPECT_EQ(bits_of(1e6f), 0x7C00);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(bits_of(-std::numeric_limits<float>::infinity()), 0xFC00);
  // Subnormals.
  EXPECT_EQ(bits_of(std::ldexp(1.0f, -14)), 0x0400);     // smallest normal
  EXPECT_EQ(bits_of(std::ldexp(1.0f, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(bits_of(std::ldexp(1023.0f, -24)), 0x03FF);  // largest subnormal
  EXPECT_EQ(bits_of(std::ldexp(1023.5f, -24)), 0x0400);  // tie -> even (normal)
  EXPECT_EQ(bits_of(std::ldexp(1.0f, -25)), 0x0000);     // tie -> even (zero)
  EXPECT_EQ(bits_of(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(bits_of(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp: tie -> even
  EXPECT_EQ(bits_of(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 ulp: tie -> even
  EXPECT_EQ(bits_of(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(bits_of(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(bits_of(0.0f), 0x0000);
  EXPECT_EQ(bits_of(-0.0f), 0x8000);
  // NaN stays NaN (exponent all ones, fraction nonzero), whatever its payload and sign.
  for (std::uint32_t nan_bits : {0x7FC00000u, 0x7F800001u, 0xFFC00000u, 0x7FBFFFFFu, 0xFF800001u}) {
    const std::uint16_t h = bits_of(std::bit_cast<float>(nan_bits));
    EXPECT_EQ(h & 0x7C00, 0x7C00) << std::hex << nan_bits;
    EXPECT_NE(h & 0x03FF, 0) << std::hex << nan_bits;
    EXPECT_TRUE(std::isnan(xmr::to_float(half{h}))) << std::hex << nan_bits;
  }
}

/// Reference float -> binary16 rounding: the nearest representable value, ties to the even
/// fraction; past 65504 the next value up is 65536 (= inf, an even pattern).
std::uint16_t reference_to_half(float f) {
  static const std::vector<double> values = [] {
    std::vector<double> v;
    for (std::uint32_t b = 0; b <= 0x7BFF; ++b) v.push_back(decode_half(static_cast<std::uint16_t>(b)));
    v.push_back(65536.0);  // stands for 0x7C00
    return v;
  }();
  const double a = std::fabs(static_cast<double>(f));
  const auto sign = static_cast<std::uint16_t>(std::signbit(f) ? 0x8000 : 0);
  if (std::isinf(a) || a >= 65536.0) return static_cast<std::uint16_t>(sign | 0x7C00);
  const auto hi = static_cast<std::size_t>(std::lower_bound(values.begin(), values.end(), a) - values.begin());
  if (values[hi] == a) return static_cast<std::uint16_t>(sign | hi);
  const std::size_t lo = hi - 1;
  const double dl = a - values[lo];
  const double dh = values[hi] - a;
  const std::size_t pick = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<std::uint16_t>(sign | pick);
}

TEST(Half, ToHalfMatchesReferenceOnRandomFloats) {
  constexpr std::uint64_t kSeed = 2024;
  xmr_test::Rng rng(kSeed);
  int failures = 0;
  for (int i = 0; i < 200000 && failures < 10; ++i) {
    // Random bit patterns over the interesting exponent range [2^-26, 2^17), plus raw patterns.
    std::uint32_t u = 0;
    if (i % 4 == 0) {
      u = static_cast<std::uint32_t>(rng.bits());
    } else {
      const auto exp = static_cast<std::uint32_t>(rng.uniform_int(127 - 26, 127 + 16));
      u = (static_cast<std::uint32_t>(rng.bits()) & 0x807FFFFFu) | (exp << 23);
      if (i % 4 == 1) u &= ~0x00000FFFu;                     // near ties more often
      if (i % 4 == 2) u = (u & ~0x00001FFFu) | 0x00001000u;  // exact ties of normal halves
    }
    const float f = std::bit_cast<float>(u);
    if (std::isnan(f)) continue;
    const std::uint16_t want = reference_to_half(f);
    const std::uint16_t got = bits_of(f);
    if (got != want) {
      ++failures;
      ADD_FAILURE() << "seed " << kSeed << ", sample " << i << ": to_half(" << std::hexfloat << f << ") = 0x"
                    << std::hex << got << ", expected 0x" << want;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic data

TEST(Synthetic, DeterministicInSeed) {
  const xmr::synth::CrossModalSpec spec{.num_images = 50, .captions_per_image = 3, .dim = 16, .seed = 7};
  const xmr::synth::CrossModalData a = xmr::synth::make_cross_modal(spec);
  const xmr::synth::CrossModalData b = xmr::synth::make_cross_modal(spec);
  EXPECT_EQ(
      0, std::memcmp(a.image_embeddings.data(), b.image_embeddings.data(), a.image_embeddings.size() * sizeof(float)));
  EXPECT_EQ(0,
            std::memcmp(a.text_embeddings.data(), b.text_embeddings.data(), a.text_embeddings.size() * sizeof(float)));
  EXPECT_EQ(a.image_labels, b.image_labels);
  EXPECT_EQ(a.text_image, b.text_image);
  xmr::synth::CrossModalSpec other = spec;
  other.seed = 8;
  const xmr::synth::CrossModalData c = xmr::synth::make_cross_modal(other);
  EXPECT_NE(a.image_embeddings, c.image_embeddings);
  EXPECT_NE(a.text_embeddings, c.text_embeddings);

  EXPECT_EQ(xmr::synth::random_normal(10, 7, 3), xmr::synth::random_normal(10, 7, 3));
  EXPECT_NE(xmr::synth::random_normal(10, 7, 3), xmr::synth::random_normal(10, 7, 4));
  EXPECT_TRUE(xmr::synth::random_normal(0, 5, 1).empty());
}

TEST(Synthetic, RandomNormalMoments) {
  const std::vector<float> v = xmr::synth::random_normal(400, 250, 11);
  ASSERT_EQ(v.size(), 100000u);
  double sum = 0.0;
  double sq = 0.0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += static_cast<double>(x);
    sq += static_cast<double>(x) * static_cast<double>(x);
  }
  const double mean = sum / 1e5;
  const double var = sq / 1e5 - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);  // standard error 0.0032
  EXPECT_NEAR(var, 1.0, 0.03);   // standard error 0.0045
}

TEST(Synthetic, ShapesAndLabels) {
  const xmr::synth::CrossModalSpec spec{
      .num_images = 200, .captions_per_image = 5, .num_labels = 10, .max_labels_per_item = 4, .dim = 24, .seed = 5};
  const xmr::synth::CrossModalData d = xmr::synth::make_cross_modal(spec);
  ASSERT_EQ(d.num_images, 200);
  ASSERT_EQ(d.num_texts, 1000);
  ASSERT_EQ(d.dim, 24);
  ASSERT_EQ(d.num_labels, 10);
  ASSERT_EQ(d.image_embeddings.size(), 200u * 24u);
  ASSERT_EQ(d.text_embeddings.size(), 1000u * 24u);
  ASSERT_EQ(d.image_labels.size(), 200u * 10u);
  ASSERT_EQ(d.text_labels.size(), 1000u * 10u);
  ASSERT_EQ(d.text_image.size(), 1000u);
  EXPECT_EQ(d.images().rows(), 200);
  EXPECT_EQ(d.images().cols(), 24);
  EXPECT_EQ(d.texts().rows(), 1000);
  EXPECT_EQ(d.texts().data(), d.text_embeddings.data());
  std::set<std::int64_t> label_counts;
  for (std::size_t i = 0; i < 200; ++i) {
    std::int64_t count = 0;
    for (std::size_t l = 0; l < 10; ++l) {
      const std::uint8_t v = d.image_labels[i * 10 + l];
      EXPECT_TRUE(v == 0 || v == 1) << "image " << i << " label " << l;
      count += v;
    }
    EXPECT_GE(count, 1) << "image " << i;
    EXPECT_LE(count, 4) << "image " << i;
    label_counts.insert(count);
  }
  EXPECT_EQ(label_counts, (std::set<std::int64_t>{1, 2, 3, 4})) << "every count 1..max occurs in 200 images";
  for (std::size_t t = 0; t < 1000; ++t) {
    EXPECT_EQ(d.text_image[t], static_cast<std::int64_t>(t / 5)) << "text " << t;
    const std::size_t img = t / 5;
    EXPECT_TRUE(std::equal(d.text_labels.begin() + static_cast<std::ptrdiff_t>(t * 10),
                           d.text_labels.begin() + static_cast<std::ptrdiff_t>(t * 10 + 10),
                           d.image_labels.begin() + static_cast<std::ptrdiff_t>(img * 10)))
        << "text " << t;
  }
  for (float x : d.image_embeddings) ASSERT_TRUE(std::isfinite(x));
  for (float x : d.text_embeddings) ASSERT_TRUE(std::isfinite(x));
}

// Image -> text retrieval over the synthetic data is far above chance (5 captions in 2500: 0.2%).
TEST(Synthetic, CrossModalRetrievalIsMeaningful) {
  const xmr::synth::CrossModalSpec spec{.num_images = 500, .captions_per_image = 5, .dim = 64, .seed = 42};
  const xmr::synth::CrossModalData d = xmr::synth::make_cross_modal(spec);
  xmr::DenseIndex texts({.dim = d.dim, .metric = xmr::Metric::Cosine});
  texts.add(d.texts());
  const xmr::SearchResult r = texts.search(d.images(), 1, {.device = xmr::Device::Cpu});
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < d.num_images; ++i) {
    const std::int64_t t = r.id(i, 0);
    ASSERT_GE(t, 0);
    hits += d.text_image[static_cast<std::size_t>(t)] == i ? 1 : 0;
  }
  const double recall_at_1 = static_cast<double>(hits) / static_cast<double>(d.num_images);
  const double chance = 5.0 / 2500.0;
  EXPECT_GT(recall_at_1, 50 * chance) << "R@1 image->text = " << recall_at_1 << ", seed " << spec.seed;
  EXPECT_LT(recall_at_1, 0.999) << "noise levels leave some mistakes, seed " << spec.seed;
}

// ---------------------------------------------------------------------------------------------
// Errors, names, version

TEST(Basics, ErrorCodesAndNames) {
  const xmr::Error e(xmr::ErrorCode::Io, "path (= /x) missing");
  EXPECT_EQ(e.code(), xmr::ErrorCode::Io);
  EXPECT_STREQ(e.what(), "path (= /x) missing");
  const std::runtime_error& base = e;
  EXPECT_STREQ(base.what(), "path (= /x) missing");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::Ok), "Ok");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::InvalidArgument), "InvalidArgument");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::OutOfMemory), "OutOfMemory");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::Io), "Io");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::CorruptData), "CorruptData");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::Device), "Device");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::Unavailable), "Unavailable");
  EXPECT_STREQ(xmr::to_string(xmr::ErrorCode::Internal), "Internal");
  // The numeric values are part of the C ABI.
  EXPECT_EQ(static_cast<int>(xmr::ErrorCode::InvalidArgument), 1);
  EXPECT_EQ(static_cast<int>(xmr::ErrorCode::Unavailable), 6);
  EXPECT_EQ(static_cast<int>(xmr::ErrorCode::Internal), 7);
  EXPECT_STREQ(xmr::to_string(xmr::Metric::Cosine), "cosine");
  EXPECT_STREQ(xmr::to_string(xmr::Metric::InnerProduct), "inner_product");
  EXPECT_STREQ(xmr::to_string(xmr::Device::Auto), "auto");
  EXPECT_STREQ(xmr::to_string(xmr::Device::Cpu), "cpu");
  EXPECT_STREQ(xmr::to_string(xmr::Device::Gpu), "gpu");
  EXPECT_STREQ(xmr::to_string(xmr::DType::F32), "fp32");
  EXPECT_STREQ(xmr::to_string(xmr::DType::F16), "fp16");
}

TEST(Basics, VersionAndDevices) {
  // "MAJOR.MINOR.PATCH", optionally followed by a suffix.
  const std::string v = xmr::version();
  std::size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    const std::size_t start = pos;
    while (pos < v.size() && v[pos] >= '0' && v[pos] <= '9') ++pos;
    EXPECT_GT(pos, start) << "version \"" << v << "\": part " << part << " is not a number";
    if (part < 2) {
      EXPECT_TRUE(pos < v.size() && v[pos] == '.') << "version \"" << v << "\"";
      ++pos;
    }
  }
  EXPECT_FALSE(xmr::device_summary().empty());
  EXPECT_GE(xmr::gpu_count(), 0);
  if (!xmr::built_with_cuda()) {
    EXPECT_EQ(xmr::gpu_count(), 0);
  }
  const xmr::Resources res;
  EXPECT_EQ(res.device_id(), 0);
  EXPECT_EQ(res.borrowed_stream(), nullptr);
  EXPECT_EQ(res.max_query_rows(), 0);
  EXPECT_EQ(res.max_db_rows(), 0);
}

TEST(Basics, MatrixView) {
  float data[12] = {};
  const xmr::MatrixView<float> dense(data, 3, 4);
  EXPECT_EQ(dense.stride(), 4);
  EXPECT_TRUE(dense.is_dense());
  EXPECT_EQ(dense.row(2), data + 8);
  const xmr::MatrixView<float> strided(data, 2, 4, 6);
  EXPECT_FALSE(strided.is_dense());
  EXPECT_EQ(strided.row(1), data + 6);
  const xmr::MatrixView<const float> c = strided;
  EXPECT_EQ(c.stride(), 6);
  EXPECT_EQ(c.space(), xmr::MemorySpace::Host);
  const xmr::MatrixView<float> empty;
  EXPECT_EQ(empty.rows(), 0);
  EXPECT_EQ(empty.data(), nullptr);
}

}  // namespace
