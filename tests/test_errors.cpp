// Every bad input: the error code, a message that names the argument (and its value), and an
// index that is unchanged afterwards and still answers exactly as before. Also injected failures:
// host allocations (xmr::testing::fail_next_host_allocations for xmr's large arrays, and every
// operator new of a call through this binary's replacement below), device allocations and device
// calls (GPU only). docs/errors.md is the table of all of them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

// ---------------------------------------------------------------------------------------------
// Allocation failure injection for this test binary: the replaceable global operator new (the
// library's own calls resolve to it too). Armed per thread: after t_new_fail_after more
// allocations on this thread succeed, the next one throws std::bad_alloc (-1: never). The whole
// non-aligned family is replaced so that every block comes from malloc and goes back to free
// (sanitizers see matching pairs); the nothrow forms are never failed.

namespace {
thread_local long t_new_fail_after = -1;
thread_local bool t_new_failed = false;

void* counted_new(std::size_t n) {
  if (t_new_fail_after >= 0 && t_new_fail_after-- == 0) {
    t_new_failed = true;
    throw std::bad_alloc();
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  return counted_new(n);
}
void* operator new[](std::size_t n) {
  return counted_new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

using xmr::DenseIndex;
using xmr::DenseIndexOptions;
using xmr::Device;
using xmr::DType;
using xmr::ErrorCode;
using xmr::half;
using xmr::MatrixView;
using xmr::Metric;
using xmr::SearchOptions;

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
  // Device memory with device Cpu (tests/test_device_memory.cpp has the other device-memory rules);
  // add: host memory marked Device is not device memory, or there is no GPU to copy it from.
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), 1, kDim, -1, xmr::MemorySpace::Device), 1,
                                  {.device = Device::Cpu}),
                   ErrorCode::InvalidArgument, "queries.space");
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 1, kDim, -1, xmr::MemorySpace::Device)),
                   xmr::gpu_count() > 0 ? ErrorCode::InvalidArgument : ErrorCode::Unavailable, "vectors.");
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
  EXPECT_XMR_ERROR(
      cosine_.search_into(probe(), kK, good_ids, MatrixView<float>(scores.data(), 3, kK, -1, xmr::MemorySpace::Device),
                          {.device = Device::Cpu}),
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
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.instance_spread = -1.0f}), ErrorCode::InvalidArgument,
                   "spec.instance_spread (= -1)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.image_noise = kNan}), ErrorCode::InvalidArgument,
                   "spec.image_noise (= nan)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.text_noise = kInf}), ErrorCode::InvalidArgument,
                   "spec.text_noise (= inf)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.modality_gap = -0.5f}), ErrorCode::InvalidArgument,
                   "spec.modality_gap (= -0.5)");
  EXPECT_XMR_ERROR(xmr::synth::make_cross_modal({.num_labels = 0}), ErrorCode::InvalidArgument,
                   "spec.num_labels (= 0)");
  EXPECT_XMR_ERROR(xmr::synth::random_normal(-1, 3, 1), ErrorCode::InvalidArgument, "rows (= -1)");
  EXPECT_XMR_ERROR(xmr::synth::random_normal(3, -4, 1), ErrorCode::InvalidArgument, "cols (= -4)");
}

// ---- wrong dtypes ------------------------------------------------------------------------------

template <class Index, class View>
concept CanAdd = requires(Index& index, View v) {
  index.add(v);
};
template <class Index, class View>
concept CanSearch = requires(const Index& index, View v) {
  index.search(v, 1);
};
template <class View>
concept CanEncode = requires(const xmr::Binarizer& b, View v) {
  b.encode(v);
};

// The C++ API takes typed views: a buffer of another scalar type does not compile (no overload,
// no conversion), so there is no run-time dtype error to test. The C ABI and Python layers,
// which take a dtype tag, check it at run time.
TEST(Errors, WrongDtypeDoesNotCompile) {
  static_assert(!std::is_convertible_v<MatrixView<const double>, MatrixView<const float>>);
  static_assert(!std::is_convertible_v<MatrixView<const float>, MatrixView<const half>>);
  static_assert(!CanAdd<DenseIndex, MatrixView<const double>>);
  static_assert(!CanAdd<DenseIndex, MatrixView<const std::uint8_t>>);
  static_assert(!CanSearch<DenseIndex, MatrixView<const std::int32_t>>);
  static_assert(!CanAdd<xmr::BinaryIndex, MatrixView<const float>>);
  static_assert(!CanSearch<xmr::BinaryIndex, MatrixView<const std::int8_t>>);
  static_assert(!CanEncode<MatrixView<const double>>);
  // The supported types do (a mutable view converts to a const one).
  static_assert(CanAdd<DenseIndex, MatrixView<const half>> && CanAdd<DenseIndex, MatrixView<float>>);
  static_assert(CanSearch<xmr::BinaryIndex, MatrixView<std::uint8_t>> && CanEncode<MatrixView<const float>>);
  SUCCEED();
}

// ---- more dense bad inputs ---------------------------------------------------------------------

TEST_F(ErrorsTest, SizeOverflow) {
  const std::vector<float> v(16, 1.0f);
  const std::int64_t rows = std::int64_t{1} << 62;
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), rows, kDim)), ErrorCode::InvalidArgument,
                   "vectors (= 4611686018427387904 x 4) overflows");
  EXPECT_XMR_ERROR(cosine_.search(MatrixView<const float>(v.data(), rows, kDim), 1), ErrorCode::InvalidArgument,
                   "queries (= 4611686018427387904 x 4) overflows");
}

TEST_F(ErrorsTest, NullIdSpan) {
  const std::vector<float> v(3 * kDim, 1.0f);
  EXPECT_XMR_ERROR(cosine_.add(MatrixView<const float>(v.data(), 3, kDim),
                               std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 3)),
                   ErrorCode::InvalidArgument, "ids.data() (= null) with size 3");
  EXPECT_XMR_ERROR(cosine_.remove(std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 2)),
                   ErrorCode::InvalidArgument, "ids.data() (= null) with size 2");
}

