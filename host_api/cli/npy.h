#pragma once
// NumPy .npy files for the command-line tool: reading with full validation, writing version 1.0
// files that numpy.load reads. Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// Reading accepts format versions 1.0, 2.0 and 3.0, C order only (a Fortran-order array is an
// error that says how to fix it), little-endian or byte-order-free types, and checks the file
// size against the header's shape exactly: a truncated file or one with trailing bytes is an
// error naming the file, the expected and the actual size. Every problem is a NpyError whose
// message starts with the path.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "xmr/matrix_view.h"
#include "xmr/types.h"

namespace xmr::cli {

/// A problem with a .npy file (or with what a command needs from it); the message names the
/// file. The tool exits with code 3 (bad input) on it.
class NpyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The element types the tool reads and writes (numpy descr in parentheses).
enum class NpyType : int {
  F32,   ///< float32 ('<f4')
  F16,   ///< float16 ('<f2')
  F64,   ///< float64 ('<f8')
  U8,    ///< uint8 ('|u1')
  I8,    ///< int8 ('|i1')
  Bool,  ///< bool ('|b1'; every byte must be 0 or 1)
  I32,   ///< int32 ('<i4')
  I64,   ///< int64 ('<i8')
};

/// "float32", "float16", ... (numpy's names).
const char* to_string(NpyType t) noexcept;
std::int64_t item_size(NpyType t) noexcept;

/// A loaded array: its shape and its bytes (C order, native little-endian), 8-byte aligned.
struct NpyArray {
  std::string path;
  NpyType type = NpyType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint64_t> storage;  // the data, padded to whole words (keeps it aligned)
  std::int64_t bytes = 0;              // data bytes (product of shape x item size)

  [[nodiscard]] std::int64_t count() const;
  [[nodiscard]] const void* data() const { return storage.data(); }
  /// "float32 [1000, 512]".
  [[nodiscard]] std::string describe() const;

  /// The array as a matrix: 2-d, or 1-d as a single column. Throws NpyError (naming `what`, the
  /// command's option, and the file) when the type is not `T`'s or the rank is not 1 or 2.
  [[nodiscard]] MatrixView<const float> f32(const char* what) const;
  [[nodiscard]] MatrixView<const half> f16(const char* what) const;
  [[nodiscard]] MatrixView<const std::uint8_t> u8(const char* what) const;
  [[nodiscard]] MatrixView<const std::int64_t> i64(const char* what) const;
  /// Throws NpyError unless the array is 2-d (or 1-d when `allow_1d`, as one column).
  void require_matrix(const char* what, bool allow_1d = false) const;
  [[nodiscard]] std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  [[nodiscard]] std::int64_t cols() const { return shape.size() >= 2 ? shape[1] : 1; }
};

/// Reads and validates `path`. Throws NpyError (cannot open or read, not a .npy file,
/// unsupported version, malformed header, unsupported dtype, Fortran order, a negative or
/// overflowing shape, truncated or trailing data).
NpyArray load_npy(const std::string& path);

/// Parses .npy bytes held in memory (`path` only names them in errors).
NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& path);

/// The bytes of a version 1.0 .npy file holding `data` (`shape`, C order, little-endian).
std::vector<std::uint8_t> npy_bytes(NpyType type, std::span<const std::int64_t> shape, const void* data);

/// Writes a .npy file atomically (a temporary file in the same directory, renamed over `path`).
/// Throws NpyError naming the path when it cannot be written.
void save_npy(const std::string& path, NpyType type, std::span<const std::int64_t> shape, const void* data);

/// Label matrix for the metrics: a [N, C] uint8/bool/int8/int32/int64 array of 0/1 values
/// (multi-hot), or a 1-d integer array of N >= 1 class indices in [0, 65536) (one-hot, C = max + 1).
/// Returns N x C uint8 0/1. Throws NpyError naming the option, the file and the first bad
/// value's position.
std::vector<std::uint8_t> multi_hot_labels(const NpyArray& a, const char* what, std::int64_t& classes);

/// `labels` [n x from] 0/1 with `to` >= `from` columns: the extra columns 0 (class-index files
/// give as many columns as their largest index, so two files may differ).
std::vector<std::uint8_t> widen_labels(const std::vector<std::uint8_t>& labels, std::int64_t n, std::int64_t from,
                                       std::int64_t to);

/// An id vector: 1-d (or [N, 1]) int64 or int32 array. Throws NpyError otherwise.
std::vector<std::int64_t> id_vector(const NpyArray& a, const char* what);

}  // namespace xmr::cli
