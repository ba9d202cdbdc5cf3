#pragma once
/// \file
/// Deterministic synthetic cross-modal data: multi-hot labels, and image and text embeddings in
/// one shared space driven by those labels, with modality-specific noise. For tests, benchmarks
/// and demos; the same spec and seed give the same bytes on every machine (xmr uses its own
/// generator and Box-Muller, not the implementation-defined <random> distributions).

#include <cstdint>
#include <vector>

#include "xmr/export.h"
#include "xmr/matrix_view.h"

namespace xmr::synth {

/// Parameters of the generator. Each label has a random prototype direction; an image's
/// semantic vector is the normalised sum of its labels' prototypes plus an instance-specific
/// offset; its image embedding adds image noise and a constant image-modality offset, and each of
/// its captions adds independent text noise and a text-modality offset (the "modality gap" of
/// CLIP-like encoders).
struct CrossModalSpec {
  std::int64_t num_images = 1000;        ///< >= 1
  std::int64_t captions_per_image = 1;   ///< >= 1 (5 for the Flickr30K/COCO protocol)
  std::int64_t num_labels = 24;          ///< >= 1
  std::int64_t max_labels_per_item = 3;  ///< each image gets 1..max distinct labels (uniform)
  std::int64_t dim = 128;                ///< >= 1
  float instance_spread = 0.4f;          ///< std of the per-image offset (relative to a label)
  float image_noise = 1.0f;              ///< std of image-specific noise
  float text_noise = 1.2f;               ///< std of caption-specific noise
  float modality_gap = 0.25f;            ///< length of the constant per-modality offset
  std::uint64_t seed = 42;
};

/// Generated data, all row-major host arrays.
struct CrossModalData {
  std::int64_t num_images = 0;
  std::int64_t num_texts = 0;  ///< num_images * captions_per_image
  std::int64_t dim = 0;
  std::int64_t num_labels = 0;
  std::vector<float> image_embeddings;     ///< [num_images x dim]
  std::vector<float> text_embeddings;      ///< [num_texts x dim]; captions of image i are rows
                                           ///< i*c .. i*c+c-1
  std::vector<std::uint8_t> image_labels;  ///< [num_images x num_labels], multi-hot 0/1
  std::vector<std::uint8_t> text_labels;   ///< [num_texts x num_labels], the caption's image's
  std::vector<std::int64_t> text_image;    ///< [num_texts]: index of the caption's image

  [[nodiscard]] MatrixView<const float> images() const { return {image_embeddings.data(), num_images, dim}; }
  [[nodiscard]] MatrixView<const float> texts() const { return {text_embeddings.data(), num_texts, dim}; }
};

/// Generates a data set. Throws xmr::Error(InvalidArgument) for out-of-range parameters.
XMR_API CrossModalData make_cross_modal(const CrossModalSpec& spec);

/// `rows x cols` independent standard normal values, deterministic in `seed`.
XMR_API std::vector<float> random_normal(std::int64_t rows, std::int64_t cols, std::uint64_t seed);

}  // namespace xmr::synth
