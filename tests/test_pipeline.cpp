// Collections and the multi-stage pipeline against brute force: exact search when the shortlist
// covers everything, scorers (identity, reversing, throwing, NaN, threaded, overlapped), fusion,
// filters (both of their exact strategies), group-by, multi-vector shortlists, both cross-modal
// directions on synthetic data, and every bad option.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::Collection;
using xmr::CollectionBatch;
using xmr::CollectionOptions;
using xmr::Device;
using xmr::ErrorCode;
using xmr::MatrixView;
using xmr::Metric;
using xmr::PipelineOptions;
using xmr::PipelineResult;
using xmr::Queries;
using xmr_test::Rng;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Items of a test collection: embeddings, codes, labels and groups, all random.
struct Data {
  std::int64_t n = 0;
  std::int64_t dim = 0;
  std::int64_t bits = 0;
  std::int64_t num_labels = 0;
  std::vector<std::int64_t> ids;
  std::vector<float> emb;
  std::vector<std::uint8_t> codes;
  std::vector<std::uint8_t> labels;
  std::vector<std::int64_t> groups;
};

Data make_data(std::uint64_t seed, std::int64_t n, std::int64_t dim, std::int64_t bits, std::int64_t num_labels,
               std::int64_t num_groups) {
  Rng rng(seed);
  Data d;
  d.n = n;
  d.dim = dim;
  d.bits = bits;
  d.num_labels = num_labels;
  d.ids = xmr_test::random_ids(rng, n, 100, 3);
  d.emb = xmr_test::random_matrix(rng, n, dim);
  d.codes.resize(static_cast<std::size_t>(n * bits / 8));
  for (auto& c : d.codes) c = static_cast<std::uint8_t>(rng.bits());
  d.labels.resize(static_cast<std::size_t>(n * num_labels));
  for (auto& l : d.labels) l = rng.uniform() < 0.3 ? 1 : 0;
  d.groups.resize(static_cast<std::size_t>(n));
  for (auto& g : d.groups) g = rng.uniform_int(0, num_groups - 1);
  return d;
}

CollectionOptions options_for(const Data& d) {
  CollectionOptions o;
  o.name = "items";
  o.dim = d.dim;
  o.code_bits = d.bits;
  o.num_labels = d.num_labels;
  o.groups = true;
  o.device = Device::Cpu;
  return o;
}

CollectionBatch batch_of(const Data& d) {
  CollectionBatch b;
  b.ids = d.ids;
  b.embeddings = MatrixView<const float>(d.emb.data(), d.n, d.dim);
  b.codes = MatrixView<const std::uint8_t>(d.codes.data(), d.n, d.bits / 8);
  b.labels = MatrixView<const std::uint8_t>(d.labels.data(), d.n, d.num_labels);
  b.groups = d.groups;
  return b;
}

Collection make_collection(const Data& d) {
  Collection c(options_for(d));
  c.add(batch_of(d));
  return c;
}

std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

xmr_test::ResultView view_of(const PipelineResult& r) {
  return {r.ids.data(), r.scores.data(), r.num_queries, r.k, r.k, r.k};
}

/// The rows of `d` whose index passes `keep`, as a reference over those items only.
template <class Keep>
xmr_test::Reference reference_over(const Data& d, const std::vector<float>& queries, std::int64_t nq, Keep keep) {
  std::vector<double> items;
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < d.n; ++i) {
    if (!keep(i)) continue;
    ids.push_back(d.ids[static_cast<std::size_t>(i)]);
    items.insert(items.end(), d.emb.begin() + i * d.dim, d.emb.begin() + (i + 1) * d.dim);
  }
  (void)nq;
  return xmr_test::make_reference(items, ids, to_double(queries), d.dim, Metric::Cosine, xmr::DType::F32);
}

void expect_same(const PipelineResult& a, const PipelineResult& b, const std::string& what) {
  EXPECT_EQ(a.ids, b.ids) << what;
  ASSERT_EQ(a.scores.size(), b.scores.size()) << what;
  for (std::size_t i = 0; i < a.scores.size(); ++i) {
    ASSERT_TRUE(a.scores[i] == b.scores[i] || (std::isnan(a.scores[i]) && std::isnan(b.scores[i])))
        << what << " at " << i << ": " << a.scores[i] << " vs " << b.scores[i];
  }
}

// ---------------------------------------------------------------------------------------------
// Collections.

TEST(Collection, AddKeepsEveryPartAlignedById) {
  const Data d = make_data(1, 40, 7, 24, 5, 6);
  Collection c = make_collection(d);
  EXPECT_EQ(c.size(), 40);
  // Interleaved caller ids, then sequential ones after the largest.
  const Data e = make_data(2, 3, 7, 24, 5, 6);
  CollectionBatch b = batch_of(e);
  const std::vector<std::int64_t> ids = {0, 101, 1000};
  b.ids = ids;
  ASSERT_FALSE(c.contains(101));
  c.add(b);
  b.ids = {};
  c.add(b);
  EXPECT_EQ(c.size(), 46);
  EXPECT_TRUE(c.contains(1001) && c.contains(1003) && !c.contains(1004));
  // Every part returns the data of the right id.
  const std::vector<std::int64_t> ask = {1000, d.ids[5], 0, 1002};
  const auto labels = c.labels_of(ask);
  const auto groups = c.groups_of(ask);
  const auto codes = c.codes_of(ask);
  const auto emb = c.embeddings_of(ask);
  const std::vector<std::pair<const Data*, std::int64_t>> src = {{&e, 2}, {&d, 5}, {&e, 0}, {&e, 1}};
  for (std::size_t i = 0; i < ask.size(); ++i) {
    const Data& s = *src[i].first;
    const auto r = static_cast<std::size_t>(src[i].second);
    for (std::int64_t l = 0; l < 5; ++l) {
      EXPECT_EQ(labels[i * 5 + static_cast<std::size_t>(l)], s.labels[r * 5 + static_cast<std::size_t>(l)]) << i;
    }
    EXPECT_EQ(groups[i], s.groups[r]) << i;
    for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(codes[i * 3 + j], s.codes[r * 3 + j]) << i;
    double norm = 0;
    for (std::size_t j = 0; j < 7; ++j) norm += double{s.emb[r * 7 + j]} * double{s.emb[r * 7 + j]};
    for (std::size_t j = 0; j < 7; ++j) {
      EXPECT_NEAR(emb[i * 7 + j], double{s.emb[r * 7 + j]} / std::sqrt(norm), 1e-6) << i;  // stored normalised
    }
  }
  // Remove keeps the parts aligned.
  c.remove(std::vector<std::int64_t>{0, d.ids[5]});
  EXPECT_EQ(c.size(), 44);
  EXPECT_EQ(c.groups_of(std::vector<std::int64_t>{1000})[0], e.groups[2]);
  EXPECT_EQ(c.code_index()->size(), 44);
  EXPECT_EQ(c.embedding_index()->size(), 44);
  EXPECT_EQ(c.ids(), c.embedding_index()->ids());
}

