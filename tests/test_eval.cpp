// xmr::eval: hand-worked values, brute-force definitions (stable sorts, and exhaustive
// enumeration of tied orders for TiePolicy::Average), Recall@K, precision@K / recall@K against
// ground truth / NDCG@K over result lists, the PR curve over Hamming radius (a transcription of
// the PyTorch `pr_curve` loop and of DCMH's pooled MATLAB one), and every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "common/expect_error.h"
#include "xmr/eval.h"

namespace {

using xmr::Metric;
using xmr::eval::MapOptions;
using xmr::eval::MapVariant;
using xmr::eval::TiePolicy;
using U8View = xmr::MatrixView<const std::uint8_t>;
using FView = xmr::MatrixView<const float>;
using IView = xmr::MatrixView<const std::int64_t>;

// ---- brute force ---------------------------------------------------------------------------

/// AP of one ranking straight from the definitions in xmr/eval.h.
double brute_ap(const std::vector<int>& rel, MapVariant v, std::int64_t k) {
  const auto n = static_cast<std::int64_t>(rel.size());
  const std::int64_t r_total = std::accumulate(rel.begin(), rel.end(), 0);
  if (v == MapVariant::All || v == MapVariant::KFirstRelevant) {
    if (r_total == 0) return 0.0;
    const std::int64_t t = v == MapVariant::All ? r_total : std::min(k, r_total);
    double s = 0;
    std::int64_t c = 0;
    for (std::int64_t j = 0; j < n && c < t; ++j)
      if (rel[static_cast<std::size_t>(j)] != 0) s += static_cast<double>(++c) / static_cast<double>(j + 1);
    return s / static_cast<double>(t);
  }
  double s = 0;
  std::int64_t c = 0;
  for (std::int64_t j = 0; j < std::min(k, n); ++j)
    if (rel[static_cast<std::size_t>(j)] != 0) s += static_cast<double>(++c) / static_cast<double>(j + 1);
  return c == 0 ? 0.0 : s / static_cast<double>(c);
}

/// Per-query AP from a key per item (smaller ranks first) and relevance per item. Stable:
/// std::stable_sort by key. Average: all orders within equal keys, enumerated (small n only).
double brute_query(const std::vector<double>& key, const std::vector<int>& rel, MapVariant v, std::int64_t k,
                   TiePolicy ties) {
  std::vector<std::size_t> order(key.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
  auto ap_of = [&](const std::vector<std::size_t>& o) {
    std::vector<int> r;
    for (auto i : o) r.push_back(rel[i]);
    return brute_ap(r, v, k);
  };
  if (ties == TiePolicy::AscendingIndex) return ap_of(order);
  // Every permutation consistent with the key order is equally likely.
  std::vector<std::size_t> perm(key.size());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  double sum = 0;
  std::int64_t count = 0;
  do {
    bool ok = true;
    for (std::size_t j = 1; j < perm.size() && ok; ++j) ok = key[perm[j - 1]] <= key[perm[j]];
    if (!ok) continue;
    sum += ap_of(perm);
    ++count;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return sum / static_cast<double>(count);
}

bool shares(const std::vector<std::uint8_t>& a, std::size_t ra, const std::vector<std::uint8_t>& b, std::size_t rb,
            std::size_t c) {
  for (std::size_t j = 0; j < c; ++j)
    if (a[ra * c + j] != 0 && b[rb * c + j] != 0) return true;
  return false;
}

int popcount_xor(const std::uint8_t* a, const std::uint8_t* b, std::size_t bytes) {
  int d = 0;
  for (std::size_t i = 0; i < bytes; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

struct Labelled {
  std::vector<std::uint8_t> ql, dl;
  std::int64_t c = 0;
};

Labelled random_labels(std::mt19937_64& rng, std::int64_t q, std::int64_t n, std::int64_t c, double p) {
  Labelled l;
  l.c = c;
  std::bernoulli_distribution bit(p);
  for (std::int64_t i = 0; i < q * c; ++i) l.ql.push_back(bit(rng) ? 1 : 0);
  for (std::int64_t i = 0; i < n * c; ++i) l.dl.push_back(bit(rng) ? 1 : 0);
  return l;
}

double brute_map_hamming(const std::vector<std::uint8_t>& qc, const std::vector<std::uint8_t>& dc, std::size_t bytes,
                         const Labelled& l, const MapOptions& o, std::vector<double>* per_query) {
  const std::size_t q = qc.size() / bytes;
  const std::size_t n = dc.size() / bytes;
  double sum = 0;
  for (std::size_t qi = 0; qi < q; ++qi) {
    std::vector<double> key(n);
    std::vector<int> rel(n);
    for (std::size_t i = 0; i < n; ++i) {
      key[i] = popcount_xor(&qc[qi * bytes], &dc[i * bytes], bytes);
      rel[i] = shares(l.ql, qi, l.dl, i, static_cast<std::size_t>(l.c)) ? 1 : 0;
    }
    const double ap = brute_query(key, rel, o.variant, o.k, o.ties);
    if (per_query != nullptr) per_query->push_back(ap);
    sum += ap;
  }
  return sum / static_cast<double>(q);
}

xmr::eval::MapResult run_hamming(const std::vector<std::uint8_t>& qc, const std::vector<std::uint8_t>& dc,
                                 std::int64_t bytes, const Labelled& l, const MapOptions& o) {
  const auto q = static_cast<std::int64_t>(qc.size()) / bytes;
  const auto n = static_cast<std::int64_t>(dc.size()) / bytes;
  return xmr::eval::map_hamming(U8View(qc.data(), q, bytes), U8View(dc.data(), n, bytes), U8View(l.ql.data(), q, l.c),
                                U8View(l.dl.data(), n, l.c), o);
}

std::vector<MapOptions> all_options(std::int64_t n, TiePolicy ties) {
  std::vector<MapOptions> out{{MapVariant::All, 0, ties}};
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{3}, n, n + 3}) {
    out.push_back({MapVariant::AtK, k, ties});
    out.push_back({MapVariant::KFirstRelevant, k, ties});
  }
  return out;
}

// ---- hand-worked ---------------------------------------------------------------------------

TEST(EvalMap, HandWorkedHamming) {
  // Query code 0x00. Database (index: code, distance, relevant):
  //   0: 0x07 d3 yes   1: 0x00 d0 yes   2: 0x0F d4 yes   3: 0x01 d1 no   4: 0x03 d2 no
  // Ranking 1, 3, 4, 0, 2 -> relevance 1 0 0 1 1, R = 3.
  //   map_all                = (1/1 + 2/4 + 3/5) / 3 = 2.1 / 3 = 0.7
  //   map_at_k, K = 4        = (1/1 + 2/4) / 2 = 0.75        K = 2: (1/1) / 1 = 1
  //   map_k_first, K = 2     = (1/1 + 2/4) / 2 = 0.75        K = 10: T = 3, = 0.7
  const std::vector<std::uint8_t> qc{0x00};
  const std::vector<std::uint8_t> dc{0x07, 0x00, 0x0F, 0x01, 0x03};
  const Labelled l{{1, 0}, {1, 0, 1, 0, 1, 1, 0, 1, 0, 1}, 2};
  auto r = run_hamming(qc, dc, 1, l, {});
  EXPECT_NEAR(r.map, 0.7, 1e-12);
  EXPECT_EQ(r.variant, "map_all");
  EXPECT_FALSE(r.k.has_value());
  EXPECT_EQ(r.tie_policy, "ascending_index");
  EXPECT_EQ(r.queries, 1);
  ASSERT_EQ(r.per_query_ap.size(), 1U);
  r = run_hamming(qc, dc, 1, l, {MapVariant::AtK, 4});
  EXPECT_NEAR(r.map, 0.75, 1e-12);
  EXPECT_EQ(r.variant, "map_at_k");
  EXPECT_EQ(r.k, 4);
  EXPECT_NEAR(run_hamming(qc, dc, 1, l, {MapVariant::AtK, 2}).map, 1.0, 1e-12);
  r = run_hamming(qc, dc, 1, l, {MapVariant::KFirstRelevant, 2});
  EXPECT_NEAR(r.map, 0.75, 1e-12);
  EXPECT_EQ(r.variant, "map_k_first_relevant");
  EXPECT_NEAR(run_hamming(qc, dc, 1, l, {MapVariant::KFirstRelevant, 10}).map, 0.7, 1e-12);
}

TEST(EvalMap, HandWorkedTiesAndEmptyQueries) {
  // Two identical database codes (distance 0), only index 1 relevant.
  //   ascending index: ranking 0, 1 -> relevance 0 1: AP = 1/2
  //   average: the orders (0 1) and (1 0) -> (1/2 + 1) / 2 = 0.75; AP@1 -> (0 + 1) / 2 = 0.5
  // A second query with no label: no relevant item, AP 0, still counted: map = 0.75 / 2.
  const std::vector<std::uint8_t> qc{0x00, 0x00};
  const std::vector<std::uint8_t> dc{0x00, 0x00};
  const Labelled l{{1, 0}, {0, 1}, 1};
  auto r = run_hamming(qc, dc, 1, l, {});
  EXPECT_NEAR(r.per_query_ap[0], 0.5, 1e-12);
  EXPECT_EQ(r.per_query_ap[1], 0.0);
  EXPECT_NEAR(r.map, 0.25, 1e-12);
  EXPECT_EQ(r.queries, 2);
  r = run_hamming(qc, dc, 1, l, {MapVariant::All, 0, TiePolicy::Average});
  EXPECT_NEAR(r.per_query_ap[0], 0.75, 1e-12);
  EXPECT_NEAR(r.map, 0.375, 1e-12);
  EXPECT_EQ(r.tie_policy, "average");
  EXPECT_NEAR(run_hamming(qc, dc, 1, l, {MapVariant::AtK, 1, TiePolicy::Average}).per_query_ap[0], 0.5, 1e-12);
  EXPECT_NEAR(run_hamming(qc, dc, 1, l, {MapVariant::KFirstRelevant, 1, TiePolicy::Average}).per_query_ap[0], 0.75,
              1e-12);
}

// ---- against brute force -------------------------------------------------------------------

struct HammingCase {
  std::int64_t q, n, bytes, c;
  double label_p;
};

class EvalMapHammingRandom : public ::testing::TestWithParam<HammingCase> {};

TEST_P(EvalMapHammingRandom, StableMatchesBruteForce) {
  const auto p = GetParam();
  const std::uint64_t seed = 1000 + static_cast<std::uint64_t>(p.n * 7 + p.bytes);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(p.q * p.bytes)), dc(static_cast<std::size_t>(p.n * p.bytes));
  // Few distinct bits: many equal distances.
  std::uniform_int_distribution<int> byte(0, 3);
  for (auto& b : qc) b = static_cast<std::uint8_t>(byte(rng));
  for (auto& b : dc) b = static_cast<std::uint8_t>(byte(rng));
  const auto l = random_labels(rng, p.q, p.n, p.c, p.label_p);
  for (const auto& o : all_options(p.n, TiePolicy::AscendingIndex)) {
    std::vector<double> per;
    const double expect = brute_map_hamming(qc, dc, static_cast<std::size_t>(p.bytes), l, o, &per);
    const auto r = run_hamming(qc, dc, p.bytes, l, o);
    EXPECT_NEAR(r.map, expect, 1e-6) << r.variant << " k " << o.k;
    for (std::size_t i = 0; i < per.size(); ++i) EXPECT_NEAR(r.per_query_ap[i], per[i], 1e-9);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, EvalMapHammingRandom,
                         ::testing::Values(HammingCase{5, 1, 1, 1, 0.5}, HammingCase{20, 7, 3, 3, 0.3},
                                           HammingCase{30, 50, 5, 70, 0.03}, HammingCase{17, 300, 1, 4, 0.2},
                                           HammingCase{9, 129, 2, 65, 0.02}, HammingCase{12, 40, 16, 3, 0.3},
                                           HammingCase{7, 33, 20, 2, 0.4}, HammingCase{9, 25, 9, 130, 0.02}));

TEST(EvalMap, AverageMatchesEnumeration) {
  // Small rankings with heavy ties: every consistent order enumerated.
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const std::int64_t n = 1 + static_cast<std::int64_t>(seed % 7);
    const std::vector<std::uint8_t> pool{0x00, 0x01, 0x03};
    std::uniform_int_distribution<std::size_t> pick(0, seed % 2 == 0 ? 0 : 2);  // even seeds: all tied
    std::vector<std::uint8_t> qc(3), dc(static_cast<std::size_t>(n));
    for (auto& b : qc) b = pool[pick(rng)];
    for (auto& b : dc) b = pool[pick(rng)];
    const auto l = random_labels(rng, 3, n, 2, 0.4);
    for (const auto& o : all_options(n, TiePolicy::Average)) {
      std::vector<double> per;
      const double expect = brute_map_hamming(qc, dc, 1, l, o, &per);
      const auto r = run_hamming(qc, dc, 1, l, o);
      EXPECT_NEAR(r.map, expect, 1e-9) << r.variant << " k " << o.k << " n " << n;
    }
  }
}

// ---- dense ---------------------------------------------------------------------------------

double brute_map_dense(const std::vector<float>& qv, const std::vector<float>& dv, std::size_t dim, Metric metric,
                       const Labelled& l, const MapOptions& o) {
  const std::size_t q = qv.size() / dim;
  const std::size_t n = dv.size() / dim;
  auto norm = [&](const std::vector<float>& v, std::size_t r) {
    double s = 0;
    for (std::size_t j = 0; j < dim; ++j)
      s += static_cast<double>(v[r * dim + j]) * static_cast<double>(v[r * dim + j]);
    return metric == Metric::Cosine ? std::sqrt(s) : 1.0;
  };
  double sum = 0;
  for (std::size_t qi = 0; qi < q; ++qi) {
    std::vector<double> key(n);
    std::vector<int> rel(n);
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < dim; ++j)
        s += static_cast<double>(qv[qi * dim + j]) * static_cast<double>(dv[i * dim + j]);
      key[i] = -s / (norm(qv, qi) * norm(dv, i));
      rel[i] = shares(l.ql, qi, l.dl, i, static_cast<std::size_t>(l.c)) ? 1 : 0;
    }
    sum += brute_query(key, rel, o.variant, o.k, o.ties);
  }
  return sum / static_cast<double>(q);
}

