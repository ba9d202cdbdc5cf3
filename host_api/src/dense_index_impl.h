#pragma once
// DenseIndex's state, shared by dense_index.cpp and the pipeline (which searches subsets of a
// snapshot for filters and publishes snapshots built for a Collection).

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "common/check.h"
#include "common/half.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "io/index_format.h"
#include "snapshot_state.h"
#include "xmr/dense_index.h"

namespace xmr {

namespace detail {
inline constexpr std::int64_t kMaxK = std::numeric_limits<std::int32_t>::max();
}  // namespace detail

struct DenseIndex::Impl {
  /// An index over a loaded snapshot (load, from_bytes); with device Gpu, its resident copy
  /// uploaded before it is returned.
  static DenseIndex adopt(engine::io::LoadedIndex&& loaded, const LoadOptions& options);

  DenseIndexOptions options;
  detail::SnapshotState state;
  mutable engine::gpu::MirrorCache mirrors;

  Impl(const DenseIndexOptions& o, std::shared_ptr<const engine::DenseSnapshot> empty)
      : options(o), state(std::move(empty)) {}

  [[nodiscard]] std::shared_ptr<const engine::DenseSnapshot> current() const { return state.current(); }

  /// `ids` null: sequential ids; otherwise exactly vectors.rows() ids are required.
  template <class T>
  void add(MatrixView<const T> vectors, const std::span<const std::int64_t>* ids);

  /// The checks every search makes before it allocates or computes anything.
  template <class T>
  void check_search(const MatrixView<const T>& queries, std::int64_t k, const engine::DenseSnapshot& s) const {
    engine::check_input_view(queries, "queries", options.dim, true);
    XMR_EXPECTS(k >= 1 && k <= detail::kMaxK, "k (= ", k, ") must be in [1, ", detail::kMaxK, "]");
    XMR_EXPECTS(s.size > 0, "index size (= 0): the index is empty, add vectors before searching");
  }

  template <class T>
  Device search(MatrixView<const T> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                MatrixView<float> out_scores, const SearchOptions& opts) const {
    return search_snapshot(*current(), mirrors, queries, k, out_ids, out_scores, opts);
  }

  /// search() over `s`: the current snapshot with the index's `mirrors`, or a subset of it
  /// (engine::gather_rows) with a cache of its own. Instantiated for float and half.
  template <class T>
  Device search_snapshot(const engine::DenseSnapshot& s, engine::gpu::MirrorCache& cache, MatrixView<const T> queries,
                         std::int64_t k, MatrixView<std::int64_t> out_ids, MatrixView<float> out_scores,
                         const SearchOptions& opts) const;

  /// DenseIndex::rescore; returns the device it ran on.
  template <class T>
  Device rescore(MatrixView<const T> queries, MatrixView<const std::int64_t> candidates, MatrixView<float> out_scores,
                 const SearchOptions& opts) const;

  /// The device of a rescore over `s` (see DenseIndex::rescore): Auto picks the GPU only when
  /// the GPU of `res` already holds a current copy of `s` in `cache`.
  [[nodiscard]] Device rescore_device(const engine::DenseSnapshot& s, engine::gpu::MirrorCache& cache,
                                      const SearchOptions& opts, const Resources& res) const {
    const Device requested = opts.device.value_or(options.device);
    if (requested != Device::Auto) return detail::resolve_device(requested, res);
    return engine::gpu::dense_resident(s, cache, res.device_id()) ? Device::Gpu : Device::Cpu;
  }

  /// Validated queries as a backend takes them (normalised under cosine): fp32 storage, `qf`;
  /// fp16 storage, rounded to binary16 (on both backends, so both compute the same function)
  /// in `qh`, and for the CPU also widened to float in `qf`.
  template <class T>
  void prepare_queries(const MatrixView<const T>& queries, Device device, std::vector<float>& qf,
                       std::vector<std::uint16_t>& qh) const {
    const std::size_t elems = detail::to_size(detail::mul_checked(queries.rows(), options.dim, "queries.rows x dim"));
    if (options.storage == DType::F32) {
      qf.resize(elems);
      engine::prepare_rows(queries, "queries", options.metric, DType::F32, qf.data());
      return;
    }
    qh.resize(elems);
    engine::prepare_rows(queries, "queries", options.metric, DType::F16, qh.data());
    if (device == Device::Cpu) {
      qf.resize(elems);
      detail::half_to_float_n(qh.data(), qf.data(), elems);
    }
  }
};

}  // namespace xmr
