// Average precision under the three variants and two tie policies, and the streaming drivers.
// Tie-averaged AP is exact: by linearity, a tied group of n items (s items before it, of which
// Rp relevant) holding r relevant items contributes sum_{t=1..n} (r/n) E[count | t relevant] /
// (s + t), with E[count | t relevant] = Rp + 1 + (t-1)(r-1)/(n-1) (hypergeometric mean);
// docs/eval.md derives the windowed and first-K variants, whose denominators are random.
#include "eval/metrics.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <numeric>

#include "common/check.h"
#include "common/host_array.h"

namespace xmr::engine::eval {
namespace {

using xmr::eval::MapVariant;

/// Scores buffered per block of queries (floats; 64 MB). OpenBLAS packs the database operand on
/// every sgemm call: at N = 190000 a 4M-float block (22 queries) spent ~20% more CPU than this.
constexpr std::int64_t kScoreBufferFloats = std::int64_t{1} << 24;

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

namespace {

/// Stable (ties by ascending index) AP from one query's keys (2 * distance + relevant, in item
/// order) and its per-distance counts `groups` / `relevant` [bins]. `start` / `rstart` [bins]
/// and `hits` are scratch. The position of item i is 1 + (items at smaller distances) + (items at
/// its distance with a smaller index); its count is the same for the relevant items. The walk is
/// branch-free (relevance is random, a branch on it mispredicts often): it appends every item's
/// (count, position) and advances over the relevant ones only; the sums follow in a second loop.
double stable_ap_from_keys(std::span<const std::uint16_t> keys, std::span<const std::int64_t> groups,
                           std::span<const std::int64_t> relevant, MapVariant variant, std::int64_t k,
                           std::vector<std::int64_t>& start, std::vector<std::int64_t>& rstart,
                           std::vector<std::array<std::int64_t, 2>>& hits) {
  const auto n = static_cast<std::int64_t>(keys.size());
  std::int64_t s = 0;
  std::int64_t rp = 0;
  for (std::size_t d = 0; d < groups.size(); ++d) {
    start[d] = s;
    rstart[d] = rp;
    s += groups[d];
    rp += relevant[d];
  }
  if (rp == 0) return 0.0;
  hits.resize(detail::to_size(rp) + 1);
  std::size_t m = 0;
  for (const std::uint16_t key : keys) {
    const std::size_t d = key >> 1U;
    const std::int64_t rel = key & 1U;
    const std::int64_t pos = ++start[d];
    const std::int64_t c = rstart[d] += rel;
    hits[m] = {c, pos};
    m += static_cast<std::size_t>(rel);
  }
  const std::int64_t window = variant == MapVariant::AtK ? std::min(k, n) : n;
  const std::int64_t cap = variant == MapVariant::KFirstRelevant ? std::min(k, rp) : rp;
  double sum = 0.0;
  std::int64_t count = 0;
  for (std::size_t j = 0; j < m; ++j) {
    const auto [c, pos] = hits[j];
    if (pos > window || c > cap) continue;
    sum += static_cast<double>(c) / static_cast<double>(pos);
    ++count;
  }
  return count == 0 ? 0.0 : sum / static_cast<double>(count);
}

}  // namespace

std::vector<double> hamming_ap(const MatrixView<const std::uint8_t>& query_codes,
                               const MatrixView<const std::uint8_t>& db_codes, const PackedLabels& query_labels,
                               const PackedLabels& db_labels, MapVariant variant, std::int64_t k, bool average) {
  const std::int64_t q = query_codes.rows();
  const std::int64_t n = db_codes.rows();
  const std::int64_t bins = query_codes.cols() * 8 + 1;
  const PackedCodes qc = pack_codes(query_codes);
  const PackedCodes dc = pack_codes(db_codes);
  const KeyScanFn scan = pick_key_scan(dc.words, db_labels.words);
  std::vector<double> ap(detail::to_size(q));
#pragma omp parallel
  {
    std::vector<std::uint16_t> keys(average ? 0 : detail::to_size(n));
    std::vector<std::int64_t> hist(detail::to_size(2 * bins));
    std::vector<std::int64_t> groups(detail::to_size(bins));
    std::vector<std::int64_t> relevant(detail::to_size(bins));
    std::vector<std::int64_t> start(detail::to_size(bins));
    std::vector<std::int64_t> rstart(detail::to_size(bins));
    std::vector<std::array<std::int64_t, 2>> hits;
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t qi = 0; qi < q; ++qi) {
      std::fill(hist.begin(), hist.end(), 0);
      scan(qc.row(qi), query_labels.row(qi), dc, db_labels, average ? nullptr : keys.data(), hist.data());
      for (std::size_t d = 0; d < groups.size(); ++d) {
        groups[d] = hist[2 * d] + hist[2 * d + 1];
        relevant[d] = hist[2 * d + 1];
      }
      ap[detail::to_size(qi)] = average ? average_precision_grouped(groups, relevant, variant, k)
                                        : stable_ap_from_keys(keys, groups, relevant, variant, k, start, rstart, hits);
    }
  }
  return ap;
}

xmr::eval::PrCurve pr_curve_hamming(const MatrixView<const std::uint8_t>& query_codes,
                                    const MatrixView<const std::uint8_t>& db_codes, const PackedLabels& query_labels,
                                    const PackedLabels& db_labels) {
  const std::int64_t q = query_codes.rows();
  const std::int64_t bits = query_codes.cols() * 8;
  const auto bins = detail::to_size(bits + 1);
  const PackedCodes qc = pack_codes(query_codes);
  const PackedCodes dc = pack_codes(db_codes);
  const KeyScanFn scan = pick_key_scan(dc.words, db_labels.words);
  xmr::eval::PrCurve out;
  out.bits = bits;
  out.queries = q;
  std::vector<double> p_sum(bins), r_sum(bins);
  std::vector<std::int64_t> hits(bins), good(bins), pairs(bins);
  std::int64_t total_good = 0;
  // Histograms of a block of queries at a time (bounded memory), reduced in query order.
  const std::int64_t block = std::clamp<std::int64_t>((std::int64_t{1} << 22) / (2 * (bits + 1)), 1, 1024);
  std::vector<std::int64_t> hist(detail::to_size(std::min(block, q) * 2 * (bits + 1)));
  for (std::int64_t q0 = 0; q0 < q; q0 += block) {
    const std::int64_t rows = std::min(block, q - q0);
    std::fill(hist.begin(), hist.end(), 0);
#pragma omp parallel for schedule(dynamic, 4)
    for (std::int64_t r = 0; r < rows; ++r)
      scan(qc.row(q0 + r), query_labels.row(q0 + r), dc, db_labels, nullptr,
           hist.data() + r * 2 * static_cast<std::int64_t>(bins));
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t* h = hist.data() + r * 2 * static_cast<std::int64_t>(bins);
      std::int64_t tsum = 0;
      for (std::size_t d = 0; d < bins; ++d) tsum += h[2 * d + 1];
      total_good += tsum;
      if (tsum == 0) ++out.no_relevant_queries;
      std::int64_t within = 0;
      std::int64_t count = 0;
      for (std::size_t d = 0; d < bins; ++d) {
        within += h[2 * d] + h[2 * d + 1];
        count += h[2 * d + 1];
        pairs[d] += within;
        good[d] += count;
        // pr_curve: queries with no relevant item are skipped; P and R are averaged over the
        // queries with a relevant item within the radius (P > 0).
        if (tsum == 0 || count == 0) continue;
        p_sum[d] += static_cast<double>(count) / static_cast<double>(within);
        r_sum[d] += static_cast<double>(count) / static_cast<double>(tsum);
        ++hits[d];
      }
    }
  }
  out.precision.resize(bins);
  out.recall.resize(bins);
  out.pooled_precision.resize(bins);
  out.pooled_recall.resize(bins);
  out.queries_with_hit = hits;
  for (std::size_t d = 0; d < bins; ++d) {
    const auto h = static_cast<double>(hits[d]);
    out.precision[d] = hits[d] == 0 ? 0.0 : p_sum[d] / h;
    out.recall[d] = hits[d] == 0 ? 0.0 : r_sum[d] / h;
    out.pooled_precision[d] = pairs[d] == 0 ? 0.0 : static_cast<double>(good[d]) / static_cast<double>(pairs[d]);
    out.pooled_recall[d] = total_good == 0 ? 0.0 : static_cast<double>(good[d]) / static_cast<double>(total_good);
  }
  return out;
}

