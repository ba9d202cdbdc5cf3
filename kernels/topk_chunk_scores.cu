// Chunked top-k over fp32 score tiles (the first selection pass after each GEMM tile).
#include "topk_chunk.cuh"

namespace xmr::kernels {

int select_chunks_from_scores(const float* scores, std::int64_t rows, std::int64_t len, std::int64_t ld,
                              std::int64_t base_position, const std::uint64_t* thresholds, std::int64_t thr_ld, int k,
                              std::uint64_t* out, std::int64_t out_ld, CUstream_st* stream) {
  return detail::launch_select_chunks(detail::ScoreLoader{scores, ld, base_position}, rows, len, thresholds, thr_ld, k,
                                      out, out_ld, stream);
}

}  // namespace xmr::kernels
