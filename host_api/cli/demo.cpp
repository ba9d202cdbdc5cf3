// `xmr demo`: image-text retrieval in both directions (image -> text = IqT, text -> image = TqI)
// with every kind of search xmr has: exact dense cosine (fp32, fp16), Hamming search over
// cross-modal ITQ codes, and the two-stage pipeline (Hamming shortlist + exact re-score). Runs on
// a synthetic data set generated in-process, or on the user's .npy files (--data DIR). Prints a
// table and writes results.json, results.csv and a recall-vs-throughput plot (docs/demo.md).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "npy.h"
#include "progress.h"
#include "util.h"
#include "xmr/xmr.h"

extern char** environ;

namespace xmr::cli {
namespace {

namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;

struct DemoArgs {
  std::string data_dir;  // empty: the synthetic data set
  std::string out_dir = "xmr-demo-results";
  std::int64_t images = 4000;
  std::int64_t train_images = 2000;
  std::int64_t captions = 0;  // 0: 5 (synthetic) or T / I (--data)
  std::int64_t dim = 256;
  std::int64_t labels = 24;
  std::uint64_t seed = 7;
  std::string device = "auto";
  std::int64_t k = 10;
  std::vector<std::int64_t> bits = {32, 64, 128};
  std::vector<std::int64_t> shortlist = {20, 50, 200};
  std::int64_t shortlist_bits = 64;
  int repeats = 3;
  std::vector<std::string> skip;

  [[nodiscard]] bool skips(const char* what) const { return std::find(skip.begin(), skip.end(), what) != skip.end(); }
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// printf into a std::string.
[[gnu::format(printf, 1, 2)]] std::string fmt(const char* format, ...) {
  std::va_list ap;
  va_start(ap, format);
  std::va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, format, ap);
  va_end(ap);
  std::string s(static_cast<std::size_t>(std::max(n, 0)) + 1, '\0');
  std::vsnprintf(s.data(), s.size(), format, ap2);
  va_end(ap2);
  s.resize(s.size() - 1);
  return s;
}

long long ll(std::int64_t v) {
  return static_cast<long long>(v);
}

// ---------------------------------------------------------------------------------------------
// The data set.

/// What the demo evaluates: I images and T = I * c captions in one D-dim space (caption t belongs
/// to image t / c), optional multi-hot labels, and the image-caption pairs the binariser is
/// trained on.
struct Dataset {
  std::string title;  // one line for the header and the plot
  std::int64_t num_images = 0;
  std::int64_t num_texts = 0;
  std::int64_t dim = 0;
  std::int64_t captions = 0;
  std::vector<float> images;  // [I x D]
  std::vector<float> texts;   // [T x D]
  std::int64_t num_labels = 0;
  std::vector<std::uint8_t> image_labels;                 // [I x C], empty without labels
  std::vector<std::uint8_t> text_labels;                  // [T x C]
  std::int64_t num_train = 0;                             // training pairs
  std::vector<float> train_images;                        // [n x D], row i pairs with row i of train_texts
  std::vector<float> train_texts;                         // [n x D]
  bool transductive = false;                              // trained on the evaluated pairs
  std::string train_note;                                 // where the training pairs come from
  std::vector<std::pair<std::string, std::string>> json;  // the "data" object: key, JSON value

