#pragma once
// Tile planning shared by the CPU and GPU backends: how many queries and database rows a tile
// holds so that scratch memory stays under a byte budget, independent of N.

#include <cstdint>

namespace xmr::engine {

struct TilePlan {
  std::int64_t query_rows = 0;  // queries per tile (>= 1)
  std::int64_t db_rows = 0;     // database rows per tile (>= 1)
};

/// Bytes of scratch one tile needs, as a function of the plan (backend-specific).
using ScratchFn = std::int64_t (*)(std::int64_t query_rows, std::int64_t db_rows, std::int64_t k, std::int64_t dim,
                                   std::int64_t workers);

/// Chooses the largest tiles (queries first up to `pref_query_rows`, database rows up to
/// `pref_db_rows`) whose scratch fits `budget`, honouring caps (0 = none). Never returns less
/// than 1 x 1; returns fits = false when even that exceeds the budget.
struct PlanRequest {
  std::int64_t num_queries = 0;
  std::int64_t num_rows = 0;
  std::int64_t k = 1;
  std::int64_t dim = 1;
  std::int64_t workers = 1;
  std::int64_t budget = 0;
  std::int64_t pref_query_rows = 256;
  std::int64_t pref_db_rows = 4096;
  std::int64_t cap_query_rows = 0;
  std::int64_t cap_db_rows = 0;
  std::int64_t db_align = 1;       // db_rows is a multiple of this unless it covers all rows
  std::int64_t min_db_rows = 256;  // shrink the query tile before the database tile below this
};

struct PlanResult {
  TilePlan plan;
  bool fits = true;
};

PlanResult plan_tiles(const PlanRequest& req, ScratchFn scratch);

}  // namespace xmr::engine