// Unknown or repeated ids: named with their position and value; nothing is removed.
TEST_F(ErrorsTest, RemoveUnknownOrRepeatedIds) {
  EXPECT_XMR_ERROR(cosine_.remove(std::vector<std::int64_t>{100, 103, 104}), ErrorCode::InvalidArgument,
                   "ids[2] (= 104) is not in the index");
  EXPECT_XMR_ERROR(ip16_.remove(std::vector<std::int64_t>{-1}), ErrorCode::InvalidArgument,
                   "ids[0] (= -1) is not in the index");
  EXPECT_XMR_ERROR(cosine_.remove(std::vector<std::int64_t>{106, 100, 106}), ErrorCode::InvalidArgument,
                   "ids[2] (= 106) repeats ids[0]");
  EXPECT_XMR_ERROR(ip16_.remove(std::vector<std::int64_t>{157, 157}), ErrorCode::InvalidArgument,
                   "ids[1] (= 157) repeats ids[0]");
  DenseIndex empty({.dim = kDim});
  EXPECT_XMR_ERROR(empty.remove(std::vector<std::int64_t>{0}), ErrorCode::InvalidArgument,
                   "ids[0] (= 0) is not in the index");
  EXPECT_NO_THROW(cosine_.remove({}));  // nothing to remove: fine
}

TEST_F(ErrorsTest, BadSearchOptions) {
  EXPECT_XMR_ERROR(cosine_.search(probe(), 2, {.device = static_cast<Device>(7)}), ErrorCode::InvalidArgument,
                   "device (= 7) is not a Device value");
  std::vector<std::int64_t> ids(6);
  std::vector<float> scores(6);
  EXPECT_XMR_ERROR(ip16_.search_into(probe(), 2, MatrixView<std::int64_t>(ids.data(), 3, 2),
                                     MatrixView<float>(scores.data(), 3, 2), {.device = static_cast<Device>(-3)}),
                   ErrorCode::InvalidArgument, "device (= -3)");
  // A Resources naming a GPU that does not exist: Gpu is Unavailable (naming the ordinal), Auto
  // runs on the CPU.
  xmr::Resources far(xmr::gpu_count() + 5);
  const std::string ordinal = "GPU " + std::to_string(xmr::gpu_count() + 5);
  EXPECT_XMR_ERROR(cosine_.search(probe(), 2, {.device = Device::Gpu, .resources = &far}), ErrorCode::Unavailable,
                   "device (= gpu)", ordinal);
  EXPECT_EQ(cosine_.search(probe(), 2, {.device = Device::Auto, .resources = &far}).device, Device::Cpu);
}

// ---- binary indexes ----------------------------------------------------------------------------

/// What a binary index answers now; compared after every failed call.
struct BinarySnapshot {
  std::int64_t size = 0;
  std::vector<std::int64_t> ids;
  xmr::BinarySearchResult result;
  xmr::RangeSearchResult range;
};

class BinaryErrorsTest : public ::testing::Test {
 protected:
  static constexpr std::int64_t kBits = 64;
  static constexpr std::int64_t kBytes = kBits / 8;
  static constexpr std::uint64_t kSeed = 4242;

  void SetUp() override {
    xmr_test::Rng rng(kSeed);
    codes_.resize(40 * kBytes);
    for (auto& b : codes_) b = static_cast<std::uint8_t>(rng.bits() & 0xFF);
    probe_.resize(3 * kBytes);
    for (auto& b : probe_) b = static_cast<std::uint8_t>(rng.bits() & 0xFF);
    ids_.clear();
    for (std::int64_t i = 0; i < 40; ++i) ids_.push_back(100 + 3 * i);
    index_.add(codes(40), ids_);
    before_ = snapshot(index_);
    g_after_error = [this] { expect_unchanged(index_, before_); };
  }

  void TearDown() override {
    g_after_error = nullptr;
    expect_unchanged(index_, before_);
  }

  [[nodiscard]] MatrixView<const std::uint8_t> codes(std::int64_t rows) const { return {codes_.data(), rows, kBytes}; }
  [[nodiscard]] MatrixView<const std::uint8_t> probe() const { return {probe_.data(), 3, kBytes}; }

  [[nodiscard]] BinarySnapshot snapshot(const xmr::BinaryIndex& index) const {
    return {index.size(), index.ids(), index.search(probe(), 7, {.device = Device::Cpu}),
            index.range_search(probe(), 28, 5, {.device = Device::Cpu})};
  }

  void expect_unchanged(const xmr::BinaryIndex& index, const BinarySnapshot& before) const {
    SCOPED_TRACE("binary index, seed " + std::to_string(kSeed));
    EXPECT_EQ(index.size(), before.size);
    EXPECT_EQ(index.ids(), before.ids);
    const BinarySnapshot now = snapshot(index);
    EXPECT_EQ(now.result.ids, before.result.ids);
    EXPECT_EQ(now.result.distances, before.result.distances);
    EXPECT_EQ(now.range.offsets, before.range.offsets);
    EXPECT_EQ(now.range.ids, before.range.ids);
    EXPECT_EQ(now.range.distances, before.range.distances);
  }

  std::vector<std::uint8_t> codes_;
  std::vector<std::uint8_t> probe_;
  std::vector<std::int64_t> ids_;
  xmr::BinaryIndex index_{{.bits = kBits}};
  BinarySnapshot before_;
};

TEST(Errors, BinaryIndexOptions) {
  for (const std::int64_t bits : {0, -8, 4, 12, 4104, 8192}) {
    EXPECT_XMR_ERROR(xmr::BinaryIndex({.bits = bits}), ErrorCode::InvalidArgument,
                     "options.bits (= " + std::to_string(bits) + ") must be a multiple of 8 in [8, 4096]");
  }
  EXPECT_XMR_ERROR(xmr::BinaryIndex({.bits = 64, .device = static_cast<Device>(9)}), ErrorCode::InvalidArgument,
                   "options.device (= 9)");
}

// Codes of another length than the index's: add, search, range_search and search_into.
TEST_F(BinaryErrorsTest, CodeLengthMismatch) {
  const std::vector<std::uint8_t> wide(3 * 16, 0x0F);
  const MatrixView<const std::uint8_t> w(wide.data(), 3, 16);
  EXPECT_XMR_ERROR(index_.add(w), ErrorCode::InvalidArgument, "codes.cols (= 16)", "(= 8)");
  EXPECT_XMR_ERROR(index_.add(w, std::vector<std::int64_t>{1, 2, 4}), ErrorCode::InvalidArgument, "codes.cols (= 16)");
  EXPECT_XMR_ERROR(index_.search(w, 3), ErrorCode::InvalidArgument, "queries.cols (= 16)", "(= 8)");
  EXPECT_XMR_ERROR(index_.range_search(MatrixView<const std::uint8_t>(wide.data(), 3, 4), 3, 10),
                   ErrorCode::InvalidArgument, "queries.cols (= 4)");
  std::vector<std::int64_t> ids(9);
  std::vector<std::int32_t> dist(9);
  EXPECT_XMR_ERROR(index_.search_into(w, 3, {ids.data(), 3, 3}, {dist.data(), 3, 3}), ErrorCode::InvalidArgument,
                   "queries.cols (= 16)");
  // Two binarisers of different code lengths cannot form a cross-modal pair.
  const xmr::CrossModalBinarizer mixed{xmr::Binarizer::lsh(16, 8, 1), xmr::Binarizer::lsh(16, 16, 1)};
  EXPECT_XMR_ERROR(mixed.to_bytes(), ErrorCode::InvalidArgument, "image.bits (= 8)", "text.bits (= 16)");
}

