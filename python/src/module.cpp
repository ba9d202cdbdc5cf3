// The xmr Python extension module (xmr._xmr): errors, option types, devices and Resources,
// synthetic data, index-file information. The indexes, the pipeline, binarisers and metrics are
// registered by the other files of python/src. The pure-Python package xmr/ re-exports it all.
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <utility>

#include "common.h"
#include "xmr/resources.h"
#include "xmr/synthetic.h"
#include "xmr/version.h"

namespace xmrpy {

namespace {

constexpr int kNumCodes = 9;
std::array<PyObject*, kNumCodes> g_exceptions{};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

PyObject* new_exception(py::module_& m, const char* name, PyObject* base, PyObject* builtin, const char* code,
                        const char* doc) {
  const std::string qualified = std::string("xmr.") + name;
  py::object bases = builtin != nullptr ? py::object(py::make_tuple(py::handle(base), py::handle(builtin)))
                                        : py::object(py::handle(base).cast<py::object>());
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base == nullptr ? nullptr : bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  if (code != nullptr) PyObject_SetAttrString(type, "code", py::str(code).ptr());
  m.add_object(name, py::handle(type));
  return type;
}

void register_errors(py::module_& m) {
  PyObject* base = PyErr_NewExceptionWithDoc(
      "xmr.Error",
      "Every error xmr reports. Its message names the offending argument and its value; `code` is the "
      "xmr::ErrorCode name. A call that raises leaves the object it was called on as it was.",
      PyExc_Exception, nullptr);
  if (base == nullptr) throw py::error_already_set();
  PyObject_SetAttrString(base, "code", Py_None);
  m.add_object("Error", py::handle(base));
  using C = xmr::ErrorCode;
  auto set = [&](C code, const char* name, PyObject* builtin, const char* doc) {
    g_exceptions[static_cast<std::size_t>(code)] = new_exception(m, name, base, builtin, xmr::to_string(code), doc);
  };
  set(C::InvalidArgument, "InvalidArgumentError", PyExc_ValueError, "A shape, value or option the call cannot accept.");
  set(C::OutOfMemory, "OutOfMemoryError", PyExc_MemoryError, "Host or device memory could not be allocated.");
  set(C::Io, "IoError", PyExc_OSError, "A file could not be read or written.");
  set(C::CorruptData, "CorruptDataError", PyExc_ValueError, "A file or buffer failed validation.");
  set(C::Device, "DeviceError", PyExc_RuntimeError, "A CUDA or cuBLAS call failed (the index stays usable).");
  set(C::Unavailable, "UnavailableError", PyExc_RuntimeError,
      "The requested feature or device is not present in this build or machine.");
  set(C::Internal, "InternalError", PyExc_RuntimeError, "A broken internal invariant (a bug in xmr).");
  set(C::Callback, "CallbackError", PyExc_RuntimeError,
      "The pipeline's scorer raised or returned bad scores (the scorer's exception is the __cause__).");
  g_exceptions[0] = base;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const xmr::Error& e) {
      PyErr_SetString(exception_type(e.code()), e.what());
    }
  });
}

void register_enums(py::module_& m) {
  py::enum_<xmr::Metric>(m, "Metric", "Similarity of a dense index (both rank by descending score).")
      .value("INNER_PRODUCT", xmr::Metric::InnerProduct)
      .value("COSINE", xmr::Metric::Cosine);
  py::enum_<xmr::Device>(m, "Device", "Where a computation runs.")
      .value("AUTO", xmr::Device::Auto)
      .value("CPU", xmr::Device::Cpu)
      .value("GPU", xmr::Device::Gpu);
  py::enum_<xmr::DType>(m, "DType", "Stored scalar type of a dense index.")
      .value("FLOAT32", xmr::DType::F32)
      .value("FLOAT16", xmr::DType::F16);
  py::enum_<xmr::MultiVectorReduce>(m, "Reduce", "How a multi-vector similarity reduces vector pairs.")
      .value("MAX_SIM", xmr::MultiVectorReduce::MaxSim)
      .value("SUM_MAX_SIM", xmr::MultiVectorReduce::SumMaxSim);
}

