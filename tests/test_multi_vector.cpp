// MultiVectorIndex against the double-precision reference (tests/common/reference.h,
// make_multi_vector_reference): a table of awkward sizes for both metrics and both reductions,
// tile caps that force multi-tile merges, tie order on duplicated items with exactly
// representable data, ids, appends and removes, rescoring, reconstruction, every bad input, host
// out-of-memory injection, and CPU == GPU (skipped without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::Device;
using xmr::ErrorCode;
using xmr::MatrixView;
using xmr::Metric;
using xmr::MultiVectorBatch;
using xmr::MultiVectorIndex;
using xmr::MultiVectorReduce;
using xmr::MultiVectorSearchOptions;
using xmr_test::Reference;
using xmr_test::Rng;

constexpr auto kSum = MultiVectorReduce::SumMaxSim;
constexpr auto kMax = MultiVectorReduce::MaxSim;

/// A host batch of multi-vector entries: entry i is rows [offsets[i], offsets[i + 1]).
struct Batch {
  std::vector<float> vectors;
  std::vector<std::int64_t> offsets{0};
  std::int64_t dim = 0;

  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  [[nodiscard]] std::int64_t rows() const { return offsets.back(); }
  [[nodiscard]] std::int64_t max_vectors() const {
    std::int64_t m = 0;
    for (std::size_t i = 1; i < offsets.size(); ++i) m = std::max(m, offsets[i] - offsets[i - 1]);
    return m;
  }
  /// The view the index takes; `with_offsets` false is the single-vector form (empty offsets).
  [[nodiscard]] MultiVectorBatch view(bool with_offsets = true) const {
    return {MatrixView<const float>(vectors.data(), rows(), dim),
            with_offsets ? std::span<const std::int64_t>(offsets) : std::span<const std::int64_t>()};
  }
  [[nodiscard]] std::vector<double> exact() const { return {vectors.begin(), vectors.end()}; }
  /// Appends entry `i` of `other`.
  void push(const Batch& other, std::int64_t i) {
    const auto b = static_cast<std::size_t>(other.offsets[static_cast<std::size_t>(i)] * dim);
    const auto e = static_cast<std::size_t>(other.offsets[static_cast<std::size_t>(i) + 1] * dim);
    vectors.insert(vectors.end(), other.vectors.begin() + static_cast<std::ptrdiff_t>(b),
                   other.vectors.begin() + static_cast<std::ptrdiff_t>(e));
    offsets.push_back(offsets.back() + other.offsets[static_cast<std::size_t>(i) + 1] -
                      other.offsets[static_cast<std::size_t>(i)]);
  }
};

/// `n` entries of [min_vectors, max_vectors] standard normal vectors each.
Batch random_batch(Rng& rng, std::int64_t n, std::int64_t dim, std::int64_t min_vectors, std::int64_t max_vectors) {
  Batch b;
  b.dim = dim;
  for (std::int64_t i = 0; i < n; ++i)
    b.offsets.push_back(b.offsets.back() + rng.uniform_int(min_vectors, max_vectors));
  b.vectors = xmr_test::random_matrix(rng, b.rows(), dim);
  return b;
}

/// `n` entries of small integers in [-3, 3] (every score is exact in fp32); no zero vector.
Batch integer_batch(Rng& rng, std::int64_t n, std::int64_t dim, std::int64_t min_vectors, std::int64_t max_vectors) {
  Batch b;
  b.dim = dim;
  for (std::int64_t i = 0; i < n; ++i)
    b.offsets.push_back(b.offsets.back() + rng.uniform_int(min_vectors, max_vectors));
  b.vectors.resize(static_cast<std::size_t>(b.rows() * dim));
  for (auto& v : b.vectors) v = static_cast<float>(rng.uniform_int(-3, 3));
  for (std::int64_t r = 0; r < b.rows(); ++r) b.vectors[static_cast<std::size_t>(r * dim)] = 1.0f;
  return b;
}

Reference reference(const Batch& items, const std::vector<std::int64_t>& ids, const Batch& queries, Metric metric,
                    MultiVectorReduce reduce) {
  const std::vector<double> x = items.exact();
  const std::vector<double> q = queries.exact();
  return xmr_test::make_multi_vector_reference(x, items.offsets, ids, q, queries.offsets, items.dim, metric,
                                               reduce == kSum);
}

/// The proven bound on the library's fp32 error relative to Reference::scale (reference.h).
double tolerance(std::int64_t dim, const Batch& queries, MultiVectorReduce reduce) {
  return xmr_test::accumulation_tolerance(reduce == kSum ? dim + queries.max_vectors() : dim);
}

std::string name(Metric m, MultiVectorReduce r) {
  return std::string(m == Metric::Cosine ? "cos" : "ip") + (r == kSum ? "/summax" : "/max");
}

