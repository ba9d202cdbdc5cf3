#pragma once
/// \file
/// Exact dense k-nearest-neighbour search by inner product or cosine similarity.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "xmr/export.h"
#include "xmr/index_file.h"
#include "xmr/matrix_view.h"
#include "xmr/resources.h"
#include "xmr/types.h"

namespace xmr {

/// How a DenseIndex stores and compares vectors.
struct DenseIndexOptions {
  std::int64_t dim = 0;            ///< vector dimension D (>= 1)
  Metric metric = Metric::Cosine;  ///< similarity
  DType storage = DType::F32;      ///< stored scalar type
  Device device = Device::Auto;    ///< default device of searches
};

/// Per-call search options (C++20 designated initialisers: `{.device = Device::Cpu}`).
struct SearchOptions {
  /// Overrides the index's device for this call.
  std::optional<Device> device;
  /// Stream, cuBLAS handle and scratch budget to use; null for the calling thread's default.
  Resources* resources = nullptr;
};

/// Owning result of a batch search: `num_queries x k`, row-major.
struct SearchResult {
  std::int64_t num_queries = 0;
  std::int64_t k = 0;
  std::vector<std::int64_t> ids;  ///< [num_queries * k]; -1 marks an empty slot
  std::vector<float> scores;      ///< [num_queries * k]; -inf marks an empty slot
  Device device = Device::Cpu;    ///< where the search ran (Cpu or Gpu)

  [[nodiscard]] std::int64_t id(std::int64_t q, std::int64_t j) const {
    return ids[static_cast<std::size_t>(q * k + j)];
  }
  [[nodiscard]] float score(std::int64_t q, std::int64_t j) const {
    return scores[static_cast<std::size_t>(q * k + j)];
  }
};

/// Exact (brute-force) dense index over N vectors of dimension D with 64-bit ids.
///
/// **Result contract** (every search): for each query, the k best items by descending score;
/// items with equal computed scores are ordered by ascending id; when k exceeds the number of
/// stored vectors the remaining slots hold id -1 and score -inf. A NaN score (only possible
/// when an inner product overflows) ranks after every number. The CPU and GPU backends follow the
/// same contract; their scores agree within float rounding (summation order differs).
///
/// **Cosine**: the library normalises stored vectors when they are added and queries when they
/// arrive; zero-norm vectors are rejected (cosine is undefined for them).
///
/// **fp16 storage**: vectors are stored as binary16; queries are rounded to binary16 too (on both
/// backends, so both compute the same function) and products accumulate in fp32.
///
/// **Ids**: 64-bit, in [0, 2^63 - 2]; unique within the index (a duplicate is an error). Vectors
/// are kept in ascending id order internally, which is what makes tie order cheap and equal on
/// every backend. At most 2^32 - 2 vectors per index.
///
/// **Device**: the index keeps its vectors in host memory and, once a GPU search (or GPU rescore,
/// or a load with device Gpu) has run, a resident copy on that GPU (appended vectors are
/// uploaded incrementally).
///
/// **Device memory** (MemorySpace::Device views, e.g. PyTorch or CuPy CUDA tensors): `search` and
/// `search_into` accept queries, and `search_into` outputs, in CUDA device memory (any mix with
/// host memory). Such a search runs on the GPU of the Resources (SearchOptions::resources, else
/// the thread's default): device Cpu (SearchOptions::device, else the index's) is then
/// InvalidArgument naming the argument, and no usable GPU is Unavailable naming
/// `queries.space` (or `out_ids.space`, ...). Each device pointer must be device memory of that
/// GPU or managed memory (InvalidArgument otherwise). Device queries are validated and prepared
/// on the GPU with the host's arithmetic (same results, bit for bit, as the same queries from
/// host memory; same errors and messages) and never copied to the host; results are decoded on
/// the host and copied into device outputs with one 2-D copy per output. Every read of device
/// inputs and write of device outputs is ordered on the Resources' stream (borrow the producer's
/// stream with `Resources(device, stream)`; an owned stream is not ordered after the caller's
/// work), and the call returns when they are complete. `add` copies device vectors to the host
/// once (synchronous cudaMemcpy2D; the caller finishes writing them first). `rescore` takes
/// host memory only.
///
/// **Thread safety**: every member function may be called concurrently. Searches read an
/// immutable snapshot; `add` publishes a new snapshot when it completes, so a search sees the
/// index either before or after an `add`, never in between. A failed `add` changes nothing.
class XMR_API DenseIndex {
 public:
  /// Throws InvalidArgument when `options.dim < 1`.
  explicit DenseIndex(const DenseIndexOptions& options);
  ~DenseIndex();
  DenseIndex(DenseIndex&&) noexcept;
  DenseIndex& operator=(DenseIndex&&) noexcept;
  DenseIndex(const DenseIndex&) = delete;
  DenseIndex& operator=(const DenseIndex&) = delete;

