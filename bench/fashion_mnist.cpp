// fashion_mnist: see fashion_mnist.h. IDX format (LeCun's MNIST page): a 4-byte big-endian
// magic 0x000008TT (TT = 0x08: unsigned bytes) whose low byte is the number of dimensions, then
// one big-endian uint32 per dimension, then the data, row-major. The files are gzip-compressed;
// zlib's gzread inflates them (and reads an uncompressed file as is).

#include "fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace xmr::bench {
namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr std::uint32_t kSide = 28;

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<std::remove_pointer_t<gzFile>, GzClose>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("Fashion-MNIST file " + path + ": " + what);
}

/// A gzip stream that reads exact byte counts and reports every problem with the file's name.
class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)) {
    errno = 0;
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (!file_) fail(path_, std::string("cannot open (") + (errno != 0 ? std::strerror(errno) : "out of memory") + ")");
  }

  [[nodiscard]] const std::string& path() const { return path_; }

  /// Reads exactly `n` bytes; `what` names them in the error ("header", "pixels").
  void read_exact(void* out, std::size_t n, const char* what) {
    auto* dst = static_cast<unsigned char*>(out);
    std::size_t done = 0;
    while (done < n) {
      // gzread takes an unsigned count and returns an int: read in chunks below INT_MAX.
      const std::size_t chunk = std::min<std::size_t>(n - done, std::size_t{1} << 30);
      const int got = gzread(file_.get(), dst + done, static_cast<unsigned>(chunk));
      if (got < 0) fail(path_, std::string("read error in the ") + what + ": " + error_text());
      if (got == 0) {
        fail(path_, std::string("truncated: the ") + what + " needs " + std::to_string(n) + " bytes but only " +
                        std::to_string(done) + " follow" + gz_note());
      }
      done += static_cast<std::size_t>(got);
    }
  }

  std::uint32_t read_be32(const char* what) {
    std::array<unsigned char, 4> b{};
    read_exact(b.data(), b.size(), what);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  }

  /// Throws unless the stream is at its end (trailing bytes mean a different or damaged file).
  void expect_end() {
    unsigned char extra = 0;
    const int got = gzread(file_.get(), &extra, 1);
    if (got < 0) fail(path_, "read error at the end: " + error_text());
    if (got > 0) fail(path_, "trailing data after the expected bytes (a different or damaged file)");
    const std::string err = error_text();
    if (!err.empty()) fail(path_, "gzip error at the end: " + err);
  }

 private:
  std::string error_text() {
    int code = Z_OK;
    const char* msg = gzerror(file_.get(), &code);
    if (code == Z_OK) return {};
    if (code == Z_ERRNO) return std::strerror(errno);
    return msg != nullptr ? msg : "unknown zlib error";
  }
  std::string gz_note() {
    const std::string err = error_text();
    return err.empty() ? std::string{} : " (" + err + ")";
  }

  std::string path_;
  GzPtr file_;
};

std::string hex32(std::uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x00000000";
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(9 - i)] = digits[(v >> (4 * i)) & 0xF];
  return s;
}

std::vector<float> read_images(const std::string& path, std::int64_t expected_rows) {
  GzReader in(path);
  const std::uint32_t magic = in.read_be32("header");
  if (magic != kImagesMagic) {
    fail(path, "magic " + hex32(magic) + " is not " + hex32(kImagesMagic) + " (IDX, unsigned bytes, 3 dimensions)");
  }
  const std::uint32_t n = in.read_be32("header");
  const std::uint32_t rows = in.read_be32("header");
  const std::uint32_t cols = in.read_be32("header");
  if (n != static_cast<std::uint32_t>(expected_rows) || rows != kSide || cols != kSide) {
    fail(path, "dimensions " + std::to_string(n) + " x " + std::to_string(rows) + " x " + std::to_string(cols) +
                   " are not " + std::to_string(expected_rows) + " x 28 x 28");
  }
  // The sizes are the validated constants, so this product cannot overflow.
  const std::size_t count = static_cast<std::size_t>(expected_rows) * static_cast<std::size_t>(kFashionDim);
  std::vector<unsigned char> pixels(count);
  in.read_exact(pixels.data(), pixels.size(), "pixel data");
  in.expect_end();
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(pixels[i]) / 255.0f;
  return out;
}

std::vector<std::uint8_t> read_labels(const std::string& path, std::int64_t expected_rows) {
  GzReader in(path);
  const std::uint32_t magic = in.read_be32("header");
  if (magic != kLabelsMagic) {
    fail(path, "magic " + hex32(magic) + " is not " + hex32(kLabelsMagic) + " (IDX, unsigned bytes, 1 dimension)");
  }
  const std::uint32_t n = in.read_be32("header");
  if (n != static_cast<std::uint32_t>(expected_rows)) {
    fail(path, "holds " + std::to_string(n) + " labels, not " + std::to_string(expected_rows));
  }
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(expected_rows));
  in.read_exact(labels.data(), labels.size(), "label data");
  in.expect_end();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kFashionClasses) {
      fail(path, "label " + std::to_string(labels[i]) + " at row " + std::to_string(i) + " is not in 0..9");
    }
  }
  return labels;
}

constexpr std::array<const char*, 4> kFiles = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

std::string join(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

}  // namespace

std::string fashion_mnist_dir() {
  const char* env = std::getenv("XMR_FASHION_MNIST_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(kFashionDefaultDir);
}

std::string fashion_mnist_missing(const std::string& dir) {
  std::string missing;
  for (const char* f : kFiles) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(join(dir, f), ec)) missing += std::string(missing.empty() ? "" : ", ") + f;
  }
  if (missing.empty()) return {};
  return "Fashion-MNIST not found in " + dir + " (missing " + missing +
         "): install the Debian package dataset-fashion-mnist (scripts/setup.sh --bench) or point "
         "XMR_FASHION_MNIST_DIR at a directory holding the four IDX .gz files";
}

FashionMnist load_fashion_mnist(const std::string& dir) {
  FashionMnist d;
  d.dir = dir;
  d.train_images = read_images(join(dir, kFiles[0]), kFashionTrainRows);
  d.train_labels = read_labels(join(dir, kFiles[1]), kFashionTrainRows);
  d.test_images = read_images(join(dir, kFiles[2]), kFashionTestRows);
  d.test_labels = read_labels(join(dir, kFiles[3]), kFashionTestRows);
  return d;
}

}  // namespace xmr::bench
