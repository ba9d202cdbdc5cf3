// bench_binary: exact Hamming k-NN search over packed binary codes, xmr against its peers, in
// one harness (the binary twin of bench_dense.cpp).
//
// Every engine sits behind one interface (Engine) and sees the same codes, the same queries and
// the same thread count, so every ratio comes from one run of one binary:
//   xmr_cpu     BinaryIndex, Device::Cpu
//   xmr_gpu     BinaryIndex, Device::Gpu (registered only when xmr::gpu_count() > 0)
//   faiss_cpu   faiss::IndexBinaryFlat, default settings (when built with FAISS:
//               XMR_BENCH_HAVE_FAISS)
//
// Data: B-bit codes (B/8 bytes, LSB-first as xmr stores them) of independent uniform random
// bits from a fixed-seed splitmix64 stream; the queries come from another seed, so they are
// not database rows. One database lives in memory at a time: it is generated on first use for
// an (N, B) and freed, with every engine's index, when a benchmark asks for another. Each
// engine builds its index once per (N, B) and reuses it for every Q and k.
//
// Benchmarks are named `binary/<engine>/N:<n>/bits:<b>/Q:<q>/k:<k>` (Google Benchmark appends
// `/min_time:.../real_time` or `/manual_time`). Counters:
//   queries_per_s       queries answered per second
//   gpairs_per_s        Q*N query-code pairs per search, per second (1e9)
//   frac_popcount_peak  Q*N*ceil(B/64) 64-bit xor-popcount-adds per second over a peak measured
//                       once in this process (CPU: all threads on an L1-resident buffer, with the
//                       best popcount instructions of this CPU; GPU: nominal, see below)
//   frac_mem_bw         (N*B/8 + Q*B/8 + Q*k*12) bytes per second over a measured memory
//                       bandwidth (CPU: max of a 1 GiB huge-page parallel copy and read; GPU: a
//                       1 GiB device-to-device copy). Above 1 means the database was served from
//                       a cache (8-32 MB databases fit in a server's last-level cache).
//   build_s             seconds to build the index (add, plus one warm-up search)
//   invol_csw           involuntary context switches of the process per search (contention)
// In a CUDA build (XMR_BENCH_HAVE_CUDA) GPU searches are timed with CUDA events on a stream the
// bench lends to xmr through Resources; the GPU popcount peak is nominal (SMs x clock x 16
// 32-bit popc per SM per clock, the CUDA programming guide's throughput for sm_80/sm_90, / 2
// for 64-bit words): measuring it would need a kernel, and kernels live in kernels/.
//
// Correctness: `check/<a>_vs_<b>/N:<n>/bits:<b>/k:<k>` runs both engines once on the first 100
// queries and compares each with an independent scalar reference (the exact top-1000 by
// (distance, id), from two passes over the database). xmr must equal the reference exactly:
// distances and ids, ties by ascending id. FAISS does not order ties by id, so for it the
// distances must match rank by rank, the ids must match as sets within each distance, and in
// the last distance group (cut by k) every id must carry that distance; a different choice
// among those tied codes is counted (boundary_tie_diffs), not failed. Pairs of xmr engines must
// be bit-identical. A failure is reported with SkipWithError, never silently.
//
// XMR_BENCH_QUICK=1 restricts the sizes to N = 1e5 (smoke test).

#include <benchmark/benchmark.h>
#include <omp.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/Index.h>
#include <faiss/IndexBinaryFlat.h>
#endif

#ifdef XMR_BENCH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

constexpr std::int64_t kCodeBits[] = {64, 128, 256};
constexpr std::int64_t kNumQueries[] = {1, 100, 1000};
constexpr std::int64_t kNumResults[] = {10, 100, 1000};
constexpr std::int64_t kMaxQueries = 1000;
constexpr std::int64_t kMaxResults = 1000;
constexpr std::int64_t kCheckQueries = 100;
constexpr std::uint64_t kDatabaseSeed = 20240611;
constexpr std::uint64_t kQuerySeed = 20240612;

using xmr::bench::Clock;
using xmr::bench::fixed;
using xmr::bench::seconds_since;
using xmr::bench::sz;

/// 64-bit words per code of `bits` bits (what a popcount kernel processes per pair).
std::int64_t words_per_code(std::int64_t bits) {
  return (bits + 63) / 64;
}