  /// Appends vectors with sequential ids: the first gets (largest id so far + 1), or 0 when empty.
  /// \param vectors [n x D] host or device memory, fp32 or fp16 (converted to the storage type).
  ///                Every element must be finite; under cosine no row may have zero norm. Device
  ///                memory is copied to the host once (synchronously, on the GPU that holds it;
  ///                not ordered after other streams: finish writing it first).
  /// \throws Error InvalidArgument (shape, non-finite value, zero norm, null/misaligned pointer,
  ///         a device pointer that is not device memory), Unavailable (device memory without a
  ///         usable GPU), Device (a failed copy), OutOfMemory. On any error the index is unchanged.
  void add(MatrixView<const float> vectors);
  void add(MatrixView<const half> vectors);
  /// Appends vectors with caller-given ids (`ids.size() == vectors.rows()`), which must be in
  /// [0, 2^63 - 2] and distinct from each other and from ids already stored.
  void add(MatrixView<const float> vectors, std::span<const std::int64_t> ids);
  void add(MatrixView<const half> vectors, std::span<const std::int64_t> ids);

  /// Removes the vectors with these ids; later searches never return them, and the ids may be
  /// added again. Every id must be stored and appear once (`ids` may be empty).
  /// \throws Error InvalidArgument (an unknown or repeated id, named with its position and
  ///         value), OutOfMemory. On any error the index is unchanged.
  /// Costs a copy of the remaining vectors (a GPU copy is re-uploaded by the next GPU search).
  void remove(std::span<const std::int64_t> ids);

  /// Batch k-NN search; see the class comment for the result contract.
  /// \param queries [Q x D] host or device memory (any stride >= D), fp32 or fp16; every element
  ///                finite; under cosine no zero-norm row. Q may be 0. Device queries run on the
  ///                GPU of the Resources (class comment, "Device memory").
  /// \param k       results per query, >= 1 (k > size() pads with -1 / -inf).
  /// \throws Error InvalidArgument (shape, k, values, empty index, device memory with device
  ///         Cpu, a device pointer that is not device memory of the search's GPU), Unavailable
  ///         (Device::Gpu, or device memory, without a usable GPU), OutOfMemory, Device (a CUDA
  ///         failure; the index stays usable).
  /// Synchronous: returns when the results are in host memory (and every read of device queries,
  /// ordered on the Resources' stream, is complete).
  [[nodiscard]] SearchResult search(MatrixView<const float> queries, std::int64_t k,
                                    const SearchOptions& options = {}) const;
  [[nodiscard]] SearchResult search(MatrixView<const half> queries, std::int64_t k,
                                    const SearchOptions& options = {}) const;

  /// As search(), writing into caller buffers: `out_ids` and `out_scores` are [Q x k] views of
  /// host or device memory (any stride >= k; device outputs make the search run on the GPU, as
  /// device queries do). Device outputs are written by one copy each on the Resources' stream,
  /// complete when the call returns; a call that fails before that copy (bad arguments or
  /// values, a search error) leaves them untouched. On error host outputs are unspecified; the
  /// index is unchanged.
  /// \returns the device the search ran on.
  Device search_into(MatrixView<const float> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                     MatrixView<float> out_scores, const SearchOptions& options = {}) const;
  Device search_into(MatrixView<const half> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                     MatrixView<float> out_scores, const SearchOptions& options = {}) const;

