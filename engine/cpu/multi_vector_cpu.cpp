#include "cpu/multi_vector_cpu.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <vector>

#include "common/check.h"
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

/// max that lets a NaN in and never out: NaN once either side is NaN, in any order.
inline float max_nan(float m, float x) {
  return (x > m || x != x) ? x : m;
}

struct WorkerState {
  std::vector<float> scores;    // [query vectors x item vectors] of a tile
  std::vector<float> item_max;  // [items of a tile]: max over one item's vectors, one query vector
  std::vector<float> reduced;   // [items of a tile]: the (query, item) scores of one query
  std::vector<TopKBuffer> acc;  // [queries of a tile]
  std::vector<std::uint64_t> merge;
};

/// Scores of query rows [r0, r1) (one query) against the items of a tile, from the tile's GEMM
/// block `s` ([tile query vectors x tile item vectors], row ld `ld`, rows relative to the tile).
void reduce_query(const float* s, std::int64_t ld, std::int64_t r0, std::int64_t r1, const std::int64_t* item_off,
                  std::int64_t items, MultiVectorReduce reduce, float* item_max, float* out) {
  const std::int64_t base = item_off[0];
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* row = s + r * ld;
    for (std::int64_t i = 0; i < items; ++i) {
      const std::int64_t c0 = item_off[i] - base;
      const std::int64_t c1 = item_off[i + 1] - base;
      float m = row[c0];
      for (std::int64_t c = c0 + 1; c < c1; ++c) m = max_nan(m, row[c]);
      item_max[i] = m;
    }
    if (r == r0) {
      std::copy_n(item_max, items, out);
    } else if (reduce == MultiVectorReduce::MaxSim) {
      for (std::int64_t i = 0; i < items; ++i) out[i] = max_nan(out[i], item_max[i]);
    } else {
      for (std::int64_t i = 0; i < items; ++i) out[i] += item_max[i];
    }
  }
}

}  // namespace

std::int64_t multi_vector_scratch_bytes(std::int64_t query_vectors, std::int64_t item_vectors, std::int64_t k,
                                        std::int64_t, std::int64_t workers) {
  // A tile has at most as many queries (items) as query (item) vectors.
  const std::int64_t per_worker = query_vectors * item_vectors * 4 + 2 * item_vectors * 4 +
                                  query_vectors * buffer_keys(k) * 8 + workers * buffer_keys(k) * 8;
  return workers * per_worker;
}

