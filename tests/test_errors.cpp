// Every bad input: the error code, a message that names the argument (and its value), and an
// index that is unchanged afterwards and still answers exactly as before.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::DenseIndex;
using xmr::Device;
using xmr::DType;
using xmr::ErrorCode;
using xmr::half;
using xmr::MatrixView;
using xmr::Metric;

constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

/// Called after every expected error (the ErrorsTest fixture installs a check that its indexes
/// are unchanged and still answer as before).
std::function<void()> g_after_error;

#undef EXPECT_XMR_ERROR
/// EXPECT_XMR_ERROR that also runs the fixture's after-error check (g_after_error).
#define EXPECT_XMR_ERROR(statement, code, ...) \
  ::xmr_test::expect_error([&] { (void)(statement); }, code, {__VA_ARGS__}, #statement, g_after_error)

/// What an index answers now; compared after every failed call.
struct Snapshot {
  std::int64_t size = 0;
  std::vector<std::int64_t> ids;
  xmr::SearchResult result;
};

class ErrorsTest : public ::testing::Test {
 protected:
  static constexpr std::int64_t kDim = 4;
  static constexpr std::uint64_t kSeed = 31337;

  void SetUp() override {
    xmr_test::Rng rng(kSeed);
    items_ = xmr_test::random_matrix(rng, 20, kDim);
    probe_ = xmr_test::random_matrix(rng, 3, kDim);
    ids_.clear();
    for (std::int64_t i = 0; i < 20; ++i) ids_.push_back(100 + 3 * i);
    cosine_.add(MatrixView<const float>(items_.data(), 20, kDim), ids_);
    ip16_.add(MatrixView<const float>(items_.data(), 20, kDim), ids_);
    before_cosine_ = snapshot(cosine_);
    before_ip16_ = snapshot(ip16_);
    g_after_error = [this] { check_unchanged(); };
  }

  void TearDown() override {
    g_after_error = nullptr;
    check_unchanged();
  }

  Snapshot snapshot(const DenseIndex& index) const {
    return {index.size(), index.ids(),
            index.search(MatrixView<const float>(probe_.data(), 3, kDim), 7, {.device = Device::Cpu})};
  }

  void expect_unchanged(const DenseIndex& index, const Snapshot& before, const char* what) const {
    SCOPED_TRACE(std::string(what) + ", seed " + std::to_string(kSeed));
    EXPECT_EQ(index.size(), before.size);
    EXPECT_EQ(index.ids(), before.ids);
    const Snapshot now = snapshot(index);
    EXPECT_EQ(now.result.ids, before.result.ids);
    EXPECT_EQ(0, std::memcmp(now.result.scores.data(), before.result.scores.data(),
                             before.result.scores.size() * sizeof(float)));
  }

  /// Checks both indexes now (done after every expected error and at the end of each test).
  void check_unchanged() const {
    expect_unchanged(cosine_, before_cosine_, "cosine index");
    expect_unchanged(ip16_, before_ip16_, "fp16 inner-product index");
  }

  MatrixView<const float> probe() const { return {probe_.data(), 3, kDim}; }

  std::vector<float> items_;
  std::vector<float> probe_;
  std::vector<std::int64_t> ids_;
  DenseIndex cosine_{{.dim = kDim, .metric = Metric::Cosine, .storage = DType::F32}};
  DenseIndex ip16_{{.dim = kDim, .metric = Metric::InnerProduct, .storage = DType::F16}};
  Snapshot before_cosine_;
  Snapshot before_ip16_;
};

TEST_F(ErrorsTest, DimensionMismatch) {
  const std::vector<float> v(12, 1.0f);
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 4, 3)), ErrorCode::InvalidArgument,
                   "vectors.cols (= 3)", "(= 4)");
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 2, 5), std::vector<std::int64_t>{1, 2}),
                   ErrorCode::InvalidArgument, "vectors.cols (= 5)");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 4, 3), 1), ErrorCode::InvalidArgument,
                   "queries.cols (= 3)", "(= 4)");
  const std::vector<half> h(12, xmr::to_half(1.0f));
  EXPECT_XMR_ERROR(ip16_.search(MatrixView<const half>(h.data(), 2, 6), 1), ErrorCode::InvalidArgument,
                   "queries.cols (= 6)");
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const half>(h.data(), 6, 2)), ErrorCode::InvalidArgument, "vectors.cols (= 2)");
}

