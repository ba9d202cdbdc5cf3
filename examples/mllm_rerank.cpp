// An MLLM-style listwise re-ranker on top of an xmr shortlist: the "MLLM" reads a query's whole
// candidate list and picks ONE candidate (as generative retrieval with InternLM-XComposer or
// BLIP-2 does: show the model the query and the shortlist, ask which one matches), in one batched
// xmr call over all queries.
//
//   1. shortlist: each caption's 20 most similar images by cosine (ShortlistBy::Embeddings);
//   2. listwise re-rank (PipelineOptions::listwise): every scorer call gets whole queries, so the
//      re-ranker can compare a query's candidates with each other; it returns kPickScore for its
//      pick and 0 for every other candidate;
//   3. fusion Sum: final = re-rank score + similarity. Cosine similarities lie in [-1, 1], so any
//      two differ by at most 2 < kPickScore = 3: the pick ranks first whatever its similarity,
//      and the others (all + 0) keep their similarity order. (Replace would rank the pick first
//      but tie all the others at 0, ordered by id; Weighted with shortlist_weight = 1 and
//      rerank_weight = 1 is the same as Sum.)
//
// There is no MLLM here: StandInMllm picks the candidate whose labels (the synthetic generator's
// ground truth, standing for what the model sees in the pictures) agree best with the caption's,
// ties by similarity. Prints how often the pick is the caption's image against ITC's top-1, and
// exits non-zero when a result is inconsistent (a scorer call holding part of a query's list, a
// pick not ranked first, the others out of similarity order, wrong counts, NaN).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <xmr/xmr.h>

namespace {

constexpr std::int64_t kImages = 1000;
constexpr std::int64_t kCaptionsPerImage = 5;
constexpr std::int64_t kDim = 256;
constexpr std::int64_t kCandidates = 20;  // the list the MLLM reads
constexpr std::int64_t kTopK = 10;
constexpr std::int64_t kScorerBatch = 64;  // pairs per call: 3 whole lists of 20
constexpr float kPickScore = 3.0f;         // above the width (2) of the cosine range
constexpr std::uint64_t kSeed = 7;

std::size_t sz(std::int64_t i) {
  return static_cast<std::size_t>(i);
}

int g_failures = 0;
void fail(const std::string& what) {
  if (g_failures < 20) std::fprintf(stderr, "INCONSISTENT: %s\n", what.c_str());
  ++g_failures;
}

/// A stand-in for a multimodal LLM asked "which of these images shows <caption>?". NOT a model:
/// it picks the candidate whose labels agree best with the caption's (Jaccard), the first in the
/// list (the most similar) among equals, and scores it kPickScore, the rest 0. It needs a query's
/// whole list in one call, which is what `listwise` promises; it checks that promise and records
/// its picks. Thread-safe: each query's list is in exactly one call, so each pick slot is written
/// by one thread; the bookkeeping is under a mutex.
class StandInMllm final : public xmr::PairScorer {
 public:
  explicit StandInMllm(const xmr::synth::CrossModalData& data)
      : data_(data), picks_(sz(data.num_texts), -1), seen_(sz(data.num_texts), 0), pieces_(sz(data.num_texts), 0) {}

  void score(const xmr::PairBatch& pairs, std::span<float> scores) override {
    const auto n = static_cast<std::int64_t>(scores.size());
    std::int64_t lists = 0;
    for (std::int64_t lo = 0; lo < n;) {
      std::int64_t hi = lo + 1;
      while (hi < n && pairs.query_rows[sz(hi)] == pairs.query_rows[sz(lo)]) ++hi;
      pick(pairs, scores, lo, hi);
      ++lists;
      lo = hi;
    }
    std::lock_guard lock(mutex_);
    ++calls_;
    // At most scorer_batch pairs, unless a single list is longer.
    if (n > kScorerBatch && lists > 1) ++bad_;
  }

  [[nodiscard]] std::int64_t pick_of(std::int64_t row) const { return picks_[sz(row)]; }
  [[nodiscard]] std::int64_t pairs_seen(std::int64_t row) const { return seen_[sz(row)]; }
  /// In how many pieces (scorer calls) the query's list came: 1 when listwise works.
  [[nodiscard]] std::int64_t pieces(std::int64_t row) const { return pieces_[sz(row)]; }
  [[nodiscard]] std::int64_t calls() const { return calls_; }
  [[nodiscard]] std::int64_t bad_batches() const { return bad_; }

