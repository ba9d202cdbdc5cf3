#pragma once
/// \file
/// A collection: the items of one modality (images, or texts) with 64-bit ids and any of dense
/// embeddings, several embeddings per item (multi-vector), binary codes, multi-hot labels and a
/// group id (e.g. the image a caption belongs to). The unit a retrieval pipeline
/// (xmr/pipeline.h) searches, and one side of a CrossModalIndex.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xmr/binary_index.h"
#include "xmr/dense_index.h"
#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/multi_vector_index.h"
#include "xmr/types.h"

namespace xmr {

/// What a collection stores. A field of 0 / false is absent; at least one of `dim`,
/// `multi_vector_dim` and `code_bits` must be set (something to search by).
struct CollectionOptions {
  std::string name = "collection";    ///< used in error messages, e.g. "images"
  std::int64_t dim = 0;               ///< one embedding per item, of this dimension
  Metric metric = Metric::Cosine;     ///< of the embeddings and of the multi-vector similarity
  DType storage = DType::F32;         ///< of the embeddings
  std::int64_t multi_vector_dim = 0;  ///< several vectors per item, of this dimension
  std::int64_t code_bits = 0;         ///< a binary code per item: a multiple of 8 in [8, 4096]
  std::int64_t num_labels = 0;        ///< multi-hot labels per item, in [1, 65536]
  bool groups = false;                ///< a group id per item
  Device device = Device::Auto;       ///< default device of the searches
};

/// Items to add: n items; every field the collection stores must be given (for n items), every
/// other field must be empty. All host memory.
struct CollectionBatch {
  std::span<const std::int64_t> ids{};      ///< [n] ids, or empty for sequential ids
  MatrixView<const float> embeddings{};     ///< [n x dim]
  MultiVectorBatch vectors{};               ///< n items of multi_vector_dim-dimensional vectors
  MatrixView<const std::uint8_t> codes{};   ///< [n x code_bits / 8] packed (xmr/binary_index.h)
  MatrixView<const std::uint8_t> labels{};  ///< [n x num_labels], 0 or 1 (multi-hot)
  std::span<const std::int64_t> groups{};   ///< [n] group ids, each >= 0
};

/// The items of one modality, stored in the indexes a pipeline needs (a DenseIndex for the
/// embeddings, a MultiVectorIndex for multi-vector items, a BinaryIndex for the codes), which
/// all hold the same ids, plus labels and group ids.
///
/// **Thread safety**: every member function may be called concurrently; `add` and `remove` are
/// atomic for searches (a search sees every part of the collection before or after, never
/// between) and wait for running searches. A failed call leaves the collection unchanged.
class XMR_API Collection {
 public:
  /// Throws InvalidArgument (naming the field) for an invalid option.
  explicit Collection(const CollectionOptions& options);
  ~Collection();
  Collection(Collection&&) noexcept;
  Collection& operator=(Collection&&) noexcept;
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  /// Adds items (see CollectionBatch). Ids: in [0, 2^63 - 2], distinct, not yet stored; without
  /// ids, (largest id so far + 1), (+ 2), ...
  /// \throws Error InvalidArgument (a missing or extra field, a shape, a value: naming the field,
  ///         the row and the value), OutOfMemory. On error the collection is unchanged.
  void add(const CollectionBatch& items);
  /// Removes the items with these ids (each stored, none repeated).
  void remove(std::span<const std::int64_t> ids);

  [[nodiscard]] const CollectionOptions& options() const noexcept;
  [[nodiscard]] std::int64_t size() const;
  /// The stored ids, ascending.
  [[nodiscard]] std::vector<std::int64_t> ids() const;
  /// True when `id` is stored.
  [[nodiscard]] bool contains(std::int64_t id) const;

  /// The group id of each of `ids` (a collection with groups; InvalidArgument otherwise or for
  /// an unknown id).
  [[nodiscard]] std::vector<std::int64_t> groups_of(std::span<const std::int64_t> ids) const;
  /// The labels of each of `ids`: [ids.size() x num_labels] 0/1 bytes.
  [[nodiscard]] std::vector<std::uint8_t> labels_of(std::span<const std::int64_t> ids) const;
  /// The stored embeddings of `ids` ([ids.size() x dim], normalised under cosine; fp16 storage
  /// widened to float).
  [[nodiscard]] std::vector<float> embeddings_of(std::span<const std::int64_t> ids) const;
  /// The stored codes of `ids` ([ids.size() x code_bits / 8]).
  [[nodiscard]] std::vector<std::uint8_t> codes_of(std::span<const std::int64_t> ids) const;
  /// The stored vectors of `ids`, concatenated, with offsets [ids.size() + 1].
  void vectors_of(std::span<const std::int64_t> ids, std::vector<float>& vectors,
                  std::vector<std::int64_t>& offsets) const;

  /// The underlying indexes, for direct searches (null when the collection has no such field).
  /// They must not be modified other than through the collection.
  [[nodiscard]] const DenseIndex* embedding_index() const noexcept;
  [[nodiscard]] const MultiVectorIndex* multi_vector_index() const noexcept;
  [[nodiscard]] const BinaryIndex* code_index() const noexcept;

  struct Impl;
  /// Internal state (not part of the stable API).
  [[nodiscard]] Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmr
