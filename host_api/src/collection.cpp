// xmr::Collection: the items of one modality in the indexes a pipeline needs, plus labels and
// group ids. Every add and remove validates the whole batch and builds the next snapshot of
// every part before publishing any (see collection_impl.h).
#include "xmr/collection.h"

#include <algorithm>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "binary/codes.h"
#include "binary_index_impl.h"
#include "collection_impl.h"
#include "common/check.h"
#include "common/half.h"
#include "common/host_array.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "dense_index_impl.h"
#include "glue.h"

namespace xmr {

namespace detail {

std::int64_t CollectionMeta::position(std::int64_t id) const noexcept {
  const auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id ? it - ids.begin() : -1;
}

}  // namespace detail

namespace {

constexpr std::int64_t kMaxLabels = 65536;

std::string shape(std::int64_t rows, std::int64_t cols) {
  return detail::concat("[", rows, " x ", cols, "]");
}

/// The collection's batch size n, from the fields it stores; every stored field must be given
/// with n rows and every other field must be empty.
std::int64_t batch_size(const CollectionOptions& o, const CollectionBatch& b) {
  std::int64_t n = -1;
  const char* first = nullptr;
  auto field = [&](bool stored, bool given, std::int64_t rows, const char* name, const std::string& got) {
    if (!stored) {
      XMR_EXPECTS(!given, name, " (= ", got, ") given, but collection '", o.name, "' stores no ", name);
      return;
    }
    if (n < 0) {
      n = rows;
      first = name;
      return;
    }
    XMR_EXPECTS(rows == n, name, " (= ", got, ") must have ", n, " rows, as ", first, " has");
  };
  field(o.dim > 0, b.embeddings.rows() > 0 || b.embeddings.data() != nullptr, b.embeddings.rows(), "items.embeddings",
        shape(b.embeddings.rows(), b.embeddings.cols()));
  field(o.multi_vector_dim > 0, b.vectors.vectors.rows() > 0 || !b.vectors.offsets.empty(), b.vectors.size(),
        "items.vectors", detail::concat(b.vectors.size(), " items"));
  field(o.code_bits > 0, b.codes.rows() > 0 || b.codes.data() != nullptr, b.codes.rows(), "items.codes",
        shape(b.codes.rows(), b.codes.cols()));
  field(o.num_labels > 0, b.labels.rows() > 0 || b.labels.data() != nullptr, b.labels.rows(), "items.labels",
        shape(b.labels.rows(), b.labels.cols()));
  field(o.groups, !b.groups.empty(), static_cast<std::int64_t>(b.groups.size()), "items.groups",
        detail::concat(b.groups.size(), " group ids"));
  if (n < 0) n = 0;  // nothing given: an empty batch
  if (!b.ids.empty()) {
    XMR_EXPECTS(static_cast<std::int64_t>(b.ids.size()) == n, "items.ids.size() (= ", b.ids.size(), ") must equal ", n,
                " (the rows of ", first != nullptr ? first : "the batch", ")");
  }
  return n;
}

}  // namespace

std::vector<std::int64_t> Collection::Impl::positions_of(std::span<const std::int64_t> ids, const char* name) const {
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), name, ".data() (= null) with size ", ids.size());
  std::vector<std::int64_t> pos(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    pos[i] = meta->position(ids[i]);
    XMR_EXPECTS(pos[i] >= 0, name, "[", i, "] (= ", ids[i], ") is not in collection '", options.name, "'");
  }
  return pos;
}