// A result that cannot be allocated is OutOfMemory (never a std::length_error or a crash), and a
// bad call with a huge result is reported as the bad argument, not as out of memory. The query
// view claims 2^30 rows over a small buffer: the call must fail before reading any of them.
TEST_F(ErrorsTest, HugeResultsFailCleanly) {
  const std::vector<float> q(16, 1.0f);
  const std::int64_t rows = std::int64_t{1} << 30;
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(q.data(), rows, kDim), (std::int64_t{1} << 31) - 1),
                   ErrorCode::OutOfMemory, "DenseIndex::search");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(q.data(), rows, kDim + 1), (std::int64_t{1} << 31) - 1),
                   ErrorCode::InvalidArgument, "queries.cols");
}

TEST_F(ErrorsTest, BadK) {
  EXPECT_XMR_ERROR(cosine_.search(probe(), 0), ErrorCode::InvalidArgument, "k (= 0)");
  EXPECT_XMR_ERROR(cosine_.search(probe(), -5), ErrorCode::InvalidArgument, "k (= -5)");
  EXPECT_XMR_ERROR(cosine_.search(probe(), std::int64_t{1} << 31), ErrorCode::InvalidArgument, "k (= 2147483648)");
  EXPECT_XMR_ERROR(cosine_.search(probe(), kMaxI64), ErrorCode::InvalidArgument, "k (= 9223372036854775807)");
  std::vector<std::int64_t> ids(3);
  std::vector<float> scores(3);
  EXPECT_XMR_ERROR(cosine_.search_into(probe(), 0, MatrixView<std::int64_t>(ids.data(), 3, 0),
                                       MatrixView<float>(scores.data(), 3, 0)),
                   ErrorCode::InvalidArgument, "k (= 0)");
  // k above the number of items is fine (padding).
  EXPECT_NO_THROW((void)cosine_.search(probe(), 1000));
}

TEST_F(ErrorsTest, NonFiniteValues) {
  std::vector<float> v(3 * kDim, 0.5f);
  v[2 * kDim + 1] = kNan;
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 3, kDim)), ErrorCode::InvalidArgument, "vectors[2][1]",
                   "nan");
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const float>(v.data(), 3, kDim), std::vector<std::int64_t>{1, 2, 3}),
                   ErrorCode::InvalidArgument, "vectors[2][1]", "nan");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 3, kDim), 2), ErrorCode::InvalidArgument,
                   "queries[2][1]", "nan");
  v[2 * kDim + 1] = 0.5f;
  v[1 * kDim + 3] = -kInf;
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const float>(v.data(), 3, kDim)), ErrorCode::InvalidArgument, "vectors[1][3]",
                   "inf");
  EXPECT_XMR_ERROR(ip16_.search(MatrixView<const float>(v.data(), 3, kDim), 2), ErrorCode::InvalidArgument,
                   "queries[1][3]", "inf");
  // binary16 inputs: inf and NaN bit patterns.
  std::vector<half> h(2 * kDim, xmr::to_half(1.0f));
  h[kDim + 2] = half{0x7C00};
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const half>(h.data(), 2, kDim)), ErrorCode::InvalidArgument, "vectors[1][2]",
                   "inf");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const half>(h.data(), 2, kDim), 1), ErrorCode::InvalidArgument,
                   "queries[1][2]", "inf");
  h[kDim + 2] = half{0x7E00};
  EXPECT_XMR_ERROR(ip16_.search(MatrixView<const half>(h.data(), 2, kDim), 1), ErrorCode::InvalidArgument,
                   "queries[1][2]", "nan");
  // A NaN in the padding of a strided view is never read.
  std::vector<float> strided = {1, 2, 3, 4, kNan, 5, 6, 7, 8, kNan};
  EXPECT_NO_THROW((void)cosine_.search(MatrixView<const float>(strided.data(), 2, kDim, 5), 1));
}

