// xmr::eval on the GPU (MapOptions::device = Gpu) against the CPU backend through the public API:
// per-query APs of every variant, both tie policies for Hamming, awkward sizes (N = 1, N < 32, N
// not a multiple of 32 x warps, partial and one-item last steps of a warp's slice, K > N, codes
// of 1 .. 512 bytes, queries with no relevant item, heavy ties), several query tiles (tile caps
// and small workspace budgets), injected device failures; and, on machines without a GPU, that
// Device::Gpu is Unavailable and Device::Auto runs on the CPU; bad options are InvalidArgument
// on every machine.
//
// Hamming rankings are identical on both devices (integer distances, ties by ascending index),
// and the dense data has small integer entries, so every float score is exact and the rankings
// are identical too: the APs differ only by the order of their double sums (1e-9).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/eval.h"
#include "xmr/resources.h"
#include "xmr/testing.h"

namespace {

using xmr::Device;
using xmr::Metric;
using xmr::eval::MapOptions;
using xmr::eval::MapResult;
using xmr::eval::MapVariant;
using xmr::eval::TiePolicy;
using U8View = xmr::MatrixView<const std::uint8_t>;
using FView = xmr::MatrixView<const float>;

constexpr double kTol = 1e-9;

struct Labels {
  std::vector<std::uint8_t> query, db;
  std::int64_t classes = 0;
};

/// Bernoulli(p) multi-hot labels; query 0 has none (a query with no relevant item).
Labels random_labels(xmr_test::Rng& rng, std::int64_t q, std::int64_t n, std::int64_t classes, double p) {
  Labels l;
  l.classes = classes;
  for (std::int64_t i = 0; i < q * classes; ++i) l.query.push_back(i >= classes && rng.uniform() < p ? 1 : 0);
  for (std::int64_t i = 0; i < n * classes; ++i) l.db.push_back(rng.uniform() < p ? 1 : 0);
  return l;
}

/// All, and AtK / KFirstRelevant with K = 1, 3, 50, N and N + 3.
std::vector<MapOptions> variants(std::int64_t n, TiePolicy ties) {
  std::vector<MapOptions> out{{.variant = MapVariant::All, .k = 0, .ties = ties}};
  for (const std::int64_t k : {std::int64_t{1}, std::int64_t{3}, std::int64_t{50}, n, n + 3}) {
    out.push_back({.variant = MapVariant::AtK, .k = k, .ties = ties});
    out.push_back({.variant = MapVariant::KFirstRelevant, .k = k, .ties = ties});
  }
  return out;
}

std::string describe(const MapOptions& o) {
  return std::string(xmr::eval::to_string(o.variant)) + " k " + std::to_string(o.k) + " ties " +
         xmr::eval::to_string(o.ties);
}

void expect_same(const MapResult& gpu, const MapResult& cpu, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(gpu.device, Device::Gpu);
  EXPECT_EQ(cpu.device, Device::Cpu);
  EXPECT_EQ(gpu.variant, cpu.variant);
  EXPECT_EQ(gpu.k, cpu.k);
  EXPECT_EQ(gpu.tie_policy, cpu.tie_policy);
  EXPECT_EQ(gpu.queries, cpu.queries);
  ASSERT_EQ(gpu.per_query_ap.size(), cpu.per_query_ap.size());
  for (std::size_t i = 0; i < cpu.per_query_ap.size(); ++i)
    EXPECT_NEAR(gpu.per_query_ap[i], cpu.per_query_ap[i], kTol) << "query " << i;
  EXPECT_NEAR(gpu.map, cpu.map, kTol);
}

// ---- Hamming -------------------------------------------------------------------------------

struct HammingData {
  std::vector<std::uint8_t> query_codes, db_codes;
  std::int64_t q = 0, n = 0, bytes = 0;
  Labels labels;