TEST_F(BinaryErrorsTest, BadShapes) {
  EXPECT_XMR_ERROR(index_.add({codes_.data(), -1, kBytes}), ErrorCode::InvalidArgument, "codes.rows (= -1)");
  EXPECT_XMR_ERROR(index_.add({codes_.data(), 3, kBytes, 4}), ErrorCode::InvalidArgument, "codes.stride (= 4)");
  EXPECT_XMR_ERROR(index_.add({nullptr, 3, kBytes}), ErrorCode::InvalidArgument, "codes.data (= null)", "rows (= 3)");
  EXPECT_XMR_ERROR(index_.add({codes_.data(), 3, kBytes, -1, xmr::MemorySpace::Device}),
                   xmr::gpu_count() > 0 ? ErrorCode::InvalidArgument : ErrorCode::Unavailable, "codes.");
  EXPECT_XMR_ERROR(index_.add({codes_.data(), std::int64_t{1} << 61, kBytes}), ErrorCode::InvalidArgument,
                   "codes (= 2305843009213693952 x 8) overflows");
  EXPECT_XMR_ERROR(index_.search({probe_.data(), -2, kBytes}, 1), ErrorCode::InvalidArgument, "queries.rows (= -2)");
  EXPECT_XMR_ERROR(index_.search({probe_.data(), 2, kBytes, 7}, 1), ErrorCode::InvalidArgument, "queries.stride (= 7)");
  EXPECT_XMR_ERROR(index_.search({nullptr, 2, kBytes}, 1), ErrorCode::InvalidArgument, "queries.data (= null)");
  EXPECT_XMR_ERROR(index_.search({probe_.data(), 2, kBytes, -1, xmr::MemorySpace::Device}, 1, {.device = Device::Cpu}),
                   ErrorCode::InvalidArgument, "queries.space");
  EXPECT_XMR_ERROR(index_.range_search({nullptr, 2, kBytes}, 3, 4), ErrorCode::InvalidArgument,
                   "queries.data (= null)");
}

TEST_F(BinaryErrorsTest, BadIds) {
  const MatrixView<const std::uint8_t> three = codes(3);
  EXPECT_XMR_ERROR(index_.add(three, std::vector<std::int64_t>{1, 2}), ErrorCode::InvalidArgument, "ids.size() (= 2)",
                   "codes.rows() (= 3)");
  EXPECT_XMR_ERROR(index_.add(three, std::span<const std::int64_t>()), ErrorCode::InvalidArgument, "ids.size() (= 0)");
  EXPECT_XMR_ERROR(index_.add(three, std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 3)),
                   ErrorCode::InvalidArgument, "ids.data() (= null) with size 3");
  EXPECT_XMR_ERROR(index_.add(three, std::vector<std::int64_t>{5, 6, 5}), ErrorCode::InvalidArgument, "ids[2] (= 5)",
                   "repeats ids[0]");
  EXPECT_XMR_ERROR(index_.add(three, std::vector<std::int64_t>{1, 2, 103}), ErrorCode::InvalidArgument,
                   "ids[2] (= 103) is already in the index");
  EXPECT_XMR_ERROR(index_.add(three, std::vector<std::int64_t>{-4, 2, 3}), ErrorCode::InvalidArgument, "ids[0] (= -4)");
  EXPECT_XMR_ERROR(index_.add(three, std::vector<std::int64_t>{1, kMaxI64, 3}), ErrorCode::InvalidArgument,
                   "ids[1] (= 9223372036854775807)");
  xmr::BinaryIndex top({.bits = kBits});
  top.add(codes(1), std::vector<std::int64_t>{kMaxI64 - 1});
  EXPECT_XMR_ERROR(top.add(codes(2)), ErrorCode::InvalidArgument, "9223372036854775807");
  EXPECT_EQ(top.ids(), (std::vector<std::int64_t>{kMaxI64 - 1}));
}

TEST_F(BinaryErrorsTest, RemoveUnknownOrRepeatedIds) {
  EXPECT_XMR_ERROR(index_.remove(std::vector<std::int64_t>{100, 101}), ErrorCode::InvalidArgument,
                   "ids[1] (= 101) is not in the index");
  EXPECT_XMR_ERROR(index_.remove(std::vector<std::int64_t>{103, 106, 103}), ErrorCode::InvalidArgument,
                   "ids[2] (= 103) repeats ids[0]");
  EXPECT_XMR_ERROR(index_.remove(std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 1)),
                   ErrorCode::InvalidArgument, "ids.data() (= null) with size 1");
}

TEST_F(BinaryErrorsTest, BadK) {
  for (const std::int64_t k : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1} << 31, kMaxI64}) {
    EXPECT_XMR_ERROR(index_.search(probe(), k), ErrorCode::InvalidArgument,
                     "k (= " + std::to_string(k) + ") must be in [1, 2147483647]");
  }
  std::vector<std::int64_t> ids(3);
  std::vector<std::int32_t> dist(3);
  EXPECT_XMR_ERROR(index_.search_into(probe(), 0, {ids.data(), 3, 0}, {dist.data(), 3, 0}), ErrorCode::InvalidArgument,
                   "k (= 0)");
  // k above the number of codes is fine: padding.
  const xmr::BinarySearchResult r = index_.search(probe(), 50, {.device = Device::Cpu});
  EXPECT_EQ(r.id(0, 45), -1);
  EXPECT_EQ(r.distance(0, 45), xmr::kEmptyDistance);
}

TEST_F(BinaryErrorsTest, BadRangeArguments) {
  EXPECT_XMR_ERROR(index_.range_search(probe(), -1, 10), ErrorCode::InvalidArgument, "radius (= -1)", "[0, 64]");
  EXPECT_XMR_ERROR(index_.range_search(probe(), 65, 10), ErrorCode::InvalidArgument, "radius (= 65)");
  EXPECT_XMR_ERROR(index_.range_search(probe(), 3, 0), ErrorCode::InvalidArgument, "max_results (= 0)");
  EXPECT_XMR_ERROR(index_.range_search(probe(), 3, std::int64_t{1} << 31), ErrorCode::InvalidArgument,
                   "max_results (= 2147483648)");
}