void multi_vector_search(const MultiVectorSnapshot& snap, const float* queries, const std::int64_t* query_offsets,
                         std::int64_t num_queries, std::int64_t k, MultiVectorReduce reduce, const Resources& res,
                         std::uint64_t* out_keys) {
  const std::int64_t n = snap.size;
  const std::int64_t dim = snap.dim;
  const std::int64_t workers = std::max(1, omp_get_max_threads());
  const auto [workspace_bytes, cap_queries, cap_item_vectors] = res.impl().settings();
  const std::int64_t* item_off = snap.offset_data();
  std::int64_t max_query_vectors = 0;
  for (std::int64_t q = 0; q < num_queries; ++q) {
    max_query_vectors = std::max(max_query_vectors, query_offsets[q + 1] - query_offsets[q]);
  }
  const std::int64_t max_item_vectors = snap.max_item_vectors();

  // Plan in vectors; tiles then take whole queries and items, at least one of each.
  PlanRequest req;
  req.num_queries = query_offsets[num_queries];
  req.num_rows = snap.num_vectors;
  req.k = k;
  req.dim = dim;
  req.workers = workers;
  req.budget = static_cast<std::int64_t>(std::min<std::size_t>(workspace_bytes, INT64_MAX));
  req.pref_query_rows = std::max<std::int64_t>(256, max_query_vectors);
  req.pref_db_rows = std::max<std::int64_t>(2048, max_item_vectors);
  req.cap_db_rows = cap_item_vectors > 0 ? std::max(cap_item_vectors, max_item_vectors) : 0;
  req.min_db_rows = std::max<std::int64_t>(256, max_item_vectors);
  const PlanResult pr = plan_tiles(req, &multi_vector_scratch_bytes);
  const std::int64_t qv = std::max(pr.plan.query_rows, max_query_vectors);
  const std::int64_t dv = std::max(pr.plan.db_rows, max_item_vectors);
  const std::int64_t need = multi_vector_scratch_bytes(qv, dv, k, dim, workers);
  XMR_CHECK(need <= req.budget, OutOfMemory, "a query of ", max_query_vectors, " vectors against an item of ",
            max_item_vectors, " vectors with k (= ", k, ") needs ", need,
            " bytes of CPU scratch, above the workspace budget (= ", workspace_bytes,
            " bytes; see Resources::set_workspace_bytes)");
  XMR_CHECK(qv <= std::numeric_limits<blasint>::max() && dv <= std::numeric_limits<blasint>::max(), InvalidArgument,
            "a tile of ", qv, " query vectors x ", dv, " item vectors exceeds the BLAS integer range");

  // Item tiles: tile t covers items [tiles[t], tiles[t + 1]).
  std::vector<std::int64_t> tiles{0};
  while (tiles.back() < n) tiles.push_back(tile_end(item_off, n, tiles.back(), dv, 0));
  const auto blocks = static_cast<std::int64_t>(tiles.size()) - 1;

  // All scratch is allocated here, before any parallel region: nothing inside may throw.
  std::vector<WorkerState> state(detail::to_size(workers));
  for (auto& s : state) {
    s.scores.resize(detail::to_size(qv * dv));
    s.item_max.resize(detail::to_size(dv));
    s.reduced.resize(detail::to_size(dv));
    s.acc.resize(detail::to_size(std::min(qv, num_queries)));
    for (auto& a : s.acc) a.reset(k);
    s.merge.reserve(detail::to_size(workers * buffer_keys(k)));
  }

  for (std::int64_t q0 = 0; q0 < num_queries;) {
    const std::int64_t q1 = tile_end(query_offsets, num_queries, q0, qv, cap_queries);
    const std::int64_t qn = q1 - q0;
    const std::int64_t row0 = query_offsets[q0];
    const std::int64_t rows = query_offsets[q1] - row0;
    const float* qp = queries + row0 * dim;
    // Small tiles are not worth waking the thread pool for.
    const bool parallel = rows * snap.num_vectors * dim >= (std::int64_t{1} << 20) && blocks > 1;
#pragma omp parallel num_threads(static_cast <int>(workers)) if (parallel)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
      WorkerState& s = state[static_cast<std::size_t>(t)];
      for (std::int64_t q = 0; q < qn; ++q) s.acc[detail::to_size(q)].reset(k);
      for (std::int64_t b = t; b < blocks; b += nt) {
        const std::int64_t i0 = tiles[detail::to_size(b)];
        const std::int64_t i1 = tiles[detail::to_size(b + 1)];
        const std::int64_t v0 = item_off[i0];
        const std::int64_t nv = item_off[i1] - v0;
        const float* x = snap.vector_data() + v0 * dim;
        score_block(qp, rows, x, nv, dim, s.scores.data());
        for (std::int64_t q = 0; q < qn; ++q) {
          const std::int64_t r0 = query_offsets[q0 + q] - row0;
          const std::int64_t r1 = query_offsets[q0 + q + 1] - row0;
          reduce_query(s.scores.data(), nv, r0, r1, item_off + i0, i1 - i0, reduce, s.item_max.data(),
                       s.reduced.data());
          s.acc[detail::to_size(q)].push_scores(s.reduced.data(), i1 - i0, static_cast<std::uint64_t>(i0));
        }
      }
      // Merge every worker's candidates per query (after all workers finished their tiles).
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
    q0 = q1;
  }
}

void multi_vector_rescore(const MultiVectorSnapshot& snap, const float* queries, const std::int64_t* query_offsets,
                          std::int64_t num_queries, const std::int64_t* positions, std::int64_t num_candidates,
                          MultiVectorReduce reduce, float* out, std::int64_t out_ld) {
  const std::int64_t dim = snap.dim;
  const auto d = static_cast<std::size_t>(dim);
  const std::int64_t* item_off = snap.offset_data();
  const float* vectors = snap.vector_data();
  // Parallel over queries when there is enough work to share.
  const bool parallel = num_queries > 1 && num_queries * num_candidates * dim >= (std::int64_t{1} << 14);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (std::int64_t q = 0; q < num_queries; ++q) {
    for (std::int64_t j = 0; j < num_candidates; ++j) {
      const std::int64_t pos = positions[q * num_candidates + j];
      float& dst = out[q * out_ld + j];
      if (pos < 0) {
        dst = -std::numeric_limits<float>::infinity();
        continue;
      }
      // Products of floats are exact in double and the sums of D of them cannot overflow, so no
      // NaN arises here.
      double total = 0.0;
      for (std::int64_t a = query_offsets[q]; a < query_offsets[q + 1]; ++a) {
        const float* qv = queries + a * dim;
        double best = -std::numeric_limits<double>::infinity();
        for (std::int64_t b = item_off[pos]; b < item_off[pos + 1]; ++b) {
          const float* x = vectors + b * dim;
          double s = 0.0;
          for (std::size_t i = 0; i < d; ++i) s += static_cast<double>(qv[i]) * static_cast<double>(x[i]);
          best = std::max(best, s);
        }
        if (reduce == MultiVectorReduce::MaxSim) {
          total = a == query_offsets[q] ? best : std::max(total, best);
        } else {
          total += best;
        }
      }
      dst = static_cast<float>(total);
    }
  }
}

}  // namespace xmr::engine::cpu
