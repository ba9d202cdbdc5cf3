// xmr::retrieve and xmr::CrossModalIndex: shortlist -> exact re-score -> cross-encoder re-rank ->
// fusion, with filters and group-by, for a batch of queries (docs/pipeline.md).
//
// The call holds the collection's lock shared throughout, so every stage sees one version of
// every part. Queries are processed in chunks; with a scorer and more than one chunk, stage 1 of
// chunk i + 1 runs on a second thread while stages 2 and 3 of chunk i run here.
//
// Filters are applied inside stage 1, exactly: when few items fail the filter, stage 1 fetches
// C + (number failing) per query and drops the failing ones (at least C passing items remain
// whenever C exist); otherwise it searches a copy of just the passing items (engine::gather_rows,
// gather_items). Either way the shortlist equals an exact search over the passing items.
#include "xmr/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "binary_index_impl.h"
#include "collection_impl.h"
#include "common/check.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "dense_index_impl.h"
#include "glue.h"
#include "multi_vector/storage.h"
#include "multi_vector_impl.h"

namespace xmr {

namespace {

using Clock = std::chrono::steady_clock;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr std::int64_t kMaxCandidates = std::int64_t{1} << 20;
constexpr int kMaxScorerThreads = 256;
/// Stage 1 over-fetches (instead of copying the passing items) while the items failing the
/// filter are at most this many times C.
constexpr std::int64_t kOverfetchFactor = 3;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// Every value finite and, under cosine, no zero row: checked for all queries before any stage
/// runs (the stages check again per chunk, but a bad last chunk must not fail after the scorer
/// has seen the first).
void check_values(MatrixView<const float> v, const char* name, Metric metric) {
  for (std::int64_t r = 0; r < v.rows(); ++r) {
    const float* row = v.row(r);
    double norm = 0.0;
    for (std::int64_t c = 0; c < v.cols(); ++c) {
      XMR_EXPECTS(std::isfinite(row[c]), name, "[", r, "][", c, "] (= ", row[c], ") must be finite");
      norm += static_cast<double>(row[c]) * static_cast<double>(row[c]);
    }
    XMR_EXPECTS(metric != Metric::Cosine || norm > 0.0, name, "[", r, "] has zero norm: cosine is undefined for it");
  }
}

struct Plan {
  std::int64_t num_queries = 0;
  bool uses_embeddings = false;
  bool uses_vectors = false;
  /// ShortlistBy::MultiVector (MaxSim) against a collection of single embeddings: every query
  /// vector searches the embeddings and each item keeps its best score over them.
  bool token_search = false;
  bool uses_codes = false;
  bool has_scorer = false;
};

Plan check_call(const Collection::Impl& c, const Queries& q, const PipelineOptions& o) {
  const CollectionOptions& co = c.options;
  Plan p;
  XMR_EXPECTS(o.k >= 1 && o.k <= kMaxCandidates, "options.k (= ", o.k, ") must be in [1, ", kMaxCandidates, "]");
  XMR_EXPECTS(o.candidates >= o.k && o.candidates <= kMaxCandidates, "options.candidates (= ", o.candidates,
              ") must be in [options.k (= ", o.k, "), ", kMaxCandidates, "]: results come from the shortlist");
  switch (o.shortlist) {
    case ShortlistBy::Embeddings:
      XMR_EXPECTS(c.dense != nullptr, "options.shortlist (= embeddings): collection '", co.name,
                  "' has no embeddings (options.dim = 0)");
      p.uses_embeddings = true;
      break;
    case ShortlistBy::MultiVector:
      p.uses_vectors = true;
      if (c.multi_vector != nullptr) break;
      // Single-vector items: MaxSim over the embeddings (the max over query vectors of a dense
      // search per query vector, which is exact: see Runner::stage1).
      XMR_EXPECTS(c.dense != nullptr, "options.shortlist (= multi_vector): collection '", co.name,
                  "' has no multi-vector items and no embeddings (options.multi_vector_dim = 0, options.dim = 0)");
      XMR_EXPECTS(o.reduce == MultiVectorReduce::MaxSim,
                  "options.shortlist (= multi_vector) with options.reduce (= ", "sum_max_sim): collection '", co.name,
                  "' has no multi-vector items (options.multi_vector_dim = 0), and over its embeddings only max_sim "
                  "is supported");
      p.token_search = true;
      break;
    case ShortlistBy::Codes:
      XMR_EXPECTS(c.codes != nullptr, "options.shortlist (= codes): collection '", co.name,
                  "' has no codes (options.code_bits = 0)");
      p.uses_codes = true;
      break;
    default:
      detail::fail(ErrorCode::InvalidArgument, "options.shortlist (= ", static_cast<int>(o.shortlist),
                   ") is not a ShortlistBy value");
  }
  switch (o.rescore) {
    case RescoreBy::None: break;
    case RescoreBy::Embeddings:
      XMR_EXPECTS(c.dense != nullptr, "options.rescore (= embeddings): collection '", co.name,
                  "' has no embeddings (options.dim = 0)");
      p.uses_embeddings = true;
      break;
    case RescoreBy::MultiVector:
      XMR_EXPECTS(c.multi_vector != nullptr, "options.rescore (= multi_vector): collection '", co.name,
                  "' has no multi-vector items (options.multi_vector_dim = 0)");
      p.uses_vectors = true;
      break;
    default:
      detail::fail(ErrorCode::InvalidArgument, "options.rescore (= ", static_cast<int>(o.rescore),
                   ") is not a RescoreBy value");
  }
  XMR_EXPECTS(o.reduce == MultiVectorReduce::MaxSim || o.reduce == MultiVectorReduce::SumMaxSim,
              "options.reduce (= ", static_cast<int>(o.reduce), ") is not a MultiVectorReduce value");
  XMR_EXPECTS(o.scorer == nullptr || !o.score_fn, "options.scorer and options.score_fn are both set: give one");
  p.has_scorer = o.scorer != nullptr || static_cast<bool>(o.score_fn);
  XMR_EXPECTS(o.scorer_batch >= 1, "options.scorer_batch (= ", o.scorer_batch, ") must be >= 1");
  XMR_EXPECTS(o.scorer_threads >= 1 && o.scorer_threads <= kMaxScorerThreads,
              "options.scorer_threads (= ", o.scorer_threads, ") must be in [1, ", kMaxScorerThreads, "]");
  XMR_EXPECTS(o.query_chunk >= 0, "options.query_chunk (= ", o.query_chunk, ") must be >= 0 (0: one chunk)");
  const Fusion& f = o.fusion;
  XMR_EXPECTS(f.mode == FusionMode::Replace || f.mode == FusionMode::Sum || f.mode == FusionMode::Weighted,
              "options.fusion.mode (= ", static_cast<int>(f.mode), ") is not a FusionMode value");
  XMR_EXPECTS(std::isfinite(f.shortlist_weight), "options.fusion.shortlist_weight (= ", f.shortlist_weight,
              ") must be finite");
  XMR_EXPECTS(std::isfinite(f.rescore_weight), "options.fusion.rescore_weight (= ", f.rescore_weight,
              ") must be finite");
  XMR_EXPECTS(std::isfinite(f.rerank_weight), "options.fusion.rerank_weight (= ", f.rerank_weight, ") must be finite");
  for (const auto* labels : {&o.filter.any_labels, &o.filter.all_labels}) {
    const char* name = labels == &o.filter.any_labels ? "options.filter.any_labels" : "options.filter.all_labels";
    XMR_EXPECTS(labels->empty() || co.num_labels > 0, name, " given, but collection '", co.name,
                "' has no labels (options.num_labels = 0)");
    for (std::size_t i = 0; i < labels->size(); ++i) {
      const std::int64_t l = (*labels)[i];
      XMR_EXPECTS(l >= 0 && l < co.num_labels, name, "[", i, "] (= ", l, ") must be in [0, ", co.num_labels, ")");
    }
  }
  XMR_EXPECTS(!o.group_by || co.groups, "options.group_by (= true): collection '", co.name,
              "' has no group ids (options.groups = false)");
  XMR_EXPECTS(c.meta->size() > 0, "collection '", co.name, "' is empty (size = 0): add items before searching");

  // The queries: every field a stage uses, with one count.
  std::int64_t nq = -1;
  const char* first = nullptr;
  auto count = [&](std::int64_t n, const char* name) {
    if (nq < 0) {
      nq = n;
      first = name;
    }
    XMR_EXPECTS(n == nq, name, " has ", n, " queries, but ", first, " has ", nq);
  };
  if (p.uses_embeddings) {
    engine::check_input_view(q.embeddings, "queries.embeddings", co.dim);
    check_values(q.embeddings, "queries.embeddings", co.metric);
    count(q.embeddings.rows(), "queries.embeddings");
  }
  if (p.uses_vectors) {
    count(detail::check_multi_vector_batch(q.vectors, "queries.vectors", p.token_search ? co.dim : co.multi_vector_dim),
          "queries.vectors");
    check_values(q.vectors.vectors, "queries.vectors.vectors", co.metric);
  }
  if (p.uses_codes) {
    engine::check_input_view(q.codes, "queries.codes", co.code_bits / 8);
    count(q.codes.rows(), "queries.codes");
  }
  p.num_queries = nq;
  XMR_EXPECTS(q.ids.empty() || static_cast<std::int64_t>(q.ids.size()) == nq, "queries.ids.size() (= ", q.ids.size(),
              ") must be 0 or the number of queries (= ", nq, ")");
  XMR_EXPECTS(q.ids.data() != nullptr || q.ids.empty(), "queries.ids.data() (= null) with size ", q.ids.size());
  return p;
}

// ---------------------------------------------------------------------------------------------
// Filters.

/// Positions (in the collection's id order) of the items that pass `f`.
std::vector<std::int64_t> passing_positions(const Collection::Impl& c, const Filter& f) {
  const detail::CollectionMeta& m = *c.meta;
  const auto words = detail::to_size(c.label_words);
  std::vector<std::uint64_t> any(words, 0);
  std::vector<std::uint64_t> all(words, 0);
  for (const std::int64_t l : f.any_labels) any[detail::to_size(l / 64)] |= std::uint64_t{1} << (l % 64);
  for (const std::int64_t l : f.all_labels) all[detail::to_size(l / 64)] |= std::uint64_t{1} << (l % 64);
  const auto bitset_ids = static_cast<std::int64_t>(f.id_bitset.size()) * 64;
  std::vector<std::int64_t> out;
  for (std::int64_t p = 0; p < m.size(); ++p) {
    const std::uint64_t* row = m.labels.data() + detail::to_size(p) * words;
    bool ok = true;
    if (!f.any_labels.empty()) {
      bool hit = false;
      for (std::size_t w = 0; w < words && !hit; ++w) hit = (row[w] & any[w]) != 0;
      ok = hit;
    }
    for (std::size_t w = 0; w < words && ok && !f.all_labels.empty(); ++w) ok = (row[w] & all[w]) == all[w];
    if (ok && !f.id_bitset.empty()) {
      const std::int64_t id = m.ids[detail::to_size(p)];
      ok = id < bitset_ids && ((f.id_bitset[detail::to_size(id / 64)] >> (id % 64)) & 1U) != 0;
    }
    if (ok) out.push_back(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The call.

/// What stage 1 searches: the collection's index, or a copy of the items passing the filter.
struct Source {
  std::shared_ptr<const engine::DenseSnapshot> rows;           // embeddings or codes
  std::shared_ptr<const engine::MultiVectorSnapshot> vectors;  // multi-vector items
  engine::gpu::MirrorCache* cache = nullptr;                   // device copies of `rows`/`vectors`
  engine::gpu::MirrorCache own_cache;                          // ... for a gathered copy
  std::int64_t size = 0;                                       // items searched
  std::int64_t fetch = 0;                                      // results per query to ask for
  std::vector<std::uint64_t> pass;                             // over-fetching: passing positions (bitset), else empty
};

/// One chunk of queries through the stages: [qn x C] candidates and stage scores.
struct Chunk {
  std::int64_t q0 = 0;
  std::int64_t qn = 0;
  std::vector<std::int64_t> ids;  // [qn x C], -1 past the candidates found
  std::vector<float> s1, s2, s3;  // [qn x C] stage scores (s2, s3 when the stage runs)
  std::int64_t found = 0;
  double seconds = 0;
  Device device = Device::Cpu;
};

class Runner {
 public:
  Runner(const Collection::Impl& c, const Queries& q, const PipelineOptions& o, const Plan& p, Resources& res)
      : c_(c), q_(q), o_(o), p_(p), res_(res), C_(o.candidates) {}

  PipelineResult run();

 private:
  void prepare_source();
  void stage1(Chunk& ch) const;
  Device token_search(const MultiVectorBatch& qb, std::int64_t f, std::vector<std::int64_t>& ids,
                      std::vector<float>& scores, const SearchOptions& so) const;
  void stage2(Chunk& ch, PipelineStats& st) const;
  void stage3(Chunk& ch, PipelineStats& st) const;
  void finish(const Chunk& ch, PipelineResult& r) const;
  [[nodiscard]] MultiVectorBatch query_vectors(std::int64_t q0, std::int64_t qn, std::vector<std::int64_t>& offs) const;

  const Collection::Impl& c_;
  const Queries& q_;
  const PipelineOptions& o_;
  const Plan& p_;
  Resources& res_;
  const std::int64_t C_;
  Source src_;
  std::int64_t filtered_ = -1;
};

void Runner::prepare_source() {
  const auto N = c_.meta->size();
  src_.size = N;
  if (o_.shortlist == ShortlistBy::Embeddings || p_.token_search) {
    src_.rows = c_.dense->impl().current();
    src_.cache = &c_.dense->impl().mirrors;
  } else if (o_.shortlist == ShortlistBy::Codes) {
    src_.rows = c_.codes->impl().current();
    src_.cache = &c_.codes->impl().mirrors;
  } else {
    src_.vectors = c_.multi_vector->impl().current();
    src_.cache = &c_.multi_vector->impl().mirrors();
  }
  src_.fetch = std::min(C_, N);
  if (o_.filter.empty()) return;
  const std::vector<std::int64_t> pass = passing_positions(c_, o_.filter);
  const auto M = static_cast<std::int64_t>(pass.size());
  filtered_ = M;
  if (M == N) return;
  if (M == 0) {
    src_.size = 0;
    return;
  }
  if (N - M <= kOverfetchFactor * C_) {
    src_.fetch = std::min(C_ + (N - M), N);
    src_.pass.assign(detail::to_size((N + 63) / 64), 0);
    for (const std::int64_t p : pass) src_.pass[detail::to_size(p / 64)] |= std::uint64_t{1} << (p % 64);
    return;
  }
  src_.size = M;
  src_.fetch = std::min(C_, M);
  src_.cache = &src_.own_cache;
  if (src_.rows) {
    src_.rows = engine::gather_rows(*src_.rows, pass);
  } else {
    src_.vectors = engine::gather_items(*src_.vectors, pass);
  }
}

MultiVectorBatch Runner::query_vectors(std::int64_t q0, std::int64_t qn, std::vector<std::int64_t>& offs) const {
  const MultiVectorBatch& b = q_.vectors;
  const MatrixView<const float>& v = b.vectors;
  if (b.offsets.empty()) return {MatrixView<const float>(v.row(q0), qn, v.cols(), v.stride()), {}};
  const std::int64_t base = b.offsets[detail::to_size(q0)];
  const std::int64_t end = b.offsets[detail::to_size(q0 + qn)];
  offs.resize(detail::to_size(qn + 1));
  for (std::int64_t i = 0; i <= qn; ++i) offs[detail::to_size(i)] = b.offsets[detail::to_size(q0 + i)] - base;
  return {MatrixView<const float>(v.row(base), end - base, v.cols(), v.stride()), offs};
}

/// MaxSim of multi-vector queries against single-embedding items, [qn x f] best first: each
/// query vector searches the embeddings for its f best, and each item keeps its best score over
/// the query's vectors. Exact: if item x is among a query's f best by MaxSim, reached at query
/// vector t, every item above x for t has a MaxSim above x's too, so fewer than f are, and x is in
/// t's f best (the same holds for the over-fetch of a filter: f = C + failing items).
Device Runner::token_search(const MultiVectorBatch& qb, std::int64_t f, std::vector<std::int64_t>& ids,
                            std::vector<float>& scores, const SearchOptions& so) const {
  const std::int64_t qn = qb.size();
  const std::int64_t rows = qb.vectors.rows();
  std::vector<std::int64_t> tid(detail::to_size(detail::mul_checked(rows, f, "query vectors x candidates")));
  std::vector<float> tsc(tid.size());
  const Device device = c_.dense->impl().search_snapshot(*src_.rows, *src_.cache, qb.vectors, f,
                                                         MatrixView<std::int64_t>(tid.data(), rows, f),
                                                         MatrixView<float>(tsc.data(), rows, f), so);
  std::vector<std::pair<std::int64_t, float>> best;  // (id, score)
  for (std::int64_t q = 0; q < qn; ++q) {
    const std::int64_t r0 = qb.offsets.empty() ? q : qb.offsets[detail::to_size(q)];
    const std::int64_t r1 = qb.offsets.empty() ? q + 1 : qb.offsets[detail::to_size(q + 1)];
    best.clear();
    for (std::int64_t r = r0; r < r1; ++r) {
      for (std::int64_t j = 0; j < f; ++j) {
        const auto e = detail::to_size(r * f + j);
        if (tid[e] < 0) break;
        best.emplace_back(tid[e], tsc[e]);
      }
    }
    // Per id its best score (NaN only when every one of its scores is NaN), then the ranking:
    // descending score, NaN last, ties by ascending id.
    auto better = [](float a, float b) { return std::isnan(b) ? !std::isnan(a) : a > b; };
    std::sort(best.begin(), best.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return better(a.second, b.second);
    });
    best.erase(std::unique(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
               best.end());
    std::sort(best.begin(), best.end(), [&](const auto& a, const auto& b) {
      if (better(a.second, b.second)) return true;
      if (better(b.second, a.second)) return false;
      return a.first < b.first;
    });
    for (std::int64_t j = 0; j < f; ++j) {
      const auto e = detail::to_size(q * f + j);
      const bool has = j < static_cast<std::int64_t>(best.size());
      ids[e] = has ? best[detail::to_size(j)].first : -1;
      scores[e] = has ? best[detail::to_size(j)].second : kNegInf;
    }
  }
  return device;
}

void Runner::stage1(Chunk& ch) const {
  const auto t0 = Clock::now();
  const std::int64_t qn = ch.qn;
  ch.ids.assign(detail::to_size(qn * C_), -1);
  ch.s1.assign(detail::to_size(qn * C_), kNaN);
  if (src_.size == 0 || qn == 0) {  // nothing passes the filter
    ch.device = Device::Cpu;
    ch.seconds = seconds_since(t0);
    return;
  }
  const std::int64_t f = src_.fetch;
  std::vector<std::int64_t> ids(detail::to_size(qn * f));
  std::vector<float> scores(detail::to_size(qn * f));
  const MatrixView<std::int64_t> out_ids(ids.data(), qn, f);
  const SearchOptions so{o_.device, &res_};
  switch (o_.shortlist) {
    case ShortlistBy::Embeddings: {
      const MatrixView<const float>& e = q_.embeddings;
      ch.device = c_.dense->impl().search_snapshot(*src_.rows, *src_.cache,
                                                   MatrixView<const float>(e.row(ch.q0), qn, e.cols(), e.stride()), f,
                                                   out_ids, MatrixView<float>(scores.data(), qn, f), so);
      break;
    }
    case ShortlistBy::Codes: {
      const MatrixView<const std::uint8_t>& e = q_.codes;
      std::vector<std::int32_t> dist(detail::to_size(qn * f));
      ch.device = c_.codes->impl().search_snapshot(
          *src_.rows, *src_.cache, MatrixView<const std::uint8_t>(e.row(ch.q0), qn, e.cols(), e.stride()), f, out_ids,
          MatrixView<std::int32_t>(dist.data(), qn, f), so);
      // The code similarity 1 - 2 d / B (the inner product of +-1 codes over B): higher is better.
      const auto bits = static_cast<double>(c_.options.code_bits);
      for (std::size_t i = 0; i < dist.size(); ++i) {
        scores[i] = ids[i] < 0 ? kNegInf : static_cast<float>(1.0 - 2.0 * dist[i] / bits);
      }
      break;
    }
    case ShortlistBy::MultiVector: {
      std::vector<std::int64_t> offs;
      const MultiVectorBatch qb = query_vectors(ch.q0, qn, offs);
      if (p_.token_search) {
        ch.device = token_search(qb, f, ids, scores, so);
        break;
      }
      const MultiVectorSearchOptions mo{o_.reduce, o_.device, &res_};
      ch.device = c_.multi_vector->impl().search_snapshot(*src_.vectors, src_.cache, qb, f, out_ids,
                                                          MatrixView<float>(scores.data(), qn, f), mo);
      break;
    }
  }
  // Keep the first C that pass (over-fetching), in stage-1 order.
  const detail::CollectionMeta& m = *c_.meta;
  for (std::int64_t q = 0; q < qn; ++q) {
    std::int64_t j = 0;
    for (std::int64_t i = 0; i < f && j < C_; ++i) {
      const auto e = detail::to_size(q * f + i);
      const std::int64_t id = ids[e];
      if (id < 0) break;
      if (!src_.pass.empty()) {
        const std::int64_t p = m.position(id);
        XMR_INVARIANT(p >= 0);
        if (((src_.pass[detail::to_size(p / 64)] >> (p % 64)) & 1U) == 0) continue;
      }
      ch.ids[detail::to_size(q * C_ + j)] = id;
      ch.s1[detail::to_size(q * C_ + j)] = scores[e];
      ++j;
    }
    ch.found += j;
  }
  ch.seconds = seconds_since(t0);
}

void Runner::stage2(Chunk& ch, PipelineStats& st) const {
  if (o_.rescore == RescoreBy::None) return;
  const auto t0 = Clock::now();
  const std::int64_t qn = ch.qn;
  ch.s2.assign(detail::to_size(qn * C_), kNaN);
  const MatrixView<const std::int64_t> cand(ch.ids.data(), qn, C_);
  const MatrixView<float> out(ch.s2.data(), qn, C_);
  if (o_.rescore == RescoreBy::Embeddings) {
    const MatrixView<const float>& e = q_.embeddings;
    // On the device that holds the vectors: the GPU when the embeddings are resident there (a
    // GPU search made the copy), else the CPU; never an upload just to re-score, and the CPU
    // when the call asks for it.
    const std::optional<Device> where = o_.device == Device::Cpu ? Device::Cpu : Device::Auto;
    c_.dense->rescore(MatrixView<const float>(e.row(ch.q0), qn, e.cols(), e.stride()), cand, out,
                      SearchOptions{where, &res_});
  } else {
    std::vector<std::int64_t> offs;
    c_.multi_vector->rescore(query_vectors(ch.q0, qn, offs), cand, out, o_.reduce);
  }
  for (std::size_t i = 0; i < ch.ids.size(); ++i) {
    if (ch.ids[i] < 0) ch.s2[i] = kNaN;
  }
  st.rescored += ch.found;
  st.rescore_seconds += seconds_since(t0);
}

void Runner::stage3(Chunk& ch, PipelineStats& st) const {
  if (!p_.has_scorer) return;
  const auto t0 = Clock::now();
  const std::int64_t qn = ch.qn;
  ch.s3.assign(detail::to_size(qn * C_), kNaN);
  // The pairs, query by query, in stage order.
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> qids;
  std::vector<std::int64_t> cids;
  std::vector<float> sims;
  std::vector<std::size_t> slot;
  rows.reserve(detail::to_size(ch.found));
  for (std::int64_t q = 0; q < qn; ++q) {
    for (std::int64_t j = 0; j < C_; ++j) {
      const auto e = detail::to_size(q * C_ + j);
      if (ch.ids[e] < 0) break;
      rows.push_back(ch.q0 + q);
      qids.push_back(q_.ids.empty() ? -1 : q_.ids[detail::to_size(ch.q0 + q)]);
      cids.push_back(ch.ids[e]);
      sims.push_back(ch.s2.empty() ? ch.s1[e] : ch.s2[e]);
      slot.push_back(e);
    }
  }
  const auto pairs = static_cast<std::int64_t>(rows.size());
  std::vector<float> out(rows.size(), kNaN);
  // Batch b is pairs [cuts[b], cuts[b + 1]): every scorer_batch pairs, or (listwise) as many
  // whole queries as fit, at least one.
  const std::int64_t B = o_.scorer_batch;
  std::vector<std::int64_t> cuts{0};
  if (o_.listwise) {
    std::int64_t query_start = 0;
    for (std::int64_t i = 1; i <= pairs; ++i) {
      const bool query_ends = i == pairs || rows[detail::to_size(i)] != rows[detail::to_size(i - 1)];
      if (!query_ends) continue;
      // The query is pairs [query_start, i): close the batch before it when it does not fit.
      if (i - cuts.back() > B && query_start > cuts.back()) cuts.push_back(query_start);
      query_start = i;
    }
    if (cuts.back() < pairs) cuts.push_back(pairs);
  } else {
    for (std::int64_t lo = B; lo < pairs; lo += B) cuts.push_back(lo);
    if (pairs > 0) cuts.push_back(pairs);
  }
  const auto batches = static_cast<std::int64_t>(cuts.size()) - 1;
  const std::int64_t first_batch = st.scorer_calls;
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
  std::int64_t error_batch = -1;
  CUstream_st* stream = res_.borrowed_stream();

  auto work = [&] {
    for (;;) {
      const std::int64_t b = next.fetch_add(1);
      if (b >= batches || failed.load()) return;
      const std::int64_t lo = cuts[detail::to_size(b)];
      const std::int64_t n = cuts[detail::to_size(b + 1)] - lo;
      const auto span_of = [&](const auto& v) { return std::span(v.data() + lo, detail::to_size(n)); };
      PairBatch pb;
      pb.query_rows = span_of(rows);
      pb.query_ids = span_of(qids);
      pb.candidate_ids = span_of(cids);
      pb.similarity = span_of(sims);
      pb.stream = stream;
      pb.batch_index = first_batch + b;
      try {
        std::span<float> scores(out.data() + lo, detail::to_size(n));
        if (o_.scorer != nullptr) {
          o_.scorer->score(pb, scores);
        } else {
          o_.score_fn(pb, scores);
        }
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error || b < error_batch) {
          error = std::current_exception();
          error_batch = b;
        }
        failed.store(true);
        return;
      }
    }
  };
  const auto threads = static_cast<int>(std::min<std::int64_t>(o_.scorer_threads, batches));
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }  // joins
  if (error) {
    const std::int64_t lo = cuts[detail::to_size(error_batch)];
    const std::int64_t hi = cuts[detail::to_size(error_batch + 1)];
    const std::string where =
        detail::concat("scorer failed on batch ", first_batch + error_batch, " (", hi - lo, " pairs of query rows ",
                       rows[detail::to_size(lo)], "..", rows[detail::to_size(hi - 1)], "): ");
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      detail::fail(e.code(), where, e.what());
    } catch (const std::exception& e) {
      detail::fail(ErrorCode::Callback, where, e.what());
    } catch (...) {
      detail::fail(ErrorCode::Callback, where, "an exception that is not a std::exception");
    }
  }
  for (std::int64_t b = 0; b < batches; ++b) {
    for (std::int64_t i = cuts[detail::to_size(b)]; i < cuts[detail::to_size(b + 1)]; ++i) {
      const float s = out[detail::to_size(i)];
      XMR_CHECK(!std::isnan(s), Callback, "scorer returned NaN for pair ", i - cuts[detail::to_size(b)], " of batch ",
                first_batch + b, " (query row ", rows[detail::to_size(i)], ", candidate id ", cids[detail::to_size(i)],
                ")");
      ch.s3[slot[detail::to_size(i)]] = s;
    }
  }
  st.reranked += pairs;
  st.scorer_calls += batches;
  st.rerank_seconds += seconds_since(t0);
}

void Runner::finish(const Chunk& ch, PipelineResult& r) const {
  const std::int64_t k = o_.k;
  const Fusion& f = o_.fusion;
  const bool s2 = !ch.s2.empty();
  const bool s3 = !ch.s3.empty();
  const detail::CollectionMeta& m = *c_.meta;
  std::vector<std::int64_t> order;
  std::vector<float> fused(detail::to_size(C_));
  std::unordered_set<std::int64_t> seen_groups;
  for (std::int64_t q = 0; q < ch.qn; ++q) {
    const auto base = detail::to_size(q * C_);
    order.clear();
    for (std::int64_t j = 0; j < C_ && ch.ids[base + detail::to_size(j)] >= 0; ++j) {
      const auto e = base + detail::to_size(j);
      float v = 0;
      switch (f.mode) {
        case FusionMode::Replace: v = s3 ? ch.s3[e] : s2 ? ch.s2[e] : ch.s1[e]; break;
        case FusionMode::Sum: v = (s3 ? ch.s3[e] : 0.0f) + (s2 ? ch.s2[e] : ch.s1[e]); break;
        case FusionMode::Weighted:
          v = f.shortlist_weight * ch.s1[e] + (s2 ? f.rescore_weight * ch.s2[e] : 0.0f) +
              (s3 ? f.rerank_weight * ch.s3[e] : 0.0f);
          break;
      }
      fused[detail::to_size(j)] = v;
      order.push_back(j);
    }
    // Descending fused score, NaN last (as every search), ties by ascending id.
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      const float fa = fused[detail::to_size(a)];
      const float fb = fused[detail::to_size(b)];
      const bool na = std::isnan(fa);
      const bool nb = std::isnan(fb);
      if (na != nb) return nb;
      if (!na && fa != fb) return fa > fb;
      return ch.ids[base + detail::to_size(a)] < ch.ids[base + detail::to_size(b)];
    });
    const auto out_row = detail::to_size((ch.q0 + q) * k);
    std::int64_t j = 0;
    seen_groups.clear();
    for (const std::int64_t src : order) {
      if (j == k) break;
      const auto e = base + detail::to_size(src);
      const std::int64_t id = ch.ids[e];
      std::int64_t group = -1;
      if (o_.group_by) {
        group = m.groups[detail::to_size(m.position(id))];
        if (!seen_groups.insert(group).second) continue;  // a better item of this group came first
        r.groups[out_row + detail::to_size(j)] = group;
      }
      const auto o = out_row + detail::to_size(j);
      r.ids[o] = id;
      r.scores[o] = fused[detail::to_size(src)];
      r.shortlist_scores[o] = ch.s1[e];
      if (s2) r.rescore_scores[o] = ch.s2[e];
      if (s3) r.rerank_scores[o] = ch.s3[e];
      ++j;
    }
  }
}

