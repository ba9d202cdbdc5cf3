// xmr::Binarizer and the cross-modal pair: argument validation, then the engine's training,
// encoding and file format (engine/binary/binarize_train.h). Validation happens before any
// allocation or computation.
#include "xmr/binarize.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "binary/binarize_train.h"
#include "common/check.h"
#include "glue.h"
#include "io/file.h"
#include "xmr/binary_index.h"

namespace xmr {

struct Binarizer::Impl {
  engine::BinarizerModel model;
};

namespace detail {
struct BinarizerAccess {
  static Binarizer make(engine::BinarizerModel&& model) {
    auto impl = std::make_shared<Binarizer::Impl>();
    impl->model = std::move(model);
    return Binarizer(std::move(impl));
  }
  static const engine::BinarizerModel& model(const Binarizer& b) { return b.impl_->model; }
};
}  // namespace detail

namespace {

using detail::BinarizerAccess;

void check_bits(std::int64_t bits) {
  XMR_EXPECTS(bits >= kMinCodeBits && bits <= kMaxCodeBits && bits % 8 == 0, "bits (= ", bits,
              ") must be a multiple of 8 in [", kMinCodeBits, ", ", kMaxCodeBits, "]");
}

void check_iterations(std::int64_t iterations) {
  XMR_EXPECTS(iterations >= 0 && iterations <= kMaxItqIterations, "options.iterations (= ", iterations,
              ") must be in [0, ", kMaxItqIterations, "]");
}

/// D of an axis-aligned binariser (B = D): a valid code length.
void check_axis_dim(std::int64_t dim, const char* name) {
  XMR_EXPECTS(dim >= kMinCodeBits && dim <= kMaxCodeBits && dim % 8 == 0, name, " (= ", dim,
              ") must be a multiple of 8 in [", kMinCodeBits, ", ", kMaxCodeBits,
              "]: a sign binarizer has one bit per dimension");
}

}  // namespace

const char* to_string(BinarizerKind kind) noexcept {
  switch (kind) {
    case BinarizerKind::Sign: return "sign";
    case BinarizerKind::SignMedian: return "sign_median";
    case BinarizerKind::Lsh: return "lsh";
    case BinarizerKind::Itq: return "itq";
    case BinarizerKind::CrossModalItq: return "cross_modal_itq";
  }
  return "unknown";
}

Binarizer::Binarizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Binarizer::~Binarizer() = default;

Binarizer Binarizer::sign(std::int64_t dim) {
  check_axis_dim(dim, "dim");
  return detail::translate_bad_alloc("Binarizer::sign", [&] { return BinarizerAccess::make(engine::make_sign(dim)); });
}

Binarizer Binarizer::sign_median(MatrixView<const float> train) {
  engine::check_float_matrix(train, "train", -1, 2);
  check_axis_dim(train.cols(), "train.cols");
  return detail::translate_bad_alloc("Binarizer::sign_median",
                                     [&] { return BinarizerAccess::make(engine::train_sign_median(train)); });
}

Binarizer Binarizer::lsh(std::int64_t dim, std::int64_t bits, std::uint64_t seed) {
  XMR_EXPECTS(dim >= 1 && dim <= kMaxBinarizerDim, "dim (= ", dim, ") must be in [1, ", kMaxBinarizerDim, "]");
  check_bits(bits);
  return detail::translate_bad_alloc("Binarizer::lsh",
                                     [&] { return BinarizerAccess::make(engine::make_lsh(dim, bits, seed, nullptr)); });
}

Binarizer Binarizer::lsh(MatrixView<const float> train, std::int64_t bits, const LshOptions& options) {
  engine::check_float_matrix(train, "train", -1, 2);
  check_bits(bits);
  return detail::translate_bad_alloc("Binarizer::lsh", [&] {
    return BinarizerAccess::make(engine::make_lsh(train.cols(), bits, options.seed, options.center ? &train : nullptr));
  });
}

Binarizer Binarizer::itq(MatrixView<const float> train, std::int64_t bits, const ItqOptions& options) {
  engine::check_float_matrix(train, "train", -1, 2);
  check_bits(bits);
  XMR_EXPECTS(bits <= train.cols(), "bits (= ", bits, ") must be <= train.cols (= ", train.cols(),
              "): ITQ keeps B principal directions of the D-dim data");
  check_iterations(options.iterations);
  return detail::translate_bad_alloc("Binarizer::itq", [&] {
    return BinarizerAccess::make(engine::train_itq(train, bits, options.iterations, options.seed));
  });
}

namespace {
void check_codes(const MatrixView<std::uint8_t>& codes, std::int64_t rows, std::int64_t bits) {
  const std::int64_t nb = bits / 8;
  XMR_EXPECTS(codes.space() == MemorySpace::Host, "codes.space (= Device) is not supported here: pass host memory");
  XMR_EXPECTS(codes.rows() == rows, "codes.rows (= ", codes.rows(), ") must equal x.rows (= ", rows, ")");
  XMR_EXPECTS(codes.cols() == nb, "codes.cols (= ", codes.cols(), ") must equal the code size in bytes (= ", nb,
              " for ", bits, " bits)");
  XMR_EXPECTS(codes.stride() >= codes.cols(), "codes.stride (= ", codes.stride(), ") must be >= cols (= ", nb, ")");
  XMR_EXPECTS(codes.data() != nullptr || codes.rows() == 0, "codes.data (= null) with rows (= ", codes.rows(), ") > 0");
  if (codes.rows() > 0) detail::mul_checked(codes.rows(), codes.stride(), "codes");
}
}  // namespace

void Binarizer::encode(MatrixView<const float> x, MatrixView<std::uint8_t> codes) const {
  const engine::BinarizerModel& m = impl_->model;
  engine::check_float_matrix(x, "x", m.dim, 0);
  check_codes(codes, x.rows(), m.bits);
  detail::translate_bad_alloc("Binarizer::encode", [&] { engine::encode(m, x, codes); });
}

std::vector<std::uint8_t> Binarizer::encode(MatrixView<const float> x) const {
  const engine::BinarizerModel& m = impl_->model;
  engine::check_float_matrix(x, "x", m.dim, 0);  // before sizing the result
  const std::int64_t nb = m.bits / 8;
  return detail::translate_bad_alloc("Binarizer::encode", [&] {
    std::vector<std::uint8_t> codes(detail::to_size(detail::mul_checked(x.rows(), nb, "x.rows x B/8")));
    engine::encode(m, x, MatrixView<std::uint8_t>(codes.data(), x.rows(), nb));
    return codes;
  });
}

BinarizerKind Binarizer::kind() const noexcept {
  return impl_->model.kind;
}
std::int64_t Binarizer::dim() const noexcept {
  return impl_->model.dim;
}
std::int64_t Binarizer::bits() const noexcept {
  return impl_->model.bits;
}
std::int64_t Binarizer::code_bytes() const noexcept {
  return impl_->model.bits / 8;
}
std::vector<float> Binarizer::mean() const {
  return impl_->model.mean;
}
std::vector<float> Binarizer::thresholds() const {
  return impl_->model.thresholds;
}
std::vector<float> Binarizer::projection() const {
  const engine::BinarizerModel& m = impl_->model;
  if (!m.axis_aligned()) return m.projection;
  return detail::translate_bad_alloc("Binarizer::projection", [&] {
    std::vector<float> eye(detail::to_size(m.dim * m.bits), 0.0f);
    for (std::int64_t i = 0; i < m.dim; ++i) eye[detail::to_size(i * m.bits + i)] = 1.0f;
    return eye;
  });
}
std::vector<float> Binarizer::rotation() const {
  return impl_->model.rotation;
}
std::vector<double> Binarizer::training_loss() const {
  return impl_->model.loss;
}

std::vector<std::uint8_t> Binarizer::to_bytes() const {
  const engine::BinarizerModel* models[1] = {&impl_->model};
  return detail::translate_bad_alloc("Binarizer::to_bytes", [&] { return engine::serialize(models); });
}

Binarizer Binarizer::from_bytes(std::span<const std::uint8_t> bytes) {
  return detail::translate_bad_alloc("Binarizer::from_bytes", [&] {
    return BinarizerAccess::make(std::move(engine::deserialize(bytes, "bytes", 1).front()));
  });
}

void Binarizer::save(const std::string& path) const {
  const std::vector<std::uint8_t> bytes = to_bytes();
  engine::io::write_file_atomic(path, bytes.data(), bytes.size());
}

Binarizer Binarizer::load(const std::string& path) {
  return detail::translate_bad_alloc("Binarizer::load", [&] {
    const std::vector<std::uint8_t> bytes = engine::io::read_whole_file(path);
    return BinarizerAccess::make(std::move(engine::deserialize(bytes, "binarizer file '" + path + "'", 1).front()));
  });
}

// ---------------------------------------------------------------------------------------------

namespace {
void check_pair(const CrossModalBinarizer& p) {
  XMR_EXPECTS(p.image.bits() == p.text.bits(), "image.bits (= ", p.image.bits(),
              ") must equal text.bits (= ", p.text.bits(), "): the two modalities' codes are compared with each other");
}

CrossModalBinarizer make_pair(std::vector<engine::BinarizerModel>&& models) {
  return CrossModalBinarizer{BinarizerAccess::make(std::move(models[0])), BinarizerAccess::make(std::move(models[1]))};
}
}  // namespace

std::vector<std::uint8_t> CrossModalBinarizer::to_bytes() const {
  check_pair(*this);
  const engine::BinarizerModel* models[2] = {&BinarizerAccess::model(image), &BinarizerAccess::model(text)};
  return detail::translate_bad_alloc("CrossModalBinarizer::to_bytes", [&] { return engine::serialize(models); });
}

CrossModalBinarizer CrossModalBinarizer::from_bytes(std::span<const std::uint8_t> bytes) {
  return detail::translate_bad_alloc("CrossModalBinarizer::from_bytes",
                                     [&] { return make_pair(engine::deserialize(bytes, "bytes", 2)); });
}

void CrossModalBinarizer::save(const std::string& path) const {
  const std::vector<std::uint8_t> bytes = to_bytes();
  engine::io::write_file_atomic(path, bytes.data(), bytes.size());
}

CrossModalBinarizer CrossModalBinarizer::load(const std::string& path) {
  return detail::translate_bad_alloc("CrossModalBinarizer::load", [&] {
    const std::vector<std::uint8_t> bytes = engine::io::read_whole_file(path);
    return make_pair(engine::deserialize(bytes, "binarizer file '" + path + "'", 2));
  });
}

CrossModalBinarizer train_cross_modal_itq(MatrixView<const float> image_train, MatrixView<const float> text_train,
                                          std::int64_t bits, const CrossModalItqOptions& options) {
  engine::check_float_matrix(image_train, "image_train", -1, 2);
  engine::check_float_matrix(text_train, "text_train", -1, 2);
  XMR_EXPECTS(text_train.rows() == image_train.rows(), "text_train.rows (= ", text_train.rows(),
              ") must equal image_train.rows (= ", image_train.rows(), "): row i of each is one pair");
  check_bits(bits);
  XMR_EXPECTS(bits <= image_train.cols() && bits <= text_train.cols(), "bits (= ", bits,
              ") must be <= min(image_train.cols, text_train.cols) (= ",
              std::min(image_train.cols(), text_train.cols()), "): CCA finds at most that many directions");
  check_iterations(options.iterations);
  XMR_EXPECTS(std::isfinite(options.regularization) && options.regularization >= 0.0 && options.regularization <= 1e6,
              "options.regularization (= ", options.regularization, ") must be finite and in [0, 1e6]");
  XMR_EXPECTS(
      std::isfinite(options.correlation_power) && options.correlation_power >= 0.0 && options.correlation_power <= 16.0,
      "options.correlation_power (= ", options.correlation_power, ") must be finite and in [0, 16]");
  return detail::translate_bad_alloc("train_cross_modal_itq", [&] {
    return make_pair(engine::train_cross_modal_itq(image_train, text_train, bits, options));
  });
}

}  // namespace xmr
