// Python bindings of the three indexes (dense, binary, multi-vector), bit packing and index
// extras. Every search writes straight into the arrays it returns (search_into), with the GIL
// released while it runs.
#include <pybind11/stl.h>

#include <utility>

#include "common.h"
#include "xmr/binary_index.h"
#include "xmr/dense_index.h"

namespace xmrpy {

namespace {

constexpr std::initializer_list<ElemType> kFloat = {ElemType::F32, ElemType::F16};
constexpr std::initializer_list<ElemType> kFloat32 = {ElemType::F32};
constexpr std::initializer_list<ElemType> kBytes = {ElemType::U8};

void check_k(std::int64_t k) {
  if (k < 1) invalid_argument("k (= " + std::to_string(k) + ") must be >= 1");
}

xmr::SearchOptions search_options(const Array& queries, py::handle device, std::optional<xmr::Resources*> resources) {
  return {.device = parse_optional_device(device), .resources = call_resources(queries, resources)};
}

/// Device-memory queries need a usable GPU and a GPU search: checked before their device outputs
/// are allocated, with the library's messages (the library checks again).
void check_device_queries(const Array& q, const xmr::SearchOptions& o, xmr::Device index_device) {
  if (!q.on_device()) return;
  if (o.device.value_or(index_device) == xmr::Device::Cpu) {
    invalid_argument(
        "queries.space (= Device) needs the GPU, but device (= cpu) is requested (the call's device, else the "
        "index's): pass host memory or search on the GPU");
  }
  if (xmr::gpu_count() == 0) {
    throw xmr::Error(xmr::ErrorCode::Unavailable,
                     "queries.space (= Device) needs a GPU, but none is usable: " + xmr::device_summary());
  }
}

/// Output buffers of a [rows x k] search: NumPy arrays, or arrays of the queries' GPU library
/// on their device when the queries live in device memory.
template <class Score>
struct Outputs {
  py::object ids_obj;
  py::object scores_obj;
  Array ids;
  Array scores;