TEST_F(BinaryErrorsTest, BadOutputViews) {
  std::vector<std::int64_t> ids(64);
  std::vector<std::int32_t> dist(64);
  const MatrixView<std::int64_t> good_ids(ids.data(), 3, 4);
  const MatrixView<std::int32_t> good_dist(dist.data(), 3, 4);
  auto run = [&](MatrixView<std::int64_t> oi, MatrixView<std::int32_t> od) {
    return index_.search_into(probe(), 4, oi, od);
  };
  EXPECT_XMR_ERROR(run({ids.data(), 2, 4}, good_dist), ErrorCode::InvalidArgument, "out_ids.rows (= 2)", "(= 3)");
  EXPECT_XMR_ERROR(run(good_ids, {dist.data(), 3, 5}), ErrorCode::InvalidArgument, "out_distances.cols (= 5)",
                   "k (= 4)");
  EXPECT_XMR_ERROR(run(good_ids, {dist.data(), 3, 4, 2}), ErrorCode::InvalidArgument, "out_distances.stride (= 2)");
  EXPECT_XMR_ERROR(run({nullptr, 3, 4}, good_dist), ErrorCode::InvalidArgument, "out_ids.data (= null)");
  EXPECT_XMR_ERROR(index_.search_into(probe(), 4, good_ids, {dist.data(), 3, 4, -1, xmr::MemorySpace::Device},
                                      {.device = Device::Cpu}),
                   ErrorCode::InvalidArgument, "out_distances.space");
  alignas(16) unsigned char buf[256] = {};
  EXPECT_XMR_ERROR(run(good_ids, {reinterpret_cast<std::int32_t*>(buf + 2), 3, 4}), ErrorCode::InvalidArgument,
                   "out_distances.data", "not aligned");
  EXPECT_NO_THROW((void)run(good_ids, good_dist));
}

TEST(Errors, BinaryEmptyIndex) {
  xmr::BinaryIndex index({.bits = 32});
  const std::vector<std::uint8_t> q(4, 0);
  EXPECT_XMR_ERROR(index.search({q.data(), 1, 4}, 1), ErrorCode::InvalidArgument, "index size (= 0)");
  EXPECT_XMR_ERROR(index.range_search({q.data(), 1, 4}, 1, 1), ErrorCode::InvalidArgument, "index size (= 0)");
  std::vector<std::int64_t> ids(1);
  std::vector<std::int32_t> dist(1);
  EXPECT_XMR_ERROR(index.search_into({q.data(), 1, 4}, 1, {ids.data(), 1, 1}, {dist.data(), 1, 1}),
                   ErrorCode::InvalidArgument, "index size (= 0)");
  EXPECT_EQ(index.size(), 0);
}

TEST_F(BinaryErrorsTest, GpuWithoutGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  EXPECT_XMR_ERROR(index_.search(probe(), 2, {.device = Device::Gpu}), ErrorCode::Unavailable, "device (= gpu)");
  EXPECT_XMR_ERROR(index_.range_search(probe(), 2, 3, {.device = Device::Gpu}), ErrorCode::Unavailable,
                   "device (= gpu)");
  xmr::BinaryIndex gpu_index({.bits = kBits, .device = Device::Gpu});
  gpu_index.add(codes(5));
  EXPECT_XMR_ERROR(gpu_index.search(probe(), 2), ErrorCode::Unavailable, "device (= gpu)");
  EXPECT_EQ(gpu_index.search(probe(), 2, {.device = Device::Cpu}).device, Device::Cpu);
}

// ---- pack / unpack -----------------------------------------------------------------------------

TEST(Errors, PackUnpackBadShapes) {
  const std::vector<std::uint8_t> bits(2 * 16, 1);
  std::vector<std::uint8_t> codes(8, 0xAB);
  using U8 = MatrixView<std::uint8_t>;
  using CU8 = MatrixView<const std::uint8_t>;
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 1, 12), U8(codes.data(), 1, 2)), ErrorCode::InvalidArgument,
                   "bits.cols (= 12) must be a multiple of 8");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16), U8(codes.data(), 1, 2)), ErrorCode::InvalidArgument,
                   "codes (= 1 x 2)", "(= 2 x 2)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 1, 16), U8(codes.data(), 1, 1)), ErrorCode::InvalidArgument,
                   "codes (= 1 x 1)", "(= 1 x 2)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(nullptr, 2, 16), U8(codes.data(), 2, 2)), ErrorCode::InvalidArgument,
                   "bits.data (= null)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), -1, 16), U8(codes.data(), -1, 2)), ErrorCode::InvalidArgument,
                   "bits.rows (= -1)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16, 8), U8(codes.data(), 2, 2)), ErrorCode::InvalidArgument,
                   "bits.stride (= 8)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16, -1, xmr::MemorySpace::Device), U8(codes.data(), 2, 2)),
                   ErrorCode::InvalidArgument, "bits.space");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16), U8(nullptr, 2, 2)), ErrorCode::InvalidArgument,
                   "codes.data (= null)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16), U8(codes.data(), 2, 2, 1)), ErrorCode::InvalidArgument,
                   "codes.stride (= 1)");
  EXPECT_XMR_ERROR(xmr::pack_bits(CU8(bits.data(), 2, 16), U8(codes.data(), 2, 2, -1, xmr::MemorySpace::Device)),
                   ErrorCode::InvalidArgument, "codes.space");
  std::vector<std::uint8_t> out(2 * 16, 7);
  EXPECT_XMR_ERROR(xmr::unpack_bits(CU8(codes.data(), 2, 2), U8(out.data(), 2, 15)), ErrorCode::InvalidArgument,
                   "bits (= 2 x 15)", "(= 2 x 16)");
  EXPECT_XMR_ERROR(xmr::unpack_bits(CU8(nullptr, 2, 2), U8(out.data(), 2, 16)), ErrorCode::InvalidArgument,
                   "codes.data (= null)");
  EXPECT_XMR_ERROR(xmr::unpack_bits(CU8(codes.data(), 2, 2), U8(nullptr, 2, 16)), ErrorCode::InvalidArgument,
                   "bits.data (= null)");
  // A failed call writes nothing.
  EXPECT_EQ(codes, std::vector<std::uint8_t>(8, 0xAB));
  EXPECT_EQ(out, std::vector<std::uint8_t>(2 * 16, 7));
}

// ---- binarisers: what test_binarize.cpp does not cover -----------------------------------------