TEST_F(ErrorsTest, ZeroNormUnderCosine) {
  std::vector<float> v(3 * kDim, 1.0f);
  for (std::int64_t c = 0; c < kDim; ++c) v[static_cast<std::size_t>(kDim + c)] = 0.0f;
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 3, kDim)), ErrorCode::InvalidArgument, "vectors[1]",
                   "zero norm");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 3, kDim), 1), ErrorCode::InvalidArgument,
                   "queries[1]", "zero norm");
  const std::vector<half> h = xmr_test::to_half(v);
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const half>(h.data(), 3, kDim), 1), ErrorCode::InvalidArgument,
                   "queries[1]", "zero norm");
}

TEST(Errors, ZeroNormAllowedUnderInnerProduct) {
  for (DType storage : {DType::F32, DType::F16}) {
    SCOPED_TRACE(xmr::to_string(storage));
    DenseIndex index({.dim = 3, .metric = Metric::InnerProduct, .storage = storage});
    const std::vector<float> v = {0, 0, 0, 1, 2, 3, -0.0f, 0, 0};
    ASSERT_NO_THROW(index.add(MatrixView<const float>(v.data(), 3, 3)));
    const std::vector<float> q = {0, 0, 0, 1, 0, 0};
    const xmr::SearchResult r = index.search(MatrixView<const float>(q.data(), 2, 3), 3, {.device = Device::Cpu});
    // The zero query scores 0 everywhere: ties by ascending id.
    EXPECT_EQ(r.ids, (std::vector<std::int64_t>{0, 1, 2, 1, 0, 2}));
    EXPECT_EQ(r.scores, (std::vector<float>{0, 0, 0, 1, 0, 0}));
  }
}

TEST(Errors, EmptyIndexSearch) {
  for (Metric metric : {Metric::Cosine, Metric::InnerProduct}) {
    DenseIndex index({.dim = 2, .metric = metric});
    const std::vector<float> q = {1, 2};
    EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 1, 2), 1), ErrorCode::InvalidArgument,
                     "index size (= 0)");
    std::vector<std::int64_t> ids(1);
    std::vector<float> scores(1);
    EXPECT_XMR_ERROR(
        index.search_into(MatrixView<const float>(q.data(), 1, 2), 1, MatrixView<std::int64_t>(ids.data(), 1, 1),
                          MatrixView<float>(scores.data(), 1, 1)),
        ErrorCode::InvalidArgument, "index size (= 0)");
    EXPECT_EQ(index.size(), 0);
  }
}

TEST_F(ErrorsTest, NullAndMisalignedPointers) {
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(nullptr, 2, kDim)), ErrorCode::InvalidArgument,
                   "vectors.data (= null)", "rows (= 2)");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(nullptr, 1, kDim), 1), ErrorCode::InvalidArgument,
                   "queries.data (= null)");
  EXPECT_XMR_ERROR(ip16_.search(MatrixView<const half>(nullptr, 3, kDim), 1), ErrorCode::InvalidArgument,
                   "queries.data (= null)");
  alignas(16) unsigned char buf[64] = {};
  const float one = 1.0f;
  for (std::size_t i = 0; i < 8; ++i) std::memcpy(buf + 1 + 4 * i, &one, sizeof one);
  const auto* misaligned = reinterpret_cast<const float*>(buf + 1);
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(misaligned, 2, kDim)), ErrorCode::InvalidArgument,
                   "vectors.data", "not aligned");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(misaligned, 2, kDim), 1), ErrorCode::InvalidArgument,
                   "queries.data", "not aligned");
  const auto* misaligned_h = reinterpret_cast<const half*>(buf + 1);
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const half>(misaligned_h, 1, kDim)), ErrorCode::InvalidArgument, "vectors.data",
                   "not aligned");
}

TEST_F(ErrorsTest, BadShapes) {
  const std::vector<float> v(40, 1.0f);
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 2, kDim, 2)), ErrorCode::InvalidArgument,
                   "vectors.stride (= 2)");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 2, kDim, 3), 1), ErrorCode::InvalidArgument,
                   "queries.stride (= 3)");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), -1, kDim), 1), ErrorCode::InvalidArgument,
                   "queries.rows (= -1)");
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), -2, kDim)), ErrorCode::InvalidArgument,
                   "vectors.rows (= -2)");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 1, kDim, -1, xmr::MemorySpace::Device), 1),
                   ErrorCode::InvalidArgument, "queries.space");
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 1, kDim, -1, xmr::MemorySpace::Device)),
                   ErrorCode::InvalidArgument, "vectors.space");
}