  MapResult run(MapOptions o, Device device, xmr::Resources* res = nullptr) const {
    o.device = device;
    o.resources = res;
    return xmr::eval::map_hamming(U8View(query_codes.data(), q, bytes), U8View(db_codes.data(), n, bytes),
                                  U8View(labels.query.data(), q, labels.classes),
                                  U8View(labels.db.data(), n, labels.classes), o);
  }
};

/// Codes of random bytes in [0, max_byte] (a small max_byte: few distinct distances, many ties).
HammingData hamming_data(std::uint64_t seed, std::int64_t q, std::int64_t n, std::int64_t bytes, std::int64_t classes,
                         double label_p, int max_byte) {
  xmr_test::Rng rng(seed);
  HammingData d;
  d.q = q;
  d.n = n;
  d.bytes = bytes;
  for (std::int64_t i = 0; i < q * bytes; ++i)
    d.query_codes.push_back(static_cast<std::uint8_t>(rng.uniform_int(0, max_byte)));
  for (std::int64_t i = 0; i < n * bytes; ++i)
    d.db_codes.push_back(static_cast<std::uint8_t>(rng.uniform_int(0, max_byte)));
  d.labels = random_labels(rng, q, n, classes, label_p);
  return d;
}

struct HammingCase {
  std::int64_t q, n, bytes, classes;
  double label_p;
  int max_byte;
};

void PrintTo(const HammingCase& c, std::ostream* os) {
  *os << "q" << c.q << "_n" << c.n << "_bytes" << c.bytes << "_classes" << c.classes << "_maxbyte" << c.max_byte;
}

class EvalGpuHamming : public ::testing::TestWithParam<HammingCase> {};

TEST_P(EvalGpuHamming, EveryVariantAndTiePolicyMatchesTheCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const HammingCase c = GetParam();
  const std::uint64_t seed = 5000 + static_cast<std::uint64_t>(c.n * 31 + c.bytes * 7 + c.q);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const HammingData d = hamming_data(seed, c.q, c.n, c.bytes, c.classes, c.label_p, c.max_byte);
  xmr::Resources capped;
  capped.set_tile_caps(4, 0);  // several query tiles, the last one partial
  for (const TiePolicy ties : {TiePolicy::AscendingIndex, TiePolicy::Average}) {
    for (const MapOptions& o : variants(c.n, ties)) {
      const MapResult cpu = d.run(o, Device::Cpu);
      expect_same(d.run(o, Device::Gpu), cpu, describe(o));
      expect_same(d.run(o, Device::Gpu, &capped), cpu, describe(o) + " (4 queries per tile)");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, EvalGpuHamming,
                         ::testing::Values(HammingCase{4, 1, 1, 3, 0.5, 255},       // N = 1
                                           HammingCase{3, 1, 512, 3, 0.5, 255},     // N = 1, 4096 bits
                                           HammingCase{6, 5, 3, 4, 0.4, 255},       // K > N
                                           HammingCase{6, 33, 8, 4, 0.3, 3},        // a 1-item step in warp 1
                                           HammingCase{5, 257, 1, 3, 0.3, 255},     // 1 item past 32 x 8 (warp 4)
                                           HammingCase{4, 512, 8, 6, 0.3, 255},     // 2 full steps in every warp
                                           HammingCase{9, 200, 1, 2, 0.2, 3},       // 8-bit codes, heavy ties
                                           HammingCase{13, 1000, 2, 5, 0.1, 255},   //
                                           HammingCase{11, 777, 5, 70, 0.03, 255},  // 40 bits, two label words
                                           HammingCase{7, 2500, 8, 21, 0.15, 255},  // 64 bits (the NUS-WIDE shape)
                                           HammingCase{37, 5000, 4, 8, 0.1, 1},     // many steps per warp, heavy ties
                                           HammingCase{5, 600, 64, 10, 0.2, 255},   // 512 bits, 8 warps
                                           HammingCase{5, 300, 100, 10, 0.2, 255},  // 800 bits, 7 warps
                                           HammingCase{3, 400, 128, 10, 0.2, 255},  // 1024 bits, 5 warps
                                           HammingCase{3, 300, 512, 10, 0.2, 1}     // 4096 bits, 1 warp, ties
                                           ));

TEST(EvalGpuHammingTiles, ManyTilesAndAllIdenticalCodes) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const std::uint64_t seed = 91;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  // 301 queries in tiles of 64 (the last one 45), 64-bit codes.
  const HammingData d = hamming_data(seed, 301, 20000, 8, 24, 0.08, 255);
  xmr::Resources res;
  res.set_tile_caps(64, 0);
  for (const MapOptions& o : {MapOptions{.variant = MapVariant::All}, MapOptions{.variant = MapVariant::AtK, .k = 1000},
                              MapOptions{.variant = MapVariant::KFirstRelevant, .k = 100},
                              MapOptions{.variant = MapVariant::All, .ties = TiePolicy::Average}}) {
    expect_same(d.run(o, Device::Gpu, &res), d.run(o, Device::Cpu), describe(o));
  }
  // Every code equal: one tied group of N items, ranked by index.
  HammingData same = hamming_data(seed + 1, 9, 3001, 2, 3, 0.3, 0);
  for (const TiePolicy ties : {TiePolicy::AscendingIndex, TiePolicy::Average}) {
    for (const MapOptions& o : variants(same.n, ties)) {
      expect_same(same.run(o, Device::Gpu), same.run(o, Device::Cpu), describe(o) + " (all tied)");
    }
  }
}

TEST(EvalGpuHammingTiles, WorkspaceBudgetSizesTheTiles) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const std::uint64_t seed = 57;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  // 4096-bit codes: each query's two histograms take 2 x 4097 x 8 bytes, so 1 MiB holds 15
  // queries and the 40 queries (no tile cap) go in three tiles, the last one partial.
  const HammingData d = hamming_data(seed, 40, 700, 512, 6, 0.2, 1);
  xmr::Resources res;
  res.set_workspace_bytes(std::size_t{1} << 20);
  for (const MapOptions& o : {MapOptions{.variant = MapVariant::All, .ties = TiePolicy::Average},
                              MapOptions{.variant = MapVariant::AtK, .k = 100, .ties = TiePolicy::Average},
                              MapOptions{.variant = MapVariant::KFirstRelevant, .k = 30}}) {
    expect_same(d.run(o, Device::Gpu, &res), d.run(o, Device::Cpu), describe(o));
  }
}

TEST(EvalGpuHammingTiles, AutoRunsOnTheGpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const HammingData d = hamming_data(3, 5, 100, 2, 4, 0.3, 255);
  const MapResult r = d.run({}, Device::Auto);
  EXPECT_EQ(r.device, Device::Gpu);
  expect_same(r, d.run({}, Device::Cpu), "auto");
}

// ---- dense ---------------------------------------------------------------------------------

struct DenseData {
  std::vector<float> queries, db;
  std::int64_t q = 0, n = 0, dim = 0;
  Labels labels;

