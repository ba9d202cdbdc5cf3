// DenseIndex search results against the double-precision reference: a table of awkward sizes,
// tie order on exactly representable data, tiling independence, ids, output views and devices.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::DenseIndex;
using xmr::DenseIndexOptions;
using xmr::Device;
using xmr::DType;
using xmr::half;
using xmr::MatrixView;
using xmr::Metric;
using xmr_test::Reference;
using xmr_test::Rng;

// Tolerances, relative to |q| * max|x| of the prepared vectors (Reference::scale).
//
// The reference replicates every rounding the library applies to its inputs (the float
// normalisation under cosine, the binary16 rounding of stored vectors and of queries under fp16
// storage), so both multiply exactly the same numbers and what remains is the library's fp32
// accumulation. For any summation order, with or without FMA, that error is at most
// gamma_D * sum |q_i x_i| <= (D + 1) u |q||x| with u = 2^-24 (Cauchy-Schwarz), which is what
// xmr_test::accumulation_tolerance gives: a proven bound, not a guess, so it cannot flake, and it
// is tight enough to catch a reduced-precision path (TF32 or fp16 accumulation: errors ~1e-3).
//
// fp16 storage needs no looser bound on the CPU: binary16 values widen exactly to fp32, and the
// products accumulate in fp32 exactly as for fp32 storage. Measured over the table (the test
// records max_rel_error_<case>; run with --gtest_output=xml): largest 1.6e-7 for fp32 and 1.7e-7
// for fp16 (both at D = 64, bound 3.9e-6); 1.0e-7 at D = 513 (bound 3.1e-5).
//
// GPU: fp32 GEMMs are IEEE (the same bound); fp16 GEMMs accumulate in fp32 on tensor cores,
// whose adder may truncate instead of rounding (2u per addition): allow a factor of 4.
double tolerance(std::int64_t dim, DType storage, Device device) {
  const double factor = storage == DType::F16 && device == Device::Gpu ? 4.0 : 1.0;
  return factor * xmr_test::accumulation_tolerance(dim);
}

enum class IdMode { Sequential, Caller, CallerLarge };

struct Case {
  std::int64_t n = 0;
  std::int64_t dim = 0;
  std::int64_t num_queries = 0;
  Metric metric = Metric::Cosine;
  DType storage = DType::F32;
  bool half_queries = false;
  bool half_items = false;
  IdMode ids = IdMode::Sequential;
  std::int64_t pad = 0;  // input row stride = dim + pad
  std::uint64_t seed = 0;
};

std::string case_name(const Case& c) {
  std::ostringstream os;
  os << "N" << c.n << "_D" << c.dim << "_Q" << c.num_queries << "_" << (c.metric == Metric::Cosine ? "cos" : "ip")
     << "_" << (c.storage == DType::F32 ? "f32" : "f16") << "_q" << (c.half_queries ? "h" : "f") << "_x"
     << (c.half_items ? "h" : "f") << "_"
     << (c.ids == IdMode::Sequential ? "seq"
         : c.ids == IdMode::Caller   ? "ids"
                                     : "bigids")
     << (c.pad > 0 ? "_strided" : "") << "_s" << c.seed;
  return os.str();
}

// The table: one test per (N, D) pair, each running several variants (metric, storage, query
// type: all 8 where N * D is small, three where it is large, so that each variant still meets
// a large size somewhere). Q, the item input type, the id mode and strided input
// rotate with a counter. Every variant has its own seed and fresh data.
struct Size {
  std::int64_t n = 0;
  std::int64_t dim = 0;
};

std::string size_name(const Size& s) {
  std::ostringstream os;
  os << "N" << s.n << "_D" << s.dim;
  return os.str();
}
// gtest prints parameters with this (instead of their bytes).
void PrintTo(const Size& s, std::ostream* os);
void PrintTo(const Size& s, std::ostream* os) {
  *os << size_name(s);
}

std::vector<Size> sizes() {
  std::vector<Size> out;
  for (std::int64_t n : {1, 7, 100, 1000, 5000}) {
    for (std::int64_t dim : {1, 3, 8, 64, 513}) out.push_back({n, dim});
  }
  return out;
}

std::vector<Case> variants(const Size& size) {
  const std::int64_t qs[] = {1, 5, 37};
  std::vector<Case> cases;
  std::uint64_t counter = 0;  // over the whole table, so seeds are unique
  int large_index = 0;
  for (const Size& s : sizes()) {
    const bool small = s.n * s.dim <= 100000;
    for (int v = 0; v < 8; ++v) {
      // Large pairs take 3 consecutive variants each (0-2, 3-5, 6-0): all 8 meet a large size.
      if (!small && (v - 3 * large_index + 16) % 8 >= 3) continue;
      Case c;
      c.n = s.n;
      c.dim = s.dim;
      c.num_queries = qs[counter % 3];
      c.metric = (v & 1) ? Metric::InnerProduct : Metric::Cosine;
      c.storage = (v & 2) ? DType::F16 : DType::F32;
      c.half_queries = (v & 4) != 0;
      c.half_items = (counter / 2) % 2 == 1;
      c.ids = static_cast<IdMode>((counter / 3) % 3);  // independent of Q
      c.pad = counter % 4 == 1 ? 3 : 0;
      c.seed = 1000 + counter;
      ++counter;
      if (s.n == size.n && s.dim == size.dim) cases.push_back(c);
    }
    if (!small) ++large_index;
  }
  return cases;
}

/// A case's index, inputs and reference.
struct Fixture {
  DenseIndex index;
  std::vector<float> queries_f;
  std::vector<half> queries_h;
  std::int64_t query_stride = 0;
  Reference ref;
  std::string context;

  [[nodiscard]] xmr::SearchResult search(const Case& c, std::int64_t k, const xmr::SearchOptions& opts) const {
    if (c.half_queries)
      return index.search(MatrixView<const half>(queries_h.data(), c.num_queries, c.dim, query_stride), k, opts);
    return index.search(MatrixView<const float>(queries_f.data(), c.num_queries, c.dim, query_stride), k, opts);
  }
};

