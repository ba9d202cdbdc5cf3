// The C ABI (xmr/xmr_c.h): handles over the C++ classes, arguments checked for what C can get
// wrong (NULL pointers, negative counts) before the C++ API validates the rest, and one guard
// (c_call) that turns every exception into a status and the calling thread's last message.
#include "xmr/xmr_c.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>

#include "common/check.h"
#include "xmr/binarize.h"
#include "xmr/binary_index.h"
#include "xmr/collection.h"
#include "xmr/dense_index.h"
#include "xmr/error.h"
#include "xmr/eval.h"
#include "xmr/multi_vector_index.h"
#include "xmr/pipeline.h"
#include "xmr/resources.h"
#include "xmr/version.h"

struct xmr_dense_index {
  xmr::DenseIndex index;
};

struct xmr_binary_index {
  xmr::BinaryIndex index;
};

// A collection handle owns its collection, or borrows one of a cross-modal index (owned null):
// freeing a borrowed handle is a no-op, and the index frees the collection.
struct xmr_collection {
  std::unique_ptr<xmr::Collection> owned;
  xmr::Collection* collection;
};

struct xmr_cross_modal {
  xmr::CrossModalIndex index;
  xmr_collection images{nullptr, nullptr};  // borrowed handles on index's collections
  xmr_collection texts{nullptr, nullptr};
};

struct xmr_multi_vector_index {
  xmr::MultiVectorIndex index;
};

struct xmr_resources {
  xmr::Resources resources;
};

struct xmr_binarizer {
  xmr::Binarizer binarizer;
};

