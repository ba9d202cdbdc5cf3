// bench_dense: exact dense top-k search, xmr against its peers, in one harness.
//
// Every engine sits behind one interface (Engine) and sees the same data, the same queries and
// the same thread count, so every ratio comes from one run of one binary:
//   xmr_cpu         DenseIndex, inner product, fp32 storage, Device::Cpu
//   xmr_cpu_fp16    the same with fp16 storage
//   xmr_cpu_cosine  the same data under Metric::Cosine (one Q/k case per N)
//   xmr_gpu         DenseIndex, inner product, fp32 storage, Device::Gpu
//   xmr_gpu_fp16    the same with fp16 storage
//   faiss_cpu       faiss::IndexFlatIP (when built with FAISS: XMR_BENCH_HAVE_FAISS)
//
// Data: D = 512, database and queries are xmr::synth::random_normal rows normalised to unit
// length, so inner product (xmr, FAISS) and cosine compute the same scores. One database lives
// in memory at a time: it is generated on first use for an N and freed, with every engine's
// index, when a benchmark asks for another N. Each engine builds its index once per N and
// reuses it for every Q and k. At N = 1e6 the database (2 GB fp32, 1 GB fp16) is far larger than
// any cache, so every search streams it from memory.
//
// Benchmarks are named `dense/<engine>/N:<n>/Q:<q>/k:<k>` (Google Benchmark appends
// `/min_time:.../real_time` or `/manual_time`). Counters:
//   queries_per_s   queries answered per second
//   gflops          2*Q*N*D flop per search, per second (1e9)
//   frac_gemm_peak  achieved flop/s over a GEMM peak measured once in this process
//   frac_mem_bw     (N*D*elem_bytes + Q*D*4 + Q*k*12) bytes per second over a measured peak
//                   memory bandwidth
//   build_s         seconds to build the index (add, plus one warm-up search)
//   invol_csw       involuntary context switches of the process per search (contention)
// CPU peaks: cblas_sgemm 2048^3 (OpenBLAS, all threads) and the larger of a 1 GiB parallel copy
// (read + write bytes) and a 1 GiB parallel read, each the best of >= 5 runs and >= 1-2 s. GPU peaks need CUDA, which
// xmr's public API does not expose: in a CUDA build (XMR_BENCH_HAVE_CUDA) the bench measures cublasSgemm, cublasGemmEx
// fp16 and a device-to-device copy itself, and times GPU searches with CUDA events on a stream it lends to xmr through
// Resources. Without them GPU engines report queries_per_s and gflops only.
//
// Correctness: `check/<a>_vs_<b>/N:<n>/k:<k>` runs both engines once on the first 100 queries
// and recomputes every returned item's score in double. Each engine's scores must match the
// recomputed ones within 1e-5 and, rank by rank, the two engines must return the same id
// unless the two items' exact scores are within 1e-5 (a near tie that rounding may order either
// way). A failure is reported with SkipWithError, never silently.
//
// XMR_BENCH_QUICK=1 restricts the sizes to N = 1e5 (smoke test).

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#endif

#ifdef XMR_BENCH_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#endif