std::vector<std::int64_t> ks_for(std::int64_t n) {
  std::vector<std::int64_t> ks{1, 3, n, n + 2};
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

/// Everything observable about an index: ids, vector count and the results of a fixed search.
struct Observed {
  std::vector<std::int64_t> ids;
  std::int64_t num_vectors = 0;
  xmr::SearchResult result;
};

Observed observe(const MultiVectorIndex& index, const Batch& queries) {
  Observed o{index.ids(), index.num_vectors(), {}};
  if (index.size() > 0) o.result = index.search(queries.view(), 4, {.reduce = kSum, .device = Device::Cpu});
  return o;
}

void expect_same(const Observed& before, const Observed& after) {
  EXPECT_EQ(before.ids, after.ids);
  EXPECT_EQ(before.num_vectors, after.num_vectors);
  if (before.result.k > 0) xmr_test::expect_bit_equal(before.result, after.result, "index changed by a failed call");
}

// ---- the table ----------------------------------------------------------------------------------

struct Size {
  std::int64_t n = 0;
  std::int64_t dim = 0;
  std::int64_t item_min = 1;
  std::int64_t item_max = 1;
  std::int64_t num_queries = 0;
  std::int64_t query_min = 1;
  std::int64_t query_max = 1;
  std::uint64_t seed = 0;
};

std::string size_name(const Size& s) {
  std::ostringstream os;
  os << "N" << s.n << "_D" << s.dim << "_items" << s.item_min << "to" << s.item_max << "_Q" << s.num_queries << "_q"
     << s.query_min << "to" << s.query_max;
  return os.str();
}

void PrintTo(const Size& s, std::ostream* os) {
  *os << size_name(s) << " (seed " << s.seed << ")";
}

std::vector<Size> sizes() {
  return {
      {1, 1, 1, 1, 3, 1, 3, 11},        // one item of one 1-d vector
      {1, 13, 40, 40, 2, 1, 5, 12},     // one item of 40 vectors
      {5, 13, 1, 40, 4, 1, 6, 13},      // N < k
      {60, 13, 1, 40, 7, 1, 6, 14},     // varying vector counts on both sides
      {200, 32, 1, 8, 5, 1, 1, 15},     // single-vector queries (also as empty offsets)
      {37, 64, 32, 32, 3, 32, 32, 16},  // BLIP-2-like: 32 vectors per item and per query
      {300, 7, 1, 3, 9, 2, 4, 17},      // many small items
  };
}

class MultiVectorTable : public ::testing::TestWithParam<Size> {};

TEST_P(MultiVectorTable, MatchesReference) {
  const Size sz = GetParam();
  xmr::Resources one_by_one;  // one query and one item per tile
  one_by_one.set_tile_caps(1, 1);
  xmr::Resources small_tiles;  // 2 queries, 17 item vectors per tile
  small_tiles.set_tile_caps(2, 17);
  for (const Metric metric : {Metric::Cosine, Metric::InnerProduct}) {
    Rng rng(sz.seed * 2 + (metric == Metric::Cosine ? 0 : 1));
    const Batch items = random_batch(rng, sz.n, sz.dim, sz.item_min, sz.item_max);
    const Batch queries = random_batch(rng, sz.num_queries, sz.dim, sz.query_min, sz.query_max);
    // Sequential ids under cosine, caller ids (shuffled, spread out) under inner product.
    MultiVectorIndex index({.dim = sz.dim, .metric = metric});
    std::vector<std::int64_t> ids(static_cast<std::size_t>(sz.n));
    if (metric == Metric::Cosine) {
      index.add(items.view());
      std::iota(ids.begin(), ids.end(), std::int64_t{0});
    } else {
      ids = xmr_test::random_ids(rng, sz.n, 1000, 3);
      index.add(items.view(), ids);
    }
    ASSERT_EQ(index.size(), sz.n);
    ASSERT_EQ(index.num_vectors(), items.rows());
    for (const MultiVectorReduce reduce : {kMax, kSum}) {
      const Reference ref = reference(items, ids, queries, metric, reduce);
      const double tol = tolerance(sz.dim, queries, reduce);
      const std::string ctx = "seed " + std::to_string(sz.seed) + ", " + size_name(sz) + ", " + name(metric, reduce);
      for (const std::int64_t k : ks_for(sz.n)) {
        const std::string kctx = ctx + ", k " + std::to_string(k);
        const xmr::SearchResult r = index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu});
        EXPECT_EQ(r.device, Device::Cpu);
        xmr_test::expect_topk_matches(xmr_test::view_of(r), ref, tol, kctx);
        xmr_test::expect_topk_matches(
            xmr_test::view_of(
                index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu, .resources = &one_by_one})),
            ref, tol, kctx + ", tile caps 1 x 1");
        xmr_test::expect_topk_matches(
            xmr_test::view_of(
                index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu, .resources = &small_tiles})),
            ref, tol, kctx + ", tile caps 2 x 17");
        if (queries.max_vectors() == 1) {
          // Single-vector queries: empty offsets mean one vector per query.
          xmr_test::expect_bit_equal(r, index.search(queries.view(false), k, {.reduce = reduce, .device = Device::Cpu}),
                                     kctx + ", empty offsets");
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, MultiVectorTable, ::testing::ValuesIn(sizes()),
                         [](const ::testing::TestParamInfo<Size>& p) { return size_name(p.param); });