TEST(Collection, BadInputNamesTheFieldAndChangesNothing) {
  const Data d = make_data(3, 10, 5, 16, 3, 4);
  Collection c = make_collection(d);
  const std::vector<std::int64_t> before = c.ids();
  auto unchanged = [&] {
    EXPECT_EQ(c.ids(), before);
    EXPECT_EQ(c.embedding_index()->size(), 10);
    EXPECT_EQ(c.code_index()->size(), 10);
  };
  const Data e = make_data(4, 2, 5, 16, 3, 4);
  CollectionBatch b = batch_of(e);
  const std::vector<std::int64_t> fresh = {500, 501};
  b.ids = fresh;
  {
    CollectionBatch x = b;
    x.codes = {};
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.codes", "must have 2 rows"},
                           "missing codes", unchanged);
  }
  {
    CollectionBatch x = b;
    std::vector<float> v(5, 1.0f);
    x.vectors.vectors = MatrixView<const float>(v.data(), 1, 5);
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.vectors", "stores no"},
                           "extra vectors", unchanged);
  }
  {
    std::vector<std::uint8_t> bad = e.labels;
    bad[4] = 2;
    CollectionBatch x = b;
    x.labels = MatrixView<const std::uint8_t>(bad.data(), 2, 3);
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.labels[1][1]", "(= 2)"},
                           "label value", unchanged);
  }
  {
    std::vector<std::int64_t> g = {0, -3};
    CollectionBatch x = b;
    x.groups = g;
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.groups[1]", "-3"}, "group",
                           unchanged);
  }
  {
    std::vector<std::int64_t> dup = {500, d.ids[3]};
    CollectionBatch x = b;
    x.ids = dup;
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.ids[1]", "already"}, "stored id",
                           unchanged);
    const std::vector<std::int64_t> twice = {7, 7};
    x.ids = twice;
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.ids[1]", "repeats"}, "repeat",
                           unchanged);
  }
  {
    std::vector<float> nan = e.emb;
    nan[6] = std::numeric_limits<float>::quiet_NaN();
    CollectionBatch x = b;
    x.embeddings = MatrixView<const float>(nan.data(), 2, 5);
    xmr_test::expect_error([&] { c.add(x); }, ErrorCode::InvalidArgument, {"items.embeddings"}, "NaN", unchanged);
  }
  xmr_test::expect_error(
      [&] {
        c.remove(std::vector<std::int64_t>{d.ids[0], 99999});
      },
      ErrorCode::InvalidArgument, {"ids[1]", "99999", "'items'"}, "remove unknown", unchanged);
  xmr_test::expect_error(
      [&] {
        c.remove(std::vector<std::int64_t>{d.ids[0], d.ids[0]});
      },
      ErrorCode::InvalidArgument, {"ids[1]", "repeats"}, "remove repeat", unchanged);
  EXPECT_XMR_ERROR(Collection(CollectionOptions{}), ErrorCode::InvalidArgument, "something to search by");
  EXPECT_XMR_ERROR(Collection(CollectionOptions{.dim = 4, .code_bits = 12}), ErrorCode::InvalidArgument,
                   "options.code_bits");
  std::vector<float> vectors;
  std::vector<std::int64_t> offsets;
  EXPECT_XMR_ERROR(c.vectors_of(before, vectors, offsets), ErrorCode::InvalidArgument, "multi_vector_dim = 0");
}

TEST(Collection, OutOfMemoryAtEveryLargeAllocationChangesNothing) {
  // Every large host allocation of an add (the staging buffer and arrays of each part), failed
  // in turn: OutOfMemory, and every part keeps its ids.
  const Data d = make_data(5, 30, 6, 16, 2, 3);
  const Data e = make_data(6, 4, 6, 16, 2, 3);
  Collection c = make_collection(d);
  const std::vector<std::int64_t> before = c.ids();
  int failures = 0;
  const std::vector<std::int64_t> low = {1, 2, 3, 4};  // below every stored id: every part merges
  for (int after = 0; after < 12; ++after) {
    CollectionBatch b = batch_of(e);
    b.ids = low;
    xmr::testing::fail_next_host_allocations(1, after);
    try {
      c.add(b);
      xmr::testing::fail_next_host_allocations(0);
      c.remove(low);  // it succeeded: undo
    } catch (const xmr::Error& err) {
      xmr::testing::fail_next_host_allocations(0);
      ++failures;
      EXPECT_EQ(err.code(), ErrorCode::OutOfMemory) << err.what();
      EXPECT_NE(std::string(err.what()).find("Collection::add"), std::string::npos) << err.what();
    }
    EXPECT_EQ(c.ids(), before) << "after " << after;
    EXPECT_EQ(c.embedding_index()->ids(), before) << "after " << after;
    EXPECT_EQ(c.code_index()->ids(), before) << "after " << after;
  }
  EXPECT_GE(failures, 5);  // the staging buffer, then rows and ids of the embeddings and the codes
}

TEST(Collection, ConcurrentAddsRemovesAndSearchesSeeOneVersion) {
  // Readers re-score a Hamming shortlist with the embeddings and group the result: a reader that
  // saw the codes of one version and the embeddings of another would fail ("not in the index")
  // or return a group of an item that no longer exists.
  const Data d = make_data(7, 200, 8, 32, 2, 10);
  Collection c = make_collection(d);
  std::vector<float> qv(8 * 4, 0.5f);
  std::vector<std::uint8_t> qc(4 * 4, 0x5A);
  Queries q;
  q.embeddings = MatrixView<const float>(qv.data(), 4, 8);
  q.codes = MatrixView<const std::uint8_t>(qc.data(), 4, 4);
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        try {
          const PipelineResult r = xmr::retrieve(c, q,
                                                 {.k = 5,
                                                  .candidates = 40,
                                                  .shortlist = xmr::ShortlistBy::Codes,
                                                  .rescore = xmr::RescoreBy::Embeddings,
                                                  .group_by = true});
          for (std::size_t i = 0; i < r.ids.size(); ++i) {
            if (r.ids[i] >= 0 && r.groups[i] < 0) ++errors;
          }
        } catch (const xmr::Error&) {
          ++errors;
        }
      }
    });
  }
  for (int round = 0; round < 30; ++round) {
    const Data e = make_data(100 + static_cast<std::uint64_t>(round), 10, 8, 32, 2, 10);
    CollectionBatch b = batch_of(e);
    b.ids = {};
    c.add(b);
    const std::vector<std::int64_t> ids = c.ids();
    c.remove(std::vector<std::int64_t>(ids.begin(), ids.begin() + 5));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(c.size(), 200 + 30 * 5);
}

// ---------------------------------------------------------------------------------------------
// Pipeline: exactness, scorers, fusion.

struct PipelineFixture : ::testing::Test {
  Data d = make_data(11, 300, 19, 64, 6, 25);
  Collection c = make_collection(d);
  std::int64_t nq = 9;
  std::vector<float> qv = [this] {
    Rng rng(12);
    return xmr_test::random_matrix(rng, nq, d.dim);
  }();
  Queries queries() const {
    Queries q;
    q.embeddings = MatrixView<const float>(qv.data(), nq, d.dim);
    return q;
  }
  double tol() const { return xmr_test::accumulation_tolerance(d.dim); }
};