namespace {

constexpr std::int64_t kDim = 512;
constexpr std::int64_t kNumQueries[] = {1, 100, 1000};
constexpr std::int64_t kNumResults[] = {10, 100};
constexpr std::int64_t kMaxQueries = 1000;
constexpr std::int64_t kCheckQueries = 100;
constexpr std::uint64_t kDatabaseSeed = 20240601;
constexpr std::uint64_t kQuerySeed = 20240602;
constexpr double kScoreTol = 1e-5;
constexpr std::int64_t kCosineQueries = 1000;  // the one cosine case per N
constexpr std::int64_t kCosineResults = 10;

using xmr::bench::Clock;
using xmr::bench::fixed;
using xmr::bench::seconds_since;
using xmr::bench::sz;

// ------------------------------------------------------------------------------------------
// Peaks, measured once per process.

struct Peaks {
  double cpu_gemm_flops = 0.0;   // cblas_sgemm, flop/s
  double cpu_copy_bw = 0.0;      // parallel copy, (read + write) bytes/s
  double cpu_read_bw = 0.0;      // parallel read, bytes/s
  double cpu_mem_bw = 0.0;       // max(copy, read): the denominator of frac_mem_bw
  double gpu_sgemm_flops = 0.0;  // cublasSgemm fp32, flop/s (0: not measured)
  double gpu_hgemm_flops = 0.0;  // cublasGemmEx fp16 inputs, fp32 accumulate, flop/s
  double gpu_copy_bw = 0.0;      // device-to-device copy, (read + write) bytes/s
  std::string gpu_note;          // why GPU peaks are missing
};

Peaks g_peaks;

double measure_cpu_gemm_flops() {
  constexpr std::int64_t kN = 2048;
  constexpr int kRepeats = 5;
  constexpr double kMinSeconds = 2.0;
  std::vector<float> a = xmr::synth::random_normal(kN, kN, 7);
  std::vector<float> b = xmr::synth::random_normal(kN, kN, 8);
  std::vector<float> c(sz(kN * kN));
  const auto n = static_cast<blasint>(kN);
  auto once = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  };
  once();  // warm-up: thread pool, page faults
  // Best of at least kRepeats calls and kMinSeconds: a peak is a property of the machine, so
  // the fastest run is the estimate least disturbed by other processes.
  double best = 1e30;
  const auto start = Clock::now();
  for (int r = 0; r < kRepeats || seconds_since(start) < kMinSeconds; ++r) {
    const auto t0 = Clock::now();
    once();
    best = std::min(best, seconds_since(t0));
  }
  benchmark::DoNotOptimize(c.data());
  return 2.0 * static_cast<double>(kN) * static_cast<double>(kN) * static_cast<double>(kN) / best;
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
    // Two normal floats per word (1.0f with varying low mantissa bits): denormals would slow the
    // float read probes down with microcode assists.
    src[sz(i)] = 0x3F8000003F800000ull | (static_cast<std::uint64_t>(i) & 0xFFFFull);
    dst[sz(i)] = 0;
  }
  auto copy_once = [&] {
#pragma omp parallel
    {
      const std::int64_t nt = omp_get_num_threads();
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t begin = kWords * t / nt;
      const std::int64_t end = kWords * (t + 1) / nt;
      std::memcpy(dst.get() + begin, src.get() + begin, sz(end - begin) * 8);
    }
  };
  // The read probe streams the buffer through OpenBLAS's sasum (vectorised for this CPU at run
  // time), one slice per thread: a plain running sum is latency-bound below the bandwidth of a
  // core and would understate the peak (a search then shows frac_mem_bw > 1).
  auto read_once = [&] {
    const float* f = reinterpret_cast<const float*>(src.get());
    const std::int64_t floats = kWords * 2;
    float sum = 0.0f;
#pragma omp parallel reduction(+ : sum)
    {
      const std::int64_t nt = omp_get_num_threads();
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t begin = floats * t / nt;
      const std::int64_t end = floats * (t + 1) / nt;
      sum += cblas_sasum(static_cast<blasint>(end - begin), f + begin, 1);
    }
    benchmark::DoNotOptimize(sum);
  };
  // A second read probe: sgemv over the buffer as a [rows x 512] matrix, one slice per thread
  // (what xmr's single-query path does); the read peak is the better of the two.
  std::vector<float> gemv_x(512, 1.0f);
  std::vector<float> gemv_y(sz(kWords * 2 / 512));
  auto gemv_once = [&] {
    const float* f = reinterpret_cast<const float*>(src.get());
    const std::int64_t rows = kWords * 2 / 512;
#pragma omp parallel
    {
      const std::int64_t nt = omp_get_num_threads();
      const std::int64_t t = omp_get_thread_num();
      const std::int64_t begin = rows * t / nt;
      const std::int64_t end = rows * (t + 1) / nt;
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(end - begin), 512, 1.0f, f + begin * 512, 512,
                  gemv_x.data(), 1, 0.0f, gemv_y.data() + begin, 1);
    }
    benchmark::DoNotOptimize(gemv_y.data());
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
    t0 = Clock::now();
    gemv_once();
    best_read = std::min(best_read, seconds_since(t0));
  }
  const double bytes = static_cast<double>(kWords) * 8.0;
  *copy_bw = 2.0 * bytes / best_copy;
  *read_bw = bytes / best_read;
}

