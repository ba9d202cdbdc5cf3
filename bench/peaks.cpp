// peaks: see peaks.h for what is measured and how.

#include "peaks.h"

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "peaks_gpu.h"
#endif

namespace xmr::bench {

namespace {

Peaks g_peaks;
unsigned g_requested = 0;  // PeakSet bits asked for so far
unsigned g_measured = 0;   // PeakSet bits measured so far

/// Best (shortest) seconds of each of `probes` over rounds that run every probe once, at least
/// `repeats` rounds and `min_seconds`, after one warm-up round: a peak is a property of the
/// machine, so the fastest run is the estimate least disturbed by other processes.
std::vector<double> best_seconds_each(int repeats, double min_seconds,
                                      const std::vector<std::function<void()>>& probes) {
  for (const auto& probe : probes) probe();  // warm-up: thread pools, page faults
  std::vector<double> best(probes.size(), 1e30);
  const auto start = Clock::now();
  for (int r = 0; r < repeats || seconds_since(start) < min_seconds; ++r) {
    for (std::size_t i = 0; i < probes.size(); ++i) {
      const auto t0 = Clock::now();
      probes[i]();
      best[i] = std::min(best[i], seconds_since(t0));
    }
  }
  return best;
}

double best_seconds(int repeats, double min_seconds, const std::function<void()>& once) {
  return best_seconds_each(repeats, min_seconds, {once})[0];
}

// ------------------------------------------------------------------------------------------
// CPU GEMM.

double measure_cpu_sgemm_flops() {
  constexpr std::int64_t kN = 2048;
  std::vector<float> a = xmr::synth::random_normal(kN, kN, 7);
  std::vector<float> b = xmr::synth::random_normal(kN, kN, 8);
  std::vector<float> c(sz(kN * kN));
  const auto n = static_cast<blasint>(kN);
  const double best = best_seconds(5, 2.0, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  benchmark::DoNotOptimize(c.data());
  return 2.0 * static_cast<double>(kN) * static_cast<double>(kN) * static_cast<double>(kN) / best;
}

// ------------------------------------------------------------------------------------------
// CPU memory bandwidth.

// Read probe: eight independent vector accumulators, so a core issues loads as fast as the
// memory system returns them (a plain running sum is latency-bound and understates the peak).
#if defined(__x86_64__)
__attribute__((target("avx2"))) std::uint64_t read_probe_avx2(const std::uint64_t* p, std::int64_t words) {
  __m256i acc[8];
  for (__m256i& a : acc) a = _mm256_setzero_si256();
  for (std::int64_t i = 0; i < words; i += 32) {
    for (int j = 0; j < 8; ++j) {
      acc[j] = _mm256_add_epi64(acc[j], _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4 * j)));
    }
  }
  alignas(32) std::uint64_t lanes[4];
  __m256i s = acc[0];
  for (int j = 1; j < 8; ++j) s = _mm256_add_epi64(s, acc[j]);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

std::uint64_t read_probe_scalar(const std::uint64_t* p, std::int64_t words) {
  std::uint64_t acc[8] = {};
  for (std::int64_t i = 0; i < words; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  }
  std::uint64_t s = 0;
  for (const std::uint64_t a : acc) s += a;
  return s;
}

/// Thread t's slice [begin, end) of `count` items split over nt threads, begin a multiple of
/// `align` items (the last slice takes the rest).
struct Slice {
  std::int64_t begin;
  std::int64_t end;
};
Slice thread_slice(std::int64_t count, std::int64_t align) {
  const std::int64_t nt = omp_get_num_threads();
  const std::int64_t t = omp_get_thread_num();
  return {count * t / nt / align * align, t + 1 == nt ? count : count * (t + 1) / nt / align * align};
}

void measure_cpu_bandwidth(Peaks* p) {
  constexpr std::int64_t kWords = (std::int64_t{1} << 30) / 8;  // 1 GiB of uint64
  constexpr std::int64_t kGemvCols = 512;
  auto src = huge_words(kWords);
  auto dst = huge_words(kWords);
  // First touch by the threads that use each part.
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < kWords; ++i) {
    // Two normal floats per word (1.0f with varying low mantissa bits): denormals would slow the
    // float read probes down with microcode assists.
    src[sz(i)] = 0x3F8000003F800000ull | (static_cast<std::uint64_t>(i) & 0xFFFFull);
    dst[sz(i)] = 0;
  }
  auto copy_once = [&] {
#pragma omp parallel
    {
      const Slice s = thread_slice(kWords, 32);
      std::memcpy(dst.get() + s.begin, src.get() + s.begin, sz(s.end - s.begin) * 8);
    }
    benchmark::DoNotOptimize(dst.get());
  };
#if defined(__x86_64__)
  const bool avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
  auto vector_read_once = [&] {
    std::uint64_t sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      const Slice s = thread_slice(kWords, 32);  // 256-byte aligned slices
#if defined(__x86_64__)
      sum += avx2 ? read_probe_avx2(src.get() + s.begin, s.end - s.begin)
                  : read_probe_scalar(src.get() + s.begin, s.end - s.begin);
#else
      sum += read_probe_scalar(src.get() + s.begin, s.end - s.begin);
#endif
    }
    benchmark::DoNotOptimize(sum);
  };
  // OpenBLAS's sasum and sgemv (vectorised for this CPU at run time) over the buffer as floats,
  // one slice per thread; sgemv as a [rows x 512] matrix is what xmr's single-query path does.
  const float* f = reinterpret_cast<const float*>(src.get());
  auto sasum_once = [&] {
    float sum = 0.0f;
#pragma omp parallel reduction(+ : sum)
    {
      const Slice s = thread_slice(kWords * 2, 64);
      sum += cblas_sasum(static_cast<blasint>(s.end - s.begin), f + s.begin, 1);
    }
    benchmark::DoNotOptimize(sum);
  };
  const std::int64_t gemv_rows = kWords * 2 / kGemvCols;
  std::vector<float> gemv_x(sz(kGemvCols), 1.0f);
  std::vector<float> gemv_y(sz(gemv_rows));
  auto sgemv_once = [&] {
#pragma omp parallel
    {
      const Slice s = thread_slice(gemv_rows, 1);
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(s.end - s.begin), static_cast<blasint>(kGemvCols),
                  1.0f, f + s.begin * kGemvCols, static_cast<blasint>(kGemvCols), gemv_x.data(), 1, 0.0f,
                  gemv_y.data() + s.begin, 1);
    }
    benchmark::DoNotOptimize(gemv_y.data());
  };
  // Rounds of all four probes back to back, so the copy and read peaks see the same conditions.
  const std::vector<double> best = best_seconds_each(5, 1.0, {copy_once, vector_read_once, sasum_once, sgemv_once});
  const double bytes = static_cast<double>(kWords) * 8.0;
  p->cpu_copy_bw = 2.0 * bytes / best[0];
  const double read_s = std::min({best[1], best[2], best[3]});
  p->cpu_read_bw = bytes / read_s;
  p->cpu_mem_bw = std::max(p->cpu_copy_bw, p->cpu_read_bw);
}

