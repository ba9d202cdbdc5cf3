// xmr::DenseIndex: validates every argument, resolves the device, prepares inputs, then calls
// the backend (which may assume valid inputs). Validation happens before any side effect.
#include "xmr/dense_index.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/half.h"
#include "common/host_array.h"
#include "cpu/dense_cpu.h"
#include "cpu/rescore.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "dense_index_impl.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "index_file.h"
#include "select_key.h"
#include "snapshot_state.h"

namespace xmr {

template <class T>
Device DenseIndex::Impl::rescore(MatrixView<const T> queries, MatrixView<const std::int64_t> candidates,
                                 MatrixView<float> out_scores, const SearchOptions& opts) const {
  const auto s = current();
  const std::int64_t dim = options.dim;
  engine::check_input_view(queries, "queries", dim);
  const std::int64_t nq = queries.rows();
  const std::int64_t nc = candidates.cols();
  XMR_EXPECTS(candidates.rows() == nq, "candidates.rows() (= ", candidates.rows(),
              ") must equal queries.rows() (= ", nq, ")");
  engine::check_input_view(candidates, "candidates", nc);
  XMR_EXPECTS(out_scores.rows() == nq && out_scores.cols() == nc, "out_scores (= [", out_scores.rows(), " x ",
              out_scores.cols(), "]) must be [queries.rows x candidates.cols] = [", nq, " x ", nc, "]");
  engine::check_output_view(out_scores, "out_scores", nq, nc);
  Resources& res = opts.resources != nullptr ? *opts.resources : detail::thread_default_resources();
  const Device device = rescore_device(*s, mirrors, opts, res);
  if (nq == 0 || nc == 0) return device;
  return detail::translate_bad_alloc("DenseIndex::rescore", [&] {
    // Every id is looked up (and validated) before anything is computed.
    const std::vector<std::int64_t> positions =
        engine::candidate_positions({s->id_data(), detail::to_size(s->size)}, candidates);
    std::vector<float> qf;
    std::vector<std::uint16_t> qh;
    prepare_queries(queries, device, qf, qh);
    if (s->size == 0) {
      // Only empty slots (any id would have failed the lookup): nothing to compute.
      for (std::int64_t q = 0; q < nq; ++q) std::fill_n(out_scores.row(q), nc, -std::numeric_limits<float>::infinity());
    } else if (device == Device::Cpu) {
      engine::cpu::rescore(*s, qf.data(), nq, positions.data(), nc, out_scores.data(), out_scores.stride());
    } else {
      const void* qp =
          options.storage == DType::F32 ? static_cast<const void*>(qf.data()) : static_cast<const void*>(qh.data());
      engine::gpu::dense_rescore(*s, mirrors, qp, nq, positions.data(), nc, res, out_scores.data(),
                                 out_scores.stride());
    }
    return device;
  });
}

template <class T>
void DenseIndex::Impl::add(MatrixView<const T> vectors, const std::span<const std::int64_t>* ids) {
  const std::int64_t dim = options.dim;
  engine::check_input_view(vectors, "vectors", dim, true);
  if (vectors.space() == MemorySpace::Device) detail::check_device_input_usable("vectors");
  if (ids != nullptr) {
    const auto num_ids = static_cast<std::int64_t>(ids->size());
    XMR_EXPECTS(num_ids == vectors.rows(), "ids.size() (= ", num_ids, ") must equal vectors.rows() (= ", vectors.rows(),
                ")");
    XMR_EXPECTS(ids->data() != nullptr || num_ids == 0, "ids.data() (= null) with size ", num_ids);
  }
  const std::int64_t n = vectors.rows();
  detail::translate_bad_alloc("DenseIndex::add", [&] {
    detail::mul_checked(n, dim, "vectors.rows x dim");
    const detail::HostArray<std::byte> buffer =
        detail::make_host_array<std::byte>(detail::to_size(n) * current()->row_bytes());
    if (vectors.space() == MemorySpace::Device) {
      // The index lives in host memory: one synchronous copy of the rows, prepared as host rows.
      const std::size_t row = detail::to_size(dim) * sizeof(T);
      const detail::HostArray<T> host = detail::make_host_array<T>(detail::to_size(n) * detail::to_size(dim));
      engine::gpu::RowCopy c;
      c.dst = host.get();
      c.dst_pitch = row;
      c.src = vectors.data();
      c.src_pitch = detail::to_size(vectors.stride()) * sizeof(T);
      c.width = row;
      c.rows = detail::to_size(n);
      c.what = "copy of vectors to the host";
      engine::gpu::copy_from_device(c, "vectors");
      engine::prepare_rows(MatrixView<const T>(host.get(), n, dim), "vectors", options.metric, options.storage,
                           buffer.get());
    } else {
      engine::prepare_rows(vectors, "vectors", options.metric, options.storage, buffer.get());
    }
    state.append(buffer.get(), n, ids);
  });
}

template <class T>
Device DenseIndex::Impl::search_snapshot(const engine::DenseSnapshot& snap, engine::gpu::MirrorCache& cache,
                                         MatrixView<const T> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                                         MatrixView<float> out_scores, const SearchOptions& opts) const {
  const engine::DenseSnapshot* s = &snap;
  check_search(queries, k, *s);
  const std::int64_t nq = queries.rows();
  engine::check_output_view(out_ids, "out_ids", nq, k, true);
  engine::check_output_view(out_scores, "out_scores", nq, k, true);
  Resources& res = opts.resources != nullptr ? *opts.resources : detail::thread_default_resources();
  const Device device =
      detail::search_device(opts.device.value_or(options.device), res,
                            {detail::buffer_arg(queries, "queries"), detail::buffer_arg(out_ids, "out_ids"),
                             detail::buffer_arg(out_scores, "out_scores")});
  if (nq == 0) return device;

  return detail::translate_bad_alloc("DenseIndex::search", [&] {
    // Backends select min(k, N) per query; slots past N are padding, filled here.
    const std::int64_t kb = std::min(k, s->size);
    const std::size_t nkeys = detail::to_size(detail::mul_checked(nq, kb, "queries.rows x k"));
    std::vector<std::uint64_t> keys(nkeys);
    detail::OutputRows<std::int64_t> ids_out(out_ids);
    detail::OutputRows<float> scores_out(out_scores);
    if (queries.space() == MemorySpace::Device) {
      // Validated and prepared on the GPU (kernels/prepare_queries.cu), never copied to the host.
      engine::gpu::DenseQueries dq;
      dq.data = queries.data();
      dq.space = MemorySpace::Device;
      dq.type = std::is_same_v<T, half> ? DType::F16 : DType::F32;
      dq.stride = queries.stride();
      dq.metric = options.metric;
      engine::gpu::dense_search(*s, cache, dq, nq, kb, res, keys.data());
    } else {
      std::vector<float> qf;
      std::vector<std::uint16_t> qh;
      prepare_queries(queries, device, qf, qh);
      if (device == Device::Cpu) {
        engine::cpu::dense_search(*s, qf.data(), nq, kb, res, keys.data());
      } else {
        const void* qp =
            options.storage == DType::F32 ? static_cast<const void*>(qf.data()) : static_cast<const void*>(qh.data());
        engine::gpu::dense_search(*s, cache, qp, nq, kb, res, keys.data());
      }
    }
    const std::int64_t* ids = s->id_data();
    for (std::int64_t q = 0; q < nq; ++q) {
      std::int64_t* oid = ids_out.row(q);
      float* osc = scores_out.row(q);
      const std::uint64_t* kr = keys.data() + q * kb;
      for (std::int64_t j = 0; j < k; ++j) {
        const std::uint64_t key = j < kb ? kr[j] : kernels::kEmptyKey;
        if (key == kernels::kEmptyKey) {
          oid[j] = -1;
          osc[j] = -std::numeric_limits<float>::infinity();
        } else {
          const std::uint32_t pos = kernels::key_position(key);
          XMR_INVARIANT(static_cast<std::int64_t>(pos) < s->size);
          oid[j] = ids[pos];
          osc[j] = kernels::key_score(key);
        }
      }
    }
    detail::deliver(res, ids_out, "copy of the result ids to out_ids", scores_out,
                    "copy of the result scores to out_scores");
    return device;
  });
}

template Device DenseIndex::Impl::search_snapshot<float>(const engine::DenseSnapshot&, engine::gpu::MirrorCache&,
                                                         MatrixView<const float>, std::int64_t,
                                                         MatrixView<std::int64_t>, MatrixView<float>,
                                                         const SearchOptions&) const;
template Device DenseIndex::Impl::search_snapshot<half>(const engine::DenseSnapshot&, engine::gpu::MirrorCache&,
                                                        MatrixView<const half>, std::int64_t, MatrixView<std::int64_t>,
                                                        MatrixView<float>, const SearchOptions&) const;

DenseIndex::DenseIndex(const DenseIndexOptions& options) {
  XMR_EXPECTS(options.dim >= 1 && options.dim <= std::numeric_limits<std::int32_t>::max(),
              "options.dim (= ", options.dim, ") must be in [1, 2^31 - 1]");
  XMR_EXPECTS(options.metric == Metric::Cosine || options.metric == Metric::InnerProduct,
              "options.metric (= ", static_cast<int>(options.metric), ") is not a Metric value");
  XMR_EXPECTS(options.storage == DType::F32 || options.storage == DType::F16,
              "options.storage (= ", static_cast<int>(options.storage), ") is not a DType value");
  XMR_EXPECTS(options.device == Device::Auto || options.device == Device::Cpu || options.device == Device::Gpu,
              "options.device (= ", static_cast<int>(options.device), ") is not a Device value");
  auto s = std::make_shared<engine::DenseSnapshot>();
  s->dim = options.dim;
  s->type = options.storage;
  s->lineage = 0;
  impl_ = std::make_unique<Impl>(options, std::move(s));
}

DenseIndex::~DenseIndex() = default;
DenseIndex::DenseIndex(DenseIndex&&) noexcept = default;
DenseIndex& DenseIndex::operator=(DenseIndex&&) noexcept = default;

void DenseIndex::add(MatrixView<const float> vectors) {
  impl_->add(vectors, nullptr);
}
void DenseIndex::add(MatrixView<const half> vectors) {
  impl_->add(vectors, nullptr);
}
void DenseIndex::add(MatrixView<const float> vectors, std::span<const std::int64_t> ids) {
  impl_->add(vectors, &ids);
}
void DenseIndex::add(MatrixView<const half> vectors, std::span<const std::int64_t> ids) {
  impl_->add(vectors, &ids);
}

namespace {
template <class T>
SearchResult search_owned(const DenseIndex::Impl& impl, MatrixView<const T> queries, std::int64_t k,
                          const SearchOptions& options);
}  // namespace

SearchResult DenseIndex::search(MatrixView<const float> queries, std::int64_t k, const SearchOptions& options) const {
  return search_owned(*impl_, queries, k, options);
}
SearchResult DenseIndex::search(MatrixView<const half> queries, std::int64_t k, const SearchOptions& options) const {
  return search_owned(*impl_, queries, k, options);
}

Device DenseIndex::search_into(MatrixView<const float> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                               MatrixView<float> out_scores, const SearchOptions& options) const {
  return impl_->search(queries, k, out_ids, out_scores, options);
}
Device DenseIndex::search_into(MatrixView<const half> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                               MatrixView<float> out_scores, const SearchOptions& options) const {
  return impl_->search(queries, k, out_ids, out_scores, options);
}

Device DenseIndex::rescore(MatrixView<const float> queries, MatrixView<const std::int64_t> candidates,
                           MatrixView<float> out_scores, const SearchOptions& options) const {
  return impl_->rescore(queries, candidates, out_scores, options);
}
Device DenseIndex::rescore(MatrixView<const half> queries, MatrixView<const std::int64_t> candidates,
                           MatrixView<float> out_scores, const SearchOptions& options) const {
  return impl_->rescore(queries, candidates, out_scores, options);
}

void DenseIndex::remove(std::span<const std::int64_t> ids) {
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), "ids.data() (= null) with size ", ids.size());
  detail::translate_bad_alloc("DenseIndex::remove", [&] { impl_->state.remove(ids); });
}

