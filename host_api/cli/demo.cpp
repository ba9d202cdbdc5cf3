// `xmr demo`: image-text retrieval in both directions on the built-in synthetic data set.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

struct DemoArgs {
  std::int64_t images = 4000;
  std::int64_t captions = 5;
  std::int64_t dim = 256;
  std::int64_t labels = 24;
  std::int64_t k = 10;
  std::string device = "auto";
  std::string storage = "fp32";
  std::uint64_t seed = 7;
  std::int64_t bits = 64;  // hashing section: code length (0 skips it)
};

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::Cpu;
  if (s == "gpu") return Device::Gpu;
  return Device::Auto;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string label_list(const std::uint8_t* row, std::int64_t n) {
  std::string s;
  for (std::int64_t l = 0; l < n; ++l) {
    if (row[l] != 0) s += (s.empty() ? "" : ",") + std::to_string(l);
  }
  return "{" + s + "}";
}

/// Recall@{1,5,10} rows for both directions (5-captions protocol): image->text hits when any of
/// the image's captions is in the top K; text->image hits when the caption's own image is.
/// `id(dir, q, j)` returns the j-th result of query q (dir 0: image->text, 1: text->image).
template <class IdFn>
void print_recall(const synth::CrossModalData& data, std::int64_t k, IdFn&& id) {
  const std::int64_t ks[] = {1, 5, 10};
  std::printf("%-22s %8s %8s %8s\n", "direction", "R@1", "R@5", "R@10");
  for (int dir = 0; dir < 2; ++dir) {
    const std::int64_t nq = dir == 0 ? data.num_images : data.num_texts;
    std::printf("%-22s", dir == 0 ? "image -> text (IqT)" : "text -> image (TqI)");
    for (std::int64_t kk : ks) {
      if (kk > k) {
        std::printf(" %8s", "-");
        continue;
      }
      std::int64_t hits = 0;
      for (std::int64_t q = 0; q < nq; ++q) {
        bool hit = false;
        for (std::int64_t j = 0; j < kk && !hit; ++j) {
          const std::int64_t r = id(dir, q, j);
          hit = dir == 0 ? (r >= 0 && data.text_image[static_cast<std::size_t>(r)] == q)
                         : (r == data.text_image[static_cast<std::size_t>(q)]);
        }
        hits += hit ? 1 : 0;
      }
      std::printf(" %7.2f%%", 100.0 * static_cast<double>(hits) / static_cast<double>(nq));
    }
    std::printf("\n");
  }
}

/// Timed batch search: one warm-up call, then the best of `reps` timed calls.
SearchResult timed_search(const DenseIndex& index, MatrixView<const float> q, std::int64_t k, Device device,
                          double& best_seconds) {
  SearchResult r = index.search(q, k, {.device = device});
  best_seconds = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    r = index.search(q, k, {.device = device});
    best_seconds = std::min(best_seconds, seconds_since(t0));
  }
  return r;
}

/// The same retrieval with binary codes: cross-modal ITQ (CCA + ITQ) learned from image-caption
/// pairs (no labels), then exact Hamming search over the packed codes.
void run_hashing(const DemoArgs& a, const synth::CrossModalData& data, Device device) {
  const std::int64_t bits = a.bits;
  if (bits > a.dim) {
    std::printf("\nhashing: skipped (--bits %lld exceeds --dim %lld)\n", static_cast<long long>(bits),
                static_cast<long long>(a.dim));
    return;
  }
  // Training pairs: every caption of the first half of the images, with its image.
  const std::int64_t n_img = std::max<std::int64_t>(1, data.num_images / 2);
  const std::int64_t n_train = n_img * a.captions;
  std::vector<float> train_image(static_cast<std::size_t>(n_train * a.dim));
  for (std::int64_t t = 0; t < n_train; ++t) {
    const float* src = data.image_embeddings.data() + (t / a.captions) * a.dim;
    std::copy(src, src + a.dim, train_image.begin() + t * a.dim);
  }
  auto t0 = std::chrono::steady_clock::now();
  const CrossModalBinarizer hasher =
      train_cross_modal_itq(MatrixView<const float>(train_image.data(), n_train, a.dim),
                            MatrixView<const float>(data.text_embeddings.data(), n_train, a.dim), bits);
  const double t_train = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const std::vector<std::uint8_t> image_codes = hasher.image.encode(data.images());
  const std::vector<std::uint8_t> text_codes = hasher.text.encode(data.texts());
  const std::int64_t cb = bits / 8;
  BinaryIndex texts({.bits = bits, .device = device});
  BinaryIndex images({.bits = bits, .device = device});
  texts.add(MatrixView<const std::uint8_t>(text_codes.data(), data.num_texts, cb));
  images.add(MatrixView<const std::uint8_t>(image_codes.data(), data.num_images, cb));
  const double t_build = seconds_since(t0);
  std::printf(
      "\nhashing: cross-modal ITQ, %lld-bit codes (%lld bytes, %.0fx smaller than fp32), trained on the %lld "
      "image-caption pairs of images 0-%lld in %.2f s; encoded and indexed in %.3f s\n",
      static_cast<long long>(bits), static_cast<long long>(cb),
      static_cast<double>(a.dim * 4) / static_cast<double>(cb), static_cast<long long>(n_train),
      static_cast<long long>(n_img - 1), t_train, t_build);

  const MatrixView<const std::uint8_t> iq(image_codes.data(), data.num_images, cb);
  const MatrixView<const std::uint8_t> tq(text_codes.data(), data.num_texts, cb);
  (void)texts.search(iq, a.k, {.device = device});  // warm-up (GPU upload)
  (void)images.search(tq, a.k, {.device = device});
  double t_i2t = 1e30;
  double t_t2i = 1e30;
  BinarySearchResult i2t;
  BinarySearchResult t2i;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = std::chrono::steady_clock::now();
    i2t = texts.search(iq, a.k, {.device = device});
    t_i2t = std::min(t_i2t, seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    t2i = images.search(tq, a.k, {.device = device});
    t_t2i = std::min(t_t2i, seconds_since(t0));
  }
  print_recall(data, a.k, [&](int dir, std::int64_t q, std::int64_t j) { return (dir == 0 ? i2t : t2i).id(q, j); });
  std::printf("throughput (%s, %s, best of 3): image -> text %.0f queries/s, text -> image %.0f queries/s\n",
              to_string(i2t.device), i2t.device == Device::Cpu ? hamming_cpu_kernel() : "popcount kernels",
              static_cast<double>(data.num_images) / t_i2t, static_cast<double>(data.num_texts) / t_t2i);
}