// ------------------------------------------------------------------------------------------
// CPU popcount.

enum class Isa { Scalar, Avx2, Avx512 };

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512-vpopcntdq";
    case Isa::Avx2: return "avx2";
    case Isa::Scalar: break;
  }
  return "scalar";
}

/// The best popcount instruction set of this CPU (the same rule as xmr's dispatch, without
/// XMR_CPU_ISA: the peak is the machine's, whatever kernel xmr was told to use).
Isa best_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

// Popcount probes: `reps` passes over an L1-resident buffer of `words` 64-bit words (a multiple
// of 128), each word xor-ed with a per-pass constant, popcounted and summed; eight independent
// accumulators so the loop is throughput-bound, not latency-bound. The per-pass constant keeps
// the compiler from computing one pass and multiplying.

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vpopcntdq"))) std::uint64_t popcount_probe_avx512(const std::uint64_t* buf,
                                                                                       std::int64_t words,
                                                                                       std::int64_t reps) {
  __m512i acc[8];
  for (__m512i& a : acc) a = _mm512_setzero_si512();
  for (std::int64_t r = 0; r < reps; ++r) {
    const __m512i q = _mm512_set1_epi64(r);
    for (std::int64_t i = 0; i < words; i += 64) {
      for (int j = 0; j < 8; ++j) {
        const __m512i x = _mm512_load_si512(buf + i + 8 * j);
        acc[j] = _mm512_add_epi64(acc[j], _mm512_popcnt_epi64(_mm512_xor_si512(x, q)));
      }
    }
  }
  __m512i s = acc[0];
  for (int j = 1; j < 8; ++j) s = _mm512_add_epi64(s, acc[j]);
  // (A store, not _mm512_reduce_add_epi64: GCC 12 warns inside that intrinsic.)
  alignas(64) std::uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  std::uint64_t sum = 0;
  for (const std::uint64_t v : lanes) sum += v;
  return sum;
}