namespace {

using xmr::detail::fail;

// The C++ codes and the C statuses are the same numbers (xmr/error.h promises it).
static_assert(static_cast<int>(xmr::ErrorCode::InvalidArgument) == XMR_ERR_INVALID_ARGUMENT);
static_assert(static_cast<int>(xmr::ErrorCode::OutOfMemory) == XMR_ERR_OUT_OF_MEMORY);
static_assert(static_cast<int>(xmr::ErrorCode::Io) == XMR_ERR_IO);
static_assert(static_cast<int>(xmr::ErrorCode::CorruptData) == XMR_ERR_CORRUPT_DATA);
static_assert(static_cast<int>(xmr::ErrorCode::Device) == XMR_ERR_DEVICE);
static_assert(static_cast<int>(xmr::ErrorCode::Unavailable) == XMR_ERR_UNAVAILABLE);
static_assert(static_cast<int>(xmr::ErrorCode::Internal) == XMR_ERR_INTERNAL);
static_assert(static_cast<int>(xmr::ErrorCode::Callback) == XMR_ERR_CALLBACK);
static_assert(static_cast<int>(xmr::Device::Auto) == XMR_DEVICE_AUTO &&
              static_cast<int>(xmr::Device::Gpu) == XMR_DEVICE_GPU);
static_assert(static_cast<int>(xmr::Metric::Cosine) == XMR_METRIC_COSINE &&
              static_cast<int>(xmr::DType::F16) == XMR_DTYPE_F16);
static_assert(static_cast<int>(xmr::LoadMode::Map) == XMR_LOAD_MAP);
static_assert(static_cast<int>(xmr::eval::MapVariant::KFirstRelevant) == XMR_MAP_K_FIRST_RELEVANT);
static_assert(static_cast<int>(xmr::eval::TiePolicy::Average) == XMR_TIES_AVERAGE);
static_assert(xmr::kEmptyDistance == XMR_EMPTY_DISTANCE);
static_assert(static_cast<int>(xmr::ShortlistBy::Embeddings) == XMR_SHORTLIST_EMBEDDINGS &&
              static_cast<int>(xmr::ShortlistBy::Codes) == XMR_SHORTLIST_CODES);
static_assert(static_cast<int>(xmr::RescoreBy::None) == XMR_RESCORE_NONE &&
              static_cast<int>(xmr::RescoreBy::Embeddings) == XMR_RESCORE_EMBEDDINGS);
static_assert(static_cast<int>(xmr::FusionMode::Replace) == XMR_FUSION_REPLACE &&
              static_cast<int>(xmr::FusionMode::Sum) == XMR_FUSION_SUM &&
              static_cast<int>(xmr::FusionMode::Weighted) == XMR_FUSION_WEIGHTED);
static_assert(static_cast<int>(xmr::ShortlistBy::MultiVector) == XMR_SHORTLIST_MULTI_VECTOR &&
              static_cast<int>(xmr::RescoreBy::MultiVector) == XMR_RESCORE_MULTI_VECTOR);
static_assert(static_cast<int>(xmr::MultiVectorReduce::MaxSim) == XMR_REDUCE_MAX_SIM &&
              static_cast<int>(xmr::MultiVectorReduce::SumMaxSim) == XMR_REDUCE_SUM_MAX_SIM);
static_assert(static_cast<int>(xmr::BinarizerKind::Sign) == XMR_BINARIZER_SIGN &&
              static_cast<int>(xmr::BinarizerKind::SignMedian) == XMR_BINARIZER_SIGN_MEDIAN &&
              static_cast<int>(xmr::BinarizerKind::Lsh) == XMR_BINARIZER_LSH &&
              static_cast<int>(xmr::BinarizerKind::Itq) == XMR_BINARIZER_ITQ &&
              static_cast<int>(xmr::BinarizerKind::CrossModalItq) == XMR_BINARIZER_CROSS_MODAL_ITQ);
static_assert(static_cast<int>(xmr::Direction::ImageToText) == XMR_DIRECTION_IMAGE_TO_TEXT &&
              static_cast<int>(xmr::Direction::TextToImage) == XMR_DIRECTION_TEXT_TO_IMAGE);

thread_local std::string t_last_error;

xmr_status_t record(xmr_status_t status, const char* message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {  // no memory for the message: a short literal fits the small-string buffer
    t_last_error = "out of memory";
  }
  return status;
}

// Runs one entry's body: XMR_OK and an empty last error, or the error's status and message.
// Every entry goes through here, so no exception crosses extern "C".
template <class F>
xmr_status_t c_call(F&& body) noexcept {
  try {
    body();
    t_last_error.clear();
    return XMR_OK;
  } catch (const xmr::Error& e) {
    const int code = static_cast<int>(e.code());
    const bool known = code > XMR_OK && code <= XMR_ERR_CALLBACK;
    return record(known ? static_cast<xmr_status_t>(code) : XMR_ERR_INTERNAL, e.what());
  } catch (const std::bad_alloc&) {
    return record(XMR_ERR_OUT_OF_MEMORY, "host memory allocation failed");
  } catch (const std::exception& e) {
    return record(XMR_ERR_INTERNAL, e.what());
  } catch (...) {
    return record(XMR_ERR_INTERNAL, "unknown exception inside libxmr");
  }
}

// A pointer the call cannot do without: a handle or an out-parameter.
void require(const void* pointer, const char* name) {
  XMR_EXPECTS(pointer != nullptr, name, " (= null) must not be null");
}

// A caller buffer of `count` (named `count_name`) rows: count >= 0, and data only NULL when empty.
void require_rows(const void* data, const char* name, std::int64_t count, const char* count_name) {
  XMR_EXPECTS(count >= 0, count_name, " (= ", count, ") must be >= 0");
  XMR_EXPECTS(data != nullptr || count == 0, name, " (= null) with ", count_name, " (= ", count, ") > 0");
}

template <class Index>
Index& deref(Index* handle, const char* name) {
  require(handle, name);
  return *handle;
}

std::optional<xmr::Device> device_option(xmr_device_t device) {
  if (device == XMR_DEVICE_DEFAULT) return std::nullopt;
  return static_cast<xmr::Device>(device);
}

xmr::SearchOptions search_options(xmr_device_t device) {
  return xmr::SearchOptions{.device = device_option(device)};
}

xmr::Resources* resources_of(xmr_resources_t* resources) {
  return resources != nullptr ? &resources->resources : nullptr;
}

// The C per-call options (NULL: the defaults) as the C++ ones.
xmr::SearchOptions search_options(const xmr_search_options_t* options) {
  if (options == nullptr) return {};
  return xmr::SearchOptions{.device = device_option(options->device), .resources = resources_of(options->resources)};
}

xmr::LoadOptions load_options(xmr_load_mode_t mode, int verify, xmr_device_t device) {
  return xmr::LoadOptions{
      .mode = static_cast<xmr::LoadMode>(mode), .verify = verify != 0, .device = device_option(device)};
}

// Calls f with a typed view of [rows x cols] elements of `dtype`.
template <class F>
void with_rows(const void* data, xmr_dtype_t dtype, std::int64_t rows, std::int64_t cols, F&& f) {
  switch (dtype) {
    case XMR_DTYPE_F32: f(xmr::MatrixView<const float>(static_cast<const float*>(data), rows, cols)); return;
    case XMR_DTYPE_F16: f(xmr::MatrixView<const xmr::half>(static_cast<const xmr::half*>(data), rows, cols)); return;
  }
  fail(xmr::ErrorCode::InvalidArgument, "dtype (= ", static_cast<int>(dtype), ") is not an xmr_dtype_t value");
}

std::span<const std::int64_t> id_span(const std::int64_t* ids, std::int64_t count) {
  return {ids, static_cast<std::size_t>(count)};
}

// The shared body of add: sequential ids when `ids` is NULL.
template <class Index, class View>
void add_rows(Index& index, View rows, const std::int64_t* ids) {
  if (ids == nullptr) {
    index.add(rows);
  } else {
    index.add(rows, id_span(ids, rows.rows()));
  }
}

template <class Handle>
xmr_status_t remove_ids(Handle* handle, const std::int64_t* ids, std::int64_t num_ids) {
  return c_call([&] {
    auto& h = deref(handle, "index");
    require_rows(ids, "ids", num_ids, "num_ids");
    h.index.remove(id_span(ids, num_ids));
  });
}

// An accessor: `*out = get(index)`.
template <class Handle, class Get>
xmr_status_t get_value(const Handle* handle, std::int64_t* out, const char* out_name, Get get) {
  return c_call([&] {
    const auto& h = deref(handle, "index");
    require(out, out_name);
    *out = get(h.index);
  });
}

const auto kSize = [](const auto& index) { return index.size(); };

template <class Handle>
xmr_status_t save_index(const Handle* handle, const char* path) {
  return c_call([&] {
    const auto& h = deref(handle, "index");
    require(path, "path");
    h.index.save(path);
  });
}

template <class Handle, class Index = decltype(Handle::index)>
xmr_status_t load_index(const char* path, xmr_load_mode_t mode, int verify, xmr_device_t device, Handle** out_index) {
  return c_call([&] {
    require(path, "path");
    require(out_index, "out_index");
    *out_index = new Handle{Index::load(path, load_options(mode, verify, device))};
  });
}

// The outputs of a search: [num_queries x k] each, required when there is a query.
void require_results(const void* out_ids, const void* out_values, const char* values_name, std::int64_t num_queries) {
  XMR_EXPECTS(out_ids != nullptr || num_queries == 0, "out_ids (= null) with num_queries (= ", num_queries, ") > 0");
  XMR_EXPECTS(out_values != nullptr || num_queries == 0, values_name, " (= null) with num_queries (= ", num_queries,
              ") > 0");
}

// The row arguments of a metric, named as the C caller wrote them.
void require_labelled_rows(const void* queries, const char* queries_name, std::int64_t num_queries,
                           const void* database, const char* database_name, std::int64_t num_db,
                           const std::uint8_t* query_labels, const std::uint8_t* db_labels) {
  require_rows(queries, queries_name, num_queries, "num_queries");
  require_rows(database, database_name, num_db, "num_db");
  require_rows(query_labels, "query_labels", num_queries, "num_queries");
  require_rows(db_labels, "db_labels", num_db, "num_db");
}

xmr::eval::MapOptions map_options(xmr_map_variant_t variant, std::int64_t k, xmr_tie_policy_t ties,
                                  xmr_device_t device) {
  return xmr::eval::MapOptions{.variant = static_cast<xmr::eval::MapVariant>(variant),
                               .k = k,
                               .ties = static_cast<xmr::eval::TiePolicy>(ties),
                               .device = device_option(device).value_or(xmr::Device::Auto)};
}

void write_map(const xmr::eval::MapResult& result, double* out_map, double* out_per_query_ap) {
  *out_map = result.map;
  if (out_per_query_ap != nullptr) std::copy(result.per_query_ap.begin(), result.per_query_ap.end(), out_per_query_ap);
}

xmr::MatrixView<const std::uint8_t> byte_rows(const std::uint8_t* data, std::int64_t rows, std::int64_t cols) {
  return {data, rows, cols};
}

// Copies n values into a row of `width` slots and fills the rest with `pad`.
template <class T>
void pad_row(const T* values, std::int64_t n, std::int64_t width, T pad, T* row) {
  std::copy(values, values + n, row);
  std::fill(row + n, row + width, pad);
}

// The shared body of precision@K and NDCG@K: `metric` is xmr::eval::precision_at_k or ndcg_at_k.
template <class Metric>
xmr_status_t list_metric(Metric metric, const std::int64_t* ranked, std::int64_t num_queries, std::int64_t ranked_cols,
                         const std::uint8_t* query_labels, const std::uint8_t* db_labels, std::int64_t num_db,
                         std::int64_t num_classes, std::int64_t k, xmr_metric_result_t* out, double* out_per_query) {
  return c_call([&] {
    require(out, "out");
    require_labelled_rows(ranked, "ranked", num_queries, db_labels, "db_labels", num_db, query_labels, db_labels);
    const xmr::eval::MetricResult r =
        metric(xmr::MatrixView<const std::int64_t>(ranked, num_queries, ranked_cols),
               byte_rows(query_labels, num_queries, num_classes), byte_rows(db_labels, num_db, num_classes), k);
    *out = xmr_metric_result_t{r.mean, r.queries, r.skipped_queries, r.no_relevant_queries};
    if (out_per_query != nullptr) std::copy(r.per_query.begin(), r.per_query.end(), out_per_query);
  });
}

// The C scorer as the pipeline's score_fn: a non-zero return becomes an xmr::Error(Callback)
// carrying the scorer's message, which the pipeline reports with the batch it failed on.
xmr::PairScoreFn scorer_adapter(xmr_scorer_fn scorer, void* user_data) {
  return [scorer, user_data](const xmr::PairBatch& pairs, std::span<float> scores) {
    const xmr_pair_batch_t batch{static_cast<std::int64_t>(scores.size()),
                                 pairs.query_rows.data(),
                                 pairs.query_ids.data(),
                                 pairs.candidate_ids.data(),
                                 pairs.similarity.data(),
                                 pairs.batch_index};
    char message[XMR_SCORER_MESSAGE_SIZE] = {};
    const std::int32_t rc = scorer(user_data, &batch, scores.data(), message, sizeof message);
    message[sizeof message - 1] = '\0';  // the scorer may have filled the buffer without a NUL
    if (rc != 0) {
      fail(xmr::ErrorCode::Callback, "scorer returned ", rc, ": ", message[0] != '\0' ? message : "(no message)");
    }
  };
}

xmr::PipelineOptions pipeline_options(const xmr_pipeline_options_t* options) {
  require(options, "options");
  const xmr_pipeline_options_t& o = *options;
  const xmr_filter_t& f = o.filter;
  require_rows(f.any_labels, "options.filter.any_labels", f.num_any_labels, "options.filter.num_any_labels");
  require_rows(f.all_labels, "options.filter.all_labels", f.num_all_labels, "options.filter.num_all_labels");
  require_rows(f.ids, "options.filter.ids", f.num_ids, "options.filter.num_ids");
  constexpr std::int64_t kMaxFilterId = std::int64_t{1} << 40;  // make_id_bitset's range
  for (std::int64_t i = 0; i < f.num_ids; ++i) {
    XMR_EXPECTS(f.ids[i] >= 0 && f.ids[i] < kMaxFilterId, "options.filter.ids[", i, "] (= ", f.ids[i],
                ") must be in [0, 2^40)");
  }
  xmr::Filter filter{.any_labels = {f.any_labels, f.any_labels + f.num_any_labels},
                     .all_labels = {f.all_labels, f.all_labels + f.num_all_labels},
                     .id_bitset = xmr::make_id_bitset(id_span(f.ids, f.num_ids))};
  return xmr::PipelineOptions{
      .k = o.k,
      .candidates = o.candidates,
      .shortlist = static_cast<xmr::ShortlistBy>(o.shortlist),
      .rescore = static_cast<xmr::RescoreBy>(o.rescore),
      .reduce = static_cast<xmr::MultiVectorReduce>(o.reduce),
      .score_fn = o.scorer != nullptr ? scorer_adapter(o.scorer, o.scorer_user_data) : xmr::PairScoreFn{},
      .scorer_batch = o.scorer_batch,
      .listwise = o.listwise != 0,
      .scorer_threads = o.scorer_threads,
      .query_chunk = o.query_chunk,
      .fusion = {.mode = static_cast<xmr::FusionMode>(o.fusion.mode),
                 .shortlist_weight = o.fusion.shortlist_weight,
                 .rescore_weight = o.fusion.rescore_weight,
                 .rerank_weight = o.fusion.rerank_weight},
      .filter = std::move(filter),
      .group_by = o.group_by != 0,
      .device = device_option(o.device),
      .resources = resources_of(o.resources)};
}

// A [rows x cols] field of items or queries, or an absent one: NULL is "not given" (which the
// C++ API reports as missing where it is needed), except that with no rows it is the empty
// field of a collection that stores it (cols > 0), as the C convention allows NULL there.
template <class T>
xmr::MatrixView<const T> field_rows(const T* data, std::int64_t rows, std::int64_t cols) {
  if (data == nullptr && (rows != 0 || cols == 0)) return {};
  return {data, rows, cols};
}

// n multi-vector entries: vectors [offsets[n] x dim] with offsets [n + 1], or one vector per
// entry when offsets is NULL; NULL vectors and offsets are "not given".
xmr::MultiVectorBatch multi_rows(const float* vectors, const std::int64_t* offsets, std::int64_t n, std::int64_t dim,
                                 const char* offsets_name) {
  if (offsets == nullptr) return {field_rows(vectors, n, dim), {}};
  XMR_EXPECTS(n >= 0, offsets_name, " given with ", n, " entries");
  const std::int64_t total = offsets[n];
  XMR_EXPECTS(total >= 0, offsets_name, "[", n, "] (= ", total, ") must be >= 0");
  return {field_rows(vectors, total, dim), id_span(offsets, n + 1)};
}

// The queries of a pipeline call, each part as field_rows makes it (NULL: not given), shaped by
// the searched collection (a missing part a stage needs is the C++ API's error).
xmr::Queries make_queries(const xmr::Collection& target, const xmr_queries_t& in) {
  const xmr::CollectionOptions& co = target.options();
  const std::int64_t n = in.num_queries;
  xmr::Queries q;
  q.embeddings = field_rows(in.embeddings, n, co.dim);
  // A multi-vector stage over a collection of single embeddings takes vectors of its dim.
  const std::int64_t vector_dim = co.multi_vector_dim > 0 ? co.multi_vector_dim : co.dim;
  q.vectors = multi_rows(in.vectors, in.vector_offsets, n, vector_dim, "queries.vector_offsets");
  q.codes = field_rows(in.codes, n, co.code_bits / 8);
  if (in.ids != nullptr) q.ids = id_span(in.ids, n);
  return q;
}

xmr_queries_t vector_queries(const float* embeddings, const std::uint8_t* codes, const std::int64_t* ids,
                             std::int64_t num_queries) {
  return xmr_queries_t{num_queries, embeddings, nullptr, nullptr, codes, ids};
}

// A stage's scores into an optional caller buffer: NaN everywhere when the stage did not run.
void write_stage(const std::vector<float>& scores, std::size_t count, float* out) {
  if (out == nullptr) return;
  if (scores.empty()) {
    std::fill_n(out, count, std::nanf(""));
  } else {
    std::copy(scores.begin(), scores.end(), out);
  }
}

// Copies a pipeline result into the caller's [num_queries x k] buffers.
void write_result(const xmr::PipelineResult& r, const xmr_pipeline_output_t& out) {
  std::copy(r.ids.begin(), r.ids.end(), out.ids);
  std::copy(r.scores.begin(), r.scores.end(), out.scores);
  if (out.groups != nullptr) std::copy(r.groups.begin(), r.groups.end(), out.groups);
  write_stage(r.shortlist_scores, r.ids.size(), out.shortlist_scores);
  write_stage(r.rescore_scores, r.ids.size(), out.rescore_scores);
  write_stage(r.rerank_scores, r.ids.size(), out.rerank_scores);
  if (out.stats != nullptr) {
    const xmr::PipelineStats& s = r.stats;
    *out.stats = xmr_pipeline_stats_t{s.shortlist_seconds, s.rescore_seconds, s.rerank_seconds, s.fusion_seconds,
                                      s.total_seconds,     s.filtered_items,  s.shortlisted,    s.rescored,
                                      s.reranked,          s.scorer_calls};
  }
}

// The shared body of the pipeline entries: checks the caller's arguments, converts the options
// (before anything runs) and writes the result of `run(options)`. `ex`: the outputs are named
// as fields of `out`.
template <class Run>
xmr_status_t pipeline_call(const void* handle, const char* handle_name, std::int64_t num_queries,
                           const xmr_pipeline_options_t* options, const xmr_pipeline_output_t& out, bool ex, Run run) {
  return c_call([&] {
    require(handle, handle_name);
    XMR_EXPECTS(num_queries >= 0, "num_queries (= ", num_queries, ") must be >= 0");
    const xmr::PipelineOptions o = pipeline_options(options);
    if (ex) {
      XMR_EXPECTS(out.ids != nullptr || num_queries == 0, "out->ids (= null) with num_queries (= ", num_queries,
                  ") > 0");
      XMR_EXPECTS(out.scores != nullptr || num_queries == 0, "out->scores (= null) with num_queries (= ", num_queries,
                  ") > 0");
      XMR_EXPECTS(out.groups == nullptr || o.group_by, "out->groups (!= null) needs options.group_by (= 0)");
    } else {
      require_results(out.ids, out.scores, "out_scores", num_queries);
    }
    const xmr::PipelineResult r = run(o);
    write_result(r, out);
  });
}

xmr_pipeline_output_t basic_output(std::int64_t* out_ids, float* out_scores) {
  return xmr_pipeline_output_t{out_ids, out_scores, nullptr, nullptr, nullptr, nullptr, nullptr};
}

// A freshly allocated copy of `bytes` for the caller (released by xmr_bytes_free).
void hand_out(const std::vector<std::uint8_t>& bytes, std::uint8_t** out_data, std::size_t* out_size) {
  void* data = std::malloc(std::max<std::size_t>(bytes.size(), 1));
  if (data == nullptr) throw std::bad_alloc();
  if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
  *out_data = static_cast<std::uint8_t*>(data);
  *out_size = bytes.size();
}

std::span<const std::uint8_t> byte_span(const std::uint8_t* data, std::size_t size) {
  XMR_EXPECTS(data != nullptr || size == 0, "data (= null) with size (= ", size, ") > 0");
  return {data, size};
}

template <class Handle>
xmr_status_t index_to_bytes(const Handle* handle, std::uint8_t** out_data, std::size_t* out_size) {
  return c_call([&] {
    const auto& h = deref(handle, "index");
    require(out_data, "out_data");
    require(out_size, "out_size");
    hand_out(h.index.to_bytes(), out_data, out_size);
  });
}

template <class Handle, class Index = decltype(Handle::index)>
xmr_status_t index_from_bytes(const std::uint8_t* data, std::size_t size, int verify, xmr_device_t device,
                              Handle** out_index) {
  return c_call([&] {
    const auto bytes = byte_span(data, size);
    require(out_index, "out_index");
    *out_index = new Handle{Index::from_bytes(bytes, load_options(XMR_LOAD_READ, verify, device))};
  });
}

// An entry that makes a binariser: `*out = new xmr_binarizer{make()}`.
template <class Make>
xmr_status_t make_binarizer(xmr_binarizer_t** out_binarizer, Make make) {
  return c_call([&] {
    require(out_binarizer, "out_binarizer");
    *out_binarizer = new xmr_binarizer{make()};
  });
}

xmr::MatrixView<const float> train_rows(const float* train, std::int64_t n, std::int64_t dim, const char* name) {
  require_rows(train, name, n, "n");
  return {train, n, dim};
}

// Two new binariser handles, both set only when both could be made.
void hand_out_pair(xmr::CrossModalBinarizer pair, xmr_binarizer_t** out_image, xmr_binarizer_t** out_text) {
  auto image = std::make_unique<xmr_binarizer>(xmr_binarizer{std::move(pair.image)});
  auto text = std::make_unique<xmr_binarizer>(xmr_binarizer{std::move(pair.text)});
  *out_image = image.release();
  *out_text = text.release();
}

const xmr::Binarizer& binarizer_of(const xmr_binarizer_t* handle, const char* name) {
  require(handle, name);
  return handle->binarizer;
}

}  // namespace

