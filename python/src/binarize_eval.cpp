// Python bindings of the binarisers (xmr/binarize.h) and the evaluation metrics (xmr/eval.h).
#include <pybind11/stl.h>

#include <utility>

#include "common.h"
#include "xmr/binarize.h"
#include "xmr/eval.h"

namespace xmrpy {

namespace {

constexpr std::initializer_list<ElemType> kFloat32 = {ElemType::F32};
constexpr std::initializer_list<ElemType> kBytes = {ElemType::U8};

template <class T>
py::array_t<T> vec1(std::vector<T>&& v) {
  const auto n = static_cast<py::ssize_t>(v.size());
  return from_vector(std::move(v), {n});
}

py::bytes to_py_bytes(const std::vector<std::uint8_t>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

py::array_t<std::uint8_t> encode(const xmr::Binarizer& b, py::handle x) {
  const Array a = to_array(x, "x", kFloat32, false);
  auto out = new_array<std::uint8_t>(a.rows, b.code_bytes());
  const Array o = to_array(out, "codes", kBytes, false);
  without_gil([&] { b.encode(a.view<float>(), o.mutable_view<std::uint8_t>()); });
  return out;
}

py::dict map_result(xmr::eval::MapResult&& r) {
  py::dict d("map"_a = r.map, "variant"_a = r.variant, "k"_a = r.k, "tie_policy"_a = r.tie_policy,
             "queries"_a = r.queries, "device"_a = r.device);
  d["per_query_ap"] = vec1(std::move(r.per_query_ap));
  return d;
}

py::dict metric_result(xmr::eval::MetricResult&& r) {
  py::dict d("metric"_a = r.metric, "k"_a = r.k, "mean"_a = r.mean, "queries"_a = r.queries,
             "skipped_queries"_a = r.skipped_queries, "no_relevant_queries"_a = r.no_relevant_queries);
  d["per_query"] = vec1(std::move(r.per_query));
  return d;
}

xmr::eval::MapOptions map_options(py::handle variant, std::int64_t k, py::handle ties, py::handle device,
                                  std::optional<xmr::Resources*> resources) {
  using xmr::eval::MapVariant;
  using xmr::eval::TiePolicy;
  return {.variant = parse_choice<MapVariant>(variant, "variant",
                                              {{"map_all", MapVariant::All},
                                               {"all", MapVariant::All},
                                               {"map_at_k", MapVariant::AtK},
                                               {"at_k", MapVariant::AtK},
                                               {"map_k_first_relevant", MapVariant::KFirstRelevant},
                                               {"k_first_relevant", MapVariant::KFirstRelevant}}),
          .k = k,
          .ties = parse_choice<TiePolicy>(
              ties, "ties", {{"ascending_index", TiePolicy::AscendingIndex}, {"average", TiePolicy::Average}}),
          .device = parse_device(device),
          .resources = resources.value_or(nullptr)};
}

}  // namespace

void register_binarize_eval(py::module_& m) {
  py::class_<xmr::Binarizer>(m, "Binarizer", R"doc(
Makes binary codes from float32 embeddings: codes = packbits(W^T (x - mean) > threshold). Made by
Binarizer.sign / sign_median / lsh / itq, or train_cross_modal_itq for two modalities; saved to
checksummed files; immutable (safe to share between threads).)doc")
      .def_static("sign", &xmr::Binarizer::sign, "dim"_a, "bit j = [x_j > 0] (dim a multiple of 8).")
      .def_static(
          "sign_median",
          [](py::handle train) {
            const Array a = to_array(train, "train", kFloat32, false);
            return without_gil([&] { return xmr::Binarizer::sign_median(a.view<float>()); });
          },
          "train"_a, "bit j = [x_j > median_j of train].")
      .def_static(
          "lsh",
          [](std::int64_t bits, std::optional<std::int64_t> dim, py::handle train, std::uint64_t seed, bool center) {
            if (train.is_none() == !dim.has_value()) invalid_argument("lsh: give exactly one of dim and train");
            if (dim) return xmr::Binarizer::lsh(*dim, bits, seed);
            const Array a = to_array(train, "train", kFloat32, false);
            return without_gil([&] {
              return xmr::Binarizer::lsh(a.view<float>(), bits, xmr::LshOptions{.seed = seed, .center = center});
            });
          },
          "bits"_a, py::kw_only(), "dim"_a = py::none(), "train"_a = py::none(), "seed"_a = 0, "center"_a = true,
          "Random-hyperplane LSH (Gaussian projections; centred on train's mean when trained).")
      .def_static(
          "itq",
          [](py::handle train, std::int64_t bits, std::int64_t iterations, std::uint64_t seed) {
            const Array a = to_array(train, "train", kFloat32, false);
            return without_gil([&] {
              return xmr::Binarizer::itq(a.view<float>(), bits,
                                         xmr::ItqOptions{.iterations = iterations, .seed = seed});
            });
          },
          "train"_a, "bits"_a, py::kw_only(), "iterations"_a = 50, "seed"_a = 0,
          "Iterative quantisation (PCA to bits dims, then a learned rotation).")
      .def("encode", &encode, "x"_a, "Codes [n x bits/8] uint8 of x [n x dim] float32.")
      .def_property_readonly("kind", [](const xmr::Binarizer& b) { return std::string(xmr::to_string(b.kind())); })
      .def_property_readonly("dim", &xmr::Binarizer::dim)
      .def_property_readonly("bits", &xmr::Binarizer::bits)
      .def_property_readonly("code_bytes", &xmr::Binarizer::code_bytes)
      .def_property_readonly("mean", [](const xmr::Binarizer& b) { return vec1(b.mean()); })
      .def_property_readonly("thresholds", [](const xmr::Binarizer& b) { return vec1(b.thresholds()); })
      .def_property_readonly("projection",
                             [](const xmr::Binarizer& b) {
                               return from_vector(b.projection(), {b.dim(), b.bits()});
                             })
      .def_property_readonly("rotation", [](const xmr::Binarizer& b) { return vec1(b.rotation()); })
      .def_property_readonly("training_loss", [](const xmr::Binarizer& b) { return vec1(b.training_loss()); })
      .def(
          "save", [](const xmr::Binarizer& b, py::handle path) { b.save(to_path(path)); }, "path"_a)
      .def_static(
          "load", [](py::handle path) { return xmr::Binarizer::load(to_path(path)); }, "path"_a)
      .def("to_bytes", [](const xmr::Binarizer& b) { return to_py_bytes(b.to_bytes()); })
      .def_static(
          "from_bytes", [](py::handle data) { return xmr::Binarizer::from_bytes(to_bytes_span(data, "data")); },
          "data"_a)
      .def("__repr__", [](const xmr::Binarizer& b) {
        return std::string("Binarizer(kind=") + xmr::to_string(b.kind()) + ", dim=" + std::to_string(b.dim()) +
               ", bits=" + std::to_string(b.bits()) + ")";
      });

  py::class_<xmr::CrossModalBinarizer>(m, "CrossModalBinarizer",
                                       "Two binarisers into one code space: .image and .text.")
      .def_readonly("image", &xmr::CrossModalBinarizer::image)
      .def_readonly("text", &xmr::CrossModalBinarizer::text)
      .def(
          "save", [](const xmr::CrossModalBinarizer& b, py::handle path) { b.save(to_path(path)); }, "path"_a)
      .def_static(
          "load", [](py::handle path) { return xmr::CrossModalBinarizer::load(to_path(path)); }, "path"_a)
      .def("to_bytes", [](const xmr::CrossModalBinarizer& b) { return to_py_bytes(b.to_bytes()); })
      .def_static(
          "from_bytes",
          [](py::handle data) { return xmr::CrossModalBinarizer::from_bytes(to_bytes_span(data, "data")); }, "data"_a);

  m.def(
      "train_cross_modal_itq",
      [](py::handle image_train, py::handle text_train, std::int64_t bits, std::int64_t iterations, std::uint64_t seed,
         double regularization, double correlation_power) {
        const Array x = to_array(image_train, "image_train", kFloat32, false);
        const Array y = to_array(text_train, "text_train", kFloat32, false);
        return without_gil([&] {
          return xmr::train_cross_modal_itq(x.view<float>(), y.view<float>(), bits,
                                            {.iterations = iterations,
                                             .seed = seed,
                                             .regularization = regularization,
                                             .correlation_power = correlation_power});
        });
      },
      "image_train"_a, "text_train"_a, "bits"_a, py::kw_only(), "iterations"_a = 50, "seed"_a = 0,
      "regularization"_a = 1e-4, "correlation_power"_a = 2.0,
      "Cross-modal ITQ: CCA of paired rows (image_train[i] with text_train[i]) to a shared bits-dim space, "
      "then one rotation for both modalities.");

  // ---- metrics ----
  m.def(
      "map_hamming",
      [](py::handle query_codes, py::handle db_codes, py::handle query_labels, py::handle db_labels, py::handle variant,
         std::int64_t k, py::handle ties, py::handle device, std::optional<xmr::Resources*> resources) {
        const Array qc = to_array(query_codes, "query_codes", kBytes, false);
        const Array dc = to_array(db_codes, "db_codes", kBytes, false);
        const Array ql = to_array(query_labels, "query_labels", kBytes, false);
        const Array dl = to_array(db_labels, "db_labels", kBytes, false);
        const xmr::eval::MapOptions o = map_options(variant, k, ties, device, resources);
        return map_result(without_gil([&] {
          return xmr::eval::map_hamming(qc.view<std::uint8_t>(), dc.view<std::uint8_t>(), ql.view<std::uint8_t>(),
                                        dl.view<std::uint8_t>(), o);
        }));
      },
      "query_codes"_a, "db_codes"_a, "query_labels"_a, "db_labels"_a, py::kw_only(), "variant"_a = "map_all", "k"_a = 0,
      "ties"_a = "ascending_index", "device"_a = "auto", "resources"_a = py::none(),
      R"doc(mAP of Hamming rankings; an item is relevant when it shares a label with the query.
variant "map_all" | "map_at_k" | "map_k_first_relevant" (k), ties "ascending_index" | "average".
Returns a dict: map, per_query_ap, variant, k, tie_policy, queries, device.)doc");
  m.def(
      "map_dense",
      [](py::handle queries, py::handle database, py::handle metric, py::handle query_labels, py::handle db_labels,
         py::handle variant, std::int64_t k, py::handle ties, py::handle device,
         std::optional<xmr::Resources*> resources) {
        const Array q = to_array(queries, "queries", kFloat32, false);
        const Array d = to_array(database, "database", kFloat32, false);
        const Array ql = to_array(query_labels, "query_labels", kBytes, false);
        const Array dl = to_array(db_labels, "db_labels", kBytes, false);
        const xmr::Metric mt = parse_metric(metric);
        const xmr::eval::MapOptions o = map_options(variant, k, ties, device, resources);
        return map_result(without_gil([&] {
          return xmr::eval::map_dense(q.view<float>(), d.view<float>(), mt, ql.view<std::uint8_t>(),
                                      dl.view<std::uint8_t>(), o);
        }));
      },
      "queries"_a, "database"_a, "metric"_a, "query_labels"_a, "db_labels"_a, py::kw_only(), "variant"_a = "map_all",
      "k"_a = 0, "ties"_a = "ascending_index", "device"_a = "auto", "resources"_a = py::none(),
      "mAP of dense rankings (descending score); as map_hamming.");
  m.def(
      "recall_at_k",
      [](py::handle images, py::handle texts, std::int64_t captions_per_image) {
        const Array i = to_array(images, "images", kFloat32, false);
        const Array t = to_array(texts, "texts", kFloat32, false);
        const xmr::eval::RetrievalRecall r =
            without_gil([&] { return xmr::eval::recall_at_k(i.view<float>(), t.view<float>(), captions_per_image); });
        return py::dict("i2t_r1"_a = r.i2t_r1, "i2t_r5"_a = r.i2t_r5, "i2t_r10"_a = r.i2t_r10, "t2i_r1"_a = r.t2i_r1,
                        "t2i_r5"_a = r.t2i_r5, "t2i_r10"_a = r.t2i_r10, "i2t_mean"_a = r.i2t_mean,
                        "t2i_mean"_a = r.t2i_mean, "r_mean"_a = r.r_mean);
      },
      "images"_a, "texts"_a, "captions_per_image"_a = 5,
      "Recall@1/5/10 in both directions for the Flickr30K/COCO protocol (texts of image i are rows "
      "i*captions_per_image ...), as fractions in [0, 1] (BLIP/CLIP print them x 100).");
  m.def(
      "precision_at_k",
      [](py::handle ranked, py::handle query_labels, py::handle db_labels, std::int64_t k) {
        const Array r = to_array(ranked, "ranked", {ElemType::I64}, false);
        const Array ql = to_array(query_labels, "query_labels", kBytes, false);
        const Array dl = to_array(db_labels, "db_labels", kBytes, false);
        return metric_result(
            xmr::eval::precision_at_k(r.view<std::int64_t>(), ql.view<std::uint8_t>(), dl.view<std::uint8_t>(), k));
      },
      "ranked"_a, "query_labels"_a, "db_labels"_a, "k"_a,
      "Precision@K over result lists ranked [Q x L] (item indices, -1 padding). Returns a dict.");
  m.def(
      "ndcg_at_k",
      [](py::handle ranked, py::handle query_labels, py::handle db_labels, std::int64_t k) {
        const Array r = to_array(ranked, "ranked", {ElemType::I64}, false);
        const Array ql = to_array(query_labels, "query_labels", kBytes, false);
        const Array dl = to_array(db_labels, "db_labels", kBytes, false);
        return metric_result(
            xmr::eval::ndcg_at_k(r.view<std::int64_t>(), ql.view<std::uint8_t>(), dl.view<std::uint8_t>(), k));
      },
      "ranked"_a, "query_labels"_a, "db_labels"_a, "k"_a, "NDCG@K (gain 2^shared labels - 1). Returns a dict.");
  m.def(
      "neighbor_recall_at_k",
      [](py::handle ranked, py::handle ground_truth, std::int64_t k) {
        const Array r = to_array(ranked, "ranked", {ElemType::I64}, false);
        const Array g = to_array(ground_truth, "ground_truth", {ElemType::I64}, false);
        return metric_result(xmr::eval::neighbor_recall_at_k(r.view<std::int64_t>(), g.view<std::int64_t>(), k));
      },
      "ranked"_a, "ground_truth"_a, "k"_a, "|top K of ranked ∩ ground truth| / |ground truth|. Returns a dict.");
  m.def(
      "pr_curve_hamming",
      [](py::handle query_codes, py::handle db_codes, py::handle query_labels, py::handle db_labels) {
        const Array qc = to_array(query_codes, "query_codes", kBytes, false);
        const Array dc = to_array(db_codes, "db_codes", kBytes, false);
        const Array ql = to_array(query_labels, "query_labels", kBytes, false);
        const Array dl = to_array(db_labels, "db_labels", kBytes, false);
        xmr::eval::PrCurve c = without_gil([&] {
          return xmr::eval::pr_curve_hamming(qc.view<std::uint8_t>(), dc.view<std::uint8_t>(), ql.view<std::uint8_t>(),
                                             dl.view<std::uint8_t>());
        });
        py::dict d("bits"_a = c.bits, "queries"_a = c.queries, "no_relevant_queries"_a = c.no_relevant_queries);
        d["precision"] = vec1(std::move(c.precision));
        d["recall"] = vec1(std::move(c.recall));
        d["queries_with_hit"] = vec1(std::move(c.queries_with_hit));
        d["pooled_precision"] = vec1(std::move(c.pooled_precision));
        d["pooled_recall"] = vec1(std::move(c.pooled_recall));
        return d;
      },
      "query_codes"_a, "db_codes"_a, "query_labels"_a, "db_labels"_a,
      "Hamming-radius PR curve, radius 0..B: per-query averaged and pooled (DCMH). Returns a dict.");
}

}  // namespace xmrpy