TEST(Errors, BinarizerPathsAndPointers) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() /
                       ("xmr_test_errors_dir_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                        "_" + std::to_string(reinterpret_cast<std::uintptr_t>(&dir)));
  fs::create_directories(dir);
  const std::string d = dir.string();
  // A directory is not a binariser file: reading refuses it (not a regular file), and a save cannot replace it.
  EXPECT_XMR_ERROR(xmr::Binarizer::load(d), ErrorCode::Io, "cannot read", d);
  EXPECT_XMR_ERROR(xmr::CrossModalBinarizer::load(d), ErrorCode::Io, d);
  EXPECT_XMR_ERROR(xmr::Binarizer::sign(8).save(d), ErrorCode::Io, "cannot", d);
  EXPECT_XMR_ERROR(xmr::Binarizer::sign(8).save(""), ErrorCode::InvalidArgument, "path (= \"\")");
  // A mismatched pair is refused before the file is created.
  const std::string pair_path = (dir / "pair.xmrb").string();
  const xmr::CrossModalBinarizer mixed{xmr::Binarizer::lsh(16, 8, 1), xmr::Binarizer::lsh(16, 16, 1)};
  EXPECT_XMR_ERROR(mixed.save(pair_path), ErrorCode::InvalidArgument, "image.bits (= 8)", "text.bits (= 16)");
  EXPECT_FALSE(fs::exists(pair_path));
  std::error_code ec;
  fs::remove_all(dir, ec);

  // Misaligned float views.
  alignas(16) unsigned char buf[4 * 16 * 8 + 4] = {};
  const float one = 1.0f;
  for (std::size_t i = 0; i < 4 * 16 * 2; ++i) std::memcpy(buf + 1 + 4 * i, &one, sizeof one);
  const auto* misaligned = reinterpret_cast<const float*>(buf + 1);
  EXPECT_XMR_ERROR(xmr::Binarizer::itq(MatrixView<const float>(misaligned, 8, 16), 8), ErrorCode::InvalidArgument,
                   "train.data", "not aligned");
  EXPECT_XMR_ERROR(xmr::Binarizer::sign(16).encode(MatrixView<const float>(misaligned, 2, 16)),
                   ErrorCode::InvalidArgument, "x.data", "not aligned");
}

// ---- injected host out-of-memory ---------------------------------------------------------------

/// Fails the 1st, 2nd, ... large host allocation (xmr::testing::fail_next_host_allocations) of
/// `call` on a fresh object from `make`, until a run makes no more large allocations and
/// completes. Each failing run must throw OutOfMemory naming `call_name`, the size and the
/// injection; `check(object, completed)` then checks the object. Returns the number of failing
/// runs.
template <class T>
int sweep_large_host_allocations(const std::string& call_name, const std::function<T()>& make,
                                 const std::function<void(T&)>& call,
                                 const std::function<void(const T&, bool)>& check) {
  for (int after = 0; after < 64; ++after) {
    SCOPED_TRACE(call_name + ": large host allocation " + std::to_string(after + 1) + " fails");
    T object = make();
    bool threw = false;
    xmr::testing::fail_next_host_allocations(1, after);
    try {
      call(object);
    } catch (const xmr::Error& e) {
      threw = true;
      EXPECT_EQ(e.code(), ErrorCode::OutOfMemory) << e.what();
      const std::string msg = e.what();
      for (const char* needle : {call_name.c_str(), "host memory allocation failed", " bytes",
                                 "injected by xmr::testing::fail_next_host_allocations"}) {
        EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      }
    }
    xmr::testing::fail_next_host_allocations(0);
    check(object, !threw);
    if (!threw) return after;
  }
  ADD_FAILURE() << call_name << " never completed";
  return -1;
}

// add and remove under host out-of-memory: OutOfMemory, and the index is as it was and answers as
// before; once nothing fails, the same call works.
TEST_F(ErrorsTest, HostOutOfMemoryInAddAndRemove) {
  xmr_test::Rng rng(kSeed + 1);
  const std::vector<float> v = xmr_test::random_matrix(rng, 3, kDim);
  const MatrixView<const float> three(v.data(), 3, kDim);
  const std::vector<half> vh = xmr_test::to_half(v);
  for (const bool fp16 : {false, true}) {
    SCOPED_TRACE(fp16 ? "fp16 inner product" : "fp32 cosine");
    const Snapshot& before = fp16 ? before_ip16_ : before_cosine_;
    const std::function<DenseIndex()> make = [&] {
      DenseIndex index({.dim = kDim,
                        .metric = fp16 ? Metric::InnerProduct : Metric::Cosine,
                        .storage = fp16 ? DType::F16 : DType::F32});
      index.add(MatrixView<const float>(items_.data(), 20, kDim), ids_);
      return index;
    };
    auto unchanged_or = [&](std::int64_t size_after) {
      return std::function<void(const DenseIndex&, bool)>([&, size_after](const DenseIndex& index, bool completed) {
        if (completed) {
          EXPECT_EQ(index.size(), size_after);
          EXPECT_NO_THROW((void)index.search(probe(), 3));
        } else {
          expect_unchanged(index, before, "after an injected host allocation failure");
        }
      });
    };
    // Sequential ids (an append into spare capacity: only the staging buffer is large).
    EXPECT_GE(sweep_large_host_allocations<DenseIndex>(
                  "DenseIndex::add", make, [&](DenseIndex& index) { index.add(three); }, unchanged_or(23)),
              1);
    // fp16 input: the same.
    EXPECT_GE(sweep_large_host_allocations<DenseIndex>(
                  "DenseIndex::add", make,
                  [&](DenseIndex& index) { index.add(MatrixView<const half>(vh.data(), 3, kDim)); }, unchanged_or(23)),
              1);
    // Ids below the largest stored one: a merge into new row and id arrays.
    EXPECT_GE(sweep_large_host_allocations<DenseIndex>(
                  "DenseIndex::add", make,
                  [&](DenseIndex& index) {
                    index.add(three, std::vector<std::int64_t>{1, 2, 101});
                  },
                  unchanged_or(23)),
              2);
    // remove copies the remaining rows into new arrays.
    EXPECT_GE(sweep_large_host_allocations<DenseIndex>(
                  "DenseIndex::remove", make,
                  [&](DenseIndex& index) {
                    index.remove(std::vector<std::int64_t>{157, 100, 130});
                  },
                  unchanged_or(17)),
              1);
  }
}

TEST_F(BinaryErrorsTest, HostOutOfMemoryInAddAndRemove) {
  const std::function<xmr::BinaryIndex()> make = [&] {
    xmr::BinaryIndex index({.bits = kBits});
    index.add(codes(40), ids_);
    return index;
  };
  auto unchanged_or = [&](std::int64_t size_after) {
    return std::function<void(const xmr::BinaryIndex&, bool)>(
        [&, size_after](const xmr::BinaryIndex& index, bool completed) {
          if (completed) {
            EXPECT_EQ(index.size(), size_after);
            EXPECT_NO_THROW((void)index.search(probe(), 3));
          } else {
            expect_unchanged(index, before_);
          }
        });
  };
  // Ids below the largest stored one: a merge into new arrays.
  EXPECT_GE(sweep_large_host_allocations<xmr::BinaryIndex>(
                "BinaryIndex::add", make,
                [&](xmr::BinaryIndex& index) {
                  index.add(codes(3), std::vector<std::int64_t>{1, 2, 101});
                },
                unchanged_or(43)),
            1);
  EXPECT_GE(sweep_large_host_allocations<xmr::BinaryIndex>(
                "BinaryIndex::remove", make,
                [&](xmr::BinaryIndex& index) {
                  index.remove(std::vector<std::int64_t>{217, 100});
                },
                unchanged_or(38)),
            1);
}

