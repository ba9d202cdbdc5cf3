// peaks: the machine's limits, measured once per process, the denominators of every benchmark's
// fraction-of-peak counters (frac_gemm_peak, frac_mem_bw, frac_popcount_peak). Measured here, on
// this machine, not copied from a datasheet:
//   CPU GEMM      cblas_sgemm 2048^3 (OpenBLAS, all threads), best of >= 5 runs and >= 2 s.
//   CPU memory    1 GiB huge-page buffers (huge_words): a parallel copy (read + write bytes) and
//                 three parallel read probes (an 8-accumulator AVX2 read, OpenBLAS sasum and
//                 sgemv slices; the read peak is the best of them), best of >= 5 runs and >= 1 s.
//   CPU popcount  all threads, each on a 16 KiB L1-resident buffer: 64-bit xor + popcount + add
//                 with the best instructions of this CPU (AVX-512 VPOPCNTDQ, AVX2 nibble lookup,
//                 scalar popcnt), best of >= 5 runs and >= 1 s.
//   GPU           (builds with XMR_BENCH_HAVE_CUDA, device 0, when xmr::gpu_count() > 0) a 1 GiB
//                 device-to-device copy (read + write bytes), cublasSgemm and cublasGemmEx fp16
//                 inputs / fp32 accumulate 8192^3 on random normal data, and a popcount kernel
//                 (peaks_gpu.cu: register-resident xor + __popcll + add chains, no memory traffic),
//                 each timed with CUDA events, best of 5 after a warm-up. The nominal popcount
//                 rate (SMs x clock x 16 popc32 per SM per clock / 2) is reported beside it.
// peaks.cpp is compiled into each benchmark that uses it, so XMR_BENCH_HAVE_CUDA follows that
// benchmark's build; it needs OpenBLAS and OpenMP, and cuBLAS plus peaks_gpu.cu with CUDA.

#pragma once

#include <string>

namespace xmr::bench {

/// Which peaks measure_peaks measures (a bit set).
enum PeakSet : unsigned { kPeakCpuGemm = 1, kPeakCpuMemory = 2, kPeakCpuPopcount = 4, kPeakGpu = 8 };

/// The measured peaks; 0 (or "") where not measured.
struct Peaks {
  double cpu_sgemm_flops = 0;             ///< cblas_sgemm 2048^3, all threads, flop/s
  double cpu_copy_bw = 0;                 ///< parallel copy, (read + write) bytes/s
  double cpu_read_bw = 0;                 ///< parallel read, bytes/s (best of the read probes)
  double cpu_mem_bw = 0;                  ///< max(copy, read): denominator of frac_mem_bw
  std::string cpu_popcount_isa;           ///< "avx512-vpopcntdq", "avx2", "scalar"
  double cpu_popcount_words = 0;          ///< 64-bit xor-popcount-adds per second, all threads
  double gpu_sgemm_flops = 0;             ///< cublasSgemm fp32, flop/s
  double gpu_hgemm_flops = 0;             ///< cublasGemmEx fp16 inputs, fp32 accumulate, flop/s
  double gpu_copy_bw = 0;                 ///< device-to-device copy, (read + write) bytes/s
  double gpu_popcount_words = 0;          ///< 64-bit xor-popcount-adds per second, measured by a kernel
  double gpu_popcount_words_nominal = 0;  ///< SMs x clock x 16 popc32/SM/clk / 2, for comparison
  std::string gpu_note;                   ///< why GPU peaks are missing ("" when measured)
};

/// Measures the peaks in `what` (PeakSet bits), each at most once per process: a later call
/// measures only what no earlier call did. Measures nothing when `argv` holds
/// --benchmark_list_tests; pass main's argc/argv as they were BEFORE benchmark::Initialize,
/// which removes the benchmark flags from them (keep a copy). Takes seconds (each CPU peak >= 1-2
/// s, 2 GiB of host memory for the bandwidth probe, 2 GiB of device memory for the GPU peaks).
/// GPU failures do not throw: the peak stays 0 and gpu_note says why. Not thread-safe: call it
/// from main before the benchmarks run.
void measure_peaks(unsigned what, int argc, char** argv);

/// A benchmark's start: benchmark::Initialize, ReportUnrecognizedArguments, then
/// measure_peaks(what, ...) with the arguments as they were before Initialize removed the
/// benchmark flags. Returns false when an argument was not recognised (main then returns 1).
bool initialize_and_measure_peaks(int* argc, char** argv, unsigned what);

/// The peaks measured so far.
const Peaks& peaks();

/// Adds the benchmark context keys of the peak sets requested so far (by measure_peaks, measured
/// or not): peak_cpu_sgemm_gflops (kPeakCpuGemm); peak_cpu_copy_gbs, peak_cpu_read_gbs,
/// peak_cpu_mem_gbs (kPeakCpuMemory); peak_cpu_popcount_isa, peak_cpu_popcount_gwords
/// (kPeakCpuPopcount); peak_gpu_sgemm_gflops, peak_gpu_hgemm_gflops, peak_gpu_copy_gbs,
/// peak_gpu_popcount_gwords, peak_gpu_popcount_gwords_nominal and, when not empty, peak_gpu_note
/// (kPeakGpu); and peak_method, how each was measured. Call it once (Google Benchmark keeps the
/// first value of a key).
void add_peaks_context();

}  // namespace xmr::bench
