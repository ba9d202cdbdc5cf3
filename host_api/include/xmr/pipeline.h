#pragma once
/// \file
/// Multi-stage retrieval over a Collection: a cheap shortlist (stage 1), an exact re-score
/// (stage 2), a caller-supplied cross-encoder re-rank (stage 3), score fusion, filters and
/// group-by, for a whole batch of queries in one call; and the CrossModalIndex that pairs an
/// image and a text collection for image-query-text and text-query-image retrieval.
///
/// This is BLIP-2's retrieval protocol as one batched call: take C = 128 candidates per query by
/// embedding similarity (ITC), score each (query, candidate) pair with the image-text-matching
/// head (ITM), rank by ITM + ITC, everything outside the shortlist below (see docs/pipeline.md
/// and examples/blip2_flow.cpp).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "xmr/collection.h"
#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/multi_vector_index.h"
#include "xmr/resources.h"
#include "xmr/types.h"

struct CUstream_st;

namespace xmr {

/// What stage 1 ranks by.
enum class ShortlistBy : int {
  Embeddings = 0,   ///< the collection's dense embeddings (cosine / inner product)
  MultiVector = 1,  ///< its multi-vector items (PipelineOptions::reduce)
  Codes = 2,        ///< Hamming distance over its binary codes
};

/// What stage 2 re-scores the shortlist with (exact, from the stored full-precision vectors).
enum class RescoreBy : int {
  None = 0,
  Embeddings = 1,
  MultiVector = 2,
};

/// How the final score of a candidate is made from its stage scores. The stage-1 score of a
/// Hamming shortlist is the code similarity 1 - 2 d / B (the inner product of the +-1 codes
/// over B), so every stage score is "higher is better".
enum class FusionMode : int {
  /// The score of the last stage that ran (re-rank, else re-score, else shortlist).
  Replace = 0,
  /// The re-rank score plus the similarity score, where the similarity is the re-score when
  /// stage 2 ran, else the shortlist score (BLIP-2: ITM + ITC). Without a re-rank: as Replace.
  Sum = 1,
  /// shortlist_weight * s1 + rescore_weight * s2 + rerank_weight * s3 over the stages that ran.
  Weighted = 2,
};

struct Fusion {
  FusionMode mode = FusionMode::Replace;
  float shortlist_weight = 0.0f;  ///< finite (Weighted only)
  float rescore_weight = 0.0f;    ///< finite (Weighted only)
  float rerank_weight = 1.0f;     ///< finite (Weighted only)
};

/// Restricts results to items that carry any of `any_labels`, all of `all_labels`, and whose id
/// is set in `id_bitset` (bit id % 64 of word id / 64; ids past the bitset are excluded); each
/// part applies only when non-empty. Applied inside stage 1: a filtered call returns k results
/// whenever k items pass (and the shortlist is C of the items that pass).
struct Filter {
  std::vector<std::int64_t> any_labels{};  ///< label indices in [0, num_labels)
  std::vector<std::int64_t> all_labels{};  ///< label indices in [0, num_labels)
  std::vector<std::uint64_t> id_bitset{};  ///< allowed ids, or empty for no id restriction

