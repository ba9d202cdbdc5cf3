// Exact multi-vector top-k on the GPU. The index's vectors stay resident (the dense mirror
// machinery over MultiVectorSnapshot::vector_rows()); queries go in tiles of whole queries, the
// items in tiles of whole items (the tiling of cpu/multi_vector_cpu.h, sized from the workspace
// budget). Per (query tile, item tile):
//   1. the tile-local item offsets are uploaded (int32, items + 1);
//   2. one cublasGemmEx (fp32 in, fp32 compute, no TF32) writes the
//      (query vectors x item vectors) similarity block;
//   3. multi_vector_reduce (kernels/multi_vector_reduce.cu) turns it into (query x item) scores;
//   4. the chunked selection of the dense fast path (kernels::select_tile_into_run, keys with the
//      item position) reduces each query's row to its k best and merges them into the running top-k.
// Only k <= kFastMaxK is supported (no general path): a larger k throws InvalidArgument, and the
// index's Auto device falls back to the CPU for it.
// TODO(multi-vector GPU): keep the item offsets resident instead of uploading them per tile (each
// pageable upload synchronises the stream).
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "dense/plan.h"
#include "dense_launch.h"
#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "multi_vector/storage.h"
#include "multi_vector_launch.h"
#include "resources_impl.h"
#include "select_key.h"
#include "xmr/multi_vector_index.h"