  [[nodiscard]] MatrixView<const float> image_view() const { return {images.data(), num_images, dim}; }
  [[nodiscard]] MatrixView<const float> text_view() const { return {texts.data(), num_texts, dim}; }
  [[nodiscard]] bool has_labels() const { return num_labels > 0; }
};

/// Training pairs from images with c captions each: every caption with its image.
void caption_pairs(const float* images, const float* texts, std::int64_t num_images, std::int64_t c, std::int64_t dim,
                   Dataset& d) {
  d.num_train = num_images * c;
  d.train_images.resize(static_cast<std::size_t>(d.num_train * dim));
  d.train_texts.assign(texts, texts + d.num_train * dim);
  for (std::int64_t t = 0; t < d.num_train; ++t) {
    const float* src = images + (t / c) * dim;
    std::copy(src, src + dim, d.train_images.begin() + t * dim);
  }
}

Dataset synthetic_dataset(const DemoArgs& a) {
  synth::CrossModalSpec spec;
  spec.num_images = a.images + a.train_images;
  spec.captions_per_image = a.captions;
  spec.dim = a.dim;
  spec.num_labels = a.labels;
  spec.seed = a.seed;
  const synth::CrossModalData all = synth::make_cross_modal(spec);

  Dataset d;
  d.num_images = a.images;
  d.captions = a.captions;
  d.num_texts = a.images * a.captions;
  d.dim = a.dim;
  d.num_labels = a.labels;
  const auto img_end = all.image_embeddings.begin() + a.images * a.dim;
  const auto txt_end = all.text_embeddings.begin() + d.num_texts * a.dim;
  d.images.assign(all.image_embeddings.begin(), img_end);
  d.texts.assign(all.text_embeddings.begin(), txt_end);
  d.image_labels.assign(all.image_labels.begin(), all.image_labels.begin() + a.images * a.labels);
  d.text_labels.assign(all.text_labels.begin(), all.text_labels.begin() + d.num_texts * a.labels);
  if (a.train_images > 0) {
    caption_pairs(all.image_embeddings.data() + a.images * a.dim, all.text_embeddings.data() + d.num_texts * a.dim,
                  a.train_images, a.captions, a.dim, d);
    d.train_note =
        fmt("%lld pairs: the %lld captions of %lld further images (ids %lld-%lld of the generator), "
            "disjoint from the evaluated items",
            ll(d.num_train), ll(d.num_train), ll(a.train_images), ll(a.images), ll(a.images + a.train_images - 1));
  } else {
    caption_pairs(d.images.data(), d.texts.data(), d.num_images, d.captions, d.dim, d);
    d.transductive = true;
    d.train_note = fmt("%lld pairs: the evaluated image-caption pairs themselves (transductive: --train-images 0)",
                       ll(d.num_train));
  }
  d.title = fmt("synthetic: %lld images x %lld captions, %lld-d, %lld labels, seed %llu", ll(d.num_images),
                ll(d.captions), ll(d.dim), ll(d.num_labels), static_cast<unsigned long long>(a.seed));
  d.json = {
      {"source", json_string("synthetic")},
      {"generator", json_string("xmr::synth::make_cross_modal")},
      {"images", std::to_string(d.num_images)},
      {"texts", std::to_string(d.num_texts)},
      {"captions_per_image", std::to_string(d.captions)},
      {"dim", std::to_string(d.dim)},
      {"labels", std::to_string(d.num_labels)},
      {"max_labels_per_item", std::to_string(spec.max_labels_per_item)},
      {"instance_spread", fmt("%.7g", static_cast<double>(spec.instance_spread))},
      {"image_noise", fmt("%.7g", static_cast<double>(spec.image_noise))},
      {"text_noise", fmt("%.7g", static_cast<double>(spec.text_noise))},
      {"modality_gap", fmt("%.7g", static_cast<double>(spec.modality_gap))},
      {"seed", std::to_string(a.seed)},
      {"train_images", std::to_string(a.train_images)},
  };
  return d;
}

/// Checks that every row of an embedding matrix is finite and has a nonzero norm (cosine needs
/// it), naming the file and the row.
void check_embeddings(const std::vector<float>& v, std::int64_t rows, std::int64_t dim, const std::string& path) {
  for (std::int64_t r = 0; r < rows; ++r) {
    double norm = 0.0;
    for (std::int64_t c = 0; c < dim; ++c) {
      const float x = v[static_cast<std::size_t>(r * dim + c)];
      if (!std::isfinite(x))
        throw NpyError("--data " + path + ": element [" + std::to_string(r) + ", " + std::to_string(c) +
                       "] (= " + fmt("%g", static_cast<double>(x)) + ") is not finite");
      norm += static_cast<double>(x) * static_cast<double>(x);
    }
    if (norm == 0.0)
      throw NpyError("--data " + path + ": row " + std::to_string(r) +
                     " is all zeros (cosine similarity is undefined for it)");
  }
}

/// An [n x D] float32 or float16 embedding file as float.
std::vector<float> load_embeddings(const std::string& path, std::int64_t& rows, std::int64_t& dim,
                                   std::string& describe) {
  const NpyArray a = load_npy(path);
  a.require_matrix("--data");
  describe = a.describe();
  rows = a.rows();
  dim = a.cols();
  if (rows < 1 || dim < 1)
    throw NpyError("--data " + path + ": needs at least one row and one column, got " + describe);
  std::vector<float> out(static_cast<std::size_t>(rows * dim));
  if (a.type == NpyType::F32) {
    const MatrixView<const float> v = a.f32("--data");
    std::copy(v.data(), v.data() + rows * dim, out.begin());
  } else if (a.type == NpyType::F16) {
    const MatrixView<const half> v = a.f16("--data");
    std::transform(v.data(), v.data() + rows * dim, out.begin(), [](half h) { return to_float(h); });
  } else {
    throw NpyError("--data " + path + ": embeddings must be float32 or float16, got " + describe +
                   " (convert with .astype(numpy.float32))");
  }
  check_embeddings(out, rows, dim, path);
  return out;
}

Dataset npy_dataset(const DemoArgs& a) {
  const fs::path dir(a.data_dir);
  auto file = [&](const char* name) { return (dir / name).string(); };
  if (!fs::is_directory(dir)) throw NpyError("--data " + a.data_dir + ": not a directory");

  Dataset d;
  std::int64_t text_dim = 0;
  std::string images_desc;
  std::string texts_desc;
  d.images = load_embeddings(file("images.npy"), d.num_images, d.dim, images_desc);
  d.texts = load_embeddings(file("texts.npy"), d.num_texts, text_dim, texts_desc);
  if (text_dim != d.dim)
    throw NpyError("--data " + file("texts.npy") + ": " + texts_desc + " has dimension " + std::to_string(text_dim) +
                   ", but images.npy (" + images_desc + ") has " + std::to_string(d.dim) +
                   " (both modalities must be in one shared space)");
  if (a.captions > 0) {
    if (d.num_texts % a.captions != 0 || d.num_texts / a.captions != d.num_images)
      throw NpyError("--data " + file("texts.npy") + ": " + std::to_string(d.num_texts) +
                     " captions, but images.npy has " + std::to_string(d.num_images) + " images and " +
                     "--captions-per-image is " + std::to_string(a.captions) + " (expected " +
                     std::to_string(d.num_images) + " x " + std::to_string(a.captions) + " rows)");
    d.captions = a.captions;
  } else {
    if (d.num_texts % d.num_images != 0)
      throw NpyError("--data " + file("texts.npy") + ": " + std::to_string(d.num_texts) +
                     " captions is not a whole multiple of the " + std::to_string(d.num_images) +
                     " images in images.npy (caption t must belong to image t / captions-per-image)");
    d.captions = d.num_texts / d.num_images;
  }

  // Labels: image_labels.npy, and text_labels.npy or the caption's image's labels.
  const bool has_image_labels = fs::exists(file("image_labels.npy"));
  const bool has_text_labels = fs::exists(file("text_labels.npy"));
  std::string labels_note = "none (mAP@ALL is not computed)";
  if (has_text_labels && !has_image_labels)
    throw NpyError("--data " + file("text_labels.npy") + ": given without image_labels.npy (mAP needs both sides)");
  if (has_image_labels) {
    const NpyArray il = load_npy(file("image_labels.npy"));
    std::int64_t ci = 0;
    std::vector<std::uint8_t> img = multi_hot_labels(il, "--data", ci);
    if (il.rows() != d.num_images)
      throw NpyError("--data " + il.path + ": " + il.describe() + " has " + std::to_string(il.rows()) +
                     " rows, but images.npy has " + std::to_string(d.num_images) + " images");
    if (has_text_labels) {
      const NpyArray tl = load_npy(file("text_labels.npy"));
      std::int64_t ct = 0;
      std::vector<std::uint8_t> txt = multi_hot_labels(tl, "--data", ct);
      if (tl.rows() != d.num_texts)
        throw NpyError("--data " + tl.path + ": " + tl.describe() + " has " + std::to_string(tl.rows()) +
                       " rows, but texts.npy has " + std::to_string(d.num_texts) + " captions");
      // Class indices (1-d) give C = largest index + 1, which may differ between the files.
      const bool i1 = il.shape.size() == 1;
      const bool t1 = tl.shape.size() == 1;
      if (ci != ct && ((ci > ct && !t1) || (ct > ci && !i1)))
        throw NpyError("--data " + tl.path + ": " + std::to_string(ct) + " label classes, but image_labels.npy has " +
                       std::to_string(ci));
      d.num_labels = std::max(ci, ct);
      d.image_labels = widen_labels(img, d.num_images, ci, d.num_labels);
      d.text_labels = widen_labels(txt, d.num_texts, ct, d.num_labels);
      labels_note = "image_labels.npy and text_labels.npy";
    } else {
      d.num_labels = ci;
      d.image_labels = std::move(img);
      d.text_labels.resize(static_cast<std::size_t>(d.num_texts * ci));
      for (std::int64_t t = 0; t < d.num_texts; ++t) {
        const auto src = d.image_labels.begin() + (t / d.captions) * ci;
        std::copy(src, src + ci, d.text_labels.begin() + t * ci);
      }
      labels_note = "image_labels.npy (each caption has its image's labels)";
    }
  }

  // Training pairs for the binariser.
  const bool has_train_images = fs::exists(file("train_images.npy"));
  const bool has_train_texts = fs::exists(file("train_texts.npy"));
  if (has_train_images != has_train_texts)
    throw NpyError("--data " + file(has_train_images ? "train_texts.npy" : "train_images.npy") +
                   ": missing (train_images.npy and train_texts.npy go together)");
  if (has_train_images) {
    std::int64_t ni = 0;
    std::int64_t nt = 0;
    std::int64_t di = 0;
    std::int64_t dt = 0;
    std::string desc_i;
    std::string desc_t;
    std::vector<float> ti = load_embeddings(file("train_images.npy"), ni, di, desc_i);
    std::vector<float> tt = load_embeddings(file("train_texts.npy"), nt, dt, desc_t);
    if (di != d.dim || dt != d.dim)
      throw NpyError("--data " + file(di != d.dim ? "train_images.npy" : "train_texts.npy") + ": dimension " +
                     std::to_string(di != d.dim ? di : dt) + ", but images.npy has " + std::to_string(d.dim));
    if (nt == ni) {
      d.num_train = ni;
      d.train_images = std::move(ti);
      d.train_texts = std::move(tt);
    } else if (nt % ni == 0) {
      caption_pairs(ti.data(), tt.data(), ni, nt / ni, d.dim, d);
    } else {
      throw NpyError("--data " + file("train_texts.npy") + ": " + std::to_string(nt) +
                     " rows; expected as many as train_images.npy (" + std::to_string(ni) +
                     ", row pairs) or a whole multiple of it (captions per image)");
    }
    if (d.num_train < 2)
      throw NpyError("--data " + file("train_images.npy") + ": the binariser needs at least 2 training pairs");
    d.train_note = fmt("%lld pairs from train_images.npy (%s) and train_texts.npy (%s)", ll(d.num_train),
                       desc_i.c_str(), desc_t.c_str());
  } else {
    caption_pairs(d.images.data(), d.texts.data(), d.num_images, d.captions, d.dim, d);
    d.transductive = true;
    d.train_note =
        fmt("%lld pairs: the evaluated image-caption pairs themselves (transductive: no "
            "train_images.npy / train_texts.npy)",
            ll(d.num_train));
  }

  d.title =
      fmt("%s: %lld images x %lld captions, %lld-d", a.data_dir.c_str(), ll(d.num_images), ll(d.captions), ll(d.dim));
  d.json = {
      {"source", json_string("npy")},
      {"directory", json_string(fs::absolute(dir).string())},
      {"images_file", json_string(images_desc)},
      {"texts_file", json_string(texts_desc)},
      {"images", std::to_string(d.num_images)},
      {"texts", std::to_string(d.num_texts)},
      {"captions_per_image", std::to_string(d.captions)},
      {"dim", std::to_string(d.dim)},
      {"labels", std::to_string(d.num_labels)},
      {"labels_from", json_string(labels_note)},
  };
  return d;
}

// ---------------------------------------------------------------------------------------------
// Measurements.

/// One configuration in one direction.
struct Row {
  std::string config;  // "dense fp32", "hamming 64-bit", "pipeline 64-bit C=50"
  std::string label;   // short plot label
  std::string family;  // "dense", "hamming", "pipeline"
  std::string direction;
  std::string device;
  std::string storage;  // "fp32", "fp16", "codes", "codes+fp32"
  std::int64_t bits = 0;
  std::int64_t candidates = 0;
  std::int64_t queries = 0;
  std::int64_t database = 0;
  double bytes_per_item = 0;
  double r1 = NAN, r5 = NAN, r10 = NAN, r_mean = NAN, r_mean_both = NAN;
  double map = NAN;
  std::string map_device;
  std::string map_note;
  double seconds = NAN;  // best timed batch
  double qps = NAN;
  double shortlist_seconds = NAN;  // pipeline stages of the best run
  double rescore_seconds = NAN;
  std::string rescore_device;
};

/// Recall@{1,5,10} of the captions-per-image protocol from [Q x k] result ids: image -> text hits
/// when any caption of the image (ids q*c .. q*c+c-1) is among the top K; text -> image when the
/// caption's image (t / c) is. K > k is undefined (NaN).
void set_recall(Row& row, const std::vector<std::int64_t>& ids, std::int64_t nq, std::int64_t k, bool image_queries,
                std::int64_t c) {
  std::int64_t hits[3] = {0, 0, 0};
  constexpr std::int64_t kKs[3] = {1, 5, 10};
  for (std::int64_t q = 0; q < nq; ++q) {
    std::int64_t first = k;  // rank of the first hit
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t id = ids[static_cast<std::size_t>(q * k + j)];
      if (id >= 0 && (image_queries ? id / c == q : id == q / c)) {
        first = j;
        break;
      }
    }
    for (int i = 0; i < 3; ++i) hits[i] += first < kKs[i] ? 1 : 0;
  }
  double r[3];
  for (int i = 0; i < 3; ++i)
    r[i] = kKs[i] <= k ? static_cast<double>(hits[i]) / static_cast<double>(nq) : std::nan("");
  row.r1 = r[0];
  row.r5 = r[1];
  row.r10 = r[2];
  row.r_mean = (r[0] + r[1] + r[2]) / 3.0;
}

/// Queries of the warm-up run.
constexpr std::int64_t kWarmupQueries = 256;

/// The first kWarmupQueries rows of a query matrix.
template <class T>
MatrixView<const T> head(MatrixView<const T> q) {
  return {q.data(), std::min(q.rows(), kWarmupQueries), q.cols(), q.stride()};
}

/// Times a batch search: `search(true)` once as a warm-up on the first kWarmupQueries queries
/// (GPU uploads, lazy set-up, first touch), then `repeats` runs of `search(false)` over all
/// queries. Returns the first full run's result (every run returns the same) and sets `best` to the
/// fastest run's seconds. The bar advances once per run.
template <class Fn>
auto timed(Fn&& search, int repeats, Progress& bar, std::int64_t& done, double& best) {
  (void)search(true);
  bar.update(++done);
  best = std::numeric_limits<double>::infinity();
  decltype(search(false)) result;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    auto x = search(false);
    best = std::min(best, seconds_since(t0));
    if (r == 0) result = std::move(x);
    bar.update(++done);
  }
  return result;
}

