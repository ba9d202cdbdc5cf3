// mAP on the GPU (gpu_api.h: map_hamming, hamming_relevance_histograms, map_dense). The kernels
// are in kernels/eval_hamming.cu and kernels/eval_dense.cu (eval_launch.h documents them).
//
// Per call: the database (codes or prepared float rows) and its packed labels are uploaded once,
// to device buffers that live for the call (like an index's resident copy, outside the workspace
// budget); the queries then go in tiles whose scratch fits the Resources' workspace budget (and
// its query tile cap). Per tile:
//   Hamming: the tile's codes (zero padded to whole 64-bit words) and labels are uploaded, one
//     block per query computes its AP (or its (distance, relevance) histograms), and the APs come
//     back to the host. Scratch per query: its padded code, its labels and 8 bytes (AP) or
//     2 x 8 x (bits + 1) bytes (histograms); tiles of up to kPrefHammingTile queries.
//   Dense: one cuBLAS SGEMM (fp32 compute, no TF32) writes the tile's [queries x N] scores into
//     the sort's key buffer, eval_dense_prepare turns them into keys and relevance bytes, CUB's
//     segmented radix sort orders each query's pairs (stable: ties by ascending index), and
//     eval_dense_ap scans the relevance in rank order. Scratch per query: 10 N bytes (keys and
//     relevance, double-buffered) + its row, labels, offset and AP; plus CUB's temp storage.
// Every tile ends with a stream synchronisation (the host reads its APs and the next tile rewrites
// the buffers). On an error the stream is drained before the call's device buffers are freed and
// the exception leaves (nothing enqueued keeps running).
#include <algorithm>
#include <limits>
#include <mutex>
#include <vector>

#include "eval_launch.h"
#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "resources_impl.h"
#include "xmr/eval.h"

