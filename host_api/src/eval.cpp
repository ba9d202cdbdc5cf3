// xmr::eval: argument validation, then the engine's streaming metrics (engine/eval/metrics.h).
// Everything is validated before any allocation or computation.
#include "xmr/eval.h"

#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "common/check.h"
#include "dense/prepare.h"
#include "eval/metrics.h"
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

void check_label_pair(const MatrixView<const std::uint8_t>& query_labels,
                      const MatrixView<const std::uint8_t>& db_labels, std::int64_t q, std::int64_t n) {
  XMR_EXPECTS(query_labels.cols() >= 1, "query_labels.cols (= ", query_labels.cols(), ") must be >= 1");
  check_labels(query_labels, "query_labels", q, query_labels.cols());
  XMR_EXPECTS(db_labels.cols() == query_labels.cols(), "db_labels.cols (= ", db_labels.cols(),
              ") must equal query_labels.cols (= ", query_labels.cols(), ")");
  check_labels(db_labels, "db_labels", n, query_labels.cols());
}

/// Where a metric runs: the CPU, or the GPU of the options' Resources (Auto: when usable and
/// `gpu_supported`; Gpu: Unavailable if unusable, InvalidArgument if not supported).
Device eval_device(const MapOptions& o, bool gpu_supported, const char* why_not) {
  XMR_EXPECTS(o.device == Device::Auto || o.device == Device::Cpu || o.device == Device::Gpu,
              "options.device (= ", static_cast<int>(o.device), ") is not a Device value");
  if (o.device == Device::Cpu) return Device::Cpu;
  if (o.device == Device::Gpu) XMR_EXPECTS(gpu_supported, "options.device (= gpu) cannot run this request: ", why_not);
  if (!gpu_supported) return Device::Cpu;
  Resources& res = o.resources != nullptr ? *o.resources : detail::thread_default_resources();
  return detail::resolve_device(o.device, res);
}

/// The rows of `v`, dense.
std::vector<std::uint8_t> dense_copy(const MatrixView<const std::uint8_t>& v) {
  std::vector<std::uint8_t> out(detail::to_size(detail::mul_checked(v.rows(), v.cols(), "codes")));
  for (std::int64_t r = 0; r < v.rows(); ++r) std::copy(v.row(r), v.row(r) + v.cols(), out.begin() + r * v.cols());
  return out;
}

Resources& eval_resources(const MapOptions& o) {
  return o.resources != nullptr ? *o.resources : detail::thread_default_resources();
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

/// Validated, prepared (normalised under cosine) dense copy of `v`.
std::vector<float> prepared(const MatrixView<const float>& v, const char* name, Metric metric) {
  std::vector<float> out(detail::to_size(detail::mul_checked(v.rows(), v.cols(), name)));
  engine::prepare_rows(v, name, metric, DType::F32, out.data());
  return out;
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
  XMR_EXPECTS(query_codes.cols() >= 1, "query_codes.cols (= ", query_codes.cols(), ") must be >= 1 byte");
  engine::check_input_view(query_codes, "query_codes", query_codes.cols());
  check_rows(query_codes.rows(), "query_codes");
  XMR_EXPECTS(db_codes.cols() == query_codes.cols(), "db_codes.cols (= ", db_codes.cols(),
              ") must equal query_codes.cols (= ", query_codes.cols(), ")");
  engine::check_input_view(db_codes, "db_codes", query_codes.cols());
  check_rows(db_codes.rows(), "db_codes");
  XMR_EXPECTS(query_codes.cols() <= kMaxCodeBits / 8, "query_codes.cols (= ", query_codes.cols(),
              ") must be <= ", kMaxCodeBits / 8, " bytes");
  check_label_pair(query_labels, db_labels, query_codes.rows(), db_codes.rows());
  const Device device = eval_device(options, true, "");
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
  const Device device = eval_device(options, !average, "map_dense with options.ties = average runs on the CPU only");
  return detail::translate_bad_alloc("eval::map_dense", [&] {
    const auto q = prepared(queries, "queries", metric);
    const auto d = prepared(database, "database", metric);
    const auto ql = engine::eval::pack_labels(query_labels);
    const auto dl = engine::eval::pack_labels(db_labels);
    if (device == Device::Cpu) {
      MapResult r =
          make_result(options, engine::eval::dense_ap(q.data(), queries.rows(), d.data(), database.rows(),
                                                      queries.cols(), ql, dl, options.variant, options.k, average));
      r.device = Device::Cpu;
      return r;
    }
    std::vector<double> ap(detail::to_size(queries.rows()));
    engine::gpu::map_dense(q.data(), queries.rows(), d.data(), database.rows(), queries.cols(), ql.bits.data(),
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
    return engine::eval::image_text_recall(im.data(), images.rows(), tx.data(), texts.rows(), images.cols(),
                                           captions_per_image);
  });
}

}  // namespace xmr::eval