// AVX2 has no popcount instruction: nibble lookups (vpshufb), byte counts accumulated over 8
// vectors before one vpsadbw, the fastest AVX2 form of the lookup kernel.
__attribute__((target("avx2"))) std::uint64_t popcount_probe_avx2(const std::uint64_t* buf, std::int64_t words,
                                                                  std::int64_t reps) {
  const __m256i lut =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i acc[4];
  for (__m256i& a : acc) a = _mm256_setzero_si256();
  for (std::int64_t r = 0; r < reps; ++r) {
    const __m256i q = _mm256_set1_epi64x(r);
    for (std::int64_t i = 0; i < words; i += 128) {
      __m256i bytes[4];
      for (__m256i& b : bytes) b = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        for (int j = 0; j < 4; ++j) {
          const __m256i x =
              _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(buf + i + 16 * g + 4 * j)), q);
          const __m256i lo = _mm256_and_si256(x, low);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
          bytes[j] =
              _mm256_add_epi8(bytes[j], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi)));
        }
      }
      for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_epi64(acc[j], _mm256_sad_epu8(bytes[j], _mm256_setzero_si256()));
    }
  }
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

XMR_BENCH_TARGET_POPCNT std::uint64_t popcount_probe_scalar(const std::uint64_t* buf, std::int64_t words,
                                                            std::int64_t reps) {
  std::uint64_t acc[8] = {};
  for (std::int64_t r = 0; r < reps; ++r) {
    const auto q = static_cast<std::uint64_t>(r);
    for (std::int64_t i = 0; i < words; i += 8) {
      for (int j = 0; j < 8; ++j) acc[j] += static_cast<std::uint64_t>(__builtin_popcountll(buf[i + j] ^ q));
    }
  }
  std::uint64_t s = 0;
  for (const std::uint64_t a : acc) s += a;
  return s;
}

std::uint64_t popcount_probe(Isa isa, const std::uint64_t* buf, std::int64_t words, std::int64_t reps) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512) return popcount_probe_avx512(buf, words, reps);
  if (isa == Isa::Avx2) return popcount_probe_avx2(buf, words, reps);
#endif
  static_cast<void>(isa);
  return popcount_probe_scalar(buf, words, reps);
}

/// 64-bit xor-popcount-adds per second, all OpenMP threads, each on its own 16 KiB buffer
/// (L1-resident: the database blocks of a search come from L2 or memory, so this bounds it).
double measure_cpu_popcount_words(Isa isa) {
  constexpr std::int64_t kWords = 2048;  // 16 KiB per thread
  const int threads = omp_get_max_threads();
  std::vector<std::uint64_t> bufs(sz(kWords * threads + 64));
  // 64-byte aligned start for the aligned vector loads.
  std::uint64_t* base = bufs.data();
  while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
  std::uint64_t state = 12345;
  for (std::int64_t i = 0; i < kWords * threads; ++i) base[i] = splitmix64(state);
  std::uint64_t sink = 0;
  auto run = [&](std::int64_t reps) {
    std::uint64_t sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    sum += popcount_probe(isa, base + kWords * omp_get_thread_num(), kWords, reps);
    sink += sum;
  };
  auto timed = [&](std::int64_t reps) {
    const auto t0 = Clock::now();
    run(reps);
    return seconds_since(t0);
  };
  // Calibrate: about 0.1 s per run.
  std::int64_t reps = 1000;
  for (double s = timed(reps); s < 0.05; s = timed(reps)) reps *= 4;
  reps = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(reps) * 0.1 / timed(reps)));
  const double best = best_seconds(5, 1.0, [&] { run(reps); });
  benchmark::DoNotOptimize(sink);
  return static_cast<double>(kWords) * static_cast<double>(threads) * static_cast<double>(reps) / best;
}

// ------------------------------------------------------------------------------------------
// GPU.

#ifdef XMR_BENCH_HAVE_CUDA

