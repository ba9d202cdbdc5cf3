#pragma once
// Validation and preparation of vectors entering a dense index or a search: shape and pointer
// checks, finite values, cosine normalisation, conversion to the storage type.

#include <cstdint>
#include <vector>

#include "xmr/matrix_view.h"
#include "xmr/types.h"

namespace xmr::engine {

/// Checks an input view: rows >= 0, cols == dim, stride >= cols, non-null and aligned data
/// when rows > 0, host memory (or device memory when `allow_device`: its shape only; the pointer
/// is checked by the GPU backend, gpu::check_device_pointers). Throws InvalidArgument naming
/// `name`.
template <class T>
void check_input_view(const MatrixView<const T>& v, const char* name, std::int64_t dim, bool allow_device = false);

/// Checks an output view of [rows x cols] host memory (or device memory when `allow_device`).
template <class T>
void check_output_view(const MatrixView<T>& v, const char* name, std::int64_t rows, std::int64_t cols,
                       bool allow_device = false);

/// Throws the InvalidArgument that prepare_rows throws for row `row_index` of `name` (host copy
/// `row`, `cols` values): its first non-finite value, else its zero norm (cosine), or with
/// `overflow` its largest |value| beyond the fp16 range. The GPU preparation reports a bad row
/// through this, so both name the same row and value.
template <class T>
[[noreturn]] void fail_bad_row(const T* row, std::int64_t cols, const char* name, std::int64_t row_index,
                               bool overflow);

/// Validates the values of `in` (finite; under cosine no zero-norm row), normalises rows under
/// cosine, and writes them densely ([rows x cols]) as `out_type` into `out` (float* for F32,
/// uint16_t* for F16). Throws InvalidArgument naming `name`, the row and the value; also when a
/// value overflows fp16 storage.
template <class T>
void prepare_rows(const MatrixView<const T>& in, const char* name, Metric metric, DType out_type, void* out);

}  // namespace xmr::engine
