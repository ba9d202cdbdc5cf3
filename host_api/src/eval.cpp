// xmr::eval: argument validation, then the engine's streaming metrics (engine/eval/metrics.h).
// Everything is validated before any allocation or computation.
#include "xmr/eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "common/check.h"
#include "common/host_array.h"
#include "dense/prepare.h"
#include "eval/metrics.h"
#include "eval/ranked.h"
#include "glue.h"
#include "xmr/binary_index.h"

namespace xmr::eval {
namespace {

void check_rows(std::int64_t rows, const char* name) {
  XMR_EXPECTS(rows >= 1, name, ".rows (= ", rows, ") must be >= 1");
}

void check_labels(const MatrixView<const std::uint8_t>& labels, const char* name, std::int64_t rows,
                  std::int64_t classes) {
  engine::check_input_view(labels, name, classes);
  XMR_EXPECTS(labels.rows() == rows, name, ".rows (= ", labels.rows(), ") must equal the number of ",
              "rows of its codes or vectors (= ", rows, ")");
  for (std::int64_t r = 0; r < labels.rows(); ++r) {
    const std::uint8_t* row = labels.row(r);
    for (std::int64_t c = 0; c < labels.cols(); ++c)
      XMR_EXPECTS(row[c] <= 1, name, "[", r, ", ", c, "] (= ", static_cast<int>(row[c]), ") must be 0 or 1");
  }
}

void check_options(const MapOptions& o) {
  switch (o.variant) {
    case MapVariant::All:
      XMR_EXPECTS(o.k == 0, "options.k (= ", o.k, ") must be 0 for map_all (the whole ranking)");
      break;
    case MapVariant::AtK:
    case MapVariant::KFirstRelevant:
      XMR_EXPECTS(o.k >= 1, "options.k (= ", o.k, ") must be >= 1 for ", to_string(o.variant));
      break;
    default:
      detail::fail(ErrorCode::InvalidArgument, "options.variant (= ", static_cast<int>(o.variant),
                   ") is not a MapVariant value");
  }
  XMR_EXPECTS(o.ties == TiePolicy::AscendingIndex || o.ties == TiePolicy::Average,
              "options.ties (= ", static_cast<int>(o.ties), ") is not a TiePolicy value");
}

void check_code_pair(const MatrixView<const std::uint8_t>& query_codes,
                     const MatrixView<const std::uint8_t>& db_codes) {
  XMR_EXPECTS(query_codes.cols() >= 1, "query_codes.cols (= ", query_codes.cols(), ") must be >= 1 byte");
  engine::check_input_view(query_codes, "query_codes", query_codes.cols());
  check_rows(query_codes.rows(), "query_codes");
  XMR_EXPECTS(db_codes.cols() == query_codes.cols(), "db_codes.cols (= ", db_codes.cols(),
              ") must equal query_codes.cols (= ", query_codes.cols(), ")");
  engine::check_input_view(db_codes, "db_codes", query_codes.cols());
  check_rows(db_codes.rows(), "db_codes");
  XMR_EXPECTS(query_codes.cols() <= kMaxCodeBits / 8, "query_codes.cols (= ", query_codes.cols(),
              ") must be <= ", kMaxCodeBits / 8, " bytes");
}

void check_label_pair(const MatrixView<const std::uint8_t>& query_labels,
                      const MatrixView<const std::uint8_t>& db_labels, std::int64_t q, std::int64_t n) {
  XMR_EXPECTS(query_labels.cols() >= 1, "query_labels.cols (= ", query_labels.cols(), ") must be >= 1");
  check_labels(query_labels, "query_labels", q, query_labels.cols());
  XMR_EXPECTS(db_labels.cols() == query_labels.cols(), "db_labels.cols (= ", db_labels.cols(),
              ") must equal query_labels.cols (= ", query_labels.cols(), ")");
  check_labels(db_labels, "db_labels", n, query_labels.cols());
}

Resources& eval_resources(const MapOptions& o) {
  return o.resources != nullptr ? *o.resources : detail::thread_default_resources();
}

/// Where a metric runs: the CPU, or the GPU of the options' Resources (Auto: when usable and
/// `gpu_supported`; Gpu: Unavailable if unusable, InvalidArgument if not supported).
Device eval_device(const MapOptions& o, bool gpu_supported, const char* why_not) {
  XMR_EXPECTS(o.device == Device::Auto || o.device == Device::Cpu || o.device == Device::Gpu,
              "options.device (= ", static_cast<int>(o.device), ") is not a Device value");
  if (o.device == Device::Cpu) return Device::Cpu;
  if (o.device == Device::Gpu) XMR_EXPECTS(gpu_supported, "options.device (= gpu) cannot run this request: ", why_not);
  if (!gpu_supported) return Device::Cpu;
  return detail::resolve_device(o.device, eval_resources(o));
}

/// The rows of `v`, dense.
std::vector<std::uint8_t> dense_copy(const MatrixView<const std::uint8_t>& v) {
  std::vector<std::uint8_t> out(detail::to_size(detail::mul_checked(v.rows(), v.cols(), "codes")));
  for (std::int64_t r = 0; r < v.rows(); ++r) std::copy(v.row(r), v.row(r) + v.cols(), out.begin() + r * v.cols());
  return out;
}

MapResult make_result(const MapOptions& o, std::vector<double> ap) {
  MapResult r;
  r.variant = to_string(o.variant);
  if (o.variant != MapVariant::All) r.k = o.k;
  r.queries = static_cast<std::int64_t>(ap.size());
  r.map = std::accumulate(ap.begin(), ap.end(), 0.0) / static_cast<double>(ap.size());
  r.tie_policy = to_string(o.ties);
  r.per_query_ap = std::move(ap);
  return r;
}

/// Validated, prepared (normalised under cosine) dense copy of `v`, uninitialised before
/// prepare_rows writes it (zeroing 400 MB first cost a second on a VM).
detail::HostArray<float> prepared(const MatrixView<const float>& v, const char* name, Metric metric) {
  auto out = detail::make_host_array<float>(detail::to_size(detail::mul_checked(v.rows(), v.cols(), name)));
  engine::prepare_rows(v, name, metric, DType::F32, out.get());
  return out;
}

/// Validates result lists [Q x L]: a host view with `rows` rows and >= 1 column; every entry an
/// index in [0, bound) (bound < 0: no upper bound) or -1, the -1s only after a row's last index,
/// no index twice in a row. Errors name the row, column and value.
void check_id_rows(const MatrixView<const std::int64_t>& v, const char* name, std::int64_t rows, std::int64_t bound,
                   const char* rows_what) {
  XMR_EXPECTS(v.cols() >= 1, name, ".cols (= ", v.cols(), ") must be >= 1");
  engine::check_input_view(v, name, v.cols());
  XMR_EXPECTS(v.rows() == rows, name, ".rows (= ", v.rows(), ") must equal ", rows_what, " (= ", rows, ")");
  // Repeats: a bitmap over [0, bound) when there is a bound (O(L) per row), else a sorted copy.
  std::vector<std::uint64_t> seen(bound >= 0 ? detail::to_size((bound + 63) / 64) : 0);
  std::vector<std::pair<std::int64_t, std::int64_t>> sorted;  // (id, column)
  for (std::int64_t r = 0; r < v.rows(); ++r) {
    const std::int64_t* row = v.row(r);
    std::int64_t len = 0;
    for (std::int64_t c = 0; c < v.cols(); ++c) {
      const std::int64_t id = row[c];
      if (id == -1) continue;
      XMR_EXPECTS(id >= 0, name, "[", r, ", ", c, "] (= ", id, ") must be an index >= 0 or -1 (padding)");
      if (bound >= 0)
        XMR_EXPECTS(id < bound, name, "[", r, ", ", c, "] (= ", id, ") must be in [0, ", bound,
                    ") (the database rows) or -1");
      XMR_EXPECTS(len == c, name, "[", r, ", ", c, "] (= ", id, ") follows padding (-1) at ", name, "[", r, ", ", len,
                  "]: padding must come after every index of a row");
      ++len;
    }
    if (bound >= 0) {
      for (std::int64_t c = 0; c < len; ++c) {
        const auto id = static_cast<std::uint64_t>(row[c]);
        std::uint64_t& word = seen[id / 64];
        const std::uint64_t bit = std::uint64_t{1} << (id % 64);
        if ((word & bit) != 0) {
          const std::int64_t first = std::find(row, row + c, row[c]) - row;
          detail::fail(ErrorCode::InvalidArgument, name, "[", r, ", ", c, "] (= ", row[c], ") repeats ", name, "[", r,
                       ", ", first, "]: an index may appear once per row");
        }
        word |= bit;
      }
      for (std::int64_t c = 0; c < len; ++c) seen[static_cast<std::uint64_t>(row[c]) / 64] = 0;
    } else {
      sorted.clear();
      for (std::int64_t c = 0; c < len; ++c) sorted.emplace_back(row[c], c);
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t j = 1; j < sorted.size(); ++j)
        XMR_EXPECTS(sorted[j].first != sorted[j - 1].first, name, "[", r, ", ", sorted[j].second,
                    "] (= ", sorted[j].first, ") repeats ", name, "[", r, ", ", sorted[j - 1].second,
                    "]: an index may appear once per row");
    }
  }
}

MetricResult make_metric(const char* metric, std::int64_t k, std::vector<double> per_query, std::int64_t no_relevant) {
  MetricResult r;
  r.metric = metric;
  r.k = k;
  double sum = 0.0;
  for (const double v : per_query) {
    if (std::isnan(v)) {
      ++r.skipped_queries;
      continue;
    }
    sum += v;
    ++r.queries;
  }
  r.mean = r.queries == 0 ? 0.0 : sum / static_cast<double>(r.queries);
  r.no_relevant_queries = no_relevant;
  r.per_query = std::move(per_query);
  return r;
}

/// Validation shared by precision_at_k and ndcg_at_k.
void check_labelled_ranking(const MatrixView<const std::int64_t>& ranked,
                            const MatrixView<const std::uint8_t>& query_labels,
                            const MatrixView<const std::uint8_t>& db_labels, std::int64_t k) {
  XMR_EXPECTS(k >= 1, "k (= ", k, ") must be >= 1");
  XMR_EXPECTS(query_labels.cols() >= 1, "query_labels.cols (= ", query_labels.cols(), ") must be >= 1");
  engine::check_input_view(query_labels, "query_labels", query_labels.cols());
  check_rows(query_labels.rows(), "query_labels");
  XMR_EXPECTS(db_labels.cols() == query_labels.cols(), "db_labels.cols (= ", db_labels.cols(),
              ") must equal query_labels.cols (= ", query_labels.cols(), ")");
  engine::check_input_view(db_labels, "db_labels", query_labels.cols());
  check_rows(db_labels.rows(), "db_labels");
  check_labels(query_labels, "query_labels", query_labels.rows(), query_labels.cols());
  check_labels(db_labels, "db_labels", db_labels.rows(), query_labels.cols());
  const std::int64_t window = std::min(k, db_labels.rows());
  XMR_EXPECTS(ranked.cols() >= window, "ranked.cols (= ", ranked.cols(), ") must be >= min(k, N) (= ", window,
              ") with k = ", k, " and N = db_labels.rows = ", db_labels.rows(),
              ": the evaluated window must be covered");
  check_id_rows(ranked, "ranked", query_labels.rows(), db_labels.rows(), "query_labels.rows");
}

}  // namespace