TEST(EvalMapDense, IntegerVectorsWithTiesMatchBruteForce) {
  // Entries in {-1, 0, 1}: float inner products are exact, so ties (and duplicates) are exact.
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const std::int64_t n = seed <= 6 ? 1 + static_cast<std::int64_t>(seed) : 200;
    const std::int64_t q = 6;
    const std::int64_t dim = 3;
    std::uniform_int_distribution<int> v(-1, 1);
    std::vector<float> qv(static_cast<std::size_t>(q * dim)), dv(static_cast<std::size_t>(n * dim));
    for (auto& x : qv) x = static_cast<float>(v(rng));
    for (auto& x : dv) x = static_cast<float>(v(rng));
    const auto l = random_labels(rng, q, n, 3, 0.3);
    const TiePolicy ties = n <= 7 ? TiePolicy::Average : TiePolicy::AscendingIndex;
    for (const auto& o : all_options(n, ties)) {
      const double expect = brute_map_dense(qv, dv, static_cast<std::size_t>(dim), Metric::InnerProduct, l, o);
      const auto r = xmr::eval::map_dense(FView(qv.data(), q, dim), FView(dv.data(), n, dim), Metric::InnerProduct,
                                          U8View(l.ql.data(), q, 3), U8View(l.dl.data(), n, 3), o);
      EXPECT_NEAR(r.map, expect, 1e-9) << r.variant << " k " << o.k;
    }
  }
}

