// BinaryIndex: exact Hamming k-NN and radius search against a brute-force reference, on every
// supported and several awkward code lengths, tie-heavy data, prefix property, ids, strides,
// CPU == GPU bit identity (skipped without a GPU), and every bad input.
//
// ctest also runs this binary with XMR_CPU_ISA=avx2 and XMR_CPU_ISA=scalar (tests/CMakeLists.txt)
// so each popcount kernel is checked on machines that have AVX-512.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr_test::Rng;

struct Codes {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::vector<std::uint8_t> data;
  [[nodiscard]] xmr::MatrixView<const std::uint8_t> view() const { return {data.data(), rows, bytes}; }
  [[nodiscard]] const std::uint8_t* row(std::int64_t r) const { return data.data() + r * bytes; }
};

Codes random_codes(Rng& rng, std::int64_t rows, std::int64_t bits) {
  Codes c{rows, bits / 8, std::vector<std::uint8_t>(static_cast<std::size_t>(rows * bits / 8))};
  for (auto& b : c.data) b = static_cast<std::uint8_t>(rng.bits() & 0xFF);
  return c;
}

/// Codes drawn from `distinct` random prototypes with `flips` random bit flips each: many exact
/// duplicates and small distances, so ties dominate.
Codes clustered_codes(Rng& rng, std::int64_t rows, std::int64_t bits, std::int64_t distinct, int flips) {
  const Codes protos = random_codes(rng, distinct, bits);
  Codes c{rows, bits / 8, std::vector<std::uint8_t>(static_cast<std::size_t>(rows * bits / 8))};
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t p = rng.uniform_int(0, distinct - 1);
    std::memcpy(c.data.data() + r * c.bytes, protos.row(p), static_cast<std::size_t>(c.bytes));
    for (int f = 0; f < flips; ++f) {
      const std::int64_t bit = rng.uniform_int(0, bits - 1);
      c.data[static_cast<std::size_t>(r * c.bytes + bit / 8)] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    }
  }
  return c;
}

int popcount_distance(const std::uint8_t* a, const std::uint8_t* b, std::int64_t bytes) {
  int d = 0;
  for (std::int64_t i = 0; i < bytes; ++i) d += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

struct Hit {
  std::int32_t dist;
  std::int64_t id;
  bool operator<(const Hit& o) const { return dist != o.dist ? dist < o.dist : id < o.id; }
  bool operator==(const Hit& o) const = default;
};

/// Every stored code of `db` (with `ids`) by ascending (distance, id) for one query.
std::vector<Hit> reference_ranking(const Codes& db, const std::vector<std::int64_t>& ids, const std::uint8_t* q) {
  std::vector<Hit> all(static_cast<std::size_t>(db.rows));
  for (std::int64_t r = 0; r < db.rows; ++r) {
    all[static_cast<std::size_t>(r)] = {popcount_distance(db.row(r), q, db.bytes), ids[static_cast<std::size_t>(r)]};
  }
  std::sort(all.begin(), all.end());
  return all;
}

std::vector<std::int64_t> iota_ids(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), std::int64_t{0});
  return v;
}

/// Checks a k-NN result against the reference, slot by slot (ids and distances exactly).
void expect_knn_matches(const xmr::BinarySearchResult& r, const Codes& db, const std::vector<std::int64_t>& ids,
                        const Codes& queries, std::int64_t k, const std::string& what) {
  ASSERT_EQ(r.num_queries, queries.rows) << what;
  ASSERT_EQ(r.k, k) << what;
  for (std::int64_t q = 0; q < queries.rows; ++q) {
    const std::vector<Hit> ref = reference_ranking(db, ids, queries.row(q));
    for (std::int64_t j = 0; j < k; ++j) {
      if (j < static_cast<std::int64_t>(ref.size())) {
        const Hit& h = ref[static_cast<std::size_t>(j)];
        ASSERT_EQ(r.distance(q, j), h.dist) << what << " query " << q << " slot " << j;
        ASSERT_EQ(r.id(q, j), h.id) << what << " query " << q << " slot " << j;
      } else {
        ASSERT_EQ(r.id(q, j), -1) << what << " query " << q << " slot " << j;
        ASSERT_EQ(r.distance(q, j), xmr::kEmptyDistance) << what << " query " << q << " slot " << j;
      }
    }
  }
}