struct Side {
  const char* name;  // "IqT" / "TqI"
  bool image_queries;
  std::int64_t queries;
  std::int64_t database;
};

class Demo {
 public:
  Demo(const DemoArgs& a, const Dataset& d, Device device) : a_(a), d_(d), device_(device) {
    sides_[0] = {"IqT", true, d.num_images, d.num_texts};
    sides_[1] = {"TqI", false, d.num_texts, d.num_images};
  }

  void run() {
    plan();
    const auto t0 = Clock::now();
    if (!a_.skips("fp32")) dense(DType::F32);
    if (!a_.skips("fp16")) dense(DType::F16);
    if (!binarisers_.empty()) train();
    for (const auto& [bits, binariser] : binarisers_) {
      if (hamming_bits_.count(bits) != 0) hamming(bits);
    }
    if (pipeline_bits_ > 0) pipeline();
    total_seconds_ = seconds_since(t0);
  }

  [[nodiscard]] const std::vector<Row>& rows() const { return rows_; }
  [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }
  [[nodiscard]] double total_seconds() const { return total_seconds_; }
  /// Seconds to train each code length's binariser.
  [[nodiscard]] const std::map<std::int64_t, double>& train_seconds() const { return train_seconds_; }

 private:
  /// Decides which configurations run (and notes the ones that cannot).
  void plan() {
    auto usable_bits = [&](std::int64_t b, const char* opt) {
      if (b > d_.dim) {
        notes_.push_back(
            fmt("%s %lld skipped: a code cannot be longer than the dimension (%lld)", opt, ll(b), ll(d_.dim)));
        return false;
      }
      return true;
    };
    if (!a_.skips("hamming")) {
      for (const std::int64_t b : a_.bits) {
        if (usable_bits(b, "--bits")) hamming_bits_.insert(b);
      }
    }
    if (!a_.skips("pipeline")) {
      for (const std::int64_t c : a_.shortlist) {
        if (c < a_.k) {
          notes_.push_back(
              fmt("--shortlist %lld skipped: the shortlist must hold at least k (= %lld) candidates", ll(c), ll(a_.k)));
        } else {
          candidates_.push_back(c);
        }
      }
      std::sort(candidates_.begin(), candidates_.end());
      candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
      if (!candidates_.empty() && usable_bits(a_.shortlist_bits, "--shortlist-bits"))
        pipeline_bits_ = a_.shortlist_bits;
    }
    for (const std::int64_t b : hamming_bits_) binarisers_.emplace(b, std::nullopt);
    if (pipeline_bits_ > 0) binarisers_.emplace(pipeline_bits_, std::nullopt);
    steps_ = (a_.skips("fp32") ? 0 : 1) + (a_.skips("fp16") ? 0 : 1) + (binarisers_.empty() ? 0 : 1) +
             static_cast<int>(hamming_bits_.size()) + (pipeline_bits_ > 0 ? 1 : 0);
  }