// ------------------------------------------------------------------------------------------
// Random codes: splitmix64, one stream per row, so the bytes do not depend on the thread count
// (and the first rows of a larger database equal a smaller one's).

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<std::uint8_t> random_codes(std::int64_t rows, std::int64_t bytes, std::uint64_t seed) {
  std::vector<std::uint8_t> out(sz(rows * bytes));
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::uint64_t state = seed * 0xD1B54A32D192ED03ull + static_cast<std::uint64_t>(r) * 0x9E3779B97F4A7C15ull;
    std::uint8_t* row = out.data() + r * bytes;
    for (std::int64_t b = 0; b < bytes; b += 8) {
      const std::uint64_t w = splitmix64(state);
      std::memcpy(row + b, &w, sz(std::min<std::int64_t>(8, bytes - b)));
    }
  }
  return out;
}

// Hardware popcnt for the scalar loops where the target has one (the library is built for the
// x86-64 baseline, whose __builtin_popcountll is a libgcc call).
#if defined(__x86_64__)
#define XMR_BENCH_TARGET_POPCNT __attribute__((target("popcnt")))
#else
#define XMR_BENCH_TARGET_POPCNT
#endif

// ------------------------------------------------------------------------------------------
// The independent reference: a plain loop over 64-bit words, hardware popcnt where there is one.

XMR_BENCH_TARGET_POPCNT std::int32_t reference_distance(const std::uint8_t* a, const std::uint8_t* b,
                                                        std::int64_t bytes) {
  std::int32_t d = 0;
  std::int64_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    d += __builtin_popcountll(x ^ y);
  }
  for (; i < bytes; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

// ------------------------------------------------------------------------------------------
// Peaks, measured once per process.

enum class Isa { Scalar, Avx2, Avx512 };

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512-vpopcntdq";
    case Isa::Avx2: return "avx2";
    case Isa::Scalar: break;
  }
  return "scalar-popcnt";
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
double measure_cpu_popcount_peak(Isa isa) {
  constexpr std::int64_t kWords = 2048;  // 16 KiB per thread
  constexpr int kRepeats = 5;
  constexpr double kMinSeconds = 1.0;
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
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    sum += popcount_probe(isa, base + kWords * omp_get_thread_num(), kWords, reps);
    const double s = seconds_since(t0);
    sink += sum;
    return s;
  };
  // Calibrate: about 0.1 s per run.
  std::int64_t reps = 1000;
  for (double s = run(reps); s < 0.05; s = run(reps)) reps *= 4;
  reps = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(reps) * 0.1 / run(reps)));
  double best = 1e30;
  const auto start = Clock::now();
  for (int r = 0; r < kRepeats || seconds_since(start) < kMinSeconds; ++r) best = std::min(best, run(reps));
  benchmark::DoNotOptimize(sink);
  return static_cast<double>(kWords) * static_cast<double>(threads) * static_cast<double>(reps) / best;
}

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

void measure_cpu_bandwidth(double* copy_bw, double* read_bw) {
  constexpr std::int64_t kWords = (std::int64_t{1} << 30) / 8;  // 1 GiB of uint64
  constexpr int kRepeats = 5;
  constexpr double kMinSeconds = 1.0;
  auto src = xmr::bench::huge_words(kWords);
  auto dst = xmr::bench::huge_words(kWords);
  // First touch by the threads that use each part.
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < kWords; ++i) {
    src[sz(i)] = static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    dst[sz(i)] = 0;
  }
  auto copy_once = [&] {
#pragma omp parallel
    {
      const std::int64_t nt = omp_get_num_threads();
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t begin = kWords * t / nt / 32 * 32;
      const std::int64_t end = t + 1 == nt ? kWords : kWords * (t + 1) / nt / 32 * 32;
      std::memcpy(dst.get() + begin, src.get() + begin, sz(end - begin) * 8);
    }
  };
#if defined(__x86_64__)
  const bool avx2 = __builtin_cpu_supports("avx2") != 0;
#else
  const bool avx2 = false;
#endif
  auto read_once = [&] {
    std::uint64_t sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      const std::int64_t nt = omp_get_num_threads();
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t begin = kWords * t / nt / 32 * 32;  // 256-byte aligned slices
      const std::int64_t end = t + 1 == nt ? kWords : kWords * (t + 1) / nt / 32 * 32;
#if defined(__x86_64__)
      if (avx2) {
        sum += read_probe_avx2(src.get() + begin, end - begin);
      } else {
        sum += read_probe_scalar(src.get() + begin, end - begin);
      }
#else
      sum += read_probe_scalar(src.get() + begin, end - begin);
#endif
    }
    benchmark::DoNotOptimize(sum);
  };
  copy_once();
  read_once();
  double best_copy = 1e30;
  double best_read = 1e30;
  const auto start = Clock::now();
  for (int r = 0; r < kRepeats || seconds_since(start) < kMinSeconds; ++r) {
    auto t0 = Clock::now();
    copy_once();
    best_copy = std::min(best_copy, seconds_since(t0));
    benchmark::DoNotOptimize(dst.get());
    t0 = Clock::now();
    read_once();
    best_read = std::min(best_read, seconds_since(t0));
  }
  const double bytes = static_cast<double>(kWords) * 8.0;
  *copy_bw = 2.0 * bytes / best_copy;
  *read_bw = bytes / best_read;
}

