#pragma once
/// \file
/// Retrieval metrics (xmr::eval): mAP over Hamming or dense rankings with labelled items, Recall@K
/// for the image-text protocol with several captions per image (Flickr30K, COCO), precision@K,
/// recall@K against ground-truth neighbours and NDCG@K over any engine's result lists, and the
/// precision-recall curve over Hamming radius. docs/eval.md has the definitions, formulas and
/// which papers' code each reproduces.
///
/// Every function streams: it scores one query (or a bounded block of queries) against all
/// items, ranks or histograms, accumulates and moves on; the full Q x N score matrix is never
/// held. All
/// functions are thread-safe (they touch no shared state) and run queries in parallel (OpenMP).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xmr/export.h"
#include "xmr/matrix_view.h"
#include "xmr/types.h"

namespace xmr {
class Resources;
}

namespace xmr::eval {

/// Which mAP. R = number of items relevant to the query (sharing at least one label with it);
/// rank positions start at 1; prec(j) = relevant items among positions 1..j, divided by j.
enum class MapVariant : int {
  /// AP over the whole ranking: (1/R) sum over relevant positions j of prec(j). A query with
  /// R = 0 scores 0 and is counted in the mean (DCMH/DSPH `calc_map`).
  All = 0,
  /// Windowed AP@K: (1/R_K) sum over relevant positions j <= K of prec(j), R_K = relevant items
  /// in the top K; a query with R_K = 0 scores 0 (and is counted).
  AtK = 1,
  /// DCMH/DSPH `calc_map_k`: with T = min(K, R) and p_c the position of the c-th relevant item in
  /// the full ranking, (1/T) sum_{c=1..T} c / p_c; a query with R = 0 scores 0 (and is counted).
  KFirstRelevant = 2,
};

/// How items with equal distance (Hamming) or equal score (dense) are ordered.
enum class TiePolicy : int {
  /// Ties by ascending item index (a stable sort: MATLAB's `sort`, xmr's result contract).
  AscendingIndex = 0,
  /// The expected AP over all orders within each tied group, equally likely (exact, closed
  /// form per tied group; docs/eval.md).
  Average = 1,
};

/// "map_all", "map_at_k", "map_k_first_relevant".
XMR_API const char* to_string(MapVariant variant) noexcept;
/// "ascending_index", "average".
XMR_API const char* to_string(TiePolicy ties) noexcept;

/// Options of map_hamming and map_dense.
struct MapOptions {
  MapVariant variant = MapVariant::All;
  /// K: 0 for MapVariant::All (which uses the whole ranking), >= 1 otherwise (K > N is allowed
  /// and means N).
  std::int64_t k = 0;
  TiePolicy ties = TiePolicy::AscendingIndex;
  /// Where the rankings are computed. Auto: the GPU of `resources` when it is usable and the
  /// GPU path supports the request (map_dense with TiePolicy::Average runs on the CPU), else the
  /// CPU. Gpu: the GPU or Error(Unavailable); map_dense with TiePolicy::Average is then
  /// InvalidArgument. Inputs are host memory either way; the GPU streams query tiles, never
  /// holding the Q x N matrix. Per-query APs may differ from the CPU's in the last bits (the
  /// sums run in another order); the rankings are the same.
  Device device = Device::Auto;
  /// Stream and device for the GPU path; null for the calling thread's default.
  Resources* resources = nullptr;
};

/// An mAP value with the definition it was computed under.
struct MapResult {
  std::string variant;               ///< to_string(MapVariant)
  std::optional<std::int64_t> k;     ///< K as given; empty for MapVariant::All
  double map = 0.0;                  ///< mean of per_query_ap over all queries
  std::int64_t queries = 0;          ///< number of queries (all are counted, also those with R = 0)
  std::string tie_policy;            ///< to_string(TiePolicy)
  std::vector<double> per_query_ap;  ///< [queries], the AP of each query in input order
  Device device = Device::Cpu;       ///< where it ran
};

/// mAP of a Hamming ranking: each query code ranks all database codes by ascending Hamming
/// distance, ties by ascending index. No sort: per query one pass histograms (distance,
/// relevant), and the stable AP walks the items once more in index order (docs/eval.md).
/// \param query_codes  [Q x b] uint8 host memory, packed codes (xmr code format), Q >= 1, b >= 1
///                     bytes (any b: a code of 8b bits).
/// \param db_codes     [N x b] uint8 host memory, N >= 1.
/// \param query_labels [Q x C] uint8 host memory, multi-hot: every value 0 or 1, C >= 1.
/// \param db_labels    [N x C] uint8 host memory, multi-hot.
/// \throws Error InvalidArgument (a shape, stride, null pointer, a label not 0/1 (names the row,
///         column and value), options.k or options enum values), OutOfMemory.
/// Memory: O((Q + N) (b + C / 8) + threads * 18 N) bytes besides the inputs. Time
/// O(Q N (b / 8 + C / 64)).
XMR_API MapResult map_hamming(MatrixView<const std::uint8_t> query_codes, MatrixView<const std::uint8_t> db_codes,
                              MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels,
                              const MapOptions& options = {});

/// mAP of a dense ranking: each query ranks all database vectors by descending score
/// (InnerProduct, or Cosine: rows normalised first). Scores are computed in float (BLAS) for a
/// block of queries at a time (at most 16M scores, 64 MB, buffered) and ranked by a stable radix
/// sort; items tie when their float scores are equal (-0 == +0).
/// \param queries  [Q x D] float host memory, finite (Cosine: no zero row), Q >= 1, D >= 1.
/// \param database [N x D] float host memory, finite, N >= 1.
/// \param labels   as map_hamming.
/// \throws Error InvalidArgument (shapes, non-finite values, zero rows under Cosine, labels,
///         options), OutOfMemory.
/// Memory: O((Q + N) D floats + 16M floats + threads * 18 N bytes).
XMR_API MapResult map_dense(MatrixView<const float> queries, MatrixView<const float> database, Metric metric,
                            MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels,
                            const MapOptions& options = {});

/// Recall@{1,5,10} of the image-text protocol (as LAVIS reports Flickr30K and COCO retrieval),
/// as fractions in [0, 1]; the means are (R1 + R5 + R10) / 3 per direction and r_mean their mean.
struct RetrievalRecall {
  double i2t_r1 = 0, i2t_r5 = 0, i2t_r10 = 0;
  double t2i_r1 = 0, t2i_r5 = 0, t2i_r10 = 0;
  double i2t_mean = 0, t2i_mean = 0, r_mean = 0;
};

/// Recall@K with `captions_per_image` captions per image, cosine similarity. Caption t belongs to
/// image t / captions_per_image. The rank of an item (0-based) is the number of candidates
/// ordered before it: scoring strictly higher, or equal with a smaller index (ties by ascending
/// index, as everywhere in xmr). Image -> text: the best (smallest) rank among the image's
/// captions; text -> image: the rank of the caption's image. A hit at K is rank < K.
/// \param images   [I x D] float host memory, finite, no zero row, I >= 1.
/// \param texts    [T x D] float host memory, finite, no zero row, T = I * captions_per_image.
/// \param captions_per_image >= 1.
/// \throws Error InvalidArgument (shapes, T not I * captions_per_image, values), OutOfMemory.
/// Memory: O((I + T) D floats + 16M floats).
XMR_API RetrievalRecall recall_at_k(MatrixView<const float> images, MatrixView<const float> texts,
                                    std::int64_t captions_per_image = 5);

/// A metric over result lists (precision_at_k, neighbor_recall_at_k, ndcg_at_k), with the
/// definition it was computed under and what it left out.
struct MetricResult {
  std::string metric;        ///< "precision_at_k", "neighbor_recall_at_k" or "ndcg_at_k"
  std::int64_t k = 0;        ///< K as given
  double mean = 0.0;         ///< mean of per_query over the `queries` counted queries
  std::int64_t queries = 0;  ///< queries counted in the mean
  /// Queries left out of the mean, their per_query value NaN: neighbor_recall_at_k's queries
  /// whose ground-truth row is empty (recall 0/0). Always 0 for the other metrics.
  std::int64_t skipped_queries = 0;
  /// Counted queries with nothing relevant in the whole database (no item shares a label; for
  /// NDCG, IDCG = 0): they score 0 and stay in the mean. 0 for neighbor_recall_at_k.
  std::int64_t no_relevant_queries = 0;
  std::vector<double> per_query;  ///< [Q], in input order
};

/// Precision@K of result lists with label relevance (an item is relevant to a query when they
/// share at least one label): the relevant items among the first min(K, N) entries of a row,
/// divided by min(K, N). For K <= N that is the DCMH `calcMapTopkMapTopkPreTopkRecLabel` /
/// `p_topK` value (divided by K); for K > N, `p_topK` divides by N as here. Padding (-1) in the
/// window counts as not relevant. Every query is counted (one with no relevant item scores 0, as
/// in DCMH, which skips it but divides by the number of queries).
/// \param ranked       [Q x L] int64 host memory: row q holds database row indices for query q,
///                     best first; -1 is padding, only after the last index of a row. Q >= 1,
///                     L >= min(K, N) (the evaluated window must be covered).
/// \param query_labels [Q x C] uint8 host memory, multi-hot (every value 0 or 1), C >= 1.
/// \param db_labels    [N x C] uint8 host memory, multi-hot, N >= 1.
/// \param k            K >= 1; K > N is allowed (the window is then the whole database).
/// \throws Error InvalidArgument (shapes, strides, null pointers, k, a label not 0/1, an entry of
///         `ranked` outside [0, N) and not -1, -1 before an index, or an index repeated in a row:
///         each names the row, column and value), OutOfMemory.
/// Memory: O((Q + N) C / 8 + N / 8) bytes besides the inputs. Time O(Q L + Q N C / 64) (the count
/// of queries with no relevant item scans the database).
XMR_API MetricResult precision_at_k(MatrixView<const std::int64_t> ranked, MatrixView<const std::uint8_t> query_labels,
                                    MatrixView<const std::uint8_t> db_labels, std::int64_t k);

/// Recall@K against a ground-truth neighbour set: |first K entries of a row of `ranked` & the
/// row's ground truth| / |the row's ground truth| (padding never matches). With the exact top-K
/// neighbours as the ground truth (G = K) this is the id-based k-NN recall |found & true K-NN| / K
/// (big-ann-benchmarks, FAISS's knn_intersection_measure); ann-benchmarks' `knn` recall counts
/// results within the K-th true distance (+ 1e-3) instead, the same value unless items tie with
/// the K-th neighbour (docs/eval.md). A query whose ground-truth row holds no index is skipped:
/// its per_query value is NaN and it is left out of the mean (skipped_queries counts it).
/// \param ranked       [Q x L] int64 host memory, indices >= 0 best first, -1 padding at the end
///                     of a row, no index twice in a row; Q >= 1, L >= K.
/// \param ground_truth [Q x G] int64 host memory, indices >= 0 (in any order), -1 padding at the
///                     end of a row, no index twice in a row; G >= 1.
/// \param k            K in [1, L].
/// \throws Error InvalidArgument (shapes, strides, null pointers, k, an entry < -1, -1 before an
///         index, or an index repeated in a row: each names the row, column and value; every
///         ground-truth row empty), OutOfMemory.
/// Memory: O(L + G) per thread. Time O(Q (L + G) log(L + G)).
XMR_API MetricResult neighbor_recall_at_k(MatrixView<const std::int64_t> ranked,
                                          MatrixView<const std::int64_t> ground_truth, std::int64_t k);

/// NDCG@K with label-overlap gain. gain(q, i) = number of labels query q and item i share;
/// DCG@K = sum_{j=1..min(K,N)} (2^gain_j - 1) / log2(j + 1) over the entries of the row of
/// `ranked` (padding gains 0); IDCG@K = the same sum over the ideal order of ALL N database items
/// (descending gain), so every item's labels are needed. NDCG = DCG / IDCG; a query with
/// IDCG = 0 (no item shares a label) scores 0 and is counted (no_relevant_queries). This is the
/// `NDCG` of TALR (He et al., CVPR 2018) with its multi-label gain, as in multi-label hashing
/// papers; TALR's MATLAB scores an IDCG = 0 query 1 instead (docs/eval.md).
/// \param ranked, query_labels, db_labels, k  as precision_at_k.
/// \throws Error as precision_at_k.
/// Memory: O((Q + N) C / 8 + N / 8 + K) bytes. Time O(Q L + Q N C / 64): IDCG histograms the
/// gains of all N items per query (never a Q x N matrix).
XMR_API MetricResult ndcg_at_k(MatrixView<const std::int64_t> ranked, MatrixView<const std::uint8_t> query_labels,
                               MatrixView<const std::uint8_t> db_labels, std::int64_t k);

/// Precision and recall of "retrieve every item within Hamming distance r", for r = 0..B.
/// For query q with R_q > 0 relevant items (sharing a label), n_q(r) items within r of which
/// c_q(r) relevant: P_q(r) = c_q(r) / n_q(r) (0 when n_q(r) = 0), R_q(r) = c_q(r) / R_q.
struct PrCurve {
  std::int64_t bits = 0;  ///< B = 8 x code bytes; every vector below has B + 1 entries, index r
  /// The PyTorch `pr_curve` that circulates with DCMH's `calc_map_k` (DCMH/SSAH ports and the
  /// cross-modal hashing code built on them; docs/eval.md): sum of P_q(r) over the queries with
  /// c_q(r) > 0, divided by their number queries_with_hit[r] (0 when none). Queries with R_q = 0
  /// are skipped.
  std::vector<double> precision;
  /// sum of R_q(r) over the same queries, divided by the same queries_with_hit[r] (as `pr_curve`
  /// does: not by the number of queries).
  std::vector<double> recall;
  std::vector<std::int64_t> queries_with_hit;  ///< queries with R_q > 0 and c_q(r) > 0
  /// Pooled over all (query, item) pairs, DCMH's MATLAB `calcPreRecRadiusLabel`:
  /// sum_q c_q(r) / sum_q n_q(r) (0 when no pair is within r).
  std::vector<double> pooled_precision;
  /// sum_q c_q(r) / sum_q R_q (0 when no query has a relevant item).
  std::vector<double> pooled_recall;
  std::int64_t queries = 0;              ///< Q
  std::int64_t no_relevant_queries = 0;  ///< queries with R_q = 0
};

/// PR curve over Hamming radius 0..B (definitions at PrCurve). Streams: per query a histogram of
/// (distance, relevant) counts, O(B) numbers, never the Q x N distances.
/// \param query_codes, db_codes, query_labels, db_labels  as map_hamming.
/// \throws Error InvalidArgument (as map_hamming), OutOfMemory.
/// Memory: O((Q + N) (b + C / 8) + min(Q, 1024) B) bytes. Time O(Q N (b / 8 + C / 64)).
XMR_API PrCurve pr_curve_hamming(MatrixView<const std::uint8_t> query_codes, MatrixView<const std::uint8_t> db_codes,
                                 MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels);

}  // namespace xmr::eval
