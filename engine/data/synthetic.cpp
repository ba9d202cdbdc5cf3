// Deterministic synthetic cross-modal data (see xmr/synthetic.h).
#include "xmr/synthetic.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <numbers>
#include <stdexcept>
#include <utility>

#include "common/check.h"
#include "data/random_normal.h"

namespace xmr::synth {
namespace {

/// xoshiro256** seeded by splitmix64: fast, good quality, and identical on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n).
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(uniform() * static_cast<double>(n)); }
  /// Standard normal (Box-Muller, both values used).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// Runs `f`, turning a failed host allocation into Error(OutOfMemory) naming `call`.
template <class F>
auto out_of_memory_as_error(const char* call, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc& e) {
    detail::fail(ErrorCode::OutOfMemory, call, ": host memory allocation failed (", e.what(), ")");
  } catch (const std::length_error&) {
    detail::fail(ErrorCode::OutOfMemory, call, ": host memory request too large");
  }
}

CrossModalData generate(const CrossModalSpec& spec);  // after make_cross_modal's checks

void normalise(std::vector<double>& v) {
  double sq = 0.0;
  for (double x : v) sq += x * x;
  const double inv = sq > 0.0 ? 1.0 / std::sqrt(sq) : 0.0;
  for (double& x : v) x *= inv;
}

}  // namespace

std::vector<float> random_normal(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  XMR_EXPECTS(rows >= 0, "rows (= ", rows, ") must be >= 0");
  XMR_EXPECTS(cols >= 0, "cols (= ", cols, ") must be >= 0");
  detail::mul_checked(rows, cols, "rows x cols");
  return out_of_memory_as_error("random_normal", [&] { return engine::random_normal(rows, cols, seed); });
}

CrossModalData make_cross_modal(const CrossModalSpec& spec) {
  XMR_EXPECTS(spec.num_images >= 1, "spec.num_images (= ", spec.num_images, ") must be >= 1");
  XMR_EXPECTS(spec.captions_per_image >= 1, "spec.captions_per_image (= ", spec.captions_per_image, ") must be >= 1");
  XMR_EXPECTS(spec.num_labels >= 1, "spec.num_labels (= ", spec.num_labels, ") must be >= 1");
  XMR_EXPECTS(spec.max_labels_per_item >= 1 && spec.max_labels_per_item <= spec.num_labels,
              "spec.max_labels_per_item (= ", spec.max_labels_per_item,
              ") must be in [1, num_labels (= ", spec.num_labels, ")]");
  XMR_EXPECTS(spec.dim >= 1, "spec.dim (= ", spec.dim, ") must be >= 1");
  const std::pair<const char*, float> reals[] = {{"spec.instance_spread", spec.instance_spread},
                                                 {"spec.image_noise", spec.image_noise},
                                                 {"spec.text_noise", spec.text_noise},
                                                 {"spec.modality_gap", spec.modality_gap}};
  for (const auto& [name, v] : reals) {
    XMR_EXPECTS(std::isfinite(v) && v >= 0.0f, name, " (= ", v, ") must be finite and >= 0");
  }
  return out_of_memory_as_error("make_cross_modal", [&] { return generate(spec); });
}

namespace {

CrossModalData generate(const CrossModalSpec& spec) {
  CrossModalData d;
  d.num_images = spec.num_images;
  d.num_texts = detail::mul_checked(spec.num_images, spec.captions_per_image, "num_images x captions_per_image");
  d.dim = spec.dim;
  d.num_labels = spec.num_labels;
  const auto dim = detail::to_size(spec.dim);
  const auto nl = detail::to_size(spec.num_labels);
  d.image_embeddings.resize(detail::to_size(detail::mul_checked(d.num_images, spec.dim, "images x dim")));
  d.text_embeddings.resize(detail::to_size(detail::mul_checked(d.num_texts, spec.dim, "texts x dim")));
  d.image_labels.assign(detail::to_size(detail::mul_checked(d.num_images, spec.num_labels, "images x labels")), 0);
  d.text_labels.assign(detail::to_size(detail::mul_checked(d.num_texts, spec.num_labels, "texts x labels")), 0);
  d.text_image.resize(detail::to_size(d.num_texts));

  const auto spread = static_cast<double>(spec.instance_spread);
  const auto img_noise = static_cast<double>(spec.image_noise);
  const auto txt_noise = static_cast<double>(spec.text_noise);
  const auto gap = static_cast<double>(spec.modality_gap);
  Rng rng(spec.seed);
  // Unit-length label prototypes and modality offsets.
  std::vector<std::vector<double>> proto(nl, std::vector<double>(dim));
  for (auto& p : proto) {
    for (double& x : p) x = rng.normal();
    normalise(p);
  }
  std::vector<double> gap_img(dim), gap_txt(dim);
  for (double& x : gap_img) x = rng.normal();
  for (double& x : gap_txt) x = rng.normal();
  normalise(gap_img);
  normalise(gap_txt);

  const double inv_sqrt_dim = 1.0 / std::sqrt(static_cast<double>(dim));
  std::vector<double> sem(dim);
  std::vector<std::int64_t> chosen;
  for (std::int64_t i = 0; i < d.num_images; ++i) {
    const std::int64_t m = 1 + rng.below(spec.max_labels_per_item);
    chosen.clear();
    while (static_cast<std::int64_t>(chosen.size()) < m) {  // m distinct labels
      const std::int64_t l = rng.below(spec.num_labels);
      bool seen = false;
      for (std::int64_t c : chosen) seen = seen || c == l;
      if (!seen) chosen.push_back(l);
    }
    std::fill(sem.begin(), sem.end(), 0.0);
    for (std::int64_t l : chosen) {
      d.image_labels[detail::to_size(i) * nl + detail::to_size(l)] = 1;
      for (std::size_t c = 0; c < dim; ++c) sem[c] += proto[detail::to_size(l)][c];
    }
    normalise(sem);
    for (double& x : sem) x += spread * rng.normal() * inv_sqrt_dim;

    float* img = d.image_embeddings.data() + detail::to_size(i) * dim;
    for (std::size_t c = 0; c < dim; ++c) {
      img[c] = static_cast<float>(sem[c] + img_noise * rng.normal() * inv_sqrt_dim + gap * gap_img[c]);
    }
    for (std::int64_t j = 0; j < spec.captions_per_image; ++j) {
      const std::int64_t t = i * spec.captions_per_image + j;
      d.text_image[detail::to_size(t)] = i;
      std::copy_n(d.image_labels.begin() + static_cast<std::ptrdiff_t>(detail::to_size(i) * nl), spec.num_labels,
                  d.text_labels.begin() + static_cast<std::ptrdiff_t>(detail::to_size(t) * nl));
      float* txt = d.text_embeddings.data() + detail::to_size(t) * dim;
      for (std::size_t c = 0; c < dim; ++c) {
        txt[c] = static_cast<float>(sem[c] + txt_noise * rng.normal() * inv_sqrt_dim + gap * gap_txt[c]);
      }
    }
  }
  return d;
}

}  // namespace

}  // namespace xmr::synth

namespace xmr::engine {

std::vector<float> random_normal(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  synth::Rng rng(seed);
  std::vector<float> out(detail::to_size(detail::mul_checked(rows, cols, "rows x cols")));
  for (float& x : out) x = static_cast<float>(rng.normal());
  return out;
}

}  // namespace xmr::engine
