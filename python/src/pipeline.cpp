// Python bindings of collections, the multi-stage pipeline (xmr.retrieve, with the re-rank scorer
// as a Python callable) and the cross-modal index.
#include <pybind11/stl.h>

#include <memory>
#include <set>
#include <utility>

#include "common.h"
#include "xmr/collection.h"
#include "xmr/pipeline.h"

namespace xmrpy {

namespace {

/// A collection as Python holds it. Before pairing it owns its xmr::Collection; a CrossModalIndex
/// takes the collection over and the Python object then refers to it inside the index (which it
/// keeps alive), so handles taken before pairing stay valid.
struct PyCollection {
  std::unique_ptr<xmr::Collection> own;
  xmr::Collection* c = nullptr;
  std::shared_ptr<xmr::CrossModalIndex> owner;
  [[nodiscard]] xmr::Collection& get() const { return *c; }
};

struct PyCrossModal {
  std::shared_ptr<xmr::CrossModalIndex> index;
  py::object images;
  py::object texts;
};

/// One batch of (query, candidate) pairs handed to a Python scorer (copies: valid after the call).
struct PyPairBatch {
  py::array_t<std::int64_t> query_rows;
  py::array_t<std::int64_t> query_ids;
  py::array_t<std::int64_t> candidate_ids;
  py::array_t<float> similarity;
  std::int64_t batch_index = 0;
};

/// A pipeline result with its arrays made once.
struct PyPipelineResult {
  py::object ids, scores, groups, shortlist_scores, rescore_scores, rerank_scores;
  py::dict stats;
  xmr::Device device = xmr::Device::Cpu;
};

struct ScorerState {
  py::object fn;
  std::optional<py::error_already_set> error;  // the first exception the scorer raised
};

template <class T>
py::array_t<T> span_copy(std::span<const T> s) {
  py::array_t<T> a(static_cast<py::ssize_t>(s.size()));
  std::copy(s.begin(), s.end(), a.mutable_data());
  return a;
}

void score_with_python(ScorerState* st, const xmr::PairBatch& b, std::span<float> out) {
  py::gil_scoped_acquire gil;
  try {
    PyPairBatch pb{span_copy(b.query_rows), span_copy(b.query_ids), span_copy(b.candidate_ids), span_copy(b.similarity),
                   b.batch_index};
    const py::object r = st->fn(py::cast(std::move(pb)));
    const py::array_t<float, py::array::c_style | py::array::forcecast> a(
        py::module_::import("numpy").attr("asarray")(r, "float32"));
    if (a.ndim() != 1 || static_cast<std::size_t>(a.size()) != out.size()) {
      throw py::value_error("the scorer returned " + py::repr(a.attr("shape")).cast<std::string>() +
                            " scores for a batch of " + std::to_string(out.size()) + " pairs (expected shape (" +
                            std::to_string(out.size()) + ",))");
    }
    std::copy(a.data(), a.data() + a.size(), out.begin());
  } catch (py::error_already_set& e) {
    const std::string message = e.what();
    if (!st->error) st->error.emplace(std::move(e));
    throw std::runtime_error(message);
  }
}

/// Arguments of retrieve / CrossModalIndex.search given as keywords.
struct PipelineCall {
  xmr::PipelineOptions options;
  std::optional<Array> embeddings;
  std::optional<Array> codes;
  std::optional<MultiInput> vectors;
  std::optional<Ids> query_ids;
  ScorerState scorer;

