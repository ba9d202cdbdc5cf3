#pragma once
// State behind xmr::Resources.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "gpu/gpu_api.h"
#include "xmr/resources.h"

namespace xmr {

struct Resources::Impl {
  int device_id = 0;
  CUstream_st* borrowed_stream = nullptr;
  // Atomic: the public getters read them without the mutex, which a GPU search holds throughout.
  std::atomic<std::size_t> workspace_bytes{std::size_t{512} << 20};
  std::atomic<std::int64_t> max_query_rows{0};  // 0: no cap
  std::atomic<std::int64_t> max_db_rows{0};
  /// Serialises use of this object's GPU context (stream, handle, workspace).
  mutable std::mutex mutex;
  /// The scratch budget and tile caps, read together under the mutex (the setters may run
  /// concurrently on a shared Resources).
  struct Settings {
    std::size_t workspace_bytes = 0;
    std::int64_t max_query_rows = 0;
    std::int64_t max_db_rows = 0;
  };
  [[nodiscard]] Settings settings() const {
    std::lock_guard lock(mutex);
    return {workspace_bytes.load(), max_query_rows.load(), max_db_rows.load()};
  }
  /// Stream, cuBLAS handle and device workspace; made on first GPU use.
  std::unique_ptr<engine::gpu::Context, engine::gpu::ContextDeleter> gpu;
};

}  // namespace xmr
