// bench_common: the pieces every benchmark shares (timing, process counters, the size list from
// XMR_BENCH_SIZES, the huge-page buffers of the memory-bandwidth probes, machine context,
// CUDA-event timing). peaks.h measures the machine's limits; engines.h holds the engines under
// test. Each benchmark compiles bench_common.cpp itself, so XMR_BENCH_HAVE_CUDA /
// XMR_BENCH_HAVE_FAISS follow that benchmark's build.

#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace xmr::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline std::size_t sz(std::int64_t v) {
  return static_cast<std::size_t>(v);
}

/// Involuntary context switches of this process so far (all threads).
long involuntary_context_switches();

/// True when XMR_BENCH_QUICK is set to something other than "" or "0" (smoke-test sizes).
bool quick_mode();

/// True when some argument (after argv[0]) starts with `prefix`.
bool has_arg(int argc, char** argv, std::string_view prefix);

/// The database sizes (N list) of a benchmark: XMR_BENCH_SIZES when it is set and not empty (a
/// comma-separated list of positive integers, e.g. "100000,1000000,10000000"), else `defaults`
/// (which the caller picks, e.g. by quick_mode(): an explicit XMR_BENCH_SIZES wins over
/// XMR_BENCH_QUICK). An invalid value prints a message naming the variable and the value to
/// stderr and exits with status 2 (this is a benchmark's main, not a library).
std::vector<std::int64_t> sizes_from_env(std::vector<std::int64_t> defaults);

/// XMR_BENCH_DATA_DIR: the folder a benchmark writes its generated inputs to, as .npy files, so a
/// baseline script (bench/torch_*.py --data DIR) runs on the same bytes; "" when unset.
std::string data_dir();

/// When data_dir() is set, writes the row-major matrix `data` [rows x cols] to
/// data_dir()/<name>.npy (float32 or uint8; atomically, replacing an older file; the CLI's .npy
/// writer), and returns true; else does nothing and returns false. Throws std::runtime_error naming
/// the file when it cannot be written, or when this build has no .npy writer (XMR_BUILD_CLI=OFF).
bool export_matrix(const std::string& name, const float* data, std::int64_t rows, std::int64_t cols);
bool export_matrix(const std::string& name, const std::uint8_t* data, std::int64_t rows, std::int64_t cols);

/// One step of splitmix64: a fast, well-mixed 64-bit stream from a 64-bit state.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Hardware popcnt for scalar loops where the target has one (the library is built for the
// x86-64 baseline, whose __builtin_popcountll is a libgcc call).
#if defined(__x86_64__)
#define XMR_BENCH_TARGET_POPCNT __attribute__((target("popcnt")))
#else
#define XMR_BENCH_TARGET_POPCNT
#endif

/// A buffer of 64-bit words from std::aligned_alloc, released with std::free.
using HugeWords = std::unique_ptr<std::uint64_t[], decltype(&std::free)>;

/// `words` 64-bit words on 2 MiB-aligned memory advised to use huge pages, like xmr's index
/// storage: with 4 KiB pages a bandwidth probe measures TLB misses and understates the bandwidth
/// a search reaches. Throws std::bad_alloc.
HugeWords huge_words(std::int64_t words);

/// `v` with `digits` digits after the point.
std::string fixed(double v, int digits);

/// The context keys every benchmark reports: cpu_model, hardware_threads, omp_max_threads,
/// llc_bytes, xmr_version, xmr_devices, xmr_built_with_cuda, faiss_version and sizes_n
/// (`sizes`, comma-separated).
void add_common_context(const std::vector<std::int64_t>& sizes);

/// The counters every search benchmark reports: build_s, omp_threads and invol_csw (`csw`
/// involuntary context switches over the run, per iteration).
void add_run_counters(benchmark::State& state, double build_s, long csw);

/// Sets how benchmark `b` (a search case) is timed: GPU engines in a CUDA build by CUDA events on
/// the engine's stream (manual time), everything else by host wall clock (real time).
void use_search_time(benchmark::internal::Benchmark* b, bool gpu);

/// What timed_searches measured.
struct TimedSearches {
  bool warm_up_failed = false;   ///< the untimed search threw: nothing was timed
  double wall_s = 0.0;           ///< host wall time summed over the timed searches
  long csw = 0;                  ///< involuntary context switches during them
  std::vector<double> device_s;  ///< each iteration's device seconds (device-timed searches only)
  /// Median of device_s; 0 when the searches were not device-timed.
  [[nodiscard]] double median_device_s() const {
    if (device_s.empty()) return 0.0;
    std::vector<double> v = device_s;
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
  }
};

