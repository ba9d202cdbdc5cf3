#pragma once
// Collection's state, shared by collection.cpp and the pipeline.
//
// The collection's indexes all hold the same ids, so an id has the same position (rank among
// the ascending ids) in each of them and in the collection's own arrays (`Meta`). Adds and
// removes take the collection's lock exclusively and build every next snapshot before
// publishing any; the pipeline holds the lock shared for the whole call, so it sees one
// consistent version of every part.

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "xmr/collection.h"

namespace xmr {

namespace detail {

/// A collection's ids (ascending) and, by position, its labels and group ids.
struct CollectionMeta {
  std::vector<std::int64_t> ids;
  std::vector<std::uint64_t> labels;  ///< [size x label_words], bit l of row r: item r has label l
  std::vector<std::int64_t> groups;   ///< [size] when the collection has groups

  [[nodiscard]] std::int64_t size() const noexcept { return static_cast<std::int64_t>(ids.size()); }
  /// Position of `id`, or -1 when it is not stored.
  [[nodiscard]] std::int64_t position(std::int64_t id) const noexcept;
};

}  // namespace detail

struct Collection::Impl {
  CollectionOptions options;
  std::int64_t label_words = 0;  ///< 64-bit words per label row
  mutable std::shared_mutex mutex;
  std::unique_ptr<DenseIndex> dense;
  std::unique_ptr<MultiVectorIndex> multi_vector;
  std::unique_ptr<BinaryIndex> codes;
  std::shared_ptr<const detail::CollectionMeta> meta;  // replaced under the exclusive lock

  /// Positions of `ids` (InvalidArgument naming `name`, the index and the id for one that is not
  /// stored).
  [[nodiscard]] std::vector<std::int64_t> positions_of(std::span<const std::int64_t> ids, const char* name) const;
};

}  // namespace xmr
