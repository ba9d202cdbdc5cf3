#pragma once
// Launchers of the dense-search kernels: plain C++ declarations (no CUDA headers), included by
// engine/gpu. Every launcher enqueues on `stream` (last parameter), never allocates, never
// synchronises, and returns the cudaError_t of the launch as an int (0 = success).

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// Chunked selection: a block of kChunkThreads threads owns kChunkSize consecutive keys of one
/// row (kChunkItems per thread).
inline constexpr int kChunkThreads = 256;
inline constexpr int kChunkItems = 16;
inline constexpr std::int64_t kChunkSize = std::int64_t{kChunkThreads} * kChunkItems;
/// Largest k of the chunked fast path (each chunk must at least halve what it reads).
inline constexpr std::int64_t kFastMaxK = kChunkSize / 2;
/// Most rows one launch may cover (CUDA grid y limit).
inline constexpr std::int64_t kMaxLaunchRows = 65535;

/// For each row r < rows and each chunk c (kChunkSize columns) of a row of `len` scores
/// (`scores[r * ld + i]`, fp32), forms keys make_key(score, base_position + i), keeps those
/// < thresholds[r * thr_ld] (all when `thresholds` is null), and writes the min(k, kept) smallest
/// in ascending order to `out[r * out_ld + c * k + j]`, j < k, padding with kEmptyKey.
/// Requires 1 <= k <= kFastMaxK, rows <= kMaxLaunchRows, base_position + len < 2^32 - 1.
int select_chunks_from_scores(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                              std::int64_t base_position, const std::uint64_t* thresholds, std::int64_t thr_ld, int k,
                              std::uint64_t* out, std::int64_t out_ld, CUstream_st* stream);

/// As select_chunks_from_scores, over keys (`keys[r * ld + i]`). May run in place (out == keys)
/// when every row fits one chunk (len <= kChunkSize): each block reads its whole chunk before
/// it writes.
int select_chunks_from_keys(const std::uint64_t* keys, std::int64_t rows, std::int64_t len, std::int64_t ld,
                            const std::uint64_t* thresholds, std::int64_t thr_ld, int k, std::uint64_t* out,
                            std::int64_t out_ld, CUstream_st* stream);

/// Keys per row that the two candidate buffers of select_tile_into_run need for tiles of up to
/// `len` scores: `level1` holds one k-list per chunk of the tile, `level2` one per chunk of level 1.
struct SelectScratchKeys {
  std::int64_t level1 = 0;
  std::int64_t level2 = 0;
};
inline SelectScratchKeys select_scratch_keys(std::int64_t len, std::int64_t k) {
  const std::int64_t l1 = (len + kChunkSize - 1) / kChunkSize * k;
  return {l1, (l1 + kChunkSize - 1) / kChunkSize * k};
}

/// One tile of the chunked top-k (the fast path of the dense, multi-vector and top-k searches).
/// `run` is [rows x 2k] keys: the first k of a row are its running top-k, ascending (all
/// kEmptyKey before the first tile), the second k scratch. For each row r < rows, selects the k
/// best of the tile's `len` scores (`scores[r * ld + i]`, position base_position + i) that beat
/// the row's running k-th key, reducing the per-chunk k-lists through `cand_a` / `cand_b` ([rows x
/// level1] and [rows x level2] keys, select_scratch_keys(len, k)) while more than one remains,
/// then merges them into the running top-k. Requires 1 <= k <= kFastMaxK and the limits of
/// select_chunks_from_scores. Returns the first launch error (0 = success).
int select_tile_into_run(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                         std::int64_t base_position, int k, std::uint64_t* cand_a, std::uint64_t* cand_b,
                         std::uint64_t* run, CUstream_st* stream);

/// Writes make_key(scores[r * ld + i], base_position + i) to out[r * out_ld + i].
int scores_to_keys(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                   std::int64_t base_position, std::uint64_t* out, std::int64_t out_ld, CUstream_st* stream);

/// Workspace bytes of segmented_sort_keys for `items` keys in `segments` segments.
int segmented_sort_workspace(std::int64_t items, std::int64_t segments, std::size_t* bytes);

/// Sorts each segment [begin[s], end[s]) of `in` ascending into `out` (CUB segmented radix
/// sort over all 64 bits). `begin`/`end` are device int32 arrays; items < 2^31.
int segmented_sort_keys(const std::uint64_t* in, std::uint64_t* out, std::int64_t items, std::int64_t segments,
                        const int* begin, const int* end, void* workspace, std::size_t workspace_bytes,
                        CUstream_st* stream);

}  // namespace xmr::kernels