extern "C" {

const char* xmr_last_error(void) {
  return t_last_error.c_str();
}

const char* xmr_status_string(xmr_status_t status) {
  if (status < XMR_OK || status > XMR_ERR_CALLBACK) return "Unknown";
  return xmr::to_string(static_cast<xmr::ErrorCode>(status));
}

const char* xmr_version(void) {
  return xmr::version();
}

int xmr_gpu_count(void) {
  return xmr::gpu_count();
}

xmr_status_t xmr_device_summary(char* buffer, size_t capacity, size_t* out_length) {
  return c_call([&] {
    require(out_length, "out_length");
    XMR_EXPECTS(buffer != nullptr || capacity == 0, "buffer (= null) with capacity (= ", capacity, ") > 0");
    const std::string summary = xmr::device_summary();
    if (capacity > 0) {
      const std::size_t n = std::min(capacity - 1, summary.size());
      std::memcpy(buffer, summary.data(), n);
      buffer[n] = '\0';
    }
    *out_length = summary.size();
  });
}

// ---- dense index -------------------------------------------------------------------------------

xmr_status_t xmr_dense_index_create(int64_t dim, xmr_metric_t metric, xmr_dtype_t storage, xmr_device_t device,
                                    xmr_dense_index_t** out_index) {
  return c_call([&] {
    require(out_index, "out_index");
    *out_index = new xmr_dense_index{xmr::DenseIndex({.dim = dim,
                                                      .metric = static_cast<xmr::Metric>(metric),
                                                      .storage = static_cast<xmr::DType>(storage),
                                                      .device = static_cast<xmr::Device>(device)})};
  });
}

void xmr_dense_index_free(xmr_dense_index_t* index) {
  delete index;  // ~DenseIndex does not throw
}

xmr_status_t xmr_dense_index_add(xmr_dense_index_t* index, const void* vectors, xmr_dtype_t dtype, int64_t num_vectors,
                                 const int64_t* ids) {
  return c_call([&] {
    auto& h = deref(index, "index");
    require_rows(vectors, "vectors", num_vectors, "num_vectors");
    with_rows(vectors, dtype, num_vectors, h.index.dim(), [&](auto rows) { add_rows(h.index, rows, ids); });
  });
}

xmr_status_t xmr_dense_index_remove(xmr_dense_index_t* index, const int64_t* ids, int64_t num_ids) {
  return remove_ids(index, ids, num_ids);
}

xmr_status_t xmr_dense_index_size(const xmr_dense_index_t* index, int64_t* out_size) {
  return get_value(index, out_size, "out_size", kSize);
}

xmr_status_t xmr_dense_index_dim(const xmr_dense_index_t* index, int64_t* out_dim) {
  return get_value(index, out_dim, "out_dim", [](const xmr::DenseIndex& i) { return i.dim(); });
}

xmr_status_t xmr_dense_index_search(const xmr_dense_index_t* index, const void* queries, xmr_dtype_t dtype,
                                    int64_t num_queries, int64_t k, xmr_device_t device, int64_t* out_ids,
                                    float* out_scores) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(queries, "queries", num_queries, "num_queries");
    require_results(out_ids, out_scores, "out_scores", num_queries);
    with_rows(queries, dtype, num_queries, h.index.dim(), [&](auto rows) {
      (void)h.index.search_into(rows, k, xmr::MatrixView<std::int64_t>(out_ids, num_queries, k),
                                xmr::MatrixView<float>(out_scores, num_queries, k), search_options(device));
    });
  });
}

