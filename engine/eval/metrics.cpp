// Average precision under the three variants and two tie policies, and the streaming drivers.
// Tie-averaged AP is exact: by linearity, a tied group of n items (s items before it, of which
// Rp relevant) holding r relevant items contributes sum_{t=1..n} (r/n) E[count | t relevant] /
// (s + t), with E[count | t relevant] = Rp + 1 + (t-1)(r-1)/(n-1) (hypergeometric mean);
// docs/eval.md derives the windowed and first-K variants, whose denominators are random.
#include "eval/metrics.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "binary/codes.h"
#include "common/check.h"

namespace xmr::engine::eval {
namespace {

using xmr::eval::MapVariant;

/// Scores buffered per block of queries (floats).
constexpr std::int64_t kScoreBufferFloats = std::int64_t{1} << 22;

double log_choose(std::int64_t n, std::int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1.0) - std::lgamma(static_cast<double>(k) + 1.0) -
         std::lgamma(static_cast<double>(n - k) + 1.0);
}

/// P(X = x), X hypergeometric: `draws` from a population of `pop` holding `succ` successes.
double hypergeometric(std::int64_t pop, std::int64_t succ, std::int64_t draws, std::int64_t x) {
  if (x < 0 || x > succ || x > draws || draws - x > pop - succ) return 0.0;
  return std::exp(log_choose(succ, x) + log_choose(pop - succ, draws - x) - log_choose(pop, draws));
}

/// Harmonic sums of the first `w` positions after `s`: h1 = sum 1/(s+t), h2 = sum (t-1)/(s+t).
struct Harmonics {
  double h1 = 0.0;
  double h2 = 0.0;
};
Harmonics harmonics(std::int64_t s, std::int64_t w) {
  Harmonics h;
  for (std::int64_t t = 1; t <= w; ++t) {
    const double inv = 1.0 / static_cast<double>(s + t);
    h.h1 += inv;
    h.h2 += static_cast<double>(t - 1) * inv;
  }
  return h;
}

/// Expected sum of prec(j) over the relevant positions of the first `w` positions of a tied
/// block starting after `s` items (`rp` relevant), given `m` relevant among those w positions.
double block_sum(const Harmonics& h, std::int64_t rp, std::int64_t w, std::int64_t m) {
  if (m == 0) return 0.0;
  const double spread = w > 1 ? static_cast<double>(m - 1) / static_cast<double>(w - 1) : 0.0;
  return static_cast<double>(m) / static_cast<double>(w) * (static_cast<double>(rp + 1) * h.h1 + spread * h.h2);
}

double ap_stable(std::span<const std::uint8_t> rel, MapVariant variant, std::int64_t k) {
  const auto n = static_cast<std::int64_t>(rel.size());
  const std::int64_t total = std::count(rel.begin(), rel.end(), std::uint8_t{1});
  const std::int64_t window = variant == MapVariant::AtK ? std::min(k, n) : n;
  const std::int64_t cap = variant == MapVariant::KFirstRelevant ? std::min(k, total) : total;
  double sum = 0.0;
  std::int64_t count = 0;
  for (std::int64_t j = 0; j < window && count < cap; ++j) {
    if (rel[static_cast<std::size_t>(j)] == 0) continue;
    ++count;
    sum += static_cast<double>(count) / static_cast<double>(j + 1);
  }
  return count == 0 ? 0.0 : sum / static_cast<double>(count);
}

double ap_average_all(std::span<const std::int64_t> groups, std::span<const std::int64_t> relevant, std::int64_t cap) {
  // cap = T (KFirstRelevant) or R (All): relevant items counted, in rank order.
  double sum = 0.0;
  std::int64_t s = 0;
  std::int64_t rp = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (rp >= cap) break;
    const std::int64_t n = groups[g];
    const std::int64_t r = relevant[g];
    if (rp + r <= cap) {
      if (r > 0) sum += block_sum(harmonics(s, n), rp, n, r);
    } else {
      // The group holding the cap-th relevant item: count only relevant items whose rank among
      // the relevant ones is <= cap, i.e. X <= lim others ahead in the group.
      const std::int64_t lim = cap - rp - 1;
      for (std::int64_t t = 1; t <= n; ++t) {
        double e = 0.0;
        for (std::int64_t x = 0; x <= std::min(lim, t - 1); ++x)
          e += static_cast<double>(rp + 1 + x) * hypergeometric(n - 1, r - 1, t - 1, x);
        sum += static_cast<double>(r) / static_cast<double>(n) * e / static_cast<double>(s + t);
      }
    }
    s += n;
    rp += r;
  }
  return cap == 0 ? 0.0 : sum / static_cast<double>(cap);
}