/// Assertion results recorded so far in the running test: a sweep stops at its first failing
/// step (one report, not thousands).
int recorded_parts() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}

/// What a call under a failing operator new did.
struct AllocOutcome {
  bool fired = false;  ///< the injected failure happened
  bool threw = false;
  bool xmr_error = false;
  ErrorCode code = ErrorCode::Ok;
  std::string message;
};

/// Runs `prepare` and then `call` in a new thread (so that per-thread first-use paths, such as
/// the thread's default Resources, run too) with that thread's (skip + 1)-th operator new during
/// `call` failing.
AllocOutcome run_with_failing_new(long skip, const std::function<void()>& prepare, const std::function<void()>& call) {
  AllocOutcome o;
  std::thread worker([&] {
    prepare();
    t_new_failed = false;
    t_new_fail_after = skip;
    try {
      call();
    } catch (const xmr::Error& e) {
      t_new_fail_after = -1;
      o.threw = o.xmr_error = true;
      o.code = e.code();
      o.message = e.what();
    } catch (const std::exception& e) {
      t_new_fail_after = -1;
      o.threw = true;
      o.message = e.what();
    }
    t_new_fail_after = -1;
    o.fired = t_new_failed;
  });
  worker.join();
  return o;
}

/// Fails the 1st, 2nd, ... operator new of `call` until a run completes without reaching the
/// failing allocation. A run whose allocation failed must throw OutOfMemory (or absorb the
/// failure and complete); `check(completed)` runs after every run. `name` must appear in the
/// message unless the failure hit the thread's default Resources. Returns the number of runs
/// that failed an allocation.
int sweep_every_allocation(const std::string& name, const std::function<void()>& prepare,
                           const std::function<void()>& call, const std::function<void(bool)>& check) {
  const int parts = recorded_parts();
  for (long skip = 0; skip < 100000; ++skip) {
    SCOPED_TRACE(name + ": allocation " + std::to_string(skip + 1) + " fails");
    const AllocOutcome o = run_with_failing_new(skip, prepare, call);
    if (o.threw) {
      EXPECT_TRUE(o.fired) << "threw without an injected failure: " << o.message;
      EXPECT_TRUE(o.xmr_error) << "a non-xmr exception escaped: " << o.message;
      EXPECT_EQ(o.code, ErrorCode::OutOfMemory) << o.message;
      EXPECT_NE(o.message.find("host memory"), std::string::npos) << o.message;
      EXPECT_TRUE(o.message.find(name) != std::string::npos || o.message.find("default Resources") != std::string::npos)
          << o.message;
    }
    check(!o.threw);
    if (recorded_parts() != parts) return -1;
    if (!o.fired) return static_cast<int>(skip);
  }
  ADD_FAILURE() << name << " never completed";
  return -1;
}

// Every host allocation of add, remove, search, search_into and range_search, failed in turn:
// each gives OutOfMemory (never a std::bad_alloc or a crash), and the index is unchanged and
// answers as before. CPU searches (and Auto where there is no GPU); the CUDA runtime's own
// allocations are not failed.
TEST_F(ErrorsTest, HostAllocationFailureAtEveryStep) {
  (void)xmr::gpu_count();  // device discovery happens once, outside the sweeps
  // Cpu, and Auto (the index default) where it resolves to the CPU.
  const SearchOptions options[] = {{.device = Device::Cpu}, {}};
  for (const SearchOptions& opts : std::span(options, xmr::gpu_count() == 0 ? 2 : 1)) {
    for (DenseIndex* index : {&cosine_, &ip16_}) {
      const Snapshot& before = index == &cosine_ ? before_cosine_ : before_ip16_;
      SCOPED_TRACE(index == &cosine_ ? "fp32 cosine" : "fp16 inner product");
      xmr::SearchResult got;
      const int runs = sweep_every_allocation(
          "DenseIndex::search", [] {}, [&] { got = index->search(probe(), 7, opts); },
          [&](bool completed) {
            if (completed) {
              EXPECT_EQ(got.ids, before.result.ids);
            }
          });
      EXPECT_GE(runs, 2);
      std::vector<std::int64_t> ids(21);
      std::vector<float> scores(21);
      EXPECT_GE(sweep_every_allocation(
                    "DenseIndex::search", [] {},
                    [&] {
                      (void)index->search_into(probe(), 7, MatrixView<std::int64_t>(ids.data(), 3, 7),
                                               MatrixView<float>(scores.data(), 3, 7), opts);
                    },
                    [&](bool completed) {
                      if (completed) {
                        EXPECT_EQ(ids, before.result.ids);
                      }
                    }),
                1);
    }
  }
  // add (sequential ids, and a merge) and remove, each on a fresh copy of the cosine index. (The
  // arguments are made outside the sweep: their own allocations are not the library's.)
  const std::vector<float> v(3 * kDim, 0.25f);
  const std::vector<std::int64_t> low_ids = {1, 2, 102};
  const std::vector<std::int64_t> gone = {103, 109};
  std::optional<DenseIndex> copy;
  const auto prepare = [&] {
    copy.emplace(DenseIndexOptions{.dim = kDim, .metric = Metric::Cosine});
    copy->add(MatrixView<const float>(items_.data(), 20, kDim), ids_);
  };
  const auto size_or_unchanged = [&](std::int64_t size_after) {
    return [&, size_after](bool completed) {
      if (completed) {
        EXPECT_EQ(copy->size(), size_after);
      } else {
        expect_unchanged(*copy, before_cosine_, "copy of the cosine index");
      }
    };
  };
  EXPECT_GE(sweep_every_allocation(
                "DenseIndex::add", prepare, [&] { copy->add(MatrixView<const float>(v.data(), 3, kDim)); },
                size_or_unchanged(23)),
            2);
  EXPECT_GE(sweep_every_allocation(
                "DenseIndex::add", prepare, [&] { copy->add(MatrixView<const float>(v.data(), 3, kDim), low_ids); },
                size_or_unchanged(23)),
            2);
  EXPECT_GE(sweep_every_allocation(
                "DenseIndex::remove", prepare, [&] { copy->remove(gone); }, size_or_unchanged(18)),
            2);
}