namespace {

/// Order key of a score: a larger score gets a smaller key, -0 and +0 the same key, NaN the key
/// of -inf (ranked last, as a tie of -inf). Equal keys <=> equal scores (NaN aside).
std::uint32_t descending_key(float s) {
  if (std::isnan(s)) s = -INFINITY;
  if (s == 0.0F) s = 0.0F;
  const auto u = std::bit_cast<std::uint32_t>(s);
  const std::uint32_t ascending = (u & 0x80000000U) != 0 ? ~u : (u | 0x80000000U);
  return ~ascending;
}

/// Ranks `scores` [n] by (descending score, ascending index): `ranked` [n] receives
/// (key << 32 | index) in rank order. An LSD radix sort on the key (3 passes of 11 bits, a pass
/// skipped when all keys share its digit) is stable and starts from ascending indices, so ties
/// come out by ascending index; O(n) where a comparison sort cost ~20x more at n = 190000.
/// Needs n < 2^32 (the caller falls back to a comparison sort beyond).
void rank_descending(const float* scores, std::int64_t n, std::vector<std::uint64_t>& ranked,
                     std::vector<std::uint64_t>& scratch) {
  constexpr int kDigitBits = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
  ranked.resize(detail::to_size(n));
  scratch.resize(detail::to_size(n));
  std::array<std::array<std::uint32_t, kBuckets>, 3> count{};
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint32_t key = descending_key(scores[i]);
    ranked[detail::to_size(i)] = (std::uint64_t{key} << 32U) | static_cast<std::uint64_t>(i);
    for (std::size_t p = 0; p < 3; ++p) ++count[p][(key >> (p * kDigitBits)) & (kBuckets - 1)];
  }
  for (std::size_t p = 0; p < 3; ++p) {
    const unsigned shift = 32U + static_cast<unsigned>(p * kDigitBits);
    if (count[p][(ranked[0] >> shift) & (kBuckets - 1)] == static_cast<std::uint32_t>(n)) continue;
    std::uint32_t sum = 0;
    for (auto& c : count[p]) {
      const std::uint32_t c0 = c;
      c = sum;
      sum += c0;
    }
    for (const std::uint64_t e : ranked) scratch[count[p][(e >> shift) & (kBuckets - 1)]++] = e;
    ranked.swap(scratch);
  }
}