PipelineResult Runner::run() {
  const auto t0 = Clock::now();
  PipelineResult r;
  const std::int64_t nq = p_.num_queries;
  const std::int64_t k = o_.k;
  r.num_queries = nq;
  r.k = k;
  const auto n = detail::to_size(detail::mul_checked(nq, k, "queries x options.k"));
  detail::mul_checked(std::max<std::int64_t>(nq, 1), C_, "queries x options.candidates");
  r.ids.assign(n, -1);
  r.scores.assign(n, kNegInf);
  r.shortlist_scores.assign(n, kNaN);
  if (o_.rescore != RescoreBy::None) r.rescore_scores.assign(n, kNaN);
  if (p_.has_scorer) r.rerank_scores.assign(n, kNaN);
  if (o_.group_by) r.groups.assign(n, -1);
  prepare_source();
  r.stats.filtered_items = filtered_;
  r.device = detail::resolve_device(o_.device.value_or(c_.options.device), res_);

  const std::int64_t chunk = o_.query_chunk > 0 ? o_.query_chunk : std::max<std::int64_t>(nq, 1);
  auto make = [&](std::int64_t q0) {
    Chunk ch;
    ch.q0 = q0;
    ch.qn = std::min(chunk, nq - q0);
    stage1(ch);
    return ch;
  };
  const bool overlap = p_.has_scorer && nq > chunk;
  std::future<Chunk> ahead;
  std::optional<Chunk> cur;
  for (std::int64_t q0 = 0; q0 < nq; q0 += chunk) {
    if (ahead.valid()) {
      cur = ahead.get();
    } else {
      cur = make(q0);
    }
    if (overlap && q0 + chunk < nq) ahead = std::async(std::launch::async, make, q0 + chunk);
    Chunk& ch = *cur;
    r.stats.shortlist_seconds += ch.seconds;
    r.stats.shortlisted += ch.found;
    if (src_.size > 0) r.device = ch.device;
    stage2(ch, r.stats);
    stage3(ch, r.stats);
    const auto tf = Clock::now();
    finish(ch, r);
    r.stats.fusion_seconds += seconds_since(tf);
  }
  r.stats.total_seconds = seconds_since(t0);
  return r;
}

}  // namespace