TEST_F(BinaryErrorsTest, HostAllocationFailureAtEveryStep) {
  (void)xmr::gpu_count();
  const SearchOptions options[] = {{.device = Device::Cpu}, {}};
  for (const SearchOptions& opts : std::span(options, xmr::gpu_count() == 0 ? 2 : 1)) {
    xmr::BinarySearchResult got;
    EXPECT_GE(sweep_every_allocation(
                  "BinaryIndex::search", [] {}, [&] { got = index_.search(probe(), 7, opts); },
                  [&](bool completed) {
                    if (completed) {
                      EXPECT_EQ(got.ids, before_.result.ids);
                    }
                  }),
              2);
    xmr::RangeSearchResult range;
    EXPECT_GE(sweep_every_allocation(
                  "BinaryIndex::range_search", [] {}, [&] { range = index_.range_search(probe(), 28, 5, opts); },
                  [&](bool completed) {
                    if (completed) {
                      EXPECT_EQ(range.ids, before_.range.ids);
                    }
                  }),
              2);
  }
  const std::vector<std::int64_t> low_ids = {1, 2, 102};
  const std::vector<std::int64_t> gone = {103, 109};
  std::optional<xmr::BinaryIndex> copy;
  const auto prepare = [&] {
    copy.emplace(xmr::BinaryIndexOptions{.bits = kBits});
    copy->add(codes(40), ids_);
  };
  const auto size_or_unchanged = [&](std::int64_t size_after) {
    return [&, size_after](bool completed) {
      if (completed) {
        EXPECT_EQ(copy->size(), size_after);
      } else {
        expect_unchanged(*copy, before_);
      }
    };
  };
  EXPECT_GE(sweep_every_allocation(
                "BinaryIndex::add", prepare, [&] { copy->add(codes(3), low_ids); }, size_or_unchanged(43)),
            2);
  EXPECT_GE(sweep_every_allocation(
                "BinaryIndex::remove", prepare, [&] { copy->remove(gone); }, size_or_unchanged(38)),
            2);
}

// Binarisers and synthetic data under every failing host allocation: OutOfMemory, never a
// std::bad_alloc.
TEST(Errors, HostAllocationFailureInBinarizersAndSyntheticData) {
  xmr_test::Rng rng(77);
  const std::vector<float> train = xmr_test::random_matrix(rng, 40, 16);
  const MatrixView<const float> tv(train.data(), 40, 16);
  const xmr::Binarizer lsh = xmr::Binarizer::lsh(16, 32, 5);
  const std::vector<std::uint8_t> want = lsh.encode(tv);
  const std::vector<std::uint8_t> bytes = lsh.to_bytes();
  std::vector<std::uint8_t> codes;
  EXPECT_GE(sweep_every_allocation(
                "Binarizer::encode", [] {}, [&] { codes = lsh.encode(tv); },
                [&](bool completed) {
                  if (completed) {
                    EXPECT_EQ(codes, want);
                  }
                }),
            1);
  std::optional<xmr::Binarizer> back;
  EXPECT_GE(sweep_every_allocation(
                "Binarizer::from_bytes", [] {}, [&] { back.emplace(xmr::Binarizer::from_bytes(bytes)); },
                [&](bool completed) {
                  if (completed) {
                    EXPECT_EQ(back->encode(tv), want);
                  }
                }),
            1);
  EXPECT_GE(sweep_every_allocation(
                "Binarizer::itq", [] {}, [&] { back.emplace(xmr::Binarizer::itq(tv, 8, {.iterations = 2})); },
                [&](bool completed) {
                  if (completed) {
                    EXPECT_EQ(back->bits(), 8);
                  }
                }),
            2);
  xmr::synth::CrossModalData data;
  EXPECT_GE(sweep_every_allocation(
                "make_cross_modal", [] {},
                [&] { data = xmr::synth::make_cross_modal({.num_images = 20, .num_labels = 5, .dim = 8}); },
                [&](bool completed) {
                  if (completed) {
                    EXPECT_EQ(data.num_texts, 20);
                  }
                }),
            2);
}

// ---- injected device failures (GPU only) -------------------------------------------------------

/// For skip = 0, 1, ...: `prepare()`, then the (skip + 1)-th checked CUDA call of `run()` reports a
/// failure (xmr::testing::fail_next_device_calls): run() must throw Device naming the injection;
/// then `verify()` runs with nothing armed. Ends when run() completes (skip is past its last
/// call). Returns the number of failing runs.
int sweep_device_calls(const std::function<void()>& prepare, const std::function<void()>& run,
                       const std::function<void()>& verify) {
  const int parts = recorded_parts();
  for (int skip = 0; skip < 5000; ++skip) {
    SCOPED_TRACE("checked device call " + std::to_string(skip + 1) + " fails");
    prepare();
    bool threw = false;
    xmr::testing::fail_next_device_calls(1, skip);
    try {
      run();
    } catch (const xmr::Error& e) {
      threw = true;
      EXPECT_EQ(e.code(), ErrorCode::Device) << e.what();
      EXPECT_NE(std::string(e.what()).find("injected by xmr::testing::fail_next_device_calls"), std::string::npos)
          << e.what();
    } catch (const std::exception& e) {
      threw = true;
      ADD_FAILURE() << "a non-xmr exception escaped: " << e.what();
    }
    xmr::testing::fail_next_device_calls(0);
    verify();
    if (recorded_parts() != parts) return -1;
    if (!threw) return skip;
  }
  ADD_FAILURE() << "the search never completed";
  return -1;
}

/// `rows x cols` small integers: every product and sum is exact in fp32 (and the values in fp16),
/// so GPU and CPU results are bit-identical, ties (many) by ascending id.
std::vector<float> integer_matrix(xmr_test::Rng& rng, std::int64_t rows, std::int64_t cols) {
  std::vector<float> m(static_cast<std::size_t>(rows * cols));
  for (float& x : m) x = static_cast<float>(rng.uniform_int(-3, 3));
  return m;
}

void expect_same(const xmr::SearchResult& gpu, const xmr::SearchResult& cpu) {
  EXPECT_EQ(gpu.device, Device::Gpu);
  EXPECT_EQ(gpu.ids, cpu.ids);
  EXPECT_EQ(gpu.scores, cpu.scores);
}