Collection::Collection(const CollectionOptions& o) {
  XMR_EXPECTS(o.dim >= 0 && o.dim <= std::numeric_limits<std::int32_t>::max(), "options.dim (= ", o.dim,
              ") must be in [0, 2^31 - 1] (0: no embeddings)");
  XMR_EXPECTS(o.multi_vector_dim >= 0 && o.multi_vector_dim <= std::numeric_limits<std::int32_t>::max(),
              "options.multi_vector_dim (= ", o.multi_vector_dim, ") must be in [0, 2^31 - 1] (0: no vectors)");
  if (o.code_bits != 0) engine::check_code_bits(o.code_bits, "options.code_bits");
  XMR_EXPECTS(o.num_labels >= 0 && o.num_labels <= kMaxLabels, "options.num_labels (= ", o.num_labels,
              ") must be in [0, ", kMaxLabels, "] (0: no labels)");
  XMR_EXPECTS(o.dim > 0 || o.multi_vector_dim > 0 || o.code_bits > 0, "options.dim, options.multi_vector_dim and ",
              "options.code_bits (= 0, 0, 0): collection '", o.name, "' needs something to search by");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->label_words = (o.num_labels + 63) / 64;
  // The indexes validate the remaining options (metric, storage, device).
  if (o.dim > 0) impl->dense = std::make_unique<DenseIndex>(DenseIndexOptions{o.dim, o.metric, o.storage, o.device});
  if (o.multi_vector_dim > 0) {
    impl->multi_vector =
        std::make_unique<MultiVectorIndex>(MultiVectorIndexOptions{o.multi_vector_dim, o.metric, o.device});
  }
  if (o.code_bits > 0) impl->codes = std::make_unique<BinaryIndex>(BinaryIndexOptions{o.code_bits, o.device});
  XMR_EXPECTS(o.device == Device::Auto || o.device == Device::Cpu || o.device == Device::Gpu,
              "options.device (= ", static_cast<int>(o.device), ") is not a Device value");
  impl->meta = std::make_shared<detail::CollectionMeta>();
  impl_ = std::move(impl);
}

Collection::~Collection() = default;
Collection::Collection(Collection&&) noexcept = default;
Collection& Collection::operator=(Collection&&) noexcept = default;

void Collection::add(const CollectionBatch& items) {
  Impl& im = *impl_;
  const CollectionOptions& o = im.options;
  std::unique_lock lock(im.mutex);
  const std::int64_t n = batch_size(o, items);
  XMR_EXPECTS(items.ids.data() != nullptr || items.ids.empty(), "items.ids.data() (= null) with size ",
              items.ids.size());
  if (o.dim > 0) engine::check_input_view(items.embeddings, "items.embeddings", o.dim);
  if (o.code_bits > 0) engine::check_input_view(items.codes, "items.codes", o.code_bits / 8);
  if (o.num_labels > 0) {
    engine::check_input_view(items.labels, "items.labels", o.num_labels);
    for (std::int64_t r = 0; r < n; ++r) {
      const std::uint8_t* row = items.labels.row(r);
      for (std::int64_t l = 0; l < o.num_labels; ++l) {
        XMR_EXPECTS(row[l] <= 1, "items.labels[", r, "][", l, "] (= ", int{row[l]}, ") must be 0 or 1");
      }
    }
  }
  if (o.groups) {
    XMR_EXPECTS(items.groups.data() != nullptr || n == 0, "items.groups.data() (= null) with size ", n);
    for (std::int64_t r = 0; r < n; ++r) {
      XMR_EXPECTS(items.groups[detail::to_size(r)] >= 0, "items.groups[", r, "] (= ", items.groups[detail::to_size(r)],
                  ") must be >= 0");
    }
  }
  if (n == 0) return;

  detail::translate_bad_alloc("Collection::add", [&] {
    const detail::CollectionMeta& cur = *im.meta;
    std::vector<std::int64_t> seq;
    std::span<const std::int64_t> ids = items.ids;
    if (ids.empty()) {
      const std::int64_t first = cur.ids.empty() ? 0 : cur.ids.back() + 1;
      XMR_EXPECTS(first <= engine::kMaxId - (n - 1), "sequential ids starting at ", first, " for ", n,
                  " items would exceed the largest id (= ", engine::kMaxId, ")");
      seq.resize(detail::to_size(n));
      std::iota(seq.begin(), seq.end(), first);
      ids = seq;
    } else {
      // Once for every part (the indexes validate the same way), naming the collection.
      (void)engine::check_new_ids(cur.ids, ids, "items.ids", detail::concat("collection '", o.name, "'"));
    }

    // The next snapshot of every part; nothing is published until all are built.
    std::shared_ptr<const engine::DenseSnapshot> dense_next;
    if (im.dense) {
      DenseIndex::Impl& d = im.dense->impl();
      const auto snap = d.current();
      detail::mul_checked(n, o.dim, "items.embeddings rows x dim");
      const auto buffer = detail::make_host_array<std::byte>(detail::to_size(n) * snap->row_bytes());
      engine::prepare_rows(items.embeddings, "items.embeddings", o.metric, o.storage, buffer.get());
      dense_next = engine::append_rows(*snap, buffer.get(), ids, "items.ids");
    }
    std::shared_ptr<const engine::DenseSnapshot> codes_next;
    if (im.codes) {
      const std::vector<std::uint8_t> dense = engine::dense_codes(items.codes);
      codes_next = engine::append_rows(*im.codes->impl().current(), dense.data(), ids, "items.ids");
    }
    // Labels and groups, merged in id order.
    auto meta = std::make_shared<detail::CollectionMeta>();
    const std::int64_t total = cur.size() + n;
    std::vector<std::int64_t> order(detail::to_size(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::int64_t a, std::int64_t b) { return ids[detail::to_size(a)] < ids[detail::to_size(b)]; });
    meta->ids.resize(detail::to_size(total));
    const auto words = detail::to_size(im.label_words);
    meta->labels.assign(detail::to_size(total) * words, 0);
    if (o.groups) meta->groups.resize(detail::to_size(total));
    std::int64_t a = 0;
    std::int64_t b = 0;
    for (std::int64_t out = 0; out < total; ++out) {
      const auto po = detail::to_size(out);
      const bool take_old =
          b >= n || (a < cur.size() && cur.ids[detail::to_size(a)] < ids[detail::to_size(order[detail::to_size(b)])]);
      if (take_old) {
        const auto pa = detail::to_size(a++);
        meta->ids[po] = cur.ids[pa];
        std::copy_n(cur.labels.begin() + static_cast<std::ptrdiff_t>(pa * words), words,
                    meta->labels.begin() + static_cast<std::ptrdiff_t>(po * words));
        if (o.groups) meta->groups[po] = cur.groups[pa];
      } else {
        const std::int64_t r = order[detail::to_size(b++)];
        meta->ids[po] = ids[detail::to_size(r)];
        if (o.num_labels > 0) {
          const std::uint8_t* row = items.labels.row(r);
          for (std::int64_t l = 0; l < o.num_labels; ++l) {
            if (row[l] != 0) meta->labels[po * words + detail::to_size(l / 64)] |= std::uint64_t{1} << (l % 64);
          }
        }
        if (o.groups) meta->groups[po] = items.groups[detail::to_size(r)];
      }
    }
    // The multi-vector index validates and publishes its part itself: it is the last step that
    // can fail, so a failure there leaves every part as it was.
    if (im.multi_vector) im.multi_vector->add(items.vectors, ids);
    if (dense_next) im.dense->impl().state.publish(std::move(dense_next));
    if (codes_next) im.codes->impl().state.publish(std::move(codes_next));
    im.meta = std::move(meta);
  });
}