TEST_F(ErrorsTest, BadIds) {
  const std::vector<float> v(3 * kDim, 1.0f);
  const MatrixView<const float> three(v.data(), 3, kDim);
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{1, 2}), ErrorCode::InvalidArgument, "ids.size() (= 2)",
                   "vectors.rows() (= 3)");
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{1, 2, 3, 4}), ErrorCode::InvalidArgument,
                   "ids.size() (= 4)", "vectors.rows() (= 3)");
  EXPECT_XMR_ERROR(
      ip16_.add(MatrixView<const half>(xmr_test::to_half(v).data(), 3, kDim), std::vector<std::int64_t>{1}),
      ErrorCode::InvalidArgument, "ids.size() (= 1)");
  // Duplicates within the batch and against stored ids (100, 103, ... 157).
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{7, 8, 7}), ErrorCode::InvalidArgument, "ids[2] (= 7)",
                   "ids[0]");
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{1, 103, 2}), ErrorCode::InvalidArgument,
                   "ids[1] (= 103)", "already");
  EXPECT_XMR_ERROR(ip16_.add(three, std::vector<std::int64_t>{160, 1, 157}), ErrorCode::InvalidArgument,
                   "ids[2] (= 157)", "already");
  // Out of range.
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{1, -3, 2}), ErrorCode::InvalidArgument,
                   "ids[1] (= -3)");
  EXPECT_XMR_ERROR(cosine_.add(three, std::vector<std::int64_t>{1, 2, kMaxI64}), ErrorCode::InvalidArgument,
                   "ids[2] (= 9223372036854775807)");
}

// An empty id span with a non-empty batch is a size mismatch, not "no ids given".
TEST_F(ErrorsTest, EmptyIdsForNonEmptyBatch) {
  const std::vector<float> v(3 * kDim, 1.0f);
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 3, kDim), std::span<const std::int64_t>()),
                   ErrorCode::InvalidArgument, "ids.size() (= 0)", "vectors.rows() (= 3)");
  EXPECT_XMR_ERROR(
      ip16_.add(MatrixView<const half>(xmr_test::to_half(v).data(), 3, kDim), std::span<const std::int64_t>()),
      ErrorCode::InvalidArgument, "ids.size() (= 0)", "vectors.rows() (= 3)");
}

TEST(Errors, SequentialIdsPastTheLargestId) {
  DenseIndex index({.dim = 1, .metric = Metric::InnerProduct});
  const std::vector<float> v = {1, 2};
  index.add(MatrixView<const float>(v.data(), 1, 1), std::vector<std::int64_t>{kMaxI64 - 1});
  EXPECT_XMR_ERROR(index.add(MatrixView<const float>(v.data(), 2, 1)), ErrorCode::InvalidArgument,
                   "9223372036854775807");
  EXPECT_EQ(index.ids(), (std::vector<std::int64_t>{kMaxI64 - 1}));
}

TEST_F(ErrorsTest, Fp16Overflow) {
  std::vector<float> v(2 * kDim, 1.0f);
  v[kDim + 2] = 1e6f;
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const float>(v.data(), 2, kDim)), ErrorCode::InvalidArgument, "vectors[1]",
                   "1e+06", "65504");
  EXPECT_XMR_ERROR(ip16_.search(MatrixView<const float>(v.data(), 2, kDim), 3), ErrorCode::InvalidArgument,
                   "queries[1]", "1e+06", "65504");
  v[kDim + 2] = 65520.0f;  // rounds to inf in binary16
  EXPECT_XMR_ERROR(ip16_.add(MatrixView<const float>(v.data(), 2, kDim)), ErrorCode::InvalidArgument, "vectors[1]",
                   "65520");
  // 65504 is the largest finite half: accepted. Under cosine, normalisation keeps values in range.
  DenseIndex ok({.dim = kDim, .metric = Metric::InnerProduct, .storage = DType::F16});
  v[kDim + 2] = 65504.0f;
  EXPECT_NO_THROW(ok.add(MatrixView<const float>(v.data(), 2, kDim)));
  DenseIndex cos16({.dim = kDim, .metric = Metric::Cosine, .storage = DType::F16});
  v[kDim + 2] = 1e30f;
  EXPECT_NO_THROW(cos16.add(MatrixView<const float>(v.data(), 2, kDim)));
  EXPECT_EQ(cos16.size(), 2);
}

TEST_F(ErrorsTest, GpuWithoutGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  EXPECT_XMR_ERROR(cosine_.search(probe(), 2, {.device = Device::Gpu}), ErrorCode::Unavailable, "device (= gpu)");
  DenseIndex gpu_index({.dim = kDim, .metric = Metric::Cosine, .device = Device::Gpu});
  gpu_index.add(MatrixView<const float>(items_.data(), 2, kDim));
  EXPECT_XMR_ERROR(gpu_index.search(probe(), 2), ErrorCode::Unavailable, "device (= gpu)");
  EXPECT_EQ(gpu_index.search(probe(), 2, {.device = Device::Cpu}).device, Device::Cpu);
}

TEST(Errors, BadIndexOptions) {
  EXPECT_XMR_ERROR(DenseIndex({.dim = 0}), ErrorCode::InvalidArgument, "options.dim (= 0)");
  EXPECT_XMR_ERROR(DenseIndex({.dim = -7}), ErrorCode::InvalidArgument, "options.dim (= -7)");
  EXPECT_XMR_ERROR(DenseIndex({.dim = 2, .metric = static_cast<Metric>(9)}), ErrorCode::InvalidArgument,
                   "options.metric (= 9)");
  EXPECT_XMR_ERROR(DenseIndex({.dim = 2, .storage = static_cast<DType>(5)}), ErrorCode::InvalidArgument,
                   "options.storage (= 5)");
  EXPECT_XMR_ERROR(DenseIndex({.dim = 2, .device = static_cast<Device>(-1)}), ErrorCode::InvalidArgument,
                   "options.device (= -1)");
}

TEST(Errors, BadResources) {
  xmr::Resources res;
  res.set_tile_caps(5, 6);
  EXPECT_XMR_ERROR(res.set_tile_caps(-1, 0), ErrorCode::InvalidArgument, "max_query_rows (= -1)");
  EXPECT_XMR_ERROR(res.set_tile_caps(0, -2), ErrorCode::InvalidArgument, "max_db_rows (= -2)");
  EXPECT_EQ(res.max_query_rows(), 5);
  EXPECT_EQ(res.max_db_rows(), 6);
  const std::size_t before = res.workspace_bytes();
  EXPECT_EQ(before, std::size_t{512} << 20);
  EXPECT_XMR_ERROR(res.set_workspace_bytes(1000), ErrorCode::InvalidArgument, "bytes (= 1000)");
  EXPECT_XMR_ERROR(res.set_workspace_bytes((std::size_t{1} << 20) - 1), ErrorCode::InvalidArgument,
                   "bytes (= 1048575)");
  EXPECT_EQ(res.workspace_bytes(), before);
  EXPECT_NO_THROW(res.set_workspace_bytes(std::size_t{1} << 20));
  EXPECT_EQ(res.workspace_bytes(), std::size_t{1} << 20);
  EXPECT_XMR_ERROR(xmr::Resources(-1), ErrorCode::InvalidArgument, "device_id (= -1)");
}

// A k whose scratch cannot fit the workspace budget is OutOfMemory naming k and the budget; the
// same call with the default budget works. (The backends select min(k, N): N must be large too.
// At N = k = 50000 one query needs 3 x (2k + 64) keys = 2.4 MB on any thread count.)
TEST(Errors, WorkspaceTooSmallForK) {
  constexpr std::int64_t kN = 50000;
  std::vector<float> v(kN);
  for (std::int64_t i = 0; i < kN; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i % 97) - 48.0f;
  DenseIndex index({.dim = 1, .metric = Metric::InnerProduct});
  index.add(MatrixView<const float>(v.data(), kN, 1));
  const float q = 1.0f;
  xmr::Resources res;
  res.set_workspace_bytes(std::size_t{1} << 20);
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(&q, 1, 1), kN, {.device = Device::Cpu, .resources = &res}),
                   ErrorCode::OutOfMemory, "k (= 50000)", "workspace");
  EXPECT_XMR_ERROR(
      index.search(MatrixView<const float>(&q, 1, 1), 1'000'000, {.device = Device::Cpu, .resources = &res}),
      ErrorCode::OutOfMemory, "workspace");
  // The same Resources still serves a search that fits, and the default budget serves this one.
  EXPECT_EQ(index.search(MatrixView<const float>(&q, 1, 1), 10, {.device = Device::Cpu, .resources = &res}).id(0, 0),
            96);
  const xmr::SearchResult r = index.search(MatrixView<const float>(&q, 1, 1), kN, {.device = Device::Cpu});
  EXPECT_EQ(r.id(0, 0), 96);  // the first row holding 48
  EXPECT_EQ(r.score(0, 0), 48.0f);
  EXPECT_EQ(r.score(0, kN - 1), -48.0f);
}