TEST(EvalMapDense, CosineMatchesBruteForce) {
  const std::uint64_t seed = 77;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  const std::int64_t q = 25, n = 400, dim = 16;
  std::vector<float> qv(static_cast<std::size_t>(q * dim)), dv(static_cast<std::size_t>(n * dim));
  for (auto& x : qv) x = g(rng);
  for (auto& x : dv) x = g(rng);
  const auto l = random_labels(rng, q, n, 10, 0.1);
  for (const auto& o : all_options(n, TiePolicy::AscendingIndex)) {
    const double expect = brute_map_dense(qv, dv, static_cast<std::size_t>(dim), Metric::Cosine, l, o);
    const auto r = xmr::eval::map_dense(FView(qv.data(), q, dim), FView(dv.data(), n, dim), Metric::Cosine,
                                        U8View(l.ql.data(), q, 10), U8View(l.dl.data(), n, 10), o);
    EXPECT_NEAR(r.map, expect, 1e-6) << r.variant << " k " << o.k;
  }
}

TEST(EvalMapDense, SignedZerosTie) {
  // Query -1 against {0, -0, 0, -1, 1}: scores -0, +0, -0, 1, -1 (or +0 throughout, as the BLAS
  // accumulates). -0 == +0, so items 0, 1, 2 tie and stay in index order: ranking 3, 0, 1, 2, 4.
  // Only item 1 relevant: AP = 1/3 (a sort on the raw float bits would put +0 ahead of -0).
  const std::vector<float> qv{-1.0F};
  const std::vector<float> dv{0.0F, -0.0F, 0.0F, -1.0F, 1.0F};
  const std::vector<std::uint8_t> ql{1}, dl{0, 1, 0, 0, 0};
  const auto r = xmr::eval::map_dense(FView(qv.data(), 1, 1), FView(dv.data(), 5, 1), Metric::InnerProduct,
                                      U8View(ql.data(), 1, 1), U8View(dl.data(), 5, 1));
  EXPECT_NEAR(r.map, 1.0 / 3.0, 1e-12);
  // Average over the 3! orders of the tie: item 1 at positions 2, 3, 4 equally: (1/2 + 1/3 + 1/4) / 3.
  const auto a =
      xmr::eval::map_dense(FView(qv.data(), 1, 1), FView(dv.data(), 5, 1), Metric::InnerProduct,
                           U8View(ql.data(), 1, 1), U8View(dl.data(), 5, 1), {MapVariant::All, 0, TiePolicy::Average});
  EXPECT_NEAR(a.map, (0.5 + 1.0 / 3.0 + 0.25) / 3.0, 1e-12);
}

// ---- recall --------------------------------------------------------------------------------

TEST(EvalRecall, HandWorkedWithTies) {
  // Images e1, e2; two captions each: t0 = e1, t1 = e2 (image 0), t2 = e2, t3 = e1 (image 1).
  // i2t: image 0 scores (1 0 0 1): best caption t0, rank 0. Image 1 scores (0 1 1 0): best
  //   caption t2, behind t1 (equal score, smaller index): rank 1. R@1 = 1/2, R@5 = 1.
  // t2i: t0 -> image 0 rank 0; t1 (= e2) -> image 0 scores 0 < 1: rank 1; t2 -> rank 0;
  //   t3 (= e1) -> image 1 rank 1. R@1 = 1/2, R@5 = 1.
  const std::vector<float> im{1, 0, 0, 1};
  const std::vector<float> tx{1, 0, 0, 1, 0, 1, 1, 0};
  const auto r = xmr::eval::recall_at_k(FView(im.data(), 2, 2), FView(tx.data(), 4, 2), 2);
  EXPECT_DOUBLE_EQ(r.i2t_r1, 0.5);
  EXPECT_DOUBLE_EQ(r.i2t_r5, 1.0);
  EXPECT_DOUBLE_EQ(r.i2t_r10, 1.0);
  EXPECT_DOUBLE_EQ(r.t2i_r1, 0.5);
  EXPECT_DOUBLE_EQ(r.t2i_r10, 1.0);
  EXPECT_DOUBLE_EQ(r.i2t_mean, 2.5 / 3.0);
  EXPECT_DOUBLE_EQ(r.r_mean, 2.5 / 3.0);
}

TEST(EvalRecall, MatchesBruteForceRanks) {
  const std::uint64_t seed = 5;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  const std::int64_t ni = 40, cpi = 5, nt = ni * cpi, dim = 6;
  std::vector<float> im(static_cast<std::size_t>(ni * dim)), tx(static_cast<std::size_t>(nt * dim));
  for (auto& x : im) x = g(rng);
  for (std::int64_t t = 0; t < nt; ++t)  // captions near their image: a spread of ranks
    for (std::int64_t j = 0; j < dim; ++j)
      tx[static_cast<std::size_t>(t * dim + j)] = im[static_cast<std::size_t>(t / cpi * dim + j)] + 1.5F * g(rng);
  auto unit = [&](const std::vector<float>& v, std::int64_t r) {
    std::vector<double> u(static_cast<std::size_t>(dim));
    double s = 0;
    for (std::int64_t j = 0; j < dim; ++j)
      s += static_cast<double>(v[static_cast<std::size_t>(r * dim + j)]) *
           static_cast<double>(v[static_cast<std::size_t>(r * dim + j)]);
    for (std::int64_t j = 0; j < dim; ++j)
      u[static_cast<std::size_t>(j)] = static_cast<double>(v[static_cast<std::size_t>(r * dim + j)]) / std::sqrt(s);
    return u;
  };
  auto cos = [&](std::int64_t i, std::int64_t t) {
    const auto a = unit(im, i), b = unit(tx, t);
    return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
  };
  std::vector<std::int64_t> i2t(static_cast<std::size_t>(ni)), t2i(static_cast<std::size_t>(nt));
  for (std::int64_t i = 0; i < ni; ++i) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(nt));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return cos(i, a) > cos(i, b); });
    std::int64_t best = nt;
    for (std::int64_t p = 0; p < nt; ++p)
      if (order[static_cast<std::size_t>(p)] / cpi == i) best = std::min(best, p);
    i2t[static_cast<std::size_t>(i)] = best;
  }
  for (std::int64_t t = 0; t < nt; ++t) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(ni));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return cos(a, t) > cos(b, t); });
    t2i[static_cast<std::size_t>(t)] = std::find(order.begin(), order.end(), t / cpi) - order.begin();
  }
  auto rec = [](const std::vector<std::int64_t>& r, std::int64_t k) {
    return static_cast<double>(std::count_if(r.begin(), r.end(), [k](std::int64_t x) { return x < k; })) /
           static_cast<double>(r.size());
  };
  const auto r = xmr::eval::recall_at_k(FView(im.data(), ni, dim), FView(tx.data(), nt, dim), cpi);
  EXPECT_DOUBLE_EQ(r.i2t_r1, rec(i2t, 1));
  EXPECT_DOUBLE_EQ(r.i2t_r5, rec(i2t, 5));
  EXPECT_DOUBLE_EQ(r.i2t_r10, rec(i2t, 10));
  EXPECT_DOUBLE_EQ(r.t2i_r1, rec(t2i, 1));
  EXPECT_DOUBLE_EQ(r.t2i_r5, rec(t2i, 5));
  EXPECT_DOUBLE_EQ(r.t2i_r10, rec(t2i, 10));
  EXPECT_LT(r.t2i_r1, 1.0);  // the data is not trivial
  EXPECT_GT(r.t2i_r10, 0.0);
}

// ---- metrics over result lists: brute force ----------------------------------------------