struct Peaks {
  Isa cpu_isa = Isa::Scalar;
  double cpu_popcount_words = 0.0;  // 64-bit xor-popcount-adds per second, all threads
  double cpu_copy_bw = 0.0;         // parallel copy, (read + write) bytes/s
  double cpu_read_bw = 0.0;         // parallel read, bytes/s
  double cpu_mem_bw = 0.0;          // max(copy, read): the denominator of frac_mem_bw
  double gpu_popcount_words = 0.0;  // nominal, 64-bit popcounts per second (0: unknown)
  double gpu_copy_bw = 0.0;         // device-to-device copy, (read + write) bytes/s
  std::string gpu_note;             // why GPU peaks are missing
};

Peaks g_peaks;

#ifdef XMR_BENCH_HAVE_CUDA

using xmr::bench::cuda_error;

// Device-to-device copy bandwidth (measured) and the nominal popcount rate of device 0.
// Returns a note (empty on success); leaves a peak at 0 when it is not known.
std::string measure_gpu_peaks(Peaks* p) {
  constexpr std::size_t kCopyBytes = std::size_t{1} << 30;
  constexpr int kRepeats = 5;
  cudaError_t e = cudaSetDevice(0);
  if (e != cudaSuccess) return cuda_error("cudaSetDevice", e);
  int sms = 0;
  int clock_khz = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess &&
      cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0) == cudaSuccess) {
    // 16 32-bit popc per SM per clock (sm_80 / sm_90 throughput table); a 64-bit word is two.
    p->gpu_popcount_words = static_cast<double>(sms) * static_cast<double>(clock_khz) * 1e3 * 16.0 / 2.0;
  }
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  void* a = nullptr;
  void* b = nullptr;
  std::string note;
  do {
    if ((e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaEventCreate(&start)) != cudaSuccess || (e = cudaEventCreate(&stop)) != cudaSuccess) {
      note = cuda_error("stream/event", e);
      break;
    }
    if ((e = cudaMalloc(&a, kCopyBytes)) != cudaSuccess || (e = cudaMalloc(&b, kCopyBytes)) != cudaSuccess) {
      note = cuda_error("cudaMalloc", e);
      break;
    }
    cudaMemsetAsync(a, 1, kCopyBytes, stream);
    const double copy_s = xmr::bench::best_event_seconds(
        stream, start, stop, kRepeats, [&] { cudaMemcpyAsync(b, a, kCopyBytes, cudaMemcpyDeviceToDevice, stream); });
    if ((e = cudaGetLastError()) != cudaSuccess) {
      note = cuda_error("copy", e);
      break;
    }
    p->gpu_copy_bw = 2.0 * static_cast<double>(kCopyBytes) / copy_s;
  } while (false);
  cudaFree(a);
  cudaFree(b);
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  if (stream != nullptr) cudaStreamDestroy(stream);
  return note;
}

#endif  // XMR_BENCH_HAVE_CUDA

// ------------------------------------------------------------------------------------------
// Engines.

/// One search engine under test. The harness owns the codes; an engine builds its index from
/// them once and answers batches of queries into caller buffers ([nq x k], nearest first).
class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  virtual ~Engine() = default;

  [[nodiscard]] virtual std::string name() const = 0;
  /// `codes`: [n x bits/8] packed codes in host memory.
  virtual void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) = 0;
  virtual void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
                      std::int32_t* distances) = 0;

  /// Why the engine cannot run on this machine; empty when it can.
  [[nodiscard]] virtual std::string unavailable() const { return {}; }
  [[nodiscard]] virtual bool on_gpu() const { return false; }
  /// True when the engine promises xmr's tie rule (equal distances by ascending id).
  [[nodiscard]] virtual bool orders_ties_by_id() const { return true; }
  /// Device time of the last search (CUDA events), seconds; negative when not measured.
  [[nodiscard]] virtual double last_device_seconds() const { return -1.0; }
};