const char* to_string(MapVariant variant) noexcept {
  switch (variant) {
    case MapVariant::All: return "map_all";
    case MapVariant::AtK: return "map_at_k";
    case MapVariant::KFirstRelevant: return "map_k_first_relevant";
  }
  return "unknown";
}

const char* to_string(TiePolicy ties) noexcept {
  switch (ties) {
    case TiePolicy::AscendingIndex: return "ascending_index";
    case TiePolicy::Average: return "average";
  }
  return "unknown";
}

MapResult map_hamming(MatrixView<const std::uint8_t> query_codes, MatrixView<const std::uint8_t> db_codes,
                      MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels,
                      const MapOptions& options) {
  check_options(options);
  check_code_pair(query_codes, db_codes);
  check_label_pair(query_labels, db_labels, query_codes.rows(), db_codes.rows());
  // The GPU kernels count items in 32-bit counters.
  const Device device = eval_device(options, db_codes.rows() <= std::numeric_limits<std::int32_t>::max(),
                                    "the GPU ranks at most 2^31 - 1 items (db_codes.rows is larger)");
  return detail::translate_bad_alloc("eval::map_hamming", [&] {
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    const bool average = options.ties == TiePolicy::Average;
    if (device == Device::Cpu) {
      MapResult r = make_result(
          options, engine::eval::hamming_ap(query_codes, db_codes, ql, dl, options.variant, options.k, average));
      r.device = Device::Cpu;
      return r;
    }
    // The GPU reads dense codes.
    const std::int64_t b = query_codes.cols();
    const std::vector<std::uint8_t> qc = dense_copy(query_codes);
    const std::vector<std::uint8_t> dc = dense_copy(db_codes);
    const std::int64_t q = query_codes.rows();
    std::vector<double> ap(detail::to_size(q));
    if (!average) {
      engine::gpu::map_hamming(qc.data(), q, dc.data(), db_codes.rows(), b, ql.bits.data(), dl.bits.data(), ql.words,
                               static_cast<int>(options.variant), options.k, eval_resources(options), ap.data());
    } else {
      const std::int64_t bins = 8 * b + 1;
      std::vector<std::int64_t> total(detail::to_size(detail::mul_checked(q, bins, "histograms")));
      std::vector<std::int64_t> relevant(total.size());
      engine::gpu::hamming_relevance_histograms(qc.data(), q, dc.data(), db_codes.rows(), b, ql.bits.data(),
                                                dl.bits.data(), ql.words, eval_resources(options), total.data(),
                                                relevant.data());
      for (std::int64_t i = 0; i < q; ++i) {
        const std::span<const std::int64_t> g(total.data() + i * bins, detail::to_size(bins));
        const std::span<const std::int64_t> r(relevant.data() + i * bins, detail::to_size(bins));
        ap[detail::to_size(i)] = engine::eval::average_precision_grouped(g, r, options.variant, options.k);
      }
    }
    MapResult r = make_result(options, std::move(ap));
    r.device = Device::Gpu;
    return r;
  });
}