  [[nodiscard]] bool with_map() const { return d_.has_labels() && !a_.skips("map"); }

  void announce(const std::string& what) {
    std::printf("[%d/%d] %s\n", ++step_, steps_, what.c_str());
    std::fflush(stdout);
    step_start_ = Clock::now();
  }

  /// The per-step summary: R@1 and queries/s of the rows just added, one line per configuration.
  void summarise(std::size_t first_row) {
    const bool named = rows_.size() - first_row > 2;
    for (std::size_t i = first_row; i + 1 < rows_.size(); i += 2) {
      const Row& x = rows_[i];
      const Row& y = rows_[i + 1];
      std::printf("      %s%s%s R@1 %.2f%% (%.0f q/s), %s R@1 %.2f%% (%.0f q/s)\n", named ? x.config.c_str() : "",
                  named ? ": " : "", x.direction.c_str(), 100.0 * x.r1, x.qps, y.direction.c_str(), 100.0 * y.r1,
                  y.qps);
    }
    std::printf("      %.2f s\n", seconds_since(step_start_));
    std::fflush(stdout);
  }

  eval::MapOptions map_options() const { return {.variant = eval::MapVariant::All, .device = device_}; }

  void dense(DType storage) {
    const bool f16 = storage == DType::F16;
    const char* st = f16 ? "fp16" : "fp32";
    announce(fmt("dense %s: exact cosine search over %s vectors, both directions%s", st,
                 f16 ? "binary16 (fp32 accumulation)" : "float32", with_map() ? ", mAP@ALL" : ""));
    Progress bar(fmt("dense %s", st), 2 * (a_.repeats + 1) + (with_map() ? 2 : 0));
    std::int64_t done = 0;
    DenseIndex texts({.dim = d_.dim, .metric = Metric::Cosine, .storage = storage, .device = device_});
    DenseIndex images({.dim = d_.dim, .metric = Metric::Cosine, .storage = storage, .device = device_});
    texts.add(d_.text_view());
    images.add(d_.image_view());

    // mAP over the vectors the index compares: for fp16, the normalised rows rounded to binary16.
    std::vector<float> img_r;
    std::vector<float> txt_r;
    if (f16 && with_map()) {
      img_r = rounded_to_half(d_.images);
      txt_r = rounded_to_half(d_.texts);
    }
    const MatrixView<const float> img_m =
        f16 && with_map() ? MatrixView<const float>(img_r.data(), d_.num_images, d_.dim) : d_.image_view();
    const MatrixView<const float> txt_m =
        f16 && with_map() ? MatrixView<const float>(txt_r.data(), d_.num_texts, d_.dim) : d_.text_view();

    const std::size_t first = rows_.size();
    for (const Side& s : sides_) {
      const DenseIndex& db = s.image_queries ? texts : images;
      const MatrixView<const float> q = s.image_queries ? d_.image_view() : d_.text_view();
      Row row = base_row(s, fmt("dense %s", st), st, "dense", st);
      row.bytes_per_item = static_cast<double>(d_.dim * (f16 ? 2 : 4));
      const SearchResult r =
          timed([&](bool warm) { return db.search(warm ? head(q) : q, a_.k); }, a_.repeats, bar, done, row.seconds);
      finish_row(row, r.ids, r.device);
      if (with_map()) {
        const eval::MapResult m =
            s.image_queries
                ? eval::map_dense(img_m, txt_m, Metric::Cosine, label_view(true), label_view(false), map_options())
                : eval::map_dense(txt_m, img_m, Metric::Cosine, label_view(false), label_view(true), map_options());
        row.map = m.map;
        row.map_device = xmr::to_string(m.device);
        if (f16) row.map_note = "map_dense over the fp16-rounded normalised embeddings";
        bar.update(++done);
      }
      rows_.push_back(row);
    }
    pair_means(first);
    bar.finish();
    summarise(first);
  }

  /// Rows normalised and rounded to binary16, widened back to float.
  std::vector<float> rounded_to_half(const std::vector<float>& v) const {
    std::vector<float> out(v.size());
    const std::size_t dim = static_cast<std::size_t>(d_.dim);
    for (std::size_t r = 0; r < v.size() / dim; ++r) {
      double norm = 0.0;
      for (std::size_t c = 0; c < dim; ++c)
        norm += static_cast<double>(v[r * dim + c]) * static_cast<double>(v[r * dim + c]);
      const double inv = 1.0 / std::sqrt(norm);
      for (std::size_t c = 0; c < dim; ++c)
        out[r * dim + c] = to_float(to_half(static_cast<float>(static_cast<double>(v[r * dim + c]) * inv)));
    }
    return out;
  }

