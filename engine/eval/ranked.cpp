// Metrics over result lists. Each query is independent (OpenMP over queries); the per-query
// sums run in rank order, so the values do not depend on the thread count.
#include "eval/ranked.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"

namespace xmr::engine::eval {

RankedValues precision_at_k(const MatrixView<const std::int64_t>& ranked, const PackedLabels& query_labels,
                            const PackedLabels& db_labels, std::int64_t k) {
  const std::int64_t q = ranked.rows();
  const std::int64_t window = std::min(k, db_labels.rows);
  RankedValues out;
  out.per_query.resize(detail::to_size(q));
  std::int64_t no_relevant = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : no_relevant)
  for (std::int64_t qi = 0; qi < q; ++qi) {
    const std::uint64_t* ql = query_labels.row(qi);
    const std::int64_t* row = ranked.row(qi);
    std::int64_t hits = 0;
    for (std::int64_t j = 0; j < window && row[j] >= 0; ++j)
      hits += label_overlap(ql, db_labels.row(row[j]), db_labels.words) > 0 ? 1 : 0;
    out.per_query[detail::to_size(qi)] = static_cast<double>(hits) / static_cast<double>(window);
    if (hits == 0 && !any_shared_label(ql, db_labels)) ++no_relevant;
  }
  out.no_relevant = no_relevant;
  return out;
}

RankedValues ndcg_at_k(const MatrixView<const std::int64_t>& ranked, const PackedLabels& query_labels,
                       const PackedLabels& db_labels, std::int64_t k) {
  const std::int64_t q = ranked.rows();
  const std::int64_t window = std::min(k, db_labels.rows);
  const std::int64_t max_gain = db_labels.words * 64;
  // discount[j] = 1 / log2(j + 2) for the 0-based position j.
  std::vector<double> discount(detail::to_size(window));
  for (std::int64_t j = 0; j < window; ++j)
    discount[detail::to_size(j)] = 1.0 / std::log2(static_cast<double>(j) + 2.0);
  RankedValues out;
  out.per_query.resize(detail::to_size(q));
  std::int64_t no_relevant = 0;
#pragma omp parallel reduction(+ : no_relevant)
  {
    std::vector<std::int64_t> hist(detail::to_size(max_gain + 1));
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t qi = 0; qi < q; ++qi) {
      const std::uint64_t* ql = query_labels.row(qi);
      std::fill(hist.begin(), hist.end(), 0);
      gain_histogram(ql, db_labels, hist.data());
      std::int64_t top = max_gain;
      while (top > 0 && hist[detail::to_size(top)] == 0) --top;
      if (top == 0) {  // IDCG = 0: nothing shares a label
        out.per_query[detail::to_size(qi)] = 0.0;
        ++no_relevant;
        continue;
      }
      // Gains scaled by 2^-top: (2^g - 1) 2^-top is exact where 2^g - 1 is, and never overflows
      // however many labels a query has. The ratio is unchanged.
      auto gain = [top](std::int64_t g) {
        return std::ldexp(1.0, static_cast<int>(g - top)) - std::ldexp(1.0, static_cast<int>(-top));
      };
      double ideal = 0.0;
      std::int64_t j = 0;
      for (std::int64_t g = top; g > 0 && j < window; --g)
        for (std::int64_t c = hist[detail::to_size(g)]; c > 0 && j < window; --c, ++j)
          ideal += gain(g) * discount[detail::to_size(j)];
      const std::int64_t* row = ranked.row(qi);
      double dcg = 0.0;
      for (j = 0; j < window && row[j] >= 0; ++j) {
        const std::int64_t g = label_overlap(ql, db_labels.row(row[j]), db_labels.words);
        if (g > 0) dcg += gain(g) * discount[detail::to_size(j)];
      }
      out.per_query[detail::to_size(qi)] = dcg / ideal;
    }
  }
  out.no_relevant = no_relevant;
  return out;
}

std::vector<double> neighbor_recall_at_k(const MatrixView<const std::int64_t>& ranked,
                                         const MatrixView<const std::int64_t>& ground_truth, std::int64_t k) {
  const std::int64_t q = ranked.rows();
  std::vector<double> out(detail::to_size(q));
#pragma omp parallel
  {
    std::vector<std::int64_t> truth;
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t qi = 0; qi < q; ++qi) {
      const std::int64_t* g = ground_truth.row(qi);
      truth.clear();
      for (std::int64_t j = 0; j < ground_truth.cols() && g[j] >= 0; ++j) truth.push_back(g[j]);
      if (truth.empty()) {
        out[detail::to_size(qi)] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      std::sort(truth.begin(), truth.end());
      const std::int64_t* row = ranked.row(qi);
      std::int64_t found = 0;
      for (std::int64_t j = 0; j < k && row[j] >= 0; ++j)
        found += std::binary_search(truth.begin(), truth.end(), row[j]) ? 1 : 0;
      out[detail::to_size(qi)] = static_cast<double>(found) / static_cast<double>(truth.size());
    }
  }
  return out;
}

}  // namespace xmr::engine::eval