TEST_F(PipelineFixture, ShortlistCoveringEverythingIsExactSearch) {
  const auto ref = reference_over(d, qv, nq, [](std::int64_t) { return true; });
  for (const std::int64_t k : {1, 10, 300}) {
    const PipelineResult r = xmr::retrieve(c, queries(), {.k = k, .candidates = 300});
    xmr_test::expect_topk_matches(view_of(r), ref, tol(), "seed 11, k " + std::to_string(k));
    EXPECT_EQ(r.stats.shortlisted, nq * 300);
    EXPECT_TRUE(r.rescore_scores.empty() && r.rerank_scores.empty() && r.groups.empty());
  }
  // An identity scorer (its score is the similarity it is given) changes nothing.
  const PipelineResult plain = xmr::retrieve(c, queries(), {.k = 20, .candidates = 300});
  const PipelineResult ident = xmr::retrieve(
      c, queries(), {.k = 20, .candidates = 300, .score_fn = [](const xmr::PairBatch& p, std::span<float> s) {
                       std::copy(p.similarity.begin(), p.similarity.end(), s.begin());
                     }});
  EXPECT_EQ(ident.ids, plain.ids);
  EXPECT_EQ(ident.scores, plain.scores);
  EXPECT_EQ(ident.rerank_scores, plain.scores);
  EXPECT_EQ(ident.stats.reranked, nq * 300);
}

TEST_F(PipelineFixture, ShortlistIsTheTopCAndRerankingReordersOnlyIt) {
  const PipelineResult exact = xmr::retrieve(c, queries(), {.k = 32, .candidates = 32});
  // A scorer that reverses the similarity order reverses the shortlist.
  const PipelineResult rev = xmr::retrieve(
      c, queries(), {.k = 32, .candidates = 32, .score_fn = [](const xmr::PairBatch& p, std::span<float> s) {
                       for (std::size_t i = 0; i < s.size(); ++i) s[i] = -p.similarity[i];
                     }});
  for (std::int64_t q = 0; q < nq; ++q) {
    for (std::int64_t j = 0; j < 32; ++j) ASSERT_EQ(rev.id(q, j), exact.id(q, 31 - j)) << q << " " << j;
  }
  // With k < C the re-ranked best come from the shortlist only: a scorer that prefers the
  // largest id picks the largest id among the 32 candidates, never one outside them.
  const PipelineResult big = xmr::retrieve(
      c, queries(), {.k = 3, .candidates = 32, .score_fn = [](const xmr::PairBatch& p, std::span<float> s) {
                       for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<float>(p.candidate_ids[i]);
                     }});
  for (std::int64_t q = 0; q < nq; ++q) {
    std::vector<std::int64_t> shortlist(exact.ids.begin() + q * 32, exact.ids.begin() + (q + 1) * 32);
    std::sort(shortlist.rbegin(), shortlist.rend());
    for (std::int64_t j = 0; j < 3; ++j) EXPECT_EQ(big.id(q, j), shortlist[static_cast<std::size_t>(j)]);
  }
}

TEST_F(PipelineFixture, ScorerThreadsBatchesAndChunksDoNotChangeResults) {
  std::atomic<std::int64_t> calls{0};
  std::mutex m;
  std::set<std::int64_t> batch_indices;
  auto fn = [&](const xmr::PairBatch& p, std::span<float> s) {
    ++calls;
    {
      std::lock_guard lock(m);
      batch_indices.insert(p.batch_index);
    }
    EXPECT_EQ(p.query_rows.size(), s.size());
    EXPECT_EQ(p.stream, nullptr);
    for (std::size_t i = 0; i < s.size(); ++i) {
      // Deterministic in the pair only: a pseudo cross-encoder.
      const auto h = static_cast<std::uint64_t>(p.candidate_ids[i] * 1000003 + p.query_rows[i] * 7919);
      s[i] = static_cast<float>(h % 1009) / 1009.0f;
    }
  };
  std::vector<std::int64_t> qids(static_cast<std::size_t>(nq));
  std::iota(qids.begin(), qids.end(), 70);
  Queries q = queries();
  q.ids = qids;
  const PipelineResult base = xmr::retrieve(c, q, {.k = 10, .candidates = 50, .score_fn = fn});
  EXPECT_EQ(base.stats.scorer_calls, (nq * 50 + 255) / 256);
  for (const auto& [batch, threads, chunk] : std::vector<std::tuple<std::int64_t, int, std::int64_t>>{
           {7, 1, 0}, {7, 4, 0}, {1, 3, 2}, {1000, 2, 4}, {13, 4, 1}}) {
    calls = 0;
    batch_indices.clear();
    const PipelineResult r = xmr::retrieve(c, q,
                                           {.k = 10,
                                            .candidates = 50,
                                            .score_fn = fn,
                                            .scorer_batch = batch,
                                            .scorer_threads = threads,
                                            .query_chunk = chunk});
    const std::string what =
        "batch " + std::to_string(batch) + " threads " + std::to_string(threads) + " chunk " + std::to_string(chunk);
    expect_same(r, base, what);
    EXPECT_EQ(r.stats.reranked, nq * 50) << what;
    EXPECT_EQ(calls.load(), r.stats.scorer_calls) << what;
    EXPECT_EQ(static_cast<std::int64_t>(batch_indices.size()), r.stats.scorer_calls) << what;
    EXPECT_EQ(*batch_indices.rbegin(), r.stats.scorer_calls - 1) << what;
  }
}

struct IdScorer : xmr::PairScorer {
  std::vector<std::int64_t> seen_query_ids;
  void score(const xmr::PairBatch& p, std::span<float> s) override {
    seen_query_ids.insert(seen_query_ids.end(), p.query_ids.begin(), p.query_ids.end());
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = p.similarity[i] * 2.0f;
  }
};

TEST_F(PipelineFixture, FusionModes) {
  IdScorer scorer;
  // Replace with a rescore: the rescore (double accumulation) is the final score.
  const PipelineResult rs =
      xmr::retrieve(c, queries(), {.k = 10, .candidates = 40, .rescore = xmr::RescoreBy::Embeddings});
  ASSERT_EQ(rs.rescore_scores.size(), rs.scores.size());
  EXPECT_EQ(rs.scores, rs.rescore_scores);
  const auto ref = reference_over(d, qv, nq, [](std::int64_t) { return true; });
  xmr_test::expect_topk_matches(view_of(rs), ref, 2e-7, "rescored");
  // Sum: re-rank + similarity (the rescore when it ran, else the shortlist score).
  for (const bool rescore : {false, true}) {
    const PipelineResult r = xmr::retrieve(c, queries(),
                                           {.k = 10,
                                            .candidates = 40,
                                            .rescore = rescore ? xmr::RescoreBy::Embeddings : xmr::RescoreBy::None,
                                            .scorer = &scorer,
                                            .fusion = {.mode = xmr::FusionMode::Sum}});
    for (std::size_t i = 0; i < r.ids.size(); ++i) {
      const float sim = rescore ? r.rescore_scores[i] : r.shortlist_scores[i];
      EXPECT_EQ(r.scores[i], r.rerank_scores[i] + sim) << i;
      EXPECT_EQ(r.rerank_scores[i], 2.0f * sim) << i;
    }
  }
  EXPECT_TRUE(std::all_of(scorer.seen_query_ids.begin(), scorer.seen_query_ids.end(),
                          [](std::int64_t id) { return id == -1; }));
  // Weighted: any mix; the order follows the fused score, ties by id.
  const PipelineResult w = xmr::retrieve(c, queries(),
                                         {.k = 40,
                                          .candidates = 40,
                                          .rescore = xmr::RescoreBy::Embeddings,
                                          .scorer = &scorer,
                                          .fusion = {.mode = xmr::FusionMode::Weighted,
                                                     .shortlist_weight = 0.5f,
                                                     .rescore_weight = -1.0f,
                                                     .rerank_weight = 0.25f}});
  for (std::int64_t q = 0; q < nq; ++q) {
    for (std::int64_t j = 0; j < 40; ++j) {
      const auto i = static_cast<std::size_t>(q * 40 + j);
      EXPECT_EQ(w.scores[i], 0.5f * w.shortlist_scores[i] + -1.0f * w.rescore_scores[i] + 0.25f * w.rerank_scores[i]);
      if (j > 0) {
        ASSERT_TRUE(w.scores[i - 1] > w.scores[i] || (w.scores[i - 1] == w.scores[i] && w.ids[i - 1] < w.ids[i]))
            << q << " " << j;
      }
    }
  }
}