/// Result lists: row q is a random permutation of a random subset of [0, n), of length in
/// [min_len, l], padded with -1.
std::vector<std::int64_t> random_ranked(std::mt19937_64& rng, std::int64_t q, std::int64_t n, std::int64_t l,
                                        std::int64_t min_len) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(q * l), -1);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < q; ++r) {
    std::iota(ids.begin(), ids.end(), std::int64_t{0});
    std::shuffle(ids.begin(), ids.end(), rng);
    std::uniform_int_distribution<std::int64_t> len_dist(std::min(min_len, std::min(l, n)), std::min(l, n));
    const std::int64_t len = len_dist(rng);
    for (std::int64_t j = 0; j < len; ++j) out[static_cast<std::size_t>(r * l + j)] = ids[static_cast<std::size_t>(j)];
  }
  return out;
}

int overlap(const Labelled& l, std::size_t qi, std::size_t i) {
  int g = 0;
  const auto c = static_cast<std::size_t>(l.c);
  for (std::size_t j = 0; j < c; ++j) g += (l.ql[qi * c + j] != 0 && l.dl[i * c + j] != 0) ? 1 : 0;
  return g;
}

/// precision@K: relevant among the first min(K, N) entries (padding not relevant) / min(K, N).
double brute_precision(const std::vector<std::int64_t>& ranked, std::int64_t l, const Labelled& lab, std::int64_t n,
                       std::size_t qi, std::int64_t k) {
  const std::int64_t w = std::min(k, n);
  int hits = 0;
  for (std::int64_t j = 0; j < w; ++j) {
    const std::int64_t id = ranked[qi * static_cast<std::size_t>(l) + static_cast<std::size_t>(j)];
    if (id >= 0 && overlap(lab, qi, static_cast<std::size_t>(id)) > 0) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(w);
}

/// NDCG@K: DCG of the list over the DCG of all N items sorted by gain, both over min(K, N)
/// positions, gain 2^overlap - 1, discount 1 / log2(position + 1); 0 when the ideal DCG is 0.
double brute_ndcg(const std::vector<std::int64_t>& ranked, std::int64_t l, const Labelled& lab, std::int64_t n,
                  std::size_t qi, std::int64_t k) {
  const std::int64_t w = std::min(k, n);
  std::vector<int> all;
  for (std::int64_t i = 0; i < n; ++i) all.push_back(overlap(lab, qi, static_cast<std::size_t>(i)));
  std::sort(all.rbegin(), all.rend());
  double ideal = 0, dcg = 0;
  for (std::int64_t j = 0; j < w; ++j) {
    const double disc = std::log2(static_cast<double>(j) + 2.0);
    ideal += (std::pow(2.0, all[static_cast<std::size_t>(j)]) - 1.0) / disc;
    const std::int64_t id = ranked[qi * static_cast<std::size_t>(l) + static_cast<std::size_t>(j)];
    if (id >= 0) dcg += (std::pow(2.0, overlap(lab, qi, static_cast<std::size_t>(id))) - 1.0) / disc;
  }
  return ideal == 0 ? 0.0 : dcg / ideal;
}

struct RankedCase {
  std::int64_t q, n, l, c;
  double label_p;
  std::int64_t min_len;  // shortest list before padding
};

class EvalRankedRandom : public ::testing::TestWithParam<RankedCase> {};

TEST_P(EvalRankedRandom, PrecisionAndNdcgMatchBruteForce) {
  const auto p = GetParam();
  const std::uint64_t seed = 4000 + static_cast<std::uint64_t>(p.n * 13 + p.l * 3 + p.c);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const auto lab = random_labels(rng, p.q, p.n, p.c, p.label_p);
  std::vector<std::uint8_t> ql = lab.ql;
  // The first query has no label: nothing is relevant (IDCG = 0).
  std::fill(ql.begin(), ql.begin() + p.c, std::uint8_t{0});
  const Labelled l{ql, lab.dl, p.c};
  std::int64_t expect_no_relevant = 0;
  for (std::int64_t qi = 0; qi < p.q; ++qi) {
    bool any = false;
    for (std::int64_t i = 0; i < p.n && !any; ++i)
      any = overlap(l, static_cast<std::size_t>(qi), static_cast<std::size_t>(i)) > 0;
    expect_no_relevant += any ? 0 : 1;
  }
  const auto ranked = random_ranked(rng, p.q, p.n, p.l, p.min_len);
  const IView rv(ranked.data(), p.q, p.l);
  const U8View qv(l.ql.data(), p.q, p.c), dv(l.dl.data(), p.n, p.c);
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, p.l, p.n, p.n + 4}) {
    if (std::min(k, p.n) > p.l) continue;  // the window must be covered by the lists
    SCOPED_TRACE(::testing::Message() << "k " << k);
    const auto pr = xmr::eval::precision_at_k(rv, qv, dv, k);
    const auto nd = xmr::eval::ndcg_at_k(rv, qv, dv, k);
    EXPECT_EQ(pr.metric, "precision_at_k");
    EXPECT_EQ(nd.metric, "ndcg_at_k");
    EXPECT_EQ(pr.k, k);
    EXPECT_EQ(pr.queries, p.q);
    EXPECT_EQ(nd.queries, p.q);
    EXPECT_EQ(pr.skipped_queries, 0);
    EXPECT_EQ(pr.no_relevant_queries, expect_no_relevant);
    EXPECT_EQ(nd.no_relevant_queries, expect_no_relevant);
    double psum = 0, nsum = 0;
    for (std::int64_t qi = 0; qi < p.q; ++qi) {
      const auto i = static_cast<std::size_t>(qi);
      const double pe = brute_precision(ranked, p.l, l, p.n, i, k);
      const double ne = brute_ndcg(ranked, p.l, l, p.n, i, k);
      EXPECT_NEAR(pr.per_query[i], pe, 1e-12) << "query " << qi;
      EXPECT_NEAR(nd.per_query[i], ne, 1e-12) << "query " << qi;
      psum += pe;
      nsum += ne;
    }
    EXPECT_NEAR(pr.mean, psum / static_cast<double>(p.q), 1e-6);
    EXPECT_NEAR(nd.mean, nsum / static_cast<double>(p.q), 1e-6);
    EXPECT_EQ(pr.per_query[0], 0.0);
    EXPECT_EQ(nd.per_query[0], 0.0);
  }
}

