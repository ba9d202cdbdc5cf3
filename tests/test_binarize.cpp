// Binarisers (xmr/binarize.h): exact codes on hand-made inputs, bit order, determinism in the
// seed, ITQ's loss and rotation, retrieval quality against random LSH on the synthetic
// cross-modal data, the file format (round trip, corruption), and every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::Binarizer;
using xmr::BinarizerKind;
using xmr::CrossModalBinarizer;
using xmr::ErrorCode;
using xmr::MatrixView;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

MatrixView<const float> view(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  return {v.data(), rows, cols};
}

std::vector<float> random_rows(std::uint64_t seed, std::int64_t rows, std::int64_t cols) {
  xmr_test::Rng rng(seed);
  return xmr_test::random_matrix(rng, rows, cols);
}

/// A path in the test's temporary directory, removed when the guard goes.
struct TempFile {
  explicit TempFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              ("xmr_test_binarize_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
               std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "_" + name))
                 .string()) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::string path;
};

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  }
  ASSERT_EQ(std::fclose(f), 0);
}

// ---------------------------------------------------------------------------------------------
// The test's own view of the format: CRC-32 and little-endian patching.

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

void put_u32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// Recomputes the trailing CRC after a deliberate edit (so the structural checks are reached).
void reseal(std::vector<std::uint8_t>& b) {
  put_u32(b, b.size() - 4, crc32(b.data(), b.size() - 4));
}

// Offsets in the format (docs/binarize.md).
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kCountAt = 12;
constexpr std::size_t kPayloadAt = 16;
constexpr std::size_t kRecordAt = 24;  // kind u32, reserved u32, dim i64, bits i64, losses i64

// ---------------------------------------------------------------------------------------------
// Retrieval quality: brute-force Hamming ranking with our own popcount.

int popcount_xor(const std::uint8_t* a, const std::uint8_t* b, std::int64_t bytes) {
  int d = 0;
  for (std::int64_t i = 0; i < bytes; ++i) d += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

/// Label sets as masks (the synthetic data has <= 64 labels).
std::vector<std::uint64_t> label_masks(const xmr::synth::CrossModalData& d, std::int64_t begin, std::int64_t n) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t l = 0; l < d.num_labels; ++l) {
      if (d.image_labels[static_cast<std::size_t>((begin + i) * d.num_labels + l)] != 0) {
        out[static_cast<std::size_t>(i)] |= std::uint64_t{1} << l;
      }
    }
  }
  return out;
}

/// mAP over the full ranking (distance ascending, ties by ascending id); relevant = a shared label.
/// The ranking is a counting sort by distance, which keeps ascending ids within a distance.
double hamming_map(const std::vector<std::uint8_t>& q, const std::vector<std::uint8_t>& db, std::int64_t bytes,
                   const std::vector<std::uint64_t>& q_labels, const std::vector<std::uint64_t>& db_labels) {
  const auto n = static_cast<std::int64_t>(db_labels.size());
  std::vector<int> dist(static_cast<std::size_t>(n));
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  double total = 0.0;
  int counted = 0;
  for (std::size_t i = 0; i < q_labels.size(); ++i) {
    std::vector<std::int64_t> start(static_cast<std::size_t>(bytes * 8 + 2), 0);
    for (std::int64_t j = 0; j < n; ++j) {
      const int d = popcount_xor(q.data() + static_cast<std::int64_t>(i) * bytes, db.data() + j * bytes, bytes);
      dist[static_cast<std::size_t>(j)] = d;
      ++start[static_cast<std::size_t>(d + 1)];
    }
    std::partial_sum(start.begin(), start.end(), start.begin());
    for (std::int64_t j = 0; j < n; ++j) {
      order[static_cast<std::size_t>(start[static_cast<std::size_t>(dist[static_cast<std::size_t>(j)])]++)] = j;
    }
    double sum = 0.0;
    int hits = 0;
    for (std::size_t r = 0; r < order.size(); ++r) {
      if ((db_labels[static_cast<std::size_t>(order[r])] & q_labels[i]) != 0) {
        ++hits;
        sum += static_cast<double>(hits) / static_cast<double>(r + 1);
      }
    }
    if (hits > 0) {
      total += sum / hits;
      ++counted;
    }
  }
  return total / counted;
}

/// Synthetic cross-modal split shared by the quality tests: train pairs, query pairs, database.
class BinarizeCrossModal : public ::testing::Test {
 protected:
  static constexpr std::int64_t kTrain = 1000;
  static constexpr std::int64_t kQueries = 150;
  static constexpr std::int64_t kDatabase = 800;
  static constexpr std::int64_t kDim = 64;
  static constexpr std::uint64_t kSeed = 2024;

  static void SetUpTestSuite() {
    xmr::synth::CrossModalSpec spec;
    spec.num_images = kTrain + kQueries + kDatabase;
    spec.dim = kDim;
    spec.seed = kSeed;
    data_ = new xmr::synth::CrossModalData(xmr::synth::make_cross_modal(spec));
    stacked_ = new std::vector<float>(data_->image_embeddings.begin(), data_->image_embeddings.begin() + kTrain * kDim);
    stacked_->insert(stacked_->end(), data_->text_embeddings.begin(), data_->text_embeddings.begin() + kTrain * kDim);
  }
  static void TearDownTestSuite() {
    delete data_;
    delete stacked_;
  }

