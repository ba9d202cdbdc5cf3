#include "multi_vector/storage.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/check.h"
#include "select_key.h"

namespace xmr::engine {

namespace {

std::size_t row_bytes(const MultiVectorSnapshot& s) {
  return detail::to_size(s.dim) * sizeof(float);
}

std::int64_t item_capacity(const MultiVectorSnapshot& s) {
  return s.ids ? s.ids->capacity : 0;
}

std::int64_t vector_capacity(const MultiVectorSnapshot& s) {
  return s.vectors ? s.vectors->capacity / static_cast<std::int64_t>(row_bytes(s)) : 0;
}

/// Fresh arrays for `items` items and `vectors` vectors (contents undefined; offsets[0] = 0).
void allocate(MultiVectorSnapshot& s, std::int64_t items, std::int64_t vectors) {
  const auto rb = static_cast<std::int64_t>(row_bytes(s));
  s.vectors = std::make_shared<Array<std::byte>>(detail::mul_checked(vectors, rb, "index vector capacity x row bytes"));
  s.ids = std::make_shared<Array<std::int64_t>>(items);
  s.offsets = std::make_shared<Array<std::int64_t>>(items + 1);
  s.offsets->get()[0] = 0;
}

/// Appends item `src_item` of (src_vectors, src_offsets) as item `pos` of `dst` (whose offsets up
/// to `pos` are written).
void copy_item(MultiVectorSnapshot& dst, std::int64_t pos, std::int64_t id, const float* src_vectors,
               const std::int64_t* src_offsets, std::int64_t src_item) {
  const std::int64_t begin = src_offsets[src_item];
  const std::int64_t count = src_offsets[src_item + 1] - begin;
  std::int64_t* off = dst.offsets->get();
  const std::size_t rb = row_bytes(dst);
  std::memcpy(dst.vectors->get() + detail::to_size(off[pos]) * rb, src_vectors + begin * dst.dim,
              detail::to_size(count) * rb);
  off[pos + 1] = off[pos] + count;
  dst.ids->get()[pos] = id;
}

}  // namespace

std::int64_t MultiVectorSnapshot::max_item_vectors() const {
  std::int64_t m = 0;
  const std::int64_t* off = offset_data();
  for (std::int64_t i = 0; i < size; ++i) m = std::max(m, off[i + 1] - off[i]);
  return m;
}

DenseSnapshot MultiVectorSnapshot::vector_rows() const {
  DenseSnapshot d;
  d.size = num_vectors;
  d.dim = dim;
  d.type = DType::F32;
  d.lineage = lineage;
  d.rows = vectors;
  d.ids = std::make_shared<Array<std::int64_t>>(nullptr, vector_capacity(*this), nullptr);
  return d;
}

std::int64_t tile_end(const std::int64_t* offsets, std::int64_t n, std::int64_t begin, std::int64_t max_vectors,
                      std::int64_t max_entries) {
  const std::int64_t limit = max_entries > 0 ? std::min(n, begin + max_entries) : n;
  // First entry boundary past the budget; the tile ends one before it.
  const std::int64_t* it = std::upper_bound(offsets + begin + 1, offsets + limit + 1,
                                            offsets[begin] + std::max<std::int64_t>(max_vectors, 0));
  const std::int64_t end = (it - offsets) - 1;
  return std::max(end, begin + 1);
}

std::shared_ptr<const MultiVectorSnapshot> empty_multi_vector_snapshot(std::int64_t dim) {
  auto s = std::make_shared<MultiVectorSnapshot>();
  s->dim = dim;
  s->lineage = 0;
  allocate(*s, 0, 0);
  return s;
}

void sequential_ids(const MultiVectorSnapshot& cur, std::span<std::int64_t> out) {
  const std::int64_t first = cur.max_id() + 1;
  const auto n = static_cast<std::int64_t>(out.size());
  XMR_EXPECTS(n == 0 || first <= kMaxId - (n - 1), "sequential ids starting at ", first, " for ", n,
              " items would exceed the largest id (= ", kMaxId, ")");
  std::iota(out.begin(), out.end(), first);
}

std::shared_ptr<const MultiVectorSnapshot> append_items(const MultiVectorSnapshot& cur, const float* vectors,
                                                        std::span<const std::int64_t> offsets,
                                                        std::span<const std::int64_t> ids, const char* ids_name) {
  const auto n = static_cast<std::int64_t>(ids.size());
  XMR_INVARIANT(static_cast<std::int64_t>(offsets.size()) == n + 1 && offsets[0] == 0);
  const std::int64_t new_vectors = offsets[detail::to_size(n)];
  const std::int64_t total = detail::add_checked(cur.size, n, "index size after add");
  XMR_EXPECTS(static_cast<std::uint64_t>(total) <= kernels::kMaxPositions, "index size after add (= ", total,
              ") exceeds the per-index limit (= ", kernels::kMaxPositions, " items)");
  const std::int64_t total_vectors = detail::add_checked(cur.num_vectors, new_vectors, "index vectors after add");
  XMR_EXPECTS(total_vectors <= kMaxMultiVectors, "index vectors after add (= ", total_vectors,
              ") exceed the per-index limit (= ", kMaxMultiVectors, ")");

  // Validate every id before touching any memory.
  const std::int64_t* old_ids = cur.id_data();
  const std::vector<std::int64_t> order =
      check_new_ids({old_ids, detail::to_size(cur.size)}, ids, ids_name, "the index");

  auto next = std::make_shared<MultiVectorSnapshot>(cur);
  next->size = total;
  next->num_vectors = total_vectors;
  if (n == 0) return next;

  const std::int64_t* src_off = offsets.data();
  const bool pure_append = ids[detail::to_size(order.front())] > cur.max_id();
  if (pure_append && total <= item_capacity(cur) && total_vectors <= vector_capacity(cur)) {
    // Spare capacity past cur.size / cur.num_vectors is read by no published snapshot (the
    // offsets entry at cur.size is shared, but it already holds cur.num_vectors).
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = order[detail::to_size(i)];
      copy_item(*next, cur.size + i, ids[detail::to_size(r)], vectors, src_off, r);
    }
    return next;
  }