void Collection::remove(std::span<const std::int64_t> ids) {
  Impl& im = *impl_;
  std::unique_lock lock(im.mutex);
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), "ids.data() (= null) with size ", ids.size());
  const std::vector<std::int64_t> sorted =
      engine::removal_positions(im.meta->ids, ids, "ids", detail::concat("collection '", im.options.name, "'"));
  if (ids.empty()) return;
  detail::translate_bad_alloc("Collection::remove", [&] {
    std::shared_ptr<const engine::DenseSnapshot> dense_next;
    if (im.dense) dense_next = engine::remove_rows(*im.dense->impl().current(), ids, "ids");
    std::shared_ptr<const engine::DenseSnapshot> codes_next;
    if (im.codes) codes_next = engine::remove_rows(*im.codes->impl().current(), ids, "ids");
    const detail::CollectionMeta& cur = *im.meta;
    auto meta = std::make_shared<detail::CollectionMeta>();
    const auto words = detail::to_size(im.label_words);
    const std::size_t total = cur.ids.size() - ids.size();
    meta->ids.reserve(total);
    meta->labels.reserve(total * words);
    if (im.options.groups) meta->groups.reserve(total);
    std::size_t next_removed = 0;
    for (std::size_t p = 0; p < cur.ids.size(); ++p) {
      if (next_removed < sorted.size() && detail::to_size(sorted[next_removed]) == p) {
        ++next_removed;
        continue;
      }
      meta->ids.push_back(cur.ids[p]);
      meta->labels.insert(meta->labels.end(), cur.labels.begin() + static_cast<std::ptrdiff_t>(p * words),
                          cur.labels.begin() + static_cast<std::ptrdiff_t>((p + 1) * words));
      if (im.options.groups) meta->groups.push_back(cur.groups[p]);
    }
    if (im.multi_vector) im.multi_vector->remove(ids);
    if (dense_next) im.dense->impl().state.publish(std::move(dense_next));
    if (codes_next) im.codes->impl().state.publish(std::move(codes_next));
    im.meta = std::move(meta);
  });
}

const CollectionOptions& Collection::options() const noexcept {
  return impl_->options;
}

std::int64_t Collection::size() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->meta->size();
}