#ifdef XMR_BENCH_HAVE_CUDA

using xmr::bench::cuda_error;

// Device-to-device copy bandwidth and cuBLAS GEMM peaks on device 0. Returns a note (empty on
// success); leaves a peak at 0 when it could not be measured.
std::string measure_gpu_peaks(Peaks* p) {
  constexpr std::size_t kCopyBytes = std::size_t{1} << 30;
  constexpr int kGemmN = 8192;
  constexpr int kRepeats = 5;
  cudaError_t e = cudaSetDevice(0);
  if (e != cudaSuccess) return cuda_error("cudaSetDevice", e);
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  void* a = nullptr;
  void* b = nullptr;
  void* c = nullptr;
  cublasHandle_t handle = nullptr;
  std::string note;
  auto timed = [&](const std::function<void()>& fn) {
    return xmr::bench::best_event_seconds(stream, start, stop, kRepeats, fn);
  };
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
    // GEMM kGemmN^3 on normal data (not zeros: power, and so clocks, depend on the data).
    const std::size_t elems = static_cast<std::size_t>(kGemmN) * static_cast<std::size_t>(kGemmN);
    if ((e = cudaMalloc(&c, elems * 4)) != cudaSuccess) {
      note = cuda_error("cudaMalloc", e);
      break;
    }
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

// ------------------------------------------------------------------------------------------
// Engines.

/// One search engine under test. The harness owns the data; an engine builds its index from it
/// once and answers batches of queries into caller buffers ([nq x k], best first).
class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  virtual ~Engine() = default;

  [[nodiscard]] virtual std::string name() const = 0;
  virtual void build(const float* x, std::int64_t n, std::int64_t d) = 0;
  virtual void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) = 0;

  /// Why the engine cannot run on this machine; empty when it can.
  [[nodiscard]] virtual std::string unavailable() const { return {}; }
  [[nodiscard]] virtual bool on_gpu() const { return false; }
  /// Bytes per stored database element (for the bandwidth counter).
  [[nodiscard]] virtual std::int64_t element_bytes() const { return 4; }
  /// True when the engine computes on fp16-rounded vectors (the check rounds likewise).
  [[nodiscard]] virtual bool rounds_to_half() const { return false; }
  /// Device time of the last search (CUDA events), seconds; negative when not measured.
  [[nodiscard]] virtual double last_device_seconds() const { return -1.0; }
};

class XmrEngine final : public Engine {
 public:
  XmrEngine(std::string name, xmr::Device device, xmr::DType storage, xmr::Metric metric)
      : name_(std::move(name)), dev_(device), storage_(storage), metric_(metric) {}

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] bool on_gpu() const override { return dev_.on_gpu(); }
  [[nodiscard]] std::int64_t element_bytes() const override { return storage_ == xmr::DType::F16 ? 2 : 4; }
  [[nodiscard]] bool rounds_to_half() const override { return storage_ == xmr::DType::F16; }
  [[nodiscard]] double last_device_seconds() const override { return dev_.last_device_seconds(); }
  [[nodiscard]] std::string unavailable() const override { return dev_.unavailable(); }

  void build(const float* x, std::int64_t n, std::int64_t d) override {
    dim_ = d;
    dev_.prepare();
    index_ = std::make_unique<xmr::DenseIndex>(
        xmr::DenseIndexOptions{.dim = d, .metric = metric_, .storage = storage_, .device = dev_.device()});
    index_->add(xmr::MatrixView<const float>(x, n, d));
  }

  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override {
    dev_.timed([&] {
      index_->search_into(xmr::MatrixView<const float>(q, nq, dim_), k, xmr::MatrixView<std::int64_t>(ids, nq, k),
                          xmr::MatrixView<float>(scores, nq, k), dev_.options());
    });
  }

 private:
  std::string name_;
  xmr::bench::XmrBenchDevice dev_;  // outlives index_, which may use its Resources
  xmr::DType storage_;
  xmr::Metric metric_;
  std::int64_t dim_ = 0;
  std::unique_ptr<xmr::DenseIndex> index_;
};

