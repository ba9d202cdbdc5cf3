#include "common/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace xmr_test {

double Rng::normal() {
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::vector<float> random_matrix(Rng& rng, std::int64_t rows, std::int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (float& x : out) x = static_cast<float>(rng.normal());
  return out;
}

std::vector<xmr::half> to_half(const std::vector<float>& v) {
  std::vector<xmr::half> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = xmr::to_half(v[i]);
  return out;
}

std::vector<std::int64_t> random_ids(Rng& rng, std::int64_t n, std::int64_t base, std::int64_t spread) {
  // Distinct by construction: slot i owns [base + i * spread, base + (i + 1) * spread).
  std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    ids[static_cast<std::size_t>(i)] = base + i * spread + rng.uniform_int(0, spread - 1);
  }
  rng.shuffle(ids);
  return ids;
}

namespace {

template <class T>
std::vector<double> exact_values_impl(xmr::MatrixView<const T> m) {
  std::vector<double> out(static_cast<std::size_t>(m.rows() * m.cols()));
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    for (std::int64_t c = 0; c < m.cols(); ++c) {
      double v = 0.0;
      if constexpr (std::is_same_v<T, xmr::half>) {
        v = static_cast<double>(xmr::to_float(m.row(r)[c]));
      } else {
        v = static_cast<double>(m.row(r)[c]);
      }
      out[static_cast<std::size_t>(r * m.cols() + c)] = v;
    }
  }
  return out;
}

}  // namespace

std::vector<double> exact_values(xmr::MatrixView<const float> m) {
  return exact_values_impl(m);
}
std::vector<double> exact_values(xmr::MatrixView<const xmr::half> m) {
  return exact_values_impl(m);
}

std::vector<double> prepare(std::span<const double> rows, std::int64_t dim, xmr::Metric metric, xmr::DType storage) {
  const auto d = static_cast<std::size_t>(dim);
  const std::size_t n = rows.size() / d;
  std::vector<double> out(rows.size());
  for (std::size_t r = 0; r < n; ++r) {
    const double* in = rows.data() + r * d;
    double scale = 1.0;
    if (metric == xmr::Metric::Cosine) {
      double sq = 0.0;
      for (std::size_t c = 0; c < d; ++c) sq += in[c] * in[c];
      scale = 1.0 / std::sqrt(sq);
    }
    for (std::size_t c = 0; c < d; ++c) {
      const auto f = static_cast<float>(in[c] * scale);
      out[r * d + c] =
          storage == xmr::DType::F16 ? static_cast<double>(xmr::to_float(xmr::to_half(f))) : static_cast<double>(f);
    }
  }
  return out;
}

Reference make_reference(std::span<const double> items, std::span<const std::int64_t> ids,
                         std::span<const double> queries, std::int64_t dim, xmr::Metric metric, xmr::DType storage) {
  const auto d = static_cast<std::size_t>(dim);
  Reference ref;
  ref.num_items = static_cast<std::int64_t>(ids.size());
  ref.num_queries = static_cast<std::int64_t>(queries.size() / d);
  ref.ids.assign(ids.begin(), ids.end());
  const std::vector<double> x = prepare(items, dim, metric, storage);
  const std::vector<double> q = prepare(queries, dim, metric, storage);
  const auto n = static_cast<std::size_t>(ref.num_items);
  const auto nq = static_cast<std::size_t>(ref.num_queries);
  double max_x = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double sq = 0.0;
    for (std::size_t c = 0; c < d; ++c) sq += x[i * d + c] * x[i * d + c];
    max_x = std::max(max_x, std::sqrt(sq));
  }
  ref.scores.resize(nq * n);
  ref.scale.resize(nq);
  for (std::size_t qi = 0; qi < nq; ++qi) {
    const double* qp = q.data() + qi * d;
    double sq = 0.0;
    for (std::size_t c = 0; c < d; ++c) sq += qp[c] * qp[c];
    ref.scale[qi] = std::sqrt(sq) * max_x;
    for (std::size_t i = 0; i < n; ++i) {
      const double* xp = x.data() + i * d;
      double s = 0.0;
      for (std::size_t c = 0; c < d; ++c) s += qp[c] * xp[c];
      ref.scores[qi * n + i] = s;
    }
  }
  return ref;
}

ResultView view_of(const xmr::SearchResult& r) {
  return {r.ids.data(), r.scores.data(), r.num_queries, r.k, r.k, r.k};
}

namespace {

/// The reference ranking of one query: item indices by score descending, then id ascending.
std::vector<std::int64_t> ranking(const Reference& ref, std::int64_t q) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(ref.num_items));
  for (std::int64_t i = 0; i < ref.num_items; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const double sa = ref.score(q, a);
    const double sb = ref.score(q, b);
    if (sa != sb) return sa > sb;
    return ref.ids[static_cast<std::size_t>(a)] < ref.ids[static_cast<std::size_t>(b)];
  });
  return order;
}

