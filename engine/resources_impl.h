#pragma once
// State behind xmr::Resources.

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
  std::size_t workspace_bytes = std::size_t{512} << 20;
  std::int64_t max_query_rows = 0;  // 0: no cap
  std::int64_t max_db_rows = 0;
  /// Serialises use of this object's GPU context (stream, handle, workspace).
  mutable std::mutex mutex;
  /// Stream, cuBLAS handle and device workspace; made on first GPU use.
  std::unique_ptr<engine::gpu::Context, engine::gpu::ContextDeleter> gpu;
};

}  // namespace xmr
