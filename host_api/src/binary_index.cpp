// xmr::BinaryIndex: validates every argument, resolves the device, then calls the CPU or GPU
// Hamming backend (which may assume valid inputs). Validation happens before any side effect.
#include "xmr/binary_index.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <vector>

#include "binary/codes.h"
#include "binary/hamming_cpu.h"
#include "binary_index_impl.h"
#include "common/check.h"
#include "dense/prepare.h"
#include "dense/storage.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "index_file.h"
#include "snapshot_state.h"

namespace xmr {

namespace {
constexpr std::int64_t kMaxK = detail::kMaxBinaryK;
using detail::kNoPos;
}  // namespace

void BinaryIndex::Impl::add(MatrixView<const std::uint8_t> codes, const std::span<const std::int64_t>* ids) {
  engine::check_input_view(codes, "codes", code_bytes, true);
  if (codes.space() == MemorySpace::Device) detail::check_device_input_usable("codes");
  if (ids != nullptr) {
    const auto num_ids = static_cast<std::int64_t>(ids->size());
    XMR_EXPECTS(num_ids == codes.rows(), "ids.size() (= ", num_ids, ") must equal codes.rows() (= ", codes.rows(), ")");
    XMR_EXPECTS(ids->data() != nullptr || num_ids == 0, "ids.data() (= null) with size ", num_ids);
  }
  const std::int64_t n = codes.rows();
  detail::translate_bad_alloc("BinaryIndex::add", [&] {
    detail::mul_checked(n, code_bytes, "codes.rows x code bytes");
    std::vector<std::uint8_t> dense;
    if (codes.space() == MemorySpace::Device) {
      // The index lives in host memory: one synchronous copy of the codes.
      dense.resize(detail::to_size(n) * detail::to_size(code_bytes));
      engine::gpu::RowCopy c;
      c.dst = dense.data();
      c.dst_pitch = detail::to_size(code_bytes);
      c.src = codes.data();
      c.src_pitch = detail::to_size(codes.stride());
      c.width = detail::to_size(code_bytes);
      c.rows = detail::to_size(n);
      c.what = "copy of codes to the host";
      engine::gpu::copy_from_device(c, "codes");
    } else {
      dense = engine::dense_codes(codes);
    }
    state.append(dense.data(), n, ids);
  });
}

BinaryIndex::BinaryIndex(const BinaryIndexOptions& options) {
  engine::check_code_bits(options.bits, "options.bits");
  XMR_EXPECTS(options.device == Device::Auto || options.device == Device::Cpu || options.device == Device::Gpu,
              "options.device (= ", static_cast<int>(options.device), ") is not a Device value");
  auto s = std::make_shared<engine::DenseSnapshot>();
  s->dim = options.bits;
  s->code_bytes = static_cast<std::size_t>(options.bits / 8);
  s->lineage = 0;
  impl_ = std::make_unique<Impl>(options, std::move(s));
}

BinaryIndex::~BinaryIndex() = default;
BinaryIndex::BinaryIndex(BinaryIndex&&) noexcept = default;
BinaryIndex& BinaryIndex::operator=(BinaryIndex&&) noexcept = default;

void BinaryIndex::add(MatrixView<const std::uint8_t> codes) {
  impl_->add(codes, nullptr);
}
void BinaryIndex::add(MatrixView<const std::uint8_t> codes, std::span<const std::int64_t> ids) {
  impl_->add(codes, &ids);
}

BinarySearchResult BinaryIndex::search(MatrixView<const std::uint8_t> queries, std::int64_t k,
                                       const SearchOptions& options) const {
  // Validate before sizing the result buffers (a bad call must not fail as out of memory).
  impl_->check_search(queries, k, *impl_->current());
  BinarySearchResult r;
  r.num_queries = queries.rows();
  r.k = k;
  detail::translate_bad_alloc("BinaryIndex::search", [&] {
    const std::size_t n = detail::to_size(detail::mul_checked(queries.rows(), k, "queries.rows x k"));
    r.ids.resize(n);
    r.distances.resize(n);
  });
  r.device = impl_->search(queries, k, MatrixView<std::int64_t>(r.ids.data(), r.num_queries, k),
                           MatrixView<std::int32_t>(r.distances.data(), r.num_queries, k), options);
  return r;
}

Device BinaryIndex::search_into(MatrixView<const std::uint8_t> queries, std::int64_t k,
                                MatrixView<std::int64_t> out_ids, MatrixView<std::int32_t> out_distances,
                                const SearchOptions& options) const {
  return impl_->search(queries, k, out_ids, out_distances, options);
}

RangeSearchResult BinaryIndex::range_search(MatrixView<const std::uint8_t> queries, std::int32_t radius,
                                            std::int64_t max_results, const SearchOptions& options) const {
  const auto s = impl_->current();
  impl_->check_queries(queries, *s);
  const std::int64_t bits = impl_->options.bits;
  XMR_EXPECTS(radius >= 0 && radius <= bits, "radius (= ", radius, ") must be in [0, ", bits, "] (the code length)");
  XMR_EXPECTS(max_results >= 1 && max_results <= kMaxK, "max_results (= ", max_results, ") must be in [1, ", kMaxK,
              "]");
  const std::int64_t nq = queries.rows();
  return detail::translate_bad_alloc("BinaryIndex::range_search", [&] {
    RangeSearchResult r;
    r.num_queries = nq;
    r.radius = radius;
    r.max_results = max_results;
    const std::int64_t kb = std::min(max_results, s->size);
    std::vector<std::int32_t> dist;
    std::vector<std::uint32_t> pos;
    r.device = impl_->run(*s, impl_->mirrors, queries, kb, radius, options, dist, pos, &r.num_within);
    r.offsets.assign(detail::to_size(nq + 1), 0);
    for (std::int64_t q = 0; q < nq; ++q) {
      const std::int64_t c = std::min(r.num_within[detail::to_size(q)], kb);
      r.offsets[detail::to_size(q + 1)] = r.offsets[detail::to_size(q)] + c;
    }
    const std::int64_t total = r.offsets[detail::to_size(nq)];
    r.ids.resize(detail::to_size(total));
    r.distances.resize(detail::to_size(total));
    const std::int64_t* ids = s->id_data();
    for (std::int64_t q = 0; q < nq; ++q) {
      std::int64_t o = r.offsets[detail::to_size(q)];
      const std::int64_t c = r.offsets[detail::to_size(q + 1)] - o;
      for (std::int64_t j = 0; j < c; ++j, ++o) {
        const std::size_t e = detail::to_size(q * kb + j);
        XMR_INVARIANT(pos[e] != kNoPos && static_cast<std::int64_t>(pos[e]) < s->size && dist[e] <= radius);
        r.ids[detail::to_size(o)] = ids[pos[e]];
        r.distances[detail::to_size(o)] = dist[e];
      }
    }
    return r;
  });
}

void BinaryIndex::remove(std::span<const std::int64_t> ids) {
  XMR_EXPECTS(ids.data() != nullptr || ids.empty(), "ids.data() (= null) with size ", ids.size());
  detail::translate_bad_alloc("BinaryIndex::remove", [&] { impl_->state.remove(ids); });
}

std::int64_t BinaryIndex::size() const {
  return impl_->current()->size;
}
std::int64_t BinaryIndex::bits() const noexcept {
  return impl_->options.bits;
}
std::int64_t BinaryIndex::code_bytes() const noexcept {
  return impl_->code_bytes;
}
Device BinaryIndex::device() const noexcept {
  return impl_->options.device;
}
std::vector<std::int64_t> BinaryIndex::ids() const {
  const auto s = impl_->current();
  return {s->id_data(), s->id_data() + s->size};
}

const char* hamming_cpu_kernel() noexcept {
  return engine::cpu::to_string(engine::cpu::popcount_isa());
}

std::int32_t hamming_distance(const std::uint8_t* a, const std::uint8_t* b, std::int64_t bytes) noexcept {
  if (a == nullptr || b == nullptr || bytes <= 0) return 0;
  return engine::hamming(a, b, static_cast<std::size_t>(bytes));
}

void pack_bits(MatrixView<const std::uint8_t> bits, MatrixView<std::uint8_t> codes) {
  const std::int64_t nbits = bits.cols();
  XMR_EXPECTS(nbits % 8 == 0, "bits.cols (= ", nbits, ") must be a multiple of 8");
  engine::check_input_view(bits, "bits", nbits);
  XMR_EXPECTS(codes.rows() == bits.rows() && codes.cols() == nbits / 8, "codes (= ", codes.rows(), " x ", codes.cols(),
              ") must be bits.rows x bits.cols / 8 (= ", bits.rows(), " x ", nbits / 8, ")");
  engine::check_output_view(codes, "codes", bits.rows(), nbits / 8);
  for (std::int64_t r = 0; r < bits.rows(); ++r) {
    const std::uint8_t* in = bits.row(r);
    std::uint8_t* out = codes.row(r);
    for (std::int64_t b = 0; b < nbits / 8; ++b) {
      unsigned v = 0;
      for (int j = 0; j < 8; ++j) v |= (in[8 * b + j] != 0 ? 1U : 0U) << j;
      out[b] = static_cast<std::uint8_t>(v);
    }
  }
}

void unpack_bits(MatrixView<const std::uint8_t> codes, MatrixView<std::uint8_t> bits) {
  const std::int64_t nbytes = codes.cols();
  engine::check_input_view(codes, "codes", nbytes);
  XMR_EXPECTS(bits.rows() == codes.rows() && bits.cols() == nbytes * 8, "bits (= ", bits.rows(), " x ", bits.cols(),
              ") must be codes.rows x codes.cols * 8 (= ", codes.rows(), " x ", nbytes * 8, ")");
  engine::check_output_view(bits, "bits", codes.rows(), nbytes * 8);
  for (std::int64_t r = 0; r < codes.rows(); ++r) {
    const std::uint8_t* in = codes.row(r);
    std::uint8_t* out = bits.row(r);
    for (std::int64_t b = 0; b < nbytes * 8; ++b)
      out[b] = static_cast<std::uint8_t>((static_cast<unsigned>(in[b / 8]) >> (b % 8)) & 1U);
  }
}

// ---------------------------------------------------------------------------------------------
// Files (xmr/index_file.h, host_api/src/index_file.cpp).

namespace {
engine::io::IndexParams file_params(const BinaryIndexOptions& o) {
  engine::io::IndexParams p;
  p.kind = engine::io::IndexKind::Binary;
  p.device = o.device;
  return p;
}

}  // namespace

BinaryIndex BinaryIndex::Impl::adopt(engine::io::LoadedIndex&& loaded, const LoadOptions& options) {
  BinaryIndexOptions o;
  o.bits = loaded.params.dim;
  o.device = detail::loaded_device(options, loaded);
  BinaryIndex index(o);  // validates the options once more
  index.impl_ = std::make_unique<Impl>(o, std::move(loaded.snapshot));
  if (Resources* res = detail::upload_resources(options)) {
    engine::gpu::binary_upload(*index.impl_->current(), index.impl_->mirrors, *res);
  }
  return index;
}

void BinaryIndex::save(const std::string& path, const IndexExtras& extras) const {
  detail::save_index_file(path, file_params(impl_->options), *impl_->current(), extras);
}

std::vector<std::uint8_t> BinaryIndex::to_bytes(const IndexExtras& extras) const {
  return detail::index_to_bytes(file_params(impl_->options), *impl_->current(), extras);
}

BinaryIndex BinaryIndex::load(const std::string& path, const LoadOptions& options, IndexExtras* extras) {
  return detail::load_and_adopt<BinaryIndex>(
      [&](IndexExtras* got) { return detail::load_index_file(path, options, engine::io::IndexKind::Binary, got); },
      options, extras);
}

BinaryIndex BinaryIndex::from_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options,
                                    IndexExtras* extras) {
  return detail::load_and_adopt<BinaryIndex>(
      [&](IndexExtras* got) { return detail::load_index_bytes(bytes, options, engine::io::IndexKind::Binary, got); },
      options, extras);
}

}  // namespace xmr
