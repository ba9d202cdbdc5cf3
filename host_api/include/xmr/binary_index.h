#pragma once
/// \file
/// Exact Hamming-distance search over packed binary codes (cross-modal hashing: DCMH, SSAH,
/// DSPH, ... or codes made by xmr/binarize.h).
///
/// **Code format.** A code of B bits is B/8 bytes; bit j lives in byte j/8 at bit position j%8
/// (least significant bit first), which is the layout of `numpy.packbits(x, bitorder="little")`
/// and of DCMH's `compactbit`. B is a multiple of 8 in [8, 4096]. A batch of codes is a
/// `MatrixView<const std::uint8_t>` of shape [n x B/8] (any row stride >= B/8).

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xmr/dense_index.h"
#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmr {

/// Smallest and largest supported code length in bits.
inline constexpr std::int64_t kMinCodeBits = 8;
inline constexpr std::int64_t kMaxCodeBits = 4096;
/// Distance of an empty result slot (k larger than the index): sorts after every real distance.
inline constexpr std::int32_t kEmptyDistance = std::numeric_limits<std::int32_t>::max();

/// How a BinaryIndex stores codes.
struct BinaryIndexOptions {
  std::int64_t bits = 0;         ///< code length B: a multiple of 8 in [8, 4096]
  Device device = Device::Auto;  ///< default device of searches
};

/// Owning result of a batch k-NN search: `num_queries x k`, row-major.
struct BinarySearchResult {
  std::int64_t num_queries = 0;
  std::int64_t k = 0;
  std::vector<std::int64_t> ids;        ///< [num_queries * k]; -1 marks an empty slot
  std::vector<std::int32_t> distances;  ///< [num_queries * k]; kEmptyDistance marks an empty slot
  Device device = Device::Cpu;          ///< where the search ran

  [[nodiscard]] std::int64_t id(std::int64_t q, std::int64_t j) const {
    return ids[static_cast<std::size_t>(q * k + j)];
  }
  [[nodiscard]] std::int32_t distance(std::int64_t q, std::int64_t j) const {
    return distances[static_cast<std::size_t>(q * k + j)];
  }
};

/// Owning result of a radius search: a variable number of results per query, concatenated.
struct RangeSearchResult {
  std::int64_t num_queries = 0;
  std::int32_t radius = 0;
  std::int64_t max_results = 0;  ///< the per-query cap the search ran with
  /// [num_queries + 1]: query q's results are entries [offsets[q], offsets[q + 1]).
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> ids;        ///< ascending distance, ties by ascending id
  std::vector<std::int32_t> distances;  ///< each <= radius
  /// [num_queries]: how many stored codes are within the radius (may exceed the cap).
  std::vector<std::int64_t> num_within;
  Device device = Device::Cpu;

  /// True when query q had more than max_results codes within the radius; its results are then
  /// the max_results nearest (ascending distance, ties by ascending id), the rest were dropped.
  [[nodiscard]] bool truncated(std::int64_t q) const { return num_within[static_cast<std::size_t>(q)] > max_results; }
  /// True when any query was truncated.
  [[nodiscard]] bool any_truncated() const {
    for (std::int64_t q = 0; q < num_queries; ++q) {
      if (truncated(q)) return true;
    }
    return false;
  }
  [[nodiscard]] std::int64_t count(std::int64_t q) const {
    return offsets[static_cast<std::size_t>(q + 1)] - offsets[static_cast<std::size_t>(q)];
  }
};