class XmrEngine final : public Engine {
 public:
  XmrEngine(std::string name, xmr::Device device) : name_(std::move(name)), dev_(device) {}

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] bool on_gpu() const override { return dev_.on_gpu(); }
  [[nodiscard]] double last_device_seconds() const override { return dev_.last_device_seconds(); }
  [[nodiscard]] std::string unavailable() const override { return dev_.unavailable(); }

  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override {
    bytes_ = bits / 8;
    dev_.prepare();
    index_ = std::make_unique<xmr::BinaryIndex>(xmr::BinaryIndexOptions{.bits = bits, .device = dev_.device()});
    index_->add(xmr::MatrixView<const std::uint8_t>(codes, n, bytes_));
  }

  void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override {
    dev_.timed([&] {
      index_->search_into(xmr::MatrixView<const std::uint8_t>(queries, nq, bytes_), k,
                          xmr::MatrixView<std::int64_t>(ids, nq, k), xmr::MatrixView<std::int32_t>(distances, nq, k),
                          dev_.options());
    });
  }

 private:
  std::string name_;
  xmr::bench::XmrBenchDevice dev_;  // outlives index_, which may use its Resources
  std::int64_t bytes_ = 0;
  std::unique_ptr<xmr::BinaryIndex> index_;
};

#ifdef XMR_BENCH_HAVE_FAISS
/// faiss::IndexBinaryFlat as a FAISS user gets it: default use_heap (heap selection) and
/// query_batch_size (32; OpenMP parallel over the queries of a batch, so Q = 1 is one thread).
class FaissEngine final : public Engine {
 public:
  [[nodiscard]] std::string name() const override { return "faiss_cpu"; }
  [[nodiscard]] bool orders_ties_by_id() const override { return false; }

  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override {
    index_ = std::make_unique<faiss::IndexBinaryFlat>(bits);
    index_->add(n, codes);
  }

  void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override {
    index_->search(nq, queries, k, distances, ids);
  }

 private:
  std::unique_ptr<faiss::IndexBinaryFlat> index_;
};
#endif

struct EngineSpec {
  const char* name;
  std::function<std::unique_ptr<Engine>()> make;
};

const std::vector<EngineSpec>& engine_specs() {
  static const std::vector<EngineSpec> specs = [] {
    // Run order within a case: xmr_cpu and its peer FAISS first, back to back.
    std::vector<EngineSpec> s = {{"xmr_cpu", [] { return std::make_unique<XmrEngine>("xmr_cpu", xmr::Device::Cpu); }}};
#ifdef XMR_BENCH_HAVE_FAISS
    s.push_back({"faiss_cpu", [] { return std::make_unique<FaissEngine>(); }});
#endif
    if (xmr::gpu_count() > 0) {
      s.push_back({"xmr_gpu", [] { return std::make_unique<XmrEngine>("xmr_gpu", xmr::Device::Gpu); }});
    }
    return s;
  }();
  return specs;
}

bool has_engine(const std::string& name) {
  const auto& specs = engine_specs();
  return std::any_of(specs.begin(), specs.end(), [&](const EngineSpec& s) { return name == s.name; });
}

// ------------------------------------------------------------------------------------------
// Data: one database (and its engines) in memory at a time.

struct BuiltEngine {
  std::unique_ptr<Engine> engine;
  double build_s = 0.0;
};

/// The exact top-kMaxResults of the first kCheckQueries queries by (distance, id), and each
/// query's distance histogram over the whole database.
struct Reference {
  std::int64_t k = 0;                   // min(kMaxResults, n)
  std::vector<std::int32_t> distances;  // [kCheckQueries x k]
  std::vector<std::int64_t> ids;        // [kCheckQueries x k]
  std::vector<std::int64_t> hist;       // [kCheckQueries x (bits + 1)]
};

struct Dataset {
  std::int64_t n = 0;
  std::int64_t bits = 0;
  std::int64_t bytes = 0;
  std::vector<std::uint8_t> base;     // [n x bytes]
  std::vector<std::uint8_t> queries;  // [kMaxQueries x bytes]
  std::map<std::string, BuiltEngine> engines;
  std::unique_ptr<Reference> reference;  // made by the first check
};

std::unique_ptr<Dataset> g_data;

Dataset& dataset(std::int64_t n, std::int64_t bits) {
  if (g_data && g_data->n == n && g_data->bits == bits) return *g_data;
  g_data.reset();  // free the previous database and indexes before allocating the next
  auto ds = std::make_unique<Dataset>();
  ds->n = n;
  ds->bits = bits;
  ds->bytes = bits / 8;
  ds->base = random_codes(n, ds->bytes, kDatabaseSeed);
  ds->queries = random_codes(kMaxQueries, ds->bytes, kQuerySeed);
  g_data = std::move(ds);
  return *g_data;
}

