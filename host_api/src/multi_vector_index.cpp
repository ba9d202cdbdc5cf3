// xmr::MultiVectorIndex: validates every argument, resolves the device, prepares inputs, then
// calls the backend (which may assume valid inputs). Validation happens before any side effect.
#include "xmr/multi_vector_index.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/host_array.h"
#include "cpu/multi_vector_cpu.h"
#include "dense/prepare.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "multi_vector/storage.h"
#include "multi_vector_impl.h"
#include "select_key.h"

namespace xmr {

namespace {

constexpr std::int64_t kMaxK = std::numeric_limits<std::int32_t>::max();

void check_reduce(MultiVectorReduce reduce, const char* name) {
  XMR_EXPECTS(reduce == MultiVectorReduce::MaxSim || reduce == MultiVectorReduce::SumMaxSim, name,
              " (= ", static_cast<int>(reduce), ") is not a MultiVectorReduce value");
}

}  // namespace

namespace detail {

std::int64_t check_multi_vector_batch(const MultiVectorBatch& batch, const char* name, std::int64_t dim) {
  const std::string vectors_name = std::string(name) + ".vectors";
  engine::check_input_view(batch.vectors, vectors_name.c_str(), dim);
  const std::span<const std::int64_t> off = batch.offsets;
  if (off.empty()) return batch.vectors.rows();
  XMR_EXPECTS(off.data() != nullptr, name, ".offsets.data() (= null) with size ", off.size());
  XMR_EXPECTS(off[0] == 0, name, ".offsets[0] (= ", off[0], ") must be 0");
  for (std::size_t i = 1; i < off.size(); ++i) {
    XMR_EXPECTS(off[i] > off[i - 1], name, ".offsets[", i, "] (= ", off[i], ") must be > ", name, ".offsets[", i - 1,
                "] (= ", off[i - 1], "): every entry needs at least one vector");
  }
  XMR_EXPECTS(off.back() == batch.vectors.rows(), name, ".offsets[", off.size() - 1, "] (= ", off.back(),
              ") must equal ", vectors_name, ".rows (= ", batch.vectors.rows(), ")");
  return batch.size();
}

}  // namespace detail

void MultiVectorIndex::Impl::check_batch(const MultiVectorBatch& batch, const char* name) const {
  (void)detail::check_multi_vector_batch(batch, name, options.dim);
}

void MultiVectorIndex::Impl::check_search(const MultiVectorBatch& queries, std::int64_t k,
                                          const MultiVectorSearchOptions& opts,
                                          const engine::MultiVectorSnapshot& s) const {
  check_batch(queries, "queries");
  XMR_EXPECTS(k >= 1 && k <= kMaxK, "k (= ", k, ") must be in [1, ", kMaxK, "]");
  check_reduce(opts.reduce, "options.reduce");
  XMR_EXPECTS(s.size > 0, "index size (= 0): the index is empty, add items before searching");
}

void MultiVectorIndex::Impl::prepare_queries(const MultiVectorBatch& queries, std::vector<float>& vectors,
                                             std::vector<std::int64_t>& offsets) const {
  const std::int64_t rows = queries.vectors.rows();
  vectors.resize(detail::to_size(detail::mul_checked(rows, options.dim, "queries.vectors.rows x dim")));
  engine::prepare_rows(queries.vectors, "queries.vectors", options.metric, DType::F32, vectors.data());
  if (queries.offsets.empty()) {
    offsets.resize(detail::to_size(rows + 1));
    std::iota(offsets.begin(), offsets.end(), std::int64_t{0});
  } else {
    offsets.assign(queries.offsets.begin(), queries.offsets.end());
  }
}

Device MultiVectorIndex::Impl::search_snapshot(const engine::MultiVectorSnapshot& snap,
                                               engine::gpu::MirrorCache* mirrors, const MultiVectorBatch& queries,
                                               std::int64_t k, MatrixView<std::int64_t> out_ids,
                                               MatrixView<float> out_scores,
                                               const MultiVectorSearchOptions& opts) const {
  check_batch(queries, "queries");
  XMR_EXPECTS(k >= 1 && k <= kMaxK, "k (= ", k, ") must be in [1, ", kMaxK, "]");
  check_reduce(opts.reduce, "options.reduce");
  const std::int64_t nq = queries.size();
  engine::check_output_view(out_ids, "out_ids", nq, k);
  engine::check_output_view(out_scores, "out_scores", nq, k);
  Resources& res = opts.resources != nullptr ? *opts.resources : detail::thread_default_resources();
  // Backends select min(k, N) per query; slots past N are padding, filled here.
  const std::int64_t kb = std::min(k, snap.size);
  const Device requested = opts.device.value_or(options.device);
  const Device device = requested == Device::Auto && kb > engine::gpu::kMultiVectorMaxK
                            ? Device::Cpu
                            : detail::resolve_device(requested, res);
  XMR_EXPECTS(device == Device::Cpu || kb <= engine::gpu::kMultiVectorMaxK, "k (= ", k,
              ") exceeds the largest k of the GPU multi-vector search (= ", engine::gpu::kMultiVectorMaxK,
              "); search on the CPU");
  if (nq == 0) return device;

  return detail::translate_bad_alloc("MultiVectorIndex::search", [&] {
    std::vector<std::uint64_t> keys;
    if (kb > 0) {
      std::vector<float> qf;
      std::vector<std::int64_t> qoff;
      prepare_queries(queries, qf, qoff);
      keys.resize(detail::to_size(detail::mul_checked(nq, kb, "queries.size x k")));
      if (device == Device::Cpu) {
        engine::cpu::multi_vector_search(snap, qf.data(), qoff.data(), nq, kb, opts.reduce, res, keys.data());
      } else if (mirrors != nullptr) {
        engine::gpu::multi_vector_search(snap, *mirrors, qf.data(), qoff.data(), nq, kb, opts.reduce, res, keys.data());
      } else {
        engine::gpu::MirrorCache temporary;
        engine::gpu::multi_vector_search(snap, temporary, qf.data(), qoff.data(), nq, kb, opts.reduce, res,
                                         keys.data());
      }
    }
    const std::int64_t* ids = snap.id_data();
    for (std::int64_t q = 0; q < nq; ++q) {
      std::int64_t* oid = out_ids.row(q);
      float* osc = out_scores.row(q);
      const std::uint64_t* kr = keys.data() + q * kb;
      for (std::int64_t j = 0; j < k; ++j) {
        const std::uint64_t key = j < kb ? kr[j] : kernels::kEmptyKey;
        if (key == kernels::kEmptyKey) {
          oid[j] = -1;
          osc[j] = -std::numeric_limits<float>::infinity();
        } else {
          const std::uint32_t pos = kernels::key_position(key);
          XMR_INVARIANT(static_cast<std::int64_t>(pos) < snap.size);
          oid[j] = ids[pos];
          osc[j] = kernels::key_score(key);
        }
      }
    }
    return device;
  });
}

void MultiVectorIndex::Impl::add(const MultiVectorBatch& items, const std::span<const std::int64_t>* ids) {
  check_batch(items, "items");
  const std::int64_t n = items.size();
  if (ids != nullptr) {
    const auto num_ids = static_cast<std::int64_t>(ids->size());
    XMR_EXPECTS(num_ids == n, "ids.size() (= ", num_ids, ") must equal items.size() (= ", n, ")");
    XMR_EXPECTS(ids->data() != nullptr || num_ids == 0, "ids.data() (= null) with size ", num_ids);
  }
  const std::int64_t rows = items.vectors.rows();
  detail::translate_bad_alloc("MultiVectorIndex::add", [&] {
    const std::int64_t elems = detail::mul_checked(rows, options.dim, "items.vectors.rows x dim");
    const detail::HostArray<float> buffer = detail::make_host_array<float>(detail::to_size(elems));
    engine::prepare_rows(items.vectors, "items.vectors", options.metric, DType::F32, buffer.get());
    std::vector<std::int64_t> seq;
    std::span<const std::int64_t> offsets = items.offsets;
    if (offsets.empty()) {
      seq.resize(detail::to_size(rows + 1));
      std::iota(seq.begin(), seq.end(), std::int64_t{0});
      offsets = seq;
    }
    state.append(buffer.get(), offsets, ids);
  });
}

void MultiVectorIndex::Impl::rescore(const MultiVectorBatch& queries, MatrixView<const std::int64_t> candidates,
                                     MatrixView<float> out_scores, MultiVectorReduce reduce) const {
  const auto s = current();
  check_batch(queries, "queries");
  const std::int64_t nq = queries.size();
  const std::int64_t nc = candidates.cols();
  XMR_EXPECTS(candidates.rows() == nq, "candidates.rows() (= ", candidates.rows(),
              ") must equal queries.size() (= ", nq, ")");
  engine::check_input_view(candidates, "candidates", nc);
  XMR_EXPECTS(out_scores.rows() == nq && out_scores.cols() == nc, "out_scores (= [", out_scores.rows(), " x ",
              out_scores.cols(), "]) must be [queries.size x candidates.cols] = [", nq, " x ", nc, "]");
  engine::check_output_view(out_scores, "out_scores", nq, nc);
  check_reduce(reduce, "reduce");
  if (nq == 0 || nc == 0) return;
  detail::translate_bad_alloc("MultiVectorIndex::rescore", [&] {
    // Every id is looked up (and validated) before anything is computed.
    const std::vector<std::int64_t> positions =
        engine::candidate_positions({s->id_data(), detail::to_size(s->size)}, candidates);
    std::vector<float> qf;
    std::vector<std::int64_t> qoff;
    prepare_queries(queries, qf, qoff);
    engine::cpu::multi_vector_rescore(*s, qf.data(), qoff.data(), nq, positions.data(), nc, reduce, out_scores.data(),
                                      out_scores.stride());
  });
}

MultiVectorIndex::MultiVectorIndex(const MultiVectorIndexOptions& options) {
  XMR_EXPECTS(options.dim >= 1 && options.dim <= std::numeric_limits<std::int32_t>::max(),
              "options.dim (= ", options.dim, ") must be in [1, 2^31 - 1]");
  XMR_EXPECTS(options.metric == Metric::Cosine || options.metric == Metric::InnerProduct,
              "options.metric (= ", static_cast<int>(options.metric), ") is not a Metric value");
  XMR_EXPECTS(options.device == Device::Auto || options.device == Device::Cpu || options.device == Device::Gpu,
              "options.device (= ", static_cast<int>(options.device), ") is not a Device value");
  impl_ = std::make_unique<Impl>(options, engine::empty_multi_vector_snapshot(options.dim));
}

MultiVectorIndex::~MultiVectorIndex() = default;
MultiVectorIndex::MultiVectorIndex(MultiVectorIndex&&) noexcept = default;
MultiVectorIndex& MultiVectorIndex::operator=(MultiVectorIndex&&) noexcept = default;

void MultiVectorIndex::add(const MultiVectorBatch& items) {
  impl_->add(items, nullptr);
}

void MultiVectorIndex::add(const MultiVectorBatch& items, std::span<const std::int64_t> ids) {
  impl_->add(items, &ids);
}

void MultiVectorIndex::remove(std::span<const std::int64_t> ids) {
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), "ids.data() (= null) with size ", ids.size());
  detail::translate_bad_alloc("MultiVectorIndex::remove", [&] { impl_->state.remove(ids); });
}

