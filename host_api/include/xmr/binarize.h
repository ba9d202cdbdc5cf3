#pragma once
/// \file
/// Binarisers: maps from float embeddings to packed binary codes for xmr::BinaryIndex.
///
/// Every binariser is the same affine-then-sign map: for an input row x of D floats, code bit j
/// (j in [0, B)) is
///
///     bit_j(x) = [ (x - mean) . w_j  >  threshold_j ]
///
/// with `mean` [D], projection W = [w_0 ... w_{B-1}] [D x B] and `threshold` [B]. What differs
/// is how the parameters are chosen (BinarizerKind). The bits are packed in the xmr code format
/// (xmr/binary_index.h): bit j in byte j/8 at bit position j%8, least significant bit first, as
/// `numpy.packbits(bits, bitorder="little")`.
///
/// **Determinism.** Every parameter is stored as float; encode() computes each projected value in
/// double, adding the D products in ascending d, so the code of a row depends only on that row
/// and the binariser: the same in any batch, on any number of threads. Training is
/// deterministic in its seed: random numbers come from xmr's own generator (the same on every
/// machine); the numerical linear algebra (BLAS/LAPACK) is bit-reproducible for one machine, BLAS
/// build and thread count (OMP_NUM_THREADS), and may differ in the last bits otherwise (which can
/// flip the rare bit whose value is near its threshold). Ship a trained model as a file.
///
/// **Thread safety.** A Binarizer is immutable: every member function may be called
/// concurrently. Copies share their parameters (copying is cheap).
///
/// **File format** (save / to_bytes; docs/binarize.md has the full table): little-endian, a
/// 24-byte header (magic "XMRBINZ\0", format version, number of binarisers, payload size), one
/// record per binariser (kind, D, B, training loss, mean, thresholds, projection, rotation) and a
/// trailing CRC-32 (zlib.crc32) of everything before it. Loading checks every size against the
/// data's length before allocating, so a corrupt or hostile file throws, never crashes.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xmr/export.h"
#include "xmr/matrix_view.h"

namespace xmr {

/// How a binariser's parameters were chosen. The numeric values are stored in files.
enum class BinarizerKind : int {
  Sign = 0,           ///< bit j = [x_j > 0]: mean 0, W = I, threshold 0, B = D
  SignMedian = 1,     ///< bit j = [x_j > median_j]: W = I, per-dimension median threshold, B = D
  Lsh = 2,            ///< random-hyperplane LSH: W Gaussian, threshold 0, optionally centred
  Itq = 3,            ///< iterative quantisation: PCA to B dims, then a learned rotation
  CrossModalItq = 4,  ///< CCA to a shared B-dim space, then one rotation for both modalities
};

/// Name of a kind: "sign", "sign_median", "lsh", "itq", "cross_modal_itq".
XMR_API const char* to_string(BinarizerKind kind) noexcept;

/// Largest input dimension D a binariser accepts (training needs O(D^2) doubles of memory).
inline constexpr std::int64_t kMaxBinarizerDim = std::int64_t{1} << 20;
/// Largest number of ITQ iterations.
inline constexpr std::int64_t kMaxItqIterations = 100000;

/// Options of Binarizer::lsh(train, ...).
struct LshOptions {
  std::uint64_t seed = 0;  ///< any value; the projection is a deterministic function of it
  bool center = true;      ///< subtract the mean of `train` before projecting
};

/// Options of Binarizer::itq.
struct ItqOptions {
  /// Alternating updates of codes and rotation, in [0, kMaxItqIterations]; 0 keeps the random
  /// initial rotation (PCA plus a random rotation).
  std::int64_t iterations = 50;
  std::uint64_t seed = 0;  ///< seed of the random initial rotation
};

/// Options of train_cross_modal_itq.
struct CrossModalItqOptions {
  std::int64_t iterations = 50;  ///< as ItqOptions::iterations
  std::uint64_t seed = 0;        ///< as ItqOptions::seed
  /// Ridge added to each modality's covariance, relative to its mean variance: C + r * tr(C)/D * I.
  /// Finite and in [0, 1e6]; with 0 a rank-deficient covariance (fewer pairs than dimensions,
  /// constant or collinear features) throws InvalidArgument.
  double regularization = 1e-4;
  /// Each canonical direction is scaled by (its canonical correlation rho_k)^correlation_power
  /// before the rotation is learned, so well-correlated directions dominate the codes and the
  /// ITQ loss. Finite and in [0, 16]. The default 2 scales by the eigenvalues rho_k^2 of the CCA
  /// eigenproblem; 0 keeps the whitened CCA space, where every direction weighs the same and the
  /// weakly correlated ones (noise) get as many bits as the strong ones (docs/binarize.md has a
  /// sweep).
  double correlation_power = 2.0;
};

namespace detail {
struct BinarizerAccess;
}  // namespace detail

/// A map from D-dim float embeddings to B-bit packed codes (see the file comment): bit j of the
/// code of x is [(x - mean) . w_j > threshold_j]. Made by the static factories or by loading;
/// there is no empty state (a moved-from Binarizer is still valid: moves copy).
class XMR_API Binarizer {
 public:
  Binarizer(const Binarizer&) = default;
  Binarizer& operator=(const Binarizer&) = default;
  ~Binarizer();

