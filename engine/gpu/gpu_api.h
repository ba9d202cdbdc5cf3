#pragma once
// The GPU backend as the rest of the engine sees it: plain C++, no CUDA headers. In a build
// without CUDA, gpu_stub.cpp implements it (no devices; searches throw Unavailable).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "dense/storage.h"
#include "xmr/types.h"

namespace xmr {
class Resources;
enum class MultiVectorReduce : int;
}  // namespace xmr

namespace xmr::engine {
struct MultiVectorSnapshot;
}

namespace xmr::engine::gpu {

/// Per-Resources stream, cuBLAS handle and device workspace.
struct Context;
struct ContextDeleter {
  void operator()(Context* c) const noexcept;
};

/// Number of usable devices (0 without CUDA, driver or GPU). Never throws; cached.
int device_count() noexcept;
/// True when device `ordinal` exists and can run xmr's kernels (compute capability >= 8.0, the
/// oldest architecture the build embeds code for); otherwise sets `why`.
bool device_usable(int ordinal, std::string* why);
/// Human-readable description of the GPUs or of why there are none.
std::string describe();

/// A dense index's rows resident on one device.
struct DeviceMatrix;

/// Device copies of one index, by device ordinal. Shared by concurrent searches.
struct MirrorCache {
  std::mutex mutex;
  std::map<int, std::shared_ptr<DeviceMatrix>> by_device;
};

/// The queries of a dense GPU search.
struct DenseQueries {
  /// Host: prepared rows, [num_queries x dim] dense, the storage type (float for F32, binary16
  /// bits for F16). Device: the caller's rows in device memory of the search's GPU, not yet
  /// validated: `type` values, row r at data + r * stride elements.
  const void* data = nullptr;
  MemorySpace space = MemorySpace::Host;
  DType type = DType::F32;               ///< device only: the caller's element type
  std::int64_t stride = 0;               ///< device only: elements between row starts (>= dim)
  Metric metric = Metric::InnerProduct;  ///< device only: cosine normalises the rows
};

/// Exact dense top-k on the GPU of `res`. Writes [q x k] selection keys (select_key.h), best
/// first, to host memory `out_keys`. Uploads or extends the index's device copy as needed.
/// Device queries are validated on the device before any search work (kernels/prepare_launch.h:
/// the host preparation's arithmetic, so the same bits) and prepared there batch by batch; a bad
/// row throws InvalidArgument as engine::prepare_rows does ("queries[r][c] (= nan) is not
/// finite", ...), reading that one row back to name its value.
void dense_search(const DenseSnapshot& snap, MirrorCache& mirrors, const DenseQueries& queries,
                  std::int64_t num_queries, std::int64_t k, Resources& res, std::uint64_t* out_keys);
inline void dense_search(const DenseSnapshot& snap, MirrorCache& mirrors, const void* queries, std::int64_t num_queries,
                         std::int64_t k, Resources& res, std::uint64_t* out_keys) {
  DenseQueries q;
  q.data = queries;
  dense_search(snap, mirrors, q, num_queries, k, res, out_keys);
}

/// Throws InvalidArgument naming `name` unless `data` is memory that kernels on GPU `device` may
/// read and write: device memory of that GPU, or managed memory (cudaPointerGetAttributes).
/// Only the pointer is checked, not the extent of its allocation. Unavailable in a build
/// without CUDA.
void check_device_pointer(const void* data, int device, const char* name);

/// One 2-D copy between host and device memory: `rows` rows of `width` bytes.
struct RowCopy {
  void* dst = nullptr;
  std::size_t dst_pitch = 0;
  const void* src = nullptr;
  std::size_t src_pitch = 0;
  std::size_t width = 0;
  std::size_t rows = 0;
  const char* what = "";
};

/// Copies host rows into device memory on the stream of `res` (its device, under its lock), and
/// synchronises that stream before returning. Used to deliver results to device-memory outputs.
/// 	hrows Error Device / OutOfMemory (a CUDA failure: the stream is synchronised first).
void copy_to_device(Resources& res, std::span<const RowCopy> copies);

/// Copies rows of device memory (any GPU's; checked as check_device_pointer with that GPU) into
/// host memory with a synchronous cudaMemcpy2D on the GPU that holds them. Used by `add` from
/// device memory. Not ordered after work on non-blocking streams: the caller finishes writing
/// the data first.
void copy_from_device(const RowCopy& copy, const char* name);

/// Exact Hamming top-k on the GPU of `res` over a binary snapshot (`snap.code_bytes` bytes per
/// code, rows in ascending id order). `queries` are [num_queries x code_bytes] packed codes,
/// `queries_pitch` bytes between rows (>= code_bytes), in host memory, or in device memory of
/// that GPU when `queries_on_device` (copied device to device into the padded batch buffer on
/// the stream of `res`). For each query, selects the min(k, count) codes of smallest distance
/// among the `count` codes with distance <= `max_distance`, ordered by ascending (distance, row
/// position), and writes them to host memory: `out_dist` / `out_pos` are [num_queries x k];
/// slots past the selected ones hold INT32_MAX / UINT32_MAX. `out_within` (may be null):
/// [num_queries], the count of codes with distance <= max_distance. k-NN search passes
/// max_distance = bits; radius search passes the radius and k = the cap.
/// Uploads or extends the index's device copy as needed (MirrorCache of the binary index).
void binary_search(const DenseSnapshot& snap, MirrorCache& mirrors, const std::uint8_t* queries,
                   std::size_t queries_pitch, bool queries_on_device, std::int64_t num_queries, std::int64_t k,
                   std::int32_t max_distance, Resources& res, std::int32_t* out_dist, std::uint32_t* out_pos,
                   std::int64_t* out_within);

/// Exact scores of given (query, row) pairs on the GPU of `res` (rescore_gpu.cpp), in the
/// summation order of kernels/rescore_launch.h, so they equal cpu::rescore's bit for bit.
/// `queries` are prepared ([num_queries x dim] dense host memory, the storage type: float for
/// F32, binary16 bits for F16); `positions` [num_queries x num_candidates] dense host memory, -1
/// (score -inf) or a valid row. Writes out[q * out_ld + j] (host memory). Uses (uploads or
/// extends) the resident copy in `mirrors` that dense_search uses; tiles over queries so its
/// scratch stays within the Resources' workspace budget (and its query tile cap).
/// \throws Error OutOfMemory (one query's candidates exceed the budget; device allocation),
///         Device (a CUDA failure; nothing enqueued is left running).
void dense_rescore(const DenseSnapshot& snap, MirrorCache& mirrors, const void* queries, std::int64_t num_queries,
                   const std::int64_t* positions, std::int64_t num_candidates, Resources& res, float* out,
                   std::int64_t out_ld);

/// True when `mirrors` holds a current copy of `snap` on device `device` in dense_search's
/// layout (same lineage, all of its rows): a dense search or rescore there uploads nothing.
/// False in a build without CUDA. Never throws.
bool dense_resident(const DenseSnapshot& snap, MirrorCache& mirrors, int device) noexcept;

/// Makes the index's resident copy on the GPU of `res` current now (uploads, or extends it by
/// appended rows), as the next search would; returns when the copy is complete. For loading an
/// index straight to the GPU.
void dense_upload(const DenseSnapshot& snap, MirrorCache& mirrors, Resources& res);
void binary_upload(const DenseSnapshot& snap, MirrorCache& mirrors, Resources& res);

/// Largest k of the GPU multi-vector search (multi_vector_gpu.cpp: the chunked fast path only).
inline constexpr std::int64_t kMultiVectorMaxK = 2048;  // == kernels::kFastMaxK (checked there)

/// Exact multi-vector top-k on the GPU of `res` (multi_vector_gpu.cpp). `queries` are prepared
/// fp32 vectors, dense [query_offsets[num_queries] x dim] host memory; query q owns rows
/// [query_offsets[q], query_offsets[q + 1]). 1 <= k <= min(snap.size, kMultiVectorMaxK), else
/// InvalidArgument naming k and the limit. Writes [num_queries x k] selection keys (item
/// positions), best first, to host memory `out_keys`. `mirrors` holds the resident copy of
/// the snapshot's vectors (uploaded or extended as needed); use one cache per index.
void multi_vector_search(const MultiVectorSnapshot& snap, MirrorCache& mirrors, const float* queries,
                         const std::int64_t* query_offsets, std::int64_t num_queries, std::int64_t k,
                         MultiVectorReduce reduce, Resources& res, std::uint64_t* out_keys);

/// mAP on the GPU (eval_gpu.cpp). Inputs are validated host memory; labels are packed 64-bit
/// words per row (engine::eval::PackedLabels: `label_words` words, bit c of word c / 64 = class
/// c); an item is relevant to a query when they share a class. Queries are processed in tiles
/// bounded by the Resources' workspace budget; the Q x N matrix never exists anywhere.
///
/// Per-query AP of Hamming rankings (ascending distance, ties by ascending item index), for
/// `variant` with window `k` (xmr::eval::MapOptions::k), written to host `out_ap`
/// [num_queries]. Codes are dense [rows x code_bytes], 1 <= code_bytes <= kMaxHammingMapBytes.
inline constexpr std::int64_t kMaxHammingMapBytes = 512;  // 4096 bits, as kMaxCodeBits
void map_hamming(const std::uint8_t* query_codes, std::int64_t num_queries, const std::uint8_t* db_codes,
                 std::int64_t num_items, std::int64_t code_bytes, const std::uint64_t* query_labels,
                 const std::uint64_t* db_labels, std::int64_t label_words, int variant, std::int64_t k, Resources& res,
                 double* out_ap);
/// For tie-averaged AP: per query and distance d in [0, 8 code_bytes], the number of items at
/// distance d (`out_total`) and of relevant ones (`out_relevant`), host [num_queries x (8
/// code_bytes + 1)] each; engine::eval::average_precision_grouped turns them into APs.
void hamming_relevance_histograms(const std::uint8_t* query_codes, std::int64_t num_queries,
                                  const std::uint8_t* db_codes, std::int64_t num_items, std::int64_t code_bytes,
                                  const std::uint64_t* query_labels, const std::uint64_t* db_labels,
                                  std::int64_t label_words, Resources& res, std::int64_t* out_total,
                                  std::int64_t* out_relevant);
/// Per-query AP of dense rankings (descending float inner product of the prepared rows, ties by
/// ascending item index; scores as cuBLAS SGEMM computes them), as map_hamming.
void map_dense(const float* queries, std::int64_t num_queries, const float* db, std::int64_t num_items,
               std::int64_t dim, const std::uint64_t* query_labels, const std::uint64_t* db_labels,
               std::int64_t label_words, int variant, std::int64_t k, Resources& res, double* out_ap);

}  // namespace xmr::engine::gpu