  Outputs(const Array& queries, std::int64_t k, ElemType score_type) {
    if (queries.on_device()) {
      ids_obj = new_device_array(queries, queries.rows, k, ElemType::I64);
      scores_obj = new_device_array(queries, queries.rows, k, score_type);
      ids = to_array(ids_obj, "out_ids", {ElemType::I64}, true);
      scores = to_array(scores_obj, "out_scores", {score_type}, true);
    } else {
      ids_obj = new_array<std::int64_t>(queries.rows, k);
      scores_obj = new_array<Score>(queries.rows, k);
      ids = to_array(ids_obj, "out_ids", {ElemType::I64}, false);
      scores = to_array(scores_obj, "out_scores", {score_type}, false);
    }
  }
  [[nodiscard]] py::tuple result() const { return py::make_tuple(scores_obj, ids_obj); }
};

xmr::IndexExtras make_extras(py::handle labels, py::handle binarizer, py::handle cross_modal) {
  xmr::IndexExtras extras;
  if (!labels.is_none()) {
    const Array l = to_array(labels, "labels", kBytes, false);
    extras.labels = xmr::Labels::from_multi_hot(l.view<std::uint8_t>());
  }
  if (!binarizer.is_none()) extras.binarizer = binarizer.cast<xmr::Binarizer>();
  if (!cross_modal.is_none()) extras.cross_modal_binarizer = cross_modal.cast<xmr::CrossModalBinarizer>();
  return extras;
}

xmr::LoadOptions load_options(bool mmap, bool verify, py::handle device, std::optional<xmr::Resources*> resources) {
  return {.mode = mmap ? xmr::LoadMode::Map : xmr::LoadMode::Read,
          .verify = verify,
          .device = parse_optional_device(device),
          .resources = resources.value_or(nullptr)};
}

/// load / from_bytes of an index type: the index, or (index, extras) with return_extras.
template <class Index, class LoadFn>
py::object load_index(bool return_extras, LoadFn&& load) {
  xmr::IndexExtras extras;
  Index index = without_gil([&] { return load(return_extras ? &extras : nullptr); });
  py::object obj = py::cast(std::move(index));
  if (!return_extras) return obj;
  return py::make_tuple(obj, py::cast(std::move(extras)));
}

py::array_t<std::int64_t> id_array(std::vector<std::int64_t>&& ids) {
  const auto n = static_cast<py::ssize_t>(ids.size());
  return from_vector(std::move(ids), {n});
}

py::bytes to_py_bytes(const std::vector<std::uint8_t>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// ---- dense ----------------------------------------------------------------------------------

void dense_add(xmr::DenseIndex& self, py::handle vectors, py::handle ids) {
  const Array v = to_array(vectors, "vectors", kFloat, true);
  const bool f16 = v.type == ElemType::F16;
  if (ids.is_none()) {
    without_gil([&] { f16 ? self.add(v.view<xmr::half>()) : self.add(v.view<float>()); });
  } else {
    const Ids i = to_ids(ids, "ids");
    without_gil([&] { f16 ? self.add(v.view<xmr::half>(), i.span) : self.add(v.view<float>(), i.span); });
  }
}

py::tuple dense_search(const xmr::DenseIndex& self, py::handle queries, std::int64_t k, py::handle device,
                       std::optional<xmr::Resources*> resources) {
  check_k(k);
  const Array q = to_array(queries, "queries", kFloat, true);
  const xmr::SearchOptions o = search_options(q, device, resources);
  check_device_queries(q, o, self.device());
  Outputs<float> out(q, k, ElemType::F32);
  without_gil([&] {
    auto ids = out.ids.mutable_view<std::int64_t>();
    auto scores = out.scores.mutable_view<float>();
    if (q.type == ElemType::F16) {
      self.search_into(q.view<xmr::half>(), k, ids, scores, o);
    } else {
      self.search_into(q.view<float>(), k, ids, scores, o);
    }
  });
  return out.result();
}

py::array_t<float> dense_rescore(const xmr::DenseIndex& self, py::handle queries, py::handle candidates,
                                 py::handle device, std::optional<xmr::Resources*> resources) {
  const Array q = to_array(queries, "queries", kFloat, false);
  const Array c = to_array(candidates, "candidates", {ElemType::I64}, false);
  auto out = new_array<float>(c.rows, c.cols);
  const Array o = to_array(out, "out_scores", kFloat32, false);
  const xmr::SearchOptions opts = search_options(q, device, resources);
  without_gil([&] {
    if (q.type == ElemType::F16) {
      self.rescore(q.view<xmr::half>(), c.view<std::int64_t>(), o.mutable_view<float>(), opts);
    } else {
      self.rescore(q.view<float>(), c.view<std::int64_t>(), o.mutable_view<float>(), opts);
    }
  });
  return out;
}

// ---- binary ---------------------------------------------------------------------------------

py::tuple binary_search(const xmr::BinaryIndex& self, py::handle queries, std::int64_t k, py::handle device,
                        std::optional<xmr::Resources*> resources) {
  check_k(k);
  const Array q = to_array(queries, "queries", kBytes, true);
  const xmr::SearchOptions o = search_options(q, device, resources);
  check_device_queries(q, o, self.device());
  Outputs<std::int32_t> out(q, k, ElemType::I32);
  without_gil([&] {
    self.search_into(q.view<std::uint8_t>(), k, out.ids.mutable_view<std::int64_t>(),
                     out.scores.mutable_view<std::int32_t>(), o);
  });
  return out.result();
}

// ---- multi-vector ---------------------------------------------------------------------------

/// The members DenseIndex and BinaryIndex share: remove, persistence, size, device, ids.
template <class Index>
void def_shared(py::class_<Index>& cls) {
  cls.def(
         "remove",
         [](Index& self, py::handle ids) {
           const Ids i = to_ids(ids, "ids");
           without_gil([&] { self.remove(i.span); });
         },
         "ids"_a, "Removes these ids (each stored, none repeated). On error the index is unchanged.")
      .def(
          "save",
          [](const Index& self, py::handle path, py::handle labels, py::handle binarizer, py::handle cross_modal) {
            const xmr::IndexExtras extras = make_extras(labels, binarizer, cross_modal);
            const std::string p = to_path(path);
            without_gil([&] { self.save(p, extras); });
          },
          "path"_a, py::kw_only(), "labels"_a = py::none(), "binarizer"_a = py::none(),
          "cross_modal_binarizer"_a = py::none(),
          "Saves atomically to a checksummed index file, with optional labels [n x C] and binarisers "
          "(readable by the xmr CLI and the C and C++ APIs).")
      .def(
          "to_bytes", [](const Index& self) { return to_py_bytes(without_gil([&] { return self.to_bytes(); })); },
          "The bytes save() writes.")
      .def_static(
          "load",
          [](py::handle path, bool mmap, bool verify, py::handle device, std::optional<xmr::Resources*> res,
             bool return_extras) {
            const std::string p = to_path(path);
            const xmr::LoadOptions o = load_options(mmap, verify, device, res);
            return load_index<Index>(return_extras, [&](xmr::IndexExtras* e) { return Index::load(p, o, e); });
          },
          "path"_a, py::kw_only(), "mmap"_a = false, "verify"_a = true, "device"_a = py::none(),
          "resources"_a = py::none(), "return_extras"_a = false,
          "Loads an index file (validated; memory-mapped with mmap=True; straight to the GPU with "
          "device='gpu'). With return_extras=True returns (index, IndexExtras).")
      .def_static(
          "from_bytes",
          [](py::handle data, bool verify, py::handle device, bool return_extras) {
            const auto bytes = to_bytes_span(data, "data");
            const xmr::LoadOptions o = load_options(false, verify, device, std::nullopt);
            return load_index<Index>(return_extras,
                                     [&](xmr::IndexExtras* e) { return Index::from_bytes(bytes, o, e); });
          },
          "data"_a, py::kw_only(), "verify"_a = true, "device"_a = py::none(), "return_extras"_a = false)
      .def_property_readonly("size", &Index::size)
      .def("__len__", &Index::size)
      .def_property_readonly("device", &Index::device)
      .def(
          "ids", [](const Index& self) { return id_array(self.ids()); }, "The stored ids, ascending.");
}

}  // namespace

MultiInput to_multi(py::handle vectors, py::handle offsets, const char* name) {
  MultiInput in;
  if (py::isinstance<py::list>(vectors) || py::isinstance<py::tuple>(vectors)) {
    if (!offsets.is_none()) {
      throw py::type_error(std::string(name) + " is a list of per-item arrays: offsets must be None");
    }
    const py::sequence items = py::reinterpret_borrow<py::sequence>(vectors);
    py::list parts;
    in.own_offsets.push_back(0);
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string item_name = std::string(name) + "[" + std::to_string(i) + "]";
      const Array a = to_array(items[i], item_name.c_str(), kFloat32, false);
      parts.append(a.keep);
      in.own_offsets.push_back(in.own_offsets.back() + a.rows);
    }
    if (items.size() == 0) {
      in.vectors =
          to_array(py::module_::import("numpy").attr("zeros")(py::make_tuple(0, 0), "float32"), name, kFloat32, false);
      in.own_offsets.clear();
    } else {
      in.vectors = to_array(py::module_::import("numpy").attr("concatenate")(parts), name, kFloat32, false);
    }
    return in;
  }
  in.vectors = to_array(vectors, name, kFloat32, false);
  if (!offsets.is_none()) in.offsets = to_ids(offsets, "offsets");
  return in;
}

void register_indexes(py::module_& m) {
  py::class_<xmr::IndexExtras>(m, "IndexExtras", "What an index file holds besides the index.")
      .def_property_readonly(
          "labels",
          [](const xmr::IndexExtras& e) -> py::object {
            return e.labels ? labels_to_numpy(*e.labels) : py::object(py::none());
          },
          "Multi-hot labels [n x C] (uint8), or None.")
      .def_readonly("binarizer", &xmr::IndexExtras::binarizer)
      .def_readonly("cross_modal_binarizer", &xmr::IndexExtras::cross_modal_binarizer);

  // ---- DenseIndex ----
  py::class_<xmr::DenseIndex> dense(m, "DenseIndex", R"doc(
Exact dense k-NN by cosine similarity or inner product, on the GPU (cuBLAS + CUB) or the CPU
(OpenBLAS). Results: descending score, ties by ascending id; k > size pads with id -1, score -inf.

    DenseIndex(dim, *, metric="cosine", storage="float32", device="auto")

Thread-safe: searches may run from several threads at once (the GIL is released), concurrently
with add and remove.)doc");
  def_shared(dense);
  dense
      .def(py::init([](std::int64_t dim, py::handle metric, py::handle storage, py::handle device) {
             return xmr::DenseIndex({.dim = dim,
                                     .metric = parse_metric(metric),
                                     .storage = parse_dtype(storage),
                                     .device = parse_device(device)});
           }),
           "dim"_a, py::kw_only(), "metric"_a = "cosine", "storage"_a = "float32", "device"_a = "auto")
      .def("add", &dense_add, "vectors"_a, "ids"_a = py::none(), R"doc(
Appends vectors [n x dim] (float32 or float16; NumPy, or a CUDA array) with sequential ids, or
with the given int64 ids (distinct, in [0, 2^63 - 2]). Every value must be finite; under cosine
no row may have zero norm. On error the index is unchanged.)doc")
      .def("search", &dense_search, "queries"_a, "k"_a, py::kw_only(), "device"_a = py::none(),
           "resources"_a = py::none(), R"doc(
Batch k-NN: returns (scores [Q x k] float32, ids [Q x k] int64). `queries` [Q x dim] float32 or
float16: a NumPy array (results are NumPy), or a CUDA array (PyTorch, CuPy, anything with
__cuda_array_interface__ or DLPack) searched in place on its GPU, results allocated there by the
same library and written on the producer's current stream.)doc")
      .def("rescore", &dense_rescore, "queries"_a, "candidates"_a, py::kw_only(), "device"_a = py::none(),
           "resources"_a = py::none(), R"doc(
Exact scores of given candidates: queries [Q x dim], candidates [Q x C] int64 ids (-1: empty
slot, score -inf). Returns [Q x C] float32 in candidate order, the same bits on CPU and GPU.)doc")
      .def_property_readonly("dim", &xmr::DenseIndex::dim)
      .def_property_readonly("metric", &xmr::DenseIndex::metric)
      .def_property_readonly("storage", &xmr::DenseIndex::storage)
      .def("__repr__", [](const xmr::DenseIndex& self) {
        return "DenseIndex(dim=" + std::to_string(self.dim()) + ", metric=" + xmr::to_string(self.metric()) +
               ", storage=" + xmr::to_string(self.storage()) + ", size=" + std::to_string(self.size()) + ")";
      });

  // ---- BinaryIndex ----
  py::class_<xmr::RangeSearchResult>(m, "RangeSearchResult", R"doc(
Radius-search result in CSR form: query q's results are ids[offsets[q]:offsets[q+1]] (ascending
distance, ties by ascending id). num_within[q] counts every code within the radius; more than
max_results means the list was truncated.)doc")
      .def_property_readonly(
          "offsets", [](const xmr::RangeSearchResult& r) { return py::array_t<std::int64_t>(py::cast(r.offsets)); })
      .def_property_readonly("ids",
                             [](const xmr::RangeSearchResult& r) { return py::array_t<std::int64_t>(py::cast(r.ids)); })
      .def_property_readonly(
          "distances", [](const xmr::RangeSearchResult& r) { return py::array_t<std::int32_t>(py::cast(r.distances)); })
      .def_property_readonly(
          "num_within",
          [](const xmr::RangeSearchResult& r) { return py::array_t<std::int64_t>(py::cast(r.num_within)); })
      .def_readonly("radius", &xmr::RangeSearchResult::radius)
      .def_readonly("max_results", &xmr::RangeSearchResult::max_results)
      .def_readonly("device", &xmr::RangeSearchResult::device)
      .def("any_truncated", &xmr::RangeSearchResult::any_truncated)
      .def("__len__", [](const xmr::RangeSearchResult& r) { return r.num_queries; });

  py::class_<xmr::BinaryIndex> binary(m, "BinaryIndex", R"doc(
Exact Hamming k-NN and radius search over packed binary codes (bits a multiple of 8 in [8, 4096],
numpy.packbits(bitorder="little") layout), on the GPU or the CPU. Results: ascending distance,
ties by ascending id, bit-identical on both; k > size pads with id -1, distance 2^31 - 1.

    BinaryIndex(bits, *, device="auto"))doc");
  def_shared(binary);
  binary
      .def(py::init([](std::int64_t bits, py::handle device) {
             return xmr::BinaryIndex({.bits = bits, .device = parse_device(device)});
           }),
           "bits"_a, py::kw_only(), "device"_a = "auto")
      .def(
          "add",
          [](xmr::BinaryIndex& self, py::handle codes, py::handle ids) {
            const Array c = to_array(codes, "codes", kBytes, true);
            if (ids.is_none()) {
              without_gil([&] { self.add(c.view<std::uint8_t>()); });
            } else {
              const Ids i = to_ids(ids, "ids");
              without_gil([&] { self.add(c.view<std::uint8_t>(), i.span); });
            }
          },
          "codes"_a, "ids"_a = py::none(), "Appends packed codes [n x bits/8] (uint8) with sequential or given ids.")
      .def("search", &binary_search, "queries"_a, "k"_a, py::kw_only(), "device"_a = py::none(),
           "resources"_a = py::none(),
           "Batch k-NN: returns (distances [Q x k] int32, ids [Q x k] int64); CUDA arrays as in "
           "DenseIndex.search.")
      .def(
          "range_search",
          [](const xmr::BinaryIndex& self, py::handle queries, std::int32_t radius, std::int64_t max_results,
             py::handle device, std::optional<xmr::Resources*> resources) {
            const Array q = to_array(queries, "queries", kBytes, false);
            const xmr::SearchOptions o = search_options(q, device, resources);
            return without_gil([&] { return self.range_search(q.view<std::uint8_t>(), radius, max_results, o); });
          },
          "queries"_a, "radius"_a, "max_results"_a, py::kw_only(), "device"_a = py::none(), "resources"_a = py::none(),
          "Every code within Hamming distance `radius` of each query (at most max_results per query).")
      .def_property_readonly("bits", &xmr::BinaryIndex::bits)
      .def_property_readonly("code_bytes", &xmr::BinaryIndex::code_bytes)
      .def("__repr__", [](const xmr::BinaryIndex& self) {
        return "BinaryIndex(bits=" + std::to_string(self.bits()) + ", size=" + std::to_string(self.size()) + ")";
      });

  m.def(
      "pack_bits",
      [](py::handle bits) {
        const Array b = to_array(bits, "bits", kBytes, false);
        if (b.cols % 8 != 0)
          invalid_argument("bits.shape[1] (= " + std::to_string(b.cols) + ") must be a multiple of 8");
        auto out = new_array<std::uint8_t>(b.rows, b.cols / 8);
        const Array o = to_array(out, "codes", kBytes, false);
        without_gil([&] { xmr::pack_bits(b.view<std::uint8_t>(), o.mutable_view<std::uint8_t>()); });
        return out;
      },
      "bits"_a, "Packs 0/1 bits [n x B] into codes [n x B/8] (numpy.packbits(bitorder='little') layout).");
  m.def(
      "unpack_bits",
      [](py::handle codes) {
        const Array c = to_array(codes, "codes", kBytes, false);
        auto out = new_array<std::uint8_t>(c.rows, c.cols * 8);
        const Array o = to_array(out, "bits", kBytes, false);
        without_gil([&] { xmr::unpack_bits(c.view<std::uint8_t>(), o.mutable_view<std::uint8_t>()); });
        return out;
      },
      "codes"_a, "The inverse of pack_bits.");
  m.def("hamming_cpu_kernel", &xmr::hamming_cpu_kernel, "The CPU popcount kernel picked at run time.");

  // ---- MultiVectorIndex ----
  py::class_<xmr::MultiVectorIndex>(m, "MultiVectorIndex", R"doc(
Exact multi-vector (late-interaction) search: items and queries are sets of vectors, scored by
MaxSim (BLIP-2's ITC over query tokens) or sum-of-max (ColBERT).

    MultiVectorIndex(dim, *, metric="cosine", device="auto")

Items and queries are given as `vectors` [total x dim] float32 with `offsets` [n + 1] (item i owns
rows offsets[i]:offsets[i+1]), or as a list of [n_i x dim] arrays.)doc")
      .def(py::init([](std::int64_t dim, py::handle metric, py::handle device) {
             return xmr::MultiVectorIndex({.dim = dim, .metric = parse_metric(metric), .device = parse_device(device)});
           }),
           "dim"_a, py::kw_only(), "metric"_a = "cosine", "device"_a = "auto")
      .def(
          "add",
          [](xmr::MultiVectorIndex& self, py::handle vectors, py::handle offsets, py::handle ids) {
            const MultiInput in = to_multi(vectors, offsets, "vectors");
            if (ids.is_none()) {
              without_gil([&] { self.add(in.batch()); });
            } else {
              const Ids i = to_ids(ids, "ids");
              without_gil([&] { self.add(in.batch(), i.span); });
            }
          },
          "vectors"_a, "offsets"_a = py::none(), "ids"_a = py::none())
      .def(
          "remove",
          [](xmr::MultiVectorIndex& self, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            without_gil([&] { self.remove(i.span); });
          },
          "ids"_a)
      .def(
          "search",
          [](const xmr::MultiVectorIndex& self, py::handle queries, std::int64_t k, py::handle offsets,
             py::handle reduce, py::handle device, std::optional<xmr::Resources*> resources) {
            check_k(k);
            const MultiInput in = to_multi(queries, offsets, "queries");
            const xmr::MultiVectorBatch batch = in.batch();
            const xmr::MultiVectorSearchOptions o{.reduce = parse_reduce(reduce),
                                                  .device = parse_optional_device(device),
                                                  .resources = resources.value_or(nullptr)};
            auto ids = new_array<std::int64_t>(batch.size(), k);
            auto scores = new_array<float>(batch.size(), k);
            const Array ia = to_array(ids, "out_ids", {ElemType::I64}, false);
            const Array sa = to_array(scores, "out_scores", kFloat32, false);
            without_gil(
                [&] { self.search_into(batch, k, ia.mutable_view<std::int64_t>(), sa.mutable_view<float>(), o); });
            return py::make_tuple(scores, ids);
          },
          "queries"_a, "k"_a, py::kw_only(), "offsets"_a = py::none(), "reduce"_a = "maxsim", "device"_a = py::none(),
          "resources"_a = py::none(), "Returns (scores [Q x k] float32, ids [Q x k] int64).")
      .def(
          "rescore",
          [](const xmr::MultiVectorIndex& self, py::handle queries, py::handle candidates, py::handle offsets,
             py::handle reduce) {
            const MultiInput in = to_multi(queries, offsets, "queries");
            const Array c = to_array(candidates, "candidates", {ElemType::I64}, false);
            auto out = new_array<float>(c.rows, c.cols);
            const Array o = to_array(out, "out_scores", kFloat32, false);
            const xmr::MultiVectorReduce r = parse_reduce(reduce);
            without_gil([&] { self.rescore(in.batch(), c.view<std::int64_t>(), o.mutable_view<float>(), r); });
            return out;
          },
          "queries"_a, "candidates"_a, py::kw_only(), "offsets"_a = py::none(), "reduce"_a = "maxsim")
      .def(
          "reconstruct",
          [](const xmr::MultiVectorIndex& self, py::handle ids) {
            const Ids i = to_ids(ids, "ids");
            std::vector<float> vectors;
            std::vector<std::int64_t> offsets;
            without_gil([&] { self.reconstruct(i.span, vectors, offsets); });
            const auto rows = static_cast<py::ssize_t>(offsets.empty() ? 0 : offsets.back());
            const auto n = static_cast<py::ssize_t>(offsets.size());
            return py::make_tuple(from_vector(std::move(vectors), {rows, self.dim()}),
                                  from_vector(std::move(offsets), {n}));
          },
          "ids"_a, "The stored (normalised under cosine) vectors of `ids`: (vectors, offsets).")
      .def_property_readonly("size", &xmr::MultiVectorIndex::size)
      .def("__len__", &xmr::MultiVectorIndex::size)
      .def_property_readonly("num_vectors", &xmr::MultiVectorIndex::num_vectors)
      .def_property_readonly("dim", &xmr::MultiVectorIndex::dim)
      .def_property_readonly("metric", &xmr::MultiVectorIndex::metric)
      .def_property_readonly("device", &xmr::MultiVectorIndex::device)
      .def("ids", [](const xmr::MultiVectorIndex& self) { return id_array(self.ids()); });
}

}  // namespace xmrpy
