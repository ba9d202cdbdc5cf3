#pragma once
// Exact Hamming top-k on the CPU: runtime-dispatched popcount kernels (AVX-512 VPOPCNTDQ, AVX2,
// scalar popcnt), blocked over the database, OpenMP-parallel over contiguous database ranges,
// with a counting selection (a distance histogram finds the k-th distance; no comparison sort).

#include <cstdint>

#include "dense/storage.h"

namespace xmr {
class Resources;
}

namespace xmr::engine::cpu {

/// The popcount instruction set a kernel runs with.
enum class PopcountIsa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

/// The best instruction set this CPU supports, or the one forced by the environment variable
/// XMR_CPU_ISA (scalar | avx2 | avx512; a request the CPU cannot run falls back to the best
/// supported below it). Read once per process.
PopcountIsa popcount_isa() noexcept;
const char* to_string(PopcountIsa isa) noexcept;

/// Same contract as gpu::binary_search (gpu/gpu_api.h): per query, the min(k, count) codes of
/// smallest distance among the `count` codes with distance <= max_distance, ascending (distance,
/// row position), into [num_queries x k] `out_dist` / `out_pos` (padding INT32_MAX /
/// UINT32_MAX); `out_within` (may be null) receives each query's count.
/// `queries` are [num_queries x snap.code_bytes] packed codes, dense.
void hamming_search(const DenseSnapshot& snap, const std::uint8_t* queries, std::int64_t num_queries, std::int64_t k,
                    std::int32_t max_distance, const Resources& res, std::int32_t* out_dist, std::uint32_t* out_pos,
                    std::int64_t* out_within);

}  // namespace xmr::engine::cpu