/// Exact (brute-force) Hamming index over N packed binary codes with 64-bit ids.
///
/// **Result contract** (every search): for each query, the k codes of smallest Hamming distance,
/// ascending; equal distances by ascending id; slots past the index size hold id -1 and distance
/// kEmptyDistance. Distances are exact integers, so the CPU and GPU backends return bit-identical
/// results, and the top-k for k1 is a prefix of the top-k for any k2 > k1.
///
/// **Ids, devices, threads**: as DenseIndex — ids in [0, 2^63 - 2], unique, kept in ascending
/// order; at most 2^32 - 2 codes; a resident GPU copy once a GPU search has run (appends upload
/// only the new codes); every member function may be called concurrently, and a failed call
/// changes nothing.
///
/// **Device memory**: as DenseIndex (its class comment): `search` / `search_into` take queries,
/// and `search_into` outputs, in CUDA device memory; such a search runs on the GPU of the
/// Resources (device Cpu: InvalidArgument; no usable GPU: Unavailable naming `queries.space`,
/// `out_ids.space` or `out_distances.space`). Device codes are copied device to device into the
/// search's padded query buffer (never through the host), results are copied into device outputs
/// with one 2-D copy each, all on the Resources' stream, complete when the call returns; results
/// are bit-identical to host queries'. `add` copies device codes to the host once. `range_search`
/// takes host memory only.
class XMR_API BinaryIndex {
 public:
  /// Throws InvalidArgument when `options.bits` is not a multiple of 8 in [8, 4096].
  explicit BinaryIndex(const BinaryIndexOptions& options);
  ~BinaryIndex();
  BinaryIndex(BinaryIndex&&) noexcept;
  BinaryIndex& operator=(BinaryIndex&&) noexcept;
  BinaryIndex(const BinaryIndex&) = delete;
  BinaryIndex& operator=(const BinaryIndex&) = delete;

  /// Appends codes with sequential ids (largest id so far + 1, or 0 when empty).
  /// \param codes [n x B/8] packed codes in host or device memory (device memory is copied to the
  ///              host once, synchronously; finish writing it first).
  /// \throws Error InvalidArgument (shape, null pointer, a device pointer that is not device
  ///         memory), Unavailable (device memory without a usable GPU), Device (a failed copy),
  ///         OutOfMemory; the index is then unchanged.
  void add(MatrixView<const std::uint8_t> codes);
  /// Appends codes with caller-given ids (`ids.size() == codes.rows()`), in [0, 2^63 - 2] and
  /// distinct from each other and from the ids already stored.
  void add(MatrixView<const std::uint8_t> codes, std::span<const std::int64_t> ids);

  /// Removes the codes with these ids; later searches never return them, and the ids may be
  /// added again. Every id must be stored and appear once (`ids` may be empty).
  /// \throws Error InvalidArgument (an unknown or repeated id, named with its position and
  ///         value), OutOfMemory. On any error the index is unchanged.
  /// Costs a copy of the remaining codes (a GPU copy is re-uploaded by the next GPU search).
  void remove(std::span<const std::int64_t> ids);

  /// Batch k-NN search by Hamming distance; see the class comment for the result contract.
  /// \param queries [Q x B/8] packed codes in host or device memory (any stride >= B/8); Q may be
  ///                0. Device queries run on the GPU of the Resources (class comment).
  /// \param k       results per query, >= 1 (k > size() pads with -1 / kEmptyDistance).
  /// \throws Error InvalidArgument (shape, k, empty index, device memory with device Cpu, a
  ///         device pointer that is not device memory of the search's GPU), Unavailable
  ///         (Device::Gpu, or device memory, without a usable GPU), OutOfMemory, Device (a CUDA
  ///         failure; the index stays usable).
  /// Synchronous: returns when the results are complete (and device queries read).
  [[nodiscard]] BinarySearchResult search(MatrixView<const std::uint8_t> queries, std::int64_t k,
                                          const SearchOptions& options = {}) const;
  /// As search(), into caller buffers `out_ids` / `out_distances` of [Q x k] (any stride >= k),
  /// host or device memory (device outputs: one copy each on the Resources' stream, complete on
  /// return; untouched by a call that fails before it).
  /// \returns the device the search ran on.
  Device search_into(MatrixView<const std::uint8_t> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                     MatrixView<std::int32_t> out_distances, const SearchOptions& options = {}) const;

