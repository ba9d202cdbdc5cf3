#pragma once
// Storage of a multi-vector index: immutable snapshots of items, each a run of fp32 vectors.
//
// Items are kept in ascending id order (so item position order is id order, which makes
// tie-breaking by id free in every kernel); the vectors of item i are rows
// [offsets[i], offsets[i + 1]) of one [T x D] fp32 array. As for DenseSnapshot, a snapshot is
// never modified after it is published: an append whose ids all exceed the current maximum writes
// into spare capacity past the end of the shared arrays (which no published snapshot reads) and
// publishes a longer snapshot; any other append, and every remove, builds new arrays. A failed
// call publishes nothing.

#include <cstdint>
#include <memory>
#include <span>

#include "dense/storage.h"

namespace xmr::engine {

/// Largest number of vectors one multi-vector snapshot holds (positions stay below 2^32 - 1).
inline constexpr std::int64_t kMaxMultiVectors = 0xFFFFFFFE;

struct MultiVectorSnapshot {
  std::int64_t size = 0;         // items
  std::int64_t num_vectors = 0;  // T = offsets[size]
  std::int64_t dim = 0;
  /// As DenseSnapshot::lineage: equal lineage means vectors [0, T) and items [0, size) of the
  /// snapshot with fewer are a prefix of the other's.
  std::uint64_t lineage = 0;
  std::shared_ptr<Array<std::int64_t>> ids;      // [item capacity], ascending over [0, size)
  std::shared_ptr<Array<std::int64_t>> offsets;  // [item capacity + 1]; offsets[0] = 0
  std::shared_ptr<Array<std::byte>> vectors;     // [vector capacity x dim] fp32, as bytes

  [[nodiscard]] const std::int64_t* id_data() const { return ids ? ids->get() : nullptr; }
  [[nodiscard]] const std::int64_t* offset_data() const { return offsets ? offsets->get() : nullptr; }
  [[nodiscard]] const float* vector_data() const {
    return vectors ? reinterpret_cast<const float*>(vectors->get()) : nullptr;
  }
  [[nodiscard]] std::int64_t max_id() const { return size > 0 ? id_data()[size - 1] : -1; }
  /// Vectors of item `i`.
  [[nodiscard]] std::int64_t item_vectors(std::int64_t i) const { return offset_data()[i + 1] - offset_data()[i]; }
  /// Largest vector count of one item (0 when empty). O(size).
  [[nodiscard]] std::int64_t max_item_vectors() const;
  /// The vectors as a dense snapshot of T rows (no ids: its `ids` array is an empty marker whose
  /// capacity is the vector capacity, which is all gpu::resident() reads of it), for the device
  /// copies the dense machinery keeps.
  [[nodiscard]] DenseSnapshot vector_rows() const;
};

/// End of the tile of entries (items or queries) that starts at entry `begin` < n, over
/// `offsets` ([n + 1], strictly increasing): the largest end <= n with
/// offsets[end] - offsets[begin] <= max_vectors and end - begin <= max_entries (when > 0), but at
/// least begin + 1 (an entry never straddles tiles, so one larger than max_vectors forms a tile).
std::int64_t tile_end(const std::int64_t* offsets, std::int64_t n, std::int64_t begin, std::int64_t max_vectors,
                      std::int64_t max_entries);

/// An empty snapshot of dimension `dim` (lineage 0).
std::shared_ptr<const MultiVectorSnapshot> empty_multi_vector_snapshot(std::int64_t dim);

/// Ids for an add without ids: max_id + 1, +2, ... Throws when they would pass kMaxId.
void sequential_ids(const MultiVectorSnapshot& cur, std::span<std::int64_t> out);

/// Validates `ids` (range, uniqueness within the batch and against `cur`; InvalidArgument naming
/// `ids_name`) and the size limits, and returns the snapshot with the items added: item j has
/// id ids[j] and the prepared fp32 vectors rows [offsets[j], offsets[j + 1]) of `vectors`
/// ([offsets.back() x dim], dense). `offsets` ([ids.size() + 1], valid: checked by the caller).
/// Writes only into memory no published snapshot reads.
std::shared_ptr<const MultiVectorSnapshot> append_items(const MultiVectorSnapshot& cur, const float* vectors,
                                                        std::span<const std::int64_t> offsets,
                                                        std::span<const std::int64_t> ids, const char* ids_name);

/// Validates `ids` (each stored, none repeated) and returns the snapshot without those items
/// (new arrays, new lineage). Throws InvalidArgument naming `ids_name`; then nothing is published.
std::shared_ptr<const MultiVectorSnapshot> remove_items(const MultiVectorSnapshot& cur,
                                                        std::span<const std::int64_t> ids, const char* ids_name);

/// A new snapshot (new arrays, new lineage) holding items `positions` of `snap`, which must be
/// strictly ascending and in [0, snap.size) (InvalidArgument otherwise): ids stay ascending, and
/// position j of the result is item positions[j] of `snap`. For filtered search.
std::shared_ptr<const MultiVectorSnapshot> gather_items(const MultiVectorSnapshot& snap,
                                                        std::span<const std::int64_t> positions);

}  // namespace xmr::engine