  [[nodiscard]] bool has_vectors() const { return embeddings || codes || vectors; }
  [[nodiscard]] xmr::Queries queries() const {
    xmr::Queries q;
    if (embeddings) q.embeddings = embeddings->view<float>();
    if (codes) q.codes = codes->view<std::uint8_t>();
    if (vectors) q.vectors = vectors->batch();
    if (query_ids) q.ids = query_ids->span;
    return q;
  }
};

std::vector<std::int64_t> int_list(py::handle v, const char* name) {
  const Ids ids = to_ids(v, name);
  return {ids.span.begin(), ids.span.end()};
}

/// The keywords of retrieve() and CrossModalIndex.search() (exported as _PIPELINE_KEYWORDS for the
/// stubs test).
const std::set<std::string> kPipelineKeywords = {
    "embeddings", "vectors",        "offsets",     "codes",  "query_ids", "k",
    "candidates", "shortlist",      "rescore",     "reduce", "scorer",    "scorer_batch",
    "listwise",   "scorer_threads", "query_chunk", "fusion", "weights",   "any_labels",
    "all_labels", "allowed_ids",    "group_by",    "device", "resources"};
const std::set<std::string> kCollectionAddKeywords = {"ids",   "embeddings", "vectors", "offsets",
                                                      "codes", "labels",     "groups"};

void parse_pipeline(PipelineCall& call, const py::kwargs& kw, const char* function) {
  const std::set<std::string>& known = kPipelineKeywords;
  for (const auto& item : kw) {
    const auto key = item.first.cast<std::string>();
    if (known.count(key) == 0) {
      throw py::type_error(std::string(function) + "() got an unexpected keyword argument '" + key + "'");
    }
  }
  auto get = [&](const char* key) -> py::object {
    return kw.contains(key) ? py::object(kw[key]) : py::object(py::none());
  };
  xmr::PipelineOptions& o = call.options;
  if (!get("embeddings").is_none()) call.embeddings = to_array(get("embeddings"), "embeddings", {ElemType::F32}, false);
  if (!get("codes").is_none()) call.codes = to_array(get("codes"), "codes", {ElemType::U8}, false);
  if (!get("vectors").is_none()) call.vectors = to_multi(get("vectors"), get("offsets"), "vectors");
  if (!get("query_ids").is_none()) call.query_ids = to_ids(get("query_ids"), "query_ids");
  if (!get("k").is_none()) o.k = get("k").cast<std::int64_t>();
  if (!get("candidates").is_none()) o.candidates = get("candidates").cast<std::int64_t>();
  if (!get("shortlist").is_none()) {
    o.shortlist = parse_choice<xmr::ShortlistBy>(get("shortlist"), "shortlist",
                                                 {{"embeddings", xmr::ShortlistBy::Embeddings},
                                                  {"multi_vector", xmr::ShortlistBy::MultiVector},
                                                  {"codes", xmr::ShortlistBy::Codes}});
  }
  if (!get("rescore").is_none()) {
    o.rescore = parse_choice<xmr::RescoreBy>(get("rescore"), "rescore",
                                             {{"none", xmr::RescoreBy::None},
                                              {"embeddings", xmr::RescoreBy::Embeddings},
                                              {"multi_vector", xmr::RescoreBy::MultiVector}});
  }
  if (!get("reduce").is_none()) o.reduce = parse_reduce(get("reduce"));
  if (!get("scorer").is_none()) {
    if (!PyCallable_Check(get("scorer").ptr())) throw py::type_error("scorer must be callable (batch -> scores)");
    call.scorer.fn = get("scorer");
    ScorerState* st = &call.scorer;
    o.score_fn = [st](const xmr::PairBatch& b, std::span<float> out) { score_with_python(st, b, out); };
  }
  if (!get("scorer_batch").is_none()) o.scorer_batch = get("scorer_batch").cast<std::int64_t>();
  if (!get("listwise").is_none()) o.listwise = get("listwise").cast<bool>();
  if (!get("scorer_threads").is_none()) o.scorer_threads = get("scorer_threads").cast<int>();
  if (!get("query_chunk").is_none()) o.query_chunk = get("query_chunk").cast<std::int64_t>();
  if (!get("fusion").is_none()) {
    o.fusion.mode = parse_choice<xmr::FusionMode>(get("fusion"), "fusion",
                                                  {{"replace", xmr::FusionMode::Replace},
                                                   {"sum", xmr::FusionMode::Sum},
                                                   {"weighted", xmr::FusionMode::Weighted}});
  }
  if (!get("weights").is_none()) {
    const auto w = get("weights").cast<std::vector<float>>();
    if (w.size() != 3) {
      invalid_argument("weights must be (shortlist, rescore, rerank): 3 numbers, got " + std::to_string(w.size()));
    }
    o.fusion.shortlist_weight = w[0];
    o.fusion.rescore_weight = w[1];
    o.fusion.rerank_weight = w[2];
  }
  if (!get("any_labels").is_none()) o.filter.any_labels = int_list(get("any_labels"), "any_labels");
  if (!get("all_labels").is_none()) o.filter.all_labels = int_list(get("all_labels"), "all_labels");
  if (!get("allowed_ids").is_none()) {
    const Ids ids = to_ids(get("allowed_ids"), "allowed_ids");
    o.filter.id_bitset = xmr::make_id_bitset(ids.span);
    if (o.filter.id_bitset.empty()) o.filter.id_bitset.assign(1, 0);  // allow nothing, not everything
  }
  if (!get("group_by").is_none()) o.group_by = get("group_by").cast<bool>();
  o.device = parse_optional_device(get("device"));
  if (!get("resources").is_none()) o.resources = get("resources").cast<xmr::Resources*>();
}

py::object optional_matrix(std::vector<float>&& v, std::int64_t q, std::int64_t k) {
  if (v.empty()) return py::none();
  return from_vector(std::move(v), {q, k});
}

PyPipelineResult to_python(xmr::PipelineResult&& r) {
  PyPipelineResult out;
  const std::int64_t q = r.num_queries;
  const std::int64_t k = r.k;
  out.ids = from_vector(std::move(r.ids), {q, k});
  out.scores = from_vector(std::move(r.scores), {q, k});
  out.groups = r.groups.empty() ? py::object(py::none()) : py::object(from_vector(std::move(r.groups), {q, k}));
  out.shortlist_scores = optional_matrix(std::move(r.shortlist_scores), q, k);
  out.rescore_scores = optional_matrix(std::move(r.rescore_scores), q, k);
  out.rerank_scores = optional_matrix(std::move(r.rerank_scores), q, k);
  const xmr::PipelineStats& s = r.stats;
  out.stats = py::dict("shortlist_seconds"_a = s.shortlist_seconds, "rescore_seconds"_a = s.rescore_seconds,
                       "rerank_seconds"_a = s.rerank_seconds, "fusion_seconds"_a = s.fusion_seconds,
                       "total_seconds"_a = s.total_seconds, "filtered_items"_a = s.filtered_items,
                       "shortlisted"_a = s.shortlisted, "rescored"_a = s.rescored, "reranked"_a = s.reranked,
                       "scorer_calls"_a = s.scorer_calls);
  out.device = r.device;
  return out;
}

/// Runs a pipeline call with the GIL released; a scorer's exception becomes the __cause__ of the
/// CallbackError.
template <class F>
PyPipelineResult run_pipeline(PipelineCall& call, F&& f) {
  try {
    xmr::PipelineResult r = without_gil([&] { return f(); });
    return to_python(std::move(r));
  } catch (const xmr::Error& e) {
    if (e.code() == xmr::ErrorCode::Callback && call.scorer.error) {
      call.scorer.error->restore();
      call.scorer.error.reset();
      py::raise_from(exception_type(xmr::ErrorCode::Callback), e.what());
      throw py::error_already_set();
    }
    throw;
  }
}

xmr::Direction parse_direction(py::handle v) {
  return parse_choice<xmr::Direction>(v, "direction",
                                      {{"i2t", xmr::Direction::ImageToText},
                                       {"image_to_text", xmr::Direction::ImageToText},
                                       {"t2i", xmr::Direction::TextToImage},
                                       {"text_to_image", xmr::Direction::TextToImage}});
}

void collection_add(PyCollection& self, const py::kwargs& kw) {
  const std::set<std::string>& known = kCollectionAddKeywords;
  for (const auto& item : kw) {
    const auto key = item.first.cast<std::string>();
    if (known.count(key) == 0)
      throw py::type_error("Collection.add() got an unexpected keyword argument '" + key + "'");
  }
  auto get = [&](const char* key) -> py::object {
    return kw.contains(key) ? py::object(kw[key]) : py::object(py::none());
  };
  xmr::CollectionBatch batch;
  std::optional<Ids> ids, groups;
  std::optional<Array> embeddings, codes, labels;
  std::optional<MultiInput> vectors;
  if (!get("ids").is_none()) batch.ids = (ids = to_ids(get("ids"), "ids"))->span;
  if (!get("embeddings").is_none()) {
    batch.embeddings = (embeddings = to_array(get("embeddings"), "embeddings", {ElemType::F32}, false))->view<float>();
  }
  if (!get("vectors").is_none())
    batch.vectors = (vectors = to_multi(get("vectors"), get("offsets"), "vectors"))->batch();
  if (!get("codes").is_none()) {
    batch.codes = (codes = to_array(get("codes"), "codes", {ElemType::U8}, false))->view<std::uint8_t>();
  }
  if (!get("labels").is_none()) {
    batch.labels = (labels = to_array(get("labels"), "labels", {ElemType::U8}, false))->view<std::uint8_t>();
  }
  if (!get("groups").is_none()) batch.groups = (groups = to_ids(get("groups"), "groups"))->span;
  without_gil([&] { self.get().add(batch); });
}

}  // namespace

void register_pipeline(py::module_& m) {
  m.attr("_PIPELINE_KEYWORDS") =
      py::tuple(py::cast(std::vector<std::string>(kPipelineKeywords.begin(), kPipelineKeywords.end())));
  m.attr("_COLLECTION_ADD_KEYWORDS") =
      py::tuple(py::cast(std::vector<std::string>(kCollectionAddKeywords.begin(), kCollectionAddKeywords.end())));
  py::enum_<xmr::Direction>(m, "Direction", "Direction of a cross-modal search.")
      .value("IMAGE_TO_TEXT", xmr::Direction::ImageToText)
      .value("TEXT_TO_IMAGE", xmr::Direction::TextToImage);

  py::class_<PyPairBatch>(m, "PairBatch", R"doc(
A batch of (query, candidate) pairs for the re-rank scorer: pair i is query row query_rows[i] of
the call (its id query_ids[i], or -1) and candidate_ids[i] of the collection, with its stage-2
score (or stage-1 without one) in similarity[i]. The scorer returns len(batch) float scores.)doc")
      .def_readonly("query_rows", &PyPairBatch::query_rows)
      .def_readonly("query_ids", &PyPairBatch::query_ids)
      .def_readonly("candidate_ids", &PyPairBatch::candidate_ids)
      .def_readonly("similarity", &PyPairBatch::similarity)
      .def_readonly("batch_index", &PyPairBatch::batch_index)
      .def("__len__", [](const PyPairBatch& b) { return b.candidate_ids.size(); });

  py::class_<PyPipelineResult>(m, "PipelineResult", R"doc(
Result of a pipeline call, [Q x k] each, best first (descending final score, ties by ascending
id; empty slots id -1, score -inf): ids, scores (fused), groups (with group_by, else None), the
stage scores of each result (None for a stage that did not run), stats (per-stage seconds and
counts) and the device stage 1 ran on.)doc")
      .def_readonly("ids", &PyPipelineResult::ids)
      .def_readonly("scores", &PyPipelineResult::scores)
      .def_readonly("groups", &PyPipelineResult::groups)
      .def_readonly("shortlist_scores", &PyPipelineResult::shortlist_scores)
      .def_readonly("rescore_scores", &PyPipelineResult::rescore_scores)
      .def_readonly("rerank_scores", &PyPipelineResult::rerank_scores)
      .def_readonly("stats", &PyPipelineResult::stats)
      .def_readonly("device", &PyPipelineResult::device);

  py::class_<PyCollection>(m, "Collection", R"doc(
One modality's items for the pipeline: an embedding, several vectors (multi-vector), a binary code,
multi-hot labels and a group id per item — whichever the options enable.

    Collection(name="collection", *, dim=0, metric="cosine", storage="float32",
               multi_vector_dim=0, code_bits=0, num_labels=0, groups=False, device="auto"))doc")
      .def(py::init([](std::string name, std::int64_t dim, py::handle metric, py::handle storage,
                       std::int64_t multi_vector_dim, std::int64_t code_bits, std::int64_t num_labels, bool groups,
                       py::handle device) {
             xmr::CollectionOptions o{.name = std::move(name),
                                      .dim = dim,
                                      .metric = parse_metric(metric),
                                      .storage = parse_dtype(storage),
                                      .multi_vector_dim = multi_vector_dim,
                                      .code_bits = code_bits,
                                      .num_labels = num_labels,
                                      .groups = groups,
                                      .device = parse_device(device)};
             auto pc = std::make_unique<PyCollection>();
             pc->own = std::make_unique<xmr::Collection>(o);
             pc->c = pc->own.get();
             return pc;
           }),
           "name"_a = "collection", py::kw_only(), "dim"_a = 0, "metric"_a = "cosine", "storage"_a = "float32",
           "multi_vector_dim"_a = 0, "code_bits"_a = 0, "num_labels"_a = 0, "groups"_a = false, "device"_a = "auto")
      .def("add", &collection_add, R"doc(
add(*, ids=None, embeddings=None, vectors=None, offsets=None, codes=None, labels=None, groups=None)

Adds n items: one entry per enabled part (embeddings [n x dim] float32; vectors + offsets or a list
of [n_i x multi_vector_dim] arrays; codes [n x code_bits/8] uint8; labels [n x num_labels] 0/1;
groups [n] int64), with sequential or given ids. On error the collection is unchanged.)doc")
      .def(
          "remove",
          [](PyCollection& self, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            without_gil([&] { self.get().remove(i.span); });
          },
          "ids"_a)
      .def_property_readonly("name", [](const PyCollection& s) { return s.get().options().name; })
      .def_property_readonly("dim", [](const PyCollection& s) { return s.get().options().dim; })
      .def_property_readonly("metric", [](const PyCollection& s) { return s.get().options().metric; })
      .def_property_readonly("storage", [](const PyCollection& s) { return s.get().options().storage; })
      .def_property_readonly("multi_vector_dim",
                             [](const PyCollection& s) { return s.get().options().multi_vector_dim; })
      .def_property_readonly("code_bits", [](const PyCollection& s) { return s.get().options().code_bits; })
      .def_property_readonly("num_labels", [](const PyCollection& s) { return s.get().options().num_labels; })
      .def_property_readonly("has_groups", [](const PyCollection& s) { return s.get().options().groups; })
      .def_property_readonly("device", [](const PyCollection& s) { return s.get().options().device; })
      .def_property_readonly("size", [](const PyCollection& s) { return s.get().size(); })
      .def("__len__", [](const PyCollection& s) { return s.get().size(); })
      .def_property_readonly(
          "paired", [](const PyCollection& s) { return s.owner != nullptr; },
          "True once a CrossModalIndex holds this collection.")
      .def("ids",
           [](const PyCollection& s) {
             std::vector<std::int64_t> ids = s.get().ids();
             const auto n = static_cast<py::ssize_t>(ids.size());
             return from_vector(std::move(ids), {n});
           })
      .def("__contains__", [](const PyCollection& s, std::int64_t id) { return s.get().contains(id); })
      .def(
          "groups_of",
          [](const PyCollection& s, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            std::vector<std::int64_t> g = s.get().groups_of(i.span);
            const auto n = static_cast<py::ssize_t>(g.size());
            return from_vector(std::move(g), {n});
          },
          "ids"_a)
      .def(
          "labels_of",
          [](const PyCollection& s, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            const auto n = static_cast<py::ssize_t>(i.span.size());
            return from_vector(s.get().labels_of(i.span), {n, s.get().options().num_labels});
          },
          "ids"_a)
      .def(
          "embeddings_of",
          [](const PyCollection& s, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            const auto n = static_cast<py::ssize_t>(i.span.size());
            return from_vector(s.get().embeddings_of(i.span), {n, s.get().options().dim});
          },
          "ids"_a, "Stored embeddings (normalised under cosine; fp16 widened to float32).")
      .def(
          "codes_of",
          [](const PyCollection& s, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            const auto n = static_cast<py::ssize_t>(i.span.size());
            return from_vector(s.get().codes_of(i.span), {n, s.get().options().code_bits / 8});
          },
          "ids"_a)
      .def(
          "vectors_of",
          [](const PyCollection& s, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            std::vector<float> v;
            std::vector<std::int64_t> offsets;
            s.get().vectors_of(i.span, v, offsets);
            const auto rows = static_cast<py::ssize_t>(offsets.empty() ? 0 : offsets.back());
            const auto n = static_cast<py::ssize_t>(offsets.size());
            return py::make_tuple(from_vector(std::move(v), {rows, s.get().options().multi_vector_dim}),
                                  from_vector(std::move(offsets), {n}));
          },
          "ids"_a, "Stored multi-vector items: (vectors, offsets).")
      .def("__repr__", [](const PyCollection& s) {
        return "Collection(name='" + s.get().options().name + "', size=" + std::to_string(s.get().size()) + ")";
      });

  m.def(
      "retrieve",
      [](const PyCollection& target, const py::kwargs& kw) {
        PipelineCall call;
        parse_pipeline(call, kw, "retrieve");
        return run_pipeline(call, [&] { return xmr::retrieve(target.get(), call.queries(), call.options); });
      },
      "collection"_a, R"doc(
retrieve(collection, *, embeddings=None, vectors=None, offsets=None, codes=None, query_ids=None,
         k=10, candidates=128, shortlist="embeddings", rescore="none", reduce="maxsim",
         scorer=None, scorer_batch=256, listwise=False, scorer_threads=1, query_chunk=0,
         fusion="replace", weights=None, any_labels=None, all_labels=None, allowed_ids=None,
         group_by=False, device=None, resources=None) -> PipelineResult

Multi-stage retrieval for a batch of queries: shortlist `candidates` items per query (by
embeddings, multi_vector or codes) -> exact re-score (embeddings or multi_vector) -> the caller's
re-rank `scorer(PairBatch) -> scores` (batched across queries, on `scorer_threads` threads) ->
fusion ("replace", "sum" as BLIP-2's ITM + ITC, or "weighted" with weights=(shortlist, rescore,
rerank)), with exact label / id filters inside the shortlist and group_by. The GIL is released
except while the scorer runs.)doc");

