#pragma once
// Shared pieces of the Python bindings: option parsing, paths, error types, registration.

#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "arrays.h"
#include "xmr/binarize.h"
#include "xmr/error.h"
#include "xmr/index_file.h"
#include "xmr/multi_vector_index.h"
#include "xmr/pipeline.h"
#include "xmr/types.h"

namespace xmrpy {

namespace py = pybind11;
using namespace pybind11::literals;  // NOLINT(google-build-using-namespace)

/// The Python exception type of an xmr error code (xmr.InvalidArgumentError, ...).
PyObject* exception_type(xmr::ErrorCode code) noexcept;

/// Raises xmr.InvalidArgumentError with `message` (for checks the bindings make themselves).
[[noreturn]] void invalid_argument(const std::string& message);

// Options given as enum values or as their names (case-insensitive), e.g. metric="cosine".
xmr::Metric parse_metric(py::handle v);
xmr::Device parse_device(py::handle v, const char* name = "device");
std::optional<xmr::Device> parse_optional_device(py::handle v);
xmr::DType parse_dtype(py::handle v, const char* name = "storage");
xmr::MultiVectorReduce parse_reduce(py::handle v);

/// A multi-vector batch from (vectors [total x D], offsets [n + 1]) or from a list of [n_i x D]
/// arrays (concatenated once: the documented conversion).
struct MultiInput {
  Array vectors;
  Ids offsets;
  std::vector<std::int64_t> own_offsets;
  [[nodiscard]] xmr::MultiVectorBatch batch() const {
    return {.vectors = vectors.view<float>(),
            .offsets = own_offsets.empty() ? offsets.span : std::span<const std::int64_t>(own_offsets)};
  }
};
MultiInput to_multi(py::handle vectors, py::handle offsets, const char* name);

/// The name of an option value, normalised: lower case, '-' as '_'; a NumPy dtype or type
/// (numpy.float16, numpy.dtype("float16"), torch.float16) by its dtype name.
std::string option_name(py::handle v);

/// An option given as an enum value or as one of the names of `table` (after option_name); an
/// InvalidArgumentError names the option, its value and `expected` (default: the table's names).
template <class E>
E parse_choice(py::handle v, const char* name, std::initializer_list<std::pair<const char*, E>> table,
               const char* expected = nullptr) {
  if (!py::isinstance<py::str>(v)) {
    try {
      return v.cast<E>();
    } catch (const py::cast_error&) {
    }
  }
  const std::string s = option_name(v);
  std::string names;
  for (const auto& [key, value] : table) {
    if (s == key) return value;
    names += (names.empty() ? "'" : ", '") + std::string(key) + "'";
  }
  invalid_argument(std::string(name) + " (= " + py::repr(v).cast<std::string>() + ") is not one of " +
                   (expected != nullptr ? std::string(expected) : names));
}

/// os.fspath(path) as a std::string.
std::string to_path(py::handle path);
/// A bytes-like object viewed without a copy (the buffer stays valid while `obj` lives).
std::span<const std::uint8_t> to_bytes_span(py::handle obj, const char* name);

/// Multi-hot labels [n x C] as a NumPy uint8 array (from packed Labels).
py::object labels_to_numpy(const xmr::Labels& labels);

/// Makes a call with the GIL released (the caller keeps every Python object alive).
template <class F>
decltype(auto) without_gil(F&& f) {
  py::gil_scoped_release release;
  return f();
}

/// Resolves the Resources of a call: the caller's, or a cached one for device-memory inputs.
inline xmr::Resources* call_resources(const Array& a, std::optional<xmr::Resources*> given) {
  return resources_for(a, given.value_or(nullptr));
}

void register_indexes(py::module_& m);
void register_pipeline(py::module_& m);
void register_binarize_eval(py::module_& m);

}  // namespace xmrpy