xmr_status_t xmr_dense_index_save(const xmr_dense_index_t* index, const char* path) {
  return save_index(index, path);
}

xmr_status_t xmr_dense_index_load(const char* path, xmr_load_mode_t mode, int verify, xmr_device_t device,
                                  xmr_dense_index_t** out_index) {
  return load_index(path, mode, verify, device, out_index);
}

// ---- binary index ------------------------------------------------------------------------------

xmr_status_t xmr_binary_index_create(int64_t bits, xmr_device_t device, xmr_binary_index_t** out_index) {
  return c_call([&] {
    require(out_index, "out_index");
    *out_index = new xmr_binary_index{xmr::BinaryIndex({.bits = bits, .device = static_cast<xmr::Device>(device)})};
  });
}

void xmr_binary_index_free(xmr_binary_index_t* index) {
  delete index;
}

xmr_status_t xmr_binary_index_add(xmr_binary_index_t* index, const uint8_t* codes, int64_t num_codes,
                                  const int64_t* ids) {
  return c_call([&] {
    auto& h = deref(index, "index");
    require_rows(codes, "codes", num_codes, "num_codes");
    add_rows(h.index, byte_rows(codes, num_codes, h.index.code_bytes()), ids);
  });
}

xmr_status_t xmr_binary_index_remove(xmr_binary_index_t* index, const int64_t* ids, int64_t num_ids) {
  return remove_ids(index, ids, num_ids);
}

xmr_status_t xmr_binary_index_size(const xmr_binary_index_t* index, int64_t* out_size) {
  return get_value(index, out_size, "out_size", kSize);
}

xmr_status_t xmr_binary_index_bits(const xmr_binary_index_t* index, int64_t* out_bits) {
  return get_value(index, out_bits, "out_bits", [](const xmr::BinaryIndex& i) { return i.bits(); });
}

xmr_status_t xmr_binary_index_search(const xmr_binary_index_t* index, const uint8_t* queries, int64_t num_queries,
                                     int64_t k, xmr_device_t device, int64_t* out_ids, int32_t* out_distances) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(queries, "queries", num_queries, "num_queries");
    require_results(out_ids, out_distances, "out_distances", num_queries);
    (void)h.index.search_into(byte_rows(queries, num_queries, h.index.code_bytes()), k,
                              xmr::MatrixView<std::int64_t>(out_ids, num_queries, k),
                              xmr::MatrixView<std::int32_t>(out_distances, num_queries, k), search_options(device));
  });
}

xmr_status_t xmr_binary_index_range_search(const xmr_binary_index_t* index, const uint8_t* queries, int64_t num_queries,
                                           int32_t radius, int64_t max_results, xmr_device_t device, int64_t* out_ids,
                                           int32_t* out_distances, int64_t* out_counts, int64_t* out_num_within) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(queries, "queries", num_queries, "num_queries");
    require_results(out_ids, out_distances, "out_distances", num_queries);
    XMR_EXPECTS(out_counts != nullptr || num_queries == 0, "out_counts (= null) with num_queries (= ", num_queries,
                ") > 0");
    const xmr::RangeSearchResult r = h.index.range_search(byte_rows(queries, num_queries, h.index.code_bytes()), radius,
                                                          max_results, search_options(device));
    for (std::int64_t q = 0; q < num_queries; ++q) {
      const std::int64_t lo = r.offsets[static_cast<std::size_t>(q)];
      const std::int64_t n = r.offsets[static_cast<std::size_t>(q + 1)] - lo;
      const std::int64_t row = q * max_results;  // < the caller's buffer size
      pad_row(r.ids.data() + lo, n, max_results, std::int64_t{-1}, out_ids + row);
      pad_row(r.distances.data() + lo, n, max_results, std::int32_t{XMR_EMPTY_DISTANCE}, out_distances + row);
      out_counts[q] = n;
      if (out_num_within != nullptr) out_num_within[q] = r.num_within[static_cast<std::size_t>(q)];
    }
  });
}

xmr_status_t xmr_binary_index_save(const xmr_binary_index_t* index, const char* path) {
  return save_index(index, path);
}

xmr_status_t xmr_binary_index_load(const char* path, xmr_load_mode_t mode, int verify, xmr_device_t device,
                                   xmr_binary_index_t** out_index) {
  return load_index(path, mode, verify, device, out_index);
}

// ---- metrics -----------------------------------------------------------------------------------

