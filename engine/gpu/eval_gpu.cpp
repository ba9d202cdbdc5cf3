// mAP on the GPU: placeholder until the kernels land (every call is Unavailable, so Auto uses the
// CPU).
#include "common/check.h"
#include "gpu/gpu_api.h"

namespace xmr::engine::gpu {

void map_hamming(const std::uint8_t*, std::int64_t, const std::uint8_t*, std::int64_t, std::int64_t,
                 const std::uint64_t*, const std::uint64_t*, std::int64_t, int, std::int64_t, Resources&, double*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation is not implemented yet");
}

void hamming_relevance_histograms(const std::uint8_t*, std::int64_t, const std::uint8_t*, std::int64_t, std::int64_t,
                                  const std::uint64_t*, const std::uint64_t*, std::int64_t, Resources&, std::int64_t*,
                                  std::int64_t*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation is not implemented yet");
}

void map_dense(const float*, std::int64_t, const float*, std::int64_t, std::int64_t, const std::uint64_t*,
               const std::uint64_t*, std::int64_t, int, std::int64_t, Resources&, double*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation is not implemented yet");
}

}  // namespace xmr::engine::gpu