std::int64_t DenseIndex::size() const {
  return impl_->current()->size;
}
std::int64_t DenseIndex::dim() const noexcept {
  return impl_->options.dim;
}
Metric DenseIndex::metric() const noexcept {
  return impl_->options.metric;
}
DType DenseIndex::storage() const noexcept {
  return impl_->options.storage;
}
Device DenseIndex::device() const noexcept {
  return impl_->options.device;
}
std::vector<std::int64_t> DenseIndex::ids() const {
  const auto s = impl_->current();
  return {s->id_data(), s->id_data() + s->size};
}

namespace {
template <class T>
SearchResult search_owned(const DenseIndex::Impl& impl, MatrixView<const T> queries, std::int64_t k,
                          const SearchOptions& options) {
  // Validate before sizing the result buffers (a bad call must not fail as out of memory).
  impl.check_search(queries, k, *impl.current());
  SearchResult r;
  r.num_queries = queries.rows();
  r.k = k;
  detail::translate_bad_alloc("DenseIndex::search", [&] {
    const std::size_t n = detail::to_size(detail::mul_checked(queries.rows(), k, "queries.rows x k"));
    r.ids.resize(n);
    r.scores.resize(n);
  });
  r.device = impl.search(queries, k, MatrixView<std::int64_t>(r.ids.data(), r.num_queries, k),
                         MatrixView<float>(r.scores.data(), r.num_queries, k), options);
  return r;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Files (xmr/index_file.h, host_api/src/index_file.cpp).

namespace {
engine::io::IndexParams file_params(const DenseIndexOptions& o) {
  engine::io::IndexParams p;
  p.kind = engine::io::IndexKind::Dense;
  p.metric = o.metric;
  p.storage = o.storage;
  p.device = o.device;
  return p;
}

}  // namespace

DenseIndex DenseIndex::Impl::adopt(engine::io::LoadedIndex&& loaded, const LoadOptions& options) {
  DenseIndexOptions o;
  o.dim = loaded.params.dim;
  o.metric = loaded.params.metric;
  o.storage = loaded.params.storage;
  o.device = detail::loaded_device(options, loaded);
  DenseIndex index(o);  // validates the options once more
  index.impl_ = std::make_unique<Impl>(o, std::move(loaded.snapshot));
  if (Resources* res = detail::upload_resources(options)) {
    engine::gpu::dense_upload(*index.impl_->current(), index.impl_->mirrors, *res);
  }
  return index;
}

void DenseIndex::save(const std::string& path, const IndexExtras& extras) const {
  detail::save_index_file(path, file_params(impl_->options), *impl_->current(), extras);
}

std::vector<std::uint8_t> DenseIndex::to_bytes(const IndexExtras& extras) const {
  return detail::index_to_bytes(file_params(impl_->options), *impl_->current(), extras);
}

DenseIndex DenseIndex::load(const std::string& path, const LoadOptions& options, IndexExtras* extras) {
  return detail::load_and_adopt<DenseIndex>(
      [&](IndexExtras* got) { return detail::load_index_file(path, options, engine::io::IndexKind::Dense, got); },
      options, extras);
}

DenseIndex DenseIndex::from_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options,
                                  IndexExtras* extras) {
  return detail::load_and_adopt<DenseIndex>(
      [&](IndexExtras* got) { return detail::load_index_bytes(bytes, options, engine::io::IndexKind::Dense, got); },
      options, extras);
}

}  // namespace xmr
