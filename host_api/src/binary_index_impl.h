#pragma once
// BinaryIndex's state, shared by binary_index.cpp and the pipeline (which searches subsets of a
// snapshot for filters and publishes snapshots built for a Collection).

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "binary/codes.h"
#include "binary/hamming_cpu.h"
#include "common/check.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "io/index_format.h"
#include "snapshot_state.h"
#include "xmr/binary_index.h"

namespace xmr {

namespace detail {
inline constexpr std::int64_t kMaxBinaryK = std::numeric_limits<std::int32_t>::max();
inline constexpr std::uint32_t kNoPos = std::numeric_limits<std::uint32_t>::max();
}  // namespace detail

struct BinaryIndex::Impl {
  /// An index over a loaded snapshot (load, from_bytes); with device Gpu, its resident copy
  /// uploaded before it is returned.
  static BinaryIndex adopt(engine::io::LoadedIndex&& loaded, const LoadOptions& options);

  BinaryIndexOptions options;
  std::int64_t code_bytes = 0;
  detail::SnapshotState state;
  mutable engine::gpu::MirrorCache mirrors;

  Impl(const BinaryIndexOptions& o, std::shared_ptr<const engine::DenseSnapshot> empty)
      : options(o), code_bytes(o.bits / 8), state(std::move(empty)) {}

  [[nodiscard]] std::shared_ptr<const engine::DenseSnapshot> current() const { return state.current(); }

  void add(MatrixView<const std::uint8_t> codes, const std::span<const std::int64_t>* ids);

  void check_queries(const MatrixView<const std::uint8_t>& queries, const engine::DenseSnapshot& s) const {
    engine::check_input_view(queries, "queries", code_bytes);
    XMR_EXPECTS(s.size > 0, "index size (= 0): the index is empty, add codes before searching");
  }
  void check_search(const MatrixView<const std::uint8_t>& queries, std::int64_t k,
                    const engine::DenseSnapshot& s) const {
    engine::check_input_view(queries, "queries", code_bytes, true);
    XMR_EXPECTS(k >= 1 && k <= detail::kMaxBinaryK, "k (= ", k, ") must be in [1, ", detail::kMaxBinaryK, "]");
    XMR_EXPECTS(s.size > 0, "index size (= 0): the index is empty, add codes before searching");
  }

  /// Runs the backend: [nq x kb] distances and row positions (detail::kNoPos past the selected ones).
  Device run(const engine::DenseSnapshot& s, engine::gpu::MirrorCache& cache,
             const MatrixView<const std::uint8_t>& queries, std::int64_t kb, std::int32_t max_distance,
             const SearchOptions& opts, std::vector<std::int32_t>& dist, std::vector<std::uint32_t>& pos,
             std::vector<std::int64_t>* within) const {
    Resources& res = opts.resources != nullptr ? *opts.resources : detail::thread_default_resources();
    const Device device = detail::resolve_device(opts.device.value_or(options.device), res);
    run_on(device, res, s, cache, queries, kb, max_distance, dist, pos, within);
    return device;
  }

  /// run() on a resolved device. Queries in device memory (only with device Gpu) are read there.
  void run_on(Device device, Resources& res, const engine::DenseSnapshot& s, engine::gpu::MirrorCache& cache,
              const MatrixView<const std::uint8_t>& queries, std::int64_t kb, std::int32_t max_distance,
              std::vector<std::int32_t>& dist, std::vector<std::uint32_t>& pos,
              std::vector<std::int64_t>* within) const {
    const std::int64_t nq = queries.rows();
    if (nq == 0) return;
    const std::size_t n = detail::to_size(detail::mul_checked(nq, kb, "queries.rows x k"));
    dist.resize(n);
    pos.resize(n);
    if (within != nullptr) within->resize(detail::to_size(nq));
    std::int64_t* w = within != nullptr ? within->data() : nullptr;
    if (queries.space() == MemorySpace::Device) {
      XMR_INVARIANT(device == Device::Gpu);
      engine::gpu::binary_search(s, cache, queries.data(), detail::to_size(queries.stride()), true, nq, kb,
                                 max_distance, res, dist.data(), pos.data(), w);
      return;
    }
    const std::vector<std::uint8_t> q = engine::dense_codes(queries);
    if (device == Device::Cpu) {
      engine::cpu::hamming_search(s, q.data(), nq, kb, max_distance, res, dist.data(), pos.data(), w);
    } else {
      engine::gpu::binary_search(s, cache, q.data(), detail::to_size(code_bytes), false, nq, kb, max_distance, res,
                                 dist.data(), pos.data(), w);
    }
  }

  Device search(MatrixView<const std::uint8_t> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                MatrixView<std::int32_t> out_dist, const SearchOptions& opts) const {
    return search_snapshot(*current(), mirrors, queries, k, out_ids, out_dist, opts);
  }

  /// search() over `snap`: the current snapshot with the index's `mirrors`, or a subset of it
  /// (engine::gather_rows) with a cache of its own.
  Device search_snapshot(const engine::DenseSnapshot& snap, engine::gpu::MirrorCache& cache,
                         MatrixView<const std::uint8_t> queries, std::int64_t k, MatrixView<std::int64_t> out_ids,
                         MatrixView<std::int32_t> out_dist, const SearchOptions& opts) const {
    const engine::DenseSnapshot* s = &snap;
    check_search(queries, k, *s);
    const std::int64_t nq = queries.rows();
    engine::check_output_view(out_ids, "out_ids", nq, k, true);
    engine::check_output_view(out_dist, "out_distances", nq, k, true);
    Resources& res = opts.resources != nullptr ? *opts.resources : detail::thread_default_resources();
    const Device device =
        detail::search_device(opts.device.value_or(options.device), res,
                              {detail::buffer_arg(queries, "queries"), detail::buffer_arg(out_ids, "out_ids"),
                               detail::buffer_arg(out_dist, "out_distances")});
    if (nq == 0) return device;
    return detail::translate_bad_alloc("BinaryIndex::search", [&] {
      // Backends select min(k, N) per query; slots past N are padding, filled here.
      const std::int64_t kb = std::min(k, s->size);
      std::vector<std::int32_t> dist;
      std::vector<std::uint32_t> pos;
      run_on(device, res, *s, cache, queries, kb, static_cast<std::int32_t>(options.bits), dist, pos, nullptr);
      detail::OutputRows<std::int64_t> ids_out(out_ids);
      detail::OutputRows<std::int32_t> dist_out(out_dist);
      const std::int64_t* ids = s->id_data();
      for (std::int64_t q = 0; q < nq; ++q) {
        std::int64_t* oid = ids_out.row(q);
        std::int32_t* od = dist_out.row(q);
        for (std::int64_t j = 0; j < k; ++j) {
          const std::size_t e = detail::to_size(q * kb + j);
          if (j < kb && pos[e] != detail::kNoPos) {
            XMR_INVARIANT(static_cast<std::int64_t>(pos[e]) < s->size);
            oid[j] = ids[pos[e]];
            od[j] = dist[e];
          } else {
            oid[j] = -1;
            od[j] = kEmptyDistance;
          }
        }
      }
      detail::deliver(res, ids_out, "copy of the result ids to out_ids", dist_out,
                      "copy of the result distances to out_distances");
      return device;
    });
  }
};

}  // namespace xmr