  /// All codes within Hamming distance `radius` of each query (the hash-lookup protocol of the
  /// hashing literature), ascending distance, ties by ascending id, at most `max_results` per
  /// query: beyond that the nearest `max_results` are kept and RangeSearchResult::truncated()
  /// says so (num_within gives the full count).
  /// \param queries     [Q x B/8] packed codes in host memory (device memory: InvalidArgument).
  /// \param radius      in [0, B].
  /// \param max_results >= 1.
  [[nodiscard]] RangeSearchResult range_search(MatrixView<const std::uint8_t> queries, std::int32_t radius,
                                               std::int64_t max_results, const SearchOptions& options = {}) const;

  /// Saves the index (and `extras`) to `path` atomically (xmr/index_file.h): a crash leaves the
  /// old file or the new one. Concurrent adds and removes are not blocked: the file holds the
  /// snapshot current when save began.
  /// \throws Error InvalidArgument (extras that do not fit the index, naming the field), Io
  ///         (the file cannot be created, written, synced or renamed: names the path and the
  ///         system's reason; the destination is then untouched), OutOfMemory.
  void save(const std::string& path, const IndexExtras& extras = {}) const;
  /// The bytes save() writes (for embedding an index in another container).
  [[nodiscard]] std::vector<std::uint8_t> to_bytes(const IndexExtras& extras = {}) const;
  /// Loads an index saved by BinaryIndex::save, with its extras into `extras` when not null.
  /// \throws Error Io (cannot open, map or read), CorruptData (any validation failure: names the
  ///         path and what is wrong), InvalidArgument (the file holds another index type; bad
  ///         options), Unavailable (options.device = Gpu without a usable GPU), OutOfMemory.
  [[nodiscard]] static BinaryIndex load(const std::string& path, const LoadOptions& options = {},
                                        IndexExtras* extras = nullptr);
  /// The inverse of to_bytes(): as load(), from memory (always copied; `options.mode` is ignored;
  /// errors name "bytes").
  [[nodiscard]] static BinaryIndex from_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options = {},
                                              IndexExtras* extras = nullptr);

  /// Number of stored codes.
  [[nodiscard]] std::int64_t size() const;
  /// Code length in bits (B) and bytes (B/8).
  [[nodiscard]] std::int64_t bits() const noexcept;
  [[nodiscard]] std::int64_t code_bytes() const noexcept;
  [[nodiscard]] Device device() const noexcept;
  /// The stored ids in ascending order.
  [[nodiscard]] std::vector<std::int64_t> ids() const;

  struct Impl;
  /// Internal state (not part of the stable API).
  [[nodiscard]] Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// The popcount kernel the CPU backend runs on this machine: "avx512-vpopcntdq", "avx2" or
/// "scalar-popcnt" (chosen at run time from the CPU's features; the environment variable
/// XMR_CPU_ISA=avx2|scalar forces a lower one, for testing and comparison).
XMR_API const char* hamming_cpu_kernel() noexcept;

/// Hamming distance between two packed codes of `bytes` bytes (a scalar reference helper).
XMR_API std::int32_t hamming_distance(const std::uint8_t* a, const std::uint8_t* b, std::int64_t bytes) noexcept;

/// Packs [n x bits] 0/1 (or any nonzero = 1) bytes into [n x bits/8] codes in the xmr format.
/// \throws Error InvalidArgument when `bits` is not a multiple of 8 or the views do not match.
XMR_API void pack_bits(MatrixView<const std::uint8_t> bits, MatrixView<std::uint8_t> codes);
/// The inverse of pack_bits: [n x bits/8] codes to [n x bits] bytes of 0/1.
XMR_API void unpack_bits(MatrixView<const std::uint8_t> codes, MatrixView<std::uint8_t> bits);

}  // namespace xmr