// ---- ties, ids, updates -------------------------------------------------------------------------

// Duplicated items score exactly alike: they must come out by ascending id, on every tiling.
// Integer data make every score exact, so the whole ranking must equal the reference (rel_tol 0).
TEST(MultiVector, TiesByAscendingIdOnDuplicatedItems) {
  constexpr std::uint64_t kSeed = 101;
  constexpr std::int64_t kDim = 8;
  Rng rng(kSeed);
  const Batch templates = integer_batch(rng, 12, kDim, 1, 5);
  Batch items;
  items.dim = kDim;
  for (int copy = 0; copy < 3; ++copy) {
    for (std::int64_t i = 0; i < templates.size(); ++i) items.push(templates, i);
  }
  std::vector<std::int64_t> ids = xmr_test::random_ids(rng, items.size(), 50, 2);
  const Batch queries = integer_batch(rng, 6, kDim, 1, 4);
  MultiVectorIndex index({.dim = kDim, .metric = Metric::InnerProduct});
  index.add(items.view(), ids);
  xmr::Resources caps;
  caps.set_tile_caps(1, 3);
  for (const MultiVectorReduce reduce : {kMax, kSum}) {
    const Reference ref = reference(items, ids, queries, Metric::InnerProduct, reduce);
    for (const std::int64_t k : {std::int64_t{1}, std::int64_t{7}, items.size()}) {
      const std::string ctx =
          "seed " + std::to_string(kSeed) + ", " + name(Metric::InnerProduct, reduce) + ", k " + std::to_string(k);
      xmr_test::expect_topk_matches(
          xmr_test::view_of(index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu})), ref, 0.0, ctx);
      xmr_test::expect_topk_matches(
          xmr_test::view_of(
              index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu, .resources = &caps})),
          ref, 0.0, ctx + ", tile caps 1 x 3");
    }
  }
}