  MapResult run(MapOptions o, Device device, xmr::Resources* res = nullptr,
                Metric metric = Metric::InnerProduct) const {
    o.device = device;
    o.resources = res;
    return xmr::eval::map_dense(FView(queries.data(), q, dim), FView(db.data(), n, dim), metric,
                                U8View(labels.query.data(), q, labels.classes),
                                U8View(labels.db.data(), n, labels.classes), o);
  }
};

/// Entries in [-v, v]: float inner products are exact (ties and duplicates exact too).
DenseData dense_data(std::uint64_t seed, std::int64_t q, std::int64_t n, std::int64_t dim, std::int64_t classes,
                     double label_p, int v) {
  xmr_test::Rng rng(seed);
  DenseData d;
  d.q = q;
  d.n = n;
  d.dim = dim;
  for (std::int64_t i = 0; i < q * dim; ++i) d.queries.push_back(static_cast<float>(rng.uniform_int(-v, v)));
  for (std::int64_t i = 0; i < n * dim; ++i) d.db.push_back(static_cast<float>(rng.uniform_int(-v, v)));
  d.labels = random_labels(rng, q, n, classes, label_p);
  return d;
}

struct DenseCase {
  std::int64_t q, n, dim, classes;
  double label_p;
  int v;
};

void PrintTo(const DenseCase& c, std::ostream* os) {
  *os << "q" << c.q << "_n" << c.n << "_dim" << c.dim << "_classes" << c.classes << "_v" << c.v;
}

class EvalGpuDense : public ::testing::TestWithParam<DenseCase> {};

TEST_P(EvalGpuDense, EveryVariantMatchesTheCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const DenseCase c = GetParam();
  const std::uint64_t seed = 7000 + static_cast<std::uint64_t>(c.n * 13 + c.dim * 3 + c.q);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const DenseData d = dense_data(seed, c.q, c.n, c.dim, c.classes, c.label_p, c.v);
  xmr::Resources capped;
  capped.set_tile_caps(3, 0);
  for (const MapOptions& o : variants(c.n, TiePolicy::AscendingIndex)) {
    const MapResult cpu = d.run(o, Device::Cpu);
    expect_same(d.run(o, Device::Gpu), cpu, describe(o));
    expect_same(d.run(o, Device::Gpu, &capped), cpu, describe(o) + " (3 queries per tile)");
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, EvalGpuDense,
                         ::testing::Values(DenseCase{3, 1, 4, 3, 0.5, 2},         // N = 1
                                           DenseCase{5, 6, 3, 4, 0.4, 2},         // K > N
                                           DenseCase{4, 31, 1, 3, 0.5, 1},        // dim 1: scores -1, +-0, 1
                                           DenseCase{6, 1025, 4, 3, 0.3, 1},      // one flag past a scan tile
                                           DenseCase{17, 300, 5, 3, 0.3, 1},      // heavy ties, zeros
                                           DenseCase{40, 2000, 16, 70, 0.03, 2},  // two label words
                                           DenseCase{7, 3001, 33, 10, 0.2, 3}));

TEST(EvalGpuDenseTiles, SmallWorkspaceBudgetMeansManyTiles) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const std::uint64_t seed = 17;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  // 10 bytes per item and query to sort: 1 MiB holds about 4 queries of 20000 items.
  const DenseData d = dense_data(seed, 101, 20000, 8, 12, 0.1, 2);
  xmr::Resources res;
  res.set_workspace_bytes(std::size_t{1} << 20);
  for (const MapOptions& o : {MapOptions{.variant = MapVariant::All}, MapOptions{.variant = MapVariant::AtK, .k = 500},
                              MapOptions{.variant = MapVariant::KFirstRelevant, .k = 20000}}) {
    expect_same(d.run(o, Device::Gpu, &res), d.run(o, Device::Cpu), describe(o));
  }
  // One query's 10 N bytes above the budget: OutOfMemory naming the rows.
  const DenseData big = dense_data(seed + 1, 2, 120000, 2, 3, 0.1, 1);
  EXPECT_XMR_ERROR(big.run({}, Device::Gpu, &res), xmr::ErrorCode::OutOfMemory, "120000", "workspace budget");
  expect_same(d.run({}, Device::Gpu, &res), d.run({}, Device::Cpu), "after the OutOfMemory");
}

TEST(EvalGpuDenseTiles, CosineOnExactData) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const std::uint64_t seed = 23;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  // Rows of four +-1 entries: norm 2, normalised entries +-0.5, scores multiples of 1/4 (exact).
  xmr_test::Rng rng(seed);
  const std::int64_t dim = 12;
  auto rows = [&](std::int64_t count) {
    std::vector<float> m(static_cast<std::size_t>(count * dim), 0.0F);
    for (std::int64_t r = 0; r < count; ++r) {
      std::vector<std::int64_t> cols(static_cast<std::size_t>(dim));
      for (std::int64_t j = 0; j < dim; ++j) cols[static_cast<std::size_t>(j)] = j;
      rng.shuffle(cols);
      for (std::size_t j = 0; j < 4; ++j)
        m[static_cast<std::size_t>(r * dim + cols[j])] = rng.uniform() < 0.5 ? -1.0F : 1.0F;
    }
    return m;
  };
  DenseData d;
  d.q = 21;
  d.n = 1500;
  d.dim = dim;
  d.queries = rows(d.q);
  d.db = rows(d.n);
  d.labels = random_labels(rng, d.q, d.n, 5, 0.2);
  for (const MapOptions& o : variants(d.n, TiePolicy::AscendingIndex)) {
    expect_same(d.run(o, Device::Gpu, nullptr, Metric::Cosine), d.run(o, Device::Cpu, nullptr, Metric::Cosine),
                describe(o));
  }
}