xmr::BinaryIndex make_index(const Codes& db, std::int64_t bits, const std::vector<std::int64_t>* ids = nullptr) {
  xmr::BinaryIndex index({.bits = bits, .device = xmr::Device::Cpu});
  if (ids != nullptr) {
    index.add(db.view(), *ids);
  } else {
    index.add(db.view());
  }
  return index;
}

// ---- every length, awkward sizes ------------------------------------------------------------

struct Case {
  std::int64_t bits;
  std::int64_t n;
  std::int64_t q;
  std::vector<std::int64_t> ks;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  // Every tuned length and awkward ones (8, 24, 40, 136, 4096 bits).
  for (std::int64_t bits : {8, 16, 24, 32, 40, 64, 128, 136, 256, 512, 1024, 2048, 4096}) {
    const std::int64_t n = bits >= 2048 ? 700 : 3001;
    v.push_back({bits, n, 7, {1, 10, 257, n, n + 3}});
  }
  // 1-4 queries: the row-major AVX-512 kernels of 128/256/512-bit codes (no transposition).
  for (std::int64_t bits : {128, 256, 512}) v.push_back({bits, 2999, bits / 128, {1, 10, 300, 2999}});
  v.push_back({64, 1, 3, {1, 5}});               // N = 1, N < k
  v.push_back({8, 2, 4, {1, 2, 3}});             // tiny codes, N < k
  v.push_back({256, 17000, 3, {1, 100, 3000}});  // several blocks and workers
  v.push_back({64, 40000, 2, {7, 1000}});        // several blocks, in-place 64-bit path
  return v;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << "bits " << c.bits << ", n " << c.n << ", q " << c.q;
}

class BinaryTable : public ::testing::TestWithParam<Case> {};

TEST_P(BinaryTable, MatchesBruteForce) {
  const Case& c = GetParam();
  Rng rng(static_cast<std::uint64_t>(c.bits * 1000003 + c.n));
  const Codes db = random_codes(rng, c.n, c.bits);
  const Codes queries = random_codes(rng, c.q, c.bits);
  const xmr::BinaryIndex index = make_index(db, c.bits);
  const std::vector<std::int64_t> ids = iota_ids(c.n);
  for (const std::int64_t k : c.ks) {
    const auto r = index.search(queries.view(), k);
    EXPECT_EQ(r.device, xmr::Device::Cpu);
    expect_knn_matches(r, db, ids, queries, k, "bits " + std::to_string(c.bits) + " k " + std::to_string(k));
  }
}

TEST_P(BinaryTable, SmallWorkspaceTilesQueriesWithTheSameResult) {
  const Case& c = GetParam();
  Rng rng(static_cast<std::uint64_t>(c.bits * 7 + c.n));
  const Codes db = random_codes(rng, c.n, c.bits);
  const Codes queries = random_codes(rng, 9, c.bits);
  const xmr::BinaryIndex index = make_index(db, c.bits);
  const std::int64_t k = std::min<std::int64_t>(c.n, 33);
  xmr::Resources res;
  const auto full = index.search(queries.view(), k);
  // Room for the fixed scratch and about one query's candidate lists: one query per tile.
  res.set_workspace_bytes(std::size_t{4} << 20);
  const auto tiled = index.search(queries.view(), k, {.device = std::nullopt, .resources = &res});
  EXPECT_EQ(full.ids, tiled.ids);
  EXPECT_EQ(full.distances, tiled.distances);
}

INSTANTIATE_TEST_SUITE_P(Lengths, BinaryTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return "b" + std::to_string(i.param.bits) + "_n" + std::to_string(i.param.n);
                         });

// ---- ties ----------------------------------------------------------------------------------

TEST(BinaryTies, SixteenBitCodesOver200kItemsExactTieOrder) {
  Rng rng(16);
  const std::int64_t n = 200000;
  const Codes db = random_codes(rng, n, 16);
  const Codes queries = random_codes(rng, 3, 16);
  // Caller ids in shuffled order: ties must follow ascending id, not insertion order.
  std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 5, 3);
  const xmr::BinaryIndex index = make_index(db, 16, &ids);
  for (const std::int64_t k : {1, 10, 1000, 30000}) {
    const auto r = index.search(queries.view(), k);
    expect_knn_matches(r, db, ids, queries, k, "k " + std::to_string(k));
  }
}