/// Copy, GEMM and popcount peaks of device 0 into `p`. Returns a note (empty on success); leaves
/// a peak at 0 when it could not be measured.
std::string measure_gpu_peaks(Peaks* p) {
  constexpr std::size_t kCopyBytes = std::size_t{1} << 30;
  constexpr int kGemmN = 8192;
  constexpr int kRepeats = 5;
  cudaError_t e = cudaSetDevice(0);
  if (e != cudaSuccess) return cuda_error("cudaSetDevice", e);
  int sms = 0;
  int clock_khz = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess &&
      cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0) == cudaSuccess) {
    // 16 32-bit popc per SM per clock (sm_80 / sm_90 throughput table); a 64-bit word is two.
    p->gpu_popcount_words_nominal = static_cast<double>(sms) * static_cast<double>(clock_khz) * 1e3 * 16.0 / 2.0;
  }
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  void* a = nullptr;
  void* b = nullptr;
  void* c = nullptr;
  cublasHandle_t handle = nullptr;
  std::string note;
  auto timed = [&](const std::function<void()>& fn) { return best_event_seconds(stream, start, stop, kRepeats, fn); };
  do {
    if ((e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaEventCreate(&start)) != cudaSuccess || (e = cudaEventCreate(&stop)) != cudaSuccess) {
      note = cuda_error("stream/event", e);
      break;
    }
    // Copy: 1 GiB read + 1 GiB written per copy.
    if ((e = cudaMalloc(&a, kCopyBytes)) != cudaSuccess || (e = cudaMalloc(&b, kCopyBytes)) != cudaSuccess) {
      note = cuda_error("cudaMalloc", e);
      break;
    }
    cudaMemsetAsync(a, 1, kCopyBytes, stream);
    const double copy_s = timed([&] { cudaMemcpyAsync(b, a, kCopyBytes, cudaMemcpyDeviceToDevice, stream); });
    if ((e = cudaGetLastError()) != cudaSuccess) {
      note = cuda_error("copy", e);
      break;
    }
    p->gpu_copy_bw = 2.0 * static_cast<double>(kCopyBytes) / copy_s;
    // Popcount: enough blocks to fill every SM 8 times over at full occupancy (2048 threads per
    // SM), iterations calibrated to about 20 ms per launch. The result buffer is `c`.
    const std::int64_t blocks = std::int64_t{std::max(sms, 1)} * (2048 / kPopcountPeakThreads) * 8;
    if ((e = cudaMalloc(&c, std::max<std::size_t>(sz(blocks * kPopcountPeakThreads) * 8,
                                                  std::size_t{kGemmN} * kGemmN * 4))) != cudaSuccess) {
      note = cuda_error("cudaMalloc", e);
      break;
    }
    auto* out = static_cast<std::uint64_t*>(c);
    const auto seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    try {
      std::int64_t iterations = 256;
      for (;;) {
        const double s = timed([&] { launch_popcount_peak(seed, blocks, iterations, out, stream); });
        if (s >= 0.01 || iterations >= (std::int64_t{1} << 30)) {
          iterations =
              std::max<std::int64_t>(iterations, static_cast<std::int64_t>(static_cast<double>(iterations) * 0.02 / s));
          break;
        }
        iterations *= 8;
      }
      const double s = timed([&] { launch_popcount_peak(seed, blocks, iterations, out, stream); });
      p->gpu_popcount_words = popcount_peak_words(blocks, iterations) / s;
    } catch (const std::exception& ex) {
      note = ex.what();
      break;
    }
    // GEMM kGemmN^3 on normal data (not zeros: power, and so clocks, depend on the data).
    const std::size_t elems = std::size_t{kGemmN} * std::size_t{kGemmN};
    const std::vector<float> host = xmr::synth::random_normal(kGemmN, kGemmN, 9);
    std::vector<xmr::half> host_half(elems);
    for (std::size_t i = 0; i < elems; ++i) host_half[i] = xmr::to_half(host[i]);
    // a: fp32 matrix, b: fp16 matrix (the 1 GiB buffers are large enough for both).
    cudaMemcpy(a, host.data(), elems * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(b, host_half.data(), elems * 2, cudaMemcpyHostToDevice);
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS || cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS) {
      note = "cublasCreate failed";
      break;
    }
    const float alpha = 1.0f;
    const float beta = 0.0f;
    const double flop = 2.0 * kGemmN * static_cast<double>(kGemmN) * kGemmN;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    const double s32 = timed([&] {
      st = cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, kGemmN, kGemmN, kGemmN, &alpha, static_cast<const float*>(a),
                       kGemmN, static_cast<const float*>(a), kGemmN, &beta, static_cast<float*>(c), kGemmN);
    });
    if (st == CUBLAS_STATUS_SUCCESS) p->gpu_sgemm_flops = flop / s32;
    const double s16 = timed([&] {
      st = cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, kGemmN, kGemmN, kGemmN, &alpha, b, CUDA_R_16F, kGemmN, b,
                        CUDA_R_16F, kGemmN, &beta, c, CUDA_R_32F, kGemmN, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    if (st == CUBLAS_STATUS_SUCCESS) p->gpu_hgemm_flops = flop / s16;
    if ((e = cudaGetLastError()) != cudaSuccess) note = cuda_error("gemm", e);
  } while (false);
  if (handle != nullptr) cublasDestroy(handle);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  if (stream != nullptr) cudaStreamDestroy(stream);
  return note;
}

#endif  // XMR_BENCH_HAVE_CUDA