xmr_status_t xmr_map_hamming(const uint8_t* query_codes, int64_t num_queries, const uint8_t* db_codes, int64_t num_db,
                             int64_t code_bytes, const uint8_t* query_labels, const uint8_t* db_labels,
                             int64_t num_classes, xmr_map_variant_t variant, int64_t k, xmr_tie_policy_t ties,
                             xmr_device_t device, double* out_map, double* out_per_query_ap) {
  return c_call([&] {
    require(out_map, "out_map");
    require_labelled_rows(query_codes, "query_codes", num_queries, db_codes, "db_codes", num_db, query_labels,
                          db_labels);
    write_map(
        xmr::eval::map_hamming(byte_rows(query_codes, num_queries, code_bytes), byte_rows(db_codes, num_db, code_bytes),
                               byte_rows(query_labels, num_queries, num_classes),
                               byte_rows(db_labels, num_db, num_classes), map_options(variant, k, ties, device)),
        out_map, out_per_query_ap);
  });
}

xmr_status_t xmr_map_dense(const float* queries, int64_t num_queries, const float* database, int64_t num_db,
                           int64_t dim, xmr_metric_t metric, const uint8_t* query_labels, const uint8_t* db_labels,
                           int64_t num_classes, xmr_map_variant_t variant, int64_t k, xmr_tie_policy_t ties,
                           xmr_device_t device, double* out_map, double* out_per_query_ap) {
  return c_call([&] {
    require(out_map, "out_map");
    require_labelled_rows(queries, "queries", num_queries, database, "database", num_db, query_labels, db_labels);
    write_map(xmr::eval::map_dense(xmr::MatrixView<const float>(queries, num_queries, dim),
                                   xmr::MatrixView<const float>(database, num_db, dim),
                                   static_cast<xmr::Metric>(metric), byte_rows(query_labels, num_queries, num_classes),
                                   byte_rows(db_labels, num_db, num_classes), map_options(variant, k, ties, device)),
              out_map, out_per_query_ap);
  });
}

xmr_status_t xmr_recall_at_k(const float* images, int64_t num_images, const float* texts, int64_t num_texts,
                             int64_t dim, int64_t captions_per_image, xmr_retrieval_recall_t* out) {
  return c_call([&] {
    require(out, "out");
    require_rows(images, "images", num_images, "num_images");
    require_rows(texts, "texts", num_texts, "num_texts");
    const xmr::eval::RetrievalRecall r =
        xmr::eval::recall_at_k(xmr::MatrixView<const float>(images, num_images, dim),
                               xmr::MatrixView<const float>(texts, num_texts, dim), captions_per_image);
    *out = xmr_retrieval_recall_t{r.i2t_r1,  r.i2t_r5,   r.i2t_r10,  r.t2i_r1, r.t2i_r5,
                                  r.t2i_r10, r.i2t_mean, r.t2i_mean, r.r_mean};
  });
}

xmr_status_t xmr_precision_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols,
                                const uint8_t* query_labels, const uint8_t* db_labels, int64_t num_db,
                                int64_t num_classes, int64_t k, xmr_metric_result_t* out, double* out_per_query) {
  return list_metric(xmr::eval::precision_at_k, ranked, num_queries, ranked_cols, query_labels, db_labels, num_db,
                     num_classes, k, out, out_per_query);
}

xmr_status_t xmr_ndcg_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols, const uint8_t* query_labels,
                           const uint8_t* db_labels, int64_t num_db, int64_t num_classes, int64_t k,
                           xmr_metric_result_t* out, double* out_per_query) {
  return list_metric(xmr::eval::ndcg_at_k, ranked, num_queries, ranked_cols, query_labels, db_labels, num_db,
                     num_classes, k, out, out_per_query);
}

// ---- collections and the pipeline ----------------------------------------------------------

void xmr_pipeline_options_init(xmr_pipeline_options_t* options) {
  if (options == nullptr) return;
  const xmr::PipelineOptions d;
  *options = xmr_pipeline_options_t{.k = d.k,
                                    .candidates = d.candidates,
                                    .shortlist = static_cast<xmr_shortlist_t>(d.shortlist),
                                    .rescore = static_cast<xmr_rescore_t>(d.rescore),
                                    .scorer = nullptr,
                                    .scorer_user_data = nullptr,
                                    .scorer_batch = d.scorer_batch,
                                    .listwise = d.listwise ? 1 : 0,
                                    .scorer_threads = d.scorer_threads,
                                    .query_chunk = d.query_chunk,
                                    .fusion = {static_cast<xmr_fusion_mode_t>(d.fusion.mode), d.fusion.shortlist_weight,
                                               d.fusion.rescore_weight, d.fusion.rerank_weight},
                                    .device = XMR_DEVICE_DEFAULT,
                                    .reduce = static_cast<xmr_reduce_t>(d.reduce),
                                    .group_by = d.group_by ? 1 : 0,
                                    .filter = {nullptr, 0, nullptr, 0, nullptr, 0},
                                    .resources = nullptr};
}

xmr_status_t xmr_collection_create(const char* name, int64_t dim, xmr_metric_t metric, xmr_dtype_t storage,
                                   int64_t code_bits, xmr_device_t device, xmr_collection_t** out_collection) {
  xmr_collection_options_t o;
  xmr_collection_options_init(&o);
  o.name = name;
  o.dim = dim;
  o.metric = metric;
  o.storage = storage;
  o.code_bits = code_bits;
  o.device = device;
  return xmr_collection_create_ex(&o, out_collection);
}

void xmr_collection_options_init(xmr_collection_options_t* options) {
  if (options == nullptr) return;
  const xmr::CollectionOptions d;
  *options = xmr_collection_options_t{.name = nullptr,
                                      .dim = d.dim,
                                      .metric = static_cast<xmr_metric_t>(d.metric),
                                      .storage = static_cast<xmr_dtype_t>(d.storage),
                                      .multi_vector_dim = d.multi_vector_dim,
                                      .code_bits = d.code_bits,
                                      .num_labels = d.num_labels,
                                      .groups = d.groups ? 1 : 0,
                                      .device = static_cast<xmr_device_t>(d.device)};
}

xmr_status_t xmr_collection_create_ex(const xmr_collection_options_t* options, xmr_collection_t** out_collection) {
  return c_call([&] {
    require(options, "options");
    require(out_collection, "out_collection");
    const xmr_collection_options_t& o = *options;
    auto c = std::make_unique<xmr::Collection>(xmr::CollectionOptions{.name = o.name != nullptr ? o.name : "collection",
                                                                      .dim = o.dim,
                                                                      .metric = static_cast<xmr::Metric>(o.metric),
                                                                      .storage = static_cast<xmr::DType>(o.storage),
                                                                      .multi_vector_dim = o.multi_vector_dim,
                                                                      .code_bits = o.code_bits,
                                                                      .num_labels = o.num_labels,
                                                                      .groups = o.groups != 0,
                                                                      .device = static_cast<xmr::Device>(o.device)});
    xmr::Collection* raw = c.get();
    *out_collection = new xmr_collection{std::move(c), raw};
  });
}

xmr_status_t xmr_collection_get_options(const xmr_collection_t* collection, xmr_collection_options_t* out_options) {
  return c_call([&] {
    const xmr::Collection& c = *deref(collection, "collection").collection;
    require(out_options, "out_options");
    const xmr::CollectionOptions& o = c.options();
    *out_options = xmr_collection_options_t{.name = o.name.c_str(),
                                            .dim = o.dim,
                                            .metric = static_cast<xmr_metric_t>(o.metric),
                                            .storage = static_cast<xmr_dtype_t>(o.storage),
                                            .multi_vector_dim = o.multi_vector_dim,
                                            .code_bits = o.code_bits,
                                            .num_labels = o.num_labels,
                                            .groups = o.groups ? 1 : 0,
                                            .device = static_cast<xmr_device_t>(o.device)};
  });
}

void xmr_collection_free(xmr_collection_t* collection) {
  if (collection != nullptr && collection->owned != nullptr) delete collection;  // borrowed: the index's
}

xmr_status_t xmr_collection_add(xmr_collection_t* collection, int64_t num_items, const int64_t* ids,
                                const float* embeddings, const uint8_t* codes) {
  const xmr_collection_batch_t items{num_items, ids, embeddings, nullptr, nullptr, codes, nullptr, nullptr};
  return xmr_collection_add_batch(collection, &items);
}

