#include "dense/plan.h"

#include <algorithm>

namespace xmr::engine {

PlanResult plan_tiles(const PlanRequest& req, ScratchFn scratch) {
  auto cap = [](std::int64_t v, std::int64_t c) { return c > 0 ? std::min(v, c) : v; };
  std::int64_t qr = std::max<std::int64_t>(1, cap(std::min(req.num_queries, req.pref_query_rows), req.cap_query_rows));
  std::int64_t dr = std::max<std::int64_t>(1, cap(std::min(req.num_rows, req.pref_db_rows), req.cap_db_rows));
  auto fits = [&] { return scratch(qr, dr, req.k, req.dim, req.workers) <= req.budget; };
  // Shrink the database tile first down to a floor, then the query tile, then the rest.
  const std::int64_t db_floor = std::min<std::int64_t>(dr, std::max<std::int64_t>(req.db_align, req.min_db_rows));
  while (!fits() && dr > db_floor) dr = std::max(db_floor, dr / 2);
  while (!fits() && qr > 1) qr = std::max<std::int64_t>(1, qr / 2);
  while (!fits() && dr > 1) dr = std::max<std::int64_t>(1, dr / 2);
  if (dr < req.num_rows && req.db_align > 1 && dr > req.db_align) dr -= dr % req.db_align;
  return {TilePlan{qr, dr}, fits()};
}

}  // namespace xmr::engine
