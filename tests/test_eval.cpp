// xmr::eval: hand-worked values, brute-force definitions (stable sorts, and exhaustive
// enumeration of tied orders for TiePolicy::Average), Recall@K, and every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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
                                           HammingCase{9, 129, 2, 65, 0.02}));

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

}  // namespace