xmr_status_t xmr_collection_add_batch(xmr_collection_t* collection, const xmr_collection_batch_t* items) {
  return c_call([&] {
    xmr::Collection& c = *deref(collection, "collection").collection;
    require(items, "items");
    const xmr_collection_batch_t& b = *items;
    const std::int64_t n = b.num_items;
    XMR_EXPECTS(n >= 0, "num_items (= ", n, ") must be >= 0");
    const xmr::CollectionOptions& co = c.options();
    xmr::CollectionBatch batch;
    if (b.ids != nullptr) batch.ids = id_span(b.ids, n);
    batch.embeddings = field_rows(b.embeddings, n, co.dim);
    batch.vectors = multi_rows(b.vectors, b.vector_offsets, n, co.multi_vector_dim, "items.vector_offsets");
    batch.codes = field_rows(b.codes, n, co.code_bits / 8);
    batch.labels = field_rows(b.labels, n, co.num_labels);
    if (b.groups != nullptr) batch.groups = id_span(b.groups, n);
    c.add(batch);
  });
}

xmr_status_t xmr_collection_remove(xmr_collection_t* collection, const int64_t* ids, int64_t num_ids) {
  return c_call([&] {
    xmr::Collection& c = *deref(collection, "collection").collection;
    require_rows(ids, "ids", num_ids, "num_ids");
    c.remove(id_span(ids, num_ids));
  });
}

xmr_status_t xmr_collection_size(const xmr_collection_t* collection, int64_t* out_size) {
  return c_call([&] {
    const xmr::Collection& c = *deref(collection, "collection").collection;
    require(out_size, "out_size");
    *out_size = c.size();
  });
}

xmr_status_t xmr_collection_ids(const xmr_collection_t* collection, int64_t* out_ids, int64_t capacity,
                                int64_t* out_count) {
  return c_call([&] {
    const xmr::Collection& c = *deref(collection, "collection").collection;
    require(out_count, "out_count");
    require_rows(out_ids, "out_ids", capacity, "capacity");
    const std::vector<std::int64_t> ids = c.ids();
    const std::size_t n = std::min(ids.size(), static_cast<std::size_t>(capacity));
    std::copy_n(ids.begin(), n, out_ids);
    *out_count = static_cast<std::int64_t>(ids.size());
  });
}

xmr_status_t xmr_collection_contains(const xmr_collection_t* collection, int64_t id, int32_t* out_contains) {
  return c_call([&] {
    const xmr::Collection& c = *deref(collection, "collection").collection;
    require(out_contains, "out_contains");
    *out_contains = c.contains(id) ? 1 : 0;
  });
}

}  // extern "C"

namespace {

// The shared body of the *_of readers: `*_of(ids)` copied into the caller's buffer.
template <class T, class Get>
xmr_status_t read_items(const xmr_collection_t* collection, const std::int64_t* ids, std::int64_t num_ids, T* out,
                        const char* out_name, Get get) {
  return c_call([&] {
    const xmr::Collection& c = *deref(collection, "collection").collection;
    require_rows(ids, "ids", num_ids, "num_ids");
    XMR_EXPECTS(out != nullptr || num_ids == 0, out_name, " (= null) with num_ids (= ", num_ids, ") > 0");
    const std::vector<T> values = get(c, id_span(ids, num_ids));
    std::copy(values.begin(), values.end(), out);
  });
}

}  // namespace

extern "C" {

xmr_status_t xmr_collection_embeddings_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                          float* out_embeddings) {
  return read_items(collection, ids, num_ids, out_embeddings, "out_embeddings",
                    [](const xmr::Collection& c, std::span<const std::int64_t> i) { return c.embeddings_of(i); });
}

xmr_status_t xmr_collection_codes_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                     uint8_t* out_codes) {
  return read_items(collection, ids, num_ids, out_codes, "out_codes",
                    [](const xmr::Collection& c, std::span<const std::int64_t> i) { return c.codes_of(i); });
}

xmr_status_t xmr_collection_labels_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                      uint8_t* out_labels) {
  return read_items(collection, ids, num_ids, out_labels, "out_labels",
                    [](const xmr::Collection& c, std::span<const std::int64_t> i) { return c.labels_of(i); });
}

xmr_status_t xmr_collection_groups_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                      int64_t* out_groups) {
  return read_items(collection, ids, num_ids, out_groups, "out_groups",
                    [](const xmr::Collection& c, std::span<const std::int64_t> i) { return c.groups_of(i); });
}

xmr_status_t xmr_collection_retrieve(const xmr_collection_t* collection, const float* query_embeddings,
                                     const uint8_t* query_codes, const int64_t* query_ids, int64_t num_queries,
                                     const xmr_pipeline_options_t* options, int64_t* out_ids, float* out_scores) {
  return pipeline_call(collection, "collection", num_queries, options, basic_output(out_ids, out_scores), false,
                       [&](const xmr::PipelineOptions& o) {
                         const xmr::Collection& c = *collection->collection;
                         return xmr::retrieve(
                             c, make_queries(c, vector_queries(query_embeddings, query_codes, query_ids, num_queries)),
                             o);
                       });
}

xmr_status_t xmr_collection_retrieve_ex(const xmr_collection_t* collection, const xmr_queries_t* queries,
                                        const xmr_pipeline_options_t* options, const xmr_pipeline_output_t* out) {
  if (queries == nullptr || out == nullptr) {
    return c_call([&] {
      require(queries, "queries");
      require(out, "out");
    });
  }
  return pipeline_call(collection, "collection", queries->num_queries, options, *out, true,
                       [&](const xmr::PipelineOptions& o) {
                         const xmr::Collection& c = *collection->collection;
                         return xmr::retrieve(c, make_queries(c, *queries), o);
                       });
}

xmr_status_t xmr_cross_modal_create(xmr_collection_t** images, xmr_collection_t** texts,
                                    xmr_cross_modal_t** out_index) {
  return c_call([&] {
    require(images, "images");
    require(texts, "texts");
    require(*images, "*images");
    require(*texts, "*texts");
    require(out_index, "out_index");
    XMR_EXPECTS(*images != *texts, "*images and *texts are the same collection handle");
    XMR_EXPECTS((*images)->owned != nullptr, "*images is a borrowed collection of a cross-modal index");
    XMR_EXPECTS((*texts)->owned != nullptr, "*texts is a borrowed collection of a cross-modal index");
    // Every allocation first, around two placeholder collections; then the callers' collections
    // move in by noexcept move assignments. A failure anywhere before leaves both handles whole.
    const xmr::CollectionOptions placeholder{.name = "placeholder", .code_bits = 8};
    auto made = std::make_unique<xmr_cross_modal>(
        xmr_cross_modal{xmr::CrossModalIndex(xmr::Collection(placeholder), xmr::Collection(placeholder))});
    made->index.images() = std::move(*(*images)->owned);
    made->index.texts() = std::move(*(*texts)->owned);
    made->images.collection = &made->index.images();
    made->texts.collection = &made->index.texts();
    *out_index = made.release();
    delete *images;
    delete *texts;
    *images = nullptr;
    *texts = nullptr;
  });
}

void xmr_cross_modal_free(xmr_cross_modal_t* index) {
  delete index;
}

xmr_status_t xmr_cross_modal_collection(xmr_cross_modal_t* index, xmr_direction_t side,
                                        xmr_collection_t** out_collection) {
  return c_call([&] {
    auto& h = deref(index, "index");
    require(out_collection, "out_collection");
    XMR_EXPECTS(side == XMR_DIRECTION_IMAGE_TO_TEXT || side == XMR_DIRECTION_TEXT_TO_IMAGE, "side (= ", side,
                ") is not a Direction value");
    *out_collection = side == XMR_DIRECTION_IMAGE_TO_TEXT ? &h.images : &h.texts;
  });
}

}  // extern "C"

namespace {

template <class Out>
xmr_status_t cross_modal_by_ids(const xmr_cross_modal_t* index, xmr_direction_t direction, const int64_t* query_ids,
                                int64_t num_queries, const xmr_pipeline_options_t* options, const Out& out, bool ex) {
  return pipeline_call(index, "index", num_queries, options, out, ex, [&](const xmr::PipelineOptions& o) {
    require_rows(query_ids, "query_ids", num_queries, "num_queries");
    return index->index.search(static_cast<xmr::Direction>(direction), id_span(query_ids, num_queries), o);
  });
}

xmr_status_t cross_modal_by_vectors(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                    const xmr_queries_t& queries, const xmr_pipeline_options_t* options,
                                    const xmr_pipeline_output_t& out, bool ex) {
  return pipeline_call(index, "index", queries.num_queries, options, out, ex, [&](const xmr::PipelineOptions& o) {
    XMR_EXPECTS(direction == XMR_DIRECTION_IMAGE_TO_TEXT || direction == XMR_DIRECTION_TEXT_TO_IMAGE,
                "direction (= ", direction, ") is not a Direction value");
    const xmr::CrossModalIndex& cm = index->index;
    const xmr::Collection& target = direction == XMR_DIRECTION_IMAGE_TO_TEXT ? cm.texts() : cm.images();
    return cm.search(static_cast<xmr::Direction>(direction), make_queries(target, queries), o);
  });
}

}  // namespace