  [[nodiscard]] bool empty() const noexcept { return any_labels.empty() && all_labels.empty() && id_bitset.empty(); }
};

/// A bitset for Filter::id_bitset with exactly `ids` set (each in [0, 2^40)).
XMR_API std::vector<std::uint64_t> make_id_bitset(std::span<const std::int64_t> ids);

/// One batch of (query, candidate) pairs for a cross-encoder. All spans have one entry per
/// pair and stay valid during the call only. Pairs of one query are contiguous, in stage order
/// (best similarity first).
struct PairBatch {
  std::span<const std::int64_t> query_rows{};     ///< the query's row in the call's queries
  std::span<const std::int64_t> query_ids{};      ///< the query's id (Queries::ids), or -1
  std::span<const std::int64_t> candidate_ids{};  ///< the candidate's id in the collection
  std::span<const float> similarity{};            ///< its stage-2 score, or stage-1 without one
  /// The stream borrowed by the call's Resources (null when the Resources owns its stream or
  /// when none was given): a scorer that runs on the GPU should enqueue its work there.
  CUstream_st* stream = nullptr;
  std::int64_t batch_index = 0;  ///< 0, 1, ... within the call
};

/// A cross-encoder (stage 3): scores (query, candidate) pairs, higher is better. When a
/// pipeline runs it with several host threads, `score` is called concurrently (on different
/// batches) and must be thread-safe. It may throw: the pipeline call then fails with
/// ErrorCode::Callback (the scorer's own code if it throws xmr::Error), naming the batch and
/// the message, and every index stays usable.
class XMR_API PairScorer {
 public:
  virtual ~PairScorer() = default;
  /// Writes `scores[i]` for pair i (`scores.size()` = number of pairs). NaN is an error.
  virtual void score(const PairBatch& pairs, std::span<float> scores) = 0;
};

/// The std::function form of PairScorer.
using PairScoreFn = std::function<void(const PairBatch& pairs, std::span<float> scores)>;

/// Options of a pipeline call (C++20 designated initialisers).
struct PipelineOptions {
  std::int64_t k = 10;            ///< final results per query (or groups, with group_by), >= 1
  std::int64_t candidates = 128;  ///< shortlist size C per query, >= k (BLIP-2's k_test)
  ShortlistBy shortlist = ShortlistBy::Embeddings;
  RescoreBy rescore = RescoreBy::None;
  MultiVectorReduce reduce = MultiVectorReduce::MaxSim;  ///< for ShortlistBy/RescoreBy::MultiVector
  PairScorer* scorer = nullptr;                          ///< stage 3, or null (at most one of scorer and score_fn)
  PairScoreFn score_fn{};                                ///< stage 3 as a function, or empty
  /// At most this many pairs per scorer call (>= 1), except that a listwise call holds at least
  /// one whole query.
  std::int64_t scorer_batch = 256;
  /// Listwise re-ranking: every scorer call gets whole queries (all of a query's candidates in
  /// one call, as many queries as fit in scorer_batch), for a re-ranker that compares a query's
  /// candidates with each other (an MLLM that picks one candidate out of the shortlist).
  bool listwise = false;
  int scorer_threads = 1;  ///< host threads calling the scorer (>= 1)
  /// Queries per chunk of the pipeline: with a scorer, stage 1 of chunk i + 1 runs while the
  /// scorer works on chunk i. 0 = every query in one chunk (no overlap).
  std::int64_t query_chunk = 0;
  Fusion fusion{};
  Filter filter{};
  /// Collapse results to distinct group ids (best fused score per group, that item's id); the
  /// groups are found among the C candidates, so C should cover k groups.
  bool group_by = false;
  std::optional<Device> device{};  ///< of stage 1 (overrides the collection's device)
  Resources* resources = nullptr;  ///< null: the calling thread's default
};

/// Per-call timings (seconds, wall clock) and counts.
struct PipelineStats {
  double shortlist_seconds = 0;  ///< stage 1, summed over chunks
  double rescore_seconds = 0;
  double rerank_seconds = 0;         ///< stage 3 (the scorer's time included)
  double fusion_seconds = 0;         ///< fusion, ordering, group-by and output
  double total_seconds = 0;          ///< the whole call (less than the sum when stages overlap)
  std::int64_t filtered_items = -1;  ///< items that pass the filter (-1: no filter)
  std::int64_t shortlisted = 0;      ///< candidates found by stage 1 (all queries)
  std::int64_t rescored = 0;         ///< pairs re-scored by stage 2
  std::int64_t reranked = 0;         ///< pairs scored by stage 3
  std::int64_t scorer_calls = 0;     ///< batches given to the scorer
};

/// Result of a pipeline call: [num_queries x k], row-major, best first (descending final score,
/// ties by ascending id); empty slots have id -1 and score -inf.
struct PipelineResult {
  std::int64_t num_queries = 0;
  std::int64_t k = 0;
  std::vector<std::int64_t> ids{};     ///< [Q x k]
  std::vector<float> scores{};         ///< [Q x k] fused scores
  std::vector<std::int64_t> groups{};  ///< [Q x k] group ids with group_by (else empty); -1 empty
  /// The stage scores of each result ([Q x k] each; empty when the stage did not run; NaN in
  /// empty slots).
  std::vector<float> shortlist_scores{};
  std::vector<float> rescore_scores{};
  std::vector<float> rerank_scores{};
  PipelineStats stats{};
  Device device = Device::Cpu;  ///< where stage 1 ran