std::vector<std::int64_t> Collection::ids() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->meta->ids;
}

bool Collection::contains(std::int64_t id) const {
  std::shared_lock lock(impl_->mutex);
  return impl_->meta->position(id) >= 0;
}

std::vector<std::int64_t> Collection::groups_of(std::span<const std::int64_t> ids) const {
  std::shared_lock lock(impl_->mutex);
  XMR_EXPECTS(impl_->options.groups, "collection '", impl_->options.name,
              "' has no group ids (options.groups = false)");
  const auto pos = impl_->positions_of(ids, "ids");
  std::vector<std::int64_t> out(pos.size());
  for (std::size_t i = 0; i < pos.size(); ++i) out[i] = impl_->meta->groups[detail::to_size(pos[i])];
  return out;
}

std::vector<std::uint8_t> Collection::labels_of(std::span<const std::int64_t> ids) const {
  std::shared_lock lock(impl_->mutex);
  const std::int64_t nl = impl_->options.num_labels;
  XMR_EXPECTS(nl > 0, "collection '", impl_->options.name, "' has no labels (options.num_labels = 0)");
  const auto pos = impl_->positions_of(ids, "ids");
  const auto words = detail::to_size(impl_->label_words);
  std::vector<std::uint8_t> out(pos.size() * detail::to_size(nl));
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const std::uint64_t* row = impl_->meta->labels.data() + detail::to_size(pos[i]) * words;
    for (std::int64_t l = 0; l < nl; ++l) {
      out[i * detail::to_size(nl) + detail::to_size(l)] = static_cast<std::uint8_t>((row[l / 64] >> (l % 64)) & 1U);
    }
  }
  return out;
}

std::vector<float> Collection::embeddings_of(std::span<const std::int64_t> ids) const {
  std::shared_lock lock(impl_->mutex);
  XMR_EXPECTS(impl_->dense != nullptr, "collection '", impl_->options.name, "' has no embeddings (options.dim = 0)");
  const auto pos = impl_->positions_of(ids, "ids");
  const auto snap = impl_->dense->impl().current();
  const auto dim = detail::to_size(snap->dim);
  return detail::translate_bad_alloc("Collection::embeddings_of", [&] {
    std::vector<float> out(pos.size() * dim);
    for (std::size_t i = 0; i < pos.size(); ++i) {
      const std::size_t p = detail::to_size(pos[i]);
      if (snap->type == DType::F32) {
        std::copy_n(snap->f32_rows() + p * dim, dim, out.begin() + static_cast<std::ptrdiff_t>(i * dim));
      } else {
        detail::half_to_float_n(snap->f16_rows() + p * dim, out.data() + i * dim, dim);
      }
    }
    return out;
  });
}

std::vector<std::uint8_t> Collection::codes_of(std::span<const std::int64_t> ids) const {
  std::shared_lock lock(impl_->mutex);
  XMR_EXPECTS(impl_->codes != nullptr, "collection '", impl_->options.name, "' has no codes (options.code_bits = 0)");
  const auto pos = impl_->positions_of(ids, "ids");
  const auto snap = impl_->codes->impl().current();
  const std::size_t cb = snap->row_bytes();
  return detail::translate_bad_alloc("Collection::codes_of", [&] {
    std::vector<std::uint8_t> out(pos.size() * cb);
    const auto* rows = reinterpret_cast<const std::uint8_t*>(snap->row_data());
    for (std::size_t i = 0; i < pos.size(); ++i) {
      std::copy_n(rows + detail::to_size(pos[i]) * cb, cb, out.begin() + static_cast<std::ptrdiff_t>(i * cb));
    }
    return out;
  });
}

void Collection::vectors_of(std::span<const std::int64_t> ids, std::vector<float>& vectors,
                            std::vector<std::int64_t>& offsets) const {
  std::shared_lock lock(impl_->mutex);
  XMR_EXPECTS(impl_->multi_vector != nullptr, "collection '", impl_->options.name,
              "' has no multi-vector items (options.multi_vector_dim = 0)");
  (void)impl_->positions_of(ids, "ids");  // names the collection in the error
  impl_->multi_vector->reconstruct(ids, vectors, offsets);
}

const DenseIndex* Collection::embedding_index() const noexcept {
  return impl_->dense.get();
}
const MultiVectorIndex* Collection::multi_vector_index() const noexcept {
  return impl_->multi_vector.get();
}
const BinaryIndex* Collection::code_index() const noexcept {
  return impl_->codes.get();
}

}  // namespace xmr
