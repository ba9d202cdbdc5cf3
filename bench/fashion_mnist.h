// fashion_mnist: a validating loader for Fashion-MNIST (Zalando's 70,000 28x28 grey-scale
// clothing images in 10 classes) as the Debian package dataset-fashion-mnist installs it:
// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in /usr/share/datasets/fashion-mnist (or the
// directory XMR_FASHION_MNIST_DIR names). Used by bench_fashion only.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xmr::bench {

inline constexpr std::int64_t kFashionDim = 784;  // 28 x 28 pixels
inline constexpr std::int64_t kFashionClasses = 10;
inline constexpr std::int64_t kFashionTrainRows = 60000;
inline constexpr std::int64_t kFashionTestRows = 10000;
inline constexpr const char* kFashionDefaultDir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST in memory.
struct FashionMnist {
  std::string dir;                         ///< where it was read from
  std::vector<float> train_images;         ///< [60000 x 784] float32, pixel / 255 in [0, 1]
  std::vector<std::uint8_t> train_labels;  ///< [60000], class 0..9
  std::vector<float> test_images;          ///< [10000 x 784] float32, pixel / 255
  std::vector<std::uint8_t> test_labels;   ///< [10000], class 0..9
};

/// The data set's directory: $XMR_FASHION_MNIST_DIR when set and not empty, otherwise
/// kFashionDefaultDir.
std::string fashion_mnist_dir();

/// Why the data set cannot be read from `dir` ("" when all four files exist): names the
/// directory, the missing files and how to install them.
std::string fashion_mnist_missing(const std::string& dir);

/// Reads and validates the four files in `dir`: gzip (zlib), IDX magic 0x00000803 (images) /
/// 0x00000801 (labels), big-endian dimensions 60000 / 10000 x 28 x 28, exactly that many bytes
/// and no more, image and label counts equal, every label in 0..9.
/// \throws std::runtime_error naming the file and what is wrong with it (missing, unreadable,
///         not gzip or truncated, bad magic, bad dimensions, short or trailing data, bad label).
FashionMnist load_fashion_mnist(const std::string& dir);

}  // namespace xmr::bench
