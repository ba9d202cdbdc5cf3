// Chunked top-k over key lists (the reduction passes and the merge with the running top-k).
#include "topk_chunk.cuh"

namespace xmr::kernels {

int select_chunks_from_keys(const std::uint64_t* keys, std::int64_t rows, std::int64_t len, std::int64_t ld,
                            const std::uint64_t* thresholds, std::int64_t thr_ld, int k, std::uint64_t* out,
                            std::int64_t out_ld, CUstream_st* stream) {
  return detail::launch_select_chunks(detail::KeyLoader{keys, ld}, rows, len, thresholds, thr_ld, k, out, out_ld,
                                      stream);
}

}  // namespace xmr::kernels