void measure_gpu(Peaks* p) {
#ifdef XMR_BENCH_HAVE_CUDA
  p->gpu_note = xmr::gpu_count() > 0 ? measure_gpu_peaks(p) : "no GPU";
#else
  p->gpu_note = "bench built without CUDA: GPU peaks not measured";
#endif
}

std::string gflops(double v) {
  return fixed(v * 1e-9, 1);
}
std::string gbs(double v) {
  return fixed(v * 1e-9, 2);
}

}  // namespace

void measure_peaks(unsigned what, int argc, char** argv) {
  g_requested |= what;
  if (has_arg(argc, argv, "--benchmark_list_tests")) return;
  const unsigned todo = what & ~g_measured;
  if ((todo & kPeakCpuGemm) != 0) g_peaks.cpu_sgemm_flops = measure_cpu_sgemm_flops();
  if ((todo & kPeakCpuMemory) != 0) measure_cpu_bandwidth(&g_peaks);
  if ((todo & kPeakCpuPopcount) != 0) {
    const Isa isa = best_isa();
    g_peaks.cpu_popcount_isa = isa_name(isa);
    g_peaks.cpu_popcount_words = measure_cpu_popcount_words(isa);
  }
  if ((todo & kPeakGpu) != 0) measure_gpu(&g_peaks);
  g_measured |= todo;
}

bool initialize_and_measure_peaks(int* argc, char** argv, unsigned what) {
  std::vector<char*> args(argv, argv + *argc);
  benchmark::Initialize(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(*argc, argv)) return false;
  measure_peaks(what, static_cast<int>(args.size()), args.data());
  return true;
}

const Peaks& peaks() {
  return g_peaks;
}

void add_peaks_context() {
  const Peaks& p = g_peaks;
  std::string method;
  auto describe = [&](const char* how) {
    if (!method.empty()) method += "; ";
    method += how;
  };
  if ((g_requested & kPeakCpuGemm) != 0) {
    benchmark::AddCustomContext("peak_cpu_sgemm_gflops", gflops(p.cpu_sgemm_flops));
    describe("cpu sgemm: cblas_sgemm 2048^3, all threads, best of >= 5 runs and 2 s");
  }
  if ((g_requested & kPeakCpuMemory) != 0) {
    benchmark::AddCustomContext("peak_cpu_copy_gbs", gbs(p.cpu_copy_bw));
    benchmark::AddCustomContext("peak_cpu_read_gbs", gbs(p.cpu_read_bw));
    benchmark::AddCustomContext("peak_cpu_mem_gbs", gbs(p.cpu_mem_bw));
    describe(
        "cpu memory: max(1 GiB parallel copy counting read+write, 1 GiB parallel read = best of an AVX2 "
        "8-accumulator read, OpenBLAS sasum and sgemv slices), huge pages, each best of >= 5 runs and 1 s");
  }
  if ((g_requested & kPeakCpuPopcount) != 0) {
    benchmark::AddCustomContext("peak_cpu_popcount_isa", p.cpu_popcount_isa);
    benchmark::AddCustomContext("peak_cpu_popcount_gwords", fixed(p.cpu_popcount_words * 1e-9, 2));
    describe(
        "cpu popcount: all threads, 16 KiB L1-resident buffer each, xor+popcount+add of 64-bit words with "
        "the best ISA, best of >= 5 runs and 1 s");
  }
  if ((g_requested & kPeakGpu) != 0) {
    benchmark::AddCustomContext("peak_gpu_sgemm_gflops", gflops(p.gpu_sgemm_flops));
    benchmark::AddCustomContext("peak_gpu_hgemm_gflops", gflops(p.gpu_hgemm_flops));
    benchmark::AddCustomContext("peak_gpu_copy_gbs", gbs(p.gpu_copy_bw));
    benchmark::AddCustomContext("peak_gpu_popcount_gwords", fixed(p.gpu_popcount_words * 1e-9, 1));
    benchmark::AddCustomContext("peak_gpu_popcount_gwords_nominal", fixed(p.gpu_popcount_words_nominal * 1e-9, 1));
    if (!p.gpu_note.empty()) benchmark::AddCustomContext("peak_gpu_note", p.gpu_note);
    describe(
        "gpu: cublasSgemm and cublasGemmEx fp16->fp32 8192^3 on normal data, 1 GiB D2D copy (read+write), "
        "popcount kernel (register-resident xor+__popcll+add chains, every SM filled 8x), CUDA events, best of "
        "5; popcount nominal = SMs x clock x 16 popc32/SM/clk / 2");
  }
  if (!method.empty()) benchmark::AddCustomContext("peak_method", method);
}

}  // namespace xmr::bench
