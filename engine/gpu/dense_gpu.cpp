// Exact dense top-k on the GPU: the database stays resident; queries are processed in batches;
// the database is tiled so scratch memory is bounded by the Resources budget, independent of N.
// Per tile: one cuBLAS GEMM (fp32, or fp16 on tensor cores with fp32 accumulation), then
//   k <= kFastMaxK: chunked CUB selection against the running k-th best key (select_chunks_*),
//                   reduced until one k-list per query, merged into the running top-k;
//   k >  kFastMaxK: tile keys appended to the running top-k and sorted per query with CUB's
//                   segmented radix sort (the general path).
// All keys come from select_key.h, so results equal the CPU backend's wherever scores do.
#include <algorithm>
#include <cstring>
#include <vector>

#include "dense/plan.h"
#include "dense/prepare.h"
#include "dense_launch.h"
#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "prepare_launch.h"
#include "resources_impl.h"
#include "select_key.h"

namespace xmr::engine::gpu {

namespace {

// Scratch models (bytes) for the planner; they mirror the carving in run_* below.
std::int64_t fast_levels_bytes(std::int64_t qt, std::int64_t dt, std::int64_t k) {
  const kernels::SelectScratchKeys lv = kernels::select_scratch_keys(dt, k);
  return qt * (lv.level1 + lv.level2 + 2 * k) * 8 + 3 * kAlign;
}

std::int64_t fast_scratch(std::int64_t qt, std::int64_t dt, std::int64_t k, std::int64_t dim, std::int64_t) {
  return qt * dim * 4 + qt * dt * 4 + fast_levels_bytes(qt, dt, k) + 2 * kAlign;
}

std::int64_t general_scratch(std::int64_t qt, std::int64_t dt, std::int64_t k, std::int64_t dim, std::int64_t) {
  const std::int64_t items = qt * (k + dt);
  // Two key buffers, the offsets, and CUB's workspace (about one more key buffer).
  return qt * dim * 4 + qt * dt * 4 + 3 * items * 8 + 3 * qt * 4 + (std::int64_t{4} << 20);
}

struct Batch {
  const void* queries = nullptr;  // device, [qn x dim], storage type
  std::int64_t qn = 0;
};

void gemm_tile(Context& ctx, const DenseSnapshot& snap, const void* db, std::int64_t n0, std::int64_t nn,
               const void* queries, std::int64_t qn, float* scores) {
  // Row-major scores[qn x nn] = queries[qn x dim] . db[n0 : n0 + nn]^T, i.e. column-major
  // C[nn x qn] = A^T B with A = db tile (dim x nn, column-major) and B = queries (dim x qn).
  const float alpha = 1.0f;
  const float beta = 0.0f;
  const cudaDataType_t in_type = snap.type == DType::F32 ? CUDA_R_32F : CUDA_R_16F;
  const char* a = static_cast<const char*>(db) + static_cast<std::size_t>(n0) * snap.row_bytes();
  check_cublas(cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nn), static_cast<int>(qn),
                            static_cast<int>(snap.dim), &alpha, a, in_type, static_cast<int>(snap.dim), queries,
                            in_type, static_cast<int>(snap.dim), &beta, scores, CUDA_R_32F, static_cast<int>(nn),
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx(scores tile)");
}

void run_fast(Context& ctx, const DenseSnapshot& snap, const void* db, const Batch& b, std::int64_t k, std::int64_t dt,
              float* scores, std::uint64_t* cand_a, std::uint64_t* cand_b, std::uint64_t* run) {
  // run: [qn x 2k]; the first k keys of a row are its running top-k, the second k the tile's.
  check_cuda(cudaMemsetAsync(run, 0xFF, static_cast<std::size_t>(b.qn * 2 * k) * 8, ctx.stream), "cudaMemsetAsync");
  for (std::int64_t n0 = 0; n0 < snap.size; n0 += dt) {
    const std::int64_t nn = std::min(dt, snap.size - n0);
    gemm_tile(ctx, snap, db, n0, nn, b.queries, b.qn, scores);
    check_cuda(
        kernels::select_tile_into_run(scores, b.qn, nn, nn, n0, static_cast<int>(k), cand_a, cand_b, run, ctx.stream),
        "select_tile_into_run");
  }
}

void run_general(Context& ctx, const DenseSnapshot& snap, const void* db, const Batch& b, std::int64_t k,
                 std::int64_t dt, float* scores, std::uint64_t* seg_a, std::uint64_t* seg_b, int* offsets,
                 void* sort_ws, std::size_t sort_ws_bytes, std::vector<int>& h_offsets) {
  const cudaStream_t s = ctx.stream;
  const std::int64_t ld = k + dt;  // row r of seg_*: [running top-k | tile keys]
  // Segment bounds depend only on the tile length: one set for full tiles, one for the last.
  const std::int64_t last = snap.size - (snap.size - 1) / dt * dt;
  const std::size_t qn = static_cast<std::size_t>(b.qn);
  for (std::size_t r = 0; r < qn; ++r) {
    const auto base = static_cast<std::int64_t>(r) * ld;
    h_offsets[r] = static_cast<int>(base);                      // begin
    h_offsets[qn + r] = static_cast<int>(base + k + dt);        // end, full tile
    h_offsets[2 * qn + r] = static_cast<int>(base + k + last);  // end, last tile
  }
  check_cuda(cudaMemcpyAsync(offsets, h_offsets.data(), 3 * qn * sizeof(int), cudaMemcpyHostToDevice, s),
             "cudaMemcpyAsync(segment offsets)");
  check_cuda(cudaMemsetAsync(seg_a, 0xFF, static_cast<std::size_t>(b.qn * ld) * 8, s), "cudaMemsetAsync");
  for (std::int64_t n0 = 0; n0 < snap.size; n0 += dt) {
    const std::int64_t nn = std::min(dt, snap.size - n0);
    gemm_tile(ctx, snap, db, n0, nn, b.queries, b.qn, scores);
    check_cuda(kernels::scores_to_keys(scores, b.qn, nn, nn, n0, seg_a + k, ld, s), "scores_to_keys");
    const int* end = offsets + (nn == dt ? qn : 2 * qn);
    check_cuda(kernels::segmented_sort_keys(seg_a, seg_b, b.qn * ld, b.qn, offsets, end, sort_ws, sort_ws_bytes, s),
               "segmented_sort_keys");
    copy_rows(seg_a, static_cast<std::size_t>(ld) * 8, seg_b, static_cast<std::size_t>(ld) * 8,
              static_cast<std::size_t>(k) * 8, qn, cudaMemcpyDeviceToDevice, s, "copy of the running top-k");
  }
}

/// Throws the InvalidArgument of the first bad row of device queries (status words of
/// kernels::prepare_queries), reading that row back so that the message names its value as the
/// host preparation's does.
[[noreturn]] void fail_device_row(const DenseQueries& q, std::int64_t dim, std::int64_t num_queries,
                                  const std::uint64_t* status, cudaStream_t stream) {
  const bool overflow = status[0] == kernels::kPrepareNoRow;
  const std::uint64_t row = overflow ? status[1] : status[0];
  XMR_INVARIANT(row < static_cast<std::uint64_t>(num_queries));
  const auto r = static_cast<std::int64_t>(row);
  const std::size_t elem = q.type == DType::F32 ? 4 : 2;
  const char* src = static_cast<const char*>(q.data) + static_cast<std::size_t>(r * q.stride) * elem;
  const auto bytes = static_cast<std::size_t>(dim) * elem;
  if (q.type == DType::F32) {
    std::vector<float> h(static_cast<std::size_t>(dim));
    check_cuda(cudaMemcpyAsync(h.data(), src, bytes, cudaMemcpyDeviceToHost, stream), "copy of a bad query row");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    fail_bad_row(h.data(), dim, "queries", r, overflow);
  }
  std::vector<half> h(static_cast<std::size_t>(dim));
  check_cuda(cudaMemcpyAsync(h.data(), src, bytes, cudaMemcpyDeviceToHost, stream), "copy of a bad query row");
  check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  fail_bad_row(h.data(), dim, "queries", r, overflow);
}

}  // namespace

void dense_search(const DenseSnapshot& snap, MirrorCache& mirrors, const DenseQueries& queries,
                  std::int64_t num_queries, std::int64_t k, Resources& res, std::uint64_t* out_keys) {
  const bool on_device = queries.space == MemorySpace::Device;
  XMR_INVARIANT(queries.data != nullptr || num_queries == 0);
  XMR_INVARIANT(!on_device || queries.stride >= snap.dim);
  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  const bool fast = k <= kernels::kFastMaxK;
  PlanRequest req;
  req.num_queries = num_queries;
  req.num_rows = snap.size;
  req.k = k;
  req.dim = snap.dim;
  req.budget = static_cast<std::int64_t>(std::min<std::size_t>(r.workspace_bytes.load(), INT64_MAX));
  req.pref_query_rows = std::min<std::int64_t>(1024, kernels::kMaxLaunchRows);
  req.cap_query_rows = r.max_query_rows.load();
  req.cap_db_rows = r.max_db_rows.load();
  if (fast) {
    req.pref_db_rows = std::int64_t{1} << 16;
    req.db_align = kernels::kChunkSize;
  } else {
    // Each tile re-sorts k + tile keys per query: keep tiles at least as long as k, and give up
    // query rows first.
    req.pref_db_rows = std::max<std::int64_t>(std::int64_t{1} << 16, k);
    req.min_db_rows = std::max<std::int64_t>(4096, k);
    req.db_align = 256;
  }
  PlanResult pr = plan_tiles(req, fast ? &fast_scratch : &general_scratch);
  const std::int64_t need = fast ? fast_scratch(1, 1, k, snap.dim, 1) : general_scratch(1, 1, k, snap.dim, 1);
  XMR_CHECK(pr.fits, OutOfMemory, "k (= ", k, ") needs ", need,
            " bytes of GPU scratch, above the workspace budget (= ", r.workspace_bytes.load(),
            " bytes; see Resources::set_workspace_bytes)");
  std::int64_t qt = pr.plan.query_rows;
  const std::int64_t dt = pr.plan.db_rows;
  if (!fast) {
    // CUB sorts at most 2^31 - 1 items per call.
    while (qt > 1 && qt * (k + dt) > 0x7FFFFFFF) qt /= 2;
    XMR_CHECK(qt * (k + dt) <= 0x7FFFFFFF, InvalidArgument, "k (= ", k, ") is too large for the GPU general path");
  }

  // Carve the workspace.
  const std::size_t qbytes = static_cast<std::size_t>(qt) * snap.row_bytes();
  std::size_t sort_ws_bytes = 0;
  if (!fast) check_cuda(kernels::segmented_sort_workspace(qt * (k + dt), qt, &sort_ws_bytes), "segmented sort sizing");
  const kernels::SelectScratchKeys levels = kernels::select_scratch_keys(dt, k);
  std::int64_t total = round_up(static_cast<std::int64_t>(qbytes), kAlign) + round_up(qt * dt * 4, kAlign);
  if (fast) {
    total += fast_levels_bytes(qt, dt, k);
  } else {
    total += 2 * round_up(qt * (k + dt) * 8, kAlign) + round_up(3 * qt * 4, kAlign) +
             round_up(static_cast<std::int64_t>(sort_ws_bytes), kAlign);
  }
  if (on_device) total += kAlign;  // the two status words of the query checks
  // Everything is validated and planned: only now touch the device.
  Context& ctx = context_of(res);
  const std::shared_ptr<DeviceMatrix> db = resident(snap, mirrors, ctx, snap.row_bytes(), 0);
  Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
  void* d_queries = carve.take<char>(static_cast<std::int64_t>(qbytes));
  float* d_scores = carve.take<float>(qt * dt);
  std::uint64_t* cand_a = nullptr;
  std::uint64_t* cand_b = nullptr;
  std::uint64_t* run = nullptr;
  std::uint64_t* seg_a = nullptr;
  std::uint64_t* seg_b = nullptr;
  int* d_offsets = nullptr;
  void* sort_ws = nullptr;
  std::vector<int> h_offsets;
  if (fast) {
    cand_a = carve.take<std::uint64_t>(qt * levels.level1);
    cand_b = carve.take<std::uint64_t>(qt * levels.level2);
    run = carve.take<std::uint64_t>(qt * 2 * k);
  } else {
    seg_a = carve.take<std::uint64_t>(qt * (k + dt));
    seg_b = carve.take<std::uint64_t>(qt * (k + dt));
    d_offsets = carve.take<int>(3 * qt);
    sort_ws = carve.take<char>(static_cast<std::int64_t>(sort_ws_bytes));
    h_offsets.resize(static_cast<std::size_t>(3 * qt));
  }
  std::uint64_t* d_status = on_device ? carve.take<std::uint64_t>(2) : nullptr;
  XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));

  try {
    const auto* qsrc = static_cast<const char*>(queries.data);
    const std::size_t qrow = snap.row_bytes();
    const int in_type = queries.type == DType::F32 ? kernels::kPrepareF32 : kernels::kPrepareF16;
    const int out_type = snap.type == DType::F32 ? kernels::kPrepareF32 : kernels::kPrepareF16;
    const std::size_t in_pitch = static_cast<std::size_t>(queries.stride) * (queries.type == DType::F32 ? 4 : 2);
    const bool cosine = queries.metric == Metric::Cosine;
    const bool one_batch = num_queries <= qt;
    if (on_device) {
      // Every row is checked before any search work, so the error names the first bad row of
      // all queries (as on the host); a single batch is prepared by the same pass.
      check_cuda(cudaMemsetAsync(d_status, 0xFF, 2 * sizeof(std::uint64_t), ctx.stream), "cudaMemsetAsync(status)");
      check_cuda(kernels::prepare_queries(queries.data, in_type, num_queries, snap.dim, queries.stride, cosine,
                                          out_type, one_batch ? d_queries : nullptr, 0, d_status, ctx.stream),
                 "prepare_queries");
      std::uint64_t h_status[2] = {0, 0};
      check_cuda(cudaMemcpyAsync(h_status, d_status, sizeof(h_status), cudaMemcpyDeviceToHost, ctx.stream),
                 "copy of the query status");
      check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
      if (h_status[0] != kernels::kPrepareNoRow || h_status[1] != kernels::kPrepareNoRow) {
        fail_device_row(queries, snap.dim, num_queries, h_status, ctx.stream);
      }
    }
    for (std::int64_t q0 = 0; q0 < num_queries; q0 += qt) {
      const Batch b{d_queries, std::min(qt, num_queries - q0)};
      if (!on_device) {
        check_cuda(cudaMemcpyAsync(d_queries, qsrc + static_cast<std::size_t>(q0) * qrow,
                                   static_cast<std::size_t>(b.qn) * qrow, cudaMemcpyHostToDevice, ctx.stream),
                   "cudaMemcpyAsync(queries)");
      } else if (!one_batch) {
        check_cuda(kernels::prepare_queries(qsrc + static_cast<std::size_t>(q0) * in_pitch, in_type, b.qn, snap.dim,
                                            queries.stride, cosine, out_type, d_queries, q0, nullptr, ctx.stream),
                   "prepare_queries");
      }
      const std::uint64_t* result = nullptr;
      std::int64_t result_ld = 0;
      if (fast) {
        run_fast(ctx, snap, db->buffer->ptr, b, k, dt, d_scores, cand_a, cand_b, run);
        result = run;
        result_ld = 2 * k;
      } else {
        run_general(ctx, snap, db->buffer->ptr, b, k, dt, d_scores, seg_a, seg_b, d_offsets, sort_ws, sort_ws_bytes,
                    h_offsets);
        result = seg_a;
        result_ld = k + dt;
      }
      copy_rows(out_keys + q0 * k, static_cast<std::size_t>(k) * 8, result, static_cast<std::size_t>(result_ld) * 8,
                static_cast<std::size_t>(k) * 8, static_cast<std::size_t>(b.qn), cudaMemcpyDeviceToHost, ctx.stream,
                "copy of the results");
      // The query buffer is rewritten next batch and the results are read by the host.
      check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
    }
  } catch (...) {
    // As binary_search: nothing enqueued may still run or write once the error is reported.
    (void)cudaStreamSynchronize(ctx.stream);
    (void)cudaGetLastError();
    throw;
  }
}

void dense_upload(const DenseSnapshot& snap, MirrorCache& mirrors, Resources& res) {
  upload_resident(snap, mirrors, res, snap.row_bytes(), 0);  // the layout dense_search uses
}

}  // namespace xmr::engine::gpu
