#pragma once
/// \file
/// Retrieval metrics (xmr::eval): mAP over Hamming or dense rankings with labelled items, and
/// Recall@K for the image-text protocol with several captions per image (Flickr30K, COCO).
/// docs/eval.md has the definitions, formulas and which papers use which variant.
///
/// Every function streams: it scores one query (or a bounded block of queries) against all
/// items, ranks, accumulates and moves on; the full Q x N score matrix is never held. All
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
/// distance (a counting sort per query, so ties come out by ascending index for free).
/// \param query_codes  [Q x b] uint8 host memory, packed codes (xmr code format), Q >= 1, b >= 1
///                     bytes (any b: a code of 8b bits).
/// \param db_codes     [N x b] uint8 host memory, N >= 1.
/// \param query_labels [Q x C] uint8 host memory, multi-hot: every value 0 or 1, C >= 1.
/// \param db_labels    [N x C] uint8 host memory, multi-hot.
/// \throws Error InvalidArgument (a shape, stride, null pointer, a label not 0/1 (names the row,
///         column and value), options.k or options enum values), OutOfMemory.
/// Memory: O((Q + N) C / 8 + threads * N) bytes besides the inputs. Time O(Q N (b + C / 64)).
XMR_API MapResult map_hamming(MatrixView<const std::uint8_t> query_codes, MatrixView<const std::uint8_t> db_codes,
                              MatrixView<const std::uint8_t> query_labels, MatrixView<const std::uint8_t> db_labels,
                              const MapOptions& options = {});

/// mAP of a dense ranking: each query ranks all database vectors by descending score
/// (InnerProduct, or Cosine: rows normalised first). Scores are computed in float (BLAS) for a
/// block of queries at a time (at most 4M scores buffered); items tie when their float scores are
/// equal.
/// \param queries  [Q x D] float host memory, finite (Cosine: no zero row), Q >= 1, D >= 1.
/// \param database [N x D] float host memory, finite, N >= 1.
/// \param labels   as map_hamming.
/// \throws Error InvalidArgument (shapes, non-finite values, zero rows under Cosine, labels,
///         options), OutOfMemory.
/// Memory: O((Q + N) D floats + 4M floats + threads * N).
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
/// Memory: O((I + T) D floats + 4M floats).
XMR_API RetrievalRecall recall_at_k(MatrixView<const float> images, MatrixView<const float> texts,
                                    std::int64_t captions_per_image = 5);

}  // namespace xmr::eval