std::unordered_map<std::int64_t, std::int64_t> index_of_ids(const Reference& ref) {
  std::unordered_map<std::int64_t, std::int64_t> pos;
  pos.reserve(ref.ids.size());
  for (std::int64_t i = 0; i < ref.num_items; ++i) pos.emplace(ref.ids[static_cast<std::size_t>(i)], i);
  return pos;
}

}  // namespace

void expect_topk_matches(const ResultView& result, const Reference& ref, double rel_tol, const std::string& context) {
  constexpr int kMaxReports = 8;
  int reports = 0;
  auto report = [&](std::int64_t q, std::int64_t j, const std::string& what) {
    if (reports < kMaxReports) {
      ADD_FAILURE() << context << ", query " << q << ", rank " << j << ": " << what;
    } else if (reports == kMaxReports) {
      ADD_FAILURE() << context << ": further failures not reported";
    }
    ++reports;
  };
  if (result.num_queries != ref.num_queries) {
    ADD_FAILURE() << context << ": result has " << result.num_queries << " queries, reference " << ref.num_queries;
    return;
  }
  const auto pos = index_of_ids(ref);
  const std::int64_t n = ref.num_items;
  const std::int64_t k = result.k;
  const std::int64_t kk = std::min(k, n);
  const bool exact = rel_tol == 0.0;
  for (std::int64_t q = 0; q < result.num_queries; ++q) {
    const std::vector<std::int64_t> order = ranking(ref, q);
    auto ranked_score = [&](std::int64_t j) { return ref.score(q, order[static_cast<std::size_t>(j)]); };
    auto ranked_id = [&](std::int64_t j) {
      return ref.ids[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
    };
    const double tol = rel_tol * ref.scale[static_cast<std::size_t>(q)];
    const double sep = 2.0 * tol;
    const double kth = kk > 0 ? ranked_score(kk - 1) : 0.0;
    std::unordered_set<std::int64_t> returned;
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t id = result.id(q, j);
      const float s = result.score(q, j);
      if (j >= n) {  // (e)
        if (id != -1 || !(std::isinf(s) && s < 0.0f)) {
          std::ostringstream os;
          os << "slot past the " << n << " items holds id " << id << " score " << s << ", expected -1 / -inf";
          report(q, j, os.str());
        }
        continue;
      }
      const auto it = pos.find(id);
      if (it == pos.end()) {  // (b)
        report(q, j, "returned id " + std::to_string(id) + " is not stored");
        continue;
      }
      if (!returned.insert(id).second) {
        report(q, j, "id " + std::to_string(id) + " returned twice");
        continue;
      }
      const double r = ref.score(q, it->second);
      if (!(std::fabs(static_cast<double>(s) - r) <= tol)) {  // (b)
        std::ostringstream os;
        os.precision(9);
        os << "id " << id << " score " << s << " but reference " << r
           << " (|diff| = " << std::fabs(static_cast<double>(s) - r) << " > tol " << tol << ")";
        report(q, j, os.str());
      }
      if (r < kth - sep) {  // (c)
        std::ostringstream os;
        os.precision(9);
        os << "id " << id << " has reference score " << r << ", below the true k-th best " << kth
           << " - 2 tol (tol = " << tol << ")";
        report(q, j, os.str());
      }
      if (j > 0) {  // (a)
        const float prev = result.score(q, j - 1);
        const std::int64_t prev_id = result.id(q, j - 1);
        if (!(prev >= s)) {
          std::ostringstream os;
          os.precision(9);
          os << "scores not non-increasing: " << prev << " (id " << prev_id << ") then " << s << " (id " << id << ")";
          report(q, j, os.str());
        } else if (prev == s && !(prev_id < id)) {
          std::ostringstream os;
          os.precision(9);
          os << "equal scores " << s << " not in ascending id order: id " << prev_id << " then id " << id;
          report(q, j, os.str());
        }
      }
      // (d)
      const bool apart = exact || ((j == 0 || ranked_score(j - 1) - ranked_score(j) > sep) &&
                                   (j + 1 >= n || ranked_score(j) - ranked_score(j + 1) > sep));
      if (apart && id != ranked_id(j)) {
        std::ostringstream os;
        os.precision(9);
        os << "id " << id << " (score " << s << ") but the reference ranks id " << ranked_id(j) << " (score "
           << ranked_score(j) << ") here";
        report(q, j, os.str());
      }
      if (exact && static_cast<double>(s) != ranked_score(j)) {
        std::ostringstream os;
        os.precision(9);
        os << "exact data: score " << s << " but reference " << ranked_score(j);
        report(q, j, os.str());
      }
    }
    // (c): everything clearly above the k-th best is returned.
    for (std::int64_t j = 0; j < kk && ranked_score(j) > kth + sep; ++j) {
      if (returned.count(ranked_id(j)) == 0) {
        std::ostringstream os;
        os.precision(9);
        os << "id " << ranked_id(j) << " (reference score " << ranked_score(j) << ", clearly above the k-th best "
           << kth << ") is missing";
        report(q, j, os.str());
      }
    }
  }
}

