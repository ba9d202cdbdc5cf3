#pragma once
// Launchers of the exact Hamming top-k kernels (hamming.cu, hamming_*.cu): plain C++ declarations
// (no CUDA headers), included by engine/gpu. Every launcher enqueues on `stream` (last parameter),
// never allocates, never synchronises, and returns the cudaError_t of the launch as an int
// (0 = success; cudaErrorInvalidValue for arguments outside the documented ranges).
//
// The passes, per batch of queries (see hamming.cu for the algorithm):
//   hamming_histogram  distances -> per-query histogram [bins] (+= atomically: zero it first) and
//                      per-(query, chunk) minimum distance
//   hamming_cut        histogram -> the k-th distance T, ties m to take, count within; turns the
//                      histogram into its exclusive prefix sums (the counting sort's cursors)
//   hamming_count      per (query, chunk): packed counts (d < T) << 32 | (d == T)
//   hamming_scan       per query: exclusive prefix sums of the packed counts over chunks
//   hamming_write      the winners of each query, in row order, as (distance << 32 | row)
//   hamming_sort       stable counting sort of the winners by distance -> results

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// Threads per block of the database passes (histogram, count, write).
inline constexpr int kHammingThreads = 256;
/// Longest code in bytes (4096 bits) and in 16-byte vectors.
inline constexpr int kHammingMaxCodeBytes = 512;
inline constexpr int kHammingMaxVecs = kHammingMaxCodeBytes / 16;
/// Byte budget of a block's shared histogram (queries x bins x copies x 4 bytes).
inline constexpr int kHammingHistBytes = 33 * 1024;
/// Most chunks (per query) a database is cut into; bounds the per-chunk scratch.
inline constexpr std::int64_t kHammingMaxChunks = std::int64_t{1} << 16;
/// Most query rows of one launch (CUDA grid limits on the query dimension).
inline constexpr std::int64_t kHammingMaxQueries = 65535;

/// Device row stride of `code_bytes`-byte codes: 4, 8, or a multiple of 16 bytes, zero padded, so
/// every database load is one aligned 16-byte vector (holding 4, 2 or a fraction of a row).
constexpr int hamming_stride(std::int64_t code_bytes) {
  return code_bytes <= 4 ? 4 : code_bytes <= 8 ? 8 : static_cast<int>((code_bytes + 15) / 16 * 16);
}
/// Rows one 16-byte load covers, and rows one block handles per step (a "tile").
constexpr int hamming_rows_per_load(int stride) {
  return stride == 4 ? 4 : stride == 8 ? 2 : 1;
}
constexpr std::int64_t hamming_tile_rows(int stride) {
  return std::int64_t{kHammingThreads} * hamming_rows_per_load(stride);
}
/// True when the stride has a kernel specialised for it (codes of at most 32 and 64 bits and of
/// 128, 256, 512 and 1024 bits); other strides (multiples of 16 bytes) run the generic kernel.
constexpr bool hamming_tuned_stride(int stride) {
  return stride == 4 || stride == 8 || stride == 16 || stride == 32 || stride == 64 || stride == 128;
}
/// Queries per block: 1 for tiny batches, else 8 when the shared histogram fits, else 2 (generic
/// kernel only: codes longer than 1024 bits with a large distance range).
constexpr int hamming_group(std::int64_t num_queries, int bins) {
  if (num_queries < 4) return 1;
  if (8 * bins * 4 <= kHammingHistBytes) return 8;
  return 2 * bins * 4 <= kHammingHistBytes ? 2 : 1;
}
/// Copies of each query's shared histogram (lane l adds to copy l % copies, which spreads equal
/// distances of a warp over banks and addresses): the largest power of two <= 32 that fits.
constexpr int hamming_copies(int group, int bins) {
  int c = 32;
  while (c > 1 && group * bins * c * 4 > kHammingHistBytes) c /= 2;
  return c;
}

/// One batch of queries against one resident database.
struct HammingProblem {
  /// Device, [rows x stride] bytes, 16-byte aligned, zero padded past the code bytes of a row,
  /// and readable for 16 bytes past the last row.
  const void* db = nullptr;
  std::int64_t rows = 0;  // 1 .. 2^32 - 2
  int stride = 0;         // hamming_stride(code_bytes)
  /// Device, [num_queries x stride] bytes, 16-byte aligned, zero padded like the rows.
  const void* queries = nullptr;
  int num_queries = 0;  // 1 .. kHammingMaxQueries
  int group = 1;        // queries per block: hamming_group()
  int copies = 1;       // hamming_copies(group, bins)
  int bins = 1;         // min(max_distance, bits) + 1: distances counted are 0 .. bins - 1
  /// Rows per chunk (a block's share of the database): a multiple of hamming_tile_rows(stride);
  /// chunks = ceil(rows / chunk_rows) <= kHammingMaxChunks.
  std::int64_t chunk_rows = 0;
  std::int64_t chunks = 0;
};

/// Per-query selection, written by hamming_cut: the winners are the rows with distance < t plus
/// the first m rows (in row order) with distance == t; lt = #(distance < t); within =
/// #(distance <= max_distance). lt + m = min(kk, within).
struct HammingCut {
  std::uint32_t t = 0;
  std::uint32_t m = 0;
  std::uint32_t lt = 0;
  std::uint32_t within = 0;
};

/// hist: device [num_queries x bins], zeroed by the caller; receives the distance histogram of
/// each query (distances > bins - 1 are not counted). chunk_min: device [num_queries x chunks].
int hamming_histogram(const HammingProblem& p, std::uint32_t* hist, std::uint32_t* chunk_min, CUstream_st* stream);

/// kk in [1, rows]. Reads hist, writes cuts [num_queries] and replaces hist by its exclusive
/// prefix sums per query.
int hamming_cut(std::uint32_t* hist, int num_queries, int bins, std::uint32_t kk, HammingCut* cuts,
                CUstream_st* stream);

/// counts: device [num_queries x chunks], (#(d < t) << 32) | #(d == t) per chunk.
int hamming_count(const HammingProblem& p, const std::uint32_t* chunk_min, const HammingCut* cuts,
                  std::uint64_t* counts, CUstream_st* stream);

/// offsets[q * chunks + c] = sum of counts[q * chunks + c'] over c' < c (packed as the counts).
int hamming_scan(const std::uint64_t* counts, int num_queries, std::int64_t chunks, std::uint64_t* offsets,
                 CUstream_st* stream);

/// winners: device [num_queries x kk]; entries [0, lt + m) of a row receive (distance << 32) | row
/// of each winner, in row order.
int hamming_write(const HammingProblem& p, const HammingCut* cuts, const std::uint64_t* counts,
                  const std::uint64_t* offsets, std::uint32_t kk, std::uint64_t* winners, CUstream_st* stream);

/// out_dist / out_pos: device [num_queries x kk], the winners ordered by (distance, row), then
/// INT32_MAX / UINT32_MAX padding. cursors: the prefix sums hamming_cut left in hist.
int hamming_sort(const std::uint64_t* winners, const std::uint32_t* cursors, const HammingCut* cuts, int num_queries,
                 int bins, std::uint32_t kk, std::int32_t* out_dist, std::uint32_t* out_pos, CUstream_st* stream);

}  // namespace xmr::kernels