TEST(BinaryTies, ClusteredCodesAllRowsRanked) {
  Rng rng(99);
  const std::int64_t n = 20000;
  const Codes db = clustered_codes(rng, n, 64, 12, 1);
  const Codes queries = clustered_codes(rng, 4, 64, 12, 0);
  const xmr::BinaryIndex index = make_index(db, 64);
  // k = N: the whole ranking, every tie group in id order.
  const auto r = index.search(queries.view(), n);
  expect_knn_matches(r, db, iota_ids(n), queries, n, "k = N");
}

TEST(BinaryTies, PrefixProperty) {
  Rng rng(5);
  const Codes db = clustered_codes(rng, 30000, 32, 40, 2);
  const Codes queries = random_codes(rng, 6, 32);
  const xmr::BinaryIndex index = make_index(db, 32);
  const auto big = index.search(queries.view(), 5000);
  for (const std::int64_t k : {1, 2, 17, 100, 4999}) {
    const auto small = index.search(queries.view(), k);
    for (std::int64_t q = 0; q < queries.rows; ++q) {
      for (std::int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(small.id(q, j), big.id(q, j)) << "k " << k << " query " << q << " slot " << j;
        ASSERT_EQ(small.distance(q, j), big.distance(q, j));
      }
    }
  }
}

TEST(BinaryIds, MergedAddsKeepIdOrderForTies) {
  Rng rng(8);
  // Identical codes everywhere: the ranking is pure id order, across three adds that interleave.
  Codes db{300, 8, std::vector<std::uint8_t>(300 * 8, 0xA5)};
  std::vector<std::int64_t> ids(300);
  for (std::int64_t i = 0; i < 300; ++i) ids[static_cast<std::size_t>(i)] = (i % 3) * 1000 + (299 - i);
  xmr::BinaryIndex index({.bits = 64, .device = xmr::Device::Cpu});
  for (int part = 0; part < 3; ++part) {
    index.add({db.data.data() + part * 100 * 8, 100, 8}, std::span<const std::int64_t>(ids.data() + part * 100, 100));
  }
  const Codes q{1, 8, std::vector<std::uint8_t>(8, 0xA5)};
  const auto r = index.search(q.view(), 300);
  std::vector<std::int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(r.ids, sorted);
  for (auto d : r.distances) EXPECT_EQ(d, 0);
  EXPECT_EQ(index.ids(), sorted);
}

TEST(BinaryIds, SequentialIdsContinueAfterTheLargest) {
  Rng rng(3);
  const Codes db = random_codes(rng, 4, 24);
  xmr::BinaryIndex index({.bits = 24});
  const std::vector<std::int64_t> ids = {10, 3};
  index.add({db.data.data(), 2, 3}, ids);
  index.add({db.data.data() + 6, 2, 3});
  EXPECT_EQ(index.ids(), (std::vector<std::int64_t>{3, 10, 11, 12}));
  EXPECT_EQ(index.size(), 4);
  EXPECT_EQ(index.bits(), 24);
  EXPECT_EQ(index.code_bytes(), 3);
}

// ---- strides, search_into, zero queries ------------------------------------------------------

TEST(BinarySearch, StridedInputsAndOutputs) {
  Rng rng(12);
  const Codes db = random_codes(rng, 500, 40);
  const Codes queries = random_codes(rng, 5, 40);
  const std::vector<std::uint8_t> db_strided = xmr_test::with_stride<std::uint8_t>(db.data, 500, 5, 9, 0xFF);
  const std::vector<std::uint8_t> q_strided = xmr_test::with_stride<std::uint8_t>(queries.data, 5, 5, 7, 0xFF);
  xmr::BinaryIndex index({.bits = 40});
  index.add({db_strided.data(), 500, 5, 9});
  const std::int64_t k = 12;
  std::vector<std::int64_t> ids(5 * 20, 77);
  std::vector<std::int32_t> dist(5 * 16, 77);
  const xmr::Device dev =
      index.search_into({q_strided.data(), 5, 5, 7}, k, {ids.data(), 5, k, 20}, {dist.data(), 5, k, 16});
  EXPECT_EQ(dev, xmr::Device::Cpu);
  const auto r = index.search(queries.view(), k);
  expect_knn_matches(r, db, iota_ids(500), queries, k, "dense");
  for (std::int64_t q = 0; q < 5; ++q) {
    for (std::int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(ids[static_cast<std::size_t>(q * 20 + j)], r.id(q, j));
      EXPECT_EQ(dist[static_cast<std::size_t>(q * 16 + j)], r.distance(q, j));
    }
    for (std::int64_t j = k; j < 20; ++j) EXPECT_EQ(ids[static_cast<std::size_t>(q * 20 + j)], 77);  // untouched
  }
}