#ifdef XMR_BENCH_HAVE_FAISS
class FaissEngine final : public Engine {
 public:
  [[nodiscard]] std::string name() const override { return "faiss_cpu"; }

  void build(const float* x, std::int64_t n, std::int64_t d) override {
    index_ = std::make_unique<faiss::IndexFlatIP>(d);
    index_->add(n, x);
  }

  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override {
    index_->search(nq, q, k, scores, ids);
  }

 private:
  std::unique_ptr<faiss::IndexFlatIP> index_;
};
#endif

struct EngineSpec {
  const char* name;
  std::function<std::unique_ptr<Engine>()> make;
};

const std::vector<EngineSpec>& engine_specs() {
  using xmr::Device;
  using xmr::DType;
  using xmr::Metric;
  static const std::vector<EngineSpec> specs = [] {
    auto xmr_engine = [](const char* name, Device dev, DType type, Metric metric) {
      return EngineSpec{name, [=] { return std::make_unique<XmrEngine>(name, dev, type, metric); }};
    };
    // Run order within a case: xmr_cpu and its peer FAISS first, back to back.
    std::vector<EngineSpec> s = {xmr_engine("xmr_cpu", Device::Cpu, DType::F32, Metric::InnerProduct)};
#ifdef XMR_BENCH_HAVE_FAISS
    s.push_back({"faiss_cpu", [] { return std::make_unique<FaissEngine>(); }});
#endif
    s.push_back(xmr_engine("xmr_cpu_fp16", Device::Cpu, DType::F16, Metric::InnerProduct));
    s.push_back(xmr_engine("xmr_cpu_cosine", Device::Cpu, DType::F32, Metric::Cosine));
    s.push_back(xmr_engine("xmr_gpu", Device::Gpu, DType::F32, Metric::InnerProduct));
    s.push_back(xmr_engine("xmr_gpu_fp16", Device::Gpu, DType::F16, Metric::InnerProduct));
    return s;
  }();
  return specs;
}

// ------------------------------------------------------------------------------------------
// Data: one database (and its engines) in memory at a time.

struct BuiltEngine {
  std::unique_ptr<Engine> engine;
  double build_s = 0.0;
};

struct Dataset {
  std::int64_t n = 0;
  std::int64_t d = 0;
  std::vector<float> base;     // [n x d], unit rows
  std::vector<float> queries;  // [kMaxQueries x d], unit rows
  std::map<std::string, BuiltEngine> engines;
};

std::unique_ptr<Dataset> g_data;

void normalise_rows(std::vector<float>& v, std::int64_t rows, std::int64_t d) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = v.data() + r * d;
    double ss = 0.0;
    for (std::int64_t j = 0; j < d; ++j) ss += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    const auto inv = static_cast<float>(1.0 / std::sqrt(ss));
    for (std::int64_t j = 0; j < d; ++j) row[j] *= inv;
  }
}

Dataset& dataset(std::int64_t n, std::int64_t d) {
  if (g_data && g_data->n == n && g_data->d == d) return *g_data;
  g_data.reset();  // free the previous database and indexes before allocating the next
  auto ds = std::make_unique<Dataset>();
  ds->n = n;
  ds->d = d;
  ds->base = xmr::synth::random_normal(n, d, kDatabaseSeed);
  ds->queries = xmr::synth::random_normal(kMaxQueries, d, kQuerySeed);
  normalise_rows(ds->base, n, d);
  normalise_rows(ds->queries, kMaxQueries, d);
  g_data = std::move(ds);
  return *g_data;
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
  built.engine->build(ds.base.data(), ds.n, ds.d);
  // Warm-up search: thread pools, first-touch of scratch, the GPU upload of the index.
  std::vector<std::int64_t> ids(10);
  std::vector<float> scores(10);
  built.engine->search(ds.queries.data(), 1, 10, ids.data(), scores.data());
  built.build_s = seconds_since(t0);
  return ds.engines.emplace(name, std::move(built)).first->second;
}