  static MatrixView<const float> images(std::int64_t begin, std::int64_t n) {
    return {data_->image_embeddings.data() + begin * kDim, n, kDim};
  }
  static MatrixView<const float> texts(std::int64_t begin, std::int64_t n) {
    return {data_->text_embeddings.data() + begin * kDim, n, kDim};
  }
  static MatrixView<const float> stacked() { return {stacked_->data(), 2 * kTrain, kDim}; }

  /// {image->text, text->image} mAP of a pair of binarisers.
  static std::array<double, 2> map(const Binarizer& img, const Binarizer& txt) {
    const auto q_labels = label_masks(*data_, kTrain, kQueries);
    const auto db_labels = label_masks(*data_, kTrain + kQueries, kDatabase);
    const std::int64_t nb = img.code_bytes();
    const auto iq = img.encode(images(kTrain, kQueries));
    const auto tq = txt.encode(texts(kTrain, kQueries));
    const auto idb = img.encode(images(kTrain + kQueries, kDatabase));
    const auto tdb = txt.encode(texts(kTrain + kQueries, kDatabase));
    return {hamming_map(iq, tdb, nb, q_labels, db_labels), hamming_map(tq, idb, nb, q_labels, db_labels)};
  }

  static xmr::synth::CrossModalData* data_;
  static std::vector<float>* stacked_;
};
xmr::synth::CrossModalData* BinarizeCrossModal::data_ = nullptr;
std::vector<float>* BinarizeCrossModal::stacked_ = nullptr;

void expect_non_increasing(const std::vector<double>& loss, const std::string& context) {
  ASSERT_FALSE(loss.empty()) << context;
  for (std::size_t t = 1; t < loss.size(); ++t) {
    EXPECT_LE(loss[t], loss[t - 1] * (1.0 + 1e-9) + 1e-9) << context << ": loss rose at iteration " << t;
  }
  EXPECT_LT(loss.back(), 0.99 * loss.front()) << context << ": ITQ did not reduce the quantisation loss";
}

/// max |R^T R - I| of a [b x b] row-major matrix.
double orthogonality_error(const std::vector<float>& r, std::int64_t b, std::int64_t rows) {
  double worst = 0.0;
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < b; ++j) {
      double s = 0.0;
      for (std::int64_t k = 0; k < rows; ++k) {
        s += static_cast<double>(r[static_cast<std::size_t>(k * b + i)]) *
             static_cast<double>(r[static_cast<std::size_t>(k * b + j)]);
      }
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------
// Exact codes on hand-made inputs.

TEST(Binarize, SignBitOrderIsLsbFirst) {
  // Positive at dimensions 0, 3, 9 and 15 only: byte 0 = bits 0 and 3 = 0x09; byte 1 = bits 9 - 8
  // and 15 - 8 = 0x82. Zero and -0 are not > 0.
  std::vector<float> x(16, -1.0f);
  x[0] = 0.5f;
  x[3] = 1e-30f;
  x[9] = 7.0f;
  x[15] = 2.0f;
  x[4] = 0.0f;
  x[5] = -0.0f;
  const Binarizer s = Binarizer::sign(16);
  EXPECT_EQ(s.kind(), BinarizerKind::Sign);
  EXPECT_EQ(s.dim(), 16);
  EXPECT_EQ(s.bits(), 16);
  EXPECT_EQ(s.code_bytes(), 2);
  EXPECT_EQ(s.encode(view(x, 1, 16)), (std::vector<std::uint8_t>{0x09, 0x82}));
  // The same bits through the public pack_bits (numpy.packbits(bitorder="little")).
  std::vector<std::uint8_t> bits(16, 0);
  for (int j : {0, 3, 9, 15}) bits[static_cast<std::size_t>(j)] = 1;
  std::vector<std::uint8_t> packed(2);
  xmr::pack_bits(MatrixView<const std::uint8_t>(bits.data(), 1, 16), MatrixView<std::uint8_t>(packed.data(), 1, 2));
  EXPECT_EQ(packed, (std::vector<std::uint8_t>{0x09, 0x82}));
}

TEST(Binarize, SignHandMadeRows) {
  // Two rows of 8: all positive -> 0xFF; alternating signs starting positive -> 0b01010101.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 1, -1, 1, -1, 1, -1, 1, -1};
  EXPECT_EQ(Binarizer::sign(8).encode(view(x, 2, 8)), (std::vector<std::uint8_t>{0xFF, 0x55}));
  const Binarizer s = Binarizer::sign(8);
  EXPECT_EQ(s.mean(), std::vector<float>(8, 0.0f));
  EXPECT_EQ(s.thresholds(), std::vector<float>(8, 0.0f));
  const auto p = s.projection();
  for (std::int64_t i = 0; i < 8; ++i) {
    for (std::int64_t j = 0; j < 8; ++j) EXPECT_EQ(p[static_cast<std::size_t>(i * 8 + j)], i == j ? 1.0f : 0.0f);
  }
  EXPECT_TRUE(s.rotation().empty());
  EXPECT_TRUE(s.training_loss().empty());
}

TEST(Binarize, SignMedianExact) {
  // Column c of the 4 training rows: {c, c + 10, c + 20, c + 30} in scrambled row order, so the
  // median (midpoint of the two middle values) is c + 15.
  std::vector<float> train(4 * 8);
  const int order[4] = {2, 0, 3, 1};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 8; ++c) train[static_cast<std::size_t>(r * 8 + c)] = static_cast<float>(c + 10 * order[r]);
  }
  const Binarizer m = Binarizer::sign_median(view(train, 4, 8));
  EXPECT_EQ(m.kind(), BinarizerKind::SignMedian);
  std::vector<float> expect(8);
  for (int c = 0; c < 8; ++c) expect[static_cast<std::size_t>(c)] = static_cast<float>(c + 15);
  EXPECT_EQ(m.thresholds(), expect);
  // Each training column has exactly two values above its median: rows with order 2 and 3.
  EXPECT_EQ(m.encode(view(train, 4, 8)), (std::vector<std::uint8_t>{0xFF, 0x00, 0xFF, 0x00}));
  // Exactly at the threshold is 0, just above is 1.
  std::vector<float> probe(8);
  for (int c = 0; c < 8; ++c) probe[static_cast<std::size_t>(c)] = static_cast<float>(c + 15);
  probe[2] = std::nextafter(17.0f, 100.0f);
  EXPECT_EQ(m.encode(view(probe, 1, 8)), (std::vector<std::uint8_t>{0x04}));

  // An odd row count: the middle value.
  const std::vector<float> odd = {3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(Binarizer::sign_median(view(odd, 3, 8)).thresholds()[0], 2.0f);
}

