#include "dense/storage.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/check.h"
#include "select_key.h"

namespace xmr::engine {

template <class T>
Array<T>::Array(std::int64_t cap)
    : owned(detail::make_host_array<T>(detail::to_size(std::max<std::int64_t>(cap, 1)))),
      ptr(owned.get()),
      capacity(cap) {}

template <class T>
Array<T>::Array(const T* borrowed, std::int64_t count, std::shared_ptr<const void> keeper_)
    // Never written through: a borrowed array's capacity is its snapshot's size.
    : keeper(std::move(keeper_)), ptr(const_cast<T*>(borrowed)), capacity(count) {}

template struct Array<std::byte>;
template struct Array<std::int64_t>;

std::uint64_t new_lineage() {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

namespace {

void allocate(DenseSnapshot& s, std::int64_t capacity) {
  const auto row_bytes = static_cast<std::int64_t>(s.row_bytes());
  s.rows = std::make_shared<Array<std::byte>>(detail::mul_checked(capacity, row_bytes, "index capacity x row bytes"));
  s.ids = std::make_shared<Array<std::int64_t>>(capacity);
}

std::int64_t row_capacity(const DenseSnapshot& s) {
  return s.ids ? s.ids->capacity : 0;
}

}  // namespace

void sequential_ids(const DenseSnapshot& cur, std::span<std::int64_t> out) {
  const std::int64_t first = cur.max_id() + 1;
  const auto n = static_cast<std::int64_t>(out.size());
  XMR_EXPECTS(n == 0 || first <= kMaxId - (n - 1), "sequential ids starting at ", first, " for ", n,
              " vectors would exceed the largest id (= ", kMaxId, ")");
  std::iota(out.begin(), out.end(), first);
}

std::vector<std::int64_t> check_new_ids(std::span<const std::int64_t> stored, std::span<const std::int64_t> ids,
                                        const char* ids_name, const std::string& container) {
  const auto n = static_cast<std::int64_t>(ids.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t id = ids[detail::to_size(i)];
    XMR_EXPECTS(id >= 0 && id <= kMaxId, ids_name, "[", i, "] (= ", id, ") must be in [0, ", kMaxId, "]");
  }
  std::vector<std::int64_t> order(detail::to_size(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return ids[detail::to_size(a)] < ids[detail::to_size(b)]; });
  for (std::int64_t i = 1; i < n; ++i) {
    const std::int64_t a = order[detail::to_size(i - 1)];
    const std::int64_t b = order[detail::to_size(i)];
    XMR_EXPECTS(ids[detail::to_size(a)] != ids[detail::to_size(b)], ids_name, "[", b, "] (= ", ids[detail::to_size(b)],
                ") repeats ", ids_name, "[", a, "]");
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t id = ids[detail::to_size(i)];
    XMR_EXPECTS(!std::binary_search(stored.begin(), stored.end(), id), ids_name, "[", i, "] (= ", id,
                ") is already in ", container);
  }
  return order;
}

std::vector<std::int64_t> removal_positions(std::span<const std::int64_t> stored, std::span<const std::int64_t> ids,
                                            const char* ids_name, const std::string& container) {
  const auto n = static_cast<std::int64_t>(ids.size());
  std::vector<std::int64_t> positions(detail::to_size(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t id = ids[detail::to_size(i)];
    const auto it = std::lower_bound(stored.begin(), stored.end(), id);
    XMR_EXPECTS(it != stored.end() && *it == id, ids_name, "[", i, "] (= ", id, ") is not in ", container);
    positions[detail::to_size(i)] = it - stored.begin();
  }
  std::vector<std::int64_t> order(detail::to_size(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return positions[detail::to_size(a)] < positions[detail::to_size(b)];
  });
  for (std::int64_t i = 1; i < n; ++i) {
    const std::int64_t a = order[detail::to_size(i - 1)];
    const std::int64_t b = order[detail::to_size(i)];
    XMR_EXPECTS(positions[detail::to_size(a)] != positions[detail::to_size(b)], ids_name, "[", std::max(a, b),
                "] (= ", ids[detail::to_size(b)], ") repeats ", ids_name, "[", std::min(a, b), "]");
  }
  std::sort(positions.begin(), positions.end());
  return positions;
}

std::vector<std::int64_t> candidate_positions(std::span<const std::int64_t> stored,
                                              const MatrixView<const std::int64_t>& candidates) {
  const std::int64_t nq = candidates.rows();
  const std::int64_t nc = candidates.cols();
  std::vector<std::int64_t> positions(detail::to_size(detail::mul_checked(nq, nc, "candidates.rows x cols")));
  for (std::int64_t q = 0; q < nq; ++q) {
    const std::int64_t* row = candidates.row(q);
    for (std::int64_t j = 0; j < nc; ++j) {
      const std::int64_t id = row[j];
      std::int64_t pos = -1;
      if (id != -1) {
        const auto it = std::lower_bound(stored.begin(), stored.end(), id);
        XMR_EXPECTS(it != stored.end() && *it == id, "candidates[", q, "][", j, "] (= ", id, ") is not in the index");
        pos = it - stored.begin();
      }
      positions[detail::to_size(q * nc + j)] = pos;
    }
  }
  return positions;
}

std::shared_ptr<const DenseSnapshot> append_rows(const DenseSnapshot& cur, const void* rows,
                                                 std::span<const std::int64_t> ids, const char* ids_name) {
  const auto n = static_cast<std::int64_t>(ids.size());
  const std::int64_t total = detail::add_checked(cur.size, n, "index size after add");
  XMR_EXPECTS(static_cast<std::uint64_t>(total) <= kernels::kMaxPositions, "index size after add (= ", total,
              ") exceeds the per-index limit (= ", kernels::kMaxPositions, ")");

  // Validate every id before touching any memory.
  const std::vector<std::int64_t> order =
      check_new_ids({cur.id_data(), detail::to_size(cur.size)}, ids, ids_name, "the index");
  const std::int64_t* old_ids = cur.id_data();

  const std::size_t row_bytes = cur.row_bytes();
  const auto* src = static_cast<const std::byte*>(rows);
  auto next = std::make_shared<DenseSnapshot>(cur);
  next->size = total;
  if (n == 0) return next;

  const bool pure_append = ids[detail::to_size(order.front())] > cur.max_id();
  if (pure_append && total <= row_capacity(cur)) {
    // Spare capacity past cur.size is read by no published snapshot.
    std::byte* dst = cur.rows->get();
    std::int64_t* dst_ids = cur.ids->get();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = order[detail::to_size(i)];
      std::memcpy(dst + detail::to_size(cur.size + i) * row_bytes, src + detail::to_size(r) * row_bytes, row_bytes);
      dst_ids[cur.size + i] = ids[detail::to_size(r)];
    }
    return next;
  }

  DenseSnapshot& s = *next;
  // Headroom of half the rows for later appends, sized from the row count (not the old
  // capacity, which would compound over repeated merges).
  allocate(s, total + total / 2);
  std::byte* dst = s.rows->get();
  std::int64_t* dst_ids = s.ids->get();
  const std::byte* old_rows = cur.row_data();
  // Merge the old (sorted) rows with the new rows in id order.
  std::int64_t a = 0;
  std::int64_t b = 0;
  for (std::int64_t out = 0; out < total; ++out) {
    const bool take_old = b >= n || (a < cur.size && old_ids[a] < ids[detail::to_size(order[detail::to_size(b)])]);
    if (take_old) {
      std::memcpy(dst + detail::to_size(out) * row_bytes, old_rows + detail::to_size(a) * row_bytes, row_bytes);
      dst_ids[out] = old_ids[a++];
    } else {
      const std::int64_t r = order[detail::to_size(b++)];
      std::memcpy(dst + detail::to_size(out) * row_bytes, src + detail::to_size(r) * row_bytes, row_bytes);
      dst_ids[out] = ids[detail::to_size(r)];
    }
  }
  // A pure append keeps every old row at its position, so device mirrors stay valid.
  if (!pure_append) s.lineage = new_lineage();
  return next;
}

std::shared_ptr<const DenseSnapshot> remove_rows(const DenseSnapshot& cur, std::span<const std::int64_t> ids,
                                                 const char* ids_name) {
  const auto n = static_cast<std::int64_t>(ids.size());
  const std::int64_t* old_ids = cur.id_data();
  // Validate every id before touching any memory: each must be stored, none repeated.
  const std::vector<std::int64_t> positions =
      removal_positions({old_ids, detail::to_size(cur.size)}, ids, ids_name, "the index");

  auto next = std::make_shared<DenseSnapshot>(cur);
  if (n == 0) return next;
  const std::int64_t total = cur.size - n;
  DenseSnapshot& s = *next;
  s.size = total;
  s.lineage = new_lineage();
  allocate(s, total + total / 2);
  const std::size_t row_bytes = cur.row_bytes();
  std::byte* dst = s.rows->get();
  std::int64_t* dst_ids = s.ids->get();
  const std::byte* src = cur.row_data();
  // Copy the runs between removed positions.
  std::int64_t out = 0;
  std::int64_t from = 0;
  for (std::int64_t i = 0; i <= n; ++i) {
    const std::int64_t to = i < n ? positions[detail::to_size(i)] : cur.size;
    const std::int64_t len = to - from;
    if (len > 0) {
      std::memcpy(dst + detail::to_size(out) * row_bytes, src + detail::to_size(from) * row_bytes,
                  detail::to_size(len) * row_bytes);
      std::memcpy(dst_ids + out, old_ids + from, detail::to_size(len) * sizeof(std::int64_t));
      out += len;
    }
    from = to + 1;
  }
  XMR_INVARIANT(out == total);
  return next;
}

std::shared_ptr<const DenseSnapshot> gather_rows(const DenseSnapshot& cur, std::span<const std::int64_t> positions) {
  const auto n = static_cast<std::int64_t>(positions.size());
  auto next = std::make_shared<DenseSnapshot>(cur);
  DenseSnapshot& s = *next;
  s.size = n;
  s.lineage = new_lineage();
  allocate(s, std::max<std::int64_t>(n, 1));
  const std::size_t row_bytes = cur.row_bytes();
  std::byte* dst = s.rows->get();
  std::int64_t* dst_ids = s.ids->get();
  const std::byte* src = cur.row_data();
  const std::int64_t* src_ids = cur.id_data();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t p = positions[detail::to_size(i)];
    XMR_INVARIANT(p >= 0 && p < cur.size && (i == 0 || p > positions[detail::to_size(i - 1)]));
    std::memcpy(dst + detail::to_size(i) * row_bytes, src + detail::to_size(p) * row_bytes, row_bytes);
    dst_ids[i] = src_ids[p];
  }
  return next;
}

}  // namespace xmr::engine