extern "C" {

xmr_status_t xmr_cross_modal_search(const xmr_cross_modal_t* index, xmr_direction_t direction, const int64_t* query_ids,
                                    int64_t num_queries, const xmr_pipeline_options_t* options, int64_t* out_ids,
                                    float* out_scores) {
  return cross_modal_by_ids(index, direction, query_ids, num_queries, options, basic_output(out_ids, out_scores),
                            false);
}

xmr_status_t xmr_cross_modal_search_vectors(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                            const float* query_embeddings, const uint8_t* query_codes,
                                            const int64_t* query_ids, int64_t num_queries,
                                            const xmr_pipeline_options_t* options, int64_t* out_ids,
                                            float* out_scores) {
  return cross_modal_by_vectors(index, direction, vector_queries(query_embeddings, query_codes, query_ids, num_queries),
                                options, basic_output(out_ids, out_scores), false);
}

xmr_status_t xmr_cross_modal_search_ex(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                       const int64_t* query_ids, int64_t num_queries,
                                       const xmr_pipeline_options_t* options, const xmr_pipeline_output_t* out) {
  if (out == nullptr) return c_call([&] { require(out, "out"); });
  return cross_modal_by_ids(index, direction, query_ids, num_queries, options, *out, true);
}

xmr_status_t xmr_cross_modal_search_vectors_ex(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                               const xmr_queries_t* queries, const xmr_pipeline_options_t* options,
                                               const xmr_pipeline_output_t* out) {
  if (queries == nullptr || out == nullptr) {
    return c_call([&] {
      require(queries, "queries");
      require(out, "out");
    });
  }
  return cross_modal_by_vectors(index, direction, *queries, options, *out, true);
}

// ---- resources, _ex searches, bytes ------------------------------------------------------------

void xmr_search_options_init(xmr_search_options_t* options) {
  if (options == nullptr) return;
  *options = xmr_search_options_t{XMR_DEVICE_DEFAULT, XMR_REDUCE_MAX_SIM, nullptr};
}

xmr_status_t xmr_resources_create(int32_t device_id, void* stream, xmr_resources_t** out_resources) {
  return c_call([&] {
    require(out_resources, "out_resources");
    XMR_EXPECTS(device_id >= 0, "device_id (= ", device_id, ") must be >= 0");
    *out_resources = new xmr_resources{xmr::Resources(device_id, static_cast<CUstream_st*>(stream))};
  });
}

void xmr_resources_free(xmr_resources_t* resources) {
  delete resources;
}

xmr_status_t xmr_resources_set_workspace_bytes(xmr_resources_t* resources, uint64_t bytes) {
  return c_call([&] {
    auto& r = deref(resources, "resources").resources;
    XMR_EXPECTS(bytes <= SIZE_MAX, "bytes (= ", bytes, ") does not fit size_t");
    r.set_workspace_bytes(static_cast<std::size_t>(bytes));
  });
}

xmr_status_t xmr_resources_workspace_bytes(const xmr_resources_t* resources, uint64_t* out_bytes) {
  return c_call([&] {
    const auto& r = deref(resources, "resources").resources;
    require(out_bytes, "out_bytes");
    *out_bytes = r.workspace_bytes();
  });
}

xmr_status_t xmr_dense_index_search_ex(const xmr_dense_index_t* index, const void* queries, xmr_dtype_t dtype,
                                       int64_t num_queries, int64_t k, const xmr_search_options_t* options,
                                       int64_t* out_ids, float* out_scores) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(queries, "queries", num_queries, "num_queries");
    require_results(out_ids, out_scores, "out_scores", num_queries);
    with_rows(queries, dtype, num_queries, h.index.dim(), [&](auto rows) {
      (void)h.index.search_into(rows, k, xmr::MatrixView<std::int64_t>(out_ids, num_queries, k),
                                xmr::MatrixView<float>(out_scores, num_queries, k), search_options(options));
    });
  });
}

xmr_status_t xmr_binary_index_search_ex(const xmr_binary_index_t* index, const uint8_t* queries, int64_t num_queries,
                                        int64_t k, const xmr_search_options_t* options, int64_t* out_ids,
                                        int32_t* out_distances) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(queries, "queries", num_queries, "num_queries");
    require_results(out_ids, out_distances, "out_distances", num_queries);
    (void)h.index.search_into(byte_rows(queries, num_queries, h.index.code_bytes()), k,
                              xmr::MatrixView<std::int64_t>(out_ids, num_queries, k),
                              xmr::MatrixView<std::int32_t>(out_distances, num_queries, k), search_options(options));
  });
}

void xmr_bytes_free(uint8_t* data) {
  std::free(data);
}

xmr_status_t xmr_dense_index_to_bytes(const xmr_dense_index_t* index, uint8_t** out_data, size_t* out_size) {
  return index_to_bytes(index, out_data, out_size);
}

xmr_status_t xmr_dense_index_from_bytes(const uint8_t* data, size_t size, int verify, xmr_device_t device,
                                        xmr_dense_index_t** out_index) {
  return index_from_bytes(data, size, verify, device, out_index);
}

xmr_status_t xmr_binary_index_to_bytes(const xmr_binary_index_t* index, uint8_t** out_data, size_t* out_size) {
  return index_to_bytes(index, out_data, out_size);
}

xmr_status_t xmr_binary_index_from_bytes(const uint8_t* data, size_t size, int verify, xmr_device_t device,
                                         xmr_binary_index_t** out_index) {
  return index_from_bytes(data, size, verify, device, out_index);
}

// ---- multi-vector index ------------------------------------------------------------------------

xmr_status_t xmr_multi_vector_index_create(int64_t dim, xmr_metric_t metric, xmr_device_t device,
                                           xmr_multi_vector_index_t** out_index) {
  return c_call([&] {
    require(out_index, "out_index");
    *out_index = new xmr_multi_vector_index{xmr::MultiVectorIndex(
        {.dim = dim, .metric = static_cast<xmr::Metric>(metric), .device = static_cast<xmr::Device>(device)})};
  });
}

void xmr_multi_vector_index_free(xmr_multi_vector_index_t* index) {
  delete index;
}

xmr_status_t xmr_multi_vector_index_add(xmr_multi_vector_index_t* index, const float* vectors, const int64_t* offsets,
                                        int64_t num_items, const int64_t* ids) {
  return c_call([&] {
    auto& h = deref(index, "index");
    require_rows(vectors, "vectors", num_items, "num_items");
    const xmr::MultiVectorBatch items = multi_rows(vectors, offsets, num_items, h.index.dim(), "offsets");
    if (ids == nullptr) {
      h.index.add(items);
    } else {
      h.index.add(items, id_span(ids, num_items));
    }
  });
}

xmr_status_t xmr_multi_vector_index_remove(xmr_multi_vector_index_t* index, const int64_t* ids, int64_t num_ids) {
  return remove_ids(index, ids, num_ids);
}

xmr_status_t xmr_multi_vector_index_size(const xmr_multi_vector_index_t* index, int64_t* out_size) {
  return get_value(index, out_size, "out_size", kSize);
}

xmr_status_t xmr_multi_vector_index_num_vectors(const xmr_multi_vector_index_t* index, int64_t* out_num_vectors) {
  return get_value(index, out_num_vectors, "out_num_vectors",
                   [](const xmr::MultiVectorIndex& i) { return i.num_vectors(); });
}

xmr_status_t xmr_multi_vector_index_search(const xmr_multi_vector_index_t* index, const float* vectors,
                                           const int64_t* offsets, int64_t num_queries, int64_t k,
                                           const xmr_search_options_t* options, int64_t* out_ids, float* out_scores) {
  return c_call([&] {
    const auto& h = deref(index, "index");
    require_rows(vectors, "vectors", num_queries, "num_queries");
    const xmr::MultiVectorBatch queries = multi_rows(vectors, offsets, num_queries, h.index.dim(), "offsets");
    require_results(out_ids, out_scores, "out_scores", num_queries);
    const xmr::SearchOptions so = search_options(options);
    const xmr::MultiVectorSearchOptions mo{
        .reduce = static_cast<xmr::MultiVectorReduce>(options != nullptr ? options->reduce : XMR_REDUCE_MAX_SIM),
        .device = so.device,
        .resources = so.resources};
    (void)h.index.search_into(queries, k, xmr::MatrixView<std::int64_t>(out_ids, num_queries, k),
                              xmr::MatrixView<float>(out_scores, num_queries, k), mo);
  });
}

