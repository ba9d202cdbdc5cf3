#pragma once
/// \file
/// Index files: what DenseIndex::save / BinaryIndex::save write and load reads, the data that can
/// travel with an index (labels, the binariser that made its codes), and how files are loaded.
///
/// **Format** (docs/index_format.md): magic "XMRINDEX", format version, endianness marker, index
/// type, a section table with an XXH3-64 checksum per section and one over the header itself,
/// then 64-byte aligned sections (parameters, ids, rows, optional labels, optional binariser).
/// Every byte of a file is covered by a checksum or a must-be-zero rule, so any bit flip is
/// detected.
///
/// **Saving is atomic**: the bytes go to a temporary file in the destination's directory, which is
/// fsynced, renamed over the destination and followed by an fsync of the directory. A crash or a
/// kill at any point leaves the old file or the new one, never a torn one (a killed process may
/// leave its "<path>.tmp-XXXXXX" file behind).
///
/// **Loading validates before it allocates**: the header, section table and parameters are checked
/// against each other and against the real file size first, so a lying size field cannot make
/// xmr allocate more than the file holds; then every section's checksum and values. Any problem
/// is Error(CorruptData) whose message starts with the path and says what is wrong.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xmr/binarize.h"
#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmr {

/// Multi-hot class labels of N items (the relevance of the hashing literature: two items are
/// relevant when they share a class). Row r holds item r's classes packed in row_bytes() =
/// ceil(num_classes / 8) bytes: class c is bit c % 8 of byte c / 8 (least significant bit first,
/// like codes); the bits past num_classes in the last byte are 0.
struct XMR_API Labels {
  std::int64_t num_classes = 0;      ///< C, in [1, 2^24]
  std::vector<std::uint8_t> packed;  ///< [rows() x row_bytes()]

  [[nodiscard]] std::int64_t row_bytes() const noexcept { return (num_classes + 7) / 8; }
  [[nodiscard]] std::int64_t rows() const noexcept {
    return row_bytes() > 0 ? static_cast<std::int64_t>(packed.size()) / row_bytes() : 0;
  }
  /// True when item `row` carries class `c` (no bounds checks).
  [[nodiscard]] bool has(std::int64_t row, std::int64_t c) const noexcept {
    const unsigned byte = packed[static_cast<std::size_t>(row * row_bytes() + c / 8)];
    return ((byte >> static_cast<unsigned>(c % 8)) & 1u) != 0;
  }
  /// Packs a [n x C] 0/1 matrix (any nonzero byte is 1), e.g. a dataset's label matrix.
  /// \throws Error InvalidArgument (C not in [1, 2^24], null data).
  [[nodiscard]] static Labels from_multi_hot(MatrixView<const std::uint8_t> multi_hot);
};

/// What may be saved with an index and is returned by load.
struct IndexExtras {
  /// One row per stored item, in ascending id order (the order of `ids()`); rows() must equal
  /// the index size when saving.
  std::optional<Labels> labels;
  /// The binariser that made a binary index's codes (its bits must equal the index's), or that
  /// encodes queries for it. At most one of `binarizer` and `cross_modal_binarizer` is set.
  std::optional<Binarizer> binarizer;
  std::optional<CrossModalBinarizer> cross_modal_binarizer;
};

/// How load gets the file's bytes.
enum class LoadMode : int {
  /// Read the file into memory owned by the index (positioned reads straight into its arrays:
  /// peak memory is the index itself).
  Read = 0,
  /// Map the file read-only and use its ids and rows in place: no copy, pages shared with other
  /// processes mapping the same file, memory given back to the page cache. The mapping lives as
  /// long as the index's data does; the first add or remove copies (as any merge does). Files
  /// are replaced by rename when saved, so re-saving a mapped file is safe; truncating or
  /// rewriting it in place by other means is not (the process gets SIGBUS).
  Map = 1,
};

/// Options of DenseIndex::load / BinaryIndex::load (and from_bytes).
struct LoadOptions {
  LoadMode mode = LoadMode::Read;  ///< ignored by from_bytes, which always copies
  /// Check every section's checksum and values (ids strictly ascending, dense values finite,
  /// label padding zero). Without it only the header, section table, parameters and ids are
  /// checked: faster for trusted files, a mapped one then loads without reading its rows.
  bool verify = true;
  /// The loaded index's default device (by default the one it was saved with). Setting it to
  /// Device::Gpu also uploads the resident GPU copy during load (Error Unavailable without a
  /// usable GPU); a saved default of Gpu alone uploads nothing, so such a file loads anywhere.
  std::optional<Device> device = std::nullopt;
  /// Stream and device for that upload; null for the calling thread's default.
  Resources* resources = nullptr;
};

/// One section of an index file.
struct IndexFileSection {
  std::string name;  ///< "PARAMS", "IDS", "ROWS", "LABELS" or "BINARIZER"
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;  ///< the stored XXH3-64
};

/// What an index file holds, from its header alone (see read_index_info).
struct IndexFileInfo {
  std::string type;  ///< "dense" or "binary"
  std::uint32_t format_version = 0;
  std::uint64_t file_bytes = 0;
  std::int64_t size = 0;           ///< stored items
  std::int64_t dim = 0;            ///< dense: D; binary: 0
  std::int64_t bits = 0;           ///< binary: B; dense: 0
  Metric metric = Metric::Cosine;  ///< dense only
  DType storage = DType::F32;      ///< dense only
  Device device = Device::Auto;    ///< the saved default device
  std::int64_t num_classes = 0;    ///< labels' class count; 0 without labels
  bool has_binarizer = false;
  std::vector<IndexFileSection> sections;
};

/// Reads and validates an index file's header, section table and parameters (not its data:
/// cheap for any size).
/// \throws Error Io (cannot open or read), CorruptData (as load).
XMR_API IndexFileInfo read_index_info(const std::string& path);

}  // namespace xmr
