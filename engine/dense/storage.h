#pragma once
// Storage of a dense index: immutable snapshots over append-friendly arrays.
//
// Rows are kept in ascending id order (so row position order is id order, which is what makes
// tie-breaking by id free in every kernel). A snapshot is never modified after it is published:
// an append whose ids all exceed the current maximum writes into spare capacity past the end of
// the shared arrays (which no published snapshot reads) and publishes a longer snapshot; any
// other append builds new arrays by merging. Either way a failed add publishes nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/host_array.h"
#include "xmr/matrix_view.h"
#include "xmr/types.h"

namespace xmr::engine {

/// `capacity` elements: owned (uninitialised past the snapshot sizes), or borrowed read-only
/// memory kept alive by `keeper` (a memory-mapped index file). A borrowed array is never written:
/// its capacity equals the snapshot size, so an append always builds new arrays.
template <class T>
struct Array {
  explicit Array(std::int64_t cap);
  Array(const T* borrowed, std::int64_t count, std::shared_ptr<const void> keeper);
  [[nodiscard]] T* get() const { return ptr; }

  detail::HostArray<T> owned;
  std::shared_ptr<const void> keeper;
  T* ptr = nullptr;
  std::int64_t capacity = 0;
};

/// A fresh lineage value (see DenseSnapshot::lineage).
std::uint64_t new_lineage();

struct DenseSnapshot {
  std::int64_t size = 0;
  std::int64_t dim = 0;
  DType type = DType::F32;
  /// Binary-code snapshots: bytes per code (the row size); 0 for dense rows (dim x type).
  std::size_t code_bytes = 0;
  /// Changes whenever rows [0, size) of a later snapshot may differ from this one's; equal
  /// lineage means "a prefix of the same rows" (device mirrors upload only the tail then).
  std::uint64_t lineage = 0;
  /// Rows as raw bytes, [capacity x row_bytes()]; the storage type says how to read them. The
  /// store itself is type-agnostic (fixed-size rows plus ascending ids), so other index kinds
  /// can share it.
  std::shared_ptr<Array<std::byte>> rows;
  std::shared_ptr<Array<std::int64_t>> ids;  // [capacity], ascending over [0, size)

  [[nodiscard]] std::size_t row_bytes() const {
    if (code_bytes != 0) return code_bytes;
    return static_cast<std::size_t>(dim) * (type == DType::F32 ? sizeof(float) : sizeof(std::uint16_t));
  }
  [[nodiscard]] const std::byte* row_data() const { return rows ? rows->get() : nullptr; }
  [[nodiscard]] const float* f32_rows() const { return reinterpret_cast<const float*>(row_data()); }
  [[nodiscard]] const std::uint16_t* f16_rows() const { return reinterpret_cast<const std::uint16_t*>(row_data()); }
  [[nodiscard]] const std::int64_t* id_data() const { return ids ? ids->get() : nullptr; }
  [[nodiscard]] std::int64_t max_id() const { return size > 0 ? id_data()[size - 1] : -1; }
};

/// Largest valid id (-1 is the padding id; INT64_MAX is kept free).
inline constexpr std::int64_t kMaxId = INT64_MAX - 1;

/// Ids for an add without ids: max_id + 1, +2, ... Throws when they would pass kMaxId.
void sequential_ids(const DenseSnapshot& cur, std::span<std::int64_t> out);

/// Validates ids to add against each other and against `stored` (ascending): each in
/// [0, kMaxId], none repeated, none stored. Returns the batch's order by ascending id (stable).
/// Throws InvalidArgument naming `ids_name`, the position and the id, and `container` ("the
/// index", "collection 'images'") for an id already stored.
std::vector<std::int64_t> check_new_ids(std::span<const std::int64_t> stored, std::span<const std::int64_t> ids,
                                        const char* ids_name, const std::string& container);

/// Validates ids to remove: each in `stored` (ascending), none repeated. Returns their positions
/// in `stored`, ascending. Throws InvalidArgument naming `ids_name`, the position and the id, and
/// `container` for an id that is not stored.
std::vector<std::int64_t> removal_positions(std::span<const std::int64_t> stored, std::span<const std::int64_t> ids,
                                            const char* ids_name, const std::string& container);

/// The positions in `stored` (ascending) of a [Q x C] view of candidate ids, row by row; -1 stays
/// -1 (an empty slot). Throws InvalidArgument naming `candidates[q][j]` and the id for an id that
/// is not stored. Every id is looked up before the caller computes anything.
std::vector<std::int64_t> candidate_positions(std::span<const std::int64_t> stored,
                                              const MatrixView<const std::int64_t>& candidates);

/// Validates `ids` (range, uniqueness within the batch and against `cur`) and returns the
/// snapshot with `rows` ([n x dim] of the storage type, already prepared) added. Writes only
/// into memory no published snapshot reads. Throws InvalidArgument naming `ids_name`.
std::shared_ptr<const DenseSnapshot> append_rows(const DenseSnapshot& cur, const void* rows,
                                                 std::span<const std::int64_t> ids, const char* ids_name);

/// Validates `ids` (each stored, none repeated) and returns the snapshot without those rows.
/// Builds new arrays (positions shift, so the lineage changes and device copies re-upload).
/// Throws InvalidArgument naming `ids_name`; on error nothing is published.
std::shared_ptr<const DenseSnapshot> remove_rows(const DenseSnapshot& cur, std::span<const std::int64_t> ids,
                                                 const char* ids_name);

/// The snapshot of the rows at `positions` (ascending, each in [0, cur.size)), with their ids:
/// a subset to search (a filtered search). A new lineage; never shares memory with `cur`.
std::shared_ptr<const DenseSnapshot> gather_rows(const DenseSnapshot& cur, std::span<const std::int64_t> positions);

}  // namespace xmr::engine