namespace xmr::engine::gpu {

static_assert(kMultiVectorMaxK == kernels::kFastMaxK);
static_assert(static_cast<int>(MultiVectorReduce::MaxSim) == kernels::kReduceMaxSim);
static_assert(static_cast<int>(MultiVectorReduce::SumMaxSim) == kernels::kReduceSumMaxSim);

namespace {

// Scratch model (bytes) for the planner, over query vectors x item vectors per tile; it mirrors
// the carving below (a tile has at most as many queries / items as vectors).
std::int64_t levels_bytes(std::int64_t qt, std::int64_t dt, std::int64_t k) {
  const kernels::SelectScratchKeys lv = kernels::select_scratch_keys(dt, k);
  return qt * (lv.level1 + lv.level2 + 2 * k) * 8 + 3 * kAlign;
}

std::int64_t scratch_bytes(std::int64_t qv, std::int64_t dv, std::int64_t k, std::int64_t dim, std::int64_t) {
  return qv * dim * 4 + 2 * qv * dv * 4 + (qv + 1) * 4 + (dv + 1) * 4 + levels_bytes(qv, dv, k) + 5 * kAlign;
}

}  // namespace

void multi_vector_search(const MultiVectorSnapshot& snap, MirrorCache& mirrors, const float* queries,
                         const std::int64_t* query_offsets, std::int64_t num_queries, std::int64_t k,
                         MultiVectorReduce reduce, Resources& res, std::uint64_t* out_keys) {
  XMR_EXPECTS(k >= 1 && k <= kMultiVectorMaxK, "k (= ", k,
              ") exceeds the largest k of the GPU multi-vector search (= ", kMultiVectorMaxK, "); search on the CPU");
  XMR_INVARIANT(k <= snap.size);
  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  const std::int64_t n = snap.size;
  const std::int64_t dim = snap.dim;
  const std::int64_t* item_off = snap.offset_data();
  std::int64_t max_query_vectors = 0;
  for (std::int64_t q = 0; q < num_queries; ++q) {
    max_query_vectors = std::max(max_query_vectors, query_offsets[q + 1] - query_offsets[q]);
  }
  const std::int64_t max_item_vectors = snap.max_item_vectors();
  const std::int64_t cap_queries = r.max_query_rows.load();
  const std::int64_t cap_item_vectors = r.max_db_rows.load();

  PlanRequest req;
  req.num_queries = query_offsets[num_queries];
  req.num_rows = snap.num_vectors;
  req.k = k;
  req.dim = dim;
  req.budget = static_cast<std::int64_t>(std::min<std::size_t>(r.workspace_bytes.load(), INT64_MAX));
  req.pref_query_rows = std::max<std::int64_t>(2048, max_query_vectors);
  req.pref_db_rows = std::max<std::int64_t>(std::int64_t{1} << 15, max_item_vectors);
  req.cap_db_rows = cap_item_vectors > 0 ? std::max(cap_item_vectors, max_item_vectors) : 0;
  req.min_db_rows = std::max<std::int64_t>(4096, max_item_vectors);
  const PlanResult pr = plan_tiles(req, &scratch_bytes);
  const std::int64_t qv = std::max(pr.plan.query_rows, max_query_vectors);
  const std::int64_t dv = std::max(pr.plan.db_rows, max_item_vectors);
  const std::int64_t total = scratch_bytes(qv, dv, k, dim, 1);
  XMR_CHECK(total <= req.budget, OutOfMemory, "a query of ", max_query_vectors, " vectors against an item of ",
            max_item_vectors, " vectors with k (= ", k, ") needs ", total,
            " bytes of GPU scratch, above the workspace budget (= ", r.workspace_bytes.load(),
            " bytes; see Resources::set_workspace_bytes)");
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  XMR_CHECK(qv < kIntMax && dv < kIntMax && dim <= kIntMax, InvalidArgument, "a GPU tile of ", qv, " query vectors x ",
            dv, " item vectors (dim ", dim, ") exceeds the 32-bit range of cuBLAS");
  // Queries per tile: also bounded by the launch grid (rows of the reduction and selection).
  const std::int64_t max_tile_queries =
      cap_queries > 0 ? std::min(cap_queries, kernels::kMaxLaunchRows) : kernels::kMaxLaunchRows;

  std::vector<std::int64_t> tiles{0};
  while (tiles.back() < n) tiles.push_back(tile_end(item_off, n, tiles.back(), dv, 0));
  std::vector<int> h_query_off(static_cast<std::size_t>(qv + 1));
  std::vector<int> h_item_off(static_cast<std::size_t>(dv + 1));
  const kernels::SelectScratchKeys levels = kernels::select_scratch_keys(dv, k);

  // Everything is validated and planned: only now touch the device.
  Context& ctx = context_of(res);
  const cudaStream_t s = ctx.stream;
  const DenseSnapshot rows_view = snap.vector_rows();
  const std::shared_ptr<DeviceMatrix> db = resident(rows_view, mirrors, ctx, rows_view.row_bytes(), 0);
  const auto* d_vectors = static_cast<const float*>(db->buffer->ptr);
  Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
  auto* d_queries = carve.take<float>(qv * dim);
  auto* d_scores = carve.take<float>(qv * dv);
  auto* d_items = carve.take<float>(qv * dv);
  int* d_query_off = carve.take<int>(qv + 1);
  int* d_item_off = carve.take<int>(dv + 1);
  auto* cand_a = carve.take<std::uint64_t>(qv * levels.level1);
  auto* cand_b = carve.take<std::uint64_t>(qv * levels.level2);
  auto* run = carve.take<std::uint64_t>(qv * 2 * k);
  XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));

  try {
    for (std::int64_t q0 = 0; q0 < num_queries;) {
      const std::int64_t q1 = tile_end(query_offsets, num_queries, q0, qv, max_tile_queries);
      const std::int64_t qn = q1 - q0;
      const std::int64_t row0 = query_offsets[q0];
      const std::int64_t nrows = query_offsets[q1] - row0;
      for (std::int64_t j = 0; j <= qn; ++j) {
        h_query_off[static_cast<std::size_t>(j)] = static_cast<int>(query_offsets[q0 + j] - row0);
      }
      check_cuda(cudaMemcpyAsync(d_queries, queries + row0 * dim, static_cast<std::size_t>(nrows * dim) * 4,
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(queries)");
      check_cuda(cudaMemcpyAsync(d_query_off, h_query_off.data(), static_cast<std::size_t>(qn + 1) * sizeof(int),
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(query offsets)");
      // run: [qn x 2k]; the first k keys of a row are its running top-k, the second k the tile's.
      check_cuda(cudaMemsetAsync(run, 0xFF, static_cast<std::size_t>(qn * 2 * k) * 8, s), "cudaMemsetAsync");
      for (std::size_t t = 0; t + 1 < tiles.size(); ++t) {
        const std::int64_t i0 = tiles[t];
        const std::int64_t i1 = tiles[t + 1];
        const std::int64_t v0 = item_off[i0];
        const std::int64_t nv = item_off[i1] - v0;
        for (std::int64_t j = 0; j <= i1 - i0; ++j) {
          h_item_off[static_cast<std::size_t>(j)] = static_cast<int>(item_off[i0 + j] - v0);
        }
        // Pageable memory: the call returns once the host buffer is staged, so it may be reused.
        check_cuda(cudaMemcpyAsync(d_item_off, h_item_off.data(), static_cast<std::size_t>(i1 - i0 + 1) * sizeof(int),
                                   cudaMemcpyHostToDevice, s),
                   "cudaMemcpyAsync(item offsets)");
        // Row-major scores[nrows x nv] = queries[nrows x dim] . vectors[v0 : v0 + nv]^T, i.e.
        // column-major C[nv x nrows] = A^T B with A = the item vectors (dim x nv, column-major).
        const float alpha = 1.0f;
        const float beta = 0.0f;
        check_cublas(cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nv), static_cast<int>(nrows),
                                  static_cast<int>(dim), &alpha, d_vectors + v0 * dim, CUDA_R_32F,
                                  static_cast<int>(dim), d_queries, CUDA_R_32F, static_cast<int>(dim), &beta, d_scores,
                                  CUDA_R_32F, static_cast<int>(nv), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx(multi-vector scores tile)");
        check_cuda(kernels::multi_vector_reduce(d_scores, nv, d_query_off, qn, d_item_off, i1 - i0,
                                                static_cast<int>(reduce), d_items, i1 - i0, s),
                   "multi_vector_reduce");
        check_cuda(kernels::select_tile_into_run(d_items, qn, i1 - i0, i1 - i0, i0, static_cast<int>(k), cand_a, cand_b,
                                                 run, s),
                   "select_tile_into_run(multi-vector)");
      }
      copy_rows(out_keys + q0 * k, static_cast<std::size_t>(k) * 8, run, static_cast<std::size_t>(2 * k) * 8,
                static_cast<std::size_t>(k) * 8, static_cast<std::size_t>(qn), cudaMemcpyDeviceToHost, s,
                "copy of the results");
      // The query buffers are rewritten next tile and the results are read by the host.
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
      q0 = q1;
    }
  } catch (...) {
    // As dense_search: nothing enqueued may still run or write once the error is reported.
    (void)cudaStreamSynchronize(s);
    (void)cudaGetLastError();
    throw;
  }
}

}  // namespace xmr::engine::gpu
