#pragma once
// Internal state of xmr::MultiVectorIndex (not installed): the snapshot state and the search
// entry points that other parts of the library (filtered pipeline search) build on.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "common/check.h"
#include "gpu/gpu_api.h"
#include "multi_vector/storage.h"
#include "snapshot_state.h"
#include "xmr/multi_vector_index.h"

namespace xmr::detail {

/// Shape, offsets and pointer checks of a multi-vector batch of `dim`-dimensional vectors (errors
/// name `name`: "items", "queries", ...); values are checked when they are prepared. Returns
/// the number of entries.
std::int64_t check_multi_vector_batch(const MultiVectorBatch& batch, const char* name, std::int64_t dim);

/// The snapshot state of a multi-vector index (SnapshotCell, as SnapshotState for dense ones).
class MultiVectorState : public SnapshotCell<engine::MultiVectorSnapshot> {
 public:
  using SnapshotCell::SnapshotCell;

  /// Appends items (prepared fp32 `vectors`, dense, item j = rows [offsets[j], offsets[j + 1]))
  /// with caller ids, or with sequential ids when `ids` is null, and publishes the result.
  /// Throws (and publishes nothing) on invalid ids, limits or allocation failure.
  void append(const float* vectors, std::span<const std::int64_t> offsets, const std::span<const std::int64_t>* ids) {
    const auto n = static_cast<std::int64_t>(offsets.size()) - 1;
    SnapshotCell::append(n, ids, [&](const engine::MultiVectorSnapshot& cur, std::span<const std::int64_t> id_span) {
      return engine::append_items(cur, vectors, offsets, id_span, "ids");
    });
  }

  /// Removes the items with `ids` (each stored, none repeated) and publishes the result.
  void remove(std::span<const std::int64_t> ids) {
    update([&](const engine::MultiVectorSnapshot& cur) { return engine::remove_items(cur, ids, "ids"); });
  }
};

}  // namespace xmr::detail

namespace xmr {

struct MultiVectorIndex::Impl {
  MultiVectorIndexOptions options;
  detail::MultiVectorState state;
  /// Device copies of the current snapshot's vectors (one per device).
  mutable engine::gpu::MirrorCache mirror_cache;

  Impl(const MultiVectorIndexOptions& o, std::shared_ptr<const engine::MultiVectorSnapshot> empty)
      : options(o), state(std::move(empty)) {}

  [[nodiscard]] std::shared_ptr<const engine::MultiVectorSnapshot> current() const { return state.current(); }
  /// The index's device-copy cache: pass it to search_snapshot() with snapshots of this index
  /// (current()) only. A gather_items() subset has a fresh lineage, so it would evict the index's
  /// copy: pass null for those.
  [[nodiscard]] engine::gpu::MirrorCache& mirrors() const { return mirror_cache; }

  /// Exact search over `snap` (the current snapshot, or an engine::gather_items() subset of it);
  /// results carry snap's ids. Validates everything first (queries, k, output views [Q x k],
  /// options; InvalidArgument naming the argument), resolves the device (options.device, else
  /// the index's; Auto takes the CPU when min(k, snap.size) exceeds the GPU's largest k), then
  /// searches. An empty `snap` gives all padding (id -1, score -inf) with no error: the public
  /// search() rejects an empty index itself. `mirrors`: the device-copy cache for `snap`; null =
  /// a temporary one (the snapshot is uploaded for this call only). Host buffers; synchronous.
  Device search_snapshot(const engine::MultiVectorSnapshot& snap, engine::gpu::MirrorCache* mirrors,
                         const MultiVectorBatch& queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                         MatrixView<float> out_scores, const MultiVectorSearchOptions& opts) const;

  /// Shape, offsets and pointer checks of a batch (`name` = "items" or "queries"); values are
  /// checked when they are prepared.
  void check_batch(const MultiVectorBatch& batch, const char* name) const;
  /// The checks of search() before anything is allocated, including a non-empty index.
  void check_search(const MultiVectorBatch& queries, std::int64_t k, const MultiVectorSearchOptions& opts,
                    const engine::MultiVectorSnapshot& s) const;
  /// Validated queries as the backends take them: fp32 vectors (normalised under cosine), dense,
  /// and their offsets ([Q + 1]; made up for a batch without offsets).
  void prepare_queries(const MultiVectorBatch& queries, std::vector<float>& vectors,
                       std::vector<std::int64_t>& offsets) const;

  /// `ids` null: sequential ids.
  void add(const MultiVectorBatch& items, const std::span<const std::int64_t>* ids);
  void rescore(const MultiVectorBatch& queries, MatrixView<const std::int64_t> candidates, MatrixView<float> out_scores,
               MultiVectorReduce reduce) const;
};

}  // namespace xmr