/// A counter of `per_search` units (queries, pairs, flop, bytes over a peak ...) per second of
/// search: over the median device time when the searches were device-timed (CUDA events), else
/// over Google Benchmark's mean iteration time (a rate counter). The reported real_time stays
/// Google Benchmark's mean either way.
inline benchmark::Counter per_second(double per_search, const TimedSearches& t) {
  const double median = t.median_device_s();
  if (median > 0.0) return benchmark::Counter(per_search / median);
  return benchmark::Counter(per_search, benchmark::Counter::kIsIterationInvariantRate);
}

/// The timing loop of a search benchmark. When `warm_up`, one untimed `search()` first (per-shape
/// workspace and library warm-up stay out of the timing). Then one `search()` per iteration;
/// when `device_seconds()` is >= 0 after it, that is the iteration's (manual) time, also kept in
/// TimedSearches::device_s (per_second() rates use their median). `outputs` are kept alive
/// against the optimiser. A thrown exception skips the case with its message.
template <class Search, class DeviceSeconds>
TimedSearches timed_searches(benchmark::State& state, bool warm_up, Search&& search, DeviceSeconds&& device_seconds,
                             std::initializer_list<const void*> outputs) {
  TimedSearches t;
  if (warm_up) {
    try {
      search();
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      t.warm_up_failed = true;
      return t;
    }
  }
  const long csw_before = involuntary_context_switches();
  for (auto _ : state) {
    const auto t0 = Clock::now();
    try {
      search();
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    t.wall_s += seconds_since(t0);
    if (const double dev = device_seconds(); dev >= 0.0) {
      state.SetIterationTime(dev);
      t.device_s.push_back(dev);
    }
    for (const void* p : outputs) benchmark::DoNotOptimize(p);
    benchmark::ClobberMemory();
  }
  t.csw = involuntary_context_switches() - csw_before;
  return t;
}

#ifdef XMR_BENCH_HAVE_CUDA

std::string cuda_error(const char* what, cudaError_t e);

/// Throws std::runtime_error naming `what` when `e` is an error.
void cuda_expect(cudaError_t e, const char* what);

/// Seconds of the fastest of `repeats` runs of `fn` on `stream` (CUDA events `start`/`stop`),
/// after one warm-up run.
double best_event_seconds(cudaStream_t stream, cudaEvent_t start, cudaEvent_t stop, int repeats,
                          const std::function<void()>& fn);

/// A non-blocking stream on device 0 that a GPU engine lends to xmr (Resources borrows it), and
/// the two events that time each search on it.
class CudaEventTimer {
 public:
  CudaEventTimer() = default;
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;
  ~CudaEventTimer();

  /// Selects device 0 and creates the stream and events. Throws on a CUDA error.
  void create();
  [[nodiscard]] cudaStream_t stream() const { return stream_; }
  /// Records the start event on the stream. Throws on a CUDA error.
  void start();
  /// Records the stop event after all work on the stream, waits for it, and returns the seconds
  /// since start(). Throws on a CUDA error.
  double stop();

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

#endif  // XMR_BENCH_HAVE_CUDA

/// The device side of an xmr engine in a benchmark: for a GPU engine, a Resources that borrows
/// the stream of a CUDA-event timer (in a CUDA build), so each search's device time is measured
/// on the stream it runs on. Declare it before the engine's index: the index goes first, then
/// the Resources, then the stream they borrow.
class XmrBenchDevice {
 public:
  explicit XmrBenchDevice(xmr::Device device) : device_(device) {}

  [[nodiscard]] bool on_gpu() const { return device_ == xmr::Device::Gpu; }
  [[nodiscard]] xmr::Device device() const { return device_; }
  /// Why the engine cannot run here ("" when it can).
  [[nodiscard]] std::string unavailable() const;
  /// Before building the index: on a GPU, the timer's stream and a Resources borrowing it.
  void prepare();
  [[nodiscard]] xmr::SearchOptions options() const { return {.device = device_, .resources = resources_.get()}; }
  /// Runs one (synchronous) search; on a GPU with CUDA, records its device time.
  template <class F>
  void timed(F&& search) {
#ifdef XMR_BENCH_HAVE_CUDA
    if (on_gpu()) timer_.start();
#endif
    search();
#ifdef XMR_BENCH_HAVE_CUDA
    // The search is synchronous; the stop event follows all of its work on the stream.
    if (on_gpu()) last_device_s_ = timer_.stop();
#endif
  }
  /// Device time of the last search, seconds; negative when not measured.
  [[nodiscard]] double last_device_seconds() const {
    return last_device_s_;
  }

 private:
#ifdef XMR_BENCH_HAVE_CUDA
  CudaEventTimer timer_;  // outlives resources_, which borrows its stream
#endif
  xmr::Device device_;
  double last_device_s_ = -1.0;
  std::unique_ptr<xmr::Resources> resources_;
};

}  // namespace xmr::bench