MapResult map_dense(MatrixView<const float> queries, MatrixView<const float> database, Metric metric,
                    MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels,
                    const MapOptions& options) {
  check_options(options);
  XMR_EXPECTS(metric == Metric::InnerProduct || metric == Metric::Cosine, "metric (= ", static_cast<int>(metric),
              ") is not a Metric value");
  XMR_EXPECTS(queries.cols() >= 1, "queries.cols (= ", queries.cols(), ") must be >= 1");
  engine::check_input_view(queries, "queries", queries.cols());
  check_rows(queries.rows(), "queries");
  XMR_EXPECTS(database.cols() == queries.cols(), "database.cols (= ", database.cols(),
              ") must equal queries.cols (= ", queries.cols(), ")");
  engine::check_input_view(database, "database", queries.cols());
  check_rows(database.rows(), "database");
  check_label_pair(query_labels, db_labels, queries.rows(), database.rows());
  const bool average = options.ties == TiePolicy::Average;
  const bool fits = database.rows() <= std::numeric_limits<std::int32_t>::max();
  const Device device = eval_device(options, !average && fits,
                                    average ? "map_dense with options.ties = average runs on the CPU only"
                                            : "the GPU ranks at most 2^31 - 1 items (database.rows is larger)");
  return detail::translate_bad_alloc("eval::map_dense", [&] {
    const auto q = prepared(queries, "queries", metric);
    const auto d = prepared(database, "database", metric);
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    if (device == Device::Cpu) {
      MapResult r =
          make_result(options, engine::eval::dense_ap(q.get(), queries.rows(), d.get(), database.rows(), queries.cols(),
                                                      ql, dl, options.variant, options.k, average));
      r.device = Device::Cpu;
      return r;
    }
    std::vector<double> ap(detail::to_size(queries.rows()));
    engine::gpu::map_dense(q.get(), queries.rows(), d.get(), database.rows(), queries.cols(), ql.bits.data(),
                           dl.bits.data(), ql.words, static_cast<int>(options.variant), options.k,
                           eval_resources(options), ap.data());
    MapResult r = make_result(options, std::move(ap));
    r.device = Device::Gpu;
    return r;
  });
}

