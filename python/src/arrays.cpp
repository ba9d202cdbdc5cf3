#include "arrays.h"

#include <dlpack/dlpack.h>

#include <map>
#include <memory>
#include <sstream>
#include <utility>

namespace xmrpy {

namespace {

std::int64_t itemsize(ElemType t) noexcept {
  switch (t) {
    case ElemType::F32:
    case ElemType::I32: return 4;
    case ElemType::F16: return 2;
    case ElemType::U8: return 1;
    case ElemType::I64: return 8;
  }
  return 1;
}

std::string accepted_list(std::initializer_list<ElemType> accepted) {
  std::string s;
  std::size_t i = 0;
  for (ElemType t : accepted) {
    if (i > 0) s += i + 1 == accepted.size() ? " or " : ", ";
    s += to_string(t);
    ++i;
  }
  return s;
}

bool is_accepted(ElemType t, std::initializer_list<ElemType> accepted) {
  for (ElemType a : accepted) {
    if (a == t) return true;
  }
  return false;
}

[[noreturn]] void wrong_dtype(const char* name, const std::string& got, std::initializer_list<ElemType> accepted) {
  throw py::type_error(std::string(name) + ": dtype " + got + " is not accepted (expected " + accepted_list(accepted) +
                       "); convert it first, e.g. " + name + ".astype(numpy." + to_string(*accepted.begin()) + ")");
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i > 0 ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

/// rows, cols from a shape of 1 or 2 dimensions (ValueError otherwise).
void set_shape(Array& a, const std::vector<std::int64_t>& shape, const char* name, bool allow_1d) {
  if (shape.size() == 2) {
    a.rows = shape[0];
    a.cols = shape[1];
  } else if (shape.size() == 1 && allow_1d) {
    a.rows = 1;
    a.cols = shape[0];
  } else {
    throw py::value_error(std::string(name) + " must be a 2-D array [rows x cols]" +
                          (allow_1d ? " (or 1-D, one row)" : "") + ", got shape " + shape_string(shape));
  }
}

/// Row stride in elements when rows are contiguous and evenly spaced, else -1.
std::int64_t row_stride(std::int64_t rows, std::int64_t cols, std::int64_t row_bytes, std::int64_t col_bytes,
                        std::int64_t item) {
  if (cols > 1 && col_bytes != item) return -1;
  if (rows <= 1) return cols;
  if (row_bytes <= 0 || row_bytes % item != 0 || row_bytes / item < cols) return -1;
  return row_bytes / item;
}

std::optional<ElemType> numpy_type(const py::dtype& dt, std::initializer_list<ElemType> accepted) {
  if (dt.byteorder() == '>') return std::nullopt;
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 4) return ElemType::F32;
  if (kind == 'f' && size == 2) return ElemType::F16;
  if (kind == 'u' && size == 1) return ElemType::U8;
  if (kind == 'b' && size == 1 && is_accepted(ElemType::U8, accepted)) return ElemType::U8;  // bool: 0/1 bytes
  if (kind == 'i' && size == 8) return ElemType::I64;
  if (kind == 'i' && size == 4) return ElemType::I32;
  return std::nullopt;
}

Array from_numpy(py::array arr, py::handle source, const char* name, std::initializer_list<ElemType> accepted,
                 bool allow_1d) {
  const py::dtype dt = arr.dtype();
  const std::optional<ElemType> t = numpy_type(dt, accepted);
  if (!t || !is_accepted(*t, accepted)) wrong_dtype(name, dt.attr("name").cast<std::string>(), accepted);
  std::vector<std::int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
  Array a;
  a.type = *t;
  set_shape(a, shape, name, allow_1d);
  const std::int64_t item = itemsize(a.type);
  std::int64_t stride = -1;
  if (arr.ndim() == 2) {
    stride = row_stride(a.rows, a.cols, arr.strides(0), arr.strides(1), item);
  } else {
    stride = row_stride(1, a.cols, 0, arr.ndim() == 1 ? arr.strides(0) : item, item);
  }
  const auto address = reinterpret_cast<std::uintptr_t>(arr.data());
  if (stride < 0 || address % static_cast<std::uintptr_t>(item) != 0) {
    // The one documented conversion: a copy into C order (same dtype).
    arr = py::module_::import("numpy").attr("ascontiguousarray")(arr);
    stride = a.cols;
  }
  a.data = const_cast<void*>(arr.data());
  a.stride = stride;
  a.keep = arr;
  a.source = py::reinterpret_borrow<py::object>(source);
  return a;
}

std::optional<ElemType> typestr_type(const std::string& s, std::initializer_list<ElemType> accepted) {
  if (s == "<f4") return ElemType::F32;
  if (s == "<f2") return ElemType::F16;
  if (s == "|u1" || s == "<u1") return ElemType::U8;
  if (s == "|b1" && is_accepted(ElemType::U8, accepted)) return ElemType::U8;
  if (s == "<i8") return ElemType::I64;
  if (s == "<i4") return ElemType::I32;
  return std::nullopt;
}

py::module_ cuda_helpers() {
  return py::module_::import("xmr._cuda");
}

Array from_cuda_array_interface(py::handle obj, const char* name, std::initializer_list<ElemType> accepted,
                                bool allow_1d) {
  const py::dict cai = obj.attr("__cuda_array_interface__");
  if (cai.contains("mask") && !cai["mask"].is_none()) {
    throw py::value_error(std::string(name) + ": masked CUDA arrays are not supported");
  }
  const auto typestr = cai["typestr"].cast<std::string>();
  const std::optional<ElemType> t = typestr_type(typestr, accepted);
  if (!t || !is_accepted(*t, accepted)) wrong_dtype(name, typestr, accepted);
  std::vector<std::int64_t> shape;
  for (py::handle d : cai["shape"].cast<py::tuple>()) shape.push_back(d.cast<std::int64_t>());
  Array a;
  a.type = *t;
  a.space = xmr::MemorySpace::Device;
  set_shape(a, shape, name, allow_1d);
  const std::int64_t item = itemsize(a.type);
  a.stride = a.cols;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    const auto strides = cai["strides"].cast<py::tuple>();
    if (shape.size() == 2) {
      a.stride = row_stride(a.rows, a.cols, strides[0].cast<std::int64_t>(), strides[1].cast<std::int64_t>(), item);
    } else {
      a.stride = row_stride(1, a.cols, 0, strides[0].cast<std::int64_t>(), item);
    }
    if (a.stride < 0) {
      throw py::value_error(std::string(name) +
                            ": the rows of a CUDA array must be contiguous (unit column stride); xmr does not copy "
                            "device memory to change its layout: pass a contiguous array (e.g. .contiguous())");
    }
  }
  a.data = reinterpret_cast<void*>(cai["data"].cast<py::tuple>()[0].cast<std::uintptr_t>());
  const py::module_ helpers = cuda_helpers();
  a.device_id = helpers.attr("device_of")(obj).cast<int>();
  a.stream = helpers.attr("stream_of")(obj, cai).cast<std::intptr_t>();
  a.keep = py::reinterpret_borrow<py::object>(obj);
  a.source = a.keep;
  return a;
}

Array from_dlpack_cuda(py::handle obj, const char* name, std::initializer_list<ElemType> accepted, bool allow_1d) {
  // Ask the producer to order its work before the legacy default stream, which xmr then uses.
  py::object capsule;
  try {
    capsule = obj.attr("__dlpack__")(py::arg("stream") = 1);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule = obj.attr("__dlpack__")();
  }
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (managed == nullptr) throw py::error_already_set();
  // The capsule is consumed: from here on this module calls the deleter (when `owner` dies).
  if (PyCapsule_SetName(capsule.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  py::capsule owner(managed, [](void* p) {
    auto* m = static_cast<DLManagedTensor*>(p);
    if (m->deleter != nullptr) m->deleter(m);
  });
  const DLTensor& t = managed->dl_tensor;
  std::optional<ElemType> type;
  if (t.dtype.lanes == 1) {
    if (t.dtype.code == kDLFloat && t.dtype.bits == 32) type = ElemType::F32;
    if (t.dtype.code == kDLFloat && t.dtype.bits == 16) type = ElemType::F16;
    if (t.dtype.code == kDLUInt && t.dtype.bits == 8) type = ElemType::U8;
    if (t.dtype.code == kDLInt && t.dtype.bits == 64) type = ElemType::I64;
    if (t.dtype.code == kDLInt && t.dtype.bits == 32) type = ElemType::I32;
  }
  if (!type || !is_accepted(*type, accepted)) {
    wrong_dtype(name,
                "DLPack(code " + std::to_string(t.dtype.code) + ", bits " + std::to_string(t.dtype.bits) + ", lanes " +
                    std::to_string(t.dtype.lanes) + ")",
                accepted);
  }
  std::vector<std::int64_t> shape(t.shape, t.shape + t.ndim);
  Array a;
  a.type = *type;
  a.space = xmr::MemorySpace::Device;
  set_shape(a, shape, name, allow_1d);
  a.stride = a.cols;
  const std::int64_t item = itemsize(a.type);
  if (t.strides != nullptr) {  // DLPack strides count elements
    a.stride = t.ndim == 2 ? row_stride(a.rows, a.cols, t.strides[0] * item, t.strides[1] * item, item)
                           : row_stride(1, a.cols, 0, t.strides[0] * item, item);
    if (a.stride < 0) {
      throw py::value_error(std::string(name) + ": the rows of a CUDA array must be contiguous (unit column stride)");
    }
  }
  a.data = static_cast<char*>(t.data) + t.byte_offset;
  a.device_id = t.device.device_id;
  a.stream = 1;  // cudaStreamLegacy
  a.keep = owner;
  a.source = py::reinterpret_borrow<py::object>(obj);
  return a;
}

}  // namespace

const char* to_string(ElemType t) noexcept {
  switch (t) {
    case ElemType::F32: return "float32";
    case ElemType::F16: return "float16";
    case ElemType::U8: return "uint8";
    case ElemType::I64: return "int64";
    case ElemType::I32: return "int32";
  }
  return "?";
}

Array to_array(py::handle obj, const char* name, std::initializer_list<ElemType> accepted, bool allow_device,
               bool allow_1d) {
  if (obj.is_none()) throw py::type_error(std::string(name) + " must be an array, got None");
  if (py::isinstance<py::array>(obj)) {
    return from_numpy(py::reinterpret_borrow<py::array>(obj), obj, name, accepted, allow_1d);
  }
  const bool cai = py::hasattr(obj, "__cuda_array_interface__");
  bool dlpack_cuda = false;
  if (!cai && py::hasattr(obj, "__dlpack_device__")) {
    const auto dev = obj.attr("__dlpack_device__")().cast<py::tuple>();
    const int type = dev[0].cast<int>();
    dlpack_cuda = type == kDLCUDA || type == kDLCUDAManaged;
  }
  if (cai || dlpack_cuda) {
    if (!allow_device) {
      throw py::type_error(std::string(name) +
                           ": a CUDA array is not accepted here (this argument is read on the host): pass a NumPy "
                           "array, e.g. " +
                           name + ".cpu().numpy()");
    }
    return cai ? from_cuda_array_interface(obj, name, accepted, allow_1d)
               : from_dlpack_cuda(obj, name, accepted, allow_1d);
  }
  const py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    arr = np.attr("asarray")(obj, py::arg("dtype") = to_string(*accepted.begin()));
  } else {
    arr = np.attr("asarray")(obj);
  }
  return from_numpy(py::reinterpret_borrow<py::array>(arr), obj, name, accepted, allow_1d);
}

Ids to_ids(py::handle obj, const char* name) {
  if (obj.is_none()) throw py::type_error(std::string(name) + " must be a sequence of integer ids, got None");
  const py::module_ np = py::module_::import("numpy");
  py::array arr = np.attr("asarray")(obj);
  if (arr.size() == 0) {
    arr = np.attr("zeros")(0, py::arg("dtype") = "int64");
  } else if (arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u') {
    throw py::type_error(std::string(name) + ": ids must be integers, got dtype " +
                         arr.dtype().attr("name").cast<std::string>());
  }
  if (arr.ndim() != 1) {
    std::vector<std::int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
    throw py::value_error(std::string(name) + " must be 1-D, got shape " + shape_string(shape));
  }
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ids(arr);
  return {{ids.data(), static_cast<std::size_t>(ids.size())}, ids};
}

xmr::Resources* resources_for(const Array& a, xmr::Resources* given) {
  if (given != nullptr || !a.on_device()) return given;
  // Never destroyed: Resources own CUDA handles that must not be released during interpreter
  // shutdown, when the CUDA runtime may already be gone. Guarded by the GIL.
  static auto* cache = new std::map<std::pair<int, std::intptr_t>, std::unique_ptr<xmr::Resources>>();
  auto& slot = (*cache)[{a.device_id, a.stream}];
  if (!slot) {
    slot = std::make_unique<xmr::Resources>(a.device_id, reinterpret_cast<CUstream_st*>(a.stream));
  }
  return slot.get();
}

py::object new_device_array(const Array& like, std::int64_t rows, std::int64_t cols, ElemType type) {
  return cuda_helpers().attr("empty_like")(like.source, rows, cols, to_string(type));
}

}  // namespace xmrpy
