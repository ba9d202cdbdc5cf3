#include "dense/prepare.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/half.h"

namespace xmr::engine {
namespace {

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, half>) return "fp16";
  if constexpr (std::is_same_v<T, float>) return "fp32";
  if constexpr (std::is_same_v<T, std::uint8_t>) return "uint8";
  return "int64";
}

template <class T>
double load(const T* p, std::int64_t c) {
  if constexpr (std::is_same_v<T, half>) {
    return static_cast<double>(detail::half_bits_to_float(p[c].bits));
  } else {
    return static_cast<double>(p[c]);
  }
}

void check_space(MemorySpace space, const char* name, bool allow_device) {
  XMR_EXPECTS(space != MemorySpace::Device || allow_device, name,
              ".space (= Device) is not supported here: pass host memory");
  XMR_EXPECTS(space == MemorySpace::Host || space == MemorySpace::Device, name, ".space (= ", static_cast<int>(space),
              ") is not a MemorySpace value");
}

}  // namespace

template <class T>
void check_input_view(const MatrixView<const T>& v, const char* name, std::int64_t dim, bool allow_device) {
  check_space(v.space(), name, allow_device);
  XMR_EXPECTS(v.rows() >= 0, name, ".rows (= ", v.rows(), ") must be >= 0");
  XMR_EXPECTS(v.cols() == dim, name, ".cols (= ", v.cols(), ") must equal the index dimension (= ", dim, ")");
  XMR_EXPECTS(v.stride() >= v.cols(), name, ".stride (= ", v.stride(), ") must be >= cols (= ", v.cols(), ")");
  if (v.rows() == 0) return;
  XMR_EXPECTS(v.data() != nullptr, name, ".data (= null) with rows (= ", v.rows(), ") > 0");
  const auto addr = reinterpret_cast<std::uintptr_t>(v.data());
  XMR_EXPECTS(addr % alignof(T) == 0, name, ".data (= 0x", std::hex, addr, std::dec, ") is not aligned to ", alignof(T),
              " bytes for ", type_name<T>());
  detail::mul_checked(v.rows(), v.stride(), name);
}

template <class T>
void check_output_view(const MatrixView<T>& v, const char* name, std::int64_t rows, std::int64_t cols,
                       bool allow_device) {
  check_space(v.space(), name, allow_device);
  XMR_EXPECTS(v.rows() == rows, name, ".rows (= ", v.rows(), ") must equal the number of queries (= ", rows, ")");
  XMR_EXPECTS(v.cols() == cols, name, ".cols (= ", v.cols(), ") must equal k (= ", cols, ")");
  XMR_EXPECTS(v.stride() >= v.cols(), name, ".stride (= ", v.stride(), ") must be >= cols (= ", v.cols(), ")");
  if (rows == 0 || cols == 0) return;
  XMR_EXPECTS(v.data() != nullptr, name, ".data (= null) with rows (= ", v.rows(), ") > 0");
  const auto addr = reinterpret_cast<std::uintptr_t>(v.data());
  XMR_EXPECTS(addr % alignof(T) == 0, name, ".data (= 0x", std::hex, addr, std::dec, ") is not aligned to ", alignof(T),
              " bytes");
  detail::mul_checked(v.rows(), v.stride(), name);
}

template <class T>
void prepare_rows(const MatrixView<const T>& in, const char* name, Metric metric, DType out_type, void* out) {
  const std::int64_t rows = in.rows();
  const std::int64_t cols = in.cols();
  // First pass: values and norms, so that nothing is written for an invalid input. The error
  // names the first offending row (the loop is parallel; a later row's error may win the race,
  // so collect the minimum).
  std::int64_t bad_row = rows;
  std::vector<double> scale(detail::to_size(rows), 1.0);  // 1 / norm under cosine, kept for pass 2
#pragma omp parallel for schedule(static) reduction(min : bad_row) if (rows * cols > 65536)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in.row(r);
    double sq = 0.0;
    bool ok = true;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double x = load(p, c);
      ok = ok && std::isfinite(x);
      sq += x * x;
    }
    if (!ok || (metric == Metric::Cosine && sq == 0.0)) bad_row = std::min(bad_row, r);
    if (metric == Metric::Cosine && sq > 0.0) scale[detail::to_size(r)] = 1.0 / std::sqrt(sq);
  }
  if (bad_row < rows) fail_bad_row(in.row(bad_row), cols, name, bad_row, false);

  std::int64_t overflow_row = rows;
#pragma omp parallel for schedule(static) reduction(min : overflow_row) if (rows * cols > 65536)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in.row(r);
    const double s = scale[detail::to_size(r)];
    if (out_type == DType::F32) {
      float* o = static_cast<float*>(out) + r * cols;
      for (std::int64_t c = 0; c < cols; ++c) o[c] = static_cast<float>(load(p, c) * s);
    } else {
      std::uint16_t* o = static_cast<std::uint16_t*>(out) + r * cols;
      for (std::int64_t c = 0; c < cols; ++c) {
        o[c] = detail::float_to_half_bits(static_cast<float>(load(p, c) * s));
        if ((o[c] & 0x7C00u) == 0x7C00u) overflow_row = std::min(overflow_row, r);
      }
    }
  }
  if (overflow_row < rows) fail_bad_row(in.row(overflow_row), cols, name, overflow_row, true);
}

template <class T>
void fail_bad_row(const T* p, std::int64_t cols, const char* name, std::int64_t row_index, bool overflow) {
  if (overflow) {
    double worst = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) worst = std::max(worst, std::fabs(load(p, c)));
    detail::fail(ErrorCode::InvalidArgument, name, "[", row_index, "] holds a value (|x| = ", worst,
                 ") beyond the fp16 range (65504) of this index's storage");
  }
  for (std::int64_t c = 0; c < cols; ++c) {
    const double x = load(p, c);
    XMR_EXPECTS(std::isfinite(x), name, "[", row_index, "][", c, "] (= ", x, ") is not finite");
  }
  detail::fail(ErrorCode::InvalidArgument, name, "[", row_index,
               "] has zero norm: cosine similarity is undefined for it");
}

template void check_input_view(const MatrixView<const float>&, const char*, std::int64_t, bool);
template void check_input_view(const MatrixView<const half>&, const char*, std::int64_t, bool);
template void check_output_view(const MatrixView<std::int64_t>&, const char*, std::int64_t, std::int64_t, bool);
template void check_output_view(const MatrixView<float>&, const char*, std::int64_t, std::int64_t, bool);
template void check_input_view(const MatrixView<const std::uint8_t>&, const char*, std::int64_t, bool);
template void check_input_view(const MatrixView<const std::int64_t>&, const char*, std::int64_t, bool);
template void check_output_view(const MatrixView<std::int32_t>&, const char*, std::int64_t, std::int64_t, bool);
template void check_output_view(const MatrixView<std::uint8_t>&, const char*, std::int64_t, std::int64_t, bool);
template void prepare_rows(const MatrixView<const float>&, const char*, Metric, DType, void*);
template void prepare_rows(const MatrixView<const half>&, const char*, Metric, DType, void*);
template void fail_bad_row(const float*, std::int64_t, const char*, std::int64_t, bool);
template void fail_bad_row(const half*, std::int64_t, const char*, std::int64_t, bool);

}  // namespace xmr::engine
