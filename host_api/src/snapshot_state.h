#pragma once
// The snapshot state every index class shares: searches copy the current snapshot pointer
// (the lock is held only for the copy), changes run one at a time and publish a whole new
// snapshot, so a search sees an index before or after a change, never in between, and a failed
// change publishes nothing.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "common/check.h"
#include "dense/storage.h"

namespace xmr::detail {

/// The current snapshot of type `Snap` and the locks around it.
template <class Snap>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<const Snap> empty) : snap_(std::move(empty)) {}

  [[nodiscard]] std::shared_ptr<const Snap> current() const {
    std::lock_guard lock(snap_mutex_);
    return snap_;
  }

  /// Builds the next snapshot with `make(current)` under the write lock and publishes it; a
  /// `make` that throws publishes nothing.
  template <class Make>
  void update(Make&& make) {
    std::lock_guard wlock(write_mutex_);
    std::shared_ptr<const Snap> next = make(*current());
    std::lock_guard slock(snap_mutex_);
    snap_ = std::move(next);
  }

  /// update() with the ids of an add: the caller's (`ids` not null) or `n` sequential ones (largest
  /// id + 1, + 2, ...), as `make(current, ids)` takes them.
  template <class Make>
  void append(std::int64_t n, const std::span<const std::int64_t>* ids, Make&& make) {
    update([&](const Snap& cur) {
      if (ids != nullptr) return make(cur, *ids);
      std::vector<std::int64_t> seq(to_size(n));
      sequential_ids(cur, seq);  // found by ADL: engine has one per snapshot type
      return make(cur, std::span<const std::int64_t>(seq));
    });
  }

  /// Publishes a snapshot built from current() elsewhere (a Collection's add or remove, which
  /// builds the snapshots of all its indexes first and then publishes them together).
  void publish(std::shared_ptr<const Snap> next) {
    update([&](const Snap&) { return std::move(next); });
  }

 private:
  std::mutex write_mutex_;         // one change at a time
  mutable std::mutex snap_mutex_;  // guards snap_, held only to copy or swap it
  std::shared_ptr<const Snap> snap_;
};

/// The state of a dense or binary index (rows of a DenseSnapshot).
class SnapshotState : public SnapshotCell<engine::DenseSnapshot> {
 public:
  using SnapshotCell::SnapshotCell;

  /// Appends `n` prepared rows (dense, the snapshot's row size) with caller ids, or with
  /// sequential ids when `ids` is null, and publishes the result. Throws (and publishes nothing)
  /// on invalid ids or allocation failure.
  void append(const void* rows, std::int64_t n, const std::span<const std::int64_t>* ids) {
    SnapshotCell::append(n, ids, [&](const engine::DenseSnapshot& cur, std::span<const std::int64_t> id_span) {
      return engine::append_rows(cur, rows, id_span, "ids");
    });
  }

  /// Removes the rows with `ids` (each stored, none repeated) and publishes the result. Throws
  /// (and publishes nothing) on an unknown or repeated id or allocation failure.
  void remove(std::span<const std::int64_t> ids) {
    update([&](const engine::DenseSnapshot& cur) { return engine::remove_rows(cur, ids, "ids"); });
  }
};

}  // namespace xmr::detail
