#pragma once
// The xmr index file format (docs/index_format.md): writing and validated reading. Plain C++
// over the storage snapshot; the public classes add their own checks on top.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dense/storage.h"
#include "xmr/types.h"

namespace xmr::engine::io {

inline constexpr std::uint32_t kIndexFormatVersion = 1;
/// Most label classes a LABELS section (and xmr::Labels) may have.
inline constexpr std::int64_t kMaxLabelClasses = std::int64_t{1} << 24;

enum class IndexKind : std::uint32_t { Dense = 1, Binary = 2 };
const char* to_string(IndexKind kind);

/// Section types, in the order they appear in a file.
enum class SectionType : std::uint32_t { Params = 1, Ids = 2, Rows = 3, Labels = 4, Binarizer = 5 };
const char* to_string(SectionType type);

/// What the PARAMS section holds.
struct IndexParams {
  IndexKind kind = IndexKind::Dense;
  std::int64_t size = 0;
  std::int64_t dim = 0;  ///< dense: D; binary: B (bits)
  Metric metric = Metric::Cosine;
  DType storage = DType::F32;
  Device device = Device::Auto;
};

struct SectionInfo {
  SectionType type = SectionType::Params;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t checksum = 0;  ///< XXH3-64 of the section's bytes
};

/// Optional per-item data saved with an index.
struct Attachments {
  std::int64_t num_classes = 0;             ///< 0: no labels
  std::span<const std::uint8_t> labels;     ///< [size x ceil(num_classes / 8)] packed rows
  std::span<const std::uint8_t> binarizer;  ///< a binariser file's bytes; empty: none
};

/// Receives the bytes of a file being written, in order.
using Sink = std::function<void(const void* data, std::size_t n)>;

/// Writes `snap` (with `params`' kind, metric, storage and default device) and `extra`.
/// `params.size` and `params.dim` are taken from `snap`.
void write_index(const Sink& sink, IndexParams params, const DenseSnapshot& snap, const Attachments& extra);

/// Where a file's bytes come from.
struct Source {
  std::string name;  ///< the path, or "bytes": starts every error message
  std::uint64_t size = 0;
  /// Whole content when memory-backed (a mapping or a caller buffer), else null.
  const std::uint8_t* memory = nullptr;
  /// Non-null: `memory` stays valid as long as this is held, so sections may be used in place.
  std::shared_ptr<const void> keeper;
  /// Reads [offset, offset + n) into dst when not memory-backed.
  std::function<void(std::uint64_t offset, std::size_t n, void* dst)> read;
};

struct LoadedIndex {
  std::uint32_t version = 0;
  std::uint64_t file_bytes = 0;
  IndexParams params;
  std::vector<SectionInfo> sections;
  std::shared_ptr<const DenseSnapshot> snapshot;  ///< null when only the header was read
  std::int64_t num_classes = 0;
  std::vector<std::uint8_t> labels;
  std::vector<std::uint8_t> binarizer;
};

/// Called with the validated header (parameters, sections; no data yet) before anything large is
/// allocated: a caller's own checks (e.g. the index type it expects) throw from here.
using HeaderCheck = std::function<void(const LoadedIndex& header)>;

/// Reads and validates an index file: header, section table and parameters always (before any
/// allocation), then `on_header` (when set); with `header_only` stops there. Otherwise reads every
/// section; `verify` checks the sections' checksums and values (ids strictly ascending, rows
/// finite, label padding bits zero) — without it only the ids are checked. Every failure is
/// CorruptData (or Io from the source) starting with `src.name`.
LoadedIndex read_index(const Source& src, bool verify, bool header_only, const HeaderCheck& on_header = {});

}  // namespace xmr::engine::io