// Device out-of-memory (injected): OutOfMemory, the index unchanged, and the next search works.
TEST_F(ErrorsTest, DeviceOutOfMemoryLeavesIndexUsable) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr::testing::fail_next_device_allocations(1);
  EXPECT_XMR_ERROR(cosine_.search(probe(), 7, {.device = Device::Gpu}), ErrorCode::OutOfMemory);
  xmr::testing::fail_next_device_allocations(0);
  const xmr::SearchResult gpu = cosine_.search(probe(), 7, {.device = Device::Gpu});
  EXPECT_EQ(gpu.ids, before_cosine_.result.ids);
}

TEST_F(ErrorsTest, BadOutputViews) {
  constexpr std::int64_t kK = 4;
  std::vector<std::int64_t> ids(64);
  std::vector<float> scores(64);
  auto run = [&](MatrixView<std::int64_t> oi, MatrixView<float> os) {
    return cosine_.search_into(probe(), kK, oi, os);
  };
  const MatrixView<std::int64_t> good_ids(ids.data(), 3, kK);
  const MatrixView<float> good_scores(scores.data(), 3, kK);
  EXPECT_XMR_ERROR(run(MatrixView<std::int64_t>(ids.data(), 2, kK), good_scores), ErrorCode::InvalidArgument,
                   "out_ids.rows (= 2)", "(= 3)");
  EXPECT_XMR_ERROR(run(good_ids, MatrixView<float>(scores.data(), 3, 5)), ErrorCode::InvalidArgument,
                   "out_scores.cols (= 5)", "k (= 4)");
  EXPECT_XMR_ERROR(run(MatrixView<std::int64_t>(ids.data(), 3, kK, 3), good_scores), ErrorCode::InvalidArgument,
                   "out_ids.stride (= 3)");
  EXPECT_XMR_ERROR(run(good_ids, MatrixView<float>(nullptr, 3, kK)), ErrorCode::InvalidArgument,
                   "out_scores.data (= null)");
  EXPECT_XMR_ERROR(run(good_ids, MatrixView<float>(scores.data(), 3, kK, -1, xmr::MemorySpace::Device)),
                   ErrorCode::InvalidArgument, "out_scores.space");
  alignas(16) unsigned char buf[256] = {};
  EXPECT_XMR_ERROR(run(MatrixView<std::int64_t>(reinterpret_cast<std::int64_t*>(buf + 4), 3, kK), good_scores),
                   ErrorCode::InvalidArgument, "out_ids.data", "not aligned");
  EXPECT_NO_THROW((void)run(good_ids, good_scores));
}

TEST(Errors, SyntheticSpec) {
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.num_images = 0}), ErrorCode::InvalidArgument,
                   "spec.num_images (= 0)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.captions_per_image = 0}), ErrorCode::InvalidArgument,
                   "spec.captions_per_image (= 0)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.num_labels = 4, .max_labels_per_item = 5}),
                   ErrorCode::InvalidArgument, "spec.max_labels_per_item (= 5)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.dim = 0}), ErrorCode::InvalidArgument, "spec.dim (= 0)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.image_noise = -1.0f}), ErrorCode::InvalidArgument, "(= -1)");
  EXPECT_XMR_ERROR(xmr::synth::random_normal(-1, 3, 1), ErrorCode::InvalidArgument, "rows (= -1)");
  EXPECT_XMR_ERROR(xmr::synth::random_normal(3, -4, 1), ErrorCode::InvalidArgument, "cols (= -4)");
}

}  // namespace