// ---- more metrics ------------------------------------------------------------------------------

xmr_status_t xmr_neighbor_recall_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols,
                                      const int64_t* ground_truth, int64_t gt_cols, int64_t k, xmr_metric_result_t* out,
                                      double* out_per_query) {
  return c_call([&] {
    require(out, "out");
    require_rows(ranked, "ranked", num_queries, "num_queries");
    require_rows(ground_truth, "ground_truth", num_queries, "num_queries");
    const xmr::eval::MetricResult r =
        xmr::eval::neighbor_recall_at_k(xmr::MatrixView<const std::int64_t>(ranked, num_queries, ranked_cols),
                                        xmr::MatrixView<const std::int64_t>(ground_truth, num_queries, gt_cols), k);
    *out = xmr_metric_result_t{r.mean, r.queries, r.skipped_queries, r.no_relevant_queries};
    if (out_per_query != nullptr) std::copy(r.per_query.begin(), r.per_query.end(), out_per_query);
  });
}

xmr_status_t xmr_pr_curve_hamming(const uint8_t* query_codes, int64_t num_queries, const uint8_t* db_codes,
                                  int64_t num_db, int64_t code_bytes, const uint8_t* query_labels,
                                  const uint8_t* db_labels, int64_t num_classes, double* out_precision,
                                  double* out_recall, int64_t* out_queries_with_hit, double* out_pooled_precision,
                                  double* out_pooled_recall, int64_t* out_no_relevant_queries) {
  return c_call([&] {
    require_labelled_rows(query_codes, "query_codes", num_queries, db_codes, "db_codes", num_db, query_labels,
                          db_labels);
    const xmr::eval::PrCurve r = xmr::eval::pr_curve_hamming(
        byte_rows(query_codes, num_queries, code_bytes), byte_rows(db_codes, num_db, code_bytes),
        byte_rows(query_labels, num_queries, num_classes), byte_rows(db_labels, num_db, num_classes));
    const auto put = [](const auto& values, auto* out) {
      if (out != nullptr) std::copy(values.begin(), values.end(), out);
    };
    put(r.precision, out_precision);
    put(r.recall, out_recall);
    put(r.queries_with_hit, out_queries_with_hit);
    put(r.pooled_precision, out_pooled_precision);
    put(r.pooled_recall, out_pooled_recall);
    if (out_no_relevant_queries != nullptr) *out_no_relevant_queries = r.no_relevant_queries;
  });
}

// ---- binarisers --------------------------------------------------------------------------------

void xmr_itq_options_init(xmr_itq_options_t* options) {
  if (options == nullptr) return;
  const xmr::CrossModalItqOptions d;
  *options = xmr_itq_options_t{d.iterations, d.seed, d.regularization, d.correlation_power};
}

xmr_status_t xmr_binarizer_sign(int64_t dim, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] { return xmr::Binarizer::sign(dim); });
}

xmr_status_t xmr_binarizer_sign_median(const float* train, int64_t n, int64_t dim, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] { return xmr::Binarizer::sign_median(train_rows(train, n, dim, "train")); });
}

xmr_status_t xmr_binarizer_lsh(int64_t dim, int64_t bits, uint64_t seed, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] { return xmr::Binarizer::lsh(dim, bits, seed); });
}

xmr_status_t xmr_binarizer_lsh_train(const float* train, int64_t n, int64_t dim, int64_t bits, uint64_t seed,
                                     int32_t center, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] {
    return xmr::Binarizer::lsh(train_rows(train, n, dim, "train"), bits, {.seed = seed, .center = center != 0});
  });
}

xmr_status_t xmr_binarizer_itq(const float* train, int64_t n, int64_t dim, int64_t bits,
                               const xmr_itq_options_t* options, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] {
    xmr::ItqOptions o;
    if (options != nullptr) o = {.iterations = options->iterations, .seed = options->seed};
    return xmr::Binarizer::itq(train_rows(train, n, dim, "train"), bits, o);
  });
}

void xmr_binarizer_free(xmr_binarizer_t* binarizer) {
  delete binarizer;
}

xmr_status_t xmr_binarizer_encode(const xmr_binarizer_t* binarizer, const float* x, int64_t n, uint8_t* out_codes) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require_rows(x, "x", n, "n");
    require_rows(out_codes, "out_codes", n, "n");
    if (n == 0) return;
    b.encode(xmr::MatrixView<const float>(x, n, b.dim()), xmr::MatrixView<std::uint8_t>(out_codes, n, b.code_bytes()));
  });
}

xmr_status_t xmr_binarizer_dim(const xmr_binarizer_t* binarizer, int64_t* out_dim) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(out_dim, "out_dim");
    *out_dim = b.dim();
  });
}

xmr_status_t xmr_binarizer_bits(const xmr_binarizer_t* binarizer, int64_t* out_bits) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(out_bits, "out_bits");
    *out_bits = b.bits();
  });
}

xmr_status_t xmr_binarizer_code_bytes(const xmr_binarizer_t* binarizer, int64_t* out_code_bytes) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(out_code_bytes, "out_code_bytes");
    *out_code_bytes = b.code_bytes();
  });
}

xmr_status_t xmr_binarizer_kind(const xmr_binarizer_t* binarizer, xmr_binarizer_kind_t* out_kind) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(out_kind, "out_kind");
    *out_kind = static_cast<xmr_binarizer_kind_t>(b.kind());
  });
}

xmr_status_t xmr_binarizer_save(const xmr_binarizer_t* binarizer, const char* path) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(path, "path");
    b.save(path);
  });
}

xmr_status_t xmr_binarizer_load(const char* path, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] {
    require(path, "path");
    return xmr::Binarizer::load(path);
  });
}

xmr_status_t xmr_binarizer_to_bytes(const xmr_binarizer_t* binarizer, uint8_t** out_data, size_t* out_size) {
  return c_call([&] {
    const xmr::Binarizer& b = binarizer_of(binarizer, "binarizer");
    require(out_data, "out_data");
    require(out_size, "out_size");
    hand_out(b.to_bytes(), out_data, out_size);
  });
}

xmr_status_t xmr_binarizer_from_bytes(const uint8_t* data, size_t size, xmr_binarizer_t** out_binarizer) {
  return make_binarizer(out_binarizer, [&] { return xmr::Binarizer::from_bytes(byte_span(data, size)); });
}

xmr_status_t xmr_cross_modal_itq_train(const float* image_train, int64_t image_dim, const float* text_train,
                                       int64_t text_dim, int64_t n, int64_t bits, const xmr_itq_options_t* options,
                                       xmr_binarizer_t** out_image, xmr_binarizer_t** out_text) {
  return c_call([&] {
    require(out_image, "out_image");
    require(out_text, "out_text");
    xmr::CrossModalItqOptions o;
    if (options != nullptr) {
      o = {.iterations = options->iterations,
           .seed = options->seed,
           .regularization = options->regularization,
           .correlation_power = options->correlation_power};
    }
    hand_out_pair(xmr::train_cross_modal_itq(train_rows(image_train, n, image_dim, "image_train"),
                                             train_rows(text_train, n, text_dim, "text_train"), bits, o),
                  out_image, out_text);
  });
}

xmr_status_t xmr_cross_modal_binarizer_save(const xmr_binarizer_t* image, const xmr_binarizer_t* text,
                                            const char* path) {
  return c_call([&] {
    const xmr::CrossModalBinarizer pair{binarizer_of(image, "image"), binarizer_of(text, "text")};
    require(path, "path");
    pair.save(path);
  });
}

xmr_status_t xmr_cross_modal_binarizer_load(const char* path, xmr_binarizer_t** out_image, xmr_binarizer_t** out_text) {
  return c_call([&] {
    require(path, "path");
    require(out_image, "out_image");
    require(out_text, "out_text");
    hand_out_pair(xmr::CrossModalBinarizer::load(path), out_image, out_text);
  });
}

}  // extern "C"
