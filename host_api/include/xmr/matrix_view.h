#pragma once
/// \file
/// A non-owning view of a row-major matrix (GCC 12 has no <mdspan>).

#include <cstdint>

#include "xmr/types.h"

namespace xmr {

/// Non-owning view of a row-major matrix: element (r, c) is `data[r * stride + c]`.
/// A view does not validate itself; the call that receives it does, and names the argument in
/// its error (null data with rows > 0, stride < cols, a pointer misaligned for T, ...).
///
/// `MemorySpace::Device` marks CUDA device memory (e.g. a PyTorch or CuPy CUDA tensor's data
/// pointer, rows strided as the tensor is). DenseIndex and BinaryIndex `search` / `search_into`
/// accept it for queries and outputs, and `add` for vectors and codes; every other call takes
/// host memory only and rejects a device view with InvalidArgument ("<name>.space (= Device) is
/// not supported here"). A device view makes the call run on the GPU of its Resources and order
/// its reads and writes on the Resources' stream (see xmr/dense_index.h).
template <class T>
class MatrixView {
 public:
  MatrixView() = default;
  /// \param data   first element; may be null only when rows == 0
  /// \param rows   number of rows (>= 0)
  /// \param cols   number of columns (>= 0)
  /// \param stride elements between row starts; a negative value means `cols` (dense rows)
  /// \param space  where `data` lives (host memory, or CUDA device memory: see above)
  MatrixView(T* data, std::int64_t rows, std::int64_t cols, std::int64_t stride = -1,
             MemorySpace space = MemorySpace::Host) noexcept
      : data_(data), rows_(rows), cols_(cols), stride_(stride < 0 ? cols : stride), space_(space) {}

  /// A const view of the same memory.
  operator MatrixView<const T>() const noexcept {  // NOLINT(google-explicit-constructor)
    return MatrixView<const T>(data_, rows_, cols_, stride_, space_);
  }

  [[nodiscard]] T* data() const noexcept { return data_; }
  [[nodiscard]] std::int64_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::int64_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::int64_t stride() const noexcept { return stride_; }
  [[nodiscard]] MemorySpace space() const noexcept { return space_; }
  /// Pointer to the first element of row `r` (no bounds check).
  [[nodiscard]] T* row(std::int64_t r) const noexcept { return data_ + r * stride_; }
  /// True when rows are contiguous (stride == cols).
  [[nodiscard]] bool is_dense() const noexcept { return stride_ == cols_; }

 private:
  T* data_ = nullptr;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::int64_t stride_ = 0;
  MemorySpace space_ = MemorySpace::Host;
};

}  // namespace xmr
