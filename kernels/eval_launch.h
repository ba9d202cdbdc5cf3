#pragma once
// Launchers of the mAP kernels (eval_hamming.cu, eval_dense.cu): plain C++ declarations (no CUDA
// headers), included by engine/gpu/eval_gpu.cpp and by both kernel files. Every launcher enqueues on `stream` (last
// parameter), never allocates, never synchronises, and returns the cudaError_t of the launch as an int (0 = success;
// cudaErrorInvalidValue for arguments outside the documented ranges).
//
// AP of one query, for every variant (as engine::eval::ap_stable): with p the 1-based position
// of a relevant item in the ranking and c its 1-based rank among the relevant items, the item is
// counted when p <= window and c <= cap, where window = min(K, N) for AtK and N otherwise, and
// cap = min(K, R) for KFirstRelevant and R (relevant items of the query) otherwise; AP = (sum of
// c / p over counted items) / (number of counted items), 0 when none is counted. Sums in double.

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// xmr::eval::MapVariant values (checked by static_assert in eval_gpu.cpp).
inline constexpr int kEvalAll = 0;
inline constexpr int kEvalAtK = 1;
inline constexpr int kEvalKFirstRelevant = 2;

/// The counted part of one query's ranking (see above): relevant items at position p <= window
/// with relevant rank c <= cap. Shared by both kernels (constexpr: callable from device code,
/// which the kernels' --expt-relaxed-constexpr allows).
struct EvalLimits {
  long long window;
  long long cap;
};
constexpr EvalLimits eval_limits(int variant, long long k, long long num_items, long long relevant) {
  return {variant == kEvalAtK ? (k < num_items ? k : num_items) : num_items,
          variant == kEvalKFirstRelevant ? (k < relevant ? k : relevant) : relevant};
}

/// Whether (variant, k) is valid for the AP launchers: kEvalAll (k ignored), or kEvalAtK /
/// kEvalKFirstRelevant with k >= 1.
constexpr bool eval_valid_variant(int variant, std::int64_t k) {
  return variant == kEvalAll || ((variant == kEvalAtK || variant == kEvalKFirstRelevant) && k >= 1);
}

/// Longest code of the Hamming kernels: 512 bytes = 64 words of 64 bits (4096 bits).
inline constexpr int kEvalMaxCodeWords = 64;
/// Most items of one call (positions and per-warp counts are 32-bit).
inline constexpr std::int64_t kEvalMaxItems = 0x7FFFFFFF;
/// Warps per block of the Hamming kernel at most, and the byte budget of its shared histograms
/// (warps x (bits + 1) x 8 bytes; with the static shared memory the block stays within the 48 KiB
/// a kernel gets without opting in).
inline constexpr int kEvalMaxWarps = 8;
inline constexpr int kEvalHistBytes = 46 * 1024;

/// Warps per block of the Hamming kernel for codes of `bits` bits (1 <= bits <= 4096): as many
/// as fit kEvalHistBytes, at most kEvalMaxWarps (8 up to 728-bit codes, 5 at 1024 bits, 1 at 4096 bits).
constexpr int eval_hamming_warps(std::int64_t bits) {
  const std::int64_t w = kEvalHistBytes / ((bits + 1) * 8);
  return static_cast<int>(w < 1 ? 1 : w > kEvalMaxWarps ? kEvalMaxWarps : w);
}

/// One tile of queries against the whole database. Codes are rows of `code_words` 64-bit words,
/// the code bytes in order and zero padded to a whole word (so XOR + popcount over the words is
/// the Hamming distance); labels are rows of `label_words` words (engine::eval::PackedLabels); an
/// item is relevant to a query when their label rows share a set bit.
struct EvalHammingProblem {
  const std::uint64_t* db_codes = nullptr;      ///< device [num_items x code_words]
  const std::uint64_t* db_labels = nullptr;     ///< device [num_items x label_words]
  const std::uint64_t* query_codes = nullptr;   ///< device [num_queries x code_words]
  const std::uint64_t* query_labels = nullptr;  ///< device [num_queries x label_words]
  std::int64_t num_items = 0;                   ///< 1 .. kEvalMaxItems
  std::int64_t num_queries = 0;                 ///< 1 .. 2^31 - 1 (one block per query)
  std::int64_t label_words = 0;                 ///< >= 1
  int code_words = 0;                           ///< 1 .. kEvalMaxCodeWords
  int bits = 0;                                 ///< 8 x code bytes, <= 64 x code_words: distances 0 .. bits
};

/// Per-query AP of the ranking by ascending Hamming distance, ties by ascending item index, for
/// `variant` (kEval*) with window `k` (>= 1; ignored for kEvalAll). out_ap: device
/// double [num_queries].
int eval_hamming_ap(const EvalHammingProblem& p, int variant, std::int64_t k, double* out_ap, CUstream_st* stream);

/// Per query and distance d in [0, bits]: the number of items at distance d (out_total) and of
/// relevant ones (out_relevant); device int64 [num_queries x (bits + 1)] each.
int eval_hamming_histograms(const EvalHammingProblem& p, std::int64_t* out_total, std::int64_t* out_relevant,
                            CUstream_st* stream);

/// Dense, step 1: scores -> sort keys and relevance flags, element e = r * num_items + i of a
/// [rows x num_items] tile (rows x num_items <= kEvalMaxItems). `keys` holds the fp32 scores'
/// bits on entry and receives, in place, score keys whose ascending order is descending score
/// (-0.0 folded into +0.0; NaN ranked as -inf, as the CPU does); rel[e] = 1 when query row r
/// (query_labels, device [rows x label_words]) shares a label with item i (db_labels, device
/// [num_items x label_words]), else 0.
int eval_dense_prepare(std::uint32_t* keys, std::uint8_t* rel, std::int64_t rows, std::int64_t num_items,
                       const std::uint64_t* query_labels, const std::uint64_t* db_labels, std::int64_t label_words,
                       CUstream_st* stream);

/// Workspace bytes of eval_dense_sort for `rows` segments of `num_items` items.
int eval_dense_sort_workspace(std::int64_t rows, std::int64_t num_items, std::size_t* bytes);

/// Dense, step 2: sorts each row (segment [r * num_items, (r + 1) * num_items)) of the (key,
/// relevance) pairs by ascending key with CUB's segmented radix sort, which is stable: equal keys
/// keep ascending item order. keys/keys_alt and rel/rel_alt are device double buffers of
/// rows x num_items (the data starts in keys and rel); `offsets` device int32 [rows + 1] with
/// offsets[r] = r * num_items. On success `*sorted_rel` is whichever of rel / rel_alt holds the
/// sorted flags (decided on the host when the sort is enqueued).
int eval_dense_sort(std::uint32_t* keys, std::uint32_t* keys_alt, std::uint8_t* rel, std::uint8_t* rel_alt,
                    std::int64_t rows, std::int64_t num_items, const int* offsets, void* workspace,
                    std::size_t workspace_bytes, std::uint8_t** sorted_rel, CUstream_st* stream);

/// Dense, step 3: per row, the AP of the relevance flags in rank order (`sorted_rel`, device
/// [rows x num_items]) for `variant` with window `k`. out_ap: device double [rows].
int eval_dense_ap(const std::uint8_t* sorted_rel, std::int64_t rows, std::int64_t num_items, int variant,
                  std::int64_t k, double* out_ap, CUstream_st* stream);

}  // namespace xmr::kernels