double ap_average_at_k(std::span<const std::int64_t> groups, std::span<const std::int64_t> relevant, std::int64_t k) {
  const std::int64_t total_n = std::accumulate(groups.begin(), groups.end(), std::int64_t{0});
  const std::int64_t window = std::min(k, total_n);
  double before = 0.0;  // expected sum over the groups wholly inside the window
  std::int64_t s = 0;
  std::int64_t rp = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::int64_t n = groups[g];
    const std::int64_t r = relevant[g];
    if (s + n <= window) {
      if (r > 0) before += block_sum(harmonics(s, n), rp, n, r);
      s += n;
      rp += r;
      if (s == window) break;
      continue;
    }
    // Straddling group: m of its r relevant items fall in its first w positions.
    const std::int64_t w = window - s;
    const Harmonics h = harmonics(s, w);
    double value = 0.0;
    for (std::int64_t m = std::max<std::int64_t>(0, w - (n - r)); m <= std::min(r, w); ++m) {
      if (rp + m == 0) continue;
      value += hypergeometric(n, r, w, m) * (before + block_sum(h, rp, w, m)) / static_cast<double>(rp + m);
    }
    return value;
  }
  return rp == 0 ? 0.0 : before / static_cast<double>(rp);
}

bool shares_label(const std::uint64_t* a, const std::uint64_t* b, std::int64_t words) {
  for (std::int64_t w = 0; w < words; ++w)
    if ((a[w] & b[w]) != 0) return true;
  return false;
}

}  // namespace

double average_precision(std::span<const std::uint8_t> rel, std::span<const std::int64_t> groups, MapVariant variant,
                         std::int64_t k, bool average) {
  if (!average) return ap_stable(rel, variant, k);
  thread_local std::vector<std::int64_t> relevant;
  relevant.clear();
  std::int64_t s = 0;
  for (const std::int64_t n : groups) {
    relevant.push_back(std::count(rel.begin() + s, rel.begin() + s + n, std::uint8_t{1}));
    s += n;
  }
  return average_precision_grouped(groups, relevant, variant, k);
}

double average_precision_grouped(std::span<const std::int64_t> groups, std::span<const std::int64_t> relevant,
                                 MapVariant variant, std::int64_t k) {
  const std::int64_t total = std::accumulate(relevant.begin(), relevant.end(), std::int64_t{0});
  switch (variant) {
    case MapVariant::All: return ap_average_all(groups, relevant, total);
    case MapVariant::KFirstRelevant: return ap_average_all(groups, relevant, std::min(k, total));
    case MapVariant::AtK: return ap_average_at_k(groups, relevant, k);
  }
  XMR_INVARIANT(false);
}

PackedLabels pack_labels(const MatrixView<const std::uint8_t>& labels) {
  PackedLabels p;
  p.rows = labels.rows();
  p.words = (labels.cols() + 63) / 64;
  p.bits.assign(detail::to_size(detail::mul_checked(p.rows, p.words, "labels")), 0);
  for (std::int64_t r = 0; r < p.rows; ++r) {
    const std::uint8_t* src = labels.row(r);
    std::uint64_t* dst = p.bits.data() + r * p.words;
    for (std::int64_t c = 0; c < labels.cols(); ++c)
      if (src[c] != 0) dst[c / 64] |= std::uint64_t{1} << (c % 64);
  }
  return p;
}

std::vector<double> hamming_ap(const MatrixView<const std::uint8_t>& query_codes,
                               const MatrixView<const std::uint8_t>& db_codes, const PackedLabels& query_labels,
                               const PackedLabels& db_labels, MapVariant variant, std::int64_t k, bool average) {
  const std::int64_t q = query_codes.rows();
  const std::int64_t n = db_codes.rows();
  const auto bytes = detail::to_size(query_codes.cols());
  const std::int64_t max_d = query_codes.cols() * 8;
  std::vector<double> ap(detail::to_size(q));
#pragma omp parallel
  {
    std::vector<std::int32_t> dist(detail::to_size(n));
    std::vector<std::int64_t> start(detail::to_size(max_d + 2));
    std::vector<std::uint8_t> rel(detail::to_size(n));
    std::vector<std::int64_t> groups;
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t qi = 0; qi < q; ++qi) {
      std::fill(start.begin(), start.end(), 0);
      for (std::int64_t i = 0; i < n; ++i) {
        dist[detail::to_size(i)] = hamming(query_codes.row(qi), db_codes.row(i), bytes);
        ++start[detail::to_size(dist[detail::to_size(i)] + 1)];
      }
      groups.clear();
      for (std::int64_t d = 0; d <= max_d; ++d) {
        if (start[detail::to_size(d + 1)] != 0) groups.push_back(start[detail::to_size(d + 1)]);
        start[detail::to_size(d + 1)] += start[detail::to_size(d)];
      }
      // Counting sort: visiting items by ascending index keeps ties in that order.
      const std::uint64_t* ql = query_labels.row(qi);
      for (std::int64_t i = 0; i < n; ++i) {
        const auto slot = start[detail::to_size(dist[detail::to_size(i)])]++;
        rel[detail::to_size(slot)] = shares_label(ql, db_labels.row(i), db_labels.words) ? 1 : 0;
      }
      ap[detail::to_size(qi)] = average_precision(rel, groups, variant, k, average);
    }
  }
  return ap;
}

