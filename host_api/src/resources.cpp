// xmr::Resources and the device queries.
#include <omp.h>

#include "binary/hamming_cpu.h"
#include "common/check.h"
#include "glue.h"
#include "gpu/gpu_api.h"
#include "resources_impl.h"

namespace xmr {

Resources::Resources(int device_id, CUstream_st* stream) : impl_(std::make_unique<Impl>()) {
  XMR_EXPECTS(device_id >= 0, "device_id (= ", device_id, ") must be >= 0");
  impl_->device_id = device_id;
  impl_->borrowed_stream = stream;
}
Resources::~Resources() = default;
Resources::Resources(Resources&&) noexcept = default;
Resources& Resources::operator=(Resources&&) noexcept = default;

int Resources::device_id() const noexcept {
  return impl_->device_id;
}
CUstream_st* Resources::borrowed_stream() const noexcept {
  return impl_->borrowed_stream;
}

void Resources::set_workspace_bytes(std::size_t bytes) {
  XMR_EXPECTS(bytes >= (std::size_t{1} << 20), "workspace bytes (= ", bytes, ") must be >= 1 MiB");
  std::lock_guard lock(impl_->mutex);
  impl_->workspace_bytes = bytes;
}
std::size_t Resources::workspace_bytes() const noexcept {
  return impl_->workspace_bytes.load();
}

void Resources::set_tile_caps(std::int64_t max_query_rows, std::int64_t max_db_rows) {
  XMR_EXPECTS(max_query_rows >= 0, "max_query_rows (= ", max_query_rows, ") must be >= 0");
  XMR_EXPECTS(max_db_rows >= 0, "max_db_rows (= ", max_db_rows, ") must be >= 0");
  std::lock_guard lock(impl_->mutex);
  impl_->max_query_rows = max_query_rows;
  impl_->max_db_rows = max_db_rows;
}
std::int64_t Resources::max_query_rows() const noexcept {
  return impl_->max_query_rows.load();
}
std::int64_t Resources::max_db_rows() const noexcept {
  return impl_->max_db_rows.load();
}

int gpu_count() noexcept {
  return engine::gpu::device_count();
}

bool built_with_cuda() noexcept {
#if defined(XMR_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

std::string device_summary() {
  return detail::concat("CPU (", omp_get_max_threads(), " threads, popcount ",
                        engine::cpu::to_string(engine::cpu::popcount_isa()), "); ", engine::gpu::describe());
}

namespace detail {
Resources& thread_default_resources() {
  try {
    thread_local Resources res;  // a failed construction is retried by the next call
    return res;
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::OutOfMemory, "the calling thread's default Resources: host memory allocation failed");
  }
}
}  // namespace detail

}  // namespace xmr