RetrievalRecall recall_at_k(MatrixView<const float> images, MatrixView<const float> texts,
                            std::int64_t captions_per_image) {
  XMR_EXPECTS(captions_per_image >= 1, "captions_per_image (= ", captions_per_image, ") must be >= 1");
  XMR_EXPECTS(images.cols() >= 1, "images.cols (= ", images.cols(), ") must be >= 1");
  engine::check_input_view(images, "images", images.cols());
  check_rows(images.rows(), "images");
  XMR_EXPECTS(texts.cols() == images.cols(), "texts.cols (= ", texts.cols(),
              ") must equal images.cols (= ", images.cols(), ")");
  engine::check_input_view(texts, "texts", images.cols());
  const std::int64_t expected =
      detail::mul_checked(images.rows(), captions_per_image, "images.rows * captions_per_image");
  XMR_EXPECTS(texts.rows() == expected, "texts.rows (= ", texts.rows(), ") must equal images.rows (= ", images.rows(),
              ") x captions_per_image (= ", captions_per_image, ")");
  return detail::translate_bad_alloc("eval::recall_at_k", [&] {
    const auto im = prepared(images, "images", Metric::Cosine);
    const auto tx = prepared(texts, "texts", Metric::Cosine);
    return engine::eval::image_text_recall(im.get(), images.rows(), tx.get(), texts.rows(), images.cols(),
                                           captions_per_image);
  });
}