// ---- devices and errors --------------------------------------------------------------------

TEST(EvalGpuDevice, GpuWithoutGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  const HammingData h = hamming_data(1, 3, 10, 2, 3, 0.3, 255);
  const DenseData d = dense_data(2, 3, 10, 4, 3, 0.3, 2);
  EXPECT_XMR_ERROR(h.run({}, Device::Gpu), xmr::ErrorCode::Unavailable, "gpu");
  EXPECT_XMR_ERROR(h.run({.ties = TiePolicy::Average}, Device::Gpu), xmr::ErrorCode::Unavailable, "gpu");
  EXPECT_XMR_ERROR(d.run({.variant = MapVariant::AtK, .k = 3}, Device::Gpu), xmr::ErrorCode::Unavailable, "gpu");
}

TEST(EvalGpuDevice, AutoWithoutGpuRunsOnTheCpu) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  const HammingData h = hamming_data(1, 3, 10, 2, 3, 0.3, 255);
  const DenseData d = dense_data(2, 3, 10, 4, 3, 0.3, 2);
  for (const MapOptions& o : variants(10, TiePolicy::AscendingIndex)) {
    const MapResult a = h.run(o, Device::Auto);
    EXPECT_EQ(a.device, Device::Cpu);
    EXPECT_EQ(a.per_query_ap, h.run(o, Device::Cpu).per_query_ap) << describe(o);
    const MapResult b = d.run(o, Device::Auto);
    EXPECT_EQ(b.device, Device::Cpu);
    EXPECT_EQ(b.per_query_ap, d.run(o, Device::Cpu).per_query_ap) << describe(o);
  }
}