  void train() {
    std::string list;
    for (const auto& [b, bz] : binarisers_) list += (list.empty() ? "" : ", ") + std::to_string(b);
    announce(fmt("cross-modal ITQ (CCA + ITQ, no labels): training %s-bit binarisers on %s", list.c_str(),
                 d_.train_note.c_str()));
    Progress bar("train", static_cast<std::int64_t>(binarisers_.size()));
    std::int64_t done = 0;
    const MatrixView<const float> ti(d_.train_images.data(), d_.num_train, d_.dim);
    const MatrixView<const float> tt(d_.train_texts.data(), d_.num_train, d_.dim);
    for (auto& [b, bz] : binarisers_) {
      const auto t0 = Clock::now();
      bz = train_cross_modal_itq(ti, tt, b);
      train_seconds_[b] = seconds_since(t0);
      image_codes_[b] = bz->image.encode(d_.image_view());
      text_codes_[b] = bz->text.encode(d_.text_view());
      bar.update(++done);
    }
    bar.finish();
    std::printf("      %.2f s\n", seconds_since(step_start_));
  }

  MatrixView<const std::uint8_t> codes(std::int64_t bits, bool images) const {
    const std::vector<std::uint8_t>& c = images ? image_codes_.at(bits) : text_codes_.at(bits);
    return {c.data(), images ? d_.num_images : d_.num_texts, bits / 8};
  }

  void hamming(std::int64_t bits) {
    announce(
        fmt("hamming %lld-bit: exact Hamming search over cross-modal ITQ codes (%lld bytes each), both "
            "directions%s",
            ll(bits), ll(bits / 8), with_map() ? ", mAP@ALL" : ""));
    Progress bar(fmt("hamming %lld", ll(bits)), 2 * (a_.repeats + 1) + (with_map() ? 2 : 0));
    std::int64_t done = 0;
    BinaryIndex texts({.bits = bits, .device = device_});
    BinaryIndex images({.bits = bits, .device = device_});
    texts.add(codes(bits, false));
    images.add(codes(bits, true));
    const std::size_t first = rows_.size();
    for (const Side& s : sides_) {
      const BinaryIndex& db = s.image_queries ? texts : images;
      const MatrixView<const std::uint8_t> q = codes(bits, s.image_queries);
      Row row = base_row(s, fmt("hamming %lld-bit", ll(bits)), fmt("H%lld", ll(bits)), "hamming", "codes");
      row.bits = bits;
      row.bytes_per_item = static_cast<double>(bits / 8);
      const BinarySearchResult r =
          timed([&](bool warm) { return db.search(warm ? head(q) : q, a_.k); }, a_.repeats, bar, done, row.seconds);
      finish_row(row, r.ids, r.device);
      if (with_map()) {
        const eval::MapResult m = eval::map_hamming(q, codes(bits, !s.image_queries), label_view(s.image_queries),
                                                    label_view(!s.image_queries), map_options());
        row.map = m.map;
        row.map_device = xmr::to_string(m.device);
        bar.update(++done);
      }
      rows_.push_back(row);
    }
    pair_means(first);
    bar.finish();
    summarise(first);
  }

  void pipeline() {
    const std::int64_t bits = pipeline_bits_;
    std::string list;
    for (const std::int64_t c : candidates_) list += (list.empty() ? "" : ", ") + std::to_string(c);
    announce(
        fmt("pipeline: %lld-bit Hamming shortlist of C = %s candidates + exact cosine re-score "
            "(xmr::CrossModalIndex), both directions",
            ll(bits), list.c_str()));
    Progress bar("pipeline", static_cast<std::int64_t>(candidates_.size()) * 2 * (a_.repeats + 1));
    std::int64_t done = 0;
    Collection images(
        {.name = "images", .dim = d_.dim, .metric = Metric::Cosine, .code_bits = bits, .device = device_});
    Collection texts({.name = "texts", .dim = d_.dim, .metric = Metric::Cosine, .code_bits = bits, .device = device_});
    images.add({.embeddings = d_.image_view(), .codes = codes(bits, true)});
    texts.add({.embeddings = d_.text_view(), .codes = codes(bits, false)});
    CrossModalIndex index(std::move(images), std::move(texts));
    // The re-score runs where the embeddings are resident: on a GPU run, one GPU search puts them
    // there (a pipeline never uploads just to re-score).
    const bool gpu = device_ != Device::Cpu && gpu_count() > 0;
    if (gpu) {
      for (const Collection* c : {&index.images(), &index.texts()}) {
        const MatrixView<const float> one(d_.images.data(), 1, d_.dim);
        (void)c->embedding_index()->search(one, 1, {.device = Device::Gpu});
      }
    }
    const std::size_t first = rows_.size();
    for (const std::int64_t c : candidates_) {
      const std::size_t first_c = rows_.size();
      for (const Side& s : sides_) {
        const Queries q{.embeddings = s.image_queries ? d_.image_view() : d_.text_view(),
                        .codes = codes(bits, s.image_queries)};
        const PipelineOptions o{.k = a_.k,
                                .candidates = c,
                                .shortlist = ShortlistBy::Codes,
                                .rescore = RescoreBy::Embeddings,
                                .device = device_};
        const Direction dir = s.image_queries ? Direction::ImageToText : Direction::TextToImage;
        Row row = base_row(s, fmt("pipeline %lld-bit C=%lld", ll(bits), ll(c)), fmt("C%lld", ll(c)), "pipeline",
                           "codes+fp32");
        row.bits = bits;
        row.candidates = c;
        row.bytes_per_item = static_cast<double>(bits / 8 + d_.dim * 4);
        double best_total = std::numeric_limits<double>::infinity();
        const PipelineResult r = timed(
            [&](bool warm) {
              if (warm) return index.search(dir, {.embeddings = head(q.embeddings), .codes = head(q.codes)}, o);
              PipelineResult p = index.search(dir, q, o);
              if (p.stats.total_seconds < best_total) {
                best_total = p.stats.total_seconds;
                row.shortlist_seconds = p.stats.shortlist_seconds;
                row.rescore_seconds = p.stats.rescore_seconds;
              }
              return p;
            },
            a_.repeats, bar, done, row.seconds);
        finish_row(row, r.ids, r.device);
        row.rescore_device = r.device == Device::Gpu ? "gpu" : "cpu";
        row.map_note = "mAP@ALL needs a full ranking; the pipeline returns only its top k";
        rows_.push_back(row);
      }
      pair_means(first_c);
    }
    bar.finish();
    summarise(first);
  }

  Row base_row(const Side& s, std::string config, std::string label, const char* family, const char* storage) const {
    Row row;
    row.config = std::move(config);
    row.label = std::move(label);
    row.family = family;
    row.direction = s.name;
    row.storage = storage;
    row.queries = s.queries;
    row.database = s.database;
    return row;
  }

  void finish_row(Row& row, const std::vector<std::int64_t>& ids, Device device) const {
    const bool image_queries = row.direction == "IqT";
    set_recall(row, ids, row.queries, a_.k, image_queries, d_.captions);
    row.device = xmr::to_string(device);
    row.qps = static_cast<double>(row.queries) / row.seconds;
  }