MetricResult precision_at_k(MatrixView<const std::int64_t> ranked, MatrixView<const std::uint8_t> query_labels,
                            MatrixView<const std::uint8_t> db_labels, std::int64_t k) {
  check_labelled_ranking(ranked, query_labels, db_labels, k);
  return detail::translate_bad_alloc("eval::precision_at_k", [&] {
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    auto v = engine::eval::precision_at_k(ranked, ql, dl, k);
    return make_metric("precision_at_k", k, std::move(v.per_query), v.no_relevant);
  });
}

MetricResult neighbor_recall_at_k(MatrixView<const std::int64_t> ranked, MatrixView<const std::int64_t> ground_truth,
                                  std::int64_t k) {
  XMR_EXPECTS(k >= 1, "k (= ", k, ") must be >= 1");
  XMR_EXPECTS(ranked.cols() >= 1, "ranked.cols (= ", ranked.cols(), ") must be >= 1");
  engine::check_input_view(ranked, "ranked", ranked.cols());
  check_rows(ranked.rows(), "ranked");
  XMR_EXPECTS(k <= ranked.cols(), "k (= ", k, ") must be <= ranked.cols (= ", ranked.cols(), ")");
  check_id_rows(ranked, "ranked", ranked.rows(), -1, "ranked.rows");
  check_id_rows(ground_truth, "ground_truth", ranked.rows(), -1, "ranked.rows");
  bool any_truth = false;
  for (std::int64_t r = 0; r < ground_truth.rows() && !any_truth; ++r) any_truth = ground_truth.row(r)[0] >= 0;
  XMR_EXPECTS(any_truth, "ground_truth (= ", ground_truth.rows(), " x ", ground_truth.cols(),
              ") holds no index in any row: recall is undefined for every query");
  return detail::translate_bad_alloc("eval::neighbor_recall_at_k", [&] {
    return make_metric("neighbor_recall_at_k", k, engine::eval::neighbor_recall_at_k(ranked, ground_truth, k), 0);
  });
}

MetricResult ndcg_at_k(MatrixView<const std::int64_t> ranked, MatrixView<const std::uint8_t> query_labels,
                       MatrixView<const std::uint8_t> db_labels, std::int64_t k) {
  check_labelled_ranking(ranked, query_labels, db_labels, k);
  return detail::translate_bad_alloc("eval::ndcg_at_k", [&] {
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    auto v = engine::eval::ndcg_at_k(ranked, ql, dl, k);
    return make_metric("ndcg_at_k", k, std::move(v.per_query), v.no_relevant);
  });
}

PrCurve pr_curve_hamming(MatrixView<const std::uint8_t> query_codes, MatrixView<const std::uint8_t> db_codes,
                         MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels) {
  check_code_pair(query_codes, db_codes);
  check_label_pair(query_labels, db_labels, query_codes.rows(), db_codes.rows());
  return detail::translate_bad_alloc("eval::pr_curve_hamming", [&] {
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    return engine::eval::pr_curve_hamming(query_codes, db_codes, ql, dl);
  });
}

}  // namespace xmr::eval
