#pragma once
// Validation and preparation of vectors entering a dense index or a search: shape and pointer
// checks, finite values, cosine normalisation, conversion to the storage type.

#include <cstdint>
#include <vector>

#include "xmr/matrix_view.h"
#include "xmr/types.h"

namespace xmr::engine {

/// Checks a host input view: rows >= 0, cols == dim, stride >= cols, non-null and aligned data
/// when rows > 0, host memory. Throws InvalidArgument naming `name`.
template <class T>
void check_input_view(const MatrixView<const T>& v, const char* name, std::int64_t dim);

/// Checks an output view of [rows x cols] host memory.
template <class T>
void check_output_view(const MatrixView<T>& v, const char* name, std::int64_t rows, std::int64_t cols);

/// Validates the values of `in` (finite; under cosine no zero-norm row), normalises rows under
/// cosine, and writes them densely ([rows x cols]) as `out_type` into `out` (float* for F32,
/// uint16_t* for F16). Throws InvalidArgument naming `name`, the row and the value; also when a
/// value overflows fp16 storage.
template <class T>
void prepare_rows(const MatrixView<const T>& in, const char* name, Metric metric, DType out_type, void* out);

}  // namespace xmr::engine
