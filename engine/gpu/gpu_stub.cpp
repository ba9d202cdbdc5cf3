// The GPU backend of a build without CUDA: no devices, and any GPU search is Unavailable.
#include "common/check.h"
#include "gpu/gpu_api.h"
#include "xmr/testing.h"

namespace xmr::engine::gpu {

struct Context {};
void ContextDeleter::operator()(Context* c) const noexcept {
  delete c;
}

int device_count() noexcept {
  return 0;
}

bool device_usable(int, std::string* why) {
  if (why != nullptr) *why = "this build of xmr has no CUDA backend";
  return false;
}

std::string describe() {
  return "no GPU (this build of xmr has no CUDA backend)";
}

void dense_search(const DenseSnapshot&, MirrorCache&, const DenseQueries&, std::int64_t, std::int64_t, Resources&,
                  std::uint64_t*) {
  detail::fail(ErrorCode::Unavailable, "GPU search requested but this build of xmr has no CUDA backend");
}

void check_device_pointer(const void*, int, const char* name) {
  detail::fail(ErrorCode::Unavailable, name, ".space (= Device): this build of xmr has no CUDA backend");
}

void copy_to_device(Resources&, std::span<const RowCopy> copies) {
  detail::fail(ErrorCode::Unavailable, copies.empty() ? "copy to device memory" : copies.front().what,
               ": this build of xmr has no CUDA backend");
}

void copy_from_device(const RowCopy&, const char* name) {
  detail::fail(ErrorCode::Unavailable, name, ".space (= Device): this build of xmr has no CUDA backend");
}

void multi_vector_search(const MultiVectorSnapshot&, MirrorCache&, const float*, const std::int64_t*, std::int64_t,
                         std::int64_t, MultiVectorReduce, Resources&, std::uint64_t*) {
  detail::fail(ErrorCode::Unavailable, "GPU search requested but this build of xmr has no CUDA backend");
}

void binary_search(const DenseSnapshot&, MirrorCache&, const std::uint8_t*, std::size_t, bool, std::int64_t,
                   std::int64_t, std::int32_t, Resources&, std::int32_t*, std::uint32_t*, std::int64_t*) {
  detail::fail(ErrorCode::Unavailable, "GPU search requested but this build of xmr has no CUDA backend");
}

void dense_rescore(const DenseSnapshot&, MirrorCache&, const void*, std::int64_t, const std::int64_t*, std::int64_t,
                   Resources&, float*, std::int64_t) {
  detail::fail(ErrorCode::Unavailable, "GPU rescore requested but this build of xmr has no CUDA backend");
}

bool dense_resident(const DenseSnapshot&, MirrorCache&, int) noexcept {
  return false;
}

void dense_upload(const DenseSnapshot&, MirrorCache&, Resources&) {
  detail::fail(ErrorCode::Unavailable, "GPU upload requested but this build of xmr has no CUDA backend");
}

void binary_upload(const DenseSnapshot&, MirrorCache&, Resources&) {
  detail::fail(ErrorCode::Unavailable, "GPU upload requested but this build of xmr has no CUDA backend");
}

void map_hamming(const std::uint8_t*, std::int64_t, const std::uint8_t*, std::int64_t, std::int64_t,
                 const std::uint64_t*, const std::uint64_t*, std::int64_t, int, std::int64_t, Resources&, double*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation requested but this build of xmr has no CUDA backend");
}

void hamming_relevance_histograms(const std::uint8_t*, std::int64_t, const std::uint8_t*, std::int64_t, std::int64_t,
                                  const std::uint64_t*, const std::uint64_t*, std::int64_t, Resources&, std::int64_t*,
                                  std::int64_t*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation requested but this build of xmr has no CUDA backend");
}

void map_dense(const float*, std::int64_t, const float*, std::int64_t, std::int64_t, const std::uint64_t*,
               const std::uint64_t*, std::int64_t, int, std::int64_t, Resources&, double*) {
  detail::fail(ErrorCode::Unavailable, "GPU evaluation requested but this build of xmr has no CUDA backend");
}

}  // namespace xmr::engine::gpu

namespace xmr::testing {
void fail_next_device_allocations(int) noexcept {}
void fail_next_device_calls(int, int) noexcept {}
}  // namespace xmr::testing
