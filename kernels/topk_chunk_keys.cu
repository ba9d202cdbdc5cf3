// Chunked top-k over key lists (the reduction passes and the merge with the running top-k), and
// the per-tile schedule that chains them after select_chunks_from_scores.
#include <utility>

#include "topk_chunk.cuh"

namespace xmr::kernels {

int select_chunks_from_keys(const std::uint64_t* keys, std::int64_t rows, std::int64_t len, std::int64_t ld,
                            const std::uint64_t* thresholds, std::int64_t thr_ld, int k, std::uint64_t* out,
                            std::int64_t out_ld, CUstream_st* stream) {
  return detail::launch_select_chunks(detail::KeyLoader{keys, ld}, rows, len, thresholds, thr_ld, k, out, out_ld,
                                      stream);
}

int select_tile_into_run(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                         std::int64_t base_position, int k, std::uint64_t* cand_a, std::uint64_t* cand_b,
                         std::uint64_t* run, CUstream_st* stream) {
  const std::int64_t k64 = k;
  const std::int64_t run_ld = 2 * k64;
  const std::uint64_t* thr = run + (k64 - 1);  // each row's running k-th key
  std::int64_t chunks = (len + kChunkSize - 1) / kChunkSize;
  std::uint64_t* dst = chunks == 1 ? run + k64 : cand_a;
  std::int64_t dst_ld = chunks == 1 ? run_ld : chunks * k64;
  int e = select_chunks_from_scores(scores, rows, len, ld, base_position, thr, run_ld, k, dst, dst_ld, stream);
  std::uint64_t* src = cand_a;
  std::uint64_t* spare = cand_b;
  while (e == 0 && chunks > 1) {
    const std::int64_t n = chunks * k64;
    chunks = (n + kChunkSize - 1) / kChunkSize;
    dst = chunks == 1 ? run + k64 : spare;
    dst_ld = chunks == 1 ? run_ld : chunks * k64;
    e = select_chunks_from_keys(src, rows, n, n, thr, run_ld, k, dst, dst_ld, stream);
    std::swap(src, spare);
  }
  // Merge the running and the tile's top-k in place (2k <= kChunkSize: one chunk per row).
  if (e == 0) e = select_chunks_from_keys(run, rows, run_ld, run_ld, nullptr, 0, k, run, run_ld, stream);
  return e;
}

}  // namespace xmr::kernels