 private:
  /// One query's list: pairs [lo, hi) of the batch.
  void pick(const xmr::PairBatch& pairs, std::span<float> scores, std::int64_t lo, std::int64_t hi) {
    const std::int64_t row = pairs.query_rows[sz(lo)];
    const std::int64_t nl = data_.num_labels;
    std::int64_t best = lo;
    double best_agreement = -1;
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::int64_t image = pairs.candidate_ids[sz(i)];
      int both = 0;
      int either = 0;
      for (std::int64_t l = 0; l < nl; ++l) {
        const bool a = data_.text_labels[sz(row * nl + l)] != 0;
        const bool b = data_.image_labels[sz(image * nl + l)] != 0;
        both += a && b ? 1 : 0;
        either += a || b ? 1 : 0;
      }
      const double agreement = either == 0 ? 0.0 : static_cast<double>(both) / either;
      // Strictly better only: among equals the first (most similar) stays. The list arrives best
      // similarity first; check that too.
      if (agreement > best_agreement) {
        best_agreement = agreement;
        best = i;
      }
      if (i > lo && pairs.similarity[sz(i)] > pairs.similarity[sz(i - 1)]) {
        std::lock_guard lock(mutex_);
        ++bad_;
      }
      scores[sz(i)] = 0.0f;
    }
    scores[sz(best)] = kPickScore;
    picks_[sz(row)] = pairs.candidate_ids[sz(best)];
    std::lock_guard lock(mutex_);
    seen_[sz(row)] += hi - lo;
    pieces_[sz(row)] += 1;
  }

