#pragma once
// The one double-precision CPU reference of the test suite, the top-k checker built on it, and
// the random data makers the tests share.
//
// The reference applies to its inputs exactly what xmr does to them before it multiplies:
//   - cosine: each row (database vector or query) is normalised in double and rounded to float;
//   - fp16 storage: the (normalised, under cosine) float values of database rows *and* queries
//     are rounded to binary16 with xmr::to_half;
// and then computes every score in double. The only difference left between the reference and
// the library is the library's fp32 accumulation (and final rounding to float), whose error is
// bounded by ~D * 2^-24 * |q| |x|; tolerances are therefore relative to |q| |x| (see
// Reference::scale).

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "xmr/xmr.h"

namespace xmr_test {

// ----------------------------------------------------------------------------------------------
// Random data.

/// Deterministic test randomness: std::mt19937_64 (whose output sequence the standard fixes) with
/// our own uniform, normal and shuffle (the <random> distributions are implementation-defined).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [lo, hi] (hi - lo < 2^53).
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(uniform() * static_cast<double>(hi - lo + 1));
  }
  /// Standard normal (Box-Muller, one value per call).
  double normal();
  /// Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const auto j = static_cast<std::size_t>(uniform_int(0, static_cast<std::int64_t>(i) - 1));
      std::swap(v[i - 1], v[j]);
    }
  }
  std::uint64_t bits() { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

/// `rows x cols` standard normal floats.
std::vector<float> random_matrix(Rng& rng, std::int64_t rows, std::int64_t cols);

/// Copies a dense `rows x cols` matrix into rows of `stride` elements (padding filled with
/// `pad`, which must never be read).
template <class T>
std::vector<T> with_stride(const std::vector<T>& dense, std::int64_t rows, std::int64_t cols, std::int64_t stride,
                           T pad) {
  std::vector<T> out(static_cast<std::size_t>(rows * stride), pad);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      out[static_cast<std::size_t>(r * stride + c)] = dense[static_cast<std::size_t>(r * cols + c)];
    }
  }
  return out;
}

/// Element-wise xmr::to_half.
std::vector<xmr::half> to_half(const std::vector<float>& v);

/// `n` distinct ids in random order: non-contiguous, spread over [base, base + spread * n).
std::vector<std::int64_t> random_ids(Rng& rng, std::int64_t n, std::int64_t base, std::int64_t spread);

// ----------------------------------------------------------------------------------------------
// The reference.

/// The exact values of a host matrix (float or binary16), densely packed, in double.
std::vector<double> exact_values(xmr::MatrixView<const float> m);
std::vector<double> exact_values(xmr::MatrixView<const xmr::half> m);

/// What the library stores (or multiplies, for queries) for `rows` ([n x dim], exact input values):
/// normalised under cosine, rounded to float, then to binary16 for fp16 storage; in double.
std::vector<double> prepare(std::span<const double> rows, std::int64_t dim, xmr::Metric metric, xmr::DType storage);

/// Every score of every query against every item, in double.
struct Reference {
  std::int64_t num_queries = 0;
  std::int64_t num_items = 0;
  std::vector<std::int64_t> ids;  ///< [num_items]: the id of item i
  std::vector<double> scores;     ///< [num_queries x num_items]
  std::vector<double> scale;      ///< [num_queries]: |q| * max_i |x_i| (prepared vectors)

  [[nodiscard]] double score(std::int64_t q, std::int64_t i) const {
    return scores[static_cast<std::size_t>(q * num_items + i)];
  }
};

/// Reference scores of `queries` ([Q x dim], exact input values) against `items` ([N x dim],
/// exact input values) whose ids are `ids`, for an index of the given metric and storage.
Reference make_reference(std::span<const double> items, std::span<const std::int64_t> ids,
                         std::span<const double> queries, std::int64_t dim, xmr::Metric metric, xmr::DType storage);

/// Bound on |fp32 dot product - exact dot product| / (|q| |x|) for D-dimensional vectors, for
/// any summation order, with or without FMA: gamma_D = D u / (1 - D u) with u = 2^-24, plus one
/// rounding of the result; (D + 2) u covers both.
inline double accumulation_tolerance(std::int64_t dim) {
  return static_cast<double>(dim + 2) * 0x1.0p-24;
}

/// A [num_queries x k] result in (possibly strided) host memory.
struct ResultView {
  const std::int64_t* ids = nullptr;
  const float* scores = nullptr;
  std::int64_t num_queries = 0;
  std::int64_t k = 0;
  std::int64_t ids_stride = 0;
  std::int64_t scores_stride = 0;

  [[nodiscard]] std::int64_t id(std::int64_t q, std::int64_t j) const { return ids[q * ids_stride + j]; }
  [[nodiscard]] float score(std::int64_t q, std::int64_t j) const { return scores[q * scores_stride + j]; }
};
ResultView view_of(const xmr::SearchResult& r);

/// Checks a search result against the reference, per query q with tol = rel_tol * scale[q]:
///  (a) scores non-increasing; exactly equal consecutive scores have ascending ids;
///  (b) every returned id is stored, returned once, and its score is within tol of the reference;
///  (c) every returned id has reference score >= (true k-th best) - 2 tol, and every item whose
///      reference score exceeds the true k-th best + 2 tol is returned;
///  (d) ids equal the reference ranking (score descending, id ascending) at every rank whose
///      reference score is more than 2 tol away from both neighbours in that ranking; with
///      rel_tol == 0 (exactly representable data) at every rank, scores equal too;
///  (e) slots past the number of items hold id -1 and score -inf.
/// Failure messages start with `context` (which must name the seed), then the query and rank.
/// Reports at most a few failures per call.
void expect_topk_matches(const ResultView& result, const Reference& ref, double rel_tol, const std::string& context);

/// True when two results hold bit-identical ids and scores.
void expect_bit_equal(const xmr::SearchResult& a, const xmr::SearchResult& b, const std::string& context);

/// Largest |result score - reference score| / scale[q] over a result (for choosing tolerances).
double max_relative_error(const ResultView& result, const Reference& ref);

// ----------------------------------------------------------------------------------------------
// Multi-vector (late-interaction) reference.

/// Reference scores of multi-vector queries against multi-vector items, in double, as
/// xmr::MultiVectorIndex (fp32 storage) computes them: item i is rows [item_offsets[i],
/// item_offsets[i + 1]) of `items` ([T x dim], exact input values), query q rows
/// [query_offsets[q], query_offsets[q + 1]) of `queries`; every vector is prepared as by
/// prepare() (normalised under cosine, rounded to float); the score is the max over all vector
/// pairs (`sum` false, MaxSim) or the sum over query vectors of the max over item vectors (`sum`
/// true, SumMaxSim). scale[q] = max_b |b| * (max_a |a| for MaxSim, sum_a |a| for SumMaxSim), so
/// accumulation_tolerance(dim) bounds MaxSim's relative error and
/// accumulation_tolerance(dim + max query vectors) SumMaxSim's (fp32 sum of the maxima).
Reference make_multi_vector_reference(std::span<const double> items, std::span<const std::int64_t> item_offsets,
                                      std::span<const std::int64_t> ids, std::span<const double> queries,
                                      std::span<const std::int64_t> query_offsets, std::int64_t dim, xmr::Metric metric,
                                      bool sum);

}  // namespace xmr_test