  /// LAVIS's r_mean: the mean of both directions' (R@1 + R@5 + R@10) / 3.
  void pair_means(std::size_t first) {
    const double m = (rows_[first].r_mean + rows_[first + 1].r_mean) / 2.0;
    rows_[first].r_mean_both = m;
    rows_[first + 1].r_mean_both = m;
  }

  MatrixView<const std::uint8_t> label_view(bool images) const {
    return images ? MatrixView<const std::uint8_t>(d_.image_labels.data(), d_.num_images, d_.num_labels)
                  : MatrixView<const std::uint8_t>(d_.text_labels.data(), d_.num_texts, d_.num_labels);
  }

  const DemoArgs& a_;
  const Dataset& d_;
  Device device_;
  Side sides_[2];
  std::set<std::int64_t> hamming_bits_;
  std::vector<std::int64_t> candidates_;
  std::int64_t pipeline_bits_ = 0;
  std::map<std::int64_t, std::optional<CrossModalBinarizer>> binarisers_;
  std::map<std::int64_t, double> train_seconds_;
  std::map<std::int64_t, std::vector<std::uint8_t>> image_codes_;
  std::map<std::int64_t, std::vector<std::uint8_t>> text_codes_;
  std::vector<Row> rows_;
  std::vector<std::string> notes_;
  int steps_ = 0;
  int step_ = 0;
  Clock::time_point step_start_;
  double total_seconds_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Output.

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string m = line.substr(colon + 1);
        m.erase(0, m.find_first_not_of(' '));
        return m;
      }
    }
  }
  return "unknown CPU";
}

std::string pct(double v) {
  return std::isnan(v) ? "-" : fmt("%.2f", 100.0 * v);
}

void print_table(const std::vector<Row>& rows, const DemoArgs& a) {
  std::printf(
      "\nresults (k = %lld; R@K in %%, %s; mAP@ALL: relevant = shares a label; queries/s: best of %d "
      "batch runs after a warm-up)\n",
      ll(a.k), "captions-per-image protocol", a.repeats);
  std::printf("%-26s %-4s %-4s %7s %7s %7s %7s %8s %11s\n", "configuration", "dir", "dev", "R@1", "R@5", "R@10",
              "Rmean", "mAP@ALL", "queries/s");
  std::string last;
  for (const Row& r : rows) {
    if (r.family != last && !last.empty()) std::printf("\n");
    last = r.family;
    std::printf("%-26s %-4s %-4s %7s %7s %7s %7s %8s %11.0f\n", r.config.c_str(), r.direction.c_str(), r.device.c_str(),
                pct(r.r1).c_str(), pct(r.r5).c_str(), pct(r.r10).c_str(), pct(r.r_mean).c_str(),
                std::isnan(r.map) ? "-" : fmt("%.4f", r.map).c_str(), r.qps);
  }
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw Error(ErrorCode::Io, "xmr demo: cannot write " + path.string());
}

std::string results_json(const std::vector<Row>& rows, const Dataset& d, const DemoArgs& a, const Demo& demo) {
  std::ostringstream j;
  j << "{\n  \"xmr_version\": " << json_string(version()) << ",\n";
  j << "  \"build\": " << json_string(built_with_cuda() ? "CUDA" : "CPU-only") << ",\n";
  j << "  \"machine\": {\"cpu\": " << json_string(cpu_model())
    << ", \"hardware_threads\": " << std::thread::hardware_concurrency() << ", \"gpus\": " << gpu_count()
    << ", \"devices\": " << json_string(device_summary())
    << ", \"hamming_cpu_kernel\": " << json_string(hamming_cpu_kernel()) << "},\n";
  auto list = [](const std::vector<std::int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : ", ") + std::to_string(v[i]);
    return s + "]";
  };
  j << "  \"options\": {\"device\": " << json_string(a.device) << ", \"k\": " << a.k << ", \"bits\": " << list(a.bits)
    << ", \"shortlist\": " << list(a.shortlist) << ", \"shortlist_bits\": " << a.shortlist_bits
    << ", \"repeats\": " << a.repeats << ", \"out\": " << json_string(a.out_dir) << "},\n";
  j << "  \"data\": {";
  for (std::size_t i = 0; i < d.json.size(); ++i)
    j << (i == 0 ? "" : ", ") << json_string(d.json[i].first) << ": " << d.json[i].second;
  j << "},\n";
  j << "  \"binariser\": {\"kind\": \"cross_modal_itq\", \"training_pairs\": " << d.num_train
    << ", \"transductive\": " << (d.transductive ? "true" : "false") << ", \"training\": " << json_string(d.train_note)
    << ", \"training_seconds\": {";
  bool first = true;
  for (const auto& [bits, seconds] : demo.train_seconds()) {
    j << (first ? "" : ", ") << "\"" << bits << "\": " << json_number(seconds);
    first = false;
  }
  j << "}},\n";
  j << "  \"protocol\": {\"k\": " << a.k << ", \"recall\": "
    << json_string(
           "fractions; image->text hits when any of the image's captions is in the top K, text->image when "
           "the caption's image is")
    << ", \"map\": "
    << json_string("mAP@ALL (xmr::eval, MapVariant::All, ties by ascending index): relevant = shares a label")
    << ", \"timing\": "
    << json_string(fmt("queries/s = queries / the best of %d batch searches over all queries, after a "
                       "warm-up search of the first %lld queries",
                       a.repeats, ll(kWarmupQueries)))
    << ", \"total_seconds\": " << json_number(demo.total_seconds()) << "},\n";
  j << "  \"notes\": [";
  for (std::size_t i = 0; i < demo.notes().size(); ++i) j << (i == 0 ? "" : ", ") << json_string(demo.notes()[i]);
  j << "],\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    auto opt_str = [](const std::string& s) { return s.empty() ? std::string("null") : json_string(s); };
    j << "    {\"config\": " << json_string(r.config) << ", \"family\": " << json_string(r.family)
      << ", \"direction\": " << json_string(r.direction) << ", \"device\": " << json_string(r.device)
      << ", \"storage\": " << json_string(r.storage) << ", \"bits\": " << (r.bits > 0 ? std::to_string(r.bits) : "null")
      << ", \"candidates\": " << (r.candidates > 0 ? std::to_string(r.candidates) : "null")
      << ", \"queries\": " << r.queries << ", \"database\": " << r.database
      << ", \"index_bytes_per_item\": " << json_number(r.bytes_per_item) << ", \"r1\": " << json_number(r.r1)
      << ", \"r5\": " << json_number(r.r5) << ", \"r10\": " << json_number(r.r10)
      << ", \"r_mean\": " << json_number(r.r_mean) << ", \"r_mean_both_directions\": " << json_number(r.r_mean_both)
      << ", \"map_all\": " << json_number(r.map) << ", \"map_device\": " << opt_str(r.map_device)
      << ", \"map_note\": " << opt_str(r.map_note) << ", \"seconds\": " << json_number(r.seconds)
      << ", \"queries_per_second\": " << json_number(r.qps)
      << ", \"shortlist_seconds\": " << json_number(r.shortlist_seconds)
      << ", \"rescore_seconds\": " << json_number(r.rescore_seconds)
      << ", \"rescore_device\": " << opt_str(r.rescore_device) << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  j << "  ]\n}\n";
  return j.str();
}