void run_demo(const DemoArgs& a) {
  std::printf("xmr %s demo: cross-modal retrieval on synthetic data\n%s\n\n", version(), device_summary().c_str());
  synth::CrossModalSpec spec;
  spec.num_images = a.images;
  spec.captions_per_image = a.captions;
  spec.dim = a.dim;
  spec.num_labels = a.labels;
  spec.seed = a.seed;
  auto t0 = std::chrono::steady_clock::now();
  const synth::CrossModalData data = synth::make_cross_modal(spec);
  std::printf("data: %lld images, %lld captions (%lld per image), dim %lld, %lld labels (seed %llu), %.2f s\n",
              static_cast<long long>(data.num_images), static_cast<long long>(data.num_texts),
              static_cast<long long>(a.captions), static_cast<long long>(a.dim), static_cast<long long>(a.labels),
              static_cast<unsigned long long>(a.seed), seconds_since(t0));

  const DType storage = a.storage == "fp16" ? DType::F16 : DType::F32;
  const Device device = parse_device(a.device);
  DenseIndex texts({.dim = a.dim, .metric = Metric::Cosine, .storage = storage, .device = device});
  DenseIndex images({.dim = a.dim, .metric = Metric::Cosine, .storage = storage, .device = device});
  t0 = std::chrono::steady_clock::now();
  texts.add(data.texts());
  images.add(data.images());
  std::printf("indexes: %lld text and %lld image vectors (cosine, %s), built in %.3f s\n\n",
              static_cast<long long>(texts.size()), static_cast<long long>(images.size()), to_string(storage),
              seconds_since(t0));

  const std::int64_t k = a.k;
  double t_i2t = 0.0;
  double t_t2i = 0.0;
  const SearchResult i2t = timed_search(texts, data.images(), k, device, t_i2t);
  const SearchResult t2i = timed_search(images, data.texts(), k, device, t_t2i);

  print_recall(data, k, [&](int dir, std::int64_t q, std::int64_t j) { return (dir == 0 ? i2t : t2i).id(q, j); });
  std::printf("\nimage 0, labels %s: top %lld captions\n",
              label_list(data.image_labels.data(), data.num_labels).c_str(),
              static_cast<long long>(std::min<std::int64_t>(k, 5)));
  for (std::int64_t j = 0; j < std::min<std::int64_t>(k, 5); ++j) {
    const std::int64_t id = i2t.id(0, j);
    if (id < 0) break;  // padding: fewer texts than k
    const std::int64_t img = data.text_image[static_cast<std::size_t>(id)];
    std::printf("  #%lld caption %-6lld score %.4f  (caption of image %lld, labels %s)\n",
                static_cast<long long>(j + 1), static_cast<long long>(id), static_cast<double>(i2t.score(0, j)),
                static_cast<long long>(img),
                label_list(data.text_labels.data() + id * data.num_labels, data.num_labels).c_str());
  }

  auto rate = [](std::int64_t q, double s) { return static_cast<double>(q) / s; };
  std::printf("\nthroughput (%s, best of 3 batch searches, k=%lld):\n", to_string(i2t.device),
              static_cast<long long>(k));
  std::printf("  image -> text: %lld queries x %lld texts  in %.4f s = %.0f queries/s\n",
              static_cast<long long>(data.num_images), static_cast<long long>(data.num_texts), t_i2t,
              rate(data.num_images, t_i2t));
  std::printf("  text -> image: %lld queries x %lld images in %.4f s = %.0f queries/s\n",
              static_cast<long long>(data.num_texts), static_cast<long long>(data.num_images), t_t2i,
              rate(data.num_texts, t_t2i));

  if (a.bits > 0) run_hashing(a, data, device);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand("demo", "Cross-modal retrieval demo on generated data (both directions)");
  cmd->add_option("--images", args->images, "number of images")->check(CLI::Range(1, 10000000));
  cmd->add_option("--captions", args->captions, "captions per image")->check(CLI::Range(1, 100));
  cmd->add_option("--dim", args->dim, "embedding dimension")->check(CLI::Range(1, 65536));
  cmd->add_option("--labels", args->labels, "number of labels")->check(CLI::Range(3, 100000));
  cmd->add_option("-k", args->k, "results per query")->check(CLI::Range(1, 100000));
  cmd->add_option("--device", args->device, "auto, cpu or gpu")->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  cmd->add_option("--storage", args->storage, "fp32 or fp16")->check(CLI::IsMember({"fp32", "fp16"}));
  cmd->add_option("--seed", args->seed, "data seed");
  cmd->add_option("--bits", args->bits, "code length of the hashing part (multiple of 8, <= dim; 0 skips it)")
      ->check(CLI::Range(0, 4096));
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace xmr::cli
