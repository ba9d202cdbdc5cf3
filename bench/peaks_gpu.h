// peaks_gpu: the launcher of the GPU popcount-peak kernel (peaks_gpu.cu), declared in plain C++
// so peaks.cpp needs no CUDA header for it. Built only with XMR_BENCH_HAVE_CUDA.

#pragma once

#include <cstdint>

struct CUstream_st;

namespace xmr::bench {

/// Threads per block of the popcount-peak kernel.
constexpr int kPopcountPeakThreads = 256;
/// Independent xor + popcount + add chains per thread (64-bit words per thread per iteration).
constexpr int kPopcountPeakChains = 16;

/// 64-bit words one launch of launch_popcount_peak processes.
constexpr double popcount_peak_words(std::int64_t blocks, std::int64_t iterations) {
  return static_cast<double>(blocks) * kPopcountPeakThreads * kPopcountPeakChains * static_cast<double>(iterations);
}

/// Enqueues the popcount-peak kernel on `stream` (asynchronous): `blocks` blocks of
/// kPopcountPeakThreads threads, each running `iterations` rounds of kPopcountPeakChains
/// independent xor + __popcll + add chains on register-resident 64-bit values derived from
/// `seed` (a runtime value, so nothing folds at compile time). `out`: device memory of
/// blocks * kPopcountPeakThreads 64-bit words, one result per thread (so no work is dead).
/// Throws std::runtime_error when the launch fails.
void launch_popcount_peak(std::uint64_t seed, std::int64_t blocks, std::int64_t iterations, std::uint64_t* out,
                          CUstream_st* stream);

}  // namespace xmr::bench
