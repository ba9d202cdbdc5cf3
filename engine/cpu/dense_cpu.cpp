#include "cpu/dense_cpu.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "common/check.h"
#include "common/half.h"
#include "cpu/score_block.h"
#include "cpu/topk_buffer.h"
#include "dense/plan.h"
#include "resources_impl.h"
#include "select_key.h"

namespace xmr::engine::cpu {

namespace {

std::int64_t buffer_keys(std::int64_t k) {
  return 2 * k + 64;
}

struct WorkerState {
  std::vector<float> scores;     // [query_rows x db_rows]
  std::vector<float> converted;  // [db_rows x dim], F16 storage only
  std::vector<TopKBuffer> acc;   // [query_rows]
  std::vector<std::uint64_t> merge;
};

}  // namespace

std::int64_t dense_scratch_bytes(std::int64_t query_rows, std::int64_t db_rows, std::int64_t k, std::int64_t dim,
                                 std::int64_t workers) {
  const std::int64_t per_worker =
      query_rows * db_rows * 4 + db_rows * dim * 4 + query_rows * buffer_keys(k) * 8 + workers * buffer_keys(k) * 8;
  return workers * per_worker;
}

void dense_search(const DenseSnapshot& snap, const float* queries, std::int64_t num_queries, std::int64_t k,
                  const Resources& res, std::uint64_t* out_keys) {
  const std::int64_t n = snap.size;
  const std::int64_t dim = snap.dim;
  const std::int64_t workers = std::max(1, omp_get_max_threads());
  const auto [workspace_bytes, cap_query_rows, cap_db_rows] = res.impl().settings();

  PlanRequest req;
  req.num_queries = num_queries;
  req.num_rows = n;
  req.k = k;
  req.dim = dim;
  req.workers = workers;
  req.budget = static_cast<std::int64_t>(std::min<std::size_t>(workspace_bytes, INT64_MAX));
  req.pref_query_rows = 256;
  req.pref_db_rows = 2048;
  req.cap_query_rows = cap_query_rows;
  req.cap_db_rows = cap_db_rows;
  const PlanResult pr = plan_tiles(req, &dense_scratch_bytes);
  XMR_CHECK(pr.fits, OutOfMemory, "k (= ", k, ") needs ", dense_scratch_bytes(1, 1, k, dim, workers),
            " bytes of CPU scratch, above the workspace budget (= ", workspace_bytes,
            " bytes; see Resources::set_workspace_bytes)");
  const std::int64_t qt = pr.plan.query_rows;
  const std::int64_t dt = pr.plan.db_rows;
  const std::int64_t blocks = (n + dt - 1) / dt;

  // All scratch is allocated here, before any parallel region: nothing inside may throw.
  std::vector<WorkerState> state(detail::to_size(workers));
  for (auto& s : state) {
    s.scores.resize(detail::to_size(qt * dt));
    if (snap.type == DType::F16) s.converted.resize(detail::to_size(dt * dim));
    s.acc.resize(detail::to_size(qt));
    for (auto& a : s.acc) a.reset(k);
    s.merge.reserve(detail::to_size(workers * buffer_keys(k)));
  }

  for (std::int64_t q0 = 0; q0 < num_queries; q0 += qt) {
    const std::int64_t qn = std::min(qt, num_queries - q0);
    const float* qp = queries + q0 * dim;
    // Small tiles are not worth waking the thread pool for.
    const bool parallel = qn * n * dim >= (std::int64_t{1} << 20);
#pragma omp parallel num_threads(static_cast <int>(workers)) if (parallel)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
      WorkerState& s = state[static_cast<std::size_t>(t)];
      for (std::int64_t q = 0; q < qn; ++q) s.acc[detail::to_size(q)].reset(k);
      for (std::int64_t b = t; b < blocks; b += nt) {
        const std::int64_t n0 = b * dt;
        const std::int64_t nn = std::min(dt, n - n0);
        const float* x = nullptr;
        if (snap.type == DType::F32) {
          x = snap.f32_rows() + n0 * dim;
        } else {
          detail::half_to_float_n(snap.f16_rows() + n0 * dim, s.converted.data(), detail::to_size(nn * dim));
          x = s.converted.data();
        }
        score_block(qp, qn, x, nn, dim, s.scores.data());
        for (std::int64_t q = 0; q < qn; ++q) {
          s.acc[detail::to_size(q)].push_scores(s.scores.data() + q * nn, nn, static_cast<std::uint64_t>(n0));
        }
      }
      // Merge every worker's candidates per query (after all workers finished their blocks).
#pragma omp barrier
#pragma omp for schedule(static)
      for (std::int64_t q = 0; q < qn; ++q) {
        std::vector<std::uint64_t>& all = s.merge;
        all.clear();
        for (std::int64_t w = 0; w < nt; ++w) {
          const auto& c = state[detail::to_size(w)].acc[detail::to_size(q)].candidates();
          all.insert(all.end(), c.begin(), c.end());
        }
        write_smallest(all, k, out_keys + (q0 + q) * k);
      }
    }
  }
}

}  // namespace xmr::engine::cpu