namespace {

/// Ranks `scores` [n] by (descending score, ascending index) into `order`; NaN ranks last.
void rank_descending(const float* scores, std::int64_t n, std::vector<std::int64_t>& order) {
  order.resize(detail::to_size(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  auto key = [scores](std::int64_t i) {
    const float s = scores[i];
    return std::isnan(s) ? -INFINITY : s;
  };
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const float ka = key(a);
    const float kb = key(b);
    return ka > kb || (ka == kb && a < b);
  });
}

/// Calls f(first_row, rows, scores) for blocks of `a` rows: scores [rows x nb] = A_block B^T.
template <class F>
void score_blocks(const float* a, std::int64_t na, const float* b, std::int64_t nb, std::int64_t dim, F&& f) {
  const std::int64_t block = std::clamp<std::int64_t>(kScoreBufferFloats / std::max<std::int64_t>(nb, 1), 1, na);
  std::vector<float> scores(detail::to_size(block * nb));
  for (std::int64_t r0 = 0; r0 < na; r0 += block) {
    const std::int64_t rows = std::min(block, na - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(nb),
                static_cast<blasint>(dim), 1.0F, a + r0 * dim, static_cast<blasint>(dim), b, static_cast<blasint>(dim),
                0.0F, scores.data(), static_cast<blasint>(nb));
    f(r0, rows, scores.data());
  }
}

}  // namespace

std::vector<double> dense_ap(const float* queries, std::int64_t q, const float* db, std::int64_t n, std::int64_t dim,
                             const PackedLabels& query_labels, const PackedLabels& db_labels, MapVariant variant,
                             std::int64_t k, bool average) {
  std::vector<double> ap(detail::to_size(q));
  score_blocks(queries, q, db, n, dim, [&](std::int64_t r0, std::int64_t rows, const float* scores) {
#pragma omp parallel
    {
      std::vector<std::int64_t> order;
      std::vector<std::uint8_t> rel(detail::to_size(n));
      std::vector<std::int64_t> groups;
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = scores + r * n;
        rank_descending(row, n, order);
        const std::uint64_t* ql = query_labels.row(r0 + r);
        groups.clear();
        for (std::int64_t j = 0; j < n; ++j) {
          const std::int64_t i = order[detail::to_size(j)];
          rel[detail::to_size(j)] = shares_label(ql, db_labels.row(i), db_labels.words) ? 1 : 0;
          const bool tied = j > 0 && row[i] == row[order[detail::to_size(j - 1)]];
          if (tied)
            ++groups.back();
          else
            groups.push_back(1);
        }
        ap[detail::to_size(r0 + r)] = average_precision(rel, groups, variant, k, average);
      }
    }
  });
  return ap;
}

xmr::eval::RetrievalRecall image_text_recall(const float* images, std::int64_t n_images, const float* texts,
                                             std::int64_t n_texts, std::int64_t dim, std::int64_t captions_per_image) {
  std::vector<std::int64_t> i2t(detail::to_size(n_images));
  std::vector<std::int64_t> t2i(detail::to_size(n_texts));
  // Rank of `target` among `n` scores: those ordered before it by (descending, ascending index).
  auto rank_of = [](const float* s, std::int64_t n, std::int64_t target) {
    const float st = s[target];
    std::int64_t ahead = 0;
    for (std::int64_t j = 0; j < n; ++j) ahead += (s[j] > st || (s[j] == st && j < target)) ? 1 : 0;
    return ahead;
  };
  score_blocks(images, n_images, texts, n_texts, dim, [&](std::int64_t r0, std::int64_t rows, const float* scores) {
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* s = scores + r * n_texts;
      // The image's caption first in the ranking has the smallest rank of them all.
      std::int64_t best = (r0 + r) * captions_per_image;
      for (std::int64_t c = best + 1; c < (r0 + r + 1) * captions_per_image; ++c)
        if (s[c] > s[best]) best = c;
      i2t[detail::to_size(r0 + r)] = rank_of(s, n_texts, best);
    }
  });
  score_blocks(texts, n_texts, images, n_images, dim, [&](std::int64_t r0, std::int64_t rows, const float* scores) {
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r)
      t2i[detail::to_size(r0 + r)] = rank_of(scores + r * n_images, n_images, (r0 + r) / captions_per_image);
  });
  auto recall = [](const std::vector<std::int64_t>& ranks, std::int64_t k) {
    const auto hits = std::count_if(ranks.begin(), ranks.end(), [k](std::int64_t r) { return r < k; });
    return static_cast<double>(hits) / static_cast<double>(ranks.size());
  };
  xmr::eval::RetrievalRecall out;
  out.i2t_r1 = recall(i2t, 1);
  out.i2t_r5 = recall(i2t, 5);
  out.i2t_r10 = recall(i2t, 10);
  out.t2i_r1 = recall(t2i, 1);
  out.t2i_r5 = recall(t2i, 5);
  out.t2i_r10 = recall(t2i, 10);
  out.i2t_mean = (out.i2t_r1 + out.i2t_r5 + out.i2t_r10) / 3.0;
  out.t2i_mean = (out.t2i_r1 + out.t2i_r5 + out.t2i_r10) / 3.0;
  out.r_mean = (out.i2t_mean + out.t2i_mean) / 2.0;
  return out;
}

}  // namespace xmr::engine::eval