  /// Sign of each dimension: B = D bits, bit j = [x_j > 0].
  /// \param dim D, a multiple of 8 in [8, 4096] (a code has at most 4096 bits).
  /// \throws Error InvalidArgument naming `dim`.
  [[nodiscard]] static Binarizer sign(std::int64_t dim);

  /// Sign against each dimension's median over `train`: B = D bits, bit j = [x_j > m_j], where
  /// m_j is the median of column j (for an even row count the midpoint of the two middle values,
  /// rounded to float), so each bit is 1 on about half of the training rows.
  /// \param train [n x D] host memory, n >= 2, D a multiple of 8 in [8, 4096], all finite.
  /// \throws Error InvalidArgument (shape, non-finite value: names the row, column and value),
  ///         OutOfMemory.
  [[nodiscard]] static Binarizer sign_median(MatrixView<const float> train);

  /// Random-hyperplane LSH (Charikar): W has independent standard normal entries drawn from
  /// xmr::synth::random_normal(dim, bits, seed) (row-major [D x B]); mean and thresholds are 0.
  /// \param dim  D in [1, kMaxBinarizerDim].
  /// \param bits B, a multiple of 8 in [8, 4096]; any B (also B > D) is allowed.
  /// \param seed any value.
  /// \throws Error InvalidArgument naming `dim` or `bits`, OutOfMemory.
  [[nodiscard]] static Binarizer lsh(std::int64_t dim, std::int64_t bits, std::uint64_t seed);

  /// As lsh(dim, bits, seed) with D = train.cols() and, when `options.center`, mean = the column
  /// means of `train` (without centring, train only sets D and is validated).
  /// \param train [n x D] host memory, n >= 2, all finite.
  [[nodiscard]] static Binarizer lsh(MatrixView<const float> train, std::int64_t bits, const LshOptions& options = {});

  /// Iterative quantisation (Gong & Lazebnik, CVPR 2011): centre `train`, project onto its top B
  /// principal directions (P [D x B]), start from a random orthogonal B x B rotation R (QR of a
  /// Gaussian matrix from `options.seed`) and alternate Z = sign(V R) and R = argmin ||Z - V R||_F
  /// over orthogonal R (orthogonal Procrustes: the SVD of V^T Z) for `options.iterations` rounds.
  /// The result has W = P R (orthonormal columns) and threshold 0. In double, with LAPACK.
  /// \param train [n x D] host memory, n >= 2, all finite.
  /// \param bits  B, a multiple of 8 in [8, 4096], B <= D.
  /// \throws Error InvalidArgument (shape, values, bits, options: each names the argument and its
  ///         value), OutOfMemory, Internal (a LAPACK routine failed to converge).
  /// Memory: O(D^2 + n B + chunk D) doubles (train is read in chunks, never copied whole).
  [[nodiscard]] static Binarizer itq(MatrixView<const float> train, std::int64_t bits, const ItqOptions& options = {});

  /// Encodes rows into packed codes.
  /// \param x     [n x D] host memory (any stride >= D), all finite; n may be 0.
  /// \param codes [n x B/8] host memory (any stride >= B/8), written row by row.
  /// \throws Error InvalidArgument (shape, null data, non-finite value: names the row, column and
  ///         value). Every value is checked before anything is written.
  void encode(MatrixView<const float> x, MatrixView<std::uint8_t> codes) const;
  /// As encode(x, codes), returning the codes densely: [x.rows() x B/8] bytes.
  [[nodiscard]] std::vector<std::uint8_t> encode(MatrixView<const float> x) const;

  [[nodiscard]] BinarizerKind kind() const noexcept;
  /// Input dimension D.
  [[nodiscard]] std::int64_t dim() const noexcept;
  /// Code length B in bits, and B/8 in bytes.
  [[nodiscard]] std::int64_t bits() const noexcept;
  [[nodiscard]] std::int64_t code_bytes() const noexcept;