TEST(BinarySearch, ZeroQueries) {
  Rng rng(1);
  const Codes db = random_codes(rng, 10, 64);
  const xmr::BinaryIndex index = make_index(db, 64);
  const auto r = index.search({db.data.data(), 0, 8}, 3);
  EXPECT_EQ(r.num_queries, 0);
  EXPECT_TRUE(r.ids.empty());
  const auto rr = index.range_search({db.data.data(), 0, 8}, 3, 10);
  EXPECT_EQ(rr.offsets, std::vector<std::int64_t>{0});
}

// ---- radius search -------------------------------------------------------------------------

void expect_range_matches(const xmr::RangeSearchResult& r, const Codes& db, const std::vector<std::int64_t>& ids,
                          const Codes& queries, int radius, std::int64_t cap) {
  ASSERT_EQ(r.num_queries, queries.rows);
  ASSERT_EQ(r.offsets.size(), static_cast<std::size_t>(queries.rows + 1));
  for (std::int64_t q = 0; q < queries.rows; ++q) {
    std::vector<Hit> ref = reference_ranking(db, ids, queries.row(q));
    const auto within = std::count_if(ref.begin(), ref.end(), [&](const Hit& h) { return h.dist <= radius; });
    EXPECT_EQ(r.num_within[static_cast<std::size_t>(q)], within) << "query " << q;
    const std::int64_t expect = std::min<std::int64_t>(within, cap);
    ASSERT_EQ(r.count(q), expect) << "query " << q;
    EXPECT_EQ(r.truncated(q), within > cap);
    for (std::int64_t j = 0; j < expect; ++j) {
      const auto o = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(q)] + j);
      ASSERT_EQ(r.ids[o], ref[static_cast<std::size_t>(j)].id) << "query " << q << " slot " << j;
      ASSERT_EQ(r.distances[o], ref[static_cast<std::size_t>(j)].dist);
    }
  }
}

TEST(BinaryRange, MatchesBruteForceWithAndWithoutTruncation) {
  Rng rng(21);
  for (const std::int64_t bits : {16, 64, 136, 256}) {
    const Codes db = clustered_codes(rng, 6000, bits, 30, static_cast<int>(bits / 16));
    const Codes queries = clustered_codes(rng, 5, bits, 30, 1);
    const xmr::BinaryIndex index = make_index(db, bits);
    const std::vector<std::int64_t> ids = iota_ids(6000);
    for (const int radius : {0, 1, static_cast<int>(bits / 8), static_cast<int>(bits / 2), static_cast<int>(bits)}) {
      for (const std::int64_t cap : {std::int64_t{1}, std::int64_t{50}, std::int64_t{100000}}) {
        SCOPED_TRACE("bits " + std::to_string(bits) + " radius " + std::to_string(radius) + " cap " +
                     std::to_string(cap));
        const auto r = index.range_search(queries.view(), radius, cap);
        EXPECT_EQ(r.radius, radius);
        EXPECT_EQ(r.max_results, cap);
        expect_range_matches(r, db, ids, queries, radius, cap);
      }
    }
  }
}