/// The same order by a comparison sort, for n >= 2^32.
void rank_descending_sort(const float* scores, std::int64_t n, std::vector<std::int64_t>& order) {
  order.resize(detail::to_size(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const std::uint32_t ka = descending_key(scores[a]);
    const std::uint32_t kb = descending_key(scores[b]);
    return ka < kb || (ka == kb && a < b);
  });
}

/// Calls f(first_row, rows, scores) for blocks of `a` rows: scores [rows x nb] = A_block B^T.
template <class F>
void score_blocks(const float* a, std::int64_t na, const float* b, std::int64_t nb, std::int64_t dim, F&& f) {
  const std::int64_t block = std::clamp<std::int64_t>(kScoreBufferFloats / std::max<std::int64_t>(nb, 1), 1, na);
  auto scores = detail::make_host_array<float>(detail::to_size(block * nb));
  for (std::int64_t r0 = 0; r0 < na; r0 += block) {
    const std::int64_t rows = std::min(block, na - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(nb),
                static_cast<blasint>(dim), 1.0F, a + r0 * dim, static_cast<blasint>(dim), b, static_cast<blasint>(dim),
                0.0F, scores.get(), static_cast<blasint>(nb));
    f(r0, rows, scores.get());
  }
}

}  // namespace

std::vector<double> dense_ap(const float* queries, std::int64_t q, const float* db, std::int64_t n, std::int64_t dim,
                             const PackedLabels& query_labels, const PackedLabels& db_labels, MapVariant variant,
                             std::int64_t k, bool average) {
  std::vector<double> ap(detail::to_size(q));
  // Per-thread buffers live across score blocks: made anew per block they cost more (zeroing,
  // and page faults on fresh mappings) than the radix sort itself.
  struct Scratch {
    std::vector<std::uint64_t> ranked;
    std::vector<std::uint64_t> scratch;
    std::vector<std::int64_t> order;
    std::vector<std::uint8_t> rel;           // [n] in rank order
    std::vector<std::uint8_t> rel_by_index;  // [n] in item order: read sequentially, then looked up
    std::vector<std::int64_t> groups;
  };
  std::vector<Scratch> per_thread(detail::to_size(omp_get_max_threads()));
  score_blocks(queries, q, db, n, dim, [&](std::int64_t r0, std::int64_t rows, const float* scores) {
#pragma omp parallel
    {
      Scratch& t = per_thread[detail::to_size(omp_get_thread_num())];
      // Plain references, not a structured binding: the lambda below uses them, and clang 14
      // cannot capture structured bindings.
      auto& ranked = t.ranked;
      auto& scratch = t.scratch;
      auto& order = t.order;
      auto& rel = t.rel;
      auto& rel_by_index = t.rel_by_index;
      auto& groups = t.groups;
      rel.resize(detail::to_size(n));
      rel_by_index.resize(detail::to_size(n));
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = scores + r * n;
        const std::uint64_t* ql = query_labels.row(r0 + r);
        for (std::int64_t i = 0; i < n; ++i)
          rel_by_index[detail::to_size(i)] = shares_label(ql, db_labels.row(i), db_labels.words) ? 1 : 0;
        groups.clear();
        std::uint32_t prev_key = 0;
        auto visit = [&](std::int64_t j, std::int64_t i, std::uint32_t key) {
          rel[detail::to_size(j)] = rel_by_index[detail::to_size(i)];
          if (!average) return;  // the tied groups matter only to the average
          if (j > 0 && key == prev_key)
            ++groups.back();
          else
            groups.push_back(1);
          prev_key = key;
        };
        if (n < (std::int64_t{1} << 32)) {
          rank_descending(row, n, ranked, scratch);
          for (std::int64_t j = 0; j < n; ++j) {
            const std::uint64_t e = ranked[detail::to_size(j)];
            visit(j, static_cast<std::int64_t>(e & 0xFFFFFFFFU), static_cast<std::uint32_t>(e >> 32U));
          }
        } else {
          rank_descending_sort(row, n, order);
          for (std::int64_t j = 0; j < n; ++j) {
            const std::int64_t i = order[detail::to_size(j)];
            visit(j, i, descending_key(row[i]));
          }
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