  /// The parameters, as copies in float. mean: [D]; thresholds: [B]; projection: [D x B]
  /// row-major (element (d, j) at d * B + j; the identity for Sign and SignMedian).
  [[nodiscard]] std::vector<float> mean() const;
  [[nodiscard]] std::vector<float> thresholds() const;
  [[nodiscard]] std::vector<float> projection() const;
  /// The learned ITQ rotation R, [B x B] row-major, for Itq and CrossModalItq (empty otherwise).
  /// It is orthogonal up to float rounding.
  [[nodiscard]] std::vector<float> rotation() const;
  /// The ITQ quantisation loss ||Z - V R||_F^2 (summed over all training rows, with Z =
  /// sign(V R)) for the initial rotation and after each of the `iterations` updates: iterations
  /// + 1 values, non-increasing up to rounding; the last belongs to the final rotation. Empty for
  /// kinds other than Itq and CrossModalItq.
  [[nodiscard]] std::vector<double> training_loss() const;

  /// Writes the binariser to `path` in the format of the file comment, atomically as index files
  /// are saved (a temporary file in the same directory, fsync, rename, fsync of the directory):
  /// a crash leaves the old file or the new one.
  /// \throws Error Io (the file cannot be created, written or renamed; names the path; `path` is
  ///         then untouched).
  void save(const std::string& path) const;
  /// Reads a binariser written by save().
  /// \throws Error Io (cannot be opened or read), CorruptData (bad magic, unsupported version,
  ///         truncated, trailing bytes, checksum mismatch, a size or value out of range, or a
  ///         cross-modal pair file: the message names the path and what is wrong), OutOfMemory.
  [[nodiscard]] static Binarizer load(const std::string& path);
  /// The bytes save() writes.
  [[nodiscard]] std::vector<std::uint8_t> to_bytes() const;
  /// The inverse of to_bytes(); throws as load() (CorruptData names "bytes").
  [[nodiscard]] static Binarizer from_bytes(std::span<const std::uint8_t> bytes);

  struct Impl;

 private:
  friend struct detail::BinarizerAccess;
  explicit Binarizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

/// A pair of binarisers whose codes are comparable across modalities: image codes against text
/// codes by Hamming distance (both have the same B). Made by train_cross_modal_itq or load; the
/// members may also be set to any two binarisers of equal code length.
struct XMR_API CrossModalBinarizer {
  Binarizer image;  ///< encodes image embeddings [n x Dx]
  Binarizer text;   ///< encodes text embeddings [n x Dy]

  /// Writes both binarisers to one file (image first): the Binarizer format with two records,
  /// atomically as Binarizer::save.
  /// \throws Error InvalidArgument (image.bits() != text.bits()), Io.
  void save(const std::string& path) const;
  /// Reads a pair written by save(). Throws as Binarizer::load (a single-binariser file is
  /// CorruptData here).
  [[nodiscard]] static CrossModalBinarizer load(const std::string& path);
  [[nodiscard]] std::vector<std::uint8_t> to_bytes() const;
  [[nodiscard]] static CrossModalBinarizer from_bytes(std::span<const std::uint8_t> bytes);
};

/// Cross-modal ITQ (CCA-ITQ, Gong et al., PAMI 2013): learns a shared B-dim space by canonical
/// correlation analysis of the paired training sets, then one ITQ rotation on the projections of
/// both modalities stacked, so an image and its matching text get nearby codes.
///
/// Steps, in double with LAPACK: centre each modality (its own mean); covariances Cxx, Cyy with
/// the ridge of CrossModalItqOptions::regularization, cross-covariance Cxy; whiten, T =
/// Cxx^-1/2 Cxy Cyy^-1/2 = U S V^T; canonical directions Ax = Cxx^-1/2 U_B, Ay = Cyy^-1/2 V_B
/// (top B, sign-fixed), each column scaled by s_k^correlation_power; then ITQ on [Xc Ax; Yc Ay]
/// ([2n x B]) gives R, and the image and text binarisers get W = Ax R and Ay R (kind
/// CrossModalItq, threshold 0, the same rotation and training loss).
/// \param image_train [n x Dx] host memory, all finite; row i pairs with row i of text_train.
/// \param text_train  [n x Dy] host memory, all finite, the same n >= 2.
/// \param bits        B, a multiple of 8 in [8, 4096], B <= min(Dx, Dy).
/// \throws Error InvalidArgument (shapes, values, bits, options, a rank-deficient covariance
///         without regularisation), OutOfMemory, Internal (LAPACK failed to converge).
/// Memory: O(Dx^2 + Dy^2 + Dx Dy + n B) doubles.
XMR_API CrossModalBinarizer train_cross_modal_itq(MatrixView<const float> image_train,
                                                  MatrixView<const float> text_train, std::int64_t bits,
                                                  const CrossModalItqOptions& options = {});

}  // namespace xmr