TEST_P(EvalRankedRandom, NeighborRecallMatchesBruteForce) {
  const auto p = GetParam();
  const std::uint64_t seed = 5000 + static_cast<std::uint64_t>(p.n * 13 + p.l * 3 + p.c);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const auto ranked = random_ranked(rng, p.q, p.n, p.l, p.min_len);
  const std::int64_t g = std::max<std::int64_t>(1, p.l / 2 + 1);
  // Ground truth: random subsets, any length 0..g (length 0: skipped); row 0 always empty.
  auto truth = random_ranked(rng, p.q, p.n, g, 0);
  std::fill(truth.begin(), truth.begin() + g, std::int64_t{-1});
  // Row 1: the head of ranked row 1 (its first g entries, padding included), so it has hits.
  if (p.q > 1)
    for (std::int64_t j = 0; j < g; ++j)
      truth[static_cast<std::size_t>(g + j)] = j < p.l ? ranked[static_cast<std::size_t>(p.l + j)] : -1;
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{2}, p.l}) {
    if (k > p.l) continue;
    SCOPED_TRACE(::testing::Message() << "k " << k);
    bool any = false;
    for (std::int64_t qi = 0; qi < p.q; ++qi) any = any || truth[static_cast<std::size_t>(qi * g)] >= 0;
    if (!any) continue;
    const auto r = xmr::eval::neighbor_recall_at_k(IView(ranked.data(), p.q, p.l), IView(truth.data(), p.q, g), k);
    EXPECT_EQ(r.metric, "neighbor_recall_at_k");
    double sum = 0;
    std::int64_t counted = 0;
    for (std::int64_t qi = 0; qi < p.q; ++qi) {
      std::vector<std::int64_t> t;
      for (std::int64_t j = 0; j < g; ++j)
        if (truth[static_cast<std::size_t>(qi * g + j)] >= 0) t.push_back(truth[static_cast<std::size_t>(qi * g + j)]);
      const auto i = static_cast<std::size_t>(qi);
      if (t.empty()) {
        EXPECT_TRUE(std::isnan(r.per_query[i])) << "query " << qi;
        continue;
      }
      std::int64_t found = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        const std::int64_t id = ranked[static_cast<std::size_t>(qi * p.l + j)];
        if (id >= 0 && std::find(t.begin(), t.end(), id) != t.end()) ++found;
      }
      const double e = static_cast<double>(found) / static_cast<double>(t.size());
      EXPECT_NEAR(r.per_query[i], e, 1e-12) << "query " << qi;
      sum += e;
      ++counted;
    }
    EXPECT_EQ(r.queries, counted);
    EXPECT_EQ(r.skipped_queries, p.q - counted);
    EXPECT_EQ(r.no_relevant_queries, 0);
    EXPECT_NEAR(r.mean, sum / static_cast<double>(counted), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, EvalRankedRandom,
                         ::testing::Values(RankedCase{4, 1, 1, 2, 0.6, 1},     // N = 1
                                           RankedCase{6, 1, 3, 1, 0.5, 0},     // N = 1 < L, padding
                                           RankedCase{9, 5, 5, 3, 0.4, 5},     // full rankings, K > N
                                           RankedCase{9, 5, 8, 5, 0.5, 2},     // L > N, padding
                                           RankedCase{25, 50, 10, 6, 0.3, 4},  // K > L skipped
                                           RankedCase{13, 200, 37, 70, 0.05, 30},
                                           RankedCase{11, 64, 64, 65, 0.04, 60}));

TEST(EvalRanked, HammingRankingWithTiesIsDcmhPrecision) {
  // DCMH's topK precision: sort by Hamming distance (ties by ascending index, MATLAB's stable
  // sort), count relevant items among the first K, divide by K. precision_at_k on that ranking
  // must agree, as must ndcg_at_k with a brute force over the same order.
  const std::uint64_t seed = 31;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const std::int64_t q = 8, n = 60, c = 4;
  std::uniform_int_distribution<int> byte(0, 3);  // few distinct distances: many ties
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(q)), dc(static_cast<std::size_t>(n));
  for (auto& b : qc) b = static_cast<std::uint8_t>(byte(rng));
  for (auto& b : dc) b = static_cast<std::uint8_t>(byte(rng));
  const auto l = random_labels(rng, q, n, c, 0.3);
  std::vector<std::int64_t> ranked;
  for (std::int64_t qi = 0; qi < q; ++qi) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return popcount_xor(&qc[static_cast<std::size_t>(qi)], &dc[static_cast<std::size_t>(a)], 1) <
             popcount_xor(&qc[static_cast<std::size_t>(qi)], &dc[static_cast<std::size_t>(b)], 1);
    });
    ranked.insert(ranked.end(), order.begin(), order.end());
  }
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{10}, std::int64_t{60}}) {
    double expect = 0;
    for (std::int64_t qi = 0; qi < q; ++qi) {
      int hits = 0;
      for (std::int64_t j = 0; j < k; ++j)
        hits += shares(l.ql, static_cast<std::size_t>(qi), l.dl,
                       static_cast<std::size_t>(ranked[static_cast<std::size_t>(qi * n + j)]), 4)
                    ? 1
                    : 0;
      expect += static_cast<double>(hits) / static_cast<double>(k);
    }
    const auto r =
        xmr::eval::precision_at_k(IView(ranked.data(), q, n), U8View(l.ql.data(), q, c), U8View(l.dl.data(), n, c), k);
    EXPECT_NEAR(r.mean, expect / static_cast<double>(q), 1e-12) << "k " << k;
  }
}

// ---- metrics over result lists: hand-worked ------------------------------------------------

