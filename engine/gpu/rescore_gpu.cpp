// Exact rescoring on the GPU (stage 2 of a shortlist-then-rescore pipeline): the scores of given
// (query, row) pairs against the index's resident copy, the one dense_search uses (uploaded or
// extended here when needed). Queries go in tiles sized from the workspace budget; per tile the
// queries and row positions are uploaded, kernels::rescore_pairs (kernels/rescore.cu) scores one
// pair per warp in double, and the scores come back to the host. The summation order is the CPU
// backend's (kernels/rescore_launch.h), so both return the same bits.
#include <algorithm>
#include <mutex>

#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "rescore_launch.h"
#include "resources_impl.h"

namespace xmr::engine::gpu {

namespace {

/// Pairs per launch at most (keeps the grid and the int64 byte counts far from their limits).
constexpr std::int64_t kMaxTilePairs = std::int64_t{1} << 30;

}  // namespace

bool dense_resident(const DenseSnapshot& snap, MirrorCache& mirrors, int device) noexcept {
  if (snap.size == 0) return false;
  std::lock_guard lock(mirrors.mutex);
  const auto it = mirrors.by_device.find(device);
  if (it == mirrors.by_device.end() || !it->second) return false;
  const DeviceMatrix& m = *it->second;
  // resident() reuses exactly such a copy (dense_search's layout: pitch = row size, no tail).
  return m.lineage == snap.lineage && m.stride == snap.row_bytes() && m.rows >= snap.size;
}

void dense_rescore(const DenseSnapshot& snap, MirrorCache& mirrors, const void* queries, std::int64_t num_queries,
                   const std::int64_t* positions, std::int64_t num_candidates, Resources& res, float* out,
                   std::int64_t out_ld) {
  XMR_INVARIANT(snap.size > 0 && num_queries > 0 && num_candidates > 0);
  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  // Scratch per query: its prepared row, its positions (int64) and its scores (fp32).
  const std::int64_t qrow = static_cast<std::int64_t>(snap.row_bytes());
  const std::int64_t per_query = qrow + num_candidates * 12;
  const std::int64_t budget = static_cast<std::int64_t>(std::min<std::size_t>(r.workspace_bytes.load(), INT64_MAX));
  std::int64_t qt = (budget - 3 * kAlign) / per_query;
  XMR_CHECK(qt >= 1, OutOfMemory, "candidates.cols (= ", num_candidates, ") needs ", per_query + 3 * kAlign,
            " bytes of GPU scratch per query (dim ", snap.dim, "), above the workspace budget (= ", budget,
            " bytes; see Resources::set_workspace_bytes)");
  qt = std::min({qt, num_queries, std::max<std::int64_t>(1, kMaxTilePairs / num_candidates)});
  const std::int64_t cap = r.max_query_rows.load();
  if (cap > 0) qt = std::min(qt, cap);
  const std::int64_t total = round_up(qt * qrow, kAlign) + round_up(qt * num_candidates * 8, kAlign) +
                             round_up(qt * num_candidates * 4, kAlign);
  const int type = snap.type == DType::F32 ? kernels::kRescoreF32 : kernels::kRescoreF16;

  // Everything is validated and planned: only now touch the device.
  Context& ctx = context_of(res);
  const cudaStream_t s = ctx.stream;
  try {
    const std::shared_ptr<DeviceMatrix> db = resident(snap, mirrors, ctx, snap.row_bytes(), 0);
    Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
    char* d_queries = carve.take<char>(qt * qrow);
    auto* d_positions = carve.take<std::int64_t>(qt * num_candidates);
    auto* d_out = carve.take<float>(qt * num_candidates);
    XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));
    const auto* qsrc = static_cast<const char*>(queries);
    const auto row_scores = static_cast<std::size_t>(num_candidates) * sizeof(float);
    for (std::int64_t q0 = 0; q0 < num_queries; q0 += qt) {
      const std::int64_t qn = std::min(qt, num_queries - q0);
      check_cuda(
          cudaMemcpyAsync(d_queries, qsrc + q0 * qrow, static_cast<std::size_t>(qn * qrow), cudaMemcpyHostToDevice, s),
          "cudaMemcpyAsync(queries)");
      check_cuda(cudaMemcpyAsync(d_positions, positions + q0 * num_candidates,
                                 static_cast<std::size_t>(qn * num_candidates) * sizeof(std::int64_t),
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(candidate positions)");
      check_cuda(kernels::rescore_pairs(d_queries, db->buffer->ptr, qrow, type, snap.dim, d_positions, qn,
                                        num_candidates, d_out, s),
                 "rescore_pairs");
      copy_rows(out + q0 * out_ld, static_cast<std::size_t>(out_ld) * sizeof(float), d_out, row_scores, row_scores,
                static_cast<std::size_t>(qn), cudaMemcpyDeviceToHost, s, "copy of the scores");
      // The tile's buffers are rewritten next tile and the scores are read by the host.
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    }
  } catch (...) {
    // As dense_search: nothing enqueued (an upload included) may still run or write once the
    // error is reported.
    (void)cudaStreamSynchronize(s);
    (void)cudaGetLastError();
    throw;
  }
}

}  // namespace xmr::engine::gpu