TEST_F(PipelineFixture, ScorerErrorsAreClearAndTheCollectionStaysUsable) {
  const PipelineResult before = xmr::retrieve(c, queries(), {.k = 5, .candidates = 20});
  auto usable = [&] { expect_same(xmr::retrieve(c, queries(), {.k = 5, .candidates = 20}), before, "after error"); };
  for (const int threads : {1, 3}) {
    PipelineOptions o{.k = 5, .candidates = 20, .scorer_batch = 16, .scorer_threads = threads, .query_chunk = 2};
    o.score_fn = [](const xmr::PairBatch& p, std::span<float> s) {
      if (p.batch_index == 3) throw std::runtime_error("ITM head out of memory");
      std::fill(s.begin(), s.end(), 1.0f);
    };
    xmr_test::expect_error([&] { (void)xmr::retrieve(c, queries(), o); }, ErrorCode::Callback,
                           {"scorer failed on batch 3", "ITM head out of memory"}, "runtime_error", usable);
    o.score_fn = [](const xmr::PairBatch&, std::span<float>) {
      throw xmr::Error(ErrorCode::OutOfMemory, "model: cudaMalloc failed");
    };
    xmr_test::expect_error([&] { (void)xmr::retrieve(c, queries(), o); }, ErrorCode::OutOfMemory,
                           {"scorer failed on batch", "cudaMalloc failed"}, "xmr::Error", usable);
    o.score_fn = [](const xmr::PairBatch& p, std::span<float> s) {
      std::fill(s.begin(), s.end(), 0.5f);
      if (p.batch_index == 1) s[2] = std::numeric_limits<float>::quiet_NaN();
    };
    xmr_test::expect_error([&] { (void)xmr::retrieve(c, queries(), o); }, ErrorCode::Callback,
                           {"NaN for pair 2 of batch 1"}, "NaN", usable);
  }
}

TEST_F(PipelineFixture, HammingShortlistEqualsBinarySearch) {
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(nq * 8));
  Rng rng(13);
  for (auto& b : qc) b = static_cast<std::uint8_t>(rng.bits());
  Queries q;
  q.codes = MatrixView<const std::uint8_t>(qc.data(), nq, 8);
  const auto exact = c.code_index()->search(q.codes, 25, {.device = Device::Cpu});
  const PipelineResult r = xmr::retrieve(c, q, {.k = 25, .candidates = 25, .shortlist = xmr::ShortlistBy::Codes});
  EXPECT_EQ(r.ids, exact.ids);
  for (std::size_t i = 0; i < r.ids.size(); ++i) {
    EXPECT_EQ(r.scores[i], static_cast<float>(1.0 - 2.0 * exact.distances[i] / 64.0)) << i;
  }
  // Hamming shortlist, exact rescore: the final order is the exact order of the candidates.
  q.embeddings = MatrixView<const float>(qv.data(), nq, d.dim);
  const PipelineResult rr = xmr::retrieve(
      c, q, {.k = 25, .candidates = 25, .shortlist = xmr::ShortlistBy::Codes, .rescore = xmr::RescoreBy::Embeddings});
  for (std::int64_t i = 0; i < nq; ++i) {
    std::vector<std::int64_t> a(r.ids.begin() + i * 25, r.ids.begin() + (i + 1) * 25);
    std::vector<std::int64_t> b(rr.ids.begin() + i * 25, rr.ids.begin() + (i + 1) * 25);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b) << "query " << i << ": the same candidates";
  }
  const auto ref = reference_over(d, qv, nq, [](std::int64_t) { return true; });
  for (std::size_t i = 0; i < rr.ids.size(); ++i) {
    const auto pos = std::find(d.ids.begin(), d.ids.end(), rr.ids[i]) - d.ids.begin();
    EXPECT_NEAR(rr.scores[i], ref.score(static_cast<std::int64_t>(i) / 25, pos), 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Filters and group-by.

struct FilterCase {
  std::string name;
  std::vector<std::int64_t> any, all;
  int bitset = 0;  // 0: none; 1: all but 3 ids (over-fetch path); 2: a fifth of the ids (copy path)
  std::int64_t candidates = 12;
};

void PrintTo(const FilterCase& c, std::ostream* os) {
  *os << c.name;
}

class Filters : public PipelineFixture, public ::testing::WithParamInterface<FilterCase> {};

TEST_P(Filters, MatchBruteForce) {
  const FilterCase& fc = GetParam();
  xmr::Filter f;
  f.any_labels = fc.any;
  f.all_labels = fc.all;
  std::vector<std::int64_t> allowed;
  for (std::int64_t i = 0; i < d.n; ++i) {
    if (fc.bitset == 1 && i >= 3) allowed.push_back(d.ids[static_cast<std::size_t>(i)]);
    if (fc.bitset == 2 && i % 5 == 0) allowed.push_back(d.ids[static_cast<std::size_t>(i)]);
  }
  if (fc.bitset != 0) f.id_bitset = xmr::make_id_bitset(allowed);
  auto keep = [&](std::int64_t i) {
    const auto* row = d.labels.data() + i * d.num_labels;
    bool ok = true;
    if (!fc.any.empty()) {
      ok = std::any_of(fc.any.begin(), fc.any.end(), [&](std::int64_t l) { return row[l] != 0; });
    }
    ok = ok && std::all_of(fc.all.begin(), fc.all.end(), [&](std::int64_t l) { return row[l] != 0; });
    if (fc.bitset != 0) {
      ok = ok && std::find(allowed.begin(), allowed.end(), d.ids[static_cast<std::size_t>(i)]) != allowed.end();
    }
    return ok;
  };
  std::int64_t passing = 0;
  for (std::int64_t i = 0; i < d.n; ++i) passing += keep(i) ? 1 : 0;
  const std::int64_t k = std::min<std::int64_t>(10, fc.candidates);
  // Dense: against the double reference over the passing items.
  const PipelineResult r = xmr::retrieve(c, queries(), {.k = k, .candidates = fc.candidates, .filter = f});
  EXPECT_EQ(r.stats.filtered_items, passing);
  if (passing == 0) {
    EXPECT_TRUE(std::all_of(r.ids.begin(), r.ids.end(), [](std::int64_t id) { return id == -1; }));
    EXPECT_EQ(r.stats.shortlisted, 0);
    return;
  }
  const auto ref = reference_over(d, qv, nq, keep);
  xmr_test::expect_topk_matches(view_of(r), ref, tol(), "filter " + fc.name);
  EXPECT_EQ(r.stats.shortlisted, nq * std::min(passing, fc.candidates));
  // Codes: bit-identical to a binary index holding just the passing items.
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(nq * 8));
  Rng rng(14);
  for (auto& b : qc) b = static_cast<std::uint8_t>(rng.bits());
  Queries q;
  q.codes = MatrixView<const std::uint8_t>(qc.data(), nq, 8);
  const PipelineResult rc =
      xmr::retrieve(c, q, {.k = k, .candidates = fc.candidates, .shortlist = xmr::ShortlistBy::Codes, .filter = f});
  xmr::BinaryIndex sub({.bits = 64});
  std::vector<std::uint8_t> codes;
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < d.n; ++i) {
    if (!keep(i)) continue;
    ids.push_back(d.ids[static_cast<std::size_t>(i)]);
    codes.insert(codes.end(), d.codes.begin() + i * 8, d.codes.begin() + (i + 1) * 8);
  }
  sub.add(MatrixView<const std::uint8_t>(codes.data(), static_cast<std::int64_t>(ids.size()), 8), ids);
  const auto want = sub.search(q.codes, k, {.device = Device::Cpu});
  EXPECT_EQ(rc.ids, want.ids) << fc.name;
}

