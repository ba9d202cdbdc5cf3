// peaks_gpu: a kernel that measures the GPU's popcount throughput, the denominator of
// bench_binary's frac_popcount_peak on a GPU (peaks.cpp times it; peaks_gpu.h declares the
// launcher).
//
// Thread-to-work mapping: every thread runs `iterations` rounds; each round xors a per-round key
// into kPopcountPeakChains independent 64-bit values held in registers, popcounts each
// (__popcll: two 32-bit POPC) and adds the counts into per-chain accumulators. The chains are
// independent, so the loop is bound by the popcount units' throughput, not by latency; there is
// no memory traffic in the loop and no shared memory. The values come from a runtime seed and
// the thread id, and each thread writes its sum, so the compiler can neither fold nor drop the
// work. Words per launch: blocks x kPopcountPeakThreads x kPopcountPeakChains x iterations.

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "peaks_gpu.h"

namespace xmr::bench {

namespace {

__global__ void __launch_bounds__(kPopcountPeakThreads)
    popcount_peak_kernel(unsigned long long seed, long long iterations, unsigned long long* out) {
  const unsigned long long tid =
      static_cast<unsigned long long>(blockIdx.x) * kPopcountPeakThreads + static_cast<unsigned long long>(threadIdx.x);
  unsigned long long x[kPopcountPeakChains];
  unsigned acc[kPopcountPeakChains];
#pragma unroll
  for (int c = 0; c < kPopcountPeakChains; ++c) {
    x[c] = (seed ^ (tid * 0x9E3779B97F4A7C15ull)) + static_cast<unsigned long long>(c) * 0xBF58476D1CE4E5B9ull;
    acc[c] = 0;
  }
  unsigned long long key = seed * 0x94D049BB133111EBull;
  for (long long i = 0; i < iterations; ++i) {
    key += 0x9E3779B97F4A7C15ull;  // a new key each round: no round repeats another
#pragma unroll
    for (int c = 0; c < kPopcountPeakChains; ++c) acc[c] += static_cast<unsigned>(__popcll(x[c] ^ key));
  }
  unsigned long long sum = 0;
#pragma unroll
  for (int c = 0; c < kPopcountPeakChains; ++c) sum += acc[c];
  out[tid] = sum;
}

}  // namespace

void launch_popcount_peak(std::uint64_t seed, std::int64_t blocks, std::int64_t iterations, std::uint64_t* out,
                          CUstream_st* stream) {
  if (blocks <= 0 || blocks > 0x7fffffff || iterations <= 0) {
    throw std::runtime_error("launch_popcount_peak: blocks (= " + std::to_string(blocks) +
                             ") and iterations (= " + std::to_string(iterations) + ") must be positive");
  }
  popcount_peak_kernel<<<static_cast<unsigned>(blocks), kPopcountPeakThreads, 0, stream>>>(
      static_cast<unsigned long long>(seed), static_cast<long long>(iterations),
      reinterpret_cast<unsigned long long*>(out));
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) {
    throw std::runtime_error(std::string("popcount peak kernel launch: ") + cudaGetErrorString(e));
  }
}

}  // namespace xmr::bench