  MultiVectorSnapshot& s = *next;
  // Headroom of half the items and vectors for later appends (as DenseSnapshot).
  allocate(s, total + total / 2, total_vectors + total_vectors / 2);
  const float* old_vectors = cur.vector_data();
  const std::int64_t* old_off = cur.offset_data();
  std::int64_t a = 0;
  std::int64_t b = 0;
  for (std::int64_t out = 0; out < total; ++out) {
    const bool take_old = b >= n || (a < cur.size && old_ids[a] < ids[detail::to_size(order[detail::to_size(b)])]);
    if (take_old) {
      copy_item(s, out, old_ids[a], old_vectors, old_off, a);
      ++a;
    } else {
      const std::int64_t r = order[detail::to_size(b++)];
      copy_item(s, out, ids[detail::to_size(r)], vectors, src_off, r);
    }
  }
  XMR_INVARIANT(s.offsets->get()[total] == total_vectors);
  // A pure append keeps every old item and vector at its position, so device copies stay valid.
  if (!pure_append) s.lineage = new_lineage();
  return next;
}

namespace {

/// Builds `s` (whose dim is set) from items `keep` (ascending positions) of `src`.
void build_from(MultiVectorSnapshot& s, const MultiVectorSnapshot& src, std::span<const std::int64_t> keep,
                std::int64_t item_cap, std::int64_t vector_cap) {
  allocate(s, item_cap, vector_cap);
  const std::int64_t* ids = src.id_data();
  const std::int64_t* off = src.offset_data();
  const float* vec = src.vector_data();
  std::int64_t out = 0;
  for (const std::int64_t p : keep) {
    copy_item(s, out, ids[p], vec, off, p);
    ++out;
  }
  s.size = out;
  s.num_vectors = s.offsets->get()[out];
  s.lineage = new_lineage();
}

}  // namespace

std::shared_ptr<const MultiVectorSnapshot> remove_items(const MultiVectorSnapshot& cur,
                                                        std::span<const std::int64_t> ids, const char* ids_name) {
  const auto n = static_cast<std::int64_t>(ids.size());
  const std::int64_t* old_ids = cur.id_data();
  // Validate every id before touching any memory: each must be stored, none repeated.
  const std::vector<std::int64_t> positions =
      removal_positions({old_ids, detail::to_size(cur.size)}, ids, ids_name, "the index");

  auto next = std::make_shared<MultiVectorSnapshot>(cur);
  if (n == 0) return next;
  std::vector<char> removed(detail::to_size(cur.size), 0);
  std::int64_t removed_vectors = 0;
  for (const std::int64_t p : positions) {
    removed[detail::to_size(p)] = 1;
    removed_vectors += cur.item_vectors(p);
  }
  std::vector<std::int64_t> keep;
  keep.reserve(detail::to_size(cur.size - n));
  for (std::int64_t p = 0; p < cur.size; ++p) {
    if (removed[detail::to_size(p)] == 0) keep.push_back(p);
  }
  const std::int64_t items = cur.size - n;
  const std::int64_t vectors = cur.num_vectors - removed_vectors;
  build_from(*next, cur, keep, items + items / 2, vectors + vectors / 2);
  XMR_INVARIANT(next->size == items && next->num_vectors == vectors);
  return next;
}

std::shared_ptr<const MultiVectorSnapshot> gather_items(const MultiVectorSnapshot& snap,
                                                        std::span<const std::int64_t> positions) {
  const auto n = static_cast<std::int64_t>(positions.size());
  std::int64_t vectors = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t p = positions[detail::to_size(j)];
    XMR_EXPECTS(p >= 0 && p < snap.size, "positions[", j, "] (= ", p, ") must be in [0, ", snap.size, ")");
    XMR_EXPECTS(j == 0 || p > positions[detail::to_size(j - 1)], "positions[", j, "] (= ", p, ") must be > positions[",
                j - 1, "] (= ", positions[detail::to_size(j - 1)], ")");
    vectors += snap.item_vectors(p);
  }
  auto next = std::make_shared<MultiVectorSnapshot>();
  next->dim = snap.dim;
  build_from(*next, snap, positions, n, vectors);
  return next;
}

}  // namespace xmr::engine