std::string csv_field(double v, int digits) {
  return std::isnan(v) ? "" : fmt("%.*f", digits, v);
}

// Columns of results.csv, also read by the gnuplot script (by number).
constexpr const char* kCsvHeader =
    "config,label,family,direction,device,bits,candidates,queries,database,r1,r5,r10,r_mean,map_all,"
    "queries_per_second,seconds";
constexpr int kCsvLabel = 2;
constexpr int kCsvDirection = 4;
constexpr int kCsvR1 = 10;
constexpr int kCsvQps = 15;

std::string results_csv(const std::vector<Row>& rows) {
  std::string s = std::string(kCsvHeader) + "\n";
  for (const Row& r : rows) {
    s += r.config + "," + r.label + "," + r.family + "," + r.direction + "," + r.device + "," +
         (r.bits > 0 ? std::to_string(r.bits) : "") + "," + (r.candidates > 0 ? std::to_string(r.candidates) : "") +
         "," + std::to_string(r.queries) + "," + std::to_string(r.database) + "," + csv_field(r.r1, 6) + "," +
         csv_field(r.r5, 6) + "," + csv_field(r.r10, 6) + "," + csv_field(r.r_mean, 6) + "," + csv_field(r.map, 6) +
         "," + csv_field(r.qps, 1) + "," + csv_field(r.seconds, 6) + "\n";
  }
  return s;
}

/// A gnuplot script that needs nothing but itself: the points are inline, and the PNG is written
/// next to the script (found from ARG0), whatever the working directory.
std::string plot_script(const std::vector<Row>& rows, const Dataset& d, const std::string& device,
                        std::int64_t pipeline_bits) {
  std::string gp;
  gp += "# xmr demo: R@1 against queries/s, one point per configuration and direction.\n";
  gp += "# Run: gnuplot " + std::string("recall_vs_throughput.gp") + " (the PNG goes next to this file).\n";
  gp += "out = 'recall_vs_throughput.png'\n";
  gp += "do for [i=1:strlen(ARG0)] { if (ARG0[i:i] eq '/') { out = ARG0[1:i] . 'recall_vs_throughput.png' } }\n";
  gp += "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n";
  gp += "  set terminal pngcairo size 1100,720 font ',11' noenhanced\n";
  gp += "} else {\n";
  gp += "  set terminal png size 1100,720 noenhanced\n";
  gp += "}\n";
  gp += "set output out\n";
  gp += "set datafile separator ','\n";
  std::string title = "xmr demo: R@1 vs throughput (" + d.title + ", " + device + ")";
  for (char& c : title) {
    if (c == '"' || c == '\\') c = ' ';
  }
  gp += "set title \"" + title + "\"\n";
  gp += "set xlabel 'queries/s (log scale; batch search, best of the timed runs)'\n";
  gp += "set ylabel 'R@1 (%)'\n";
  gp += "set logscale x\n";
  gp += "set grid xtics ytics mxtics\n";
  gp += "set key bottom left box opaque\n";
  gp += "set offsets graph 0.05, graph 0.12, graph 0.06, graph 0.06\n";
  gp += "set yrange [0:*]\n";
  gp += "set label 1 'fp32, fp16: dense exact cosine;  H<b>: Hamming over b-bit cross-modal ITQ codes;  C<n>: " +
        std::to_string(pipeline_bits) +
        "-bit Hamming shortlist of n + exact re-score' at graph 0.5, graph 0.97 center font ',10'\n";
  gp += "$data << EOD\n" + results_csv(rows) + "EOD\n";
  const std::string dir_col = std::to_string(kCsvDirection);
  const std::string x = "column(" + std::to_string(kCsvQps) + ")";
  const std::string y = "(100*column(" + std::to_string(kCsvR1) + "))";
  const std::string lab = "(strcol(" + std::to_string(kCsvLabel) + "))";
  auto sel = [&](const char* dir, const std::string& v) {
    return "(strcol(" + dir_col + ") eq '" + dir + "' ? " + v + " : NaN)";
  };
  gp += "plot $data skip 1 using " + sel("IqT", x) + ":" + y +
        " with points pt 7 ps 1.6 lc rgb '#1f77b4' title 'image -> text (IqT)', \\\n";
  gp += "     $data skip 1 using " + sel("TqI", x) + ":" + y +
        " with points pt 5 ps 1.5 lc rgb '#d62728' title 'text -> image (TqI)', \\\n";
  gp += "     $data skip 1 using " + sel("IqT", x) + ":" + y + ":" + lab +
        " with labels left offset char 0.9,0.5 tc rgb '#1f77b4' notitle, \\\n";
  gp += "     $data skip 1 using " + sel("TqI", x) + ":" + y + ":" + lab +
        " with labels left offset char 0.9,-0.5 tc rgb '#d62728' notitle\n";
  return gp;
}

/// The full path of `name` on PATH, or empty.
std::string find_on_path(const char* name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
  }
  return {};
}

/// Runs gnuplot on the script; on failure prints how to make the plot. Never throws.
bool run_gnuplot(const fs::path& script, const fs::path& png) {
  const std::string how = "to make the plot: apt-get install gnuplot-nox, then gnuplot " + script.string();
  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) {
    std::printf("note: gnuplot is not installed, so %s was not drawn; %s\n", png.filename().c_str(), how.c_str());
    return false;
  }
  std::error_code ec;
  fs::remove(png, ec);
  std::string script_arg = script.string();
  char* argv[] = {const_cast<char*>("gnuplot"), script_arg.data(), nullptr};
  pid_t pid = 0;
  int status = 0;
  std::fflush(stdout);
  const int rc = ::posix_spawn(&pid, gnuplot.c_str(), nullptr, nullptr, argv, environ);
  const bool ok = rc == 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                  fs::exists(png, ec);
  if (!ok)
    std::printf("note: gnuplot (%s) failed, so %s was not drawn; %s\n", gnuplot.c_str(), png.filename().c_str(),
                how.c_str());
  return ok;
}