std::vector<std::uint64_t> make_id_bitset(std::span<const std::int64_t> ids) {
  constexpr std::int64_t kMaxBitsetId = std::int64_t{1} << 40;
  std::int64_t top = -1;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    XMR_EXPECTS(ids[i] >= 0 && ids[i] < kMaxBitsetId, "ids[", i, "] (= ", ids[i], ") must be in [0, 2^40)");
    top = std::max(top, ids[i]);
  }
  return detail::translate_bad_alloc("make_id_bitset", [&] {
    std::vector<std::uint64_t> bits(detail::to_size(top / 64 + 1), 0);
    if (top < 0) bits.clear();
    for (const std::int64_t id : ids) bits[detail::to_size(id / 64)] |= std::uint64_t{1} << (id % 64);
    return bits;
  });
}

PipelineResult retrieve(const Collection& target, const Queries& queries, const PipelineOptions& options) {
  const Collection::Impl& c = target.impl();
  std::shared_lock lock(c.mutex);
  const Plan plan = check_call(c, queries, options);
  Resources& res = options.resources != nullptr ? *options.resources : detail::thread_default_resources();
  return detail::translate_bad_alloc("retrieve", [&] { return Runner(c, queries, options, plan, res).run(); });
}

// ---------------------------------------------------------------------------------------------
// CrossModalIndex.