TEST(BinaryRange, TruncationIsSignalled) {
  Codes db{1000, 2, std::vector<std::uint8_t>(2000, 0)};
  const xmr::BinaryIndex index = make_index(db, 16);
  const Codes q{1, 2, {0, 0}};
  const auto r = index.range_search(q.view(), 0, 10);
  EXPECT_TRUE(r.truncated(0));
  EXPECT_TRUE(r.any_truncated());
  EXPECT_EQ(r.num_within[0], 1000);
  EXPECT_EQ(r.count(0), 10);
  EXPECT_EQ(r.ids, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const auto all = index.range_search(q.view(), 0, 1000);
  EXPECT_FALSE(all.any_truncated());
  EXPECT_EQ(all.count(0), 1000);
}

// ---- helpers: format --------------------------------------------------------------------------

TEST(BinaryFormat, PackBitsIsLsbFirst) {
  // bits 0, 3 and 9 set -> byte 0 = 0b00001001, byte 1 = 0b00000010.
  std::vector<std::uint8_t> bits(16, 0);
  bits[0] = bits[3] = bits[9] = 1;
  std::vector<std::uint8_t> code(2, 0xEE);
  xmr::pack_bits({bits.data(), 1, 16}, {code.data(), 1, 2});
  EXPECT_EQ(code, (std::vector<std::uint8_t>{0x09, 0x02}));
  std::vector<std::uint8_t> back(16, 7);
  xmr::unpack_bits({code.data(), 1, 2}, {back.data(), 1, 16});
  EXPECT_EQ(back, bits);
  EXPECT_THROW(xmr::pack_bits({bits.data(), 1, 12}, {code.data(), 1, 2}), xmr::Error);
  EXPECT_THROW(xmr::pack_bits({bits.data(), 1, 16}, {code.data(), 1, 1}), xmr::Error);
}

TEST(BinaryCpu, KernelFollowsTheIsaOverride) {
  const std::string kernel = xmr::hamming_cpu_kernel();
  EXPECT_TRUE(kernel == "avx512-vpopcntdq" || kernel == "avx2" || kernel == "scalar-popcnt") << kernel;
  const char* env = std::getenv("XMR_CPU_ISA");
  const std::string forced = env != nullptr ? env : "";
  if (forced == "scalar") {
    EXPECT_EQ(kernel, "scalar-popcnt");
  }
  if (forced == "avx2") {
    EXPECT_NE(kernel, "avx512-vpopcntdq");
  }
}

TEST(BinaryFormat, HammingDistanceHelper) {
  Rng rng(4);
  for (const std::int64_t bytes : {1, 3, 8, 9, 17, 512}) {
    const Codes c = random_codes(rng, 2, bytes * 8);
    EXPECT_EQ(xmr::hamming_distance(c.row(0), c.row(1), bytes), popcount_distance(c.row(0), c.row(1), bytes));
  }
}

// ---- GPU: bit identity with the CPU ------------------------------------------------------------

TEST(BinaryGpu, BitIdenticalToCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  Rng rng(2024);
  for (const std::int64_t bits : {8, 16, 24, 32, 40, 64, 128, 136, 256, 512, 1024, 4096}) {
    const std::int64_t n = bits >= 1024 ? 20000 : 70001;
    const Codes db = bits <= 32 ? random_codes(rng, n, bits) : clustered_codes(rng, n, bits, 50, 3);
    const Codes queries = random_codes(rng, 33, bits);
    xmr::BinaryIndex index({.bits = bits});
    index.add(db.view());
    for (const std::int64_t k : {1, 10, 100, 1000, 5000}) {
      SCOPED_TRACE("bits " + std::to_string(bits) + " k " + std::to_string(k));
      const auto cpu = index.search(queries.view(), k, {.device = xmr::Device::Cpu});
      const auto gpu = index.search(queries.view(), k, {.device = xmr::Device::Gpu});
      ASSERT_EQ(gpu.device, xmr::Device::Gpu);
      ASSERT_EQ(cpu.ids, gpu.ids);
      ASSERT_EQ(cpu.distances, gpu.distances);
    }
    const auto rc =
        index.range_search(queries.view(), static_cast<std::int32_t>(bits / 4), 300, {.device = xmr::Device::Cpu});
    const auto rg =
        index.range_search(queries.view(), static_cast<std::int32_t>(bits / 4), 300, {.device = xmr::Device::Gpu});
    EXPECT_EQ(rc.offsets, rg.offsets);
    EXPECT_EQ(rc.ids, rg.ids);
    EXPECT_EQ(rc.distances, rg.distances);
    EXPECT_EQ(rc.num_within, rg.num_within);
  }
}

TEST(BinaryGpu, TiesAndAnyKMatchCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  Rng rng(16);
  const std::int64_t n = 200000;
  const Codes db = random_codes(rng, n, 16);
  const Codes queries = random_codes(rng, 5, 16);
  std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 5, 3);
  xmr::BinaryIndex index({.bits = 16});
  index.add(db.view(), ids);
  for (const std::int64_t k : {std::int64_t{1}, std::int64_t{10}, std::int64_t{4096}, std::int64_t{70000}, n + 10}) {
    const auto gpu = index.search(queries.view(), k, {.device = xmr::Device::Gpu});
    expect_knn_matches(gpu, db, ids, queries, k, "gpu k " + std::to_string(k));
  }
  // Appends upload incrementally; results follow.
  const Codes more = random_codes(rng, 1000, 16);
  index.add(more.view());
  const auto cpu = index.search(queries.view(), 50, {.device = xmr::Device::Cpu});
  const auto gpu = index.search(queries.view(), 50, {.device = xmr::Device::Gpu});
  EXPECT_EQ(cpu.ids, gpu.ids);
  EXPECT_EQ(cpu.distances, gpu.distances);
}