// A device call failing anywhere in a dense GPU search (context creation, upload of the index,
// workspace growth, query copy, GEMM tiles, selection kernels, result copy, synchronisation):
// Device, and the next search on the same index and Resources returns exactly the CPU's results.
TEST(Errors, DeviceErrorAtEveryCallOfADenseSearch) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr_test::Rng rng(9001);
  constexpr std::int64_t kD = 16;
  const std::vector<float> items = integer_matrix(rng, 3000, kD);
  const std::vector<float> queries = integer_matrix(rng, 40, kD);
  const MatrixView<const float> q(queries.data(), 40, kD);

  // Cold: a fresh index (upload) and a fresh Resources (stream, handle, workspace) every time;
  // fp32, the fast path (k <= 2048).
  std::optional<DenseIndex> index;
  std::optional<xmr::Resources> res;
  const auto fresh = [&](DType storage, std::int64_t n) {
    return [&, storage, n] {
      index.emplace(DenseIndexOptions{.dim = kD, .metric = Metric::InnerProduct, .storage = storage});
      index->add(MatrixView<const float>(items.data(), n, kD));
      res.emplace();
    };
  };
  const xmr::SearchResult cpu_fast = [&] {
    fresh(DType::F32, 500)();
    return index->search(MatrixView<const float>(queries.data(), 5, kD), 10, {.device = Device::Cpu});
  }();
  const int cold = sweep_device_calls(
      fresh(DType::F32, 500),
      [&] {
        (void)index->search(MatrixView<const float>(queries.data(), 5, kD), 10,
                            {.device = Device::Gpu, .resources = &*res});
      },
      [&] {
        expect_same(index->search(MatrixView<const float>(queries.data(), 5, kD), 10,
                                  {.device = Device::Gpu, .resources = &*res}),
                    cpu_fast);
      });
  EXPECT_GE(cold, 8);

  // The general path (k > 2048: segmented sort), cold, fp32.
  const xmr::SearchResult cpu_general = [&] {
    fresh(DType::F32, 3000)();
    return index->search(MatrixView<const float>(queries.data(), 3, kD), 2200, {.device = Device::Cpu});
  }();
  EXPECT_GE(sweep_device_calls(
                fresh(DType::F32, 3000),
                [&] {
                  (void)index->search(MatrixView<const float>(queries.data(), 3, kD), 2200,
                                      {.device = Device::Gpu, .resources = &*res});
                },
                [&] {
                  expect_same(index->search(MatrixView<const float>(queries.data(), 3, kD), 2200,
                                            {.device = Device::Gpu, .resources = &*res}),
                              cpu_general);
                }),
            8);

  // Warm fp16: one index for the whole sweep that grows by appends (its device copy is extended
  // in place or re-made), a Resources that has run a small search (the workspace must grow), and
  // several query batches and database tiles (tile caps).
  DenseIndex warm({.dim = kD, .metric = Metric::InnerProduct, .storage = DType::F16});
  warm.add(MatrixView<const float>(items.data(), 400, kD));
  std::int64_t rows = 400;
  xmr::SearchResult cpu_warm;
  EXPECT_GE(sweep_device_calls(
                [&] {
                  res.emplace();
                  res->set_tile_caps(16, 256);
                  (void)warm.search(MatrixView<const float>(queries.data(), 1, kD), 1,
                                    {.device = Device::Gpu, .resources = &*res});
                  warm.add(MatrixView<const float>(items.data() + rows * kD, 7, kD));
                  rows += 7;
                  cpu_warm = warm.search(q, 64, {.device = Device::Cpu});
                },
                [&] { (void)warm.search(q, 64, {.device = Device::Gpu, .resources = &*res}); },
                [&] { expect_same(warm.search(q, 64, {.device = Device::Gpu, .resources = &*res}), cpu_warm); }),
            10);
}

void expect_same(const xmr::BinarySearchResult& gpu, const xmr::BinarySearchResult& cpu) {
  EXPECT_EQ(gpu.device, Device::Gpu);
  EXPECT_EQ(gpu.ids, cpu.ids);
  EXPECT_EQ(gpu.distances, cpu.distances);
}

void expect_same(const xmr::RangeSearchResult& gpu, const xmr::RangeSearchResult& cpu) {
  EXPECT_EQ(gpu.device, Device::Gpu);
  EXPECT_EQ(gpu.offsets, cpu.offsets);
  EXPECT_EQ(gpu.ids, cpu.ids);
  EXPECT_EQ(gpu.distances, cpu.distances);
  EXPECT_EQ(gpu.num_within, cpu.num_within);
}

// The same for Hamming searches: k-NN cold (fresh index and Resources), and radius search warm
// (a growing index, a workspace that must grow, several query batches).
TEST(Errors, DeviceErrorAtEveryCallOfABinarySearch) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr_test::Rng rng(9002);
  std::vector<std::uint8_t> db(4000 * 25);
  for (auto& b : db) b = static_cast<std::uint8_t>(rng.bits() & 0xFF);
  const MatrixView<const std::uint8_t> q64(db.data(), 12, 8);    // the first rows as 64-bit queries
  const MatrixView<const std::uint8_t> q200(db.data(), 12, 25);  // and as 200-bit queries

  std::optional<xmr::BinaryIndex> index;
  std::optional<xmr::Resources> res;
  const auto fresh = [&] {
    index.emplace(xmr::BinaryIndexOptions{.bits = 64});
    index->add(MatrixView<const std::uint8_t>(db.data(), 4000, 8));
    res.emplace();
  };
  fresh();
  const xmr::BinarySearchResult cpu = index->search(q64, 20, {.device = Device::Cpu});
  EXPECT_GE(sweep_device_calls(
                fresh, [&] { (void)index->search(q64, 20, {.device = Device::Gpu, .resources = &*res}); },
                [&] { expect_same(index->search(q64, 20, {.device = Device::Gpu, .resources = &*res}), cpu); }),
            8);

  xmr::BinaryIndex warm({.bits = 200});
  warm.add(MatrixView<const std::uint8_t>(db.data(), 3000, 25));
  std::int64_t rows = 3000;
  xmr::RangeSearchResult cpu_range;
  EXPECT_GE(sweep_device_calls(
                [&] {
                  res.emplace();
                  res->set_tile_caps(5, 512);
                  (void)warm.search(MatrixView<const std::uint8_t>(db.data(), 1, 25), 1,
                                    {.device = Device::Gpu, .resources = &*res});
                  warm.add(MatrixView<const std::uint8_t>(db.data() + rows * 25, 9, 25));
                  rows += 9;
                  cpu_range = warm.range_search(q200, 90, 40, {.device = Device::Cpu});
                },
                [&] { (void)warm.range_search(q200, 90, 40, {.device = Device::Gpu, .resources = &*res}); },
                [&] {
                  expect_same(warm.range_search(q200, 90, 40, {.device = Device::Gpu, .resources = &*res}), cpu_range);
                }),
            10);
}

}  // namespace