CrossModalIndex::CrossModalIndex(Collection images, Collection texts)
    : images_(std::make_unique<Collection>(std::move(images))),
      texts_(std::make_unique<Collection>(std::move(texts))) {}
CrossModalIndex::~CrossModalIndex() = default;
CrossModalIndex::CrossModalIndex(CrossModalIndex&&) noexcept = default;
CrossModalIndex& CrossModalIndex::operator=(CrossModalIndex&&) noexcept = default;

Collection& CrossModalIndex::images() noexcept {
  return *images_;
}
Collection& CrossModalIndex::texts() noexcept {
  return *texts_;
}
const Collection& CrossModalIndex::images() const noexcept {
  return *images_;
}
const Collection& CrossModalIndex::texts() const noexcept {
  return *texts_;
}

namespace {
void check_direction(Direction d) {
  XMR_EXPECTS(d == Direction::ImageToText || d == Direction::TextToImage, "direction (= ", static_cast<int>(d),
              ") is not a Direction value");
}
}  // namespace

PipelineResult CrossModalIndex::search(Direction direction, const Queries& queries,
                                       const PipelineOptions& options) const {
  check_direction(direction);
  return retrieve(direction == Direction::ImageToText ? *texts_ : *images_, queries, options);
}

PipelineResult CrossModalIndex::search(Direction direction, std::span<const std::int64_t> query_ids,
                                       const PipelineOptions& options) const {
  check_direction(direction);
  const Collection& from = direction == Direction::ImageToText ? *images_ : *texts_;
  const Collection& to = direction == Direction::ImageToText ? *texts_ : *images_;
  const CollectionOptions& fo = from.options();
  const CollectionOptions& to_o = to.options();
  const auto nq = static_cast<std::int64_t>(query_ids.size());
  // The query side's stored data for what the stages use (validated here, with the query
  // side's name, before anything runs).
  const bool embeddings = options.shortlist == ShortlistBy::Embeddings || options.rescore == RescoreBy::Embeddings;
  const bool vectors = options.shortlist == ShortlistBy::MultiVector || options.rescore == RescoreBy::MultiVector;
  const bool codes = options.shortlist == ShortlistBy::Codes;
  std::vector<float> emb;
  std::vector<float> vec;
  std::vector<std::int64_t> offs;
  std::vector<std::uint8_t> cod;
  Queries q;
  q.ids = query_ids;
  if (embeddings) {
    XMR_EXPECTS(fo.dim > 0, "query collection '", fo.name, "' has no embeddings for options.",
                options.shortlist == ShortlistBy::Embeddings ? "shortlist" : "rescore", " (= embeddings)");
    XMR_EXPECTS(fo.dim == to_o.dim, "query collection '", fo.name, "' embeddings (dim = ", fo.dim,
                ") do not match collection '", to_o.name, "' (dim = ", to_o.dim, ")");
    emb = from.embeddings_of(query_ids);
    q.embeddings = MatrixView<const float>(emb.data(), nq, fo.dim);
  }
  if (vectors) {
    // Multi-vector queries: the query side's vectors, or its embeddings as one vector each
    // (a BLIP-2 text's one ITC feature against an image's 32 query-token features).
    // The target's vectors, or for a MaxSim shortlist its embeddings (one vector per item).
    const std::int64_t target_dim = to_o.multi_vector_dim > 0 ? to_o.multi_vector_dim : to_o.dim;
    if (fo.multi_vector_dim > 0) {
      XMR_EXPECTS(fo.multi_vector_dim == target_dim, "query collection '", fo.name,
                  "' vectors (multi_vector_dim = ", fo.multi_vector_dim, ") do not match collection '", to_o.name,
                  "' (multi_vector_dim = ", to_o.multi_vector_dim, ", dim = ", to_o.dim, ")");
      from.vectors_of(query_ids, vec, offs);
      q.vectors = MultiVectorBatch{
          MatrixView<const float>(vec.data(), offs.empty() ? 0 : offs.back(), fo.multi_vector_dim), offs};
    } else {
      XMR_EXPECTS(fo.dim > 0 && fo.dim == target_dim, "query collection '", fo.name,
                  "' has no vectors and no embeddings of dim ", target_dim, " (the vectors of '", to_o.name,
                  "') for options.", options.shortlist == ShortlistBy::MultiVector ? "shortlist" : "rescore",
                  " (= multi_vector)");
      if (emb.empty()) emb = from.embeddings_of(query_ids);
      q.vectors = MultiVectorBatch{MatrixView<const float>(emb.data(), nq, fo.dim), {}};
    }
  }
  if (codes) {
    XMR_EXPECTS(fo.code_bits > 0 && fo.code_bits == to_o.code_bits, "query collection '", fo.name,
                "' codes (bits = ", fo.code_bits, ") do not match collection '", to_o.name,
                "' (bits = ", to_o.code_bits, ")");
    cod = from.codes_of(query_ids);
    q.codes = MatrixView<const std::uint8_t>(cod.data(), nq, fo.code_bits / 8);
  }
  return retrieve(to, q, options);
}

}  // namespace xmr
