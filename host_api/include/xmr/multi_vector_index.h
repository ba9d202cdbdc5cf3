#pragma once
/// \file
/// Exact multi-vector (late-interaction) search: every item, and every query, is a set of
/// vectors. BLIP-2's Q-Former gives 32 x 256-d query-token vectors per image and scores an
/// image against a text by the maximum cosine over them; ColBERT-style token alignment scores a
/// query against an item by the sum over query vectors of the maximum over item vectors.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "xmr/dense_index.h"
#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmr {

/// How the per-vector similarities of a (query, item) pair reduce to one score. With s(a, b)
/// the similarity of two vectors (inner product, or cosine) over query vectors a and item
/// vectors b:
enum class MultiVectorReduce : int {
  MaxSim = 0,     ///< max over a, b of s(a, b) (BLIP-2's ITC score)
  SumMaxSim = 1,  ///< sum over a of max over b of s(a, b) (ColBERT's late interaction)
};

/// A batch of multi-vector items or queries, all host memory: the vectors of entry i are rows
/// [offsets[i], offsets[i + 1]) of `vectors`. `offsets` has n + 1 entries, starts at 0, ends at
/// vectors.rows() and strictly increases (every entry has at least one vector). Empty `offsets`
/// means one vector per entry (n = vectors.rows()): single-vector queries against
/// multi-vector items.
struct MultiVectorBatch {
  MatrixView<const float> vectors{};        ///< [total x D]
  std::span<const std::int64_t> offsets{};  ///< [n + 1], or empty

  /// Number of entries n.
  [[nodiscard]] std::int64_t size() const noexcept {
    return offsets.empty() ? vectors.rows() : static_cast<std::int64_t>(offsets.size()) - 1;
  }
};

/// How a MultiVectorIndex stores and compares vectors.
struct MultiVectorIndexOptions {
  std::int64_t dim = 0;            ///< vector dimension D (>= 1)
  Metric metric = Metric::Cosine;  ///< per-vector similarity (cosine normalises every vector)
  Device device = Device::Auto;    ///< default device of searches
};

/// Per-call options of a multi-vector search.
struct MultiVectorSearchOptions {
  MultiVectorReduce reduce = MultiVectorReduce::MaxSim;
  std::optional<Device> device{};  ///< overrides the index's device for this call
  Resources* resources = nullptr;  ///< null: the calling thread's default
};

/// Exact multi-vector index: N items of 64-bit ids, each a set of one or more D-dimensional
/// fp32 vectors.
///
/// **Result contract**: as DenseIndex (descending score, ties by ascending id, padding id -1 and
/// score -inf). CPU and GPU agree within float rounding.
///
/// **Computation**: one GEMM over all query vectors and all item vectors of a tile (BLAS on the
/// CPU, cuBLAS on the GPU), then the segmented max per (query vector, item) and the reduction
/// per (query, item), fused before the top-k selection; scratch memory is bounded by the
/// Resources budget. A tile never splits a query or an item; Resources::set_tile_caps caps the
/// queries per query tile (max_query_rows) and the item *vectors* per item tile (max_db_rows),
/// and an item with more vectors than that cap gets a tile of its own. SumMaxSim sums the
/// per-query-vector maxima in fp32 in ascending query-vector order. A NaN similarity (an fp32
/// dot product that overflowed) makes its (query, item) score NaN, which ranks last.
///
/// **GPU**: k <= 2048 (the chunked selection path); a larger k throws InvalidArgument when the
/// GPU is requested explicitly, and Device::Auto runs such a search on the CPU.
///
/// **Ids, threads, failures**: as DenseIndex: ids in [0, 2^63 - 2], unique; every member
/// function may be called concurrently; a failed call changes nothing. At most 2^32 - 2 items
/// and 2^32 - 2 vectors.
class XMR_API MultiVectorIndex {
 public:
  /// Throws InvalidArgument when `options.dim < 1` or an enum is out of range.
  explicit MultiVectorIndex(const MultiVectorIndexOptions& options);
  ~MultiVectorIndex();
  MultiVectorIndex(MultiVectorIndex&&) noexcept;
  MultiVectorIndex& operator=(MultiVectorIndex&&) noexcept;
  MultiVectorIndex(const MultiVectorIndex&) = delete;
  MultiVectorIndex& operator=(const MultiVectorIndex&) = delete;

  /// Appends items with sequential ids (largest id so far + 1, or 0 when empty).
  /// \param items vectors [total x D] host memory, finite; under cosine no zero-norm vector.
  /// \throws Error InvalidArgument (shape, offsets, values), OutOfMemory; then nothing changed.
  void add(const MultiVectorBatch& items);
  /// Appends items with caller ids (`ids.size() == items.size()`), unique and not yet stored.
  void add(const MultiVectorBatch& items, std::span<const std::int64_t> ids);

  /// Removes the items with these ids (each stored, none repeated).
  void remove(std::span<const std::int64_t> ids);

  /// Batch k-NN search of multi-vector queries; see the class comment.
  /// \param queries Q entries of D-dimensional vectors (Q may be 0).
  /// \param k       results per query, >= 1.
  /// \throws Error InvalidArgument (shape, offsets, values, k (also k > 2048 on the GPU), empty
  ///         index), Unavailable, OutOfMemory (also a query and an item too large for the
  ///         workspace budget), Device.
  [[nodiscard]] SearchResult search(const MultiVectorBatch& queries, std::int64_t k,
                                    const MultiVectorSearchOptions& options = {}) const;
  /// As search(), into caller [Q x k] host views; returns the device it ran on.
  Device search_into(const MultiVectorBatch& queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                     MatrixView<float> out_scores, const MultiVectorSearchOptions& options = {}) const;

  /// Exact scores of given candidates (see DenseIndex::rescore): `candidates` [Q x C] ids, -1
  /// for an empty slot (score -inf), others stored; `out_scores` [Q x C]. Accumulated in double.
  /// Runs on the CPU.
  void rescore(const MultiVectorBatch& queries, MatrixView<const std::int64_t> candidates, MatrixView<float> out_scores,
               MultiVectorReduce reduce = MultiVectorReduce::MaxSim) const;

  /// The stored vectors of these items (after cosine normalisation), concatenated in the order
  /// of `ids`, with their offsets ([ids.size() + 1]). Throws InvalidArgument for an unknown id.
  void reconstruct(std::span<const std::int64_t> ids, std::vector<float>& vectors,
                   std::vector<std::int64_t>& offsets) const;

  [[nodiscard]] std::int64_t size() const;         ///< number of items
  [[nodiscard]] std::int64_t num_vectors() const;  ///< number of stored vectors
  [[nodiscard]] std::int64_t dim() const noexcept;
  [[nodiscard]] Metric metric() const noexcept;
  [[nodiscard]] Device device() const noexcept;
  [[nodiscard]] std::vector<std::int64_t> ids() const;  ///< ascending

  struct Impl;
  /// Internal state (not part of the stable API).
  [[nodiscard]] Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_{};
};

}  // namespace xmr