TEST(BinaryDevice, GpuWithoutGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  Rng rng(1);
  const Codes db = random_codes(rng, 10, 64);
  const xmr::BinaryIndex index = make_index(db, 64);
  try {
    (void)index.search(db.view(), 1, {.device = xmr::Device::Gpu});
    FAIL() << "expected Unavailable";
  } catch (const xmr::Error& e) {
    EXPECT_EQ(e.code(), xmr::ErrorCode::Unavailable);
  }
  xmr::BinaryIndex autodev({.bits = 64, .device = xmr::Device::Auto});
  autodev.add(db.view());
  EXPECT_EQ(autodev.search(db.view(), 1).device, xmr::Device::Cpu);
}

// ---- remove -----------------------------------------------------------------------------------

TEST(BinaryRemove, RemovedIdsNeverAppearAndResultsMatchTheRest) {
  Rng rng(404);
  const std::int64_t n = 6000;
  const Codes db = clustered_codes(rng, n, 64, 40, 4);
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 100, 4);
  const Codes queries = clustered_codes(rng, 6, 64, 40, 1);
  xmr::BinaryIndex index = make_index(db, 64, &ids);
  // Remove every third id, in shuffled order, in two calls.
  std::vector<std::int64_t> gone;
  for (std::int64_t i = 0; i < n; i += 3) gone.push_back(ids[static_cast<std::size_t>(i)]);
  rng.shuffle(gone);
  const std::size_t half = gone.size() / 2;
  index.remove(std::span<const std::int64_t>(gone.data(), half));
  index.remove(std::span<const std::int64_t>(gone.data() + half, gone.size() - half));
  index.remove({});  // empty: nothing changes
  Codes rest{0, 8, {}};
  std::vector<std::int64_t> rest_ids;
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % 3 == 0) continue;
    rest.data.insert(rest.data.end(), db.row(i), db.row(i) + 8);
    rest_ids.push_back(ids[static_cast<std::size_t>(i)]);
    ++rest.rows;
  }
  EXPECT_EQ(index.size(), rest.rows);
  for (const std::int64_t k : {std::int64_t{1}, std::int64_t{10}, std::int64_t{500}, rest.rows + 2}) {
    expect_knn_matches(index.search(queries.view(), k), rest, rest_ids, queries, k, "k " + std::to_string(k));
  }
  expect_range_matches(index.range_search(queries.view(), 6, 300), rest, rest_ids, queries, 6, 300);
  // A removed id can be added again.
  const std::vector<std::int64_t> again = {gone[0]};
  index.add({db.data.data(), 1, 8}, again);
  EXPECT_EQ(index.size(), rest.rows + 1);
  // Removing everything leaves an empty index.
  index.remove(index.ids());
  EXPECT_EQ(index.size(), 0);
  EXPECT_THROW((void)index.search(queries.view(), 1), xmr::Error);
}