// Appends above the largest id (spare capacity), adds below it (merge), removes, and adds of
// removed ids again: after each, ids, sizes, search results and reconstruct follow the content.
TEST(MultiVector, AddsRemovesAndReconstruct) {
  constexpr std::uint64_t kSeed = 202;
  constexpr std::int64_t kDim = 13;
  Rng rng(kSeed);
  MultiVectorIndex index({.dim = kDim, .metric = Metric::InnerProduct});
  Batch all;  // the expected content, in the order of all_ids
  all.dim = kDim;
  std::vector<std::int64_t> all_ids;
  const Batch queries = random_batch(rng, 5, kDim, 1, 6);

  auto check = [&](const std::string& step) {
    const std::string ctx = "seed " + std::to_string(kSeed) + ", after " + step;
    SCOPED_TRACE(ctx);
    std::vector<std::int64_t> sorted = all_ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(index.ids(), sorted);
    EXPECT_EQ(index.size(), all.size());
    EXPECT_EQ(index.num_vectors(), all.rows());
    for (const MultiVectorReduce reduce : {kMax, kSum}) {
      const Reference ref = reference(all, all_ids, queries, Metric::InnerProduct, reduce);
      xmr_test::expect_topk_matches(
          xmr_test::view_of(index.search(queries.view(), 10, {.reduce = reduce, .device = Device::Cpu})), ref,
          tolerance(kDim, queries, reduce), ctx + ", " + name(Metric::InnerProduct, reduce));
    }
    // Reconstruct (inner product stores the input exactly), in a shuffled order of ids.
    std::vector<std::int64_t> order(all_ids.size());
    std::iota(order.begin(), order.end(), std::int64_t{0});
    rng.shuffle(order);
    std::vector<std::int64_t> ask;
    Batch expected;
    expected.dim = kDim;
    for (const std::int64_t i : order) {
      ask.push_back(all_ids[static_cast<std::size_t>(i)]);
      expected.push(all, i);
    }
    std::vector<float> vectors{42.0f};
    std::vector<std::int64_t> offsets{42};
    index.reconstruct(ask, vectors, offsets);
    EXPECT_EQ(offsets, expected.offsets);
    EXPECT_EQ(vectors, expected.vectors);
  };
  auto add = [&](const Batch& b, const std::vector<std::int64_t>& ids) {
    index.add(b.view(), ids);
    for (std::int64_t i = 0; i < b.size(); ++i) all.push(b, i);
    all_ids.insert(all_ids.end(), ids.begin(), ids.end());
  };

  // Sequential ids first: 0, 1, ...
  const Batch first = random_batch(rng, 20, kDim, 1, 40);
  index.add(first.view());
  for (std::int64_t i = 0; i < first.size(); ++i) {
    all.push(first, i);
    all_ids.push_back(i);
  }
  check("sequential add");
  add(random_batch(rng, 3, kDim, 1, 4), {30, 25, 27});  // pure append into spare capacity
  check("append above the largest id");
  add(random_batch(rng, 4, kDim, 2, 9), {5'000, 21, 4'000, 22});  // below the max: merge
  check("add below the largest id");
  const Batch seq = random_batch(rng, 2, kDim, 1, 3);
  index.add(seq.view());  // sequential after caller ids: 5001, 5002
  for (std::int64_t i = 0; i < seq.size(); ++i) {
    all.push(seq, i);
    all_ids.push_back(5'001 + i);
  }
  check("sequential add after caller ids");

  // Remove a few (first, middle, last), then add one of them back with new vectors.
  const std::vector<std::int64_t> gone{0, 21, 5'002, 7};
  index.remove(gone);
  Batch kept;
  kept.dim = kDim;
  std::vector<std::int64_t> kept_ids;
  for (std::size_t i = 0; i < all_ids.size(); ++i) {
    if (std::find(gone.begin(), gone.end(), all_ids[i]) != gone.end()) continue;
    kept.push(all, static_cast<std::int64_t>(i));
    kept_ids.push_back(all_ids[i]);
  }
  all = kept;
  all_ids = kept_ids;
  check("remove");
  for (const MultiVectorReduce reduce : {kMax, kSum}) {
    const xmr::SearchResult r =
        index.search(queries.view(), index.size() + 3, {.reduce = reduce, .device = Device::Cpu});
    for (const std::int64_t id : r.ids) EXPECT_TRUE(std::find(gone.begin(), gone.end(), id) == gone.end()) << id;
  }
  add(random_batch(rng, 1, kDim, 3, 3), {21});
  check("re-add of a removed id");
  index.remove({});
  check("remove of nothing");
}

// Rescore: exact (double) scores of given candidates, -1 slots give -inf, repeats allowed.
TEST(MultiVector, RescoreMatchesReference) {
  constexpr std::uint64_t kSeed = 303;
  constexpr std::int64_t kDim = 24;
  for (const Metric metric : {Metric::Cosine, Metric::InnerProduct}) {
    Rng rng(kSeed);
    const Batch items = random_batch(rng, 30, kDim, 1, 12);
    const Batch queries = random_batch(rng, 4, kDim, 1, 7);
    const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, items.size(), 0, 4);
    MultiVectorIndex index({.dim = kDim, .metric = metric});
    index.add(items.view(), ids);
    constexpr std::int64_t kCands = 9;
    std::vector<std::int64_t> cands(static_cast<std::size_t>(queries.size() * kCands));
    std::vector<std::int64_t> which(cands.size());  // item index of each slot, -1 for empty
    for (std::size_t s = 0; s < cands.size(); ++s) {
      const std::int64_t i = s % 4 == 3 ? -1 : rng.uniform_int(0, items.size() - 1);
      which[s] = i;
      cands[s] = i < 0 ? -1 : ids[static_cast<std::size_t>(i)];
    }
    for (const MultiVectorReduce reduce : {kMax, kSum}) {
      const std::string ctx = "seed " + std::to_string(kSeed) + ", " + name(metric, reduce);
      const Reference ref = reference(items, ids, queries, metric, reduce);
      std::vector<float> out(cands.size() * 2, 7.0f);  // stride 2 * kCands
      index.rescore(queries.view(), MatrixView<const std::int64_t>(cands.data(), queries.size(), kCands),
                    MatrixView<float>(out.data(), queries.size(), kCands, 2 * kCands), reduce);
      for (std::int64_t q = 0; q < queries.size(); ++q) {
        for (std::int64_t j = 0; j < kCands; ++j) {
          const std::int64_t i = which[static_cast<std::size_t>(q * kCands + j)];
          const float got = out[static_cast<std::size_t>(q * 2 * kCands + j)];
          if (i < 0) {
            EXPECT_EQ(got, -std::numeric_limits<float>::infinity()) << ctx;
          } else {
            // One rounding of the double result (the reference's sums may differ in the last bits).
            const double want = ref.score(q, i);
            EXPECT_NEAR(got, want, std::abs(want) * 0x1.0p-23 + ref.scale[static_cast<std::size_t>(q)] * 1e-12)
                << ctx << ", query " << q << ", slot " << j;
          }
        }
        for (std::int64_t j = kCands; j < 2 * kCands; ++j) {
          EXPECT_EQ(out[static_cast<std::size_t>(q * 2 * kCands + j)], 7.0f) << "padding of out_scores written";
        }
      }
    }
  }
}

// Under cosine the index stores normalised vectors: reconstruct returns them (as prepare() makes
// them); queries without vectors and searches of no queries work.
TEST(MultiVector, CosineReconstructAndEmptyQueries) {
  constexpr std::uint64_t kSeed = 404;
  constexpr std::int64_t kDim = 5;
  Rng rng(kSeed);
  const Batch items = random_batch(rng, 4, kDim, 1, 3);
  MultiVectorIndex index({.dim = kDim});
  EXPECT_EQ(index.metric(), Metric::Cosine);
  EXPECT_EQ(index.device(), Device::Auto);
  EXPECT_EQ(index.dim(), kDim);
  index.add(items.view());
  std::vector<float> vectors;
  std::vector<std::int64_t> offsets;
  index.reconstruct(std::vector<std::int64_t>{3, 0}, vectors, offsets);
  Batch expected;
  expected.dim = kDim;
  expected.push(items, 3);
  expected.push(items, 0);
  EXPECT_EQ(offsets, expected.offsets);
  const std::vector<double> want = xmr_test::prepare(expected.exact(), kDim, Metric::Cosine, xmr::DType::F32);
  ASSERT_EQ(vectors.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(static_cast<double>(vectors[i]), want[i]) << i;
  index.reconstruct({}, vectors, offsets);
  EXPECT_TRUE(vectors.empty());
  EXPECT_EQ(offsets, std::vector<std::int64_t>{0});

  const std::vector<std::int64_t> no_offsets{0};
  const MultiVectorBatch none{MatrixView<const float>(nullptr, 0, kDim), no_offsets};
  const xmr::SearchResult r = index.search(none, 3);
  EXPECT_EQ(r.num_queries, 0);
  EXPECT_TRUE(r.ids.empty());
  EXPECT_EQ(index.search(MultiVectorBatch{MatrixView<const float>(nullptr, 0, kDim), {}}, 3).num_queries, 0);
  // Auto runs where the GPU is (CPU here without one).
  const Batch q = random_batch(rng, 2, kDim, 1, 2);
  EXPECT_EQ(index.search(q.view(), 2).device, xmr::gpu_count() > 0 ? Device::Gpu : Device::Cpu);
  // search_into writes strided caller views; padding past N.
  std::vector<std::int64_t> out_ids(2 * 8, 99);
  std::vector<float> out_scores(2 * 8, 99.0f);
  index.search_into(q.view(), 6, MatrixView<std::int64_t>(out_ids.data(), 2, 6, 8),
                    MatrixView<float>(out_scores.data(), 2, 6, 8), {.device = Device::Cpu});
  for (std::int64_t row = 0; row < 2; ++row) {
    EXPECT_EQ(out_ids[static_cast<std::size_t>(row * 8 + 4)], -1);
    EXPECT_EQ(out_scores[static_cast<std::size_t>(row * 8 + 5)], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(out_ids[static_cast<std::size_t>(row * 8 + 6)], 99);
  }
}

// ---- errors ---------------------------------------------------------------------------------------

class MultiVectorErrors : public ::testing::Test {
 protected:
  static constexpr std::int64_t kDim = 6;
  void SetUp() override {
    Rng rng(505);
    items_ = random_batch(rng, 8, kDim, 1, 4);
    queries_ = random_batch(rng, 3, kDim, 1, 3);
    index_.add(items_.view(), ids_);
    before_ = observe(index_, queries_);
  }
  /// Expects `f` to throw `code` naming every needle, and the index to be unchanged afterwards.
  void expect_rejected(const std::function<void()>& f, ErrorCode code, std::initializer_list<std::string_view> needles,
                       const char* what) {
    xmr_test::expect_error(f, code, needles, what, [&] { expect_same(before_, observe(index_, queries_)); });
  }

  Batch items_;
  Batch queries_;
  std::vector<std::int64_t> ids_{10, 11, 12, 13, 20, 21, 22, 23};
  MultiVectorIndex index_{{.dim = kDim, .metric = Metric::Cosine}};
  Observed before_;
};

TEST_F(MultiVectorErrors, Construction) {
  EXPECT_XMR_ERROR(MultiVectorIndex({.dim = 0}), ErrorCode::InvalidArgument, "options.dim (= 0)");
  EXPECT_XMR_ERROR(MultiVectorIndex({.dim = 4, .metric = static_cast<Metric>(9)}), ErrorCode::InvalidArgument,
                   "options.metric (= 9)");
  EXPECT_XMR_ERROR(MultiVectorIndex({.dim = 4, .device = static_cast<Device>(9)}), ErrorCode::InvalidArgument,
                   "options.device (= 9)");
}

TEST_F(MultiVectorErrors, BadAdds) {
  Rng rng(506);
  Batch b = random_batch(rng, 3, kDim, 2, 2);  // offsets 0 2 4 6
  const std::vector<std::int64_t> ids{100, 101, 102};
  auto add_with = [&](std::vector<std::int64_t> offsets, std::vector<std::int64_t> with_ids) {
    return [this, &b, offsets, with_ids] {
      index_.add(MultiVectorBatch{MatrixView<const float>(b.vectors.data(), b.rows(), kDim), offsets}, with_ids);
    };
  };
  expect_rejected(add_with({1, 2, 4, 6}, ids), ErrorCode::InvalidArgument, {"items.offsets[0] (= 1) must be 0"},
                  "offsets[0] != 0");
  expect_rejected(add_with({0, 2, 2, 6}, ids), ErrorCode::InvalidArgument,
                  {"items.offsets[2] (= 2) must be > items.offsets[1] (= 2)"}, "empty entry");
  expect_rejected(add_with({0, 4, 2, 6}, ids), ErrorCode::InvalidArgument,
                  {"items.offsets[2] (= 2) must be > items.offsets[1] (= 4)"}, "decreasing offsets");
  expect_rejected(add_with({0, 2, 4, 5}, ids), ErrorCode::InvalidArgument,
                  {"items.offsets[3] (= 5) must equal items.vectors.rows (= 6)"}, "last offset");
  expect_rejected(add_with({0, 2, 4, 6}, {100, 101}), ErrorCode::InvalidArgument,
                  {"ids.size() (= 2) must equal items.size() (= 3)"}, "ids count");
  expect_rejected(add_with({0, 2, 4, 6}, {100, 101, 100}), ErrorCode::InvalidArgument,
                  {"ids[2] (= 100) repeats ids[0]"}, "repeated id");
  expect_rejected(add_with({0, 2, 4, 6}, {100, 12, 102}), ErrorCode::InvalidArgument,
                  {"ids[1] (= 12) is already in the index"}, "stored id");
  expect_rejected(add_with({0, 2, 4, 6}, {100, -5, 102}), ErrorCode::InvalidArgument, {"ids[1] (= -5) must be in"},
                  "negative id");
  // Without offsets every row is an item: 6 items, 3 ids.
  expect_rejected([&] { index_.add(b.view(false), ids); }, ErrorCode::InvalidArgument,
                  {"ids.size() (= 3) must equal items.size() (= 6)"}, "ids count, empty offsets");
  expect_rejected(
      [&] {
        index_.add(MultiVectorBatch{MatrixView<const float>(b.vectors.data(), b.rows(), kDim + 1), b.offsets});
      },
      ErrorCode::InvalidArgument, {"items.vectors.cols (= 7)"}, "wrong dim");
  expect_rejected(
      [&] {
        index_.add(MultiVectorBatch{MatrixView<const float>(nullptr, 4, kDim), {}});
      },
      ErrorCode::InvalidArgument, {"items.vectors.data (= null)"}, "null vectors");
  expect_rejected(
      [&] {
        index_.add(MultiVectorBatch{MatrixView<const float>(b.vectors.data(), b.rows(), kDim),
                                    std::span<const std::int64_t>(static_cast<const std::int64_t*>(nullptr), 4)});
      },
      ErrorCode::InvalidArgument, {"items.offsets.data() (= null)"}, "null offsets");
  Batch bad = b;
  bad.vectors[static_cast<std::size_t>(3 * kDim + 2)] = std::numeric_limits<float>::quiet_NaN();
  expect_rejected([&] { index_.add(bad.view()); }, ErrorCode::InvalidArgument, {"items.vectors[3][2]", "is not finite"},
                  "NaN");
  Batch zero = b;
  std::fill_n(zero.vectors.begin() + 4 * kDim, kDim, 0.0f);
  expect_rejected([&] { index_.add(zero.view()); }, ErrorCode::InvalidArgument, {"items.vectors[4] has zero norm"},
                  "zero vector under cosine");
}

TEST_F(MultiVectorErrors, BadSearches) {
  expect_rejected([&] { (void)index_.search(queries_.view(), 0); }, ErrorCode::InvalidArgument, {"k (= 0)"}, "k = 0");
  std::vector<std::int64_t> bad_off = queries_.offsets;
  bad_off[2] = bad_off[1];
  expect_rejected(
      [&] {
        (void)index_.search(MultiVectorBatch{queries_.view().vectors, bad_off}, 2);
      },
      ErrorCode::InvalidArgument,
      {"queries.offsets[2] (= " + std::to_string(bad_off[2]) + ") must be > queries.offsets[1]"}, "query offsets");
  expect_rejected(
      [&] {
        (void)index_.search(
            MultiVectorBatch{MatrixView<const float>(queries_.vectors.data(), queries_.rows(), kDim - 1), {}}, 2);
      },
      ErrorCode::InvalidArgument, {"queries.vectors.cols (= 5)"}, "query dim");
  expect_rejected([&] { (void)index_.search(queries_.view(), 2, {.reduce = static_cast<MultiVectorReduce>(5)}); },
                  ErrorCode::InvalidArgument, {"options.reduce (= 5)"}, "reduce");
  Batch nan = queries_;
  nan.vectors[1] = std::numeric_limits<float>::infinity();
  expect_rejected([&] { (void)index_.search(nan.view(), 2); }, ErrorCode::InvalidArgument,
                  {"queries.vectors[0][1]", "is not finite"}, "infinite query value");
  std::vector<std::int64_t> out_ids(3 * 4);
  std::vector<float> out_scores(3 * 4);
  expect_rejected(
      [&] {
        (void)index_.search_into(queries_.view(), 4, MatrixView<std::int64_t>(out_ids.data(), 2, 4),
                                 MatrixView<float>(out_scores.data(), 3, 4));
      },
      ErrorCode::InvalidArgument, {"out_ids.rows (= 2)"}, "out_ids shape");
  expect_rejected(
      [&] {
        (void)index_.search_into(queries_.view(), 4, MatrixView<std::int64_t>(out_ids.data(), 3, 4),
                                 MatrixView<float>(out_scores.data(), 3, 3));
      },
      ErrorCode::InvalidArgument, {"out_scores.cols (= 3)"}, "out_scores shape");
  if (xmr::gpu_count() == 0) {
    expect_rejected([&] { (void)index_.search(queries_.view(), 2, {.device = Device::Gpu}); }, ErrorCode::Unavailable,
                    {"device (= gpu)"}, "GPU without one");
  }
  const MultiVectorIndex empty({.dim = kDim});
  EXPECT_XMR_ERROR(empty.search(queries_.view(), 1), ErrorCode::InvalidArgument, "index size (= 0)");
}

TEST_F(MultiVectorErrors, BadRemovesRescoresReconstructs) {
  expect_rejected(
      [&] {
        index_.remove(std::vector<std::int64_t>{11, 99});
      },
      ErrorCode::InvalidArgument, {"ids[1] (= 99) is not in the index"}, "unknown id");
  expect_rejected(
      [&] {
        index_.remove(std::vector<std::int64_t>{11, 20, 11});
      },
      ErrorCode::InvalidArgument, {"ids[2] (= 11) repeats ids[0]"}, "repeated id");
  std::vector<std::int64_t> cands{10, 11, -1, 12, 13, 99};  // [3 x 2]
  std::vector<float> out(6);
  expect_rejected(
      [&] {
        index_.rescore(queries_.view(), MatrixView<const std::int64_t>(cands.data(), 3, 2),
                       MatrixView<float>(out.data(), 3, 2));
      },
      ErrorCode::InvalidArgument, {"candidates[2][1] (= 99) is not in the index"}, "unknown candidate");
  expect_rejected(
      [&] {
        index_.rescore(queries_.view(), MatrixView<const std::int64_t>(cands.data(), 2, 3),
                       MatrixView<float>(out.data(), 2, 3));
      },
      ErrorCode::InvalidArgument, {"candidates.rows() (= 2) must equal queries.size() (= 3)"}, "candidate rows");
  cands[5] = 20;
  expect_rejected(
      [&] {
        index_.rescore(queries_.view(), MatrixView<const std::int64_t>(cands.data(), 3, 2),
                       MatrixView<float>(out.data(), 3, 1));
      },
      ErrorCode::InvalidArgument, {"out_scores (= [3 x 1])"}, "out_scores shape");
  expect_rejected(
      [&] {
        index_.rescore(queries_.view(), MatrixView<const std::int64_t>(cands.data(), 3, 2),
                       MatrixView<float>(out.data(), 3, 2), static_cast<MultiVectorReduce>(-1));
      },
      ErrorCode::InvalidArgument, {"reduce (= -1)"}, "reduce");
  std::vector<float> vectors{1.0f};
  std::vector<std::int64_t> offsets{5};
  expect_rejected(
      [&] {
        index_.reconstruct(std::vector<std::int64_t>{10, 14}, vectors, offsets);
      },
      ErrorCode::InvalidArgument, {"ids[1] (= 14) is not in the index"}, "reconstruct unknown id");
  EXPECT_EQ(vectors, std::vector<float>{1.0f});  // outputs untouched by the failed call
  EXPECT_EQ(offsets, std::vector<std::int64_t>{5});
}

// A query and an item whose tile cannot fit the workspace budget: OutOfMemory naming the budget.
TEST_F(MultiVectorErrors, WorkspaceTooSmallForOneItem) {
  Rng rng(507);
  const Batch big = random_batch(rng, 1, kDim, 700, 700);
  index_.add(big.view(), std::vector<std::int64_t>{500});
  before_ = observe(index_, queries_);
  const Batch long_query = random_batch(rng, 1, kDim, 700, 700);
  xmr::Resources tight;
  tight.set_workspace_bytes(std::size_t{1} << 20);
  expect_rejected([&] { (void)index_.search(long_query.view(), 3, {.device = Device::Cpu, .resources = &tight}); },
                  ErrorCode::OutOfMemory, {"workspace budget", "700 vectors"}, "tile over budget");
  // The default budget takes it.
  EXPECT_EQ(index_.search(long_query.view(), 3, {.device = Device::Cpu}).ids.size(), 3u);
}

// Host out-of-memory in add and remove (xmr::testing::fail_next_host_allocations): each large
// allocation in turn fails; the call throws OutOfMemory naming itself and leaves the index as it
// was; once nothing fails the call completes.
TEST_F(MultiVectorErrors, HostOutOfMemoryInAddAndRemove) {
  Rng rng(508);
  const Batch more = random_batch(rng, 5, kDim, 1, 5);
  const std::vector<std::int64_t> more_ids{1, 15, 30, 31, 40};  // below and above the max: merge
  struct Op {
    const char* call;
    std::function<void()> run;
  };
  const std::vector<Op> ops = {
      {"MultiVectorIndex::add", [&] { index_.add(more.view(), more_ids); }},
      {"MultiVectorIndex::remove",
       [&] {
         index_.remove(std::vector<std::int64_t>{12, 21});
       }},
  };
  for (const Op& op : ops) {
    int failures = 0;
    for (int after = 0; after < 16; ++after) {
      SCOPED_TRACE(std::string(op.call) + ": large host allocation " + std::to_string(after + 1) + " fails");
      before_ = observe(index_, queries_);
      bool threw = false;
      xmr::testing::fail_next_host_allocations(1, after);
      try {
        op.run();
      } catch (const xmr::Error& e) {
        threw = true;
        EXPECT_EQ(e.code(), ErrorCode::OutOfMemory) << e.what();
        EXPECT_NE(std::string(e.what()).find(op.call), std::string::npos) << e.what();
      }
      xmr::testing::fail_next_host_allocations(0);
      if (!threw) break;
      ++failures;
      expect_same(before_, observe(index_, queries_));
    }
    EXPECT_GE(failures, 1) << op.call << " made no large host allocation";
  }
  EXPECT_EQ(index_.size(), 8 + 5 - 2);
}

// ---- GPU -----------------------------------------------------------------------------------------

// The GPU path against the reference (also with tiny tiles) and against the CPU; its k limit.
TEST(MultiVectorGpu, MatchesReferenceAndCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  xmr::Resources caps;
  caps.set_tile_caps(2, 17);
  for (const Size& sz : sizes()) {
    for (const Metric metric : {Metric::Cosine, Metric::InnerProduct}) {
      Rng rng(sz.seed * 2 + (metric == Metric::Cosine ? 0 : 1));
      const Batch items = random_batch(rng, sz.n, sz.dim, sz.item_min, sz.item_max);
      const Batch queries = random_batch(rng, sz.num_queries, sz.dim, sz.query_min, sz.query_max);
      MultiVectorIndex index({.dim = sz.dim, .metric = metric, .device = Device::Gpu});
      index.add(items.view());
      std::vector<std::int64_t> ids(static_cast<std::size_t>(sz.n));
      std::iota(ids.begin(), ids.end(), std::int64_t{0});
      for (const MultiVectorReduce reduce : {kMax, kSum}) {
        const Reference ref = reference(items, ids, queries, metric, reduce);
        const double tol = tolerance(sz.dim, queries, reduce);
        for (const std::int64_t k : ks_for(sz.n)) {
          const std::string ctx = "seed " + std::to_string(sz.seed) + ", " + size_name(sz) + ", " +
                                  name(metric, reduce) + ", k " + std::to_string(k) + ", gpu";
          const xmr::SearchResult gpu = index.search(queries.view(), k, {.reduce = reduce});
          EXPECT_EQ(gpu.device, Device::Gpu) << ctx;
          xmr_test::expect_topk_matches(xmr_test::view_of(gpu), ref, tol, ctx);
          xmr_test::expect_topk_matches(
              xmr_test::view_of(index.search(queries.view(), k, {.reduce = reduce, .resources = &caps})), ref, tol,
              ctx + ", tile caps 2 x 17");
          const xmr::SearchResult cpu = index.search(queries.view(), k, {.reduce = reduce, .device = Device::Cpu});
          // Both within tol of the reference: scores agree within 2 tol of each other.
          for (std::size_t j = 0; j < cpu.scores.size(); ++j) {
            const auto q = static_cast<std::size_t>(j / static_cast<std::size_t>(k));
            if (std::isinf(cpu.scores[j])) {
              EXPECT_EQ(cpu.scores[j], gpu.scores[j]) << ctx;
            } else {
              EXPECT_NEAR(cpu.scores[j], gpu.scores[j], 2 * tol * ref.scale[q]) << ctx << ", slot " << j;
            }
          }
        }
      }
    }
  }
}

TEST(MultiVectorGpu, KLimitAndAppends) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  constexpr std::int64_t kDim = 16;
  Rng rng(909);
  const Batch items = random_batch(rng, 2100, kDim, 1, 3);
  const Batch queries = random_batch(rng, 2, kDim, 1, 4);
  MultiVectorIndex index({.dim = kDim, .metric = Metric::InnerProduct});
  index.add(items.view());
  EXPECT_XMR_ERROR(index.search(queries.view(), 2049, {.device = Device::Gpu}), ErrorCode::InvalidArgument,
                   "k (= 2049)", "2048");
  EXPECT_EQ(index.search(queries.view(), 2049).device, Device::Cpu);  // Auto falls back
  // The resident copy follows appends (spare capacity) and merges.
  Batch all = items;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(items.size()));
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  const std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> steps = {{3, {3000, 3001, 3002}},
                                                                                 {2, {2500, 5000}}};
  for (const auto& [count, new_ids] : steps) {
    (void)index.search(queries.view(), 5, {.device = Device::Gpu});  // make the copy resident first
    const Batch more = random_batch(rng, count, kDim, 5, 9);
    index.add(more.view(), new_ids);
    for (std::int64_t i = 0; i < count; ++i) all.push(more, i);
    ids.insert(ids.end(), new_ids.begin(), new_ids.end());
    for (const MultiVectorReduce reduce : {kMax, kSum}) {
      const Reference ref = reference(all, ids, queries, Metric::InnerProduct, reduce);
      xmr_test::expect_topk_matches(
          xmr_test::view_of(index.search(queries.view(), 20, {.reduce = reduce, .device = Device::Gpu})), ref,
          tolerance(kDim, queries, reduce), "seed 909, gpu after add");
    }
  }
}

}  // namespace
