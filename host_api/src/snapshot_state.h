#pragma once
// The snapshot state every index class shares: searches copy the current snapshot pointer
// (the lock is held only for the copy), adds run one at a time and publish a whole new snapshot,
// so a search sees an index before or after an add, never in between, and a failed add
// publishes nothing.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "common/check.h"
#include "dense/storage.h"

namespace xmr::detail {

class SnapshotState {
 public:
  explicit SnapshotState(std::shared_ptr<const engine::DenseSnapshot> empty) : snap_(std::move(empty)) {}

  [[nodiscard]] std::shared_ptr<const engine::DenseSnapshot> current() const {
    std::lock_guard lock(snap_mutex_);
    return snap_;
  }

  /// Appends `n` prepared rows (dense, the snapshot's row size) with caller ids, or with
  /// sequential ids when `ids` is null, and publishes the result. Throws (and publishes nothing)
  /// on invalid ids or allocation failure.
  void append(const void* rows, std::int64_t n, const std::span<const std::int64_t>* ids) {
    std::lock_guard wlock(write_mutex_);
    const auto cur = current();
    std::vector<std::int64_t> seq;
    std::span<const std::int64_t> id_span;
    if (ids != nullptr) {
      id_span = *ids;
    } else {
      seq.resize(to_size(n));
      engine::sequential_ids(*cur, seq);
      id_span = seq;
    }
    auto next = engine::append_rows(*cur, rows, id_span, "ids");
    std::lock_guard slock(snap_mutex_);
    snap_ = std::move(next);
  }

  /// Removes the rows with `ids` (each stored, none repeated) and publishes the result. Throws
  /// (and publishes nothing) on an unknown or repeated id or allocation failure.
  void remove(std::span<const std::int64_t> ids) {
    std::lock_guard wlock(write_mutex_);
    auto next = engine::remove_rows(*current(), ids, "ids");
    std::lock_guard slock(snap_mutex_);
    snap_ = std::move(next);
  }

  /// Publishes a snapshot built from current() elsewhere (a Collection's add or remove, which
  /// builds the snapshots of all its indexes first and then publishes them together).
  void publish(std::shared_ptr<const engine::DenseSnapshot> next) {
    std::lock_guard wlock(write_mutex_);
    std::lock_guard slock(snap_mutex_);
    snap_ = std::move(next);
  }

 private:
  std::mutex write_mutex_;         // one add at a time
  mutable std::mutex snap_mutex_;  // guards snap_, held only to copy or swap it
  std::shared_ptr<const engine::DenseSnapshot> snap_;
};

}  // namespace xmr::detail