void run_demo(const DemoArgs& a) {
  const auto t_start = Clock::now();
  const Device device = parse_device(a.device);
  if (device == Device::Gpu && gpu_count() == 0)
    throw Error(ErrorCode::Unavailable, "--device gpu: no usable GPU (" + device_summary() + ")");
  std::printf("xmr %s demo: cross-modal retrieval, image -> text (IqT) and text -> image (TqI)\n", version());
  std::printf("machine: %s, %u hardware threads; %s\n", cpu_model().c_str(), std::thread::hardware_concurrency(),
              device_summary().c_str());
  std::printf("device: %s%s\n", a.device.c_str(),
              device == Device::Auto ? (gpu_count() > 0 ? " (the GPU)" : " (the CPU: no usable GPU)") : "");

  auto t0 = Clock::now();
  const Dataset d = a.data_dir.empty() ? synthetic_dataset(a) : npy_dataset(a);
  std::printf("data: %s (%.2f s)\n", d.title.c_str(), seconds_since(t0));
  std::printf("      %lld images, %lld captions (caption t belongs to image t / %lld); labels: %s\n", ll(d.num_images),
              ll(d.num_texts), ll(d.captions),
              d.has_labels() ? fmt("%lld classes", ll(d.num_labels)).c_str() : "none (mAP@ALL not computed)");
  std::printf("      binariser training: %s\n", d.train_note.c_str());
  if (d.transductive)
    std::printf("      note: the binariser sees the evaluated pairs, so its numbers are optimistic (transductive)\n");
  std::printf("\n");

  Demo demo(a, d, device);
  demo.run();
  print_table(demo.rows(), a);
  const bool any_pipeline =
      std::any_of(demo.rows().begin(), demo.rows().end(), [](const Row& r) { return r.family == "pipeline"; });
  std::printf("\n");
  if (!d.has_labels()) {
    std::printf("mAP@ALL is \"-\": the data set has no labels (--data DIR/image_labels.npy).\n");
  } else if (a.skips("map")) {
    std::printf("mAP@ALL is \"-\": --skip map.\n");
  } else if (any_pipeline) {
    std::printf(
        "mAP@ALL is \"-\" for the pipeline: it needs the full ranking and the pipeline returns only its top "
        "k (xmr::eval has no mAP over a given top-k list).\n");
  }
  for (const std::string& n : demo.notes()) std::printf("note: %s\n", n.c_str());

  const fs::path out(a.out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::Io, "--out " + a.out_dir + ": cannot create the directory: " + ec.message());
  write_file(out / "results.json", results_json(demo.rows(), d, a, demo));
  write_file(out / "results.csv", results_csv(demo.rows()));
  const fs::path script = out / "recall_vs_throughput.gp";
  const fs::path png = out / "recall_vs_throughput.png";
  std::string devices;
  for (const Row& r : demo.rows()) {
    if (devices.find(r.device) == std::string::npos) devices += (devices.empty() ? "" : "+") + r.device;
  }
  write_file(script, plot_script(demo.rows(), d, devices, a.shortlist_bits));
  const bool plotted = !a.skips("plot") && run_gnuplot(script, png);
  std::printf("\nwrote %s, %s, %s%s\n", (out / "results.json").c_str(), (out / "results.csv").c_str(), script.c_str(),
              plotted ? (", " + png.string()).c_str() : "");
  std::printf("total %.1f s\n", seconds_since(t_start));
}

std::string multiple_of_8(const std::string& s) {
  try {
    const long long v = std::stoll(s);
    if (v % 8 != 0) return "a code length must be a multiple of 8, got " + s;
  } catch (const std::exception&) {
    return "not an integer: " + s;
  }
  return {};
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo",
      "Cross-modal retrieval demo, both directions: dense exact cosine, Hamming over cross-modal ITQ codes, and a "
      "Hamming shortlist + exact re-score; R@1/5/10, mAP@ALL and queries/s of each, on the GPU when present");
  auto* data = cmd->add_option("--data", args->data_dir,
                               "run on your own .npy files in this directory instead of the synthetic data (layout "
                               "below)");
  cmd->add_option("--out", args->out_dir, "directory for results.json, results.csv and the plot")
      ->capture_default_str();
  cmd->add_option("--images", args->images, "synthetic: images evaluated")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str()
      ->excludes(data);
  cmd->add_option("--train-images", args->train_images,
                  "synthetic: further images whose captions train the binariser (0: train on the evaluated pairs, "
                  "transductive)")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str()
      ->excludes(data);
  cmd->add_option("--captions-per-image,--captions", args->captions,
                  "captions per image (synthetic: default 5; --data: default texts rows / images rows)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--dim", args->dim, "synthetic: embedding dimension")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str()
      ->excludes(data);
  cmd->add_option("--labels", args->labels, "synthetic: number of labels (each image has 1-3)")
      ->check(CLI::Range(3, 100000))
      ->capture_default_str()
      ->excludes(data);
  cmd->add_option("--seed", args->seed, "synthetic: data seed")->capture_default_str()->excludes(data);
  cmd->add_option("--device", args->device, "auto (the GPU when present), cpu or gpu")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}))
      ->capture_default_str();
  cmd->add_option("-k", args->k, "results per query (R@K needs K <= k)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--bits", args->bits, "code lengths of the Hamming configurations (multiples of 8, <= dim)")
      ->delimiter(',')
      ->check(CLI::Range(8, 4096))
      ->check(CLI::Validator(multiple_of_8, "MULTIPLE OF 8"))
      ->capture_default_str();
  cmd->add_option("--shortlist", args->shortlist, "shortlist sizes C of the pipeline configurations (each >= k)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1048576))
      ->capture_default_str();
  cmd->add_option("--shortlist-bits", args->shortlist_bits, "code length of the pipeline's Hamming shortlist")
      ->check(CLI::Range(8, 4096))
      ->check(CLI::Validator(multiple_of_8, "MULTIPLE OF 8"))
      ->capture_default_str();
  cmd->add_option("--repeats", args->repeats, "timed runs per search after the warm-up (the best counts)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--skip", args->skip, "leave out: fp32, fp16, hamming, pipeline, map, plot (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "fp16", "hamming", "pipeline", "map", "plot"}));
  cmd->footer(
      "--data DIR layout (NumPy .npy files, C order):\n"
      "  images.npy        [I, D] float32 or float16: image embeddings\n"
      "  texts.npy         [T, D] float32 or float16, T = I x captions-per-image: caption t belongs to\n"
      "                    image t / captions-per-image (an image's captions are consecutive rows)\n"
      "  image_labels.npy  optional: [I, C] multi-hot 0/1 (uint8, bool, int8/32/64) or [I] class indices;\n"
      "                    mAP@ALL (relevant = shares a label) needs it, else mAP is \"-\"\n"
      "  text_labels.npy   optional: [T, C] or [T]; default: each caption has its image's labels\n"
      "  train_images.npy  optional, with train_texts.npy: pairs that train the binariser, [n, D] and\n"
      "  train_texts.npy   [n, D] (row pairs) or [n x c, D] (c captions per image); without them it\n"
      "                    trains on the evaluated pairs, and the demo says it is transductive\n"
      "Rows must be finite and nonzero (cosine). A file problem is an error naming the file (exit code 3).\n"
      "See docs/demo.md.\n");
  cmd->callback([args] {
    DemoArgs a = *args;
    if (a.data_dir.empty() && a.captions == 0) a.captions = 5;
    run_demo(a);
  });
}

}  // namespace xmr::cli