TEST(BinaryRemove, UnknownOrRepeatedIdsChangeNothing) {
  Rng rng(405);
  const Codes db = random_codes(rng, 100, 32);
  xmr::BinaryIndex index = make_index(db, 32);
  const auto before = index.search(db.view(), 7);
  const std::vector<std::int64_t> unknown = {3, 5, 100};
  const std::vector<std::int64_t> repeated = {3, 9, 3};
  EXPECT_XMR_ERROR(index.remove(unknown), xmr::ErrorCode::InvalidArgument, "ids[2] (= 100) is not in the index");
  EXPECT_XMR_ERROR(index.remove(repeated), xmr::ErrorCode::InvalidArgument, "ids[2] (= 3) repeats ids[0]");
  EXPECT_XMR_ERROR(index.remove(std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 2)),
                   xmr::ErrorCode::InvalidArgument, "ids.data() (= null)");
  EXPECT_EQ(index.size(), 100);
  const auto after = index.search(db.view(), 7);
  EXPECT_EQ(before.ids, after.ids);
  EXPECT_EQ(before.distances, after.distances);
}

// ---- concurrency -------------------------------------------------------------------------------

TEST(BinaryConcurrency, SearchesSeeWholeSnapshotsWhileAdding) {
  Rng rng(31);
  constexpr std::int64_t kBits = 64;
  constexpr std::int64_t kInitial = 500;
  constexpr std::int64_t kBatches = 20;
  constexpr std::int64_t kBatchRows = 40;
  constexpr int kReaders = 4;
  const Codes all = clustered_codes(rng, kInitial + kBatches * kBatchRows, kBits, 25, 3);
  // Even batches append above the largest id, odd ones fill gaps below it (a merge).
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < kInitial; ++i) ids.push_back(10 * i);
  for (std::int64_t b = 1; b <= kBatches; ++b) {
    for (std::int64_t j = 0; j < kBatchRows; ++j) {
      ids.push_back(b % 2 == 0 ? 100000 + b * 1000 + j : 10 * (b * kBatchRows + j) % (10 * kInitial) + b % 10);
    }
  }
  const Codes queries = clustered_codes(rng, 3, kBits, 25, 0);
  // The reference state after `a` adds: the first kInitial + a * kBatchRows rows.
  auto prefix = [&](std::int64_t a) {
    Codes c{kInitial + a * kBatchRows, 8, {}};
    c.data.assign(all.data.begin(), all.data.begin() + c.rows * 8);
    return c;
  };

  xmr::BinaryIndex index({.bits = kBits, .device = xmr::Device::Auto});
  index.add({all.data.data(), kInitial, 8}, std::span<const std::int64_t>(ids.data(), kInitial));
  std::atomic<std::int64_t> adds{0};
  std::atomic<bool> done{false};
  struct Seen {
    std::int64_t before, after, k;
    xmr::BinarySearchResult r;
  };
  std::vector<std::vector<Seen>> seen(kReaders);
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      const std::int64_t ks[] = {1, 9, 64};
      for (int it = 0; it < 400 && !(done.load() && it > 5); ++it) {
        Seen s{adds.load(), 0, ks[it % 3], {}};
        s.r = index.search(queries.view(), s.k, {.device = t % 2 == 0 ? xmr::Device::Cpu : xmr::Device::Auto});
        s.after = adds.load();
        seen[static_cast<std::size_t>(t)].push_back(std::move(s));
      }
    });
  }
  for (std::int64_t b = 1; b <= kBatches; ++b) {
    const std::int64_t r0 = kInitial + (b - 1) * kBatchRows;
    index.add({all.data.data() + r0 * 8, kBatchRows, 8}, std::span<const std::int64_t>(ids.data() + r0, kBatchRows));
    adds.store(b);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the readers interleave
  }
  done.store(true);
  for (auto& th : readers) th.join();
  std::int64_t checked = 0;
  for (const auto& list : seen) {
    for (const Seen& s : list) {
      bool ok = false;
      // `adds` is stored after add() returns, so a search may already see the next add's snapshot
      // while `adds` still holds the previous count: after + 1 is a possible state too.
      for (std::int64_t a = s.before; a <= std::min(s.after + 1, kBatches) && !ok; ++a) {
        const Codes db = prefix(a);
        const std::vector<std::int64_t> pid(ids.begin(), ids.begin() + db.rows);
        ok = true;
        for (std::int64_t q = 0; q < queries.rows && ok; ++q) {
          const std::vector<Hit> ref = reference_ranking(db, pid, queries.row(q));
          for (std::int64_t j = 0; j < s.k && ok; ++j) {
            ok = s.r.id(q, j) == ref[static_cast<std::size_t>(j)].id &&
                 s.r.distance(q, j) == ref[static_cast<std::size_t>(j)].dist;
          }
        }
      }
      ASSERT_TRUE(ok) << "a search between add " << s.before << " and " << s.after << " (k " << s.k
                      << ") matches no snapshot";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// ---- bad input ------------------------------------------------------------------------------

template <class F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidArgument mentioning '" << needle << "'";
  } catch (const xmr::Error& e) {
    EXPECT_EQ(e.code(), xmr::ErrorCode::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BinaryErrors, OptionsAreValidated) {
  for (const std::int64_t bits : {0, -8, 4, 12, 4104, 8192}) {
    expect_invalid([&] { xmr::BinaryIndex idx({.bits = bits}); }, "options.bits (= " + std::to_string(bits) + ")");
  }
  expect_invalid([] { xmr::BinaryIndex idx({.bits = 64, .device = static_cast<xmr::Device>(9)}); }, "options.device");
}

TEST(BinaryErrors, BadCallsNameTheArgumentAndChangeNothing) {
  Rng rng(77);
  const Codes db = random_codes(rng, 50, 64);
  xmr::BinaryIndex index = make_index(db, 64);
  const auto before = index.search(db.view(), 5);
  const Codes wrong = random_codes(rng, 3, 128);

  expect_invalid([&] { index.add(wrong.view()); }, "codes.cols (= 16)");
  expect_invalid([&] { index.add({nullptr, 3, 8}); }, "codes.data (= null)");
  expect_invalid([&] { index.add({db.data.data(), 3, 8, 4}); }, "codes.stride (= 4)");
  const std::vector<std::int64_t> two = {1, 2};
  expect_invalid([&] { index.add({db.data.data(), 3, 8}, two); }, "ids.size() (= 2)");
  const std::vector<std::int64_t> dup = {100, 101, 100};
  expect_invalid([&] { index.add({db.data.data(), 3, 8}, dup); }, "repeats");
  const std::vector<std::int64_t> taken = {100, 7, 101};
  expect_invalid([&] { index.add({db.data.data(), 3, 8}, taken); }, "ids[1] (= 7) is already in the index");
  const std::vector<std::int64_t> negative = {-5, 1000, 1001};
  expect_invalid([&] { index.add({db.data.data(), 3, 8}, negative); }, "ids[0] (= -5)");
  expect_invalid([&] { (void)index.search(wrong.view(), 5); }, "queries.cols (= 16)");
  for (const std::int64_t k : {0, -1}) {
    expect_invalid([&] { (void)index.search(db.view(), k); }, "k (= " + std::to_string(k) + ")");
  }
  expect_invalid([&] { (void)index.search(db.view(), std::int64_t{1} << 40); }, "k (= ");
  expect_invalid([&] { (void)index.range_search(db.view(), -1, 10); }, "radius (= -1)");
  expect_invalid([&] { (void)index.range_search(db.view(), 65, 10); }, "radius (= 65)");
  expect_invalid([&] { (void)index.range_search(db.view(), 3, 0); }, "max_results (= 0)");
  std::vector<std::int64_t> ids(50 * 5);
  std::vector<std::int32_t> dist(50 * 5);
  expect_invalid(
      [&] {
        (void)index.search_into(db.view(), 5, {ids.data(), 49, 5}, {dist.data(), 50, 5});
      },
      "out_ids.rows (= 49)");
  expect_invalid(
      [&] {
        (void)index.search_into(db.view(), 5, {ids.data(), 50, 5}, {dist.data(), 50, 4});
      },
      "out_distances.cols (= 4)");

  // Nothing changed.
  EXPECT_EQ(index.size(), 50);
  const auto after = index.search(db.view(), 5);
  EXPECT_EQ(before.ids, after.ids);
  EXPECT_EQ(before.distances, after.distances);
}

TEST(BinaryErrors, EmptyIndex) {
  xmr::BinaryIndex index({.bits = 32});
  const std::vector<std::uint8_t> q(4, 0);
  expect_invalid([&] { (void)index.search({q.data(), 1, 4}, 1); }, "index is empty");
  expect_invalid([&] { (void)index.range_search({q.data(), 1, 4}, 1, 1); }, "index is empty");
}

}  // namespace