// ------------------------------------------------------------------------------------------
// Benchmarks.

struct SearchCase {
  std::string engine;
  std::int64_t n = 0;
  std::int64_t q = 0;
  std::int64_t k = 0;
};

void bench_search(benchmark::State& state, const SearchCase& c) {
  Dataset* ds = nullptr;
  BuiltEngine* be = nullptr;
  try {
    require_available(c.engine);
    ds = &dataset(c.n, kDim);
    be = &engine_for(*ds, c.engine);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Engine& engine = *be->engine;
  std::vector<std::int64_t> ids(sz(c.q * c.k));
  std::vector<float> scores(sz(c.q * c.k));
  const xmr::bench::TimedSearches timed = xmr::bench::timed_searches(
      state, engine.on_gpu(), [&] { engine.search(ds->queries.data(), c.q, c.k, ids.data(), scores.data()); },
      [&] { return engine.last_device_seconds(); }, {ids.data(), scores.data()});
  if (timed.warm_up_failed) return;
  const double wall_s = timed.wall_s;
  const long csw = timed.csw;
  using benchmark::Counter;
  const double n = static_cast<double>(c.n);
  const double q = static_cast<double>(c.q);
  const double k = static_cast<double>(c.k);
  const double d = static_cast<double>(kDim);
  const double flop = 2.0 * q * n * d;
  const double bytes = n * d * static_cast<double>(engine.element_bytes()) + q * d * 4.0 + q * k * 12.0;
  state.counters["queries_per_s"] = Counter(q, Counter::kIsIterationInvariantRate);
  state.counters["gflops"] = Counter(flop * 1e-9, Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  double gemm_peak = 0.0;
  double mem_peak = 0.0;
  if (engine.on_gpu()) {
    gemm_peak = engine.element_bytes() == 2 ? g_peaks.gpu_hgemm_flops : g_peaks.gpu_sgemm_flops;
    mem_peak = g_peaks.gpu_copy_bw;
    // Host-side latency per search (the reported time is the CUDA-event time, when measured).
    state.counters["wall_ms"] = Counter(wall_s * 1e3, Counter::kAvgIterations);
  } else {
    gemm_peak = g_peaks.cpu_gemm_flops;
    mem_peak = g_peaks.cpu_mem_bw;
  }
  if (gemm_peak > 0.0) state.counters["frac_gemm_peak"] = Counter(flop / gemm_peak, Counter::kIsIterationInvariantRate);
  if (mem_peak > 0.0) state.counters["frac_mem_bw"] = Counter(bytes / mem_peak, Counter::kIsIterationInvariantRate);
  xmr::bench::add_run_counters(state, be->build_s, csw);
}

/// Exact score of database row `x` for query `q` in double, optionally after rounding both to
/// binary16 as an fp16-storage engine does.
double exact_score(const float* x, const float* q, std::int64_t d, bool half) {
  double s = 0.0;
  for (std::int64_t j = 0; j < d; ++j) {
    float a = x[j];
    float b = q[j];
    if (half) {
      a = xmr::to_float(xmr::to_half(a));
      b = xmr::to_float(xmr::to_half(b));
    }
    s += static_cast<double>(a) * static_cast<double>(b);
  }
  return s;
}

struct CheckStats {
  std::int64_t problems = 0;
  std::int64_t tie_swaps = 0;  // ranks where ids differ between near-tied items
  double max_score_err = 0.0;  // max |reported - exact| over both engines
  std::string first;
  void fail(const std::string& what) {
    if (problems++ == 0) first = what;
  }
};

/// Validates one engine's results on its own: ids in range and distinct per query, scores
/// non-increasing and equal to the exact scores within kScoreTol.
void check_one(const Dataset& ds, const std::string& name, const std::vector<std::int64_t>& ids,
               const std::vector<float>& scores, std::int64_t nq, std::int64_t k, bool half, std::vector<double>* exact,
               CheckStats* st) {
  exact->assign(ids.size(), 0.0);
  for (std::int64_t qi = 0; qi < nq; ++qi) {
    std::vector<std::int64_t> seen;
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = sz(qi * k + j);
      const std::int64_t id = ids[at];
      std::ostringstream where;
      where << name << " query " << qi << " rank " << j << " id " << id;
      if (id < 0 || id >= ds.n) {
        st->fail(where.str() + ": id out of range");
        continue;
      }
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) st->fail(where.str() + ": duplicate id");
      seen.push_back(id);
      (*exact)[at] = exact_score(ds.base.data() + id * ds.d, ds.queries.data() + qi * ds.d, ds.d, half);
      const double err = std::abs(static_cast<double>(scores[at]) - (*exact)[at]);
      st->max_score_err = std::max(st->max_score_err, err);
      if (!(err <= kScoreTol)) {
        where << ": score " << scores[at] << " but exact " << (*exact)[at];
        st->fail(where.str());
      }
      if (j > 0 && scores[at] > scores[at - 1]) st->fail(where.str() + ": scores not sorted");
    }
  }
}