SearchResult MultiVectorIndex::search(const MultiVectorBatch& queries, std::int64_t k,
                                      const MultiVectorSearchOptions& options) const {
  // Validate before sizing the result buffers (a bad call must not fail as out of memory).
  const auto s = impl_->current();
  impl_->check_search(queries, k, options, *s);
  SearchResult r;
  r.num_queries = queries.size();
  r.k = k;
  detail::translate_bad_alloc("MultiVectorIndex::search", [&] {
    const std::size_t n = detail::to_size(detail::mul_checked(r.num_queries, k, "queries.size x k"));
    r.ids.resize(n);
    r.scores.resize(n);
  });
  r.device = impl_->search_snapshot(*s, &impl_->mirrors(), queries, k,
                                    MatrixView<std::int64_t>(r.ids.data(), r.num_queries, k),
                                    MatrixView<float>(r.scores.data(), r.num_queries, k), options);
  return r;
}

Device MultiVectorIndex::search_into(const MultiVectorBatch& queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                                     MatrixView<float> out_scores, const MultiVectorSearchOptions& options) const {
  const auto s = impl_->current();
  impl_->check_search(queries, k, options, *s);
  return impl_->search_snapshot(*s, &impl_->mirrors(), queries, k, out_ids, out_scores, options);
}

