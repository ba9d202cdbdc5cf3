#pragma once
// The numerics behind xmr/binarize.h: the model every binariser shares (mean, projection,
// thresholds), its training (median, LSH, PCA + ITQ, CCA + ITQ) in double with LAPACK, encoding,
// and the versioned file format. The public glue (host_api/src/binarize.cpp) validates the
// arguments that are not data (bits, options) before calling in here; the functions here
// validate the data they read (shapes and values of training and input matrices, file bytes).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "xmr/binarize.h"
#include "xmr/matrix_view.h"

namespace xmr::engine {

/// bit j of x = [(x - mean) . projection[:, j] > thresholds[j]].
struct BinarizerModel {
  BinarizerKind kind = BinarizerKind::Sign;
  std::int64_t dim = 0;           // D
  std::int64_t bits = 0;          // B
  std::vector<float> mean;        // [D]
  std::vector<float> thresholds;  // [B]
  std::vector<float> projection;  // [D x B] row-major; empty for Sign and SignMedian (identity)
  std::vector<float> rotation;    // [B x B] row-major for Itq and CrossModalItq, else empty
  std::vector<double> loss;       // ITQ loss per iteration (iterations + 1), else empty

  /// True for the kinds whose projection is the identity (not stored).
  [[nodiscard]] bool axis_aligned() const { return kind == BinarizerKind::Sign || kind == BinarizerKind::SignMedian; }
};

/// Checks a training or input matrix: host memory, rows >= min_rows, cols == `cols` (or any
/// cols >= 1 when `cols` < 0), stride >= cols, non-null data, every value finite. Throws
/// InvalidArgument naming `name` (and the row, column and value of a non-finite entry).
void check_float_matrix(const MatrixView<const float>& m, const char* name, std::int64_t cols, std::int64_t min_rows);

BinarizerModel make_sign(std::int64_t dim);
BinarizerModel train_sign_median(const MatrixView<const float>& train);
/// `train` may be null-data only when !center (then only dim is used).
BinarizerModel make_lsh(std::int64_t dim, std::int64_t bits, std::uint64_t seed,
                        const MatrixView<const float>* center_on);
BinarizerModel train_itq(const MatrixView<const float>& train, std::int64_t bits, std::int64_t iterations,
                         std::uint64_t seed);
/// Returns {image, text}.
std::vector<BinarizerModel> train_cross_modal_itq(const MatrixView<const float>& x, const MatrixView<const float>& y,
                                                  std::int64_t bits, const CrossModalItqOptions& options);

/// Encodes already validated rows (x.cols == model.dim, codes [x.rows x B/8]); rows in parallel.
void encode(const BinarizerModel& model, const MatrixView<const float>& x, const MatrixView<std::uint8_t>& codes);

/// The file format: `models` (1 or 2) to bytes, and back. `source` names the file (or "bytes")
/// in CorruptData messages; `expected_count` is the number of records the caller wants.
std::vector<std::uint8_t> serialize(std::span<const BinarizerModel* const> models);
std::vector<BinarizerModel> deserialize(std::span<const std::uint8_t> bytes, const std::string& source,
                                        std::uint32_t expected_count);

}  // namespace xmr::engine