TEST(Binarize, LshIsTheDocumentedGaussianProjection) {
  constexpr std::uint64_t kSeed = 99;
  const Binarizer l = Binarizer::lsh(12, 24, kSeed);
  EXPECT_EQ(l.kind(), BinarizerKind::Lsh);
  EXPECT_EQ(l.projection(), xmr::synth::random_normal(12, 24, kSeed));
  EXPECT_EQ(l.mean(), std::vector<float>(12, 0.0f));
  // One row by hand: bit j = [x . w_j > 0], in double.
  const std::vector<float> x = random_rows(5, 1, 12);
  const auto w = l.projection();
  std::vector<std::uint8_t> expect(3, 0);
  for (int j = 0; j < 24; ++j) {
    double s = 0.0;
    for (int d = 0; d < 12; ++d) {
      s += static_cast<double>(x[static_cast<std::size_t>(d)]) *
           static_cast<double>(w[static_cast<std::size_t>(d * 24 + j)]);
    }
    if (s > 0.0) expect[static_cast<std::size_t>(j / 8)] |= static_cast<std::uint8_t>(1u << (j % 8));
  }
  EXPECT_EQ(l.encode(view(x, 1, 12)), expect) << "seed " << kSeed;

  // Centred LSH: the mean is the column mean of the training rows; uncentred keeps 0.
  const std::vector<float> train = {1, 2, 3, 5, 5, 8};  // 3 rows x 2
  const Binarizer c = Binarizer::lsh(view(train, 3, 2), 8, {.seed = kSeed});
  EXPECT_EQ(c.mean(), (std::vector<float>{3.0f, 5.0f}));
  EXPECT_EQ(c.projection(), xmr::synth::random_normal(2, 8, kSeed));
  EXPECT_EQ(Binarizer::lsh(view(train, 3, 2), 8, {.seed = kSeed, .center = false}).mean(),
            (std::vector<float>{0.0f, 0.0f}));
}

// ---------------------------------------------------------------------------------------------
// Determinism.

TEST(Binarize, SameSeedSameCodesDifferentSeedDifferentCodes) {
  const std::vector<float> train = random_rows(11, 300, 32);
  const std::vector<float> x = random_rows(12, 50, 32);
  const std::vector<float> y = random_rows(13, 300, 24);
  const auto xv = view(x, 50, 32);
  for (std::uint64_t seed : {0ull, 1ull, 0xDEADBEEFull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Binarizer l1 = Binarizer::lsh(32, 64, seed);
    const Binarizer l2 = Binarizer::lsh(32, 64, seed);
    const Binarizer l3 = Binarizer::lsh(32, 64, seed + 1);
    EXPECT_EQ(l1.encode(xv), l2.encode(xv));
    EXPECT_EQ(l1.to_bytes(), l2.to_bytes());
    EXPECT_NE(l1.encode(xv), l3.encode(xv));

    const Binarizer i1 = Binarizer::itq(view(train, 300, 32), 16, {.iterations = 20, .seed = seed});
    const Binarizer i2 = Binarizer::itq(view(train, 300, 32), 16, {.iterations = 20, .seed = seed});
    const Binarizer i3 = Binarizer::itq(view(train, 300, 32), 16, {.iterations = 20, .seed = seed + 1});
    EXPECT_EQ(i1.encode(xv), i2.encode(xv));
    EXPECT_EQ(i1.to_bytes(), i2.to_bytes());
    EXPECT_NE(i1.rotation(), i3.rotation());
    EXPECT_NE(i1.encode(xv), i3.encode(xv));

    const auto c1 = xmr::train_cross_modal_itq(view(train, 300, 32), view(y, 300, 24), 16, {.seed = seed});
    const auto c2 = xmr::train_cross_modal_itq(view(train, 300, 32), view(y, 300, 24), 16, {.seed = seed});
    const auto c3 = xmr::train_cross_modal_itq(view(train, 300, 32), view(y, 300, 24), 16, {.seed = seed + 1});
    EXPECT_EQ(c1.to_bytes(), c2.to_bytes());
    EXPECT_NE(c1.image.encode(xv), c3.image.encode(xv));
  }
}

TEST(Binarize, CodesDoNotDependOnBatchOrStride) {
  // A row's code is the same alone, in any batch, and through a strided view.
  constexpr std::int64_t kRows = 37;
  constexpr std::int64_t kDim = 40;
  const std::vector<float> train = random_rows(21, 200, kDim);
  const std::vector<float> x = random_rows(22, kRows, kDim);
  const std::vector<float> xs = xmr_test::with_stride(x, kRows, kDim, 45, kNan);
  for (const Binarizer& b : {Binarizer::itq(view(train, 200, kDim), 24), Binarizer::lsh(kDim, 40, 3),
                             Binarizer::sign(kDim), Binarizer::sign_median(view(train, 200, kDim))}) {
    SCOPED_TRACE(xmr::to_string(b.kind()));
    const auto all = b.encode(view(x, kRows, kDim));
    const std::int64_t nb = b.code_bytes();
    EXPECT_EQ(b.encode(MatrixView<const float>(xs.data(), kRows, kDim, 45)), all);
    for (std::int64_t r = 0; r < kRows; ++r) {
      const auto one = b.encode(MatrixView<const float>(x.data() + r * kDim, 1, kDim));
      EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + r * nb)) << "row " << r;
    }
    // Into a strided caller buffer; the padding bytes are left alone.
    std::vector<std::uint8_t> out(static_cast<std::size_t>(kRows * (nb + 3)), 0xAB);
    b.encode(view(x, kRows, kDim), MatrixView<std::uint8_t>(out.data(), kRows, nb, nb + 3));
    for (std::int64_t r = 0; r < kRows; ++r) {
      EXPECT_TRUE(std::equal(all.begin() + r * nb, all.begin() + (r + 1) * nb, out.begin() + r * (nb + 3)));
      for (std::int64_t p = nb; p < nb + 3; ++p) EXPECT_EQ(out[static_cast<std::size_t>(r * (nb + 3) + p)], 0xAB);
    }
    EXPECT_TRUE(b.encode(MatrixView<const float>(nullptr, 0, kDim)).empty());
  }
}