void bench_check(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t n, std::int64_t k) {
  Dataset* ds = nullptr;
  Engine* ea = nullptr;
  Engine* eb = nullptr;
  try {
    require_available(a);
    require_available(b);
    ds = &dataset(n, kDim);
    ea = engine_for(*ds, a).engine.get();
    eb = engine_for(*ds, b).engine.get();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::int64_t nq = kCheckQueries;
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<float> scores_a(sz(nq * k));
  std::vector<float> scores_b(sz(nq * k));
  bool searched = false;
  for (auto _ : state) {
    try {
      ea->search(ds->queries.data(), nq, k, ids_a.data(), scores_a.data());
      eb->search(ds->queries.data(), nq, k, ids_b.data(), scores_b.data());
      searched = true;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (!searched) return;
  CheckStats st;
  std::vector<double> exact_a;
  std::vector<double> exact_b;
  check_one(*ds, a, ids_a, scores_a, nq, k, ea->rounds_to_half(), &exact_a, &st);
  check_one(*ds, b, ids_b, scores_b, nq, k, eb->rounds_to_half(), &exact_b, &st);
  for (std::size_t at = 0; at < ids_a.size(); ++at) {
    if (ids_a[at] == ids_b[at]) continue;
    if (std::abs(exact_a[at] - exact_b[at]) <= kScoreTol) {
      ++st.tie_swaps;
      continue;
    }
    std::ostringstream msg;
    msg << "query " << static_cast<std::int64_t>(at) / k << " rank " << static_cast<std::int64_t>(at) % k << ": " << a
        << " id " << ids_a[at] << " (exact " << exact_a[at] << ") vs " << b << " id " << ids_b[at] << " (exact "
        << exact_b[at] << ")";
    st.fail(msg.str());
  }
  state.counters["checked_results"] = static_cast<double>(nq * k);
  state.counters["tie_swaps"] = static_cast<double>(st.tie_swaps);
  state.counters["max_score_err"] = st.max_score_err;
  state.counters["problems"] = static_cast<double>(st.problems);
  if (st.problems > 0) {
    const std::string msg =
        std::to_string(st.problems) + " mismatches between " + a + " and " + b + "; first: " + st.first;
    state.SkipWithError(msg.c_str());
  }
}

// ------------------------------------------------------------------------------------------
// Registration and context.

std::string format_n(std::int64_t v) {
  return std::to_string(v);
}

void register_all(const std::vector<std::int64_t>& sizes) {
  for (const std::int64_t n : sizes) {
    // Enough iterations to be stable, few enough that the 2-core CPU suite stays bounded: an
    // iteration at N = 1e6, Q = 1000 takes seconds, so MinTime gives one iteration there.
    const double min_time = n >= 1000000 ? 1.0 : 0.5;
    // Case-major order: every engine runs one case back to back, so the ratios compare
    // measurements taken close together (on a shared machine, load changes over minutes).
    for (const std::int64_t q : kNumQueries) {
      for (const std::int64_t k : kNumResults) {
        for (const EngineSpec& spec : engine_specs()) {
          const std::string engine = spec.name;
          const bool cosine = engine == "xmr_cpu_cosine";
          const bool gpu = engine.find("gpu") != std::string::npos;
          if (cosine && (q != kCosineQueries || k != kCosineResults)) continue;
          const std::string name = "dense/" + engine + "/N:" + format_n(n) + "/Q:" + format_n(q) + "/k:" + format_n(k);
          SearchCase c{engine, n, q, k};
          auto* b = benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_search(st, c); });
          b->Unit(benchmark::kMillisecond)->MinTime(min_time);
#ifdef XMR_BENCH_HAVE_CUDA
          if (gpu) {
            b->UseManualTime();  // CUDA events on the engine's stream
          } else {
            b->UseRealTime();
          }
#else
          static_cast<void>(gpu);
          b->UseRealTime();
#endif
        }
      }
    }
    std::vector<std::pair<std::string, std::string>> pairs = {{"xmr_gpu", "xmr_cpu"}, {"xmr_gpu_fp16", "xmr_cpu_fp16"}};
#ifdef XMR_BENCH_HAVE_FAISS
    pairs.insert(pairs.begin(), {"xmr_cpu", "faiss_cpu"});
#endif
    for (const auto& pair : pairs) {
      // Named references, not a structured binding: clang 14 cannot capture bindings in lambdas.
      const std::string& a = pair.first;
      const std::string& b = pair.second;
      for (const std::int64_t k : kNumResults) {
        const std::string name = "check/" + a + "_vs_" + b + "/N:" + format_n(n) + "/k:" + format_n(k);
        benchmark::RegisterBenchmark(name.c_str(), [a, b, n, k](benchmark::State& st) { bench_check(st, a, b, n, k); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(1);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = xmr::bench::quick_mode();
  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{100000} : std::vector<std::int64_t>{100000, 1000000};
  register_all(sizes);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const bool listing = xmr::bench::has_arg(argc, argv, "--benchmark_list_tests");
  if (!listing) {
    g_peaks.cpu_gemm_flops = measure_cpu_gemm_flops();
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
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("dim", std::to_string(kDim));
  benchmark::AddCustomContext("largest_db_bytes_fp32",
                              std::to_string(*std::max_element(sizes.begin(), sizes.end()) * kDim * 4));
  benchmark::AddCustomContext("data", "random_normal rows normalised to unit length; metric inner product");
  benchmark::AddCustomContext("peak_cpu_sgemm_gflops", fixed(g_peaks.cpu_gemm_flops * 1e-9, 1));
  benchmark::AddCustomContext("peak_cpu_copy_gbs", fixed(g_peaks.cpu_copy_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_cpu_read_gbs", fixed(g_peaks.cpu_read_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_cpu_mem_gbs", fixed(g_peaks.cpu_mem_bw * 1e-9, 2));
  benchmark::AddCustomContext("peak_gpu_sgemm_gflops", fixed(g_peaks.gpu_sgemm_flops * 1e-9, 1));
  benchmark::AddCustomContext("peak_gpu_hgemm_gflops", fixed(g_peaks.gpu_hgemm_flops * 1e-9, 1));
  benchmark::AddCustomContext("peak_gpu_copy_gbs", fixed(g_peaks.gpu_copy_bw * 1e-9, 2));
  if (!g_peaks.gpu_note.empty()) benchmark::AddCustomContext("peak_gpu_note", g_peaks.gpu_note);
  benchmark::AddCustomContext("peak_method",
                              "cpu: cblas_sgemm 2048^3 best of >= 5 runs and 2 s; memory max(1 GiB "
                              "parallel copy counting read+write, 1 GiB parallel read) best of >= 5 "
                              "runs and 1 s. gpu: cublasSgemm "
                              "and cublasGemmEx fp16->fp32 8192^3, 1 GiB D2D copy (read+write)");

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_data.reset();  // engines (and their GPU state) before the CUDA runtime's static teardown
  return 0;
}