void MultiVectorIndex::rescore(const MultiVectorBatch& queries, MatrixView<const std::int64_t> candidates,
                               MatrixView<float> out_scores, MultiVectorReduce reduce) const {
  impl_->rescore(queries, candidates, out_scores, reduce);
}

void MultiVectorIndex::reconstruct(std::span<const std::int64_t> ids, std::vector<float>& vectors,
                                   std::vector<std::int64_t>& offsets) const {
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), "ids.data() (= null) with size ", ids.size());
  const auto s = impl_->current();
  const std::int64_t* stored = s->id_data();
  detail::translate_bad_alloc("MultiVectorIndex::reconstruct", [&] {
    // Look every id up before writing to the outputs (a failed call leaves them as they were).
    std::vector<std::int64_t> positions(ids.size());
    std::vector<std::int64_t> out_offsets(ids.size() + 1, 0);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::int64_t* it = std::lower_bound(stored, stored + s->size, ids[i]);
      XMR_EXPECTS(it != stored + s->size && *it == ids[i], "ids[", i, "] (= ", ids[i], ") is not in the index");
      positions[i] = it - stored;
      out_offsets[i + 1] = out_offsets[i] + s->item_vectors(positions[i]);
    }
    const auto d = detail::to_size(s->dim);
    std::vector<float> out(detail::to_size(out_offsets.back()) * d);
    const std::int64_t* off = s->offset_data();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const float* src = s->vector_data() + detail::to_size(off[positions[i]]) * d;
      std::copy_n(src, detail::to_size(s->item_vectors(positions[i])) * d,
                  out.begin() + static_cast<std::ptrdiff_t>(detail::to_size(out_offsets[i]) * d));
    }
    vectors = std::move(out);
    offsets = std::move(out_offsets);
  });
}

std::int64_t MultiVectorIndex::size() const {
  return impl_->current()->size;
}
std::int64_t MultiVectorIndex::num_vectors() const {
  return impl_->current()->num_vectors;
}
std::int64_t MultiVectorIndex::dim() const noexcept {
  return impl_->options.dim;
}
Metric MultiVectorIndex::metric() const noexcept {
  return impl_->options.metric;
}
Device MultiVectorIndex::device() const noexcept {
  return impl_->options.device;
}
std::vector<std::int64_t> MultiVectorIndex::ids() const {
  const auto s = impl_->current();
  return {s->id_data(), s->id_data() + s->size};
}

}  // namespace xmr