  const xmr::synth::CrossModalData& data_;
  std::vector<std::int64_t> picks_;   // [queries]: the picked image
  std::vector<std::int64_t> seen_;    // [queries]: pairs received (kCandidates)
  std::vector<std::int64_t> pieces_;  // [queries]: calls they came in (1)
  std::mutex mutex_;
  std::int64_t calls_ = 0;
  std::int64_t bad_ = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run() {
  const auto t_start = std::chrono::steady_clock::now();
  const xmr::synth::CrossModalData data = xmr::synth::make_cross_modal({.num_images = kImages,
                                                                        .captions_per_image = kCaptionsPerImage,
                                                                        .num_labels = 24,
                                                                        .max_labels_per_item = 3,
                                                                        .dim = kDim,
                                                                        .seed = kSeed});
  xmr::Collection images(xmr::CollectionOptions{.name = "images", .dim = kDim, .device = xmr::Device::Auto});
  images.add({.embeddings = data.images()});
  const std::int64_t nq = data.num_texts;
  xmr::Queries captions;
  captions.embeddings = data.texts();  // no ids: the scorer sees query rows (and query id -1)

  // The similarity order alone: the reference for the checks and ITC's top-1.
  const xmr::PipelineResult itc = xmr::retrieve(images, captions, {.k = kCandidates, .candidates = kCandidates});

  StandInMllm mllm(data);
  const xmr::PipelineOptions options{.k = kTopK,
                                     .candidates = kCandidates,
                                     .scorer = &mllm,
                                     .scorer_batch = kScorerBatch,
                                     .listwise = true,
                                     .scorer_threads = 2,
                                     .fusion = {.mode = xmr::FusionMode::Sum}};
  const xmr::PipelineResult r = xmr::retrieve(images, captions, options);

  // Counts: every list whole and in one call; calls of floor(64 / 20) = 3 lists.
  const xmr::PipelineStats& s = r.stats;
  const std::int64_t lists_per_call = kScorerBatch / kCandidates;
  const std::int64_t calls = (nq + lists_per_call - 1) / lists_per_call;
  if (r.num_queries != nq || r.k != kTopK || r.ids.size() != sz(nq * kTopK) || r.rerank_scores.size() != r.ids.size()) {
    fail("result has the wrong shape");
    return 1;
  }
  if (s.shortlisted != nq * kCandidates || s.reranked != nq * kCandidates || s.scorer_calls != calls ||
      mllm.calls() != calls) {
    fail("stats: " + std::to_string(s.reranked) + " pairs re-ranked in " + std::to_string(s.scorer_calls) +
         " calls (scorer saw " + std::to_string(mllm.calls()) + "), expected " + std::to_string(nq * kCandidates) +
         " in " + std::to_string(calls));
  }
  if (mllm.bad_batches() != 0) fail("a scorer call was too large or its lists out of similarity order");

  std::int64_t pick_right = 0;
  std::int64_t itc_right = 0;
  std::int64_t changed = 0;
  std::int64_t changed_pick_right = 0;
  std::int64_t changed_itc_right = 0;
  std::int64_t r5 = 0;
  std::int64_t r10 = 0;
  for (std::int64_t q = 0; q < nq; ++q) {
    const std::string where = "query " + std::to_string(q);
    if (mllm.pairs_seen(q) != kCandidates || mllm.pieces(q) != 1) {
      fail(where + ": the scorer saw " + std::to_string(mllm.pairs_seen(q)) + " of its " + std::to_string(kCandidates) +
           " candidates in " + std::to_string(mllm.pieces(q)) + " calls (a partial list)");
      continue;
    }
    const std::int64_t pick = mllm.pick_of(q);
    const std::int64_t truth = data.text_image[sz(q)];
    if (r.id(q, 0) != pick) fail(where + ": the pick " + std::to_string(pick) + " is not ranked first");
    // The rest: the similarity order without the pick.
    std::int64_t j = 1;
    for (std::int64_t i = 0; i < kCandidates && j < kTopK; ++i) {
      const std::int64_t id = itc.id(q, i);
      if (id == pick) continue;
      const auto e = sz(q * kTopK + j);
      if (r.ids[e] != id || std::fabs(r.shortlist_scores[e] - itc.score(q, i)) > 1e-5f || r.rerank_scores[e] != 0.0f ||
          r.scores[e] != r.shortlist_scores[e]) {
        fail(where + " result " + std::to_string(j) + ": not the similarity order without the pick");
      }
      ++j;
    }
    const auto first = sz(q * kTopK);
    if (r.rerank_scores[first] != kPickScore || r.scores[first] != kPickScore + r.shortlist_scores[first]) {
      fail(where + ": the pick's scores are not kPickScore and kPickScore + similarity");
    }
    for (std::int64_t k = 0; k < kTopK; ++k) {
      if (std::isnan(r.score(q, k)) || r.id(q, k) < 0) fail(where + ": NaN score or empty slot");
      r5 += k < 5 && r.id(q, k) == truth ? 1 : 0;
      r10 += r.id(q, k) == truth ? 1 : 0;
    }
    const bool p = pick == truth;
    const bool t = itc.id(q, 0) == truth;
    pick_right += p ? 1 : 0;
    itc_right += t ? 1 : 0;
    if (pick != itc.id(q, 0)) {
      ++changed;
      changed_pick_right += p ? 1 : 0;
      changed_itc_right += t ? 1 : 0;
    }
  }

  const auto frac = [&](std::int64_t n) { return static_cast<double>(n) / static_cast<double>(nq); };
  std::printf("%lld captions -> %lld images (%lld-d, cosine), shortlist of %lld, listwise re-rank, fusion Sum\n",
              static_cast<long long>(nq), static_cast<long long>(kImages), static_cast<long long>(kDim),
              static_cast<long long>(kCandidates));
  std::printf("top-1 is the caption's image:  ITC %.3f   MLLM pick %.3f\n", frac(itc_right), frac(pick_right));
  std::printf("the pick differs from ITC's top-1 for %lld captions: pick right %lld, ITC right %lld, neither %lld\n",
              static_cast<long long>(changed), static_cast<long long>(changed_pick_right),
              static_cast<long long>(changed_itc_right),
              static_cast<long long>(changed - changed_pick_right - changed_itc_right));
  std::printf("final list: R@1 %.3f  R@5 %.3f  R@10 %.3f\n", frac(pick_right), frac(r5), frac(r10));
  std::printf(
      "stats: shortlist %.3f s, rerank %.3f s, fusion %.3f s, total %.3f s on the %s; %lld pairs in %lld scorer "
      "calls\n",
      s.shortlist_seconds, s.rerank_seconds, s.fusion_seconds, s.total_seconds, xmr::to_string(r.device),
      static_cast<long long>(s.reranked), static_cast<long long>(s.scorer_calls));
  // Sanity: the labels the pick reads are the truth's, so it cannot do worse than chance picks
  // among the list; a floor well under what it reaches catches a broken flow.
  if (frac(pick_right) < frac(itc_right) || frac(pick_right) < 0.3) {
    fail("pick accuracy " + std::to_string(frac(pick_right)) + " below ITC's or the floor 0.3");
  }
  std::printf("(stand-in MLLM: label agreement, ties by similarity; synthetic data, seed %llu)\n",
              static_cast<unsigned long long>(kSeed));
  std::printf("total %.2f s; %s\n", seconds_since(t_start), xmr::device_summary().c_str());
  if (g_failures > 0) {
    std::fprintf(stderr, "%d inconsistencies\n", g_failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