INSTANTIATE_TEST_SUITE_P(
    Pipeline, Filters,
    ::testing::Values(FilterCase{"any1", {1}, {}, 0}, FilterCase{"any01", {0, 1}, {}, 0},
                      FilterCase{"all23", {}, {2, 3}, 0}, FilterCase{"any_all", {0, 4}, {5}, 0},
                      FilterCase{"bitset_overfetch", {}, {}, 1}, FilterCase{"bitset_copy", {}, {}, 2},
                      FilterCase{"all_and_bitset", {}, {1}, 2}, FilterCase{"few_pass", {}, {0, 1, 2, 3}, 0},
                      FilterCase{"none_pass", {}, {0, 1, 2, 3, 4, 5}, 2}, FilterCase{"large_c", {0}, {}, 0, 200}),
    [](const ::testing::TestParamInfo<FilterCase>& p) { return p.param.name; });

TEST_F(PipelineFixture, GroupByMatchesBruteForce) {
  const auto ref = reference_over(d, qv, nq, [](std::int64_t) { return true; });
  const PipelineResult r = xmr::retrieve(c, queries(), {.k = 8, .candidates = 300, .group_by = true});
  ASSERT_EQ(r.groups.size(), r.ids.size());
  const double t = 2 * tol();
  for (std::int64_t q = 0; q < nq; ++q) {
    // Best reference score per group.
    std::map<std::int64_t, double> best;
    for (std::int64_t i = 0; i < d.n; ++i) {
      const std::int64_t g = d.groups[static_cast<std::size_t>(i)];
      const double s = ref.score(q, i);
      if (!best.count(g) || s > best[g]) best[g] = s;
    }
    std::vector<double> sorted;
    for (const auto& [g, s] : best) sorted.push_back(s);
    std::sort(sorted.rbegin(), sorted.rend());
    std::set<std::int64_t> seen;
    for (std::int64_t j = 0; j < 8; ++j) {
      const std::int64_t id = r.id(q, j);
      const std::int64_t g = r.groups[static_cast<std::size_t>(q * 8 + j)];
      ASSERT_TRUE(seen.insert(g).second) << "group " << g << " twice";
      const auto pos = std::find(d.ids.begin(), d.ids.end(), id) - d.ids.begin();
      EXPECT_EQ(d.groups[static_cast<std::size_t>(pos)], g);
      EXPECT_NEAR(ref.score(q, pos), best[g], t) << "the group's best item";
      EXPECT_NEAR(best[g], sorted[static_cast<std::size_t>(j)], t) << "query " << q << " rank " << j;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bad calls.

TEST_F(PipelineFixture, BadOptionsNameTheOption) {
  const Queries q = queries();
  auto bad = [&](PipelineOptions o, std::initializer_list<std::string_view> needles, const char* what) {
    xmr_test::expect_error([&] { (void)xmr::retrieve(c, q, o); }, ErrorCode::InvalidArgument, needles, what);
  };
  bad({.k = 0}, {"options.k (= 0)"}, "k");
  bad({.k = 20, .candidates = 10}, {"options.candidates (= 10)", "options.k (= 20)"}, "C < k");
  bad({.shortlist = xmr::ShortlistBy::MultiVector}, {"queries.vectors.vectors.cols (= 0)", "(= 19)"},
      "MaxSim over the embeddings needs query vectors of their dimension");
  bad({.shortlist = static_cast<xmr::ShortlistBy>(9)}, {"options.shortlist (= 9)"}, "enum");
  bad({.rescore = xmr::RescoreBy::MultiVector}, {"options.rescore (= multi_vector)"}, "rescore");
  IdScorer s;
  bad({.scorer = &s, .score_fn = [](const xmr::PairBatch&, std::span<float>) {}}, {"both set"}, "two scorers");
  bad({.scorer = &s, .scorer_batch = 0}, {"options.scorer_batch (= 0)"}, "batch");
  bad({.scorer = &s, .scorer_threads = 0}, {"options.scorer_threads (= 0)"}, "threads");
  bad({.query_chunk = -1}, {"options.query_chunk (= -1)"}, "chunk");
  bad({.fusion = {.mode = xmr::FusionMode::Weighted, .rescore_weight = std::numeric_limits<float>::infinity()}},
      {"options.fusion.rescore_weight (= inf)"}, "weight");
  bad({.filter = {.any_labels = {6}}}, {"options.filter.any_labels[0] (= 6)", "[0, 6)"}, "label");
  bad({.filter = {.all_labels = {-1}}}, {"options.filter.all_labels[0] (= -1)"}, "label");
  // Queries.
  std::vector<float> nan = qv;
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  Queries qn = q;
  qn.embeddings = MatrixView<const float>(nan.data(), nq, d.dim);
  xmr_test::expect_error([&] { (void)xmr::retrieve(c, qn, {}); }, ErrorCode::InvalidArgument,
                         {"queries.embeddings[0][3]", "finite"}, "NaN query");
  Queries qc = q;
  xmr_test::expect_error([&] { (void)xmr::retrieve(c, qc, {.shortlist = xmr::ShortlistBy::Codes}); },
                         ErrorCode::InvalidArgument, {"queries.codes"}, "no codes");
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(8 * (nq + 1)));
  qc.codes = MatrixView<const std::uint8_t>(codes.data(), nq + 1, 8);
  xmr_test::expect_error(
      [&] {
        (void)xmr::retrieve(c, qc, {.shortlist = xmr::ShortlistBy::Codes, .rescore = xmr::RescoreBy::Embeddings});
      },
      ErrorCode::InvalidArgument, {"queries.codes has 10 queries", "queries.embeddings has 9"}, "counts");
  std::vector<std::int64_t> ids(3);
  Queries qi = q;
  qi.ids = ids;
  xmr_test::expect_error([&] { (void)xmr::retrieve(c, qi, {}); }, ErrorCode::InvalidArgument,
                         {"queries.ids.size() (= 3)"}, "ids");
  Collection empty(options_for(d));
  xmr_test::expect_error([&] { (void)xmr::retrieve(empty, q, {}); }, ErrorCode::InvalidArgument, {"'items' is empty"},
                         "empty");
  Collection codes_only(CollectionOptions{.name = "codes", .code_bits = 64});
  codes_only.add({.codes = MatrixView<const std::uint8_t>(d.codes.data(), d.n, 8)});
  xmr_test::expect_error([&] { (void)xmr::retrieve(codes_only, q, {.shortlist = xmr::ShortlistBy::MultiVector}); },
                         ErrorCode::InvalidArgument,
                         {"options.shortlist (= multi_vector)", "'codes' has no multi-vector items and no embeddings"},
                         "no vectors");
  Collection nogroups(CollectionOptions{.dim = d.dim});
  xmr_test::expect_error([&] { (void)xmr::retrieve(nogroups, q, {.group_by = true}); }, ErrorCode::InvalidArgument,
                         {"options.group_by", "options.groups = false"}, "group_by");
}

TEST_F(PipelineFixture, ZeroQueriesGiveAnEmptyResult) {
  Queries q;
  q.embeddings = MatrixView<const float>(qv.data(), 0, d.dim);
  const PipelineResult r = xmr::retrieve(c, q, {});
  EXPECT_EQ(r.num_queries, 0);
  EXPECT_TRUE(r.ids.empty());
}

// ---------------------------------------------------------------------------------------------
// Cross-modal: both directions on synthetic data.

struct CrossModalFixture : ::testing::Test {
  xmr::synth::CrossModalData data = xmr::synth::make_cross_modal(
      {.num_images = 120, .captions_per_image = 5, .num_labels = 8, .max_labels_per_item = 2, .dim = 32, .seed = 5});

  xmr::CrossModalIndex make_index() const {
    Collection images(CollectionOptions{.name = "images", .dim = data.dim, .num_labels = data.num_labels});
    images.add({.embeddings = data.images(),
                .labels = MatrixView<const std::uint8_t>(data.image_labels.data(), data.num_images, data.num_labels)});
    Collection texts(
        CollectionOptions{.name = "texts", .dim = data.dim, .num_labels = data.num_labels, .groups = true});
    texts.add({.embeddings = data.texts(),
               .labels = MatrixView<const std::uint8_t>(data.text_labels.data(), data.num_texts, data.num_labels),
               .groups = data.text_image});
    return {std::move(images), std::move(texts)};
  }
};

TEST_F(CrossModalFixture, BothDirectionsEqualBruteForceAndFindTheirPairs) {
  const xmr::CrossModalIndex index = make_index();
  std::vector<std::int64_t> image_ids(static_cast<std::size_t>(data.num_images));
  std::iota(image_ids.begin(), image_ids.end(), 0);
  std::vector<std::int64_t> text_ids(static_cast<std::size_t>(data.num_texts));
  std::iota(text_ids.begin(), text_ids.end(), 0);
  const auto tol = 4 * xmr_test::accumulation_tolerance(data.dim);

  // IqT by image ids equals IqT by the images' vectors, and brute force over the texts.
  const PipelineResult i2t = index.search(xmr::Direction::ImageToText, image_ids, {.k = 10, .candidates = 600});
  Queries qi;
  qi.embeddings = data.images();
  const PipelineResult i2t_v = index.search(xmr::Direction::ImageToText, qi, {.k = 10, .candidates = 600});
  auto as_double = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const auto ref_i2t =
      xmr_test::make_reference(as_double(data.text_embeddings), text_ids, as_double(data.image_embeddings), data.dim,
                               Metric::Cosine, xmr::DType::F32);
  xmr_test::expect_topk_matches(view_of(i2t), ref_i2t, tol, "i2t by ids (seed 5)");
  xmr_test::expect_topk_matches(view_of(i2t_v), ref_i2t, tol, "i2t by vectors (seed 5)");

  // TqI by text ids, brute force over the images.
  const PipelineResult t2i = index.search(xmr::Direction::TextToImage, text_ids, {.k = 5, .candidates = 120});
  const auto ref_t2i =
      xmr_test::make_reference(as_double(data.image_embeddings), image_ids, as_double(data.text_embeddings), data.dim,
                               Metric::Cosine, xmr::DType::F32);
  xmr_test::expect_topk_matches(view_of(t2i), ref_t2i, tol, "t2i by ids (seed 5)");

  // The data are built so that pairs are near: most captions find their image in the top 5.
  std::int64_t hits = 0;
  for (std::int64_t t = 0; t < data.num_texts; ++t) {
    for (std::int64_t j = 0; j < 5; ++j) hits += t2i.id(t, j) == data.text_image[static_cast<std::size_t>(t)] ? 1 : 0;
  }
  EXPECT_GT(static_cast<double>(hits) / static_cast<double>(data.num_texts), 0.5);

  // IqT grouped by the captions' image: distinct images, each the best of its captions.
  const PipelineResult grouped =
      index.search(xmr::Direction::ImageToText, image_ids, {.k = 5, .candidates = 600, .group_by = true});
  for (std::int64_t q = 0; q < data.num_images; ++q) {
    std::set<std::int64_t> g;
    for (std::int64_t j = 0; j < 5; ++j) {
      const std::int64_t group = grouped.groups[static_cast<std::size_t>(q * 5 + j)];
      EXPECT_EQ(group, data.text_image[static_cast<std::size_t>(grouped.id(q, j))]);
      EXPECT_TRUE(g.insert(group).second);
    }
  }
  // Label filter in the other direction: every result carries the label.
  const PipelineResult f =
      index.search(xmr::Direction::TextToImage, text_ids, {.k = 5, .candidates = 20, .filter = {.any_labels = {3}}});
  for (const std::int64_t id : f.ids) {
    if (id >= 0) {
      EXPECT_EQ(data.image_labels[static_cast<std::size_t>(id * data.num_labels + 3)], 1);
    }
  }
  // Errors name the query side.
  EXPECT_XMR_ERROR(index.search(xmr::Direction::TextToImage, std::vector<std::int64_t>{4, 9999}, {}),
                   ErrorCode::InvalidArgument, "ids[1] (= 9999)", "'texts'");
  EXPECT_XMR_ERROR(index.search(xmr::Direction::ImageToText, image_ids, {.shortlist = xmr::ShortlistBy::Codes}),
                   ErrorCode::InvalidArgument, "'images'");
}

TEST_F(PipelineFixture, ScorerGetsTheStreamTheCallBorrows) {
  // A Resources that borrows a caller's stream hands it to the scorer (a GPU cross-encoder then
  // enqueues on it). Constructing a Resources never touches the GPU, and a CPU call never uses
  // the stream, so a stand-in pointer is enough here.
  auto* stream = reinterpret_cast<CUstream_st*>(std::uintptr_t{0x5000});
  xmr::Resources res(0, stream);
  std::atomic<int> seen{0};
  std::atomic<int> wrong{0};
  const PipelineResult r = xmr::retrieve(c, queries(),
                                         {.k = 3,
                                          .candidates = 8,
                                          .score_fn =
                                              [&](const xmr::PairBatch& p, std::span<float> s) {
                                                ++(p.stream == stream ? seen : wrong);
                                                std::fill(s.begin(), s.end(), 0.0f);
                                              },
                                          .scorer_threads = 2,
                                          .device = Device::Cpu,
                                          .resources = &res});
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(seen.load(), r.stats.scorer_calls);
}

TEST_F(PipelineFixture, ListwiseBatchesHoldWholeQueries) {
  for (const auto& [batch, calls] : std::vector<std::pair<std::int64_t, std::int64_t>>{{50, 5}, {10, 9}, {1000, 1}}) {
    std::atomic<std::int64_t> partial{0};
    auto fn = [&](const xmr::PairBatch& p, std::span<float> s) {
      std::map<std::int64_t, std::int64_t> per_query;
      for (const std::int64_t r : p.query_rows) ++per_query[r];
      for (const auto& [row, n] : per_query) partial += n == 20 ? 0 : 1;
      for (std::size_t i = 0; i < s.size(); ++i) s[i] = p.similarity[i];
    };
    const PipelineResult r = xmr::retrieve(
        c, queries(), {.k = 5, .candidates = 20, .score_fn = fn, .scorer_batch = batch, .listwise = true});
    EXPECT_EQ(partial.load(), 0) << "batch " << batch;
    EXPECT_EQ(r.stats.scorer_calls, calls) << "batch " << batch;
    EXPECT_EQ(r.stats.reranked, nq * 20);
  }
}

// ---------------------------------------------------------------------------------------------
// Multi-vector items (late interaction) in the pipeline.

struct MvData {
  std::int64_t n = 0;
  std::int64_t dim = 0;
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> offsets;
  std::vector<float> vectors;
  std::vector<std::uint8_t> codes;
  std::vector<std::uint8_t> labels;  // [n x 3]
};

MvData make_mv(std::uint64_t seed, std::int64_t n, std::int64_t dim, std::int64_t max_vectors) {
  Rng rng(seed);
  MvData d;
  d.n = n;
  d.dim = dim;
  d.ids = xmr_test::random_ids(rng, n, 7, 2);
  d.offsets.push_back(0);
  for (std::int64_t i = 0; i < n; ++i) d.offsets.push_back(d.offsets.back() + rng.uniform_int(1, max_vectors));
  d.vectors = xmr_test::random_matrix(rng, d.offsets.back(), dim);
  d.codes.resize(static_cast<std::size_t>(n * 4));
  for (auto& b : d.codes) b = static_cast<std::uint8_t>(rng.bits());
  d.labels.resize(static_cast<std::size_t>(n * 3));
  for (auto& l : d.labels) l = rng.uniform() < 0.4 ? 1 : 0;
  return d;
}

TEST(PipelineMultiVector, ShortlistFilterAndRescoreMatchBruteForce) {
  const MvData d = make_mv(31, 150, 13, 6);
  Collection c(CollectionOptions{.name = "mv", .multi_vector_dim = 13, .code_bits = 32, .num_labels = 3});
  c.add({.ids = d.ids,
         .vectors = {MatrixView<const float>(d.vectors.data(), d.offsets.back(), 13), d.offsets},
         .codes = MatrixView<const std::uint8_t>(d.codes.data(), d.n, 4),
         .labels = MatrixView<const std::uint8_t>(d.labels.data(), d.n, 3)});
  Rng rng(32);
  const std::vector<std::int64_t> q_offsets = {0, 1, 3, 7, 8, 10};
  const std::vector<float> qv = xmr_test::random_matrix(rng, 10, 13);
  std::vector<std::uint8_t> qc(5 * 4);
  for (auto& b : qc) b = static_cast<std::uint8_t>(rng.bits());
  auto ref_over = [&](const std::vector<std::int64_t>& offs, std::int64_t nqv, bool sum, auto keep) {
    std::vector<double> items;
    std::vector<std::int64_t> item_offsets{0};
    std::vector<std::int64_t> ids;
    for (std::int64_t i = 0; i < d.n; ++i) {
      if (!keep(i)) continue;
      const auto a = d.offsets[static_cast<std::size_t>(i)];
      const auto b = d.offsets[static_cast<std::size_t>(i + 1)];
      items.insert(items.end(), d.vectors.begin() + a * 13, d.vectors.begin() + b * 13);
      item_offsets.push_back(item_offsets.back() + (b - a));
      ids.push_back(d.ids[static_cast<std::size_t>(i)]);
    }
    const std::vector<double> q(qv.begin(), qv.begin() + nqv * 13);
    return xmr_test::make_multi_vector_reference(items, item_offsets, ids, q, offs, 13, Metric::Cosine, sum);
  };
  auto all = [](std::int64_t) { return true; };
  std::vector<std::int64_t> single(11);
  std::iota(single.begin(), single.end(), 0);
  for (const bool multi : {true, false}) {
    Queries q;
    q.vectors = multi ? xmr::MultiVectorBatch{MatrixView<const float>(qv.data(), 10, 13), q_offsets}
                      : xmr::MultiVectorBatch{MatrixView<const float>(qv.data(), 10, 13), {}};
    const std::vector<std::int64_t>& offs = multi ? q_offsets : single;
    for (const bool sum : {false, true}) {
      const auto reduce = sum ? xmr::MultiVectorReduce::SumMaxSim : xmr::MultiVectorReduce::MaxSim;
      const double tol = xmr_test::accumulation_tolerance(sum ? 13 + 4 : 13);
      const std::string what = std::string(multi ? "multi" : "single") + (sum ? " summax" : " max") + " (seed 31)";
      const PipelineResult r = xmr::retrieve(
          c, q, {.k = 10, .candidates = 150, .shortlist = xmr::ShortlistBy::MultiVector, .reduce = reduce});
      xmr_test::expect_topk_matches(view_of(r), ref_over(offs, 10, sum, all), tol, what);
      // Filtered (a copy of the passing items is searched).
      auto keep = [&](std::int64_t i) { return d.labels[static_cast<std::size_t>(i * 3 + 1)] != 0; };
      const PipelineResult rf = xmr::retrieve(c, q,
                                              {.k = 10,
                                               .candidates = 20,
                                               .shortlist = xmr::ShortlistBy::MultiVector,
                                               .reduce = reduce,
                                               .filter = {.any_labels = {1}}});
      xmr_test::expect_topk_matches(view_of(rf), ref_over(offs, 10, sum, keep), tol, what + " filtered");
    }
  }
  // A Hamming shortlist of everything re-scored by MaxSim is exact MaxSim search.
  Queries q;
  q.codes = MatrixView<const std::uint8_t>(qc.data(), 5, 4);
  q.vectors = {MatrixView<const float>(qv.data(), 10, 13), q_offsets};
  const PipelineResult r = xmr::retrieve(
      c, q, {.k = 10, .candidates = 150, .shortlist = xmr::ShortlistBy::Codes, .rescore = xmr::RescoreBy::MultiVector});
  xmr_test::expect_topk_matches(view_of(r), ref_over(q_offsets, 10, false, all), 2e-7, "codes + max rescore");
}

TEST(PipelineMultiVector, Blip2StyleCrossModalBothDirections) {
  // Images: several query-token vectors each (BLIP-2: 32); texts: one feature each.
  const MvData img = make_mv(41, 60, 16, 8);
  Rng rng(42);
  const std::vector<float> txt = xmr_test::random_matrix(rng, 90, 16);
  Collection images(CollectionOptions{.name = "images", .multi_vector_dim = 16});
  images.add({.vectors = {MatrixView<const float>(img.vectors.data(), img.offsets.back(), 16), img.offsets}});
  Collection texts(CollectionOptions{.name = "texts", .dim = 16, .multi_vector_dim = 16});
  std::vector<std::int64_t> one(91);
  std::iota(one.begin(), one.end(), 0);
  texts.add({.embeddings = MatrixView<const float>(txt.data(), 90, 16),
             .vectors = {MatrixView<const float>(txt.data(), 90, 16), one}});
  const xmr::CrossModalIndex index(std::move(images), std::move(texts));
  std::vector<std::int64_t> text_ids(90);
  std::iota(text_ids.begin(), text_ids.end(), 0);
  std::vector<std::int64_t> image_ids(60);
  std::iota(image_ids.begin(), image_ids.end(), 0);
  const std::vector<double> img_d(img.vectors.begin(), img.vectors.end());
  const std::vector<double> txt_d(txt.begin(), txt.end());
  const double tol = 4 * xmr_test::accumulation_tolerance(16);
  // Text -> image: each text's feature against every image's tokens, max.
  const PipelineResult t2i = index.search(xmr::Direction::TextToImage, text_ids,
                                          {.k = 5, .candidates = 60, .shortlist = xmr::ShortlistBy::MultiVector});
  xmr_test::expect_topk_matches(
      view_of(t2i),
      xmr_test::make_multi_vector_reference(img_d, img.offsets, image_ids, txt_d, one, 16, Metric::Cosine, false), tol,
      "t2i (seed 41)");
  // Image -> text: each image's tokens against every text, max.
  const PipelineResult i2t = index.search(xmr::Direction::ImageToText, image_ids,
                                          {.k = 5, .candidates = 90, .shortlist = xmr::ShortlistBy::MultiVector});
  const auto ref_i2t =
      xmr_test::make_multi_vector_reference(txt_d, one, text_ids, img_d, img.offsets, 16, Metric::Cosine, false);
  xmr_test::expect_topk_matches(view_of(i2t), ref_i2t, tol, "i2t (seed 41)");
  // The same against texts stored with their embeddings only: MaxSim by a dense search per
  // image token (exact), with and without a filter (both of its strategies).
  Collection images2(CollectionOptions{.name = "images", .multi_vector_dim = 16});
  images2.add({.vectors = {MatrixView<const float>(img.vectors.data(), img.offsets.back(), 16), img.offsets}});
  Collection texts2(CollectionOptions{.name = "texts", .dim = 16, .num_labels = 1});
  std::vector<std::uint8_t> odd(90);
  for (std::size_t t = 0; t < 90; ++t) odd[t] = t % 2 == 1 ? 1 : 0;
  texts2.add({.embeddings = MatrixView<const float>(txt.data(), 90, 16),
              .labels = MatrixView<const std::uint8_t>(odd.data(), 90, 1)});
  const xmr::CrossModalIndex index2(std::move(images2), std::move(texts2));
  for (const std::int64_t candidates : {5, 40, 90}) {
    const PipelineResult r =
        index2.search(xmr::Direction::ImageToText, image_ids,
                      {.k = 5, .candidates = candidates, .shortlist = xmr::ShortlistBy::MultiVector});
    xmr_test::expect_topk_matches(view_of(r), ref_i2t, tol, "i2t over embeddings, C " + std::to_string(candidates));
    for (const std::vector<std::uint64_t>& bits :
         {xmr::make_id_bitset(std::vector<std::int64_t>{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89}),
          xmr::make_id_bitset(std::vector<std::int64_t>(text_ids.begin() + 2, text_ids.end()))}) {
      const PipelineResult rf = index2.search(xmr::Direction::ImageToText, image_ids,
                                              {.k = 5,
                                               .candidates = candidates,
                                               .shortlist = xmr::ShortlistBy::MultiVector,
                                               .filter = {.any_labels = {0}, .id_bitset = bits}});
      std::vector<double> items;
      std::vector<std::int64_t> offs{0};
      std::vector<std::int64_t> ids;
      for (std::int64_t t = 0; t < 90; ++t) {
        if (t % 2 == 0 || ((bits[static_cast<std::size_t>(t / 64)] >> (t % 64)) & 1U) == 0) continue;
        items.insert(items.end(), txt_d.begin() + t * 16, txt_d.begin() + (t + 1) * 16);
        offs.push_back(offs.back() + 1);
        ids.push_back(t);
      }
      xmr_test::expect_topk_matches(
          view_of(rf),
          xmr_test::make_multi_vector_reference(items, offs, ids, img_d, img.offsets, 16, Metric::Cosine, false), tol,
          "i2t over embeddings, filtered, C " + std::to_string(candidates));
    }
  }
  EXPECT_XMR_ERROR(
      index2.search(xmr::Direction::ImageToText, image_ids,
                    {.shortlist = xmr::ShortlistBy::MultiVector, .reduce = xmr::MultiVectorReduce::SumMaxSim}),
      ErrorCode::InvalidArgument, "options.reduce (= sum_max_sim)", "'texts'");
}

TEST(PipelineGpu, MatchesCpu) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  const Data d = make_data(21, 5000, 40, 128, 4, 50);
  Collection c = make_collection(d);
  Rng rng(22);
  const std::vector<float> qv = xmr_test::random_matrix(rng, 17, d.dim);
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(17 * 16));
  for (auto& b : qc) b = static_cast<std::uint8_t>(rng.bits());
  Queries q;
  q.embeddings = MatrixView<const float>(qv.data(), 17, d.dim);
  q.codes = MatrixView<const std::uint8_t>(qc.data(), 17, 16);
  for (const bool filter : {false, true}) {
    PipelineOptions o{
        .k = 10, .candidates = 64, .shortlist = xmr::ShortlistBy::Codes, .rescore = xmr::RescoreBy::Embeddings};
    if (filter) o.filter.any_labels = {2};
    o.device = Device::Cpu;
    const PipelineResult cpu = xmr::retrieve(c, q, o);
    o.device = Device::Gpu;
    const PipelineResult gpu = xmr::retrieve(c, q, o);
    EXPECT_EQ(gpu.device, Device::Gpu);
    expect_same(gpu, cpu, filter ? "codes + rescore, filtered" : "codes + rescore");  // integer stage 1
    o.shortlist = xmr::ShortlistBy::Embeddings;
    o.rescore = xmr::RescoreBy::None;
    const PipelineResult dg = xmr::retrieve(c, q, o);
    o.device = Device::Cpu;
    const PipelineResult dc = xmr::retrieve(c, q, o);
    const auto ref = reference_over(
        d, qv, 17, [&](std::int64_t i) { return !filter || d.labels[static_cast<std::size_t>(i * 4 + 2)] != 0; });
    xmr_test::expect_topk_matches(view_of(dg), ref, xmr_test::accumulation_tolerance(d.dim), "gpu dense");
    xmr_test::expect_topk_matches(view_of(dc), ref, xmr_test::accumulation_tolerance(d.dim), "cpu dense");
  }
}

}  // namespace
