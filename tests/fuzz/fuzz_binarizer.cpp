// Fuzz target for the binariser file format (xmr/binarize.h, docs/binarize.md):
// xmr::Binarizer::from_bytes and xmr::CrossModalBinarizer::from_bytes on untrusted bytes.
//
// Each input is parsed twice: as it is, and with its trailing CRC-32 recomputed, so mutations
// also reach the record parser behind the checksum. The contract checked:
//   - the loaders throw only xmr::Error, with code CorruptData or OutOfMemory;
//   - what loads re-serialises to the same bytes (to_bytes(from_bytes(x)) == x);
//   - a loaded binariser encodes rows exactly as the documented map says: bit j of x is
//     [(x - mean) . w_j > threshold_j], each projected value summed in double over ascending d.
// Seeds (XMR_FUZZ_SEEDS below): valid files of every BinarizerKind, single and cross-modal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_common.h"
#include "xmr/binarize.h"
#include "xmr/error.h"
#include "xmr/synthetic.h"

namespace {

using xmr::Binarizer;
using xmr::BinarizerKind;
using xmr::CrossModalBinarizer;
using xmr::ErrorCode;
using xmr::MatrixView;
using xmr::fuzz::check;
using xmr::fuzz::fail;

/// Two rows to encode: a fixed pattern of small values and zeros.
std::vector<float> probe_rows(std::int64_t dim) {
  std::vector<float> x(static_cast<std::size_t>(2 * dim), 0.0f);
  for (std::int64_t d = 0; d < dim; ++d) {
    x[static_cast<std::size_t>(d)] = static_cast<float>((d * 7919) % 13 - 6) * 0.25f;
  }
  return x;
}

/// The code of `row` by the documented map, from the binariser's public parameters.
std::vector<std::uint8_t> reference_code(const Binarizer& b, std::span<const float> row) {
  const std::size_t dim = static_cast<std::size_t>(b.dim());
  const std::size_t bits = static_cast<std::size_t>(b.bits());
  const std::vector<float> mean = b.mean();
  const std::vector<float> thr = b.thresholds();
  check(mean.size() == dim && thr.size() == bits, "mean or thresholds have the wrong size");
  const bool axis_aligned = b.kind() == BinarizerKind::Sign || b.kind() == BinarizerKind::SignMedian;
  std::vector<double> centred(dim);
  for (std::size_t d = 0; d < dim; ++d) centred[d] = static_cast<double>(row[d]) - static_cast<double>(mean[d]);
  std::vector<double> value(bits, 0.0);
  if (axis_aligned) {
    check(bits == dim, "a sign binarizer with bits != dim");
    value = centred;
  } else {
    const std::vector<float> w = b.projection();
    check(w.size() == dim * bits, "projection has the wrong size");
    for (std::size_t d = 0; d < dim; ++d) {
      for (std::size_t j = 0; j < bits; ++j) value[j] += centred[d] * static_cast<double>(w[d * bits + j]);
    }
  }
  std::vector<std::uint8_t> code(bits / 8, 0);
  for (std::size_t j = 0; j < bits; ++j) {
    if (value[j] > static_cast<double>(thr[j])) code[j / 8] = static_cast<std::uint8_t>(code[j / 8] | (1u << (j % 8)));
  }
  return code;
}

/// Encodes the probe rows with a loaded binariser and checks them against the reference.
void exercise(const Binarizer& b) {
  check(b.bits() % 8 == 0 && b.code_bytes() * 8 == b.bits(), "bits is not a whole number of bytes");
  const std::vector<float> x = probe_rows(b.dim());
  const std::vector<std::uint8_t> codes = b.encode(MatrixView<const float>(x.data(), 2, b.dim()));
  const std::size_t nb = static_cast<std::size_t>(b.code_bytes());
  check(codes.size() == 2 * nb, "encode returned the wrong number of bytes");
  const std::span<const float> rows(x);
  const std::span<const std::uint8_t> got(codes);
  const std::size_t dim = static_cast<std::size_t>(b.dim());
  for (std::size_t r = 0; r < 2; ++r) {
    const std::vector<std::uint8_t> want = reference_code(b, rows.subspan(r * dim, dim));
    const std::span<const std::uint8_t> row_code = got.subspan(r * nb, nb);
    if (!std::equal(want.begin(), want.end(), row_code.begin())) {
      fail(std::string("encode of probe row ") + std::to_string(r) + " differs from the documented map (kind " +
           xmr::to_string(b.kind()) + ")");
    }
  }
}

/// Runs `f`: a loader may only throw xmr::Error with CorruptData or OutOfMemory.
template <class F>
void expect_only_corrupt(F&& f) {
  xmr::fuzz::expect_only_errors(std::forward<F>(f), [](const xmr::Error& e) {
    xmr::fuzz::expect_code(e, {ErrorCode::CorruptData, ErrorCode::OutOfMemory});
  });
}

void parse(std::span<const std::uint8_t> bytes) {
  expect_only_corrupt([&] {
    const Binarizer b = Binarizer::from_bytes(bytes);
    xmr::fuzz::check_round_trip(bytes, b.to_bytes(), "Binarizer");
    exercise(b);
  });
  expect_only_corrupt([&] {
    const CrossModalBinarizer p = CrossModalBinarizer::from_bytes(bytes);
    check(p.image.bits() == p.text.bits(), "a loaded pair with different code lengths");
    xmr::fuzz::check_round_trip(bytes, p.to_bytes(), "CrossModalBinarizer");
    exercise(p.image);
    exercise(p.text);
  });
}

// ---------------------------------------------------------------------------------------------
// Seeds: small valid files of every kind (a few hundred bytes to 2 KB).

MatrixView<const float> view(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  return {v.data(), rows, cols};
}

void write_seeds(xmr::fuzz::SeedWriter& out) {
  const std::vector<float> t8 = xmr::synth::random_normal(6, 8, 1);
  const std::vector<float> t16 = xmr::synth::random_normal(32, 16, 2);
  const std::vector<float> t12 = xmr::synth::random_normal(32, 12, 3);

  out.write("sign_8", Binarizer::sign(8).to_bytes());
  out.write("sign_16", Binarizer::sign(16).to_bytes());
  out.write("sign_median_8", Binarizer::sign_median(view(t8, 6, 8)).to_bytes());
  out.write("lsh_8x8", Binarizer::lsh(8, 8, 7).to_bytes());
  out.write("lsh_3x16", Binarizer::lsh(3, 16, 8).to_bytes());
  out.write("lsh_16x8_centred", Binarizer::lsh(view(t16, 32, 16), 8, {.seed = 9}).to_bytes());
  out.write("itq_16x8", Binarizer::itq(view(t16, 32, 16), 8, {.iterations = 3, .seed = 10}).to_bytes());
  out.write("itq_8x8_no_iterations", Binarizer::itq(view(t8, 6, 8), 8, {.iterations = 0}).to_bytes());

  const CrossModalBinarizer cm =
      xmr::train_cross_modal_itq(view(t16, 32, 16), view(t12, 32, 12), 8, {.iterations = 3, .seed = 11});
  out.write("cross_modal_itq_16_12x8", cm.to_bytes());
  out.write("cross_modal_itq_image_16x8", cm.image.to_bytes());
  out.write("pair_sign_8_lsh_12x8", CrossModalBinarizer{Binarizer::sign(8), Binarizer::lsh(12, 8, 12)}.to_bytes());
  out.write("pair_sign_median_8_itq_16x8",
            CrossModalBinarizer{Binarizer::sign_median(view(t8, 6, 8)), cm.image}.to_bytes());
}

}  // namespace

XMR_FUZZ_SEEDS(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  parse(bytes);
  const std::vector<std::uint8_t> fixed = xmr::fuzz::with_crc32_trailer(bytes);
  if (!std::equal(fixed.begin(), fixed.end(), bytes.begin())) parse(fixed);
  return 0;
}