TEST(EvalGpuDevice, BadOptionsAreInvalidBeforeTheDeviceIsResolved) {
  // Runs everywhere: validation comes before the device (no Unavailable for a bad k).
  const HammingData h = hamming_data(5, 3, 10, 2, 3, 0.3, 255);
  const DenseData d = dense_data(6, 3, 10, 4, 3, 0.3, 2);
  for (const Device device : {Device::Gpu, Device::Auto}) {
    EXPECT_XMR_ERROR(h.run({.variant = MapVariant::AtK, .k = 0}, device), xmr::ErrorCode::InvalidArgument,
                     "options.k (= 0)");
    EXPECT_XMR_ERROR(h.run({.variant = MapVariant::All, .k = 5}, device), xmr::ErrorCode::InvalidArgument,
                     "options.k (= 5)");
    EXPECT_XMR_ERROR(d.run({.variant = MapVariant::KFirstRelevant, .k = -1}, device), xmr::ErrorCode::InvalidArgument,
                     "options.k (= -1)");
  }
}

TEST(EvalGpuDevice, DenseAverageIsCpuOnly) {
  // Runs everywhere: the GPU path has no tie-averaged dense AP.
  const DenseData d = dense_data(4, 3, 10, 4, 3, 0.3, 2);
  EXPECT_XMR_ERROR(d.run({.ties = TiePolicy::Average}, Device::Gpu), xmr::ErrorCode::InvalidArgument, "options.device");
  EXPECT_EQ(d.run({.ties = TiePolicy::Average}, Device::Auto).device, Device::Cpu);
}

/// Fails the 1st, 2nd, ... checked device call of `run` on a fresh Resources until it completes;
/// each failure must be Device, and the same Resources must then answer as the CPU does.
void sweep_device_calls(const std::function<MapResult(xmr::Resources*)>& run, const MapResult& cpu) {
  std::optional<xmr::Resources> res;
  for (int skip = 0; skip < 200; ++skip) {
    SCOPED_TRACE("checked device call " + std::to_string(skip + 1) + " fails");
    res.emplace();
    res->set_tile_caps(2, 0);  // several tiles
    bool threw = false;
    xmr::testing::fail_next_device_calls(1, skip);
    try {
      (void)run(&*res);
    } catch (const xmr::Error& e) {
      threw = true;
      EXPECT_EQ(e.code(), xmr::ErrorCode::Device) << e.what();
    }
    xmr::testing::fail_next_device_calls(0);
    expect_same(run(&*res), cpu, "after the failure");
    if (!threw) {
      EXPECT_GE(skip, 8);  // context, uploads, per tile: copies, kernels, copy back, sync
      return;
    }
  }
  ADD_FAILURE() << "the call never completed";
}

TEST(EvalGpuErrors, InjectedDeviceFailuresLeaveTheResourcesUsable) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const HammingData h = hamming_data(8, 5, 700, 3, 4, 0.3, 255);
  const DenseData d = dense_data(9, 5, 700, 6, 4, 0.3, 2);
  const MapOptions o{.variant = MapVariant::AtK, .k = 40};
  const MapOptions avg{.ties = TiePolicy::Average};
  sweep_device_calls([&](xmr::Resources* r) { return h.run(o, Device::Gpu, r); }, h.run(o, Device::Cpu));
  sweep_device_calls([&](xmr::Resources* r) { return h.run(avg, Device::Gpu, r); }, h.run(avg, Device::Cpu));
  sweep_device_calls([&](xmr::Resources* r) { return d.run(o, Device::Gpu, r); }, d.run(o, Device::Cpu));

  // A device allocation failing: OutOfMemory, then the same Resources works.
  for (int call = 0; call < 2; ++call) {
    xmr::Resources res;
    xmr::testing::fail_next_device_allocations(1);
    if (call == 0) {
      EXPECT_XMR_ERROR(h.run(o, Device::Gpu, &res), xmr::ErrorCode::OutOfMemory, "out of device memory");
    } else {
      EXPECT_XMR_ERROR(d.run(o, Device::Gpu, &res), xmr::ErrorCode::OutOfMemory, "out of device memory");
    }
    xmr::testing::fail_next_device_allocations(0);
    expect_same(h.run(o, Device::Gpu, &res), h.run(o, Device::Cpu), "hamming after the OutOfMemory");
    expect_same(d.run(o, Device::Gpu, &res), d.run(o, Device::Cpu), "dense after the OutOfMemory");
  }
}

}  // namespace