void register_resources(py::module_& m) {
  py::class_<xmr::Resources>(m, "Resources", R"doc(
Execution resources of searches: a CUDA device, a stream (xmr's own, or borrowed from the caller)
and a scratch-memory budget. A call without `resources` uses a per-thread default (for NumPy
inputs) or one that borrows the producer's current stream (for CUDA arrays). Making one never
touches the GPU.

    Resources(device_id=0, stream=0)

`stream` is a CUDA stream handle as an int (e.g. torch.cuda.current_stream().cuda_stream), or 0 for
a stream xmr creates and owns.)doc")
      .def(py::init([](int device_id, std::uintptr_t stream) {
             return std::make_unique<xmr::Resources>(device_id, reinterpret_cast<CUstream_st*>(stream));
           }),
           "device_id"_a = 0, "stream"_a = 0)
      .def_property_readonly("device_id", &xmr::Resources::device_id)
      .def_property_readonly(
          "stream", [](const xmr::Resources& r) { return reinterpret_cast<std::uintptr_t>(r.borrowed_stream()); },
          "The borrowed stream handle, or 0 when xmr owns its stream.")
      .def_property("workspace_bytes", &xmr::Resources::workspace_bytes, &xmr::Resources::set_workspace_bytes,
                    "Scratch-memory budget of one search in bytes (default 512 MiB, at least 1 MiB).")
      .def("set_tile_caps", &xmr::Resources::set_tile_caps, "max_query_rows"_a, "max_db_rows"_a,
           "Caps on tile sizes (0 = none): for tests and tuning.")
      .def("__repr__", [](const xmr::Resources& r) {
        return "Resources(device_id=" + std::to_string(r.device_id()) +
               ", workspace_bytes=" + std::to_string(r.workspace_bytes()) + ")";
      });
}

void register_misc(py::module_& m) {
  m.attr("__version__") = xmr::version();
  m.def("gpu_count", &xmr::gpu_count, "Number of usable CUDA devices (0 in a CPU-only build or without a GPU).");
  m.def("built_with_cuda", &xmr::built_with_cuda, "True when this build has the CUDA backend.");
  m.def("device_summary", &xmr::device_summary, "One line describing the CPU and the GPUs seen.");

  m.def(
      "synthetic_cross_modal",
      [](std::int64_t num_images, std::int64_t captions_per_image, std::int64_t num_labels, std::int64_t dim,
         std::uint64_t seed) {
        xmr::synth::CrossModalSpec spec;
        spec.num_images = num_images;
        spec.captions_per_image = captions_per_image;
        spec.num_labels = num_labels;
        spec.dim = dim;
        spec.seed = seed;
        xmr::synth::CrossModalData d = without_gil([&] { return xmr::synth::make_cross_modal(spec); });
        py::dict out;
        out["images"] = from_vector(std::move(d.image_embeddings), {d.num_images, d.dim});
        out["texts"] = from_vector(std::move(d.text_embeddings), {d.num_texts, d.dim});
        out["image_labels"] = from_vector(std::move(d.image_labels), {d.num_images, d.num_labels});
        out["text_labels"] = from_vector(std::move(d.text_labels), {d.num_texts, d.num_labels});
        out["text_image"] = from_vector(std::move(d.text_image), {d.num_texts});
        return out;
      },
      py::kw_only(), "num_images"_a = 1000, "captions_per_image"_a = 5, "num_labels"_a = 24, "dim"_a = 128,
      "seed"_a = 42,
      R"doc(The built-in synthetic cross-modal data set of the demo (xmr::synth::make_cross_modal):
multi-label images and their captions as float32 embeddings with a modality gap. Returns a dict:
images [I x dim], texts [I*captions x dim] (the captions of image i are consecutive rows),
image_labels / text_labels (multi-hot uint8), text_image (the image of each caption).)doc");

  m.def(
      "read_index_info",
      [](py::handle path) {
        const xmr::IndexFileInfo info = xmr::read_index_info(to_path(path));
        py::dict d;
        d["type"] = info.type;
        d["format_version"] = info.format_version;
        d["file_bytes"] = info.file_bytes;
        d["size"] = info.size;
        d["dim"] = info.dim;
        d["bits"] = info.bits;
        d["metric"] = info.metric;
        d["storage"] = info.storage;
        d["device"] = info.device;
        d["num_classes"] = info.num_classes;
        d["has_binarizer"] = info.has_binarizer;
        py::list sections;
        for (const auto& s : info.sections) {
          sections.append(
              py::dict("name"_a = s.name, "offset"_a = s.offset, "bytes"_a = s.bytes, "checksum"_a = s.checksum));
        }
        d["sections"] = sections;
        return d;
      },
      "path"_a, "The header and section table of an index file, validated, without loading it (as `xmr info`).");
}

}  // namespace