/// Two passes over the database per query (a histogram gives the k-th distance; the second pass
/// collects the codes below it and the first ones at it), database-block-major so a block is
/// reused by all queries while it is in cache.
const Reference& reference(Dataset& ds) {
  if (ds.reference) return *ds.reference;
  auto ref = std::make_unique<Reference>();
  const std::int64_t nq = kCheckQueries;
  const std::int64_t bins = ds.bits + 1;
  const std::int64_t k = std::min(kMaxResults, ds.n);
  constexpr std::int64_t kBlock = 16384;
  ref->k = k;
  ref->hist.assign(sz(nq * bins), 0);
  const std::uint8_t* base = ds.base.data();
  const std::uint8_t* queries = ds.queries.data();
  const std::int64_t bytes = ds.bytes;
  const std::int64_t n = ds.n;
  std::int64_t* hist = ref->hist.data();
#pragma omp parallel
  for (std::int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const std::int64_t r1 = std::min(n, r0 + kBlock);
#pragma omp for schedule(static) nowait
    for (std::int64_t q = 0; q < nq; ++q) {
      for (std::int64_t r = r0; r < r1; ++r)
        ++hist[q * bins + reference_distance(queries + q * bytes, base + r * bytes, bytes)];
    }
  }
  // Per query: the cut distance and how many codes at it the top-k takes.
  std::vector<std::int32_t> cut(sz(nq));
  std::vector<std::int64_t> take_at_cut(sz(nq));
  for (std::int64_t q = 0; q < nq; ++q) {
    std::int64_t cum = 0;
    for (std::int64_t d = 0; d < bins; ++d) {
      const std::int64_t h = hist[q * bins + d];
      if (cum + h >= k) {
        cut[sz(q)] = static_cast<std::int32_t>(d);
        take_at_cut[sz(q)] = k - cum;
        break;
      }
      cum += h;
    }
  }
  std::vector<std::vector<std::pair<std::int32_t, std::int64_t>>> found(sz(nq));
  for (auto& f : found) f.reserve(sz(k));
  std::vector<std::int64_t> at_cut(sz(nq), 0);
#pragma omp parallel
  for (std::int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const std::int64_t r1 = std::min(n, r0 + kBlock);
#pragma omp for schedule(static) nowait
    for (std::int64_t q = 0; q < nq; ++q) {
      // Rows in ascending order: the first codes at the cut are the smallest ids.
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int32_t d = reference_distance(queries + q * bytes, base + r * bytes, bytes);
        if (d < cut[sz(q)] || (d == cut[sz(q)] && at_cut[sz(q)] < take_at_cut[sz(q)])) {
          at_cut[sz(q)] += d == cut[sz(q)] ? 1 : 0;
          found[sz(q)].emplace_back(d, r);
        }
      }
    }
  }
  ref->distances.resize(sz(nq * k));
  ref->ids.resize(sz(nq * k));
  for (std::int64_t q = 0; q < nq; ++q) {
    auto& f = found[sz(q)];
    std::sort(f.begin(), f.end());
    if (static_cast<std::int64_t>(f.size()) != k) throw std::logic_error("reference: wrong candidate count");
    for (std::int64_t j = 0; j < k; ++j) {
      ref->distances[sz(q * k + j)] = f[sz(j)].first;
      ref->ids[sz(q * k + j)] = f[sz(j)].second;
    }
  }
  ds.reference = std::move(ref);
  return *ds.reference;
}

std::unique_ptr<Engine> make_engine(const std::string& name) {
  const auto& specs = engine_specs();
  const auto spec = std::find_if(specs.begin(), specs.end(), [&](const EngineSpec& s) { return name == s.name; });
  if (spec == specs.end()) throw std::runtime_error("unknown engine " + name);
  return spec->make();
}

/// Throws (with the reason) when engine `name` cannot run here; checked before any data is made.
void require_available(const std::string& name) {
  if (const std::string why = make_engine(name)->unavailable(); !why.empty()) throw std::runtime_error(why);
}