  /// Exact scores of given candidates: stage 2 of a shortlist-then-rescore pipeline (candidates
  /// from a cheaper index, e.g. Hamming codes, re-scored with the stored vectors, as
  /// binary-quantisation-with-rescoring does), or the scores of any (query, id) pairs.
  /// \param queries    [Q x D] host memory (device memory is InvalidArgument), fp32 or fp16,
  ///                   validated and prepared as in search (normalised under cosine, rounded to
  ///                   binary16 for fp16 storage).
  /// \param candidates [Q x C] ids in host memory (any stride >= C); -1 marks an empty slot
  ///                   (score -inf), any other id must be stored; repeats are allowed. C may be 0.
  /// \param out_scores [Q x C] host memory (any stride >= C), in candidate order: each the pair's
  ///                   score as search() defines it, accumulated in double and rounded to float
  ///                   once (so it may differ from search()'s fp32 score in the last bits). The
  ///                   summation order is fixed and the same on both devices: CPU and GPU return
  ///                   the same bits.
  /// \param options    device and resources. The device is `options.device`, else the index's:
  ///                   - `Cpu`: the CPU;
  ///                   - `Gpu`: the GPU of `options.resources` (the calling thread's default when
  ///                     null), uploading the index's resident copy there if it is missing or
  ///                     stale, as a GPU search would; Unavailable without a usable GPU;
  ///                   - `Auto`: the GPU only when the index already has a current resident copy
  ///                     on that GPU (a GPU search, rescore or load made it and no add or remove has
  ///                     changed the index since; an append makes it stale until the next GPU
  ///                     search or rescore), else the CPU. So an Auto rescore never uploads the
  ///                     index.
  /// \returns the device the scores were computed on (Cpu or Gpu).
  /// \throws Error InvalidArgument (shapes, values, an id that is not stored: named with its
  ///         position and value), Unavailable (Device::Gpu without a GPU), OutOfMemory (host or
  ///         device memory; on the GPU also C so large that one query's candidates exceed the
  ///         Resources' workspace budget), Device (a CUDA failure; the index stays usable). On
  ///         error `out_scores` is unspecified; the index is unchanged.
  /// Synchronous: returns when the scores are in host memory. Work O(Q C D); GPU scratch at most
  /// the workspace budget (queries are tiled), plus the resident copy when it is uploaded.
  Device rescore(MatrixView<const float> queries, MatrixView<const std::int64_t> candidates,
                 MatrixView<float> out_scores, const SearchOptions& options = {}) const;
  Device rescore(MatrixView<const half> queries, MatrixView<const std::int64_t> candidates,
                 MatrixView<float> out_scores, const SearchOptions& options = {}) const;

  /// Saves the index (and `extras`) to `path` atomically (xmr/index_file.h): a crash leaves the
  /// old file or the new one. Concurrent adds and removes are not blocked: the file holds the
  /// snapshot current when save began.
  /// \throws Error InvalidArgument (extras that do not fit the index, naming the field), Io
  ///         (the file cannot be created, written, synced or renamed: names the path and the
  ///         system's reason; the destination is then untouched), OutOfMemory.
  void save(const std::string& path, const IndexExtras& extras = {}) const;
  /// The bytes save() writes (for embedding an index in another container).
  [[nodiscard]] std::vector<std::uint8_t> to_bytes(const IndexExtras& extras = {}) const;
  /// Loads an index saved by DenseIndex::save, with its extras into `extras` when not null.
  /// \throws Error Io (cannot open, map or read), CorruptData (any validation failure: names the
  ///         path and what is wrong), InvalidArgument (the file holds another index type; bad
  ///         options), Unavailable (options.device = Gpu without a usable GPU), OutOfMemory.
  [[nodiscard]] static DenseIndex load(const std::string& path, const LoadOptions& options = {},
                                       IndexExtras* extras = nullptr);
  /// The inverse of to_bytes(): as load(), from memory (always copied; `options.mode` is ignored;
  /// errors name "bytes").
  [[nodiscard]] static DenseIndex from_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options = {},
                                             IndexExtras* extras = nullptr);

  /// Number of stored vectors.
  [[nodiscard]] std::int64_t size() const;
  [[nodiscard]] std::int64_t dim() const noexcept;
  [[nodiscard]] Metric metric() const noexcept;
  [[nodiscard]] DType storage() const noexcept;
  [[nodiscard]] Device device() const noexcept;
  /// The stored ids in ascending order.
  [[nodiscard]] std::vector<std::int64_t> ids() const;

  struct Impl;
  /// Internal state (not part of the stable API).
  [[nodiscard]] Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmr
