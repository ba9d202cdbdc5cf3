#pragma once
// Turning Python arrays into xmr views: NumPy arrays (and anything NumPy can view: PyTorch CPU
// tensors, buffers, lists), and CUDA arrays through __cuda_array_interface__ (PyTorch, CuPy,
// Numba) or DLPack. See docs/python.md, "Arrays".

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmrpy {

namespace py = pybind11;

/// Element types the bindings know.
enum class ElemType { F32, F16, U8, I64, I32 };

/// The NumPy name of an element type ("float32", ...).
const char* to_string(ElemType t) noexcept;

/// A 2-D array as xmr sees it: where it lives, its element type, and its layout. `keep` holds
/// whatever keeps the memory alive (the NumPy array, a converted copy, a DLPack capsule).
struct Array {
  void* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;  ///< elements between row starts
  ElemType type = ElemType::F32;
  xmr::MemorySpace space = xmr::MemorySpace::Host;
  int device_id = -1;        ///< CUDA ordinal of device memory
  std::intptr_t stream = 0;  ///< the producer's CUDA stream (0: none known)
  py::object keep;
  py::object source;  ///< the caller's object (for allocating results "like" it)

  [[nodiscard]] bool on_device() const noexcept { return space == xmr::MemorySpace::Device; }
  template <class T>
  [[nodiscard]] xmr::MatrixView<const T> view() const noexcept {
    return {static_cast<const T*>(data), rows, cols, stride, space};
  }
  template <class T>
  [[nodiscard]] xmr::MatrixView<T> mutable_view() const noexcept {
    return {static_cast<T*>(data), rows, cols, stride, space};
  }
};

/// Converts `obj` (argument `name`) to a 2-D array of one of `accepted` element types.
/// - a NumPy array of an accepted dtype whose rows are contiguous is used in place (zero copy,
///   row stride allowed); any other layout is copied once into C order;
/// - a NumPy array of another dtype: TypeError naming the argument, its dtype and the accepted
///   ones (bool is accepted where uint8 is: same bytes);
/// - a list or another object NumPy can view is converted with numpy.asarray (to the first
///   accepted dtype for lists);
/// - an object with __cuda_array_interface__, or a DLPack object on a CUDA device, is used in
///   place when `allow_device` (rows must be contiguous: ValueError otherwise); else TypeError.
/// A 1-D input is a ValueError unless `allow_1d` (then it is one row).
Array to_array(py::handle obj, const char* name, std::initializer_list<ElemType> accepted, bool allow_device,
               bool allow_1d = false);

/// A 1-D int64 host vector for ids (any integer dtype or list is converted once; a bool or float
/// array is a TypeError).
struct Ids {
  std::span<const std::int64_t> span;
  py::object keep;
};
Ids to_ids(py::handle obj, const char* name);

/// New C-contiguous NumPy array [rows x cols].
template <class T>
py::array_t<T> new_array(std::int64_t rows, std::int64_t cols) {
  return py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
}
/// A NumPy array owning a moved std::vector (no copy).
template <class T>
py::array_t<T> from_vector(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

/// Resources for a call on device memory: the caller's `resources` when given, else one cached
/// per (device, stream) that borrows the producer's stream (so xmr's work is ordered after the
/// work that wrote the input, and the caller's later work after xmr's).
xmr::Resources* resources_for(const Array& a, xmr::Resources* given);

/// Allocates a [rows x cols] device array of the library of `like` (PyTorch or CuPy) on its
/// device, through xmr._cuda.empty_like; TypeError when neither can.
py::object new_device_array(const Array& like, std::int64_t rows, std::int64_t cols, ElemType type);

}  // namespace xmrpy