std::string option_name(py::handle v) {
  std::string s;
  if (py::isinstance<py::str>(v)) {
    s = lower(v.cast<std::string>());
  } else if (py::hasattr(v, "__name__") || py::hasattr(v, "kind")) {
    try {  // numpy.float16, numpy.dtype("float16")
      s = lower(py::module_::import("numpy").attr("dtype")(v).attr("name").cast<std::string>());
    } catch (const py::error_already_set&) {
      s = lower(py::str(v).cast<std::string>());
    }
  } else {
    s = lower(py::str(v).cast<std::string>());  // torch.float16 prints as "torch.float16"
  }
  if (s.rfind("torch.", 0) == 0) s = s.substr(6);
  return s;
}

PyObject* exception_type(xmr::ErrorCode code) noexcept {
  const auto i = static_cast<std::size_t>(code);
  return i < g_exceptions.size() && g_exceptions[i] != nullptr ? g_exceptions[i] : g_exceptions[0];
}

void invalid_argument(const std::string& message) {
  throw xmr::Error(xmr::ErrorCode::InvalidArgument, message);
}

xmr::Metric parse_metric(py::handle v) {
  return parse_choice<xmr::Metric>(v, "metric",
                                   {{"cosine", xmr::Metric::Cosine},
                                    {"ip", xmr::Metric::InnerProduct},
                                    {"inner_product", xmr::Metric::InnerProduct},
                                    {"dot", xmr::Metric::InnerProduct}},
                                   "'cosine' or 'ip' (inner product)");
}

xmr::Device parse_device(py::handle v, const char* name) {
  return parse_choice<xmr::Device>(
      v, name,
      {{"auto", xmr::Device::Auto}, {"cpu", xmr::Device::Cpu}, {"gpu", xmr::Device::Gpu}, {"cuda", xmr::Device::Gpu}},
      "'auto', 'cpu' or 'gpu'");
}

std::optional<xmr::Device> parse_optional_device(py::handle v) {
  if (v.is_none()) return std::nullopt;
  return parse_device(v);
}

xmr::DType parse_dtype(py::handle v, const char* name) {
  return parse_choice<xmr::DType>(v, name,
                                  {{"float32", xmr::DType::F32},
                                   {"f32", xmr::DType::F32},
                                   {"fp32", xmr::DType::F32},
                                   {"float16", xmr::DType::F16},
                                   {"f16", xmr::DType::F16},
                                   {"fp16", xmr::DType::F16},
                                   {"half", xmr::DType::F16}},
                                  "'float32' or 'float16'");
}

xmr::MultiVectorReduce parse_reduce(py::handle v) {
  return parse_choice<xmr::MultiVectorReduce>(v, "reduce",
                                              {{"maxsim", xmr::MultiVectorReduce::MaxSim},
                                               {"max_sim", xmr::MultiVectorReduce::MaxSim},
                                               {"summaxsim", xmr::MultiVectorReduce::SumMaxSim},
                                               {"sum_max_sim", xmr::MultiVectorReduce::SumMaxSim},
                                               {"colbert", xmr::MultiVectorReduce::SumMaxSim}},
                                              "'maxsim' or 'sum_max_sim'");
}

std::string to_path(py::handle path) {
  py::object p = py::module_::import("os").attr("fspath")(path);
  if (!py::isinstance<py::str>(p)) p = p.attr("decode")();
  return p.cast<std::string>();
}

std::span<const std::uint8_t> to_bytes_span(py::handle obj, const char* name) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(std::string(name) +
                         " must be a bytes-like object (bytes, bytearray, memoryview, uint8 array)");
  }
  const py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request();
  if (info.ndim > 1 && !(info.strides.back() == info.itemsize)) {
    throw py::value_error(std::string(name) + " must be contiguous");
  }
  return {static_cast<const std::uint8_t*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
}

py::object labels_to_numpy(const xmr::Labels& labels) {
  const std::int64_t rows = labels.rows();
  auto out = new_array<std::uint8_t>(rows, labels.num_classes);
  auto w = out.mutable_unchecked<2>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < labels.num_classes; ++c) w(r, c) = labels.has(r, c) ? 1 : 0;
  }
  return out;
}

}  // namespace xmrpy

PYBIND11_MODULE(_xmr, m) {
  m.doc() = "xmr: exact cross-modal (image-text) retrieval on the GPU and the CPU. See docs/python.md.";
  xmrpy::register_errors(m);
  xmrpy::register_enums(m);
  xmrpy::register_resources(m);
  xmrpy::register_misc(m);
  xmrpy::register_indexes(m);
  xmrpy::register_binarize_eval(m);
  xmrpy::register_pipeline(m);
}