void expect_bit_equal(const xmr::SearchResult& a, const xmr::SearchResult& b, const std::string& context) {
  ASSERT_EQ(a.num_queries, b.num_queries) << context;
  ASSERT_EQ(a.k, b.k) << context;
  ASSERT_EQ(a.ids.size(), b.ids.size()) << context;
  ASSERT_EQ(a.scores.size(), b.scores.size()) << context;
  int reports = 0;
  for (std::int64_t q = 0; q < a.num_queries && reports < 8; ++q) {
    for (std::int64_t j = 0; j < a.k && reports < 8; ++j) {
      const float sa = a.score(q, j);
      const float sb = b.score(q, j);
      if (a.id(q, j) != b.id(q, j) || std::memcmp(&sa, &sb, sizeof(float)) != 0) {
        ++reports;
        ADD_FAILURE() << context << ", query " << q << ", rank " << j << ": id " << a.id(q, j) << " score "
                      << std::hexfloat << sa << " vs id " << b.id(q, j) << " score " << sb << std::defaultfloat;
      }
    }
  }
}

double max_relative_error(const ResultView& result, const Reference& ref) {
  const auto pos = index_of_ids(ref);
  double worst = 0.0;
  for (std::int64_t q = 0; q < result.num_queries; ++q) {
    const double scale = ref.scale[static_cast<std::size_t>(q)];
    for (std::int64_t j = 0; j < result.k; ++j) {
      const auto it = pos.find(result.id(q, j));
      if (it == pos.end() || scale == 0.0) continue;
      const double err = std::fabs(static_cast<double>(result.score(q, j)) - ref.score(q, it->second));
      worst = std::max(worst, err / scale);
    }
  }
  return worst;
}

Reference make_multi_vector_reference(std::span<const double> items, std::span<const std::int64_t> item_offsets,
                                      std::span<const std::int64_t> ids, std::span<const double> queries,
                                      std::span<const std::int64_t> query_offsets, std::int64_t dim, xmr::Metric metric,
                                      bool sum) {
  const auto d = static_cast<std::size_t>(dim);
  Reference ref;
  ref.num_items = static_cast<std::int64_t>(ids.size());
  ref.num_queries = static_cast<std::int64_t>(query_offsets.size()) - 1;
  ref.ids.assign(ids.begin(), ids.end());
  const std::vector<double> x = prepare(items, dim, metric, xmr::DType::F32);
  const std::vector<double> q = prepare(queries, dim, metric, xmr::DType::F32);
  auto norm = [&](const std::vector<double>& m, std::int64_t row) {
    double sq = 0.0;
    for (std::size_t c = 0; c < d; ++c)
      sq += m[static_cast<std::size_t>(row) * d + c] * m[static_cast<std::size_t>(row) * d + c];
    return std::sqrt(sq);
  };
  double max_x = 0.0;
  for (std::int64_t r = 0; r < item_offsets.back(); ++r) max_x = std::max(max_x, norm(x, r));
  const auto n = static_cast<std::size_t>(ref.num_items);
  const auto nq = static_cast<std::size_t>(ref.num_queries);
  ref.scores.resize(nq * n);
  ref.scale.resize(nq);
  for (std::size_t qi = 0; qi < nq; ++qi) {
    double qscale = 0.0;
    for (std::int64_t a = query_offsets[qi]; a < query_offsets[qi + 1]; ++a) {
      qscale = sum ? qscale + norm(q, a) : std::max(qscale, norm(q, a));
    }
    ref.scale[qi] = qscale * max_x;
    for (std::size_t i = 0; i < n; ++i) {
      double total = 0.0;
      for (std::int64_t a = query_offsets[qi]; a < query_offsets[qi + 1]; ++a) {
        double best = -std::numeric_limits<double>::infinity();
        for (std::int64_t b = item_offsets[i]; b < item_offsets[i + 1]; ++b) {
          double s = 0.0;
          for (std::size_t c = 0; c < d; ++c) {
            s += q[static_cast<std::size_t>(a) * d + c] * x[static_cast<std::size_t>(b) * d + c];
          }
          best = std::max(best, s);
        }
        total = sum ? total + best : (a == query_offsets[qi] ? best : std::max(total, best));
      }
      ref.scores[qi * n + i] = total;
    }
  }
  return ref;
}

}  // namespace xmr_test
