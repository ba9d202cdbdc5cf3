// The README's C++ example: text-to-image search over CLIP-like embeddings with xmr.
#include <cstdio>
#include <string>
#include <vector>

#include <xmr/xmr.h>

int main() {
  // 1000 images and their captions as 512-d embeddings (here: generated; in practice, the
  // outputs of your image and text encoders).
  xmr::synth::CrossModalSpec spec;
  spec.num_images = 1000;
  spec.dim = 512;
  const xmr::synth::CrossModalData data = xmr::synth::make_cross_modal(spec);

  // An exact cosine index over the image embeddings (ids 0..999), on the GPU when there is one.
  xmr::DenseIndex images({.dim = 512, .metric = xmr::Metric::Cosine});
  images.add(data.images());

  // Text-query-image: the 5 best images for each of the first 3 captions, in one batch call.
  const xmr::MatrixView<const float> queries(data.text_embeddings.data(), 3, 512);
  const xmr::SearchResult r = images.search(queries, /*k=*/5);

  for (std::int64_t q = 0; q < r.num_queries; ++q) {
    std::printf("caption %lld:", static_cast<long long>(q));
    for (std::int64_t j = 0; j < r.k; ++j) {
      std::printf(" %lld (%.3f)", static_cast<long long>(r.id(q, j)), static_cast<double>(r.score(q, j)));
    }
    std::printf("\n");
  }
  std::printf("searched on the %s; %s\n", xmr::to_string(r.device), xmr::device_summary().c_str());
  // The caption's own image (id q) should be among its top 5.
  for (std::int64_t q = 0; q < r.num_queries; ++q) {
    bool found = false;
    for (std::int64_t j = 0; j < r.k; ++j) found = found || r.id(q, j) == q;
    if (!found) {
      std::fprintf(stderr, "caption %lld did not retrieve its image\n", static_cast<long long>(q));
      return 1;
    }
  }

  // The same with 64-bit codes: cross-modal ITQ learned from image-caption pairs (here the pairs
  // of images 3..999, so the three query captions are unseen; with fewer pairs than the two
  // modalities have dimensions, a stronger ridge keeps CCA from fitting noise), then exact
  // Hamming search (ties by ascending id) over the packed image codes.
  const xmr::MatrixView<const float> train_images(data.image_embeddings.data() + 3 * 512, 997, 512);
  const xmr::MatrixView<const float> train_texts(data.text_embeddings.data() + 3 * 512, 997, 512);
  const xmr::CrossModalBinarizer hasher =
      xmr::train_cross_modal_itq(train_images, train_texts, 64, {.regularization = 0.1});
  const std::vector<std::uint8_t> image_codes = hasher.image.encode(data.images());
  const std::vector<std::uint8_t> caption_codes = hasher.text.encode(queries);
  xmr::BinaryIndex image_hashes({.bits = 64});
  image_hashes.add(xmr::MatrixView<const std::uint8_t>(image_codes.data(), data.num_images, 8));
  const xmr::BinarySearchResult h =
      image_hashes.search(xmr::MatrixView<const std::uint8_t>(caption_codes.data(), 3, 8), /*k=*/5);
  for (std::int64_t q = 0; q < h.num_queries; ++q) {
    std::printf("caption %lld (64-bit codes):", static_cast<long long>(q));
    for (std::int64_t j = 0; j < h.k; ++j) {
      std::printf(" %lld (%d)", static_cast<long long>(h.id(q, j)), h.distance(q, j));
    }
    std::printf("\n");
  }

  // Save the codes with the binariser that made them, map the file back, encode new captions
  // with the loaded text binariser and search again: the same results.
  const std::string path = "xmr_consumer_codes.xmr";
  xmr::IndexExtras extras;
  extras.cross_modal_binarizer = hasher;
  image_hashes.save(path, extras);
  xmr::IndexExtras loaded_extras;
  const xmr::BinaryIndex loaded = xmr::BinaryIndex::load(path, {.mode = xmr::LoadMode::Map}, &loaded_extras);
  const std::vector<std::uint8_t> again = loaded_extras.cross_modal_binarizer->text.encode(queries);
  const xmr::BinarySearchResult h2 = loaded.search(xmr::MatrixView<const std::uint8_t>(again.data(), 3, 8), 5);
  std::remove(path.c_str());
  if (h2.ids != h.ids || h2.distances != h.distances) {
    std::fprintf(stderr, "the loaded index answers differently\n");
    return 1;
  }
  std::printf("saved, mapped and reloaded %s: same results\n", path.c_str());
  return 0;
}