namespace xmr::engine::gpu {

static_assert(static_cast<int>(xmr::eval::MapVariant::All) == kernels::kEvalAll);
static_assert(static_cast<int>(xmr::eval::MapVariant::AtK) == kernels::kEvalAtK);
static_assert(static_cast<int>(xmr::eval::MapVariant::KFirstRelevant) == kernels::kEvalKFirstRelevant);
static_assert(kMaxHammingMapBytes == std::int64_t{kernels::kEvalMaxCodeWords} * 8);

namespace {

/// Queries per Hamming tile at most (one block each).
constexpr std::int64_t kPrefHammingTile = 8192;
/// Queries per dense tile at most (one AP block and one sort segment each).
constexpr std::int64_t kPrefDenseTile = 4096;

void check_variant(int variant, std::int64_t k) {
  XMR_EXPECTS(variant == kernels::kEvalAll || variant == kernels::kEvalAtK || variant == kernels::kEvalKFirstRelevant,
              "variant (= ", variant, ") is not a MapVariant value");
  XMR_EXPECTS(variant == kernels::kEvalAll || k >= 1, "k (= ", k, ") must be >= 1 for map_at_k and ",
              "map_k_first_relevant");
}

void check_sizes(std::int64_t num_queries, std::int64_t num_items, std::int64_t label_words) {
  XMR_EXPECTS(num_queries >= 1, "num_queries (= ", num_queries, ") must be >= 1");
  XMR_EXPECTS(num_items >= 1 && num_items <= kernels::kEvalMaxItems, "database rows (= ", num_items,
              ") must be in [1, ", kernels::kEvalMaxItems, "] for GPU evaluation");
  XMR_EXPECTS(label_words >= 1, "label_words (= ", label_words, ") must be >= 1");
}

std::int64_t workspace_budget(const Resources::Impl& r) {
  return static_cast<std::int64_t>(std::min<std::size_t>(r.workspace_bytes.load(), INT64_MAX / 2));
}

/// `rows` codes of `code_bytes` bytes (dense host rows) to device rows of `words` 64-bit words,
/// zero padded.
void upload_codes(void* dst, const std::uint8_t* src, std::int64_t rows, std::int64_t code_bytes, std::int64_t words,
                  cudaStream_t s, const char* what) {
  const auto row = static_cast<std::size_t>(code_bytes);
  const auto pitch = static_cast<std::size_t>(words) * 8;
  const auto n = static_cast<std::size_t>(rows);
  if (pitch == row) {
    check_cuda(cudaMemcpyAsync(dst, src, n * row, cudaMemcpyHostToDevice, s), what);
    return;
  }
  check_cuda(cudaMemsetAsync(dst, 0, n * pitch, s), "cudaMemsetAsync(code padding)");
  copy_rows(dst, pitch, src, row, row, n, cudaMemcpyHostToDevice, s, what);
}

/// Drains the stream and clears the (non-sticky) error before the exception leaves, so that
/// nothing enqueued still runs or writes once the error is reported; the call's device buffers
/// (declared before the try) are freed after this.
template <class F>
void run_drained(cudaStream_t s, F&& f) {
  try {
    f();
  } catch (...) {
    (void)cudaStreamSynchronize(s);
    (void)cudaGetLastError();
    throw;
  }
}

struct HammingCall {
  const std::uint8_t* query_codes;
  std::int64_t num_queries;
  const std::uint8_t* db_codes;
  std::int64_t num_items;
  std::int64_t code_bytes;
  const std::uint64_t* query_labels;
  const std::uint64_t* db_labels;
  std::int64_t label_words;
};

/// map_hamming (out_ap) or hamming_relevance_histograms (out_total, out_relevant).
void run_hamming(const HammingCall& in, bool histograms, int variant, std::int64_t k, Resources& res, double* out_ap,
                 std::int64_t* out_total, std::int64_t* out_relevant) {
  XMR_EXPECTS(in.code_bytes >= 1 && in.code_bytes <= kMaxHammingMapBytes, "code bytes (= ", in.code_bytes,
              ") must be in [1, ", kMaxHammingMapBytes, "]");
  check_sizes(in.num_queries, in.num_items, in.label_words);
  if (!histograms) check_variant(variant, k);
  XMR_EXPECTS(in.query_codes != nullptr && in.db_codes != nullptr && in.query_labels != nullptr &&
                  in.db_labels != nullptr &&
                  (histograms ? out_total != nullptr && out_relevant != nullptr : out_ap != nullptr),
              "the inputs and outputs of GPU evaluation must not be null");

  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  // Plan (no device work yet).
  const std::int64_t words = (in.code_bytes + 7) / 8;
  const std::int64_t bins = 8 * in.code_bytes + 1;
  const std::int64_t lw = in.label_words;
  const std::int64_t db_code_bytes = detail::mul_checked(in.num_items, words * 8, "database codes");
  const std::int64_t db_label_bytes =
      detail::mul_checked(in.num_items, detail::mul_checked(lw, 8, "label words"), "database labels");
  const std::int64_t out_per_query = histograms ? 2 * bins * 8 : 8;
  const std::int64_t per_query = words * 8 + lw * 8 + out_per_query;
  const std::int64_t budget = workspace_budget(r);
  const std::int64_t fixed = 4 * kAlign;
  XMR_CHECK(fixed + per_query <= budget, OutOfMemory, "GPU evaluation needs ", fixed + per_query,
            " bytes of GPU scratch per query (", lw, " label words), above the workspace budget (= ", budget,
            " bytes; see Resources::set_workspace_bytes)");
  std::int64_t qt = std::min({in.num_queries, kPrefHammingTile, (budget - fixed) / per_query});
  if (r.max_query_rows.load() > 0) qt = std::min(qt, r.max_query_rows.load());
  const std::int64_t total = round_up(qt * words * 8, kAlign) + round_up(qt * lw * 8, kAlign) +
                             (histograms ? 2 * round_up(qt * bins * 8, kAlign) : round_up(qt * 8, kAlign));
  XMR_INVARIANT(qt >= 1 && total <= budget);

  Context& ctx = context_of(res);
  const cudaStream_t s = ctx.stream;
  DeviceBuffer d_db_codes;  // freed after run_drained has drained the stream
  DeviceBuffer d_db_labels;
  d_db_codes.device = ctx.device;
  d_db_labels.device = ctx.device;
  run_drained(s, [&] {
    d_db_codes.ptr = device_malloc(static_cast<std::size_t>(db_code_bytes), "GPU copy of the database codes (eval)");
    d_db_labels.ptr = device_malloc(static_cast<std::size_t>(db_label_bytes), "GPU copy of the database labels (eval)");
    upload_codes(d_db_codes.ptr, in.db_codes, in.num_items, in.code_bytes, words, s, "cudaMemcpyAsync(database codes)");
    check_cuda(cudaMemcpyAsync(d_db_labels.ptr, in.db_labels, static_cast<std::size_t>(db_label_bytes),
                               cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync(database labels)");
    Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
    auto* d_query_codes = carve.take<std::uint64_t>(qt * words);
    auto* d_query_labels = carve.take<std::uint64_t>(qt * lw);
    double* d_ap = nullptr;
    std::int64_t* d_total = nullptr;
    std::int64_t* d_relevant = nullptr;
    if (histograms) {
      d_total = carve.take<std::int64_t>(qt * bins);
      d_relevant = carve.take<std::int64_t>(qt * bins);
    } else {
      d_ap = carve.take<double>(qt);
    }
    XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));

    kernels::EvalHammingProblem p;
    p.db_codes = static_cast<const std::uint64_t*>(d_db_codes.ptr);
    p.db_labels = static_cast<const std::uint64_t*>(d_db_labels.ptr);
    p.query_codes = d_query_codes;
    p.query_labels = d_query_labels;
    p.num_items = in.num_items;
    p.label_words = lw;
    p.code_words = static_cast<int>(words);
    p.bits = static_cast<int>(8 * in.code_bytes);
    for (std::int64_t q0 = 0; q0 < in.num_queries; q0 += qt) {
      const std::int64_t qn = std::min(qt, in.num_queries - q0);
      upload_codes(d_query_codes, in.query_codes + q0 * in.code_bytes, qn, in.code_bytes, words, s,
                   "cudaMemcpyAsync(query codes)");
      check_cuda(cudaMemcpyAsync(d_query_labels, in.query_labels + q0 * lw, static_cast<std::size_t>(qn * lw) * 8,
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(query labels)");
      p.num_queries = qn;
      if (histograms) {
        check_cuda(kernels::eval_hamming_histograms(p, d_total, d_relevant, s), "eval_hamming_histograms");
        const auto bytes = static_cast<std::size_t>(qn * bins) * 8;
        check_cuda(cudaMemcpyAsync(out_total + q0 * bins, d_total, bytes, cudaMemcpyDeviceToHost, s),
                   "copy of the distance histograms");
        check_cuda(cudaMemcpyAsync(out_relevant + q0 * bins, d_relevant, bytes, cudaMemcpyDeviceToHost, s),
                   "copy of the relevance histograms");
      } else {
        check_cuda(kernels::eval_hamming_ap(p, variant, k, d_ap, s), "eval_hamming_ap");
        check_cuda(cudaMemcpyAsync(out_ap + q0, d_ap, static_cast<std::size_t>(qn) * 8, cudaMemcpyDeviceToHost, s),
                   "copy of the APs");
      }
      // The tile's buffers are rewritten next tile and the results are read by the host.
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    }
  });
}

/// Scratch bytes of a dense tile of `qt` queries; mirrors the carving in map_dense.
std::int64_t dense_tile_bytes(std::int64_t qt, std::int64_t n, std::int64_t dim, std::int64_t lw,
                              std::size_t sort_bytes) {
  return round_up(qt * dim * 4, kAlign) + round_up(qt * lw * 8, kAlign) + 2 * round_up(qt * n * 4, kAlign) +
         2 * round_up(qt * n, kAlign) + round_up((qt + 1) * 4, kAlign) + round_up(qt * 8, kAlign) +
         round_up(static_cast<std::int64_t>(sort_bytes), kAlign);
}

}  // namespace

void map_hamming(const std::uint8_t* query_codes, std::int64_t num_queries, const std::uint8_t* db_codes,
                 std::int64_t num_items, std::int64_t code_bytes, const std::uint64_t* query_labels,
                 const std::uint64_t* db_labels, std::int64_t label_words, int variant, std::int64_t k, Resources& res,
                 double* out_ap) {
  const HammingCall in{query_codes, num_queries, db_codes, num_items, code_bytes, query_labels, db_labels, label_words};
  run_hamming(in, false, variant, k, res, out_ap, nullptr, nullptr);
}

void hamming_relevance_histograms(const std::uint8_t* query_codes, std::int64_t num_queries,
                                  const std::uint8_t* db_codes, std::int64_t num_items, std::int64_t code_bytes,
                                  const std::uint64_t* query_labels, const std::uint64_t* db_labels,
                                  std::int64_t label_words, Resources& res, std::int64_t* out_total,
                                  std::int64_t* out_relevant) {
  const HammingCall in{query_codes, num_queries, db_codes, num_items, code_bytes, query_labels, db_labels, label_words};
  run_hamming(in, true, kernels::kEvalAll, 0, res, nullptr, out_total, out_relevant);
}

void map_dense(const float* queries, std::int64_t num_queries, const float* db, std::int64_t num_items,
               std::int64_t dim, const std::uint64_t* query_labels, const std::uint64_t* db_labels,
               std::int64_t label_words, int variant, std::int64_t k, Resources& res, double* out_ap) {
  check_sizes(num_queries, num_items, label_words);
  check_variant(variant, k);
  XMR_EXPECTS(dim >= 1 && dim <= std::numeric_limits<int>::max(), "dim (= ", dim, ") must be in [1, ",
              std::numeric_limits<int>::max(), "] for GPU evaluation");
  XMR_EXPECTS(
      queries != nullptr && db != nullptr && query_labels != nullptr && db_labels != nullptr && out_ap != nullptr,
      "the inputs and outputs of GPU evaluation must not be null");
  const std::int64_t n = num_items;
  const std::int64_t lw = label_words;
  const std::int64_t db_bytes = detail::mul_checked(n, detail::mul_checked(dim, 4, "dim"), "database");
  const std::int64_t db_label_bytes =
      detail::mul_checked(n, detail::mul_checked(lw, 8, "label words"), "database labels");

  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  // The context first: CUB's size query below runs on the Resources' device. Nothing is
  // allocated or enqueued until the plan fits.
  Context& ctx = context_of(res);
  const cudaStream_t s = ctx.stream;

  // Plan: queries per tile from the budget (sort items < 2^31 per tile), then shrunk until the
  // tile with CUB's temp storage fits.
  const std::int64_t budget = workspace_budget(r);
  const std::int64_t per_query = dim * 4 + lw * 8 + n * 10 + 4 + 8;
  const std::int64_t fixed = 9 * kAlign + 4 + (std::int64_t{1} << 16);  // alignment, offsets[qt], CUB (estimate)
  std::int64_t qt = std::min({num_queries, kPrefDenseTile, kernels::kEvalMaxItems / n,
                              std::max<std::int64_t>(1, (budget - fixed) / per_query)});
  if (r.max_query_rows.load() > 0) qt = std::min(qt, r.max_query_rows.load());
  std::size_t sort_bytes = 0;
  std::int64_t total = 0;
  for (;;) {
    check_cuda(kernels::eval_dense_sort_workspace(qt, n, &sort_bytes), "segmented sort sizing");
    total = dense_tile_bytes(qt, n, dim, lw, sort_bytes);
    if (total <= budget) break;
    XMR_CHECK(qt > 1, OutOfMemory, "database rows (= ", n, ") need ", total,
              " bytes of GPU scratch for one query (10 bytes per row to sort), above the workspace budget (= ", budget,
              " bytes; see Resources::set_workspace_bytes)");
    qt = std::max<std::int64_t>(1, qt - std::max<std::int64_t>(1, (total - budget + per_query - 1) / per_query));
  }
  std::vector<int> h_offsets(static_cast<std::size_t>(qt + 1));
  for (std::int64_t i = 0; i <= qt; ++i) h_offsets[static_cast<std::size_t>(i)] = static_cast<int>(i * n);

  DeviceBuffer d_db;  // freed after run_drained has drained the stream
  DeviceBuffer d_db_labels;
  d_db.device = ctx.device;
  d_db_labels.device = ctx.device;
  run_drained(s, [&] {
    d_db.ptr = device_malloc(static_cast<std::size_t>(db_bytes), "GPU copy of the database vectors (eval)");
    d_db_labels.ptr = device_malloc(static_cast<std::size_t>(db_label_bytes), "GPU copy of the database labels (eval)");
    check_cuda(cudaMemcpyAsync(d_db.ptr, db, static_cast<std::size_t>(db_bytes), cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync(database vectors)");
    check_cuda(cudaMemcpyAsync(d_db_labels.ptr, db_labels, static_cast<std::size_t>(db_label_bytes),
                               cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync(database labels)");
    Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
    float* d_queries = carve.take<float>(qt * dim);
    auto* d_query_labels = carve.take<std::uint64_t>(qt * lw);
    auto* d_keys = carve.take<std::uint32_t>(qt * n);
    auto* d_keys_alt = carve.take<std::uint32_t>(qt * n);
    auto* d_rel = carve.take<std::uint8_t>(qt * n);
    auto* d_rel_alt = carve.take<std::uint8_t>(qt * n);
    int* d_offsets = carve.take<int>(qt + 1);
    auto* d_ap = carve.take<double>(qt);
    void* d_sort = carve.take<char>(static_cast<std::int64_t>(sort_bytes));
    XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));
    check_cuda(cudaMemcpyAsync(d_offsets, h_offsets.data(), h_offsets.size() * sizeof(int), cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync(segment offsets)");

    const float alpha = 1.0F;
    const float beta = 0.0F;
    const int m = static_cast<int>(n);
    const int kd = static_cast<int>(dim);
    for (std::int64_t q0 = 0; q0 < num_queries; q0 += qt) {
      const std::int64_t qn = std::min(qt, num_queries - q0);
      check_cuda(cudaMemcpyAsync(d_queries, queries + q0 * dim, static_cast<std::size_t>(qn * dim) * sizeof(float),
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(queries)");
      check_cuda(cudaMemcpyAsync(d_query_labels, query_labels + q0 * lw, static_cast<std::size_t>(qn * lw) * 8,
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(query labels)");
      // Row-major scores[qn x n] = queries . db^T, i.e. column-major C[n x qn] = A^T B with
      // A = db (dim x n, column-major) and B = queries (dim x qn); written into the key buffer.
      check_cublas(cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, static_cast<int>(qn), kd, &alpha, d_db.ptr,
                                CUDA_R_32F, kd, d_queries, CUDA_R_32F, kd, &beta, d_keys, CUDA_R_32F, m,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx(eval scores)");
      check_cuda(kernels::eval_dense_prepare(d_keys, d_rel, qn, n, d_query_labels,
                                             static_cast<const std::uint64_t*>(d_db_labels.ptr), lw, s),
                 "eval_dense_prepare");
      std::uint8_t* sorted_rel = nullptr;
      check_cuda(kernels::eval_dense_sort(d_keys, d_keys_alt, d_rel, d_rel_alt, qn, n, d_offsets, d_sort, sort_bytes,
                                          &sorted_rel, s),
                 "eval_dense_sort");
      check_cuda(kernels::eval_dense_ap(sorted_rel, qn, n, variant, k, d_ap, s), "eval_dense_ap");
      check_cuda(cudaMemcpyAsync(out_ap + q0, d_ap, static_cast<std::size_t>(qn) * 8, cudaMemcpyDeviceToHost, s),
                 "copy of the APs");
      // The tile's buffers are rewritten next tile and the APs are read by the host.
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    }
  });
}

}  // namespace xmr::engine::gpu