// ---------------------------------------------------------------------------------------------
// ITQ.

TEST(Binarize, ItqLossAndRotation) {
  constexpr std::int64_t kDim = 48;
  constexpr std::int64_t kBits = 32;
  for (std::uint64_t seed : {7ull, 8ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<float> train = random_rows(seed, 500, kDim);
    const Binarizer b = Binarizer::itq(view(train, 500, kDim), kBits, {.iterations = 30, .seed = seed});
    EXPECT_EQ(b.kind(), BinarizerKind::Itq);
    EXPECT_EQ(b.bits(), kBits);
    const auto loss = b.training_loss();
    EXPECT_EQ(loss.size(), 31u);
    expect_non_increasing(loss, "itq");
    // R orthogonal; W = P R has orthonormal columns (P: orthonormal principal directions).
    EXPECT_LT(orthogonality_error(b.rotation(), kBits, kBits), 1e-5);
    EXPECT_LT(orthogonality_error(b.projection(), kBits, kDim), 1e-5);
    EXPECT_EQ(b.thresholds(), std::vector<float>(kBits, 0.0f));
    // The mean is the training mean.
    const auto mean = b.mean();
    double m0 = 0.0;
    for (std::int64_t r = 0; r < 500; ++r) m0 += static_cast<double>(train[static_cast<std::size_t>(r * kDim)]);
    EXPECT_NEAR(mean[0], m0 / 500.0, 1e-6);
  }
  // Zero iterations: the random rotation alone, one loss value.
  const std::vector<float> train = random_rows(9, 100, 16);
  const Binarizer b0 = Binarizer::itq(view(train, 100, 16), 8, {.iterations = 0});
  EXPECT_EQ(b0.training_loss().size(), 1u);
  EXPECT_LT(orthogonality_error(b0.rotation(), 8, 8), 1e-5);
}

TEST(Binarize, ItqAcceptsFewRowsAndDegenerateData) {
  // Two rows (rank 1) and a constant column: still a valid, orthogonal model.
  std::vector<float> train = {1, 2, 3, 4, 5, 6, 7, 8, -1, 0, 2, 4, 1, 1, 1, 8};
  const Binarizer b = Binarizer::itq(view(train, 2, 8), 8, {.iterations = 5});
  EXPECT_LT(orthogonality_error(b.rotation(), 8, 8), 1e-5);
  EXPECT_EQ(b.encode(view(train, 2, 8)).size(), 2u);
}

TEST_F(BinarizeCrossModal, CrossModalItqTrainsOneSharedRotation) {
  const auto p = xmr::train_cross_modal_itq(images(0, kTrain), texts(0, kTrain), 32, {.seed = 5});
  EXPECT_EQ(p.image.kind(), BinarizerKind::CrossModalItq);
  EXPECT_EQ(p.text.kind(), BinarizerKind::CrossModalItq);
  EXPECT_EQ(p.image.bits(), 32);
  EXPECT_EQ(p.text.bits(), 32);
  EXPECT_EQ(p.image.rotation(), p.text.rotation());
  EXPECT_EQ(p.image.training_loss(), p.text.training_loss());
  EXPECT_EQ(p.image.training_loss().size(), 51u);
  expect_non_increasing(p.image.training_loss(), "cross-modal itq");
  EXPECT_LT(orthogonality_error(p.image.rotation(), 32, 32), 1e-5);
  EXPECT_NE(p.image.mean(), p.text.mean());  // each modality is centred on its own mean
  // Paired rows get close codes: mean Hamming distance of pairs well below random (16 of 32).
  const auto ci = p.image.encode(images(kTrain, kQueries));
  const auto ct = p.text.encode(texts(kTrain, kQueries));
  double mean_dist = 0.0;
  for (std::int64_t i = 0; i < kQueries; ++i) mean_dist += popcount_xor(ci.data() + i * 4, ct.data() + i * 4, 4);
  mean_dist /= kQueries;
  EXPECT_LT(mean_dist, 10.0);
}

// ---------------------------------------------------------------------------------------------
// Quality: learned codes beat random hyperplanes.

TEST_F(BinarizeCrossModal, LearnedCodesBeatRandomLsh) {
  for (std::int64_t bits : {16, 32}) {
    SCOPED_TRACE("bits " + std::to_string(bits) + ", data seed " + std::to_string(kSeed));
    const auto lsh = Binarizer::lsh(stacked(), bits, {.seed = 1});
    const auto itq = Binarizer::itq(stacked(), bits, {.seed = 1});
    const auto cm = xmr::train_cross_modal_itq(images(0, kTrain), texts(0, kTrain), bits, {.seed = 1});
    const auto m_lsh = map(lsh, lsh);
    const auto m_itq = map(itq, itq);
    const auto m_cm = map(cm.image, cm.text);
    for (int dir = 0; dir < 2; ++dir) {
      SCOPED_TRACE(dir == 0 ? "image->text" : "text->image");
      EXPECT_GT(m_itq[static_cast<std::size_t>(dir)], m_lsh[static_cast<std::size_t>(dir)] + 0.05)
          << "ITQ " << m_itq[static_cast<std::size_t>(dir)] << " vs LSH " << m_lsh[static_cast<std::size_t>(dir)];
      EXPECT_GT(m_cm[static_cast<std::size_t>(dir)], m_lsh[static_cast<std::size_t>(dir)] + 0.05)
          << "cross-modal ITQ " << m_cm[static_cast<std::size_t>(dir)] << " vs LSH "
          << m_lsh[static_cast<std::size_t>(dir)];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Files.

TEST(Binarize, SaveLoadRoundTripEveryKind) {
  const std::vector<float> train = random_rows(31, 120, 24);
  const std::vector<float> y = random_rows(32, 120, 16);
  const std::vector<float> x = random_rows(33, 25, 24);
  const auto pair = xmr::train_cross_modal_itq(view(train, 120, 24), view(y, 120, 16), 16);
  const std::vector<Binarizer> all = {Binarizer::sign(24),
                                      Binarizer::sign_median(view(train, 120, 24)),
                                      Binarizer::lsh(24, 40, 4),
                                      Binarizer::lsh(view(train, 120, 24), 16),
                                      Binarizer::itq(view(train, 120, 24), 16),
                                      pair.image};
  for (const Binarizer& b : all) {
    SCOPED_TRACE(xmr::to_string(b.kind()));
    TempFile f("one.xmrb");
    b.save(f.path);
    for (const Binarizer& c : {Binarizer::load(f.path), Binarizer::from_bytes(b.to_bytes())}) {
      EXPECT_EQ(c.kind(), b.kind());
      EXPECT_EQ(c.dim(), b.dim());
      EXPECT_EQ(c.bits(), b.bits());
      EXPECT_EQ(c.mean(), b.mean());
      EXPECT_EQ(c.thresholds(), b.thresholds());
      EXPECT_EQ(c.projection(), b.projection());
      EXPECT_EQ(c.rotation(), b.rotation());
      EXPECT_EQ(c.training_loss(), b.training_loss());
      EXPECT_EQ(c.encode(view(x, 25, 24)), b.encode(view(x, 25, 24)));
      EXPECT_EQ(c.to_bytes(), b.to_bytes());
    }
  }
  // The pair: one file, both binarisers.
  TempFile f("pair.xmrb");
  pair.save(f.path);
  const CrossModalBinarizer back = CrossModalBinarizer::load(f.path);
  EXPECT_EQ(back.to_bytes(), pair.to_bytes());
  EXPECT_EQ(back.image.encode(view(x, 25, 24)), pair.image.encode(view(x, 25, 24)));
  EXPECT_EQ(back.text.encode(view(y, 25, 16)), pair.text.encode(view(y, 25, 16)));
  EXPECT_EQ(CrossModalBinarizer::from_bytes(pair.to_bytes()).text.to_bytes(), pair.text.to_bytes());
}

TEST(Binarize, FileLayoutMatchesTheDocumentation) {
  const auto bytes = Binarizer::sign(8).to_bytes();
  // 24 header + 32 record header + 8 mean floats + 8 threshold floats + 4 CRC.
  ASSERT_EQ(bytes.size(), 24u + 32u + 64u + 4u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 7), "XMRBINZ");
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(bytes[kVersionAt], 1);
  EXPECT_EQ(bytes[kCountAt], 1);
  EXPECT_EQ(bytes[kPayloadAt], 32 + 64);
  EXPECT_EQ(bytes[kRecordAt], 0);       // kind Sign
  EXPECT_EQ(bytes[kRecordAt + 8], 8);   // dim
  EXPECT_EQ(bytes[kRecordAt + 16], 8);  // bits
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < 4; ++i) stored |= static_cast<std::uint32_t>(bytes[bytes.size() - 4 + i]) << (8 * i);
  EXPECT_EQ(stored, crc32(bytes.data(), bytes.size() - 4));
  // zlib.crc32(b"123456789") == 0xCBF43926: our CRC is the standard one.
  const std::string check = "123456789";
  EXPECT_EQ(crc32(reinterpret_cast<const std::uint8_t*>(check.data()), check.size()), 0xCBF43926u);
}

TEST(Binarize, CorruptFilesThrowCorruptData) {
  const std::vector<float> train = random_rows(41, 60, 16);
  const Binarizer itq = Binarizer::itq(view(train, 60, 16), 8, {.iterations = 3});
  const std::vector<std::uint8_t> good = itq.to_bytes();
  TempFile f("corrupt.xmrb");
  auto expect_corrupt = [&](const std::vector<std::uint8_t>& bytes, std::initializer_list<std::string_view> what,
                            const std::string& label) {
    SCOPED_TRACE(label);
    write_bytes(f.path, bytes);
    std::vector<std::string_view> needles(what);
    needles.push_back(f.path);
    try {
      (void)Binarizer::load(f.path);
      ADD_FAILURE() << "load did not throw";
    } catch (const xmr::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::CorruptData) << e.what();
      for (std::string_view n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
    EXPECT_XMR_ERROR(Binarizer::from_bytes(bytes), ErrorCode::CorruptData, "bytes");
  };

  // Every truncation from bytes; through a file at the section boundaries and a spread of others.
  for (std::size_t len = 0; len < good.size(); ++len) {
    const std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_XMR_ERROR(Binarizer::from_bytes(cut), ErrorCode::CorruptData, "bytes", "truncated");
    if (len < 60 || len % 97 == 0 || len + 8 > good.size()) {
      expect_corrupt(cut, {"truncated"}, "truncated to " + std::to_string(len));
    }
  }
  auto bad = good;
  bad[0] = 'Y';
  expect_corrupt(bad, {"magic"}, "bad magic");
  bad = good;
  put_u32(bad, kVersionAt, 2);
  expect_corrupt(bad, {"version 2"}, "bad version");
  bad = good;
  put_u32(bad, kVersionAt, 0);
  reseal(bad);
  expect_corrupt(bad, {"version 0"}, "version 0");
  // A flipped bit anywhere in the payload or the checksum.
  for (std::size_t at : {kRecordAt + 40, good.size() / 2, good.size() - 10, good.size() - 1}) {
    bad = good;
    bad[at] ^= 0x10;
    expect_corrupt(bad, {"checksum"}, "flipped bit at " + std::to_string(at));
  }
  bad = good;
  bad.push_back(0);
  expect_corrupt(bad, {"trailing"}, "trailing byte");
  bad = good;
  put_u64(bad, kPayloadAt, std::uint64_t{1} << 62);
  expect_corrupt(bad, {"truncated"}, "absurd payload size");

  // Well-sealed but structurally wrong: the structural checks, without absurd allocations.
  bad = good;
  put_u32(bad, kRecordAt, 9);
  reseal(bad);
  expect_corrupt(bad, {"kind (= 9)"}, "bad kind");
  bad = good;
  put_u64(bad, kRecordAt + 8, std::uint64_t{1} << 20);  // dim 2^20 with B = 8: needs 32 MiB+
  reseal(bad);
  expect_corrupt(bad, {"truncated", "record body"}, "huge dim");
  bad = good;
  put_u64(bad, kRecordAt + 8, std::uint64_t{1} << 40);
  reseal(bad);
  expect_corrupt(bad, {"dim (= 1099511627776)"}, "absurd dim");
  bad = good;
  put_u64(bad, kRecordAt + 16, 12);
  reseal(bad);
  expect_corrupt(bad, {"bits (= 12)"}, "bad bits");
  bad = good;
  put_u64(bad, kRecordAt + 24, std::uint64_t{1} << 50);
  reseal(bad);
  expect_corrupt(bad, {"loss count"}, "absurd loss count");
  bad = good;
  put_u32(bad, kRecordAt + 4, 1);
  reseal(bad);
  expect_corrupt(bad, {"reserved"}, "reserved field");
  bad = good;
  put_u32(bad, bad.size() - 8, std::bit_cast<std::uint32_t>(kNan));  // the last rotation float
  reseal(bad);
  expect_corrupt(bad, {"rotation", "finite"}, "NaN parameter");
  bad = good;
  put_u32(bad, kCountAt, 7);
  reseal(bad);
  expect_corrupt(bad, {"record count (= 7)"}, "bad count");

  // A pair file is not a Binarizer and a Binarizer file is not a pair.
  const auto pair_bytes =
      xmr::train_cross_modal_itq(view(train, 60, 16), view(train, 60, 16), 8, {.iterations = 2}).to_bytes();
  expect_corrupt(pair_bytes, {"holds 2 binarizers", "CrossModalBinarizer::load"}, "pair as single");
  write_bytes(f.path, good);
  EXPECT_XMR_ERROR(CrossModalBinarizer::load(f.path), ErrorCode::CorruptData, "holds 1 binarizer", f.path);
  EXPECT_XMR_ERROR(CrossModalBinarizer::from_bytes(good), ErrorCode::CorruptData, "bytes");
  // A pair whose two records have different code lengths.
  const CrossModalBinarizer mixed{Binarizer::lsh(16, 8, 1), Binarizer::lsh(16, 16, 1)};
  EXPECT_XMR_ERROR(mixed.to_bytes(), ErrorCode::InvalidArgument, "image.bits (= 8)", "text.bits (= 16)");
}

TEST(Binarize, UnopenableFilesThrowIo) {
  const std::string missing = (std::filesystem::temp_directory_path() / "xmr_no_such_dir" / "x.xmrb").string();
  EXPECT_XMR_ERROR(Binarizer::load(missing), ErrorCode::Io, missing);
  EXPECT_XMR_ERROR(CrossModalBinarizer::load(missing), ErrorCode::Io, missing);
  EXPECT_XMR_ERROR(Binarizer::sign(8).save(missing), ErrorCode::Io, missing);
  const CrossModalBinarizer pair{Binarizer::sign(8), Binarizer::sign(8)};
  EXPECT_XMR_ERROR(pair.save(missing), ErrorCode::Io, missing);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs.

TEST(Binarize, BadInputsThrowInvalidArgumentNamingTheArgument) {
  const std::vector<float> train = random_rows(51, 40, 16);
  const auto tv = view(train, 40, 16);
  std::vector<float> with_nan = train;
  with_nan[3 * 16 + 5] = kNan;
  std::vector<float> with_inf = train;
  with_inf[7 * 16 + 2] = -kInf;

  // Factories.
  EXPECT_XMR_ERROR(Binarizer::sign(12), ErrorCode::InvalidArgument, "dim (= 12)");
  EXPECT_XMR_ERROR(Binarizer::sign(0), ErrorCode::InvalidArgument, "dim (= 0)");
  EXPECT_XMR_ERROR(Binarizer::sign(4104), ErrorCode::InvalidArgument, "dim (= 4104)");
  EXPECT_XMR_ERROR(Binarizer::sign_median(view(train, 40, 12)), ErrorCode::InvalidArgument, "train.cols (= 12)");
  EXPECT_XMR_ERROR(Binarizer::sign_median(view(train, 1, 16)), ErrorCode::InvalidArgument, "train.rows (= 1)");
  EXPECT_XMR_ERROR(Binarizer::sign_median(view(with_nan, 40, 16)), ErrorCode::InvalidArgument, "train", "row 3",
                   "column 5", "nan");
  EXPECT_XMR_ERROR(Binarizer::lsh(0, 8, 1), ErrorCode::InvalidArgument, "dim (= 0)");
  EXPECT_XMR_ERROR(Binarizer::lsh(xmr::kMaxBinarizerDim + 1, 8, 1), ErrorCode::InvalidArgument, "dim (= 1048577)");
  EXPECT_XMR_ERROR(Binarizer::lsh(16, 0, 1), ErrorCode::InvalidArgument, "bits (= 0)");
  EXPECT_XMR_ERROR(Binarizer::lsh(16, 20, 1), ErrorCode::InvalidArgument, "bits (= 20)");
  EXPECT_XMR_ERROR(Binarizer::lsh(16, 4104, 1), ErrorCode::InvalidArgument, "bits (= 4104)");
  EXPECT_XMR_ERROR(Binarizer::lsh(view(with_inf, 40, 16), 8), ErrorCode::InvalidArgument, "train", "row 7", "column 2",
                   "inf");
  EXPECT_XMR_ERROR(Binarizer::lsh(view(train, 0, 16), 8), ErrorCode::InvalidArgument, "train.rows (= 0)");
  EXPECT_XMR_ERROR(Binarizer::itq(tv, 24), ErrorCode::InvalidArgument, "bits (= 24)", "train.cols (= 16)");
  EXPECT_XMR_ERROR(Binarizer::itq(tv, 7), ErrorCode::InvalidArgument, "bits (= 7)");
  EXPECT_XMR_ERROR(Binarizer::itq(tv, 8, {.iterations = -1}), ErrorCode::InvalidArgument, "options.iterations (= -1)");
  EXPECT_XMR_ERROR(Binarizer::itq(tv, 8, {.iterations = xmr::kMaxItqIterations + 1}), ErrorCode::InvalidArgument,
                   "options.iterations");
  EXPECT_XMR_ERROR(Binarizer::itq(view(train, 1, 16), 8), ErrorCode::InvalidArgument, "train.rows (= 1)");
  EXPECT_XMR_ERROR(Binarizer::itq(view(with_nan, 40, 16), 8), ErrorCode::InvalidArgument, "train", "row 3");
  EXPECT_XMR_ERROR(Binarizer::itq(MatrixView<const float>(nullptr, 5, 16), 8), ErrorCode::InvalidArgument,
                   "train.data (= null)");
  EXPECT_XMR_ERROR(Binarizer::itq(MatrixView<const float>(train.data(), 5, 16, 8), 8), ErrorCode::InvalidArgument,
                   "train.stride (= 8)");
  EXPECT_XMR_ERROR(Binarizer::itq(MatrixView<const float>(train.data(), 5, 0), 8), ErrorCode::InvalidArgument,
                   "train.cols (= 0)");
  EXPECT_XMR_ERROR(Binarizer::itq(MatrixView<const float>(train.data(), 5, 16, -1, xmr::MemorySpace::Device), 8),
                   ErrorCode::InvalidArgument, "train.space");

  // Cross-modal.
  const std::vector<float> text = random_rows(52, 40, 12);
  const auto yv = view(text, 40, 12);
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, view(text, 39, 12), 8), ErrorCode::InvalidArgument,
                   "text_train.rows (= 39)", "image_train.rows (= 40)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 16), ErrorCode::InvalidArgument, "bits (= 16)", "(= 12)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 9), ErrorCode::InvalidArgument, "bits (= 9)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(view(with_nan, 40, 16), yv, 8), ErrorCode::InvalidArgument, "image_train",
                   "row 3");
  std::vector<float> text_nan = text;
  text_nan[12 * 2 + 1] = kNan;
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, view(text_nan, 40, 12), 8), ErrorCode::InvalidArgument, "text_train",
                   "row 2", "column 1");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(view(train, 1, 16), view(text, 1, 12), 8), ErrorCode::InvalidArgument,
                   "image_train.rows (= 1)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 8, {.iterations = -3}), ErrorCode::InvalidArgument,
                   "options.iterations (= -3)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 8, {.regularization = -1.0}), ErrorCode::InvalidArgument,
                   "options.regularization (= -1)");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 8, {.regularization = std::nan("")}), ErrorCode::InvalidArgument,
                   "options.regularization");
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, yv, 8, {.correlation_power = -0.5}), ErrorCode::InvalidArgument,
                   "options.correlation_power (= -0.5)");
  EXPECT_XMR_ERROR(
      xmr::train_cross_modal_itq(tv, yv, 8, {.correlation_power = std::numeric_limits<double>::infinity()}),
      ErrorCode::InvalidArgument, "options.correlation_power");
  // Fewer pairs than dimensions without a ridge: rank-deficient covariance.
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(view(train, 10, 16), view(text, 10, 12), 8, {.regularization = 0.0}),
                   ErrorCode::InvalidArgument, "image_train", "rank-deficient", "options.regularization");
  // ... and with the default ridge it trains.
  EXPECT_EQ(xmr::train_cross_modal_itq(view(train, 10, 16), view(text, 10, 12), 8).image.bits(), 8);
  // Constant data has no variance to correlate.
  const std::vector<float> constant(40 * 12, 3.0f);
  EXPECT_XMR_ERROR(xmr::train_cross_modal_itq(tv, view(constant, 40, 12), 8), ErrorCode::InvalidArgument, "text_train",
                   "zero variance");

  // Encode.
  const Binarizer b = Binarizer::itq(tv, 16);
  std::vector<std::uint8_t> codes(40 * 2, 0);
  const MatrixView<std::uint8_t> cv(codes.data(), 40, 2);
  EXPECT_XMR_ERROR(b.encode(view(train, 40, 12)), ErrorCode::InvalidArgument, "x.cols (= 12)", "(= 16)");
  EXPECT_XMR_ERROR(b.encode(view(with_nan, 40, 16)), ErrorCode::InvalidArgument, "x", "row 3", "column 5", "nan");
  EXPECT_XMR_ERROR(b.encode(MatrixView<const float>(nullptr, 2, 16)), ErrorCode::InvalidArgument, "x.data (= null)");
  EXPECT_XMR_ERROR(b.encode(tv, MatrixView<std::uint8_t>(codes.data(), 39, 2)), ErrorCode::InvalidArgument,
                   "codes.rows (= 39)", "x.rows (= 40)");
  EXPECT_XMR_ERROR(b.encode(tv, MatrixView<std::uint8_t>(codes.data(), 40, 3)), ErrorCode::InvalidArgument,
                   "codes.cols (= 3)", "(= 2");
  EXPECT_XMR_ERROR(b.encode(tv, MatrixView<std::uint8_t>(codes.data(), 40, 2, 1)), ErrorCode::InvalidArgument,
                   "codes.stride (= 1)");
  EXPECT_XMR_ERROR(b.encode(tv, MatrixView<std::uint8_t>(nullptr, 40, 2)), ErrorCode::InvalidArgument,
                   "codes.data (= null)");
  EXPECT_XMR_ERROR(b.encode(tv, MatrixView<std::uint8_t>(codes.data(), 40, 2, -1, xmr::MemorySpace::Device)),
                   ErrorCode::InvalidArgument, "codes.space");
  // A failed encode wrote nothing (every value is checked first), and the binariser still works.
  std::vector<std::uint8_t> untouched(40 * 2, 0x5A);
  EXPECT_XMR_ERROR(b.encode(view(with_nan, 40, 16), MatrixView<std::uint8_t>(untouched.data(), 40, 2)),
                   ErrorCode::InvalidArgument, "row 3");
  EXPECT_EQ(untouched, std::vector<std::uint8_t>(40 * 2, 0x5A));
  b.encode(tv, cv);
  EXPECT_EQ(codes, b.encode(tv));
}

TEST(Binarize, KindNames) {
  EXPECT_STREQ(xmr::to_string(BinarizerKind::Sign), "sign");
  EXPECT_STREQ(xmr::to_string(BinarizerKind::SignMedian), "sign_median");
  EXPECT_STREQ(xmr::to_string(BinarizerKind::Lsh), "lsh");
  EXPECT_STREQ(xmr::to_string(BinarizerKind::Itq), "itq");
  EXPECT_STREQ(xmr::to_string(BinarizerKind::CrossModalItq), "cross_modal_itq");
}

TEST(Binarize, CopiesShareAndOutliveTheOriginal) {
  const std::vector<float> x = random_rows(61, 3, 16);
  std::vector<std::uint8_t> expect;
  Binarizer copy = Binarizer::sign(8);
  {
    const Binarizer original = Binarizer::lsh(16, 32, 77);
    expect = original.encode(view(x, 3, 16));
    copy = original;
  }
  EXPECT_EQ(copy.encode(view(x, 3, 16)), expect);
  Binarizer moved = std::move(copy);
  EXPECT_EQ(moved.encode(view(x, 3, 16)), expect);
  EXPECT_EQ(copy.bits(), 32);  // NOLINT(bugprone-use-after-move): moves copy, documented
}

}  // namespace