  [[nodiscard]] std::int64_t id(std::int64_t q, std::int64_t j) const {
    return ids[static_cast<std::size_t>(q * k + j)];
  }
  [[nodiscard]] float score(std::int64_t q, std::int64_t j) const {
    return scores[static_cast<std::size_t>(q * k + j)];
  }
};

/// Queries of a pipeline call: Q queries, given by whatever the stages use (embeddings for
/// ShortlistBy/RescoreBy::Embeddings, vectors for MultiVector, codes for Codes; unused fields
/// may be empty), all host memory.
struct Queries {
  MatrixView<const float> embeddings{};    ///< [Q x dim]
  MultiVectorBatch vectors{};              ///< Q entries
  MatrixView<const std::uint8_t> codes{};  ///< [Q x code_bits / 8]
  std::span<const std::int64_t> ids{};     ///< [Q] ids handed to the scorer, or empty (-1)
};

/// Runs the pipeline for a batch of queries against `target`.
/// \throws Error InvalidArgument (options, shapes, values, a stage the collection cannot serve:
///         naming the option), Unavailable, OutOfMemory, Device, Callback (the scorer threw or
///         returned NaN). The collection is never modified.
XMR_API PipelineResult retrieve(const Collection& target, const Queries& queries, const PipelineOptions& options);

/// Direction of a cross-modal search.
enum class Direction : int {
  ImageToText = 0,  ///< image queries, text results (IqT / i2t)
  TextToImage = 1,  ///< text queries, image results (TqI / t2i)
};

/// An image collection and a text collection in one shared embedding space (CLIP-like
/// encoders, BLIP-2's ITC space, cross-modal hashing codes): both directions are one call, by
/// items of the other collection or by new query vectors.
class XMR_API CrossModalIndex {
 public:
  /// Takes both collections. What each direction needs of them is checked per call, for the
  /// stages the call runs (InvalidArgument naming the collection and the option): by query ids,
  /// the query side must store what the stages search by, with the same dimension or code
  /// length as the other side; a multi-vector stage takes the query side's vectors, or its
  /// embeddings as one vector per query (a BLIP-2 text's ITC feature against an image's 32
  /// query-token features).
  CrossModalIndex(Collection images, Collection texts);
  ~CrossModalIndex();
  CrossModalIndex(CrossModalIndex&&) noexcept;
  CrossModalIndex& operator=(CrossModalIndex&&) noexcept;

  [[nodiscard]] Collection& images() noexcept;
  [[nodiscard]] Collection& texts() noexcept;
  [[nodiscard]] const Collection& images() const noexcept;
  [[nodiscard]] const Collection& texts() const noexcept;

  /// Queries by new vectors: image queries against the texts (ImageToText) or text queries
  /// against the images (TextToImage).
  [[nodiscard]] PipelineResult search(Direction direction, const Queries& queries,
                                      const PipelineOptions& options) const;
  /// Queries by stored items of the query side (image ids for ImageToText, text ids for
  /// TextToImage): their stored embeddings, vectors and codes are the queries, and their ids
  /// are handed to the scorer.
  [[nodiscard]] PipelineResult search(Direction direction, std::span<const std::int64_t> query_ids,
                                      const PipelineOptions& options) const;

 private:
  std::unique_ptr<Collection> images_;
  std::unique_ptr<Collection> texts_;
};

}  // namespace xmr