/// Splits [0, n) into 1..3 consecutive batches (sizes from `rng`).
std::vector<std::pair<std::int64_t, std::int64_t>> batches(Rng& rng, std::int64_t n) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const std::int64_t parts = std::min<std::int64_t>(n, rng.uniform_int(1, 3));
  std::int64_t begin = 0;
  for (std::int64_t p = 0; p < parts; ++p) {
    const std::int64_t left = parts - p - 1;
    const std::int64_t end = p + 1 == parts ? n : rng.uniform_int(begin + 1, n - left);
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

Fixture build(const Case& c, bool with_reference = true) {
  Fixture f{DenseIndex({.dim = c.dim, .metric = c.metric, .storage = c.storage}), {}, {}, 0, {}, {}};
  f.context = "seed " + std::to_string(c.seed) + " (" + case_name(c) + ")";
  Rng rng(c.seed);
  const std::int64_t stride = c.dim + c.pad;
  const std::vector<float> items = xmr_test::with_stride(xmr_test::random_matrix(rng, c.n, c.dim), c.n, c.dim, stride,
                                                         std::numeric_limits<float>::quiet_NaN());
  const std::vector<half> items_h = xmr_test::to_half(items);
  const std::vector<float> queries = xmr_test::random_matrix(rng, c.num_queries, c.dim);
  f.query_stride = stride;
  f.queries_f = xmr_test::with_stride(queries, c.num_queries, c.dim, stride, std::numeric_limits<float>::quiet_NaN());
  f.queries_h = xmr_test::to_half(f.queries_f);

  std::vector<std::int64_t> ids(static_cast<std::size_t>(c.n));
  if (c.ids == IdMode::Sequential) {
    for (std::int64_t i = 0; i < c.n; ++i) ids[static_cast<std::size_t>(i)] = i;
  } else {
    const std::int64_t base = c.ids == IdMode::CallerLarge ? std::int64_t{1'000'000'000'000} : 5;
    ids = xmr_test::random_ids(rng, c.n, base, c.ids == IdMode::CallerLarge ? 1'000'003 : 3);
  }
  for (const auto& [b, e] : batches(rng, c.n)) {
    const std::int64_t rows = e - b;
    const std::span<const std::int64_t> batch_ids(ids.data() + b, static_cast<std::size_t>(rows));
    if (c.half_items) {
      const MatrixView<const half> v(items_h.data() + b * stride, rows, c.dim, stride);
      c.ids == IdMode::Sequential ? f.index.add(v) : f.index.add(v, batch_ids);
    } else {
      const MatrixView<const float> v(items.data() + b * stride, rows, c.dim, stride);
      c.ids == IdMode::Sequential ? f.index.add(v) : f.index.add(v, batch_ids);
    }
  }
  if (!with_reference) return f;
  const std::vector<double> x = c.half_items
                                    ? xmr_test::exact_values(MatrixView<const half>(items_h.data(), c.n, c.dim, stride))
                                    : xmr_test::exact_values(MatrixView<const float>(items.data(), c.n, c.dim, stride));
  const std::vector<double> q =
      c.half_queries
          ? xmr_test::exact_values(MatrixView<const half>(f.queries_h.data(), c.num_queries, c.dim, stride))
          : xmr_test::exact_values(MatrixView<const float>(f.queries_f.data(), c.num_queries, c.dim, stride));
  f.ref = xmr_test::make_reference(x, ids, q, c.dim, c.metric, c.storage);
  return f;
}

std::vector<std::int64_t> ks_for(std::int64_t n) {
  std::vector<std::int64_t> ks = {1, 10, n, n + 3};
  if (n < 100) ks.push_back(100);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

/// Every row of `small` is the prefix of the same row of `large` (ids and score bits).
void expect_prefix(const xmr::SearchResult& small, const xmr::SearchResult& large, const std::string& context) {
  ASSERT_EQ(small.num_queries, large.num_queries) << context;
  for (std::int64_t q = 0; q < small.num_queries; ++q) {
    for (std::int64_t j = 0; j < small.k; ++j) {
      const float a = small.score(q, j);
      const float b = large.score(q, j);
      if (small.id(q, j) != large.id(q, j) || std::memcmp(&a, &b, sizeof a) != 0) {
        ADD_FAILURE() << context << ", query " << q << ", rank " << j << ": top-" << small.k << " has id "
                      << small.id(q, j) << " score " << a << " but top-" << large.k << " has id " << large.id(q, j)
                      << " score " << b;
        return;
      }
    }
  }
}

/// CPU and GPU results agree: scores within 2 tol position-wise, ids equal at ranks whose CPU
/// score is more than 2 tol from its neighbours.
void expect_cpu_gpu_agree(const xmr::SearchResult& cpu, const xmr::SearchResult& gpu, const Reference& ref,
                          double rel_tol, const std::string& context) {
  ASSERT_EQ(cpu.num_queries, gpu.num_queries) << context;
  ASSERT_EQ(cpu.k, gpu.k) << context;
  for (std::int64_t q = 0; q < cpu.num_queries; ++q) {
    const double tol = rel_tol * ref.scale[static_cast<std::size_t>(q)];
    for (std::int64_t j = 0; j < cpu.k; ++j) {
      const double s = static_cast<double>(cpu.score(q, j));
      if (cpu.id(q, j) == -1) {
        EXPECT_EQ(gpu.id(q, j), -1) << context << ", query " << q << ", rank " << j;
        continue;
      }
      EXPECT_NEAR(static_cast<double>(gpu.score(q, j)), s, 2 * tol) << context << ", query " << q << ", rank " << j;
      const bool apart =
          (j == 0 || static_cast<double>(cpu.score(q, j - 1)) - s > 2 * tol) &&
          (j + 1 >= cpu.k || cpu.id(q, j + 1) == -1 || s - static_cast<double>(cpu.score(q, j + 1)) > 2 * tol);
      if (apart) {
        EXPECT_EQ(gpu.id(q, j), cpu.id(q, j)) << context << ", query " << q << ", rank " << j;
      }
    }
  }
}

class DenseTable : public ::testing::TestWithParam<Size> {};

TEST_P(DenseTable, CpuMatchesReference) {
  for (const Case& c : variants(GetParam())) {
    const Fixture f = build(c);
    SCOPED_TRACE(f.context);
    ASSERT_EQ(f.index.size(), c.n);
    std::vector<std::int64_t> sorted_ids = f.ref.ids;
    std::sort(sorted_ids.begin(), sorted_ids.end());
    EXPECT_EQ(f.index.ids(), sorted_ids);

    double worst = 0.0;
    xmr::SearchResult prev;
    for (std::int64_t k : ks_for(c.n)) {
      const std::string ctx = f.context + ", k " + std::to_string(k);
      const xmr::SearchResult r = f.search(c, k, {.device = Device::Cpu});
      ASSERT_EQ(r.num_queries, c.num_queries) << ctx;
      ASSERT_EQ(r.k, k) << ctx;
      ASSERT_EQ(r.ids.size(), static_cast<std::size_t>(c.num_queries * k)) << ctx;
      ASSERT_EQ(r.scores.size(), static_cast<std::size_t>(c.num_queries * k)) << ctx;
      EXPECT_EQ(r.device, Device::Cpu) << ctx;
      xmr_test::expect_topk_matches(xmr_test::view_of(r), f.ref, tolerance(c.dim, c.storage, Device::Cpu), ctx);
      worst = std::max(worst, xmr_test::max_relative_error(xmr_test::view_of(r), f.ref));
      // Top-k1 is a prefix of top-k2 for k1 < k2, bit for bit.
      if (prev.k > 0) expect_prefix(prev, r, ctx);
      prev = r;
    }
    // The measured error, for choosing tolerances: --gtest_output=xml:... records it.
    std::ostringstream worst_text;
    worst_text << std::scientific << worst;
    RecordProperty("max_rel_error_" + case_name(c), worst_text.str());
  }
}

// Resources::set_tile_caps: "results never depend on them". Multi-tile runs (queries split over
// several query tiles, the database over many tiles merged per query) must give the uncapped
// result bit for bit: same ids, same score bits.
TEST_P(DenseTable, CpuTileCapsKeepTheContract) {
  // The selection is exact for any tiling, but the GEMM's rounding depends on the tile shape
  // (OpenBLAS picks kernels by shape), so capped runs are checked against the reference within
  // the accumulation bound, not bit for bit (exact-arithmetic data is compared bit for bit in
  // the tie tests). Every query tile is one OpenMP parallel region, and on a busy machine (ctest
  // -j) each region can cost a scheduler tick, so most runs cap only the database tile (many
  // tiles merged per query); query tiling is exercised where Q = 5 (tiles of 3 + 2).
  xmr::Resources db_caps;
  db_caps.set_tile_caps(0, 17);
  xmr::Resources tiny_db_caps;
  tiny_db_caps.set_tile_caps(0, 1);
  xmr::Resources query_caps;
  query_caps.set_tile_caps(3, 17);
  for (const Case& c : variants(GetParam())) {
    const Fixture f = build(c);
    SCOPED_TRACE(f.context);
    const double tol = tolerance(c.dim, c.storage, Device::Cpu);
    std::vector<std::int64_t> ks = {1, c.n + 3};
    if (c.n > 10) ks.push_back(10);
    for (std::int64_t k : ks) {
      const std::string ctx = f.context + ", k " + std::to_string(k);
      xmr_test::expect_topk_matches(xmr_test::view_of(f.search(c, k, {.device = Device::Cpu, .resources = &db_caps})),
                                    f.ref, tol, ctx + ", tile caps 0 x 17");
      if (c.n <= 1000) {
        xmr_test::expect_topk_matches(
            xmr_test::view_of(f.search(c, k, {.device = Device::Cpu, .resources = &tiny_db_caps})), f.ref, tol,
            ctx + ", tile caps 0 x 1");
      }
      if (c.num_queries == 5) {
        xmr_test::expect_topk_matches(
            xmr_test::view_of(f.search(c, k, {.device = Device::Cpu, .resources = &query_caps})), f.ref, tol,
            ctx + ", tile caps 3 x 17");
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, DenseTable, ::testing::ValuesIn(sizes()),
                         [](const ::testing::TestParamInfo<Size>& param_info) { return size_name(param_info.param); });

// The same table on the GPU: the reference (also with capped tiles), and agreement with the CPU.
TEST(DenseGpu, TableMatchesReferenceAndCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr::Resources caps;
  caps.set_tile_caps(3, 17);
  for (const Size& size : sizes()) {
    for (const Case& c : variants(size)) {
      const Fixture f = build(c);
      SCOPED_TRACE(f.context);
      xmr::SearchResult prev;
      for (std::int64_t k : ks_for(c.n)) {
        const std::string ctx = f.context + ", k " + std::to_string(k) + ", gpu";
        const xmr::SearchResult r = f.search(c, k, {.device = Device::Gpu});
        EXPECT_EQ(r.device, Device::Gpu) << ctx;
        xmr_test::expect_topk_matches(xmr_test::view_of(r), f.ref, tolerance(c.dim, c.storage, Device::Gpu), ctx);
        // cuBLAS picks kernels by shape: capped tiles are checked against the reference, not bits.
        xmr_test::expect_topk_matches(xmr_test::view_of(f.search(c, k, {.device = Device::Gpu, .resources = &caps})),
                                      f.ref, tolerance(c.dim, c.storage, Device::Gpu), ctx + ", tile caps 3 x 17");
        const xmr::SearchResult cpu = f.search(c, k, {.device = Device::Cpu});
        expect_cpu_gpu_agree(cpu, r, f.ref, tolerance(c.dim, c.storage, Device::Gpu), ctx);
        if (prev.k > 0) expect_prefix(prev, r, ctx);
        prev = r;
      }
    }
  }
}

// The GPU keeps a resident copy of the index: appends (ids above the maximum) upload only the
// new rows, other adds rebuild it. Every GPU search after an add must see exactly the new content.
TEST(DenseGpu, ResidentCopyFollowsAdds) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  constexpr std::uint64_t kSeed = 606;
  constexpr std::int64_t kDim = 32;
  for (DType storage : {DType::F32, DType::F16}) {
    const std::string context = "seed " + std::to_string(kSeed) + ", " + xmr::to_string(storage);
    SCOPED_TRACE(context);
    Rng rng(kSeed);
    DenseIndex index({.dim = kDim, .metric = Metric::InnerProduct, .storage = storage});
    const std::vector<float> queries = xmr_test::random_matrix(rng, 9, kDim);
    const std::vector<double> qv = xmr_test::exact_values(MatrixView<const float>(queries.data(), 9, kDim));
    std::vector<float> all;
    std::vector<std::int64_t> all_ids;
    // Batches: initial, pure append, merge below the maximum, append again.
    const std::vector<std::pair<std::int64_t, std::int64_t>> batches_spec = {
        {500, 10'000}, {300, 20'000}, {200, 0}, {50, 30'000}};
    for (const auto& [rows, base] : batches_spec) {
      const std::vector<float> v = xmr_test::random_matrix(rng, rows, kDim);
      std::vector<std::int64_t> ids = xmr_test::random_ids(rng, rows, base, 7);
      index.add(MatrixView<const float>(v.data(), rows, kDim), ids);
      all.insert(all.end(), v.begin(), v.end());
      all_ids.insert(all_ids.end(), ids.begin(), ids.end());
      const auto n = static_cast<std::int64_t>(all_ids.size());
      const Reference ref =
          xmr_test::make_reference(xmr_test::exact_values(MatrixView<const float>(all.data(), n, kDim)), all_ids, qv,
                                   kDim, Metric::InnerProduct, storage);
      for (std::int64_t k : {std::int64_t{1}, std::int64_t{25}, n + 2}) {
        const std::string ctx = context + ", after " + std::to_string(n) + " items, k " + std::to_string(k);
        const xmr::SearchResult r =
            index.search(MatrixView<const float>(queries.data(), 9, kDim), k, {.device = Device::Gpu});
        xmr_test::expect_topk_matches(xmr_test::view_of(r), ref, tolerance(kDim, storage, Device::Gpu), ctx);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tie order on exactly representable data.

struct TieCase {
  Metric metric = Metric::InnerProduct;
  DType storage = DType::F32;
  bool half_queries = false;
  bool capped = false;
  std::uint64_t seed = 0;
};

std::string tie_name(const TieCase& c) {
  return std::string(c.metric == Metric::Cosine ? "cos" : "ip") + "_" + (c.storage == DType::F32 ? "f32" : "f16") +
         (c.half_queries ? "_hq" : "_fq") + (c.capped ? "_capped" : "") + "_s" + std::to_string(c.seed);
}

void PrintTo(const TieCase& c, std::ostream* os);
void PrintTo(const TieCase& c, std::ostream* os) {
  *os << tie_name(c);
}

class DenseTies : public ::testing::TestWithParam<TieCase> {};

// Distinct base vectors, each duplicated 1..6 times under shuffled, non-contiguous ids, added in
// batches whose ids go back and forth (forcing merges). Inner product: components in
// {0, +-1, +-2}, every score an exact small integer. Cosine: exactly 4 nonzero components of
// +-1, scaled by a power of two per copy, so every normalised component is exactly +-0.5 and
// every score a multiple of 1/4. Exact in fp32 and fp16 alike: the result must equal the
// reference ranking bit for bit at every k, including k that cut through a group of ties.
TEST_P(DenseTies, EqualScoresByAscendingId) {
  const TieCase& c = GetParam();
  const std::string context = "seed " + std::to_string(c.seed) + " (" + tie_name(c) + ")";
  SCOPED_TRACE(context);
  constexpr std::int64_t kDim = 8;
  constexpr std::int64_t kBases = 12;
  constexpr std::int64_t kQueries = 9;
  Rng rng(c.seed);
  auto exact_row = [&](std::vector<float>& row) {
    if (c.metric == Metric::InnerProduct) {
      for (float& x : row) x = static_cast<float>(rng.uniform_int(-2, 2));
      if (std::all_of(row.begin(), row.end(), [](float x) { return x == 0.0f; })) row[0] = 1.0f;
    } else {
      std::vector<std::int64_t> cols = {0, 1, 2, 3, 4, 5, 6, 7};
      rng.shuffle(cols);
      std::fill(row.begin(), row.end(), 0.0f);
      for (int i = 0; i < 4; ++i)
        row[static_cast<std::size_t>(cols[static_cast<std::size_t>(i)])] = rng.uniform() < 0.5 ? -1.0f : 1.0f;
    }
  };
  std::vector<float> items;
  for (std::int64_t b = 0; b < kBases; ++b) {
    std::vector<float> row(kDim);
    exact_row(row);
    const std::int64_t copies = rng.uniform_int(1, 6);
    for (std::int64_t k = 0; k < copies; ++k) {
      // Under cosine, copies differ by a power-of-two scale (same direction, same score).
      const float scale =
          c.metric == Metric::Cosine ? std::ldexp(1.0f, static_cast<int>(rng.uniform_int(-3, 3))) : 1.0f;
      for (float x : row) items.push_back(x * scale);
    }
  }
  const auto n = static_cast<std::int64_t>(items.size()) / kDim;
  std::vector<float> queries;
  for (std::int64_t q = 0; q < kQueries; ++q) {
    std::vector<float> row(kDim);
    exact_row(row);
    queries.insert(queries.end(), row.begin(), row.end());
  }
  const std::vector<half> queries_h = xmr_test::to_half(queries);
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 1'000'000'000'000, 10);

  DenseIndex index({.dim = kDim, .metric = c.metric, .storage = c.storage});
  // Batches in an order that makes later batches hold smaller ids than earlier ones.
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return ids[static_cast<std::size_t>(a)] > ids[static_cast<std::size_t>(b)];
  });
  for (std::int64_t b = 0; b < n; b += 7) {
    const std::int64_t rows = std::min<std::int64_t>(7, n - b);
    std::vector<float> batch;
    std::vector<std::int64_t> batch_ids;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t i = order[static_cast<std::size_t>(b + r)];
      batch.insert(batch.end(), items.begin() + i * kDim, items.begin() + (i + 1) * kDim);
      batch_ids.push_back(ids[static_cast<std::size_t>(i)]);
    }
    index.add(MatrixView<const float>(batch.data(), rows, kDim), batch_ids);
  }
  ASSERT_EQ(index.size(), n);

  const std::vector<double> x = xmr_test::exact_values(MatrixView<const float>(items.data(), n, kDim));
  const std::vector<double> qv = xmr_test::exact_values(MatrixView<const float>(queries.data(), kQueries, kDim));
  const Reference ref = xmr_test::make_reference(x, ids, qv, kDim, c.metric, c.storage);

  xmr::Resources res;
  if (c.capped) res.set_tile_caps(0, 3);  // database tiles of 3 rows split the tie groups
  xmr::SearchResult prev;
  for (std::int64_t k = 1; k <= n + 2; ++k) {
    const std::string ctx = context + ", k " + std::to_string(k);
    const xmr::SearchResult r = c.half_queries ? index.search(MatrixView<const half>(queries_h.data(), kQueries, kDim),
                                                              k, {.device = Device::Cpu, .resources = &res})
                                               : index.search(MatrixView<const float>(queries.data(), kQueries, kDim),
                                                              k, {.device = Device::Cpu, .resources = &res});
    xmr_test::expect_topk_matches(xmr_test::view_of(r), ref, 0.0, ctx);
    if (prev.k > 0) expect_prefix(prev, r, ctx);
    prev = r;
    if (xmr::gpu_count() > 0) {
      const xmr::SearchResult g = c.half_queries
                                      ? index.search(MatrixView<const half>(queries_h.data(), kQueries, kDim), k,
                                                     {.device = Device::Gpu, .resources = &res})
                                      : index.search(MatrixView<const float>(queries.data(), kQueries, kDim), k,
                                                     {.device = Device::Gpu, .resources = &res});
      xmr_test::expect_bit_equal(r, g, ctx + ", gpu vs cpu");
    }
  }
}

std::vector<TieCase> tie_table() {
  std::vector<TieCase> cases;
  std::uint64_t seed = 77;
  for (Metric m : {Metric::InnerProduct, Metric::Cosine}) {
    for (DType s : {DType::F32, DType::F16}) {
      cases.push_back({m, s, false, false, seed++});
      cases.push_back({m, s, true, true, seed++});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Exact, DenseTies, ::testing::ValuesIn(tie_table()),
                         [](const ::testing::TestParamInfo<TieCase>& param_info) {
                           return tie_name(param_info.param);
                         });

// One large group of exact ties (cosine D = 1: every score is +-1) cut at many k, with tiles
// that split the group: the tied ids must come out in ascending order and be the smallest ones.
TEST(DenseTiesLarge, CosineDim1) {
  constexpr std::uint64_t kSeed = 4242;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  Rng rng(kSeed);
  constexpr std::int64_t kN = 3000;
  std::vector<float> items(kN);
  for (float& x : items) x = static_cast<float>(rng.normal());
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, kN, 0, 1000);
  DenseIndex index({.dim = 1, .metric = Metric::Cosine});
  index.add(MatrixView<const float>(items.data(), kN / 2, 1), std::span(ids.data(), kN / 2));
  index.add(MatrixView<const float>(items.data() + kN / 2, kN - kN / 2, 1),
            std::span(ids.data() + kN / 2, kN - kN / 2));
  const std::vector<float> queries = {-3.0f, 0.5f};
  const Reference ref = xmr_test::make_reference(
      xmr_test::exact_values(MatrixView<const float>(items.data(), kN, 1)), ids,
      xmr_test::exact_values(MatrixView<const float>(queries.data(), 2, 1)), 1, Metric::Cosine, DType::F32);
  xmr::Resources res;
  res.set_tile_caps(1, 97);
  for (std::int64_t k : {1, 2, 500, 1499, 1500, 1501, 2999, 3000, 3001}) {
    const std::string ctx = "seed " + std::to_string(kSeed) + ", k " + std::to_string(k);
    const xmr::SearchResult r = index.search(MatrixView<const float>(queries.data(), 2, 1), k, {.device = Device::Cpu});
    xmr_test::expect_topk_matches(xmr_test::view_of(r), ref, 0.0, ctx);
    xmr_test::expect_bit_equal(
        r, index.search(MatrixView<const float>(queries.data(), 2, 1), k, {.device = Device::Cpu, .resources = &res}),
        ctx + ", capped");
  }
}

// ---------------------------------------------------------------------------------------------
// Output views, empty batches, devices, ids.

// An inner product of finite values can overflow to +-inf, or to NaN (inf - inf) depending on
// the GEMM's summation order and FMA use. Whatever the scores come out as, the result must keep
// the contract: every item once, scores non-increasing with NaN after every number, ties by id.
TEST(DenseOverflow, OverflowingScoresKeepTheContract) {
  constexpr float kBig = 3e38f;
  DenseIndex index({.dim = 2, .metric = Metric::InnerProduct});
  const std::vector<float> items = {kBig, -kBig, 1.0f, 0.0f, -1.0f, 0.0f, 0.0f, 0.0f, -kBig, -kBig, kBig, kBig};
  index.add(MatrixView<const float>(items.data(), 6, 2));
  const std::vector<float> query = {kBig, kBig};
  std::vector<Device> devices = {Device::Cpu};
  if (xmr::gpu_count() > 0) devices.push_back(Device::Gpu);
  for (Device device : devices) {
    const xmr::SearchResult r = index.search(MatrixView<const float>(query.data(), 1, 2), 8, {.device = device});
    const std::string ctx = xmr::to_string(device);
    std::vector<std::int64_t> seen;
    for (std::int64_t j = 0; j < 6; ++j) seen.push_back(r.id(0, j));
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5})) << ctx;
    for (std::int64_t j = 1; j < 6; ++j) {
      const float a = r.score(0, j - 1);
      const float b = r.score(0, j);
      if (std::isnan(a)) {
        EXPECT_TRUE(std::isnan(b)) << ctx << ": a number after NaN at rank " << j;
      } else if (!std::isnan(b)) {
        EXPECT_GE(a, b) << ctx << ", rank " << j;
        if (a == b) {
          EXPECT_LT(r.id(0, j - 1), r.id(0, j)) << ctx << ", tie at rank " << j;
        }
      }
    }
    EXPECT_EQ(r.score(0, 0), std::numeric_limits<float>::infinity()) << ctx << ": id 5 scores 2 * 9e76";
    EXPECT_EQ(r.id(0, 6), -1) << ctx;
  }
}

TEST(DenseSearchInto, StridedOutputMatchesSearch) {
  constexpr std::uint64_t kSeed = 99;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  Rng rng(kSeed);
  constexpr std::int64_t kDim = 16;
  constexpr std::int64_t kN = 300;
  constexpr std::int64_t kQ = 7;
  const std::vector<float> items = xmr_test::random_matrix(rng, kN, kDim);
  const std::vector<float> queries = xmr_test::random_matrix(rng, kQ, kDim);
  for (DType storage : {DType::F32, DType::F16}) {
    DenseIndex index({.dim = kDim, .metric = Metric::InnerProduct, .storage = storage});
    index.add(MatrixView<const float>(items.data(), kN, kDim));
    for (const std::int64_t k : std::vector<std::int64_t>{1, 13, kN + 4}) {
      const std::string ctx = std::string("storage ") + xmr::to_string(storage) + ", k " + std::to_string(k);
      const xmr::SearchResult expected = index.search(MatrixView<const float>(queries.data(), kQ, kDim), k);
      const std::int64_t id_stride = k + 5;
      const std::int64_t score_stride = k + 2;
      constexpr std::int64_t kIdSentinel = -777;
      constexpr float kScoreSentinel = 12345.0f;
      std::vector<std::int64_t> out_ids(static_cast<std::size_t>(kQ * id_stride), kIdSentinel);
      std::vector<float> out_scores(static_cast<std::size_t>(kQ * score_stride), kScoreSentinel);
      const Device d = index.search_into(MatrixView<const float>(queries.data(), kQ, kDim), k,
                                         MatrixView<std::int64_t>(out_ids.data(), kQ, k, id_stride),
                                         MatrixView<float>(out_scores.data(), kQ, k, score_stride));
      EXPECT_EQ(d, expected.device) << ctx;
      for (std::int64_t q = 0; q < kQ; ++q) {
        for (std::int64_t j = 0; j < id_stride; ++j) {
          const std::int64_t got = out_ids[static_cast<std::size_t>(q * id_stride + j)];
          if (j < k) {
            EXPECT_EQ(got, expected.id(q, j)) << ctx << ", query " << q << ", rank " << j;
          } else {
            EXPECT_EQ(got, kIdSentinel) << ctx << ": padding of out_ids written, query " << q << ", column " << j;
          }
        }
        for (std::int64_t j = 0; j < score_stride; ++j) {
          const float got = out_scores[static_cast<std::size_t>(q * score_stride + j)];
          if (j < k) {
            EXPECT_EQ(std::memcmp(&got, &expected.scores[static_cast<std::size_t>(q * k + j)], sizeof got), 0)
                << ctx << ", query " << q << ", rank " << j << ": " << got << " vs " << expected.score(q, j);
          } else {
            EXPECT_EQ(got, kScoreSentinel) << ctx << ": padding of out_scores written, query " << q << ", column " << j;
          }
        }
      }
    }
  }
}

TEST(DenseSearch, ZeroQueriesGiveAnEmptyResult) {
  DenseIndex index({.dim = 4, .metric = Metric::Cosine});
  const std::vector<float> items = {1, 2, 3, 4, -1, 0, 0, 0};
  index.add(MatrixView<const float>(items.data(), 2, 4));
  for (std::int64_t k : {1, 5}) {
    const xmr::SearchResult r = index.search(MatrixView<const float>(nullptr, 0, 4), k);
    EXPECT_EQ(r.num_queries, 0);
    EXPECT_EQ(r.k, k);
    EXPECT_TRUE(r.ids.empty());
    EXPECT_TRUE(r.scores.empty());
    const xmr::SearchResult rh = index.search(MatrixView<const half>(nullptr, 0, 4), k, {.device = Device::Cpu});
    EXPECT_EQ(rh.num_queries, 0);
    EXPECT_TRUE(rh.ids.empty());
    EXPECT_EQ(index.search_into(MatrixView<const float>(nullptr, 0, 4), k, MatrixView<std::int64_t>(nullptr, 0, k),
                                MatrixView<float>(nullptr, 0, k), {.device = Device::Cpu}),
              Device::Cpu);
  }
}

TEST(DenseDevice, AutoWithoutGpuRunsOnCpu) {
  DenseIndex index({.dim = 2, .metric = Metric::InnerProduct});
  const std::vector<float> items = {1, 0, 0, 1};
  index.add(MatrixView<const float>(items.data(), 2, 2));
  const std::vector<float> q = {1, 2};
  const xmr::SearchResult r = index.search(MatrixView<const float>(q.data(), 1, 2), 2, {.device = Device::Auto});
  const xmr::SearchResult r_default = index.search(MatrixView<const float>(q.data(), 1, 2), 2);
  EXPECT_EQ(index.device(), Device::Auto);
  const Device expected = xmr::gpu_count() > 0 ? Device::Gpu : Device::Cpu;
  EXPECT_EQ(r.device, expected) << xmr::device_summary();
  EXPECT_EQ(r_default.device, expected) << xmr::device_summary();
  ASSERT_EQ(r.ids, (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(r.scores, (std::vector<float>{2.0f, 1.0f}));

  DenseIndex cpu_index({.dim = 2, .metric = Metric::InnerProduct, .device = Device::Cpu});
  cpu_index.add(MatrixView<const float>(items.data(), 2, 2));
  EXPECT_EQ(cpu_index.search(MatrixView<const float>(q.data(), 1, 2), 1).device, Device::Cpu);
}

TEST(DenseDevice, GpuSearchWithoutGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  DenseIndex index({.dim = 2, .metric = Metric::InnerProduct});
  const std::vector<float> items = {1, 0, 0, 1};
  index.add(MatrixView<const float>(items.data(), 2, 2));
  try {
    (void)index.search(MatrixView<const float>(items.data(), 1, 2), 1, {.device = Device::Gpu});
    ADD_FAILURE() << "a GPU search without a GPU did not throw";
  } catch (const xmr::Error& e) {
    EXPECT_EQ(e.code(), xmr::ErrorCode::Unavailable) << e.what();
  }
  if (!xmr::built_with_cuda()) {
    EXPECT_NE(xmr::device_summary().find("no GPU"), std::string::npos) << xmr::device_summary();
  }
}

TEST(DenseRemove, RemovedIdsNeverAppearAndResultsMatchTheRest) {
  constexpr std::int64_t kN = 3000;
  constexpr std::int64_t kD = 19;
  xmr_test::Rng rng(77);
  const std::vector<float> x = xmr_test::random_matrix(rng, kN, kD);
  const std::vector<float> q = xmr_test::random_matrix(rng, 5, kD);
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, kN, 10, 3);
  for (const DType storage : {DType::F32, DType::F16}) {
    DenseIndex index({.dim = kD, .metric = Metric::Cosine, .storage = storage});
    index.add(MatrixView<const float>(x.data(), kN, kD), ids);
    std::vector<std::int64_t> gone;
    std::vector<float> rest;
    std::vector<std::int64_t> rest_ids;
    for (std::int64_t i = 0; i < kN; ++i) {
      if (i % 4 == 1) {
        gone.push_back(ids[static_cast<std::size_t>(i)]);
      } else {
        rest.insert(rest.end(), x.begin() + i * kD, x.begin() + (i + 1) * kD);
        rest_ids.push_back(ids[static_cast<std::size_t>(i)]);
      }
    }
    rng.shuffle(gone);
    index.remove(gone);
    ASSERT_EQ(index.size(), static_cast<std::int64_t>(rest_ids.size()));
    const auto n_rest = static_cast<std::int64_t>(rest_ids.size());
    const Reference ref = xmr_test::make_reference(
        xmr_test::exact_values(MatrixView<const float>(rest.data(), n_rest, kD)), rest_ids,
        xmr_test::exact_values(MatrixView<const float>(q.data(), 5, kD)), kD, Metric::Cosine, storage);
    for (const std::int64_t k : {std::int64_t{1}, std::int64_t{25}, n_rest + 1}) {
      const xmr::SearchResult r = index.search(MatrixView<const float>(q.data(), 5, kD), k, {.device = Device::Cpu});
      xmr_test::expect_topk_matches(
          xmr_test::view_of(r), ref, xmr_test::accumulation_tolerance(kD),
          std::string("remove, seed 77, ") + xmr::to_string(storage) + ", k " + std::to_string(k));
    }
    // Unknown and repeated ids are errors that change nothing.
    const std::vector<std::int64_t> bad = {rest_ids[0], gone[0]};
    EXPECT_THROW(index.remove(bad), xmr::Error);
    EXPECT_EQ(index.size(), n_rest);
  }
}

// rescore: exact scores of given (query, id) pairs, against the double-precision reference and
// against search(); -1 slots, repeats, strided views, every storage and metric, awkward sizes.
TEST(DenseRescore, MatchesReferenceAndSearch) {
  for (const auto& nd : {std::pair<std::int64_t, std::int64_t>{1, 1}, {7, 13}, {300, 64}}) {
    const std::int64_t n = nd.first;
    const std::int64_t d = nd.second;
    for (const Metric metric : {Metric::InnerProduct, Metric::Cosine}) {
      for (const DType storage : {DType::F32, DType::F16}) {
        const std::uint64_t seed = 500 + static_cast<std::uint64_t>(n * 3 + d);
        xmr_test::Rng rng(seed);
        const std::vector<float> x = xmr_test::random_matrix(rng, n, d);
        const std::int64_t nq = 5;
        const std::vector<float> q = xmr_test::random_matrix(rng, nq, d);
        const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 10, 3);
        DenseIndex index({.dim = d, .metric = metric, .storage = storage});
        index.add(MatrixView<const float>(x.data(), n, d), ids);
        const Reference ref = xmr_test::make_reference(
            xmr_test::exact_values(MatrixView<const float>(x.data(), n, d)), ids,
            xmr_test::exact_values(MatrixView<const float>(q.data(), nq, d)), d, metric, storage);
        // C = 9 candidates per query, in stride 11: random items (repeats allowed) and a -1.
        const std::int64_t c = 9;
        const std::int64_t stride = 11;
        std::vector<std::int64_t> cand(static_cast<std::size_t>(nq * stride), 12345);
        std::vector<std::int64_t> item(static_cast<std::size_t>(nq * c));
        for (std::int64_t i = 0; i < nq; ++i) {
          for (std::int64_t j = 0; j < c; ++j) {
            const std::int64_t it = j == 4 ? -1 : rng.uniform_int(0, n - 1);
            item[static_cast<std::size_t>(i * c + j)] = it;
            cand[static_cast<std::size_t>(i * stride + j)] = it < 0 ? -1 : ids[static_cast<std::size_t>(it)];
          }
        }
        std::vector<float> out(static_cast<std::size_t>(nq * stride), 7.0f);
        index.rescore(MatrixView<const float>(q.data(), nq, d),
                      MatrixView<const std::int64_t>(cand.data(), nq, c, stride),
                      MatrixView<float>(out.data(), nq, c, stride));
        const std::string ctx = std::string("seed ") + std::to_string(seed) + ", " + xmr::to_string(metric) + ", " +
                                xmr::to_string(storage);
        for (std::int64_t i = 0; i < nq; ++i) {
          for (std::int64_t j = 0; j < c; ++j) {
            const float got = out[static_cast<std::size_t>(i * stride + j)];
            const std::int64_t it = item[static_cast<std::size_t>(i * c + j)];
            if (it < 0) {
              EXPECT_EQ(got, -std::numeric_limits<float>::infinity()) << ctx;
            } else {
              // Accumulated in double, rounded once: within a few ulps of |q| |x|.
              EXPECT_NEAR(got, ref.score(i, it), 4 * 0x1.0p-24 * ref.scale[static_cast<std::size_t>(i)])
                  << ctx << ", query " << i << ", slot " << j;
            }
          }
          for (std::int64_t j = c; j < stride; ++j) EXPECT_EQ(out[static_cast<std::size_t>(i * stride + j)], 7.0f);
        }
        // The ids search() returns, rescored, give search()'s scores within its fp32 tolerance.
        const xmr::SearchResult r = index.search(MatrixView<const float>(q.data(), nq, d), std::min<std::int64_t>(n, 4),
                                                 {.device = Device::Cpu});
        std::vector<float> again(r.scores.size());
        index.rescore(MatrixView<const float>(q.data(), nq, d), MatrixView<const std::int64_t>(r.ids.data(), nq, r.k),
                      MatrixView<float>(again.data(), nq, r.k));
        for (std::size_t i = 0; i < again.size(); ++i) {
          const auto qi = static_cast<std::size_t>(i / static_cast<std::size_t>(r.k));
          EXPECT_NEAR(again[i], r.scores[i], xmr_test::accumulation_tolerance(d) * ref.scale[qi]) << ctx;
        }
        // fp16 queries: exactly the float queries of the same values.
        const std::vector<xmr::half> qh = xmr_test::to_half(q);
        std::vector<float> qh_as_float(qh.size());
        for (std::size_t i = 0; i < qh.size(); ++i) qh_as_float[i] = xmr::to_float(qh[i]);
        std::vector<float> from_half(r.scores.size());
        std::vector<float> from_float(r.scores.size());
        const MatrixView<const std::int64_t> rids(r.ids.data(), nq, r.k);
        index.rescore(MatrixView<const xmr::half>(qh.data(), nq, d), rids,
                      MatrixView<float>(from_half.data(), nq, r.k));
        index.rescore(MatrixView<const float>(qh_as_float.data(), nq, d), rids,
                      MatrixView<float>(from_float.data(), nq, r.k));
        EXPECT_EQ(from_half, from_float) << ctx;
      }
    }
  }
}

TEST(DenseRescore, BadInputsChangeNothing) {
  xmr_test::Rng rng(3);
  const std::vector<float> x = xmr_test::random_matrix(rng, 20, 4);
  DenseIndex index({.dim = 4});
  index.add(MatrixView<const float>(x.data(), 20, 4));
  const std::vector<float> q = xmr_test::random_matrix(rng, 2, 4);
  std::vector<std::int64_t> cand = {0, 1, 2, 3, 19, 999};
  std::vector<float> out(6);
  const MatrixView<const float> qv(q.data(), 2, 4);
  EXPECT_XMR_ERROR(
      index.rescore(qv, MatrixView<const std::int64_t>(cand.data(), 2, 3), MatrixView<float>(out.data(), 2, 3)),
      xmr::ErrorCode::InvalidArgument, "candidates[1][2] (= 999) is not in the index");
  EXPECT_XMR_ERROR(
      index.rescore(qv, MatrixView<const std::int64_t>(cand.data(), 3, 2), MatrixView<float>(out.data(), 3, 2)),
      xmr::ErrorCode::InvalidArgument, "candidates.rows() (= 3) must equal queries.rows() (= 2)");
  EXPECT_XMR_ERROR(
      index.rescore(qv, MatrixView<const std::int64_t>(cand.data(), 2, 3), MatrixView<float>(out.data(), 2, 2)),
      xmr::ErrorCode::InvalidArgument, "out_scores");
  std::vector<float> nan_q = q;
  nan_q[5] = std::numeric_limits<float>::quiet_NaN();
  cand[5] = 5;
  EXPECT_XMR_ERROR(
      index.rescore(MatrixView<const float>(nan_q.data(), 2, 4), MatrixView<const std::int64_t>(cand.data(), 2, 3),
                    MatrixView<float>(out.data(), 2, 3)),
      xmr::ErrorCode::InvalidArgument, "queries");
  EXPECT_EQ(index.size(), 20);
  // Zero queries or zero candidates: nothing to do.
  index.rescore(MatrixView<const float>(q.data(), 0, 4), MatrixView<const std::int64_t>(cand.data(), 0, 3),
                MatrixView<float>(out.data(), 0, 3));
  index.rescore(qv, MatrixView<const std::int64_t>(cand.data(), 2, 0), MatrixView<float>(out.data(), 2, 0));
}

// ---- rescore on either device ------------------------------------------------------------------

// A rescoring problem: `n` random vectors with spread-out ids, `nq` queries and `c` candidate ids
// per query (random stored ids, repeats allowed, every fifth slot -1).
struct RescoreProblem {
  std::int64_t d = 0;
  std::int64_t nq = 0;
  std::int64_t c = 0;
  std::vector<float> x;
  std::vector<std::int64_t> ids;
  std::vector<float> queries;
  std::vector<std::int64_t> candidates;  // [nq x c]
  std::string context;

  [[nodiscard]] MatrixView<const float> query_view() const { return {queries.data(), nq, d}; }
  [[nodiscard]] MatrixView<const std::int64_t> candidate_view() const { return {candidates.data(), nq, c}; }
};

RescoreProblem make_rescore_problem(std::int64_t n, std::int64_t d, std::int64_t nq, std::int64_t c,
                                    std::uint64_t seed) {
  RescoreProblem p;
  p.d = d;
  p.nq = nq;
  p.c = c;
  Rng rng(seed);
  p.x = xmr_test::random_matrix(rng, n, d);
  p.ids = xmr_test::random_ids(rng, n, 100, 5);
  p.queries = xmr_test::random_matrix(rng, nq, d);
  p.candidates.resize(static_cast<std::size_t>(nq * c));
  for (std::size_t i = 0; i < p.candidates.size(); ++i) {
    p.candidates[i] = i % 5 == 3 ? -1 : p.ids[static_cast<std::size_t>(rng.uniform_int(0, n - 1))];
  }
  p.context = "seed " + std::to_string(seed) + ", N " + std::to_string(n) + ", D " + std::to_string(d) + ", Q " +
              std::to_string(nq) + ", C " + std::to_string(c);
  return p;
}

DenseIndex rescore_index(const RescoreProblem& p, Metric metric, DType storage, Device device = Device::Auto) {
  DenseIndex index({.dim = p.d, .metric = metric, .storage = storage, .device = device});
  index.add(MatrixView<const float>(p.x.data(), static_cast<std::int64_t>(p.ids.size()), p.d), p.ids);
  return index;
}

/// Scores as bit patterns, so that equality is exact (and -inf, -0 compare as themselves).
std::vector<std::uint32_t> score_bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

std::vector<float> rescored(const DenseIndex& index, const RescoreProblem& p, const xmr::SearchOptions& options,
                            Device* ran_on = nullptr) {
  std::vector<float> out(p.candidates.size(), 7.0f);
  const Device device =
      index.rescore(p.query_view(), p.candidate_view(), MatrixView<float>(out.data(), p.nq, p.c), options);
  if (ran_on != nullptr) *ran_on = device;
  return out;
}

// The options overload on the CPU: the same bits as the default call, the reference within a few
// ulps, and the summation order that rescore_launch.h documents (the GPU kernel's), bit for bit.
TEST(DenseRescore, OptionsOnCpuMatchReferenceAndTheLaneOrder) {
  for (const std::int64_t d : {std::int64_t{1}, std::int64_t{31}, std::int64_t{32}, std::int64_t{77}}) {
    const RescoreProblem p = make_rescore_problem(40, d, 4, 10, 900 + static_cast<std::uint64_t>(d));
    SCOPED_TRACE(p.context);
    const DenseIndex index = rescore_index(p, Metric::InnerProduct, DType::F32);
    xmr::Resources res;
    Device ran_on = Device::Auto;
    const std::vector<float> by_default = rescored(index, p, {}, &ran_on);
    EXPECT_EQ(ran_on, Device::Cpu) << "no resident copy: Auto rescoring stays on the CPU";
    const std::vector<float> on_cpu = rescored(index, p, {.device = Device::Cpu, .resources = &res}, &ran_on);
    EXPECT_EQ(ran_on, Device::Cpu);
    EXPECT_EQ(score_bits(on_cpu), score_bits(by_default));
    const auto n = static_cast<std::int64_t>(p.ids.size());
    const Reference ref =
        xmr_test::make_reference(xmr_test::exact_values(MatrixView<const float>(p.x.data(), n, d)), p.ids,
                                 xmr_test::exact_values(p.query_view()), d, Metric::InnerProduct, DType::F32);
    for (std::int64_t q = 0; q < p.nq; ++q) {
      for (std::int64_t j = 0; j < p.c; ++j) {
        const std::size_t at = static_cast<std::size_t>(q * p.c + j);
        const std::int64_t id = p.candidates[at];
        if (id < 0) {
          EXPECT_EQ(on_cpu[at], -std::numeric_limits<float>::infinity());
          continue;
        }
        const auto item = std::find(p.ids.begin(), p.ids.end(), id) - p.ids.begin();  // ids are shuffled
        EXPECT_NEAR(on_cpu[at], ref.score(q, item), 4 * 0x1.0p-24 * ref.scale[static_cast<std::size_t>(q)]);
        // 32 lane sums in ascending element order, folded by halving, rounded once.
        double lanes[32] = {};
        for (std::int64_t i = 0; i < d; ++i) {
          lanes[i % 32] += static_cast<double>(p.queries[static_cast<std::size_t>(q * d + i)]) *
                           static_cast<double>(p.x[static_cast<std::size_t>(item * d + i)]);
        }
        for (int h = 16; h > 0; h /= 2) {
          for (int l = 0; l < h; ++l) lanes[l] += lanes[l + h];
        }
        EXPECT_EQ(on_cpu[at], static_cast<float>(lanes[0])) << "query " << q << ", slot " << j;
      }
    }
  }
}

// Without a GPU: Auto (the index's and the call's) runs on the CPU, even after searches; an
// explicit GPU, per call or as the index's device, is Unavailable.
TEST(DenseRescore, WithoutGpuAutoRunsOnCpuAndGpuIsUnavailable) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: " << xmr::device_summary();
  const RescoreProblem p = make_rescore_problem(30, 8, 3, 6, 931);
  const DenseIndex index = rescore_index(p, Metric::Cosine, DType::F16);
  (void)index.search(p.query_view(), 3);
  Device ran_on = Device::Gpu;
  const std::vector<float> got = rescored(index, p, {.device = Device::Auto}, &ran_on);
  EXPECT_EQ(ran_on, Device::Cpu);
  EXPECT_EQ(score_bits(got), score_bits(rescored(index, p, {.device = Device::Cpu})));
  EXPECT_XMR_ERROR((void)rescored(index, p, {.device = Device::Gpu}), xmr::ErrorCode::Unavailable, "device (= gpu)");
  const DenseIndex gpu_index = rescore_index(p, Metric::Cosine, DType::F16, Device::Gpu);
  EXPECT_XMR_ERROR((void)rescored(gpu_index, p, {}), xmr::ErrorCode::Unavailable, "device (= gpu)");
  EXPECT_EQ(score_bits(rescored(gpu_index, p, {.device = Device::Cpu})), score_bits(got));
}

// GPU rescoring equals CPU rescoring bit for bit (same summation order, products exact in
// double), for both storages and metrics, awkward dimensions, -1 slots, fp16 queries, strided
// outputs, and query tiles forced small by tile caps and by the workspace budget.
TEST(DenseRescoreGpu, MatchesCpuBitForBit) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr::Resources capped;
  capped.set_tile_caps(3, 0);
  for (const std::int64_t d : {std::int64_t{1}, std::int64_t{33}, std::int64_t{64}, std::int64_t{300}}) {
    for (const DType storage : {DType::F32, DType::F16}) {
      for (const Metric metric : {Metric::InnerProduct, Metric::Cosine}) {
        const RescoreProblem p = make_rescore_problem(257, d, 11, 13, 940 + static_cast<std::uint64_t>(d));
        const std::string ctx = p.context + ", " + xmr::to_string(storage) + ", " + xmr::to_string(metric);
        SCOPED_TRACE(ctx);
        const DenseIndex index = rescore_index(p, metric, storage);
        const std::vector<float> cpu = rescored(index, p, {.device = Device::Cpu});
        Device ran_on = Device::Cpu;
        const std::vector<float> gpu = rescored(index, p, {.device = Device::Gpu}, &ran_on);
        EXPECT_EQ(ran_on, Device::Gpu);
        EXPECT_EQ(score_bits(gpu), score_bits(cpu));
        for (std::size_t i = 0; i < gpu.size(); ++i) {
          if (p.candidates[i] < 0) {
            EXPECT_EQ(gpu[i], -std::numeric_limits<float>::infinity()) << "slot " << i;
          }
        }
        EXPECT_EQ(score_bits(rescored(index, p, {.device = Device::Gpu, .resources = &capped})), score_bits(cpu));
        // fp16 queries, into a strided output whose padding stays untouched.
        const std::vector<half> qh = xmr_test::to_half(p.queries);
        const std::int64_t stride = p.c + 3;
        std::vector<float> hc(static_cast<std::size_t>(p.nq * stride), 5.0f);
        std::vector<float> hg(hc);
        index.rescore(MatrixView<const half>(qh.data(), p.nq, d), p.candidate_view(),
                      MatrixView<float>(hc.data(), p.nq, p.c, stride), {.device = Device::Cpu});
        index.rescore(MatrixView<const half>(qh.data(), p.nq, d), p.candidate_view(),
                      MatrixView<float>(hg.data(), p.nq, p.c, stride), {.device = Device::Gpu, .resources = &capped});
        EXPECT_EQ(score_bits(hg), score_bits(hc));
      }
    }
  }
  // Many candidates per query against a 1 MiB workspace: a few queries per tile.
  const RescoreProblem p = make_rescore_problem(500, 64, 9, 30'000, 977);
  SCOPED_TRACE(p.context + ", 1 MiB workspace");
  const DenseIndex index = rescore_index(p, Metric::Cosine, DType::F32);
  xmr::Resources small;
  small.set_workspace_bytes(std::size_t{1} << 20);
  EXPECT_EQ(score_bits(rescored(index, p, {.device = Device::Gpu, .resources = &small})),
            score_bits(rescored(index, p, {.device = Device::Cpu})));
  // One query's candidates beyond the budget: OutOfMemory naming candidates.cols; nothing changes.
  const RescoreProblem wide = make_rescore_problem(50, 8, 1, 100'000, 978);
  const DenseIndex wide_index = rescore_index(wide, Metric::Cosine, DType::F32);
  EXPECT_XMR_ERROR((void)rescored(wide_index, wide, {.device = Device::Gpu, .resources = &small}),
                   xmr::ErrorCode::OutOfMemory, "candidates.cols (= 100000)");
  EXPECT_EQ(score_bits(rescored(wide_index, wide, {.device = Device::Gpu})),
            score_bits(rescored(wide_index, wide, {.device = Device::Cpu})));
}

// Auto runs on the GPU exactly while the index has a current resident copy there: made by a GPU
// search, a GPU rescore or a GPU load; made stale by an append (until the next GPU search) or a
// remove. An explicit device (the index's or the call's) is always obeyed.
TEST(DenseRescoreGpu, AutoFollowsTheResidentCopy) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const RescoreProblem p = make_rescore_problem(120, 24, 4, 9, 960);
  SCOPED_TRACE(p.context);
  DenseIndex index = rescore_index(p, Metric::Cosine, DType::F16);
  const auto auto_device = [&] {
    Device d = Device::Cpu;
    const std::vector<float> got = rescored(index, p, {}, &d);
    EXPECT_EQ(score_bits(got), score_bits(rescored(index, p, {.device = Device::Cpu})));
    return d;
  };
  EXPECT_EQ(auto_device(), Device::Cpu) << "fresh index";
  (void)index.search(p.query_view(), 5, {.device = Device::Cpu});
  EXPECT_EQ(auto_device(), Device::Cpu) << "after a CPU search";
  (void)index.search(p.query_view(), 5, {.device = Device::Gpu});
  EXPECT_EQ(auto_device(), Device::Gpu) << "after a GPU search";
  Rng rng(961);
  const std::vector<float> more = xmr_test::random_matrix(rng, 10, p.d);
  index.add(MatrixView<const float>(more.data(), 10, p.d));  // an append
  EXPECT_EQ(auto_device(), Device::Cpu) << "after an append";
  (void)index.search(p.query_view(), 5, {.device = Device::Gpu});
  EXPECT_EQ(auto_device(), Device::Gpu) << "after the next GPU search";
  const std::vector<std::int64_t> gone = {index.ids().back()};
  index.remove(gone);
  EXPECT_EQ(auto_device(), Device::Cpu) << "after a remove";
  Device d = Device::Cpu;
  (void)rescored(index, p, {.device = Device::Gpu}, &d);
  EXPECT_EQ(d, Device::Gpu);
  EXPECT_EQ(auto_device(), Device::Gpu) << "after a GPU rescore";

  // The index's own device: Cpu wins over a resident copy; a GPU load uploads, so Auto per call
  // goes to the GPU too.
  const DenseIndex cpu_index = rescore_index(p, Metric::Cosine, DType::F16, Device::Cpu);
  (void)cpu_index.search(p.query_view(), 5, {.device = Device::Gpu});
  (void)rescored(cpu_index, p, {}, &d);
  EXPECT_EQ(d, Device::Cpu);
  (void)rescored(cpu_index, p, {.device = Device::Auto}, &d);
  EXPECT_EQ(d, Device::Gpu) << "per-call Auto with a resident copy";
  const DenseIndex loaded = DenseIndex::from_bytes(index.to_bytes(), {.device = Device::Gpu});
  (void)rescored(loaded, p, {.device = Device::Auto}, &d);
  EXPECT_EQ(d, Device::Gpu) << "after a GPU load";
}

// An injected failure at every checked CUDA call of a GPU rescore (the first upload included)
// throws Device, and the index then rescores correctly; so does a failed device allocation.
TEST(DenseRescoreGpu, DeviceErrorsLeaveTheIndexUsable) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const RescoreProblem p = make_rescore_problem(80, 40, 7, 11, 970);
  SCOPED_TRACE(p.context);
  xmr::Resources res;
  res.set_tile_caps(2, 0);  // four query tiles
  int failures = 0;
  for (int skip = 0; skip < 200; ++skip) {
    SCOPED_TRACE("checked device call " + std::to_string(skip + 1) + " fails");
    const DenseIndex index = rescore_index(p, Metric::Cosine, DType::F32);  // no resident copy yet
    const std::vector<float> cpu = rescored(index, p, {.device = Device::Cpu});
    bool threw = false;
    xmr::testing::fail_next_device_calls(1, skip);
    try {
      (void)rescored(index, p, {.device = Device::Gpu, .resources = &res});
    } catch (const xmr::Error& e) {
      threw = true;
      EXPECT_EQ(e.code(), xmr::ErrorCode::Device) << e.what();
      EXPECT_NE(std::string(e.what()).find("injected"), std::string::npos) << e.what();
    }
    xmr::testing::fail_next_device_calls(0);
    EXPECT_EQ(score_bits(rescored(index, p, {.device = Device::Gpu, .resources = &res})), score_bits(cpu));
    if (!threw) break;
    ++failures;
  }
  EXPECT_GT(failures, 4) << "the sweep should fail uploads, launches and copies";
  const DenseIndex index = rescore_index(p, Metric::Cosine, DType::F32);
  xmr::Resources fresh;
  xmr::testing::fail_next_device_allocations(1);
  EXPECT_XMR_ERROR((void)rescored(index, p, {.device = Device::Gpu, .resources = &fresh}), xmr::ErrorCode::OutOfMemory,
                   "GPU");
  xmr::testing::fail_next_device_allocations(0);
  EXPECT_EQ(score_bits(rescored(index, p, {.device = Device::Gpu, .resources = &fresh})),
            score_bits(rescored(index, p, {.device = Device::Cpu})));
}

TEST(DenseIds, SequentialIdsFollowTheLargestId) {
  DenseIndex index({.dim = 2, .metric = Metric::InnerProduct});
  const std::vector<float> v = {1, 0, 0, 1, 1, 1};
  index.add(MatrixView<const float>(v.data(), 2, 2));  // ids 0, 1
  EXPECT_EQ(index.ids(), (std::vector<std::int64_t>{0, 1}));
  const std::vector<std::int64_t> given = {40, 7};
  index.add(MatrixView<const float>(v.data(), 2, 2), given);
  index.add(MatrixView<const half>(xmr_test::to_half(v).data(), 3, 2));  // 41, 42, 43
  EXPECT_EQ(index.ids(), (std::vector<std::int64_t>{0, 1, 7, 40, 41, 42, 43}));
  // Largest valid id is 2^63 - 2.
  const std::vector<std::int64_t> top = {std::numeric_limits<std::int64_t>::max() - 1};
  index.add(MatrixView<const float>(v.data() + 4, 1, 2), top);
  EXPECT_EQ(index.size(), 8);
  const std::vector<float> q = {1, 1};
  const xmr::SearchResult r = index.search(MatrixView<const float>(q.data(), 1, 2), 3, {.device = Device::Cpu});
  // Scores: ids 43 and 2^63-2 hold (1,1) -> 2; ties by ascending id.
  ASSERT_EQ(r.ids, (std::vector<std::int64_t>{43, std::numeric_limits<std::int64_t>::max() - 1, 0}));
  EXPECT_EQ(r.scores, (std::vector<float>{2.0f, 2.0f, 1.0f}));
}

// Adds below the largest id merge into new arrays; their capacity must follow the row count, not
// compound (a doubling per merge exhausted memory after a few dozen one-row adds).
TEST(DenseIds, ManyMergingAddsKeepMemoryBounded) {
  constexpr std::int64_t kDim = 64;
  constexpr std::int64_t kBase = 20000;
  const std::vector<float> base = xmr::synth::random_normal(kBase, kDim, 5);
  DenseIndex index({.dim = kDim, .metric = Metric::InnerProduct});
  std::vector<std::int64_t> ids(kBase);
  for (std::int64_t i = 0; i < kBase; ++i) ids[static_cast<std::size_t>(i)] = 1000 + i;
  index.add(MatrixView<const float>(base.data(), kBase, kDim), ids);
  const std::vector<float> one = xmr::synth::random_normal(1, kDim, 6);
  for (std::int64_t i = 0; i < 60; ++i) {
    const std::int64_t id = 999 - i;  // below every stored id: a merge, not an append
    ASSERT_NO_THROW(index.add(MatrixView<const float>(one.data(), 1, kDim), std::span(&id, 1))) << "add " << i;
  }
  EXPECT_EQ(index.size(), kBase + 60);
  const xmr::SearchResult r = index.search(MatrixView<const float>(one.data(), 1, kDim), 60, {.device = Device::Cpu});
  for (std::int64_t j = 0; j < 60; ++j)
    EXPECT_EQ(r.id(0, j), 940 + j) << "rank " << j;  // 60 equal copies: ids ascending
}

TEST(DenseIds, EmptyAddChangesNothing) {
  DenseIndex index({.dim = 3, .metric = Metric::Cosine});
  index.add(MatrixView<const float>(nullptr, 0, 3));
  EXPECT_EQ(index.size(), 0);
  const std::vector<float> v = {1, 2, 3};
  index.add(MatrixView<const float>(v.data(), 1, 3));
  index.add(MatrixView<const float>(nullptr, 0, 3), std::span<const std::int64_t>());
  index.add(MatrixView<const half>(nullptr, 0, 3));
  EXPECT_EQ(index.size(), 1);
  EXPECT_EQ(index.ids(), (std::vector<std::int64_t>{0}));
}

TEST(DenseIndexBasics, AccessorsAndMove) {
  DenseIndex index({.dim = 5, .metric = Metric::InnerProduct, .storage = DType::F16, .device = Device::Cpu});
  EXPECT_EQ(index.dim(), 5);
  EXPECT_EQ(index.metric(), Metric::InnerProduct);
  EXPECT_EQ(index.storage(), DType::F16);
  EXPECT_EQ(index.device(), Device::Cpu);
  EXPECT_EQ(index.size(), 0);
  EXPECT_TRUE(index.ids().empty());
  const std::vector<float> v = {1, 2, 3, 4, 5};
  index.add(MatrixView<const float>(v.data(), 1, 5));
  DenseIndex moved(std::move(index));
  EXPECT_EQ(moved.size(), 1);
  const xmr::SearchResult r = moved.search(MatrixView<const float>(v.data(), 1, 5), 2);
  EXPECT_EQ(r.ids, (std::vector<std::int64_t>{0, -1}));
  EXPECT_EQ(r.score(0, 0), 55.0f);
  EXPECT_TRUE(std::isinf(r.score(0, 1)) && r.score(0, 1) < 0.0f);
  DenseIndex assigned({.dim = 1});
  assigned = std::move(moved);
  EXPECT_EQ(assigned.dim(), 5);
  EXPECT_EQ(assigned.search(MatrixView<const float>(v.data(), 1, 5), 1).ids, (std::vector<std::int64_t>{0}));
}

// fp16 storage keeps every finite binary16 value exactly and the search widens it exactly: a
// D = 1 inner-product index over all 63488 finite halves (id = bit pattern), queried with 1 and
// -1, returns each value as its score, in order, -0 tied with +0 (ids ascending).
TEST(DenseFp16, EveryFiniteHalfValueRoundTrips) {
  std::vector<half> values;
  std::vector<std::int64_t> ids;
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    if ((b & 0x7C00u) == 0x7C00u) continue;  // inf and NaN
    values.push_back(half{static_cast<std::uint16_t>(b)});
    ids.push_back(static_cast<std::int64_t>(b));
  }
  const auto n = static_cast<std::int64_t>(values.size());
  ASSERT_EQ(n, 63488);
  DenseIndex index({.dim = 1, .metric = Metric::InnerProduct, .storage = DType::F16});
  index.add(MatrixView<const half>(values.data(), n, 1), ids);
  const std::vector<float> queries = {1.0f, -1.0f};
  const xmr::SearchResult r = index.search(MatrixView<const float>(queries.data(), 2, 1), n, {.device = Device::Cpu});
  const Reference ref = xmr_test::make_reference(
      xmr_test::exact_values(MatrixView<const half>(values.data(), n, 1)), ids,
      xmr_test::exact_values(MatrixView<const float>(queries.data(), 2, 1)), 1, Metric::InnerProduct, DType::F16);
  xmr_test::expect_topk_matches(xmr_test::view_of(r), ref, 0.0, "all halves");
  // Spot checks that do not go through the reference.
  EXPECT_EQ(r.score(0, 0), 65504.0f);
  EXPECT_EQ(r.id(0, 0), 0x7BFF);
  EXPECT_EQ(r.score(1, 0), 65504.0f);
  EXPECT_EQ(r.id(1, 0), 0xFBFF);
}

// ---------------------------------------------------------------------------------------------
// The checker itself: it must accept a correct result and reject each kind of wrong one.

class ReferenceChecker : public ::testing::Test {
 protected:
  // Items (D = 2, inner product, exact): scores against q = (1, 0) are 3, 2, 2, -1 for ids
  // 40, 10, 30, 20; the reference ranking is 40, 10, 30, 20.
  void SetUp() override {
    const std::vector<double> items = {3, 0, 2, 5, -1, 7, 2, -2};
    const std::vector<std::int64_t> ids = {40, 10, 20, 30};
    const std::vector<double> q = {1, 0};
    ref_ = xmr_test::make_reference(items, ids, q, 2, Metric::InnerProduct, DType::F32);
  }
  void check(std::vector<std::int64_t> ids, std::vector<float> scores, double rel_tol) const {
    const xmr_test::ResultView v{ids.data(),
                                 scores.data(),
                                 1,
                                 static_cast<std::int64_t>(ids.size()),
                                 static_cast<std::int64_t>(ids.size()),
                                 static_cast<std::int64_t>(ids.size())};
    xmr_test::expect_topk_matches(v, ref_, rel_tol, "self-test");
  }
  Reference ref_;
};

TEST_F(ReferenceChecker, AcceptsCorrectResults) {
  check({40, 10, 30, 20, -1}, {3, 2, 2, -1, -std::numeric_limits<float>::infinity()}, 0.0);
  check({40, 10}, {3, 2}, 0.0);
  check({40, 10, 30}, {3.0001f, 2, 2}, 1e-4);
}

/// Runs `f` with failures intercepted; expects at least one, and one whose message has `needle`.
template <class F>
void expect_rejected(F&& f, const std::string& needle) {
  ::testing::TestPartResultArray results;
  {
    const ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    f();
  }
  bool found = false;
  for (int i = 0; i < results.size(); ++i)
    found = found || std::string(results.GetTestPartResult(i).message()).find(needle) != std::string::npos;
  EXPECT_TRUE(found) << "the checker reported " << results.size() << " failure(s), none containing \"" << needle
                     << "\"";
}

TEST_F(ReferenceChecker, RejectsWrongResults) {
  const float inf = std::numeric_limits<float>::infinity();
  expect_rejected([&] { check({40, 30, 10}, {3, 2, 2}, 0.0); }, "ascending id");
  expect_rejected([&] { check({10, 40}, {2, 3}, 0.0); }, "non-increasing");
  expect_rejected([&] { check({40, 10}, {3.5f, 2}, 1e-3); }, "but reference 3");
  expect_rejected([&] { check({40, 20}, {3, -1}, 1e-3); }, "below the true k-th best");
  expect_rejected([&] { check({10, 30}, {2, 2}, 1e-3); }, "is missing");
  expect_rejected([&] { check({40, 30}, {3, 2}, 0.0); }, "the reference ranks id 10");
  expect_rejected([&] { check({40, 41}, {3, 2}, 0.0); }, "is not stored");
  expect_rejected([&] { check({40, 40}, {3, 3}, 0.0); }, "returned twice");
  expect_rejected([&] { check({40, 10, 30, 20, 7}, {3, 2, 2, -1, -inf}, 0.0); }, "expected -1 / -inf");
  expect_rejected([&] { check({40, 10, 30, 20, -1}, {3, 2, 2, -1, 0}, 0.0); }, "expected -1 / -inf");
  expect_rejected([&] { check({40, 10}, {3, 2.5f}, 0.0); }, "exact data");
}

}  // namespace