TEST(EvalRanked, HandWorkedPrecision) {
  // The ranking of HandWorkedHamming: 1, 3, 4, 0, 2 with relevance 1 0 0 1 1 (N = 5).
  //   P@1 = 1, P@2 = 1/2, P@3 = 1/3, P@5 = 3/5; K = 10 > N: 3 / min(10, 5) = 3/5.
  // A second query returned only 1, 3 then padding: P@3 = 1/3 (padding is not relevant).
  // A third query without labels: 0 (counted), no_relevant_queries = 1.
  const std::vector<std::int64_t> ranked{1, 3, 4, 0, 2, 1, 3, -1, -1, -1, 0, 1, 2, 3, 4};
  const std::vector<std::uint8_t> ql{1, 0, 1, 0, 0, 0};
  const std::vector<std::uint8_t> dl{1, 0, 1, 0, 1, 1, 0, 1, 0, 1};
  const IView rv(ranked.data(), 3, 5);
  const U8View qv(ql.data(), 3, 2), dv(dl.data(), 5, 2);
  auto r = xmr::eval::precision_at_k(rv, qv, dv, 1);
  EXPECT_DOUBLE_EQ(r.per_query[0], 1.0);
  EXPECT_DOUBLE_EQ(r.per_query[1], 1.0);
  EXPECT_DOUBLE_EQ(r.per_query[2], 0.0);
  EXPECT_DOUBLE_EQ(r.mean, 2.0 / 3.0);
  EXPECT_EQ(r.queries, 3);
  EXPECT_EQ(r.no_relevant_queries, 1);
  EXPECT_DOUBLE_EQ(xmr::eval::precision_at_k(rv, qv, dv, 2).per_query[0], 0.5);
  r = xmr::eval::precision_at_k(rv, qv, dv, 3);
  EXPECT_DOUBLE_EQ(r.per_query[0], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.per_query[1], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(xmr::eval::precision_at_k(rv, qv, dv, 5).per_query[0], 0.6);
  r = xmr::eval::precision_at_k(rv, qv, dv, 10);
  EXPECT_EQ(r.k, 10);
  EXPECT_DOUBLE_EQ(r.per_query[0], 0.6);
  EXPECT_DOUBLE_EQ(r.per_query[1], 0.2);
}

TEST(EvalRanked, HandWorkedNdcg) {
  // Classes A, B, C. Query {A, B}. Items: 0 {A} gain 1, 1 {A, B} gain 2, 2 {C} gain 0, 3 {B} gain 1.
  // Ranked 2, 0, 1, 3: gains 0 1 2 1, i.e. 2^g - 1 = 0 1 3 1; discounts 1, 1/log2 3, 1/2, 1/log2 5.
  //   K = 3: DCG = 1/log2 3 + 3/2;  ideal gains 2 1 1: IDCG = 3 + 1/log2 3 + 1/2.
  //   K = 10 > N = 4: DCG adds 1/log2 5; IDCG adds 0 (the fourth ideal gain is 0).
  // A second query {C} whose list is 3, -1, ...: DCG = 0, IDCG = 1 (item 2 first): NDCG 0.
  // A third query without labels: IDCG = 0 -> 0, counted, no_relevant_queries = 1.
  const std::vector<std::int64_t> ranked{2, 0, 1, 3, 3, -1, -1, -1, 0, 1, 2, 3};
  const std::vector<std::uint8_t> ql{1, 1, 0, 0, 0, 1, 0, 0, 0};
  const std::vector<std::uint8_t> dl{1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0};
  const IView rv(ranked.data(), 3, 4);
  const U8View qv(ql.data(), 3, 3), dv(dl.data(), 4, 3);
  const double l3 = std::log2(3.0), l5 = std::log2(5.0);
  auto r = xmr::eval::ndcg_at_k(rv, qv, dv, 3);
  EXPECT_NEAR(r.per_query[0], (1 / l3 + 1.5) / (3 + 1 / l3 + 0.5), 1e-12);
  EXPECT_EQ(r.per_query[1], 0.0);
  EXPECT_EQ(r.per_query[2], 0.0);
  EXPECT_EQ(r.queries, 3);
  EXPECT_EQ(r.no_relevant_queries, 1);
  EXPECT_NEAR(r.mean, (1 / l3 + 1.5) / (3 + 1 / l3 + 0.5) / 3, 1e-12);
  r = xmr::eval::ndcg_at_k(rv, qv, dv, 10);
  EXPECT_NEAR(r.per_query[0], (1 / l3 + 1.5 + 1 / l5) / (3 + 1 / l3 + 0.5), 1e-12);
  // K = 1: the first entry has gain 0, the ideal one gain 2: 0.
  EXPECT_EQ(xmr::eval::ndcg_at_k(rv, qv, dv, 1).per_query[0], 0.0);
}

TEST(EvalRanked, NdcgManyLabelsDoesNotOverflow) {
  // 1100 shared labels: 2^1100 overflows a double; the ratio must still be exact. Items 0 and 1
  // share all 1100 and 1099 labels, the list is 1, 0: NDCG = (2^1099 - 1 + (2^1100 - 1) / log2 3)
  // / (2^1100 - 1 + (2^1099 - 1) / log2 3) = (1/2 + 1/log2 3) / (1 + 1/(2 log2 3)).
  const std::int64_t c = 1100;
  std::vector<std::uint8_t> ql(static_cast<std::size_t>(c), 1), dl(static_cast<std::size_t>(2 * c), 1);
  dl[static_cast<std::size_t>(c)] = 0;  // item 1 lacks label 0
  const std::vector<std::int64_t> ranked{1, 0};
  const auto r = xmr::eval::ndcg_at_k(IView(ranked.data(), 1, 2), U8View(ql.data(), 1, c), U8View(dl.data(), 2, c), 2);
  const double l3 = std::log2(3.0);
  EXPECT_NEAR(r.mean, (0.5 + 1 / l3) / (1 + 0.5 / l3), 1e-12);
}

TEST(EvalRanked, HandWorkedNeighborRecall) {
  // Ranked 5, 2, 9, -1 against ground truth {2, 7, 5}: R@1 = 1/3, R@2 = 2/3, R@4 = 2/3.
  // A second query with an empty ground-truth row is skipped (NaN, not in the mean).
  const std::vector<std::int64_t> ranked{5, 2, 9, -1, 0, 1, 2, 3};
  const std::vector<std::int64_t> truth{2, 7, 5, -1, -1, -1};
  const IView rv(ranked.data(), 2, 4), tv(truth.data(), 2, 3);
  auto r = xmr::eval::neighbor_recall_at_k(rv, tv, 1);
  EXPECT_DOUBLE_EQ(r.per_query[0], 1.0 / 3.0);
  EXPECT_TRUE(std::isnan(r.per_query[1]));
  EXPECT_EQ(r.queries, 1);
  EXPECT_EQ(r.skipped_queries, 1);
  EXPECT_DOUBLE_EQ(r.mean, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(xmr::eval::neighbor_recall_at_k(rv, tv, 2).mean, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(xmr::eval::neighbor_recall_at_k(rv, tv, 4).mean, 2.0 / 3.0);
  // The exact top-2 as ground truth: ann-benchmarks' k-NN recall |found & true| / 2.
  const std::vector<std::int64_t> top2{5, 9, 3, 1};
  EXPECT_DOUBLE_EQ(xmr::eval::neighbor_recall_at_k(rv, IView(top2.data(), 2, 2), 2).per_query[0], 0.5);
  EXPECT_DOUBLE_EQ(xmr::eval::neighbor_recall_at_k(rv, IView(top2.data(), 2, 2), 2).per_query[1], 0.5);
}

// ---- PR curve over Hamming radius -----------------------------------------------------------

struct PrReference {
  std::vector<double> p, r, pooled_p, pooled_r;
  std::vector<std::int64_t> hits;
  std::int64_t no_relevant = 0;
};

/// The PyTorch `pr_curve` loop (P[i] = count / total, R[i] = count / tsum for queries with
/// tsum > 0; mask = queries with P > 0; P, R summed and divided by the mask, 0 when it is 0),
/// and DCMH's pooled MATLAB calcPreRecRadiusLabel over radii 0..B, transcribed per pair.
PrReference brute_pr_curve(const std::vector<std::uint8_t>& qc, const std::vector<std::uint8_t>& dc, std::size_t bytes,
                           const Labelled& l) {
  const std::size_t q = qc.size() / bytes, n = dc.size() / bytes, bins = 8 * bytes + 1;
  std::vector<std::vector<double>> P(q, std::vector<double>(bins)), R = P;
  std::vector<std::int64_t> good(bins), pairs(bins);
  std::int64_t total_good = 0;
  PrReference ref;
  for (std::size_t i = 0; i < q; ++i) {
    std::vector<int> dist(n), gnd(n);
    int tsum = 0;
    for (std::size_t j = 0; j < n; ++j) {
      dist[j] = popcount_xor(&qc[i * bytes], &dc[j * bytes], bytes);
      gnd[j] = shares(l.ql, i, l.dl, j, static_cast<std::size_t>(l.c)) ? 1 : 0;
      tsum += gnd[j];
    }
    total_good += tsum;
    for (std::size_t rad = 0; rad < bins; ++rad) {
      int total = 0, count = 0;
      for (std::size_t j = 0; j < n; ++j)
        if (dist[j] <= static_cast<int>(rad)) {
          ++total;
          count += gnd[j];
        }
      good[rad] += count;
      pairs[rad] += total;
      if (tsum == 0) continue;
      P[i][rad] = total == 0 ? 0.0 : static_cast<double>(count) / total;
      R[i][rad] = static_cast<double>(count) / tsum;
    }
    if (tsum == 0) ++ref.no_relevant;
  }
  for (std::size_t rad = 0; rad < bins; ++rad) {
    double ps = 0, rs = 0;
    std::int64_t mask = 0;
    for (std::size_t i = 0; i < q; ++i) {
      ps += P[i][rad];
      rs += R[i][rad];
      mask += P[i][rad] > 0 ? 1 : 0;
    }
    ref.hits.push_back(mask);
    ref.p.push_back(mask == 0 ? 0.0 : ps / static_cast<double>(mask));
    ref.r.push_back(mask == 0 ? 0.0 : rs / static_cast<double>(mask));
    ref.pooled_p.push_back(pairs[rad] == 0 ? 0.0 : static_cast<double>(good[rad]) / static_cast<double>(pairs[rad]));
    ref.pooled_r.push_back(total_good == 0 ? 0.0 : static_cast<double>(good[rad]) / static_cast<double>(total_good));
  }
  return ref;
}

xmr::eval::PrCurve run_pr(const std::vector<std::uint8_t>& qc, const std::vector<std::uint8_t>& dc, std::int64_t bytes,
                          const Labelled& l) {
  const auto q = static_cast<std::int64_t>(qc.size()) / bytes;
  const auto n = static_cast<std::int64_t>(dc.size()) / bytes;
  return xmr::eval::pr_curve_hamming(U8View(qc.data(), q, bytes), U8View(dc.data(), n, bytes),
                                     U8View(l.ql.data(), q, l.c), U8View(l.dl.data(), n, l.c));
}

TEST(EvalPrCurve, HandWorked) {
  // Database of HandWorkedHamming: codes 0x07 0x00 0x0F 0x01 0x03, relevant to class 0: 0, 1, 2.
  // Query A = 0x00, class 0: distances 3 0 4 1 2. Within r (n, c): r0 (1,1) r1 (2,1) r2 (3,1)
  //   r3 (4,2) r4..8 (5,3): P = 1, 1/2, 1/3, 1/2, 3/5...; R = 1/3, 1/3, 1/3, 2/3, 1...
  // Query B = 0xFF, class 0: distances 5 8 4 7 6. r0..3 (0,0): P = 0, not counted; r4 (1,1)
  //   r5 (2,2) r6 (3,2) r7 (4,2) r8 (5,3): P = 1, 1, 2/3, 1/2, 3/5; R = 1/3, 2/3, 2/3, 2/3, 1.
  // Query C = 0x00 without labels: skipped by pr_curve; its pairs count in the pooled curve.
  const std::vector<std::uint8_t> qc{0x00, 0xFF, 0x00};
  const std::vector<std::uint8_t> dc{0x07, 0x00, 0x0F, 0x01, 0x03};
  const Labelled l{{1, 0, 1, 0, 0, 0}, {1, 0, 1, 0, 1, 1, 0, 1, 0, 1}, 2};
  const auto r = run_pr(qc, dc, 1, l);
  EXPECT_EQ(r.bits, 8);
  EXPECT_EQ(r.queries, 3);
  EXPECT_EQ(r.no_relevant_queries, 1);
  const std::vector<std::int64_t> hits{1, 1, 1, 1, 2, 2, 2, 2, 2};
  const std::vector<double> p{1, 0.5, 1.0 / 3, 0.5, 0.8, 0.8, (0.6 + 2.0 / 3) / 2, 0.55, 0.6};
  const std::vector<double> rec{1.0 / 3, 1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3, 5.0 / 6, 5.0 / 6, 5.0 / 6, 1};
  // Pooled: good = c_A + c_B, pairs = n_A + n_B + n_C (n_C = n_A), total good 6.
  const std::vector<double> pp{0.5, 0.25, 1.0 / 6, 0.25, 4.0 / 11, 5.0 / 12, 5.0 / 13, 5.0 / 14, 0.4};
  const std::vector<double> pr{1.0 / 6, 1.0 / 6, 1.0 / 6, 2.0 / 6, 4.0 / 6, 5.0 / 6, 5.0 / 6, 5.0 / 6, 1};
  ASSERT_EQ(r.precision.size(), 9U);
  for (std::size_t d = 0; d < 9; ++d) {
    SCOPED_TRACE(::testing::Message() << "radius " << d);
    EXPECT_EQ(r.queries_with_hit[d], hits[d]);
    EXPECT_NEAR(r.precision[d], p[d], 1e-12);
    EXPECT_NEAR(r.recall[d], rec[d], 1e-12);
    EXPECT_NEAR(r.pooled_precision[d], pp[d], 1e-12);
    EXPECT_NEAR(r.pooled_recall[d], pr[d], 1e-12);
  }
}

class EvalPrCurveRandom : public ::testing::TestWithParam<HammingCase> {};

TEST_P(EvalPrCurveRandom, MatchesBruteForce) {
  const auto p = GetParam();
  const std::uint64_t seed = 7000 + static_cast<std::uint64_t>(p.n * 7 + p.bytes);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> qc(static_cast<std::size_t>(p.q * p.bytes)), dc(static_cast<std::size_t>(p.n * p.bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : qc) b = static_cast<std::uint8_t>(byte(rng));
  for (auto& b : dc) b = static_cast<std::uint8_t>(byte(rng));
  const auto l = random_labels(rng, p.q, p.n, p.c, p.label_p);
  const auto ref = brute_pr_curve(qc, dc, static_cast<std::size_t>(p.bytes), l);
  const auto r = run_pr(qc, dc, p.bytes, l);
  EXPECT_EQ(r.bits, 8 * p.bytes);
  EXPECT_EQ(r.no_relevant_queries, ref.no_relevant);
  ASSERT_EQ(r.precision.size(), ref.p.size());
  for (std::size_t d = 0; d < ref.p.size(); ++d) {
    SCOPED_TRACE(::testing::Message() << "radius " << d);
    EXPECT_EQ(r.queries_with_hit[d], ref.hits[d]);
    EXPECT_NEAR(r.precision[d], ref.p[d], 1e-6);
    EXPECT_NEAR(r.recall[d], ref.r[d], 1e-6);
    EXPECT_NEAR(r.pooled_precision[d], ref.pooled_p[d], 1e-12);
    EXPECT_NEAR(r.pooled_recall[d], ref.pooled_r[d], 1e-12);
  }
  EXPECT_NEAR(r.recall.back(), ref.no_relevant == p.q ? 0.0 : 1.0, 1e-12);  // everything is within B
}

INSTANTIATE_TEST_SUITE_P(Sizes, EvalPrCurveRandom,
                         ::testing::Values(HammingCase{5, 1, 1, 1, 0.5}, HammingCase{20, 7, 3, 3, 0.3},
                                           HammingCase{30, 50, 5, 70, 0.03}, HammingCase{17, 300, 1, 4, 0.2},
                                           HammingCase{9, 40, 16, 3, 0.3}, HammingCase{6, 33, 20, 2, 0.4},
                                           HammingCase{4, 20, 1, 2, 0.0}));

// ---- errors --------------------------------------------------------------------------------

TEST(EvalErrors, BadInputsNameTheArgument) {
  using xmr::ErrorCode;
  const std::vector<std::uint8_t> qc{0, 1}, dc{0, 1, 2};
  const std::vector<std::uint8_t> ql{1, 0}, dl{1, 0, 0, 1, 1, 1};
  const std::vector<std::uint8_t> bad_dl{1, 0, 2, 1, 1, 1};
  const U8View q(qc.data(), 2, 1), d(dc.data(), 3, 1), lq(ql.data(), 2, 1), ld(dl.data(), 3, 2);
  const U8View lq2(ql.data(), 1, 2);
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq2, ld, {MapVariant::AtK, 0}), ErrorCode::InvalidArgument, "options.k",
                   "0");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq2, ld, {MapVariant::All, 5}), ErrorCode::InvalidArgument, "options.k",
                   "5");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq2, ld, {MapVariant::KFirstRelevant, -1}), ErrorCode::InvalidArgument,
                   "options.k", "-1");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq2, ld, {static_cast<MapVariant>(9), 0}), ErrorCode::InvalidArgument,
                   "options.variant", "9");
  // Label rows must match the code rows (query_labels has 1 row for 2 queries).
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq2, ld), ErrorCode::InvalidArgument, "query_labels.rows", "1");
  const U8View lq22(qc.data(), 2, 1);
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq22, ld), ErrorCode::InvalidArgument, "db_labels.cols", "2");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, d, lq, U8View(bad_dl.data(), 3, 1)), ErrorCode::InvalidArgument,
                   "db_labels[2, 0]", "2");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, U8View(dc.data(), 1, 3), lq, ld), ErrorCode::InvalidArgument,
                   "db_codes.cols", "3");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(U8View(qc.data(), 0, 1), d, U8View(ql.data(), 0, 1), ld),
                   ErrorCode::InvalidArgument, "query_codes.rows", "0");
  EXPECT_XMR_ERROR(xmr::eval::map_hamming(q, U8View(nullptr, 3, 1), lq, ld), ErrorCode::InvalidArgument,
                   "db_codes.data");

  const std::vector<float> fv{1, 0, 0, 1, 0, 0, NAN, 1};
  EXPECT_XMR_ERROR(
      xmr::eval::map_dense(FView(fv.data(), 2, 2), FView(fv.data(), 3, 2), Metric::Cosine, lq, U8View(dl.data(), 3, 1)),
      ErrorCode::InvalidArgument, "database");
  EXPECT_XMR_ERROR(xmr::eval::map_dense(FView(fv.data(), 2, 2), FView(fv.data() + 4, 2, 2), Metric::InnerProduct, lq,
                                        U8View(dl.data(), 2, 1)),
                   ErrorCode::InvalidArgument, "database");
  EXPECT_XMR_ERROR(xmr::eval::map_dense(FView(fv.data(), 2, 2), FView(fv.data(), 2, 3), Metric::InnerProduct, lq,
                                        U8View(dl.data(), 2, 1)),
                   ErrorCode::InvalidArgument, "database.cols", "3");

  const std::vector<float> im{1, 0, 0, 1}, tx{1, 0, 0, 1, 1, 1};
  EXPECT_XMR_ERROR(xmr::eval::recall_at_k(FView(im.data(), 2, 2), FView(tx.data(), 3, 2), 2),
                   ErrorCode::InvalidArgument, "texts.rows", "3", "captions_per_image");
  EXPECT_XMR_ERROR(xmr::eval::recall_at_k(FView(im.data(), 2, 2), FView(tx.data(), 2, 2), 0),
                   ErrorCode::InvalidArgument, "captions_per_image", "0");
  EXPECT_XMR_ERROR(xmr::eval::recall_at_k(FView(im.data(), 2, 2), FView(tx.data(), 2, 2), -3),
                   ErrorCode::InvalidArgument, "captions_per_image", "-3");
}

