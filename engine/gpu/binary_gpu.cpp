// Exact Hamming top-k on the GPU. The codes stay resident with a padded row stride (4, 8 or a
// multiple of 16 bytes; see kernels/hamming_launch.h). Queries run in batches whose scratch fits
// the Resources workspace budget; per batch, six passes (kernels/hamming.cu): a distance
// histogram per query, the cut (k-th distance and ties to take), per-chunk counts, their scan
// over chunks, the compaction of the winners in row order, and a stable counting sort by
// distance. Distances are exact integers and every pass keeps row order among equal distances,
// so results are bit-identical to the CPU backend's (binary/hamming_cpu.cpp).
//
// Scratch per batch of qt queries: qt x (stride + 4 bins + 16 + 20 chunks + 16 kk) bytes (plus
// alignment), kk = min(k, N); chunks <= 2^16, so it does not grow with N beyond that.
#include <algorithm>
#include <limits>
#include <vector>

#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "gpu/mirror.h"
#include "hamming_launch.h"
#include "resources_impl.h"

namespace xmr::engine::gpu {

namespace {

/// Queries per batch when the budget allows.
constexpr std::int64_t kPrefQueryRows = 1024;
/// Rows per chunk when the database is large enough to fill the GPU with fewer, longer blocks.
constexpr std::int64_t kPrefChunkRows = 4096;
/// Blocks per launch below which chunks are shortened (about 2 waves of 8 blocks on 132 SMs).
constexpr std::int64_t kMinBlocks = 2048;
/// Readable bytes past the device copy's last row (one 16-byte load may cover rows past it).
constexpr std::size_t kTailBytes = 16;

struct Plan {
  int stride = 0;
  int bins = 0;
  int group = 1;
  int copies = 1;
  std::int64_t kk = 0;
  std::int64_t chunk_rows = 0;
  std::int64_t chunks = 0;
  std::int64_t qt = 0;  // queries per batch
};

/// Scratch bytes of a batch of `qt` queries; mirrors the carving in binary_search.
std::int64_t batch_bytes(const Plan& p, std::int64_t qt) {
  const auto cut_bytes = static_cast<std::int64_t>(sizeof(kernels::HammingCut));
  return round_up(qt * p.stride, kAlign) +          // queries
         round_up(qt * p.bins * 4, kAlign) +        // histogram, then cursors
         round_up(qt * cut_bytes, kAlign) +         // cuts
         round_up(qt * p.chunks * 4, kAlign) +      // chunk minima
         2 * round_up(qt * p.chunks * 8, kAlign) +  // counts, offsets
         round_up(qt * p.kk * 8, kAlign) +          // winners
         2 * round_up(qt * p.kk * 4, kAlign);       // distances, positions
}

}  // namespace

void binary_search(const DenseSnapshot& snap, MirrorCache& mirrors, const std::uint8_t* queries,
                   std::size_t queries_pitch, bool queries_on_device, std::int64_t num_queries, std::int64_t k,
                   std::int32_t max_distance, Resources& res, std::int32_t* out_dist, std::uint32_t* out_pos,
                   std::int64_t* out_within) {
  constexpr std::int64_t kMaxRows = std::int64_t{std::numeric_limits<std::uint32_t>::max()} - 1;
  const auto code_bytes = static_cast<std::int64_t>(snap.code_bytes);
  XMR_EXPECTS(code_bytes >= 1 && code_bytes <= kernels::kHammingMaxCodeBytes, "code bytes (= ", code_bytes,
              ") must be in [1, ", kernels::kHammingMaxCodeBytes, "]");
  XMR_EXPECTS(snap.size >= 1 && snap.size <= kMaxRows, "index size (= ", snap.size, ") must be in [1, ", kMaxRows,
              "] for a GPU search");
  XMR_EXPECTS(num_queries >= 0, "num_queries (= ", num_queries, ") must be >= 0");
  XMR_EXPECTS(k >= 1, "k (= ", k, ") must be >= 1");
  XMR_EXPECTS(max_distance >= 0, "max_distance (= ", max_distance, ") must be >= 0");
  if (num_queries == 0) return;
  XMR_EXPECTS(queries != nullptr && out_dist != nullptr && out_pos != nullptr,
              "queries, out_dist and out_pos must not be null");
  XMR_EXPECTS(queries_pitch >= static_cast<std::size_t>(code_bytes), "queries pitch (= ", queries_pitch,
              ") must be >= the code bytes (= ", code_bytes, ")");

  Resources::Impl& r = res.impl();
  std::lock_guard lock(r.mutex);
  const DeviceGuard device_guard;  // the caller's current device is restored on return
  (void)cudaGetLastError();        // an earlier, unrelated error must not be blamed on this call

  // Plan (no device work yet).
  const std::int64_t n = snap.size;
  const std::int64_t bits = code_bytes * 8;
  Plan p;
  p.stride = kernels::hamming_stride(code_bytes);
  p.bins = static_cast<int>(std::min<std::int64_t>(max_distance, bits) + 1);
  p.kk = std::min(k, n);
  std::int64_t qt = std::min(num_queries, kPrefQueryRows);
  if (r.max_query_rows.load() > 0) qt = std::min(qt, r.max_query_rows.load());
  p.group = kernels::hamming_group(qt, p.bins);
  p.copies = kernels::hamming_copies(p.group, p.bins);
  // Chunks: about kPrefChunkRows rows, shorter when that leaves the GPU underfilled, longer when
  // there would be more than kHammingMaxChunks; capped by the test-only database tile cap.
  const std::int64_t tile_rows = kernels::hamming_tile_rows(p.stride);
  const std::int64_t tiles = (n + tile_rows - 1) / tile_rows;
  const std::int64_t groups = (qt + p.group - 1) / p.group;
  std::int64_t tiles_per_chunk = std::max<std::int64_t>(1, kPrefChunkRows / tile_rows);
  tiles_per_chunk = std::min(tiles_per_chunk, std::max<std::int64_t>(1, tiles * groups / kMinBlocks));
  if (r.max_db_rows.load() > 0)
    tiles_per_chunk = std::min(tiles_per_chunk, std::max<std::int64_t>(1, r.max_db_rows.load() / tile_rows));
  tiles_per_chunk = std::max(tiles_per_chunk, (tiles + kernels::kHammingMaxChunks - 1) / kernels::kHammingMaxChunks);
  p.chunk_rows = tiles_per_chunk * tile_rows;
  p.chunks = (tiles + tiles_per_chunk - 1) / tiles_per_chunk;
  // Queries per batch from the budget: batch_bytes is linear in qt plus at most kAlign per buffer.
  const auto budget = static_cast<std::int64_t>(std::min<std::size_t>(r.workspace_bytes.load(), INT64_MAX / 2));
  const std::int64_t fixed = 9 * kAlign;
  const std::int64_t per_query = p.stride + std::int64_t{p.bins} * 4 +
                                 static_cast<std::int64_t>(sizeof(kernels::HammingCut)) + p.chunks * 20 + p.kk * 16;
  XMR_CHECK(fixed + per_query <= budget, OutOfMemory, "k (= ", k, ") needs ", fixed + per_query,
            " bytes of GPU scratch, above the workspace budget (= ", r.workspace_bytes.load(),
            " bytes; see Resources::set_workspace_bytes)");
  p.qt = std::clamp<std::int64_t>((budget - fixed) / per_query, 1, qt);
  const std::int64_t total = batch_bytes(p, p.qt);
  XMR_INVARIANT(total <= budget && p.qt <= kernels::kHammingMaxQueries);
  const auto kk32 = static_cast<std::uint32_t>(p.kk);

  // Everything is validated and planned: only now touch the device.
  Context& ctx = context_of(res);
  const cudaStream_t s = ctx.stream;
  const std::shared_ptr<DeviceMatrix> db = resident(snap, mirrors, ctx, static_cast<std::size_t>(p.stride), kTailBytes);
  Carver carve(ctx.scratch(static_cast<std::size_t>(total)));
  auto* d_queries = carve.take<std::uint8_t>(p.qt * p.stride);
  auto* d_hist = carve.take<std::uint32_t>(p.qt * p.bins);
  auto* d_cuts = carve.take<kernels::HammingCut>(p.qt);
  auto* d_min = carve.take<std::uint32_t>(p.qt * p.chunks);
  auto* d_counts = carve.take<std::uint64_t>(p.qt * p.chunks);
  auto* d_offsets = carve.take<std::uint64_t>(p.qt * p.chunks);
  auto* d_winners = carve.take<std::uint64_t>(p.qt * p.kk);
  auto* d_dist = carve.take<std::int32_t>(p.qt * p.kk);
  auto* d_pos = carve.take<std::uint32_t>(p.qt * p.kk);
  XMR_INVARIANT(carve.used() <= static_cast<std::size_t>(total));
  std::vector<kernels::HammingCut> h_cuts(out_within != nullptr ? static_cast<std::size_t>(p.qt) : 0);

  const auto stride = static_cast<std::size_t>(p.stride);
  const auto row = static_cast<std::size_t>(code_bytes);
  const auto kk_bytes = static_cast<std::size_t>(p.kk) * 4;
  const auto k_bytes = static_cast<std::size_t>(k) * 4;
  const auto run_batches = [&] {
    for (std::int64_t q0 = 0; q0 < num_queries; q0 += p.qt) {
      const std::int64_t qn = std::min(p.qt, num_queries - q0);
      const auto qrows = static_cast<std::size_t>(qn);
      if (stride != row) check_cuda(cudaMemsetAsync(d_queries, 0, qrows * stride, s), "cudaMemsetAsync(queries)");
      // Device queries: read on this stream, after the padding memset (same stream order).
      copy_rows(d_queries, stride, queries + static_cast<std::size_t>(q0) * queries_pitch, queries_pitch, row, qrows,
                queries_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice, s, "cudaMemcpy2DAsync(queries)");
      check_cuda(cudaMemsetAsync(d_hist, 0, qrows * static_cast<std::size_t>(p.bins) * 4, s),
                 "cudaMemsetAsync(histogram)");
      kernels::HammingProblem hp;
      hp.db = db->buffer->ptr;
      hp.rows = n;
      hp.stride = p.stride;
      hp.queries = d_queries;
      hp.num_queries = static_cast<int>(qn);
      hp.group = p.group;
      hp.copies = p.copies;
      hp.bins = p.bins;
      hp.chunk_rows = p.chunk_rows;
      hp.chunks = p.chunks;
      const int nq = static_cast<int>(qn);
      check_cuda(kernels::hamming_histogram(hp, d_hist, d_min, s), "hamming_histogram");
      check_cuda(kernels::hamming_cut(d_hist, nq, p.bins, kk32, d_cuts, s), "hamming_cut");
      check_cuda(kernels::hamming_count(hp, d_min, d_cuts, d_counts, s), "hamming_count");
      check_cuda(kernels::hamming_scan(d_counts, nq, p.chunks, d_offsets, s), "hamming_scan");
      check_cuda(kernels::hamming_write(hp, d_cuts, d_counts, d_offsets, kk32, d_winners, s), "hamming_write");
      check_cuda(kernels::hamming_sort(d_winners, d_hist, d_cuts, nq, p.bins, kk32, d_dist, d_pos, s), "hamming_sort");
      const auto out0 = static_cast<std::size_t>(q0) * static_cast<std::size_t>(k);
      copy_rows(out_dist + out0, k_bytes, d_dist, kk_bytes, kk_bytes, qrows, cudaMemcpyDeviceToHost, s,
                "copy of the result distances");
      copy_rows(out_pos + out0, k_bytes, d_pos, kk_bytes, kk_bytes, qrows, cudaMemcpyDeviceToHost, s,
                "copy of the result positions");
      if (out_within != nullptr) {
        check_cuda(
            cudaMemcpyAsync(h_cuts.data(), d_cuts, qrows * sizeof(kernels::HammingCut), cudaMemcpyDeviceToHost, s),
            "copy of the counts within range");
      }
      // The query buffer is rewritten next batch and the results are read by the host.
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
      for (std::int64_t q = 0; q < qn; ++q) {
        if (out_within != nullptr) out_within[q0 + q] = h_cuts[static_cast<std::size_t>(q)].within;
        // Slots past the index size (k > N; callers usually pass k <= N).
        std::fill(out_dist + out0 + static_cast<std::size_t>(q * k + p.kk),
                  out_dist + out0 + static_cast<std::size_t>((q + 1) * k), std::numeric_limits<std::int32_t>::max());
        std::fill(out_pos + out0 + static_cast<std::size_t>(q * k + p.kk),
                  out_pos + out0 + static_cast<std::size_t>((q + 1) * k), std::numeric_limits<std::uint32_t>::max());
      }
    }
  };
  try {
    run_batches();
  } catch (...) {
    // Nothing enqueued may still write into the caller's buffers once the error is reported.
    (void)cudaStreamSynchronize(s);
    (void)cudaGetLastError();
    throw;
  }
}

void binary_upload(const DenseSnapshot& snap, MirrorCache& mirrors, Resources& res) {
  // The layout binary_search uses.
  const int stride = kernels::hamming_stride(static_cast<std::int64_t>(snap.code_bytes));
  upload_resident(snap, mirrors, res, static_cast<std::size_t>(stride), kTailBytes);
}

}  // namespace xmr::engine::gpu