  py::class_<PyCrossModal>(m, "CrossModalIndex", R"doc(
Pairs an image collection with a text collection and answers image->text ("i2t") and
text->image ("t2i") searches, by query ids of the other collection or by new query vectors.

    CrossModalIndex(images, texts)

The index takes both collections over; the Collection objects passed in stay usable (adds and
removes through them change the index's collections).)doc")
      .def(py::init([](py::object images, py::object texts) {
             auto& a = images.cast<PyCollection&>();
             auto& b = texts.cast<PyCollection&>();
             if (&a == &b) invalid_argument("images and texts are the same collection");
             if (!a.own)
               invalid_argument("images (= '" + a.get().options().name + "') is already paired in a CrossModalIndex");
             if (!b.own)
               invalid_argument("texts (= '" + b.get().options().name + "') is already paired in a CrossModalIndex");
             // Every allocation first, around placeholder collections; then the collections move in
             // by noexcept move assignments, so a failure leaves both Python objects whole.
             const xmr::CollectionOptions placeholder{.name = "placeholder", .code_bits = 8};
             auto made = std::make_unique<PyCrossModal>();
             made->index =
                 std::make_shared<xmr::CrossModalIndex>(xmr::Collection(placeholder), xmr::Collection(placeholder));
             made->images = images;
             made->texts = texts;
             made->index->images() = std::move(*a.own);
             made->index->texts() = std::move(*b.own);
             a.own.reset();
             b.own.reset();
             a.c = &made->index->images();
             b.c = &made->index->texts();
             a.owner = made->index;
             b.owner = made->index;
             return made;
           }),
           "images"_a, "texts"_a)
      .def_readonly("images", &PyCrossModal::images)
      .def_readonly("texts", &PyCrossModal::texts)
      .def(
          "search",
          [](const PyCrossModal& self, py::handle direction, py::handle ids, const py::kwargs& kw) {
            const xmr::Direction d = parse_direction(direction);
            PipelineCall call;
            parse_pipeline(call, kw, "search");
            if (call.query_ids) throw py::type_error("search(): give query ids as `ids`, not `query_ids`");
            if (call.has_vectors()) {
              if (!ids.is_none()) call.query_ids = to_ids(ids, "ids");
              return run_pipeline(call, [&] { return self.index->search(d, call.queries(), call.options); });
            }
            if (ids.is_none()) {
              throw py::type_error("search(): give query ids (`ids`) or query vectors (embeddings, vectors, codes)");
            }
            const Ids q = to_ids(ids, "ids");
            return run_pipeline(call, [&] { return self.index->search(d, q.span, call.options); });
          },
          "direction"_a, "ids"_a = py::none(), R"doc(
search(direction, ids=None, *, embeddings=None, vectors=None, offsets=None, codes=None, **options)
    -> PipelineResult

direction "i2t" (image queries, text results) or "t2i". Queries are the items `ids` of the query
side's collection (their stored embeddings/vectors/codes), or new query vectors (then `ids`, if
given, only reach the scorer). `options` are retrieve()'s.)doc");
}

}  // namespace xmrpy