TEST(EvalErrors, RankedBadInputsNameTheArgument) {
  using xmr::ErrorCode;
  const std::vector<std::uint8_t> ql{1, 0, 0, 1}, dl{1, 0, 0, 1, 1, 1};  // Q = 2, N = 3, C = 2
  const U8View qv(ql.data(), 2, 2), dv(dl.data(), 3, 2);
  const std::vector<std::int64_t> good{0, 1, 2, 2, -1, -1};
  const IView gv(good.data(), 2, 3);
  for (auto* f : {&xmr::eval::precision_at_k, &xmr::eval::ndcg_at_k}) {
    EXPECT_XMR_ERROR(f(gv, qv, dv, 0), ErrorCode::InvalidArgument, "k (= 0)");
    EXPECT_XMR_ERROR(f(gv, qv, dv, -2), ErrorCode::InvalidArgument, "k (= -2)");
    // Two columns cannot cover min(3, N = 3) positions.
    EXPECT_XMR_ERROR(f(IView(good.data(), 2, 2, 3), qv, dv, 3), ErrorCode::InvalidArgument, "ranked.cols (= 2)",
                     "min(k, N) (= 3)");
    EXPECT_XMR_ERROR(f(IView(good.data(), 1, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked.rows (= 1)",
                     "query_labels.rows (= 2)");
    const std::vector<std::int64_t> out_of_range{0, 1, 2, 2, 3, -1};
    EXPECT_XMR_ERROR(f(IView(out_of_range.data(), 2, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked[1, 1]",
                     "(= 3)", "[0, 3)");
    const std::vector<std::int64_t> negative{-7, 1, 2, 2, -1, -1};
    EXPECT_XMR_ERROR(f(IView(negative.data(), 2, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked[0, 0]", "(= -7)");
    const std::vector<std::int64_t> gap{0, -1, 2, 2, -1, -1};
    EXPECT_XMR_ERROR(f(IView(gap.data(), 2, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked[0, 2]", "(= 2)",
                     "padding");
    const std::vector<std::int64_t> repeat{0, 1, 2, 2, 0, 2};
    EXPECT_XMR_ERROR(f(IView(repeat.data(), 2, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked[1, 2]", "(= 2)",
                     "ranked[1, 0]");
    EXPECT_XMR_ERROR(f(IView(nullptr, 2, 3), qv, dv, 1), ErrorCode::InvalidArgument, "ranked.data");
    EXPECT_XMR_ERROR(f(IView(good.data(), 2, 3, 2), qv, dv, 1), ErrorCode::InvalidArgument, "ranked.stride (= 2)");
    const std::vector<std::uint8_t> bad_l{1, 0, 0, 3};
    EXPECT_XMR_ERROR(f(gv, U8View(bad_l.data(), 2, 2), dv, 1), ErrorCode::InvalidArgument, "query_labels[1, 1]",
                     "(= 3)");
    EXPECT_XMR_ERROR(f(gv, qv, U8View(dl.data(), 2, 3), 1), ErrorCode::InvalidArgument, "db_labels.cols (= 3)");
    EXPECT_XMR_ERROR(f(gv, U8View(ql.data(), 0, 2), dv, 1), ErrorCode::InvalidArgument, "query_labels.rows (= 0)");
  }

  // neighbor_recall_at_k: no upper bound on indices, the same rules otherwise.
  const std::vector<std::int64_t> truth{9, 4, -1, 1, -1, -1};
  const IView tv(truth.data(), 2, 3);
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, tv, 0), ErrorCode::InvalidArgument, "k (= 0)");
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, tv, 4), ErrorCode::InvalidArgument, "k (= 4)",
                   "ranked.cols (= 3)");
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, IView(truth.data(), 1, 3), 1), ErrorCode::InvalidArgument,
                   "ground_truth.rows (= 1)", "ranked.rows (= 2)");
  const std::vector<std::int64_t> truth_repeat{9, 4, 9, 1, -1, -1};
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, IView(truth_repeat.data(), 2, 3), 1), ErrorCode::InvalidArgument,
                   "ground_truth[0, 2]", "(= 9)", "ground_truth[0, 0]");
  const std::vector<std::int64_t> truth_gap{9, -1, 4, 1, -1, -1};
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, IView(truth_gap.data(), 2, 3), 1), ErrorCode::InvalidArgument,
                   "ground_truth[0, 2]", "(= 4)", "padding");
  const std::vector<std::int64_t> truth_neg{9, 4, -1, -3, -1, -1};
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, IView(truth_neg.data(), 2, 3), 1), ErrorCode::InvalidArgument,
                   "ground_truth[1, 0]", "(= -3)");
  const std::vector<std::int64_t> empty(6, -1);
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(gv, IView(empty.data(), 2, 3), 1), ErrorCode::InvalidArgument,
                   "ground_truth", "no index in any row");
  const std::vector<std::int64_t> ranked_repeat{5, 5, 2, 2, -1, -1};
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(IView(ranked_repeat.data(), 2, 3), tv, 1),
                   ErrorCode::InvalidArgument, "ranked[0, 1]", "(= 5)", "ranked[0, 0]");
  EXPECT_XMR_ERROR(xmr::eval::neighbor_recall_at_k(IView(good.data(), 0, 3), IView(truth.data(), 0, 3), 1),
                   ErrorCode::InvalidArgument, "ranked.rows (= 0)");

  // pr_curve_hamming validates as map_hamming.
  const std::vector<std::uint8_t> qc{0, 1}, dc{0, 1, 2};
  const U8View q(qc.data(), 2, 1), d(dc.data(), 3, 1);
  const U8View lq(ql.data(), 2, 1), ld(dl.data(), 3, 1);
  EXPECT_XMR_ERROR(xmr::eval::pr_curve_hamming(q, U8View(dc.data(), 1, 3), lq, ld), ErrorCode::InvalidArgument,
                   "db_codes.cols (= 3)");
  EXPECT_XMR_ERROR(xmr::eval::pr_curve_hamming(q, d, U8View(ql.data(), 1, 1), ld), ErrorCode::InvalidArgument,
                   "query_labels.rows (= 1)");
  EXPECT_XMR_ERROR(xmr::eval::pr_curve_hamming(U8View(qc.data(), 0, 1), d, U8View(ql.data(), 0, 1), ld),
                   ErrorCode::InvalidArgument, "query_codes.rows (= 0)");
  const std::vector<std::uint8_t> bad_dl{1, 0, 2};
  EXPECT_XMR_ERROR(xmr::eval::pr_curve_hamming(q, d, lq, U8View(bad_dl.data(), 3, 1)), ErrorCode::InvalidArgument,
                   "db_labels[2, 0]", "(= 2)");
}

}  // namespace