/// The engine `name` with its index over `ds`, built on first use. Throws when the engine is
/// unknown or unavailable here (the message says why) or its build fails.
BuiltEngine& engine_for(Dataset& ds, const std::string& name) {
  if (auto it = ds.engines.find(name); it != ds.engines.end()) return it->second;
  BuiltEngine built{make_engine(name), 0.0};
  if (const std::string why = built.engine->unavailable(); !why.empty()) throw std::runtime_error(why);
  const auto t0 = Clock::now();
  built.engine->build(ds.base.data(), ds.n, ds.bits);
  // Warm-up search: thread pools, first-touch of scratch, the GPU upload of the index.
  std::vector<std::int64_t> ids(10);
  std::vector<std::int32_t> distances(10);
  built.engine->search(ds.queries.data(), 1, 10, ids.data(), distances.data());
  built.build_s = seconds_since(t0);
  return ds.engines.emplace(name, std::move(built)).first->second;
}

// ------------------------------------------------------------------------------------------
// Benchmarks.

struct SearchCase {
  std::string engine;
  std::int64_t n = 0;
  std::int64_t bits = 0;
  std::int64_t q = 0;
  std::int64_t k = 0;
};

void bench_search(benchmark::State& state, const SearchCase& c) {
  Dataset* ds = nullptr;
  BuiltEngine* be = nullptr;
  try {
    require_available(c.engine);
    ds = &dataset(c.n, c.bits);
    be = &engine_for(*ds, c.engine);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Engine& engine = *be->engine;
  std::vector<std::int64_t> ids(sz(c.q * c.k));
  std::vector<std::int32_t> distances(sz(c.q * c.k));
  const xmr::bench::TimedSearches timed = xmr::bench::timed_searches(
      state, engine.on_gpu(), [&] { engine.search(ds->queries.data(), c.q, c.k, ids.data(), distances.data()); },
      [&] { return engine.last_device_seconds(); }, {ids.data(), distances.data()});
  if (timed.warm_up_failed) return;
  const double wall_s = timed.wall_s;
  const long csw = timed.csw;
  using benchmark::Counter;
  const double n = static_cast<double>(c.n);
  const double q = static_cast<double>(c.q);
  const double k = static_cast<double>(c.k);
  const double code_bytes = static_cast<double>(c.bits / 8);
  const double words = q * n * static_cast<double>(words_per_code(c.bits));
  const double bytes = n * code_bytes + q * code_bytes + q * k * 12.0;
  state.counters["queries_per_s"] = Counter(q, Counter::kIsIterationInvariantRate);
  state.counters["gpairs_per_s"] = Counter(q * n * 1e-9, Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  double popcount_peak = 0.0;
  double mem_peak = 0.0;
  if (engine.on_gpu()) {
    popcount_peak = g_peaks.gpu_popcount_words;
    mem_peak = g_peaks.gpu_copy_bw;
    // Host-side latency per search (the reported time is the CUDA-event time, when measured).
    state.counters["wall_ms"] = Counter(wall_s * 1e3, Counter::kAvgIterations);
  } else {
    popcount_peak = g_peaks.cpu_popcount_words;
    mem_peak = g_peaks.cpu_mem_bw;
  }
  if (popcount_peak > 0.0) {
    state.counters["frac_popcount_peak"] = Counter(words / popcount_peak, Counter::kIsIterationInvariantRate);
  }
  if (mem_peak > 0.0) state.counters["frac_mem_bw"] = Counter(bytes / mem_peak, Counter::kIsIterationInvariantRate);
  xmr::bench::add_run_counters(state, be->build_s, csw);
}

struct CheckStats {
  std::int64_t problems = 0;
  std::int64_t boundary_tie_diffs = 0;  // queries whose last distance group differs (FAISS)
  std::string first;
  void fail(const std::string& what) {
    if (problems++ == 0) first = what;
  }
};

/// Validates one engine's [nq x k] results against the reference (see the file comment).
void check_one(const Dataset& ds, const Reference& ref, const Engine& engine, const std::vector<std::int64_t>& ids,
               const std::vector<std::int32_t>& distances, std::int64_t nq, std::int64_t k, CheckStats* st) {
  const std::string name = engine.name();
  const bool strict = engine.orders_ties_by_id();
  const std::int64_t bins = ds.bits + 1;
  for (std::int64_t qi = 0; qi < nq; ++qi) {
    const std::int64_t* got_id = ids.data() + qi * k;
    const std::int32_t* got_d = distances.data() + qi * k;
    const std::int64_t* ref_id = ref.ids.data() + qi * ref.k;
    const std::int32_t* ref_d = ref.distances.data() + qi * ref.k;
    auto where = [&](std::int64_t j) {
      std::ostringstream o;
      o << name << " query " << qi << " rank " << j << " (id " << got_id[j] << ", distance " << got_d[j]
        << "; reference id " << ref_id[j] << ", distance " << ref_d[j] << ")";
      return o.str();
    };
    bool ok = true;
    for (std::int64_t j = 0; j < k && ok; ++j) {
      if (got_d[j] != ref_d[j]) {
        st->fail(where(j) + ": distance differs");
        ok = false;
      } else if (got_id[j] < 0 || got_id[j] >= ds.n) {
        st->fail(where(j) + ": id out of range");
        ok = false;
      } else if (reference_distance(ds.queries.data() + qi * ds.bytes, ds.base.data() + got_id[j] * ds.bytes,
                                    ds.bytes) != got_d[j]) {
        st->fail(where(j) + ": reported distance is not the code's distance");
        ok = false;
      } else if (strict && got_id[j] != ref_id[j]) {
        st->fail(where(j) + ": id differs (ties must be by ascending id)");
        ok = false;
      }
    }
    if (!ok || strict) continue;
    // Ids as sets within each group of equal distance.
    for (std::int64_t a = 0; a < k;) {
      std::int64_t b = a;
      while (b < k && ref_d[b] == ref_d[a]) ++b;
      std::vector<std::int64_t> g(got_id + a, got_id + b);
      std::vector<std::int64_t> r(ref_id + a, ref_id + b);
      std::sort(g.begin(), g.end());
      std::sort(r.begin(), r.end());
      if (std::adjacent_find(g.begin(), g.end()) != g.end()) {
        st->fail(where(a) + ": duplicate ids at this distance");
        break;
      }
      if (g != r) {
        // The last group may be cut by k: any of the tied codes is a correct answer there (each
        // id's distance was verified above).
        const bool cut = b == k && b - a < ref.hist[sz(qi * bins + ref_d[a])];
        if (!cut) {
          st->fail(where(a) + ": ids at this distance differ from the reference");
          break;
        }
        ++st->boundary_tie_diffs;
      }
      a = b;
    }
  }
}

void bench_check(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t n, std::int64_t bits,
                 std::int64_t k) {
  Dataset* ds = nullptr;
  Engine* ea = nullptr;
  Engine* eb = nullptr;
  const Reference* ref = nullptr;
  try {
    require_available(a);
    require_available(b);
    ds = &dataset(n, bits);
    ea = engine_for(*ds, a).engine.get();
    eb = engine_for(*ds, b).engine.get();
    ref = &reference(*ds);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::int64_t nq = kCheckQueries;
  if (k > ref->k) {
    state.SkipWithError("k is larger than the reference's top-k");
    return;
  }
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<std::int32_t> dist_a(sz(nq * k));
  std::vector<std::int32_t> dist_b(sz(nq * k));
  bool searched = false;
  for (auto _ : state) {
    try {
      ea->search(ds->queries.data(), nq, k, ids_a.data(), dist_a.data());
      eb->search(ds->queries.data(), nq, k, ids_b.data(), dist_b.data());
      searched = true;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (!searched) return;
  CheckStats st;
  check_one(*ds, *ref, *ea, ids_a, dist_a, nq, k, &st);
  check_one(*ds, *ref, *eb, ids_b, dist_b, nq, k, &st);
  // Two engines that both promise xmr's contract must agree bit for bit.
  if (ea->orders_ties_by_id() && eb->orders_ties_by_id() && (ids_a != ids_b || dist_a != dist_b)) {
    st.fail(a + " and " + b + " results are not bit-identical");
  }
  state.counters["checked_results"] = static_cast<double>(nq * k);
  state.counters["boundary_tie_diffs"] = static_cast<double>(st.boundary_tie_diffs);
  state.counters["problems"] = static_cast<double>(st.problems);
  if (st.problems > 0) {
    const std::string msg =
        std::to_string(st.problems) + " mismatches between " + a + " and " + b + "; first: " + st.first;
    state.SkipWithError(msg.c_str());
  }
}

// ------------------------------------------------------------------------------------------
// Registration and context.

void register_all(const std::vector<std::int64_t>& sizes) {
  for (const std::int64_t n : sizes) {
    for (const std::int64_t bits : kCodeBits) {
      // Case-major order: every engine runs one case back to back, so the ratios compare
      // measurements taken close together (on a shared machine, load changes over minutes).
      for (const std::int64_t q : kNumQueries) {
        for (const std::int64_t k : kNumResults) {
          for (const EngineSpec& spec : engine_specs()) {
            const std::string engine = spec.name;
            const std::string name = "binary/" + engine + "/N:" + std::to_string(n) + "/bits:" + std::to_string(bits) +
                                     "/Q:" + std::to_string(q) + "/k:" + std::to_string(k);
            SearchCase c{engine, n, bits, q, k};
            auto* b = benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_search(st, c); });
            // At least 1 s per case (one iteration when a search takes longer).
            b->Unit(benchmark::kMillisecond)->MinTime(1.0);
#ifdef XMR_BENCH_HAVE_CUDA
            if (engine == "xmr_gpu") {
              b->UseManualTime();  // CUDA events on the engine's stream
            } else {
              b->UseRealTime();
            }
#else
            b->UseRealTime();
#endif
          }
        }
      }
      std::vector<std::pair<std::string, std::string>> pairs;
      if (has_engine("faiss_cpu")) pairs.emplace_back("xmr_cpu", "faiss_cpu");
      if (has_engine("xmr_gpu")) pairs.emplace_back("xmr_gpu", "xmr_cpu");
      for (const auto& pair : pairs) {
        // Named references, not a structured binding: clang 14 cannot capture bindings in lambdas.
        const std::string& a = pair.first;
        const std::string& b = pair.second;
        for (const std::int64_t k : kNumResults) {
          const std::string name = "check/" + a + "_vs_" + b + "/N:" + std::to_string(n) +
                                   "/bits:" + std::to_string(bits) + "/k:" + std::to_string(k);
          benchmark::RegisterBenchmark(name.c_str(),
                                       [a, b, n, bits, k](benchmark::State& st) { bench_check(st, a, b, n, bits, k); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->Iterations(1);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = xmr::bench::quick_mode();
  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{100000} : std::vector<std::int64_t>{1000000, 10000000};
  register_all(sizes);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  g_peaks.cpu_isa = best_isa();
  const bool listing = xmr::bench::has_arg(argc, argv, "--benchmark_list_tests");
  if (!listing) {
    g_peaks.cpu_popcount_words = measure_cpu_popcount_peak(g_peaks.cpu_isa);
    measure_cpu_bandwidth(&g_peaks.cpu_copy_bw, &g_peaks.cpu_read_bw);
    g_peaks.cpu_mem_bw = std::max(g_peaks.cpu_copy_bw, g_peaks.cpu_read_bw);
#ifdef XMR_BENCH_HAVE_CUDA
    if (xmr::gpu_count() > 0) {
      g_peaks.gpu_note = measure_gpu_peaks(&g_peaks);
    } else {
      g_peaks.gpu_note = "no GPU";
    }
#else
    g_peaks.gpu_note = "bench built without CUDA: GPU peaks not measured";
#endif
  }

  xmr::bench::add_common_context(sizes);
  benchmark::AddCustomContext("xmr_popcount_kernel", xmr::hamming_cpu_kernel());
  if (const char* forced = std::getenv("XMR_CPU_ISA"); forced != nullptr) {
    benchmark::AddCustomContext("xmr_cpu_isa_env", forced);
  }
  benchmark::AddCustomContext("data", "uniform random bits (splitmix64, fixed seeds); queries are not database rows");
  benchmark::AddCustomContext("peak_cpu_popcount_isa", isa_name(g_peaks.cpu_isa));
  benchmark::AddCustomContext("peak_cpu_popcount_gwords", fixed(g_peaks.cpu_popcount_words * 1e-9, 2));
  benchmark::AddCustomContext("peak_cpu_copy_gbs", fixed(g_peaks.cpu_copy_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_cpu_read_gbs", fixed(g_peaks.cpu_read_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_cpu_mem_gbs", fixed(g_peaks.cpu_mem_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_gpu_popcount_gwords_nominal", fixed(g_peaks.gpu_popcount_words * 1e-9, 1));
  benchmark::AddCustomContext("peak_gpu_copy_gbs", fixed(g_peaks.gpu_copy_bw * 1e-9, 2));
  if (!g_peaks.gpu_note.empty()) benchmark::AddCustomContext("peak_gpu_note", g_peaks.gpu_note);
  benchmark::AddCustomContext("peak_method",
                              "cpu popcount: all threads, 16 KiB L1-resident buffer each, xor+popcount+add of "
                              "64-bit words with the best ISA, best of >= 5 runs and 1 s; memory: max(1 GiB "
                              "parallel copy counting read+write, 1 GiB parallel vector read), huge pages, best of "
                              ">= 5 runs and 1 s. gpu: 1 GiB D2D copy (read+write); popcount nominal "
                              "(SMs x clock x 16 popc32/SM/clk / 2)");

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_data.reset();  // engines (and their GPU state) before the CUDA runtime's static teardown
  return 0;
}
