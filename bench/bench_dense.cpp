// bench_dense: exact dense top-k search, xmr against its peers, in one harness.
//
// Every engine sits behind one interface (DenseEngine, engines.h) and sees the same data, the same queries and
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
// The peaks are measured once per process by peaks.h (CPU: cblas_sgemm 2048^3 and the larger of
// a 1 GiB parallel copy, read + write bytes, and the best 1 GiB parallel read; GPU, in a CUDA
// build (XMR_BENCH_HAVE_CUDA): cublasSgemm, cublasGemmEx fp16 and a device-to-device copy). GPU
// engines use the GPU peaks (fp16 storage: the fp16 GEMM peak). In a CUDA build GPU searches are
// timed with CUDA events on a stream the bench lends to xmr through Resources, and the rates are
// over the median of the searches' device times (bench_common.h: per_second); CPU rates are over
// the mean wall time. Grid: Q in {1, 100, 1000}, k in {10, 100} (GPU engines also k = 1000).
//
// Correctness: `check/<a>_vs_<b>/N:<n>/k:<k>` runs both engines once on the first 100 queries
// and recomputes every returned item's score in double. Each engine's scores must match the
// recomputed ones within 1e-5 and, rank by rank, the two engines must return the same id
// unless the two items' exact scores are within 1e-5 (a near tie that rounding may order either
// way). A failure is reported with SkipWithError, never silently (engines.h: check_dense_pair).
//
// Sizes: N in {1e5, 1e6} by default. XMR_BENCH_QUICK=1 restricts them to N = 1e5 (smoke test);
// XMR_BENCH_SIZES=100000,1000000,10000000 (a comma-separated N list) replaces either (an invalid
// list exits with status 2). At N = 1e7 the fp32 database is 20 GB.
// XMR_BENCH_DATA_DIR=DIR also writes the data as DIR/dense_db_N<n>.npy and DIR/dense_queries.npy
// (float32), for bench/torch_dense.py --data DIR (scripts/bench_gpu.sh).

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "engines.h"
#include "peaks.h"
#include "xmr/xmr.h"

namespace {

constexpr std::int64_t kDim = 512;
constexpr std::int64_t kNumQueries[] = {1, 100, 1000};
constexpr std::int64_t kNumResults[] = {10, 100, 1000};
// k = 1000 runs on the GPU engines only (issue 7's GPU grid); the CPU suite keeps k <= 100.
constexpr std::int64_t kCpuMaxResults = 100;
constexpr std::int64_t kMaxQueries = 1000;
constexpr std::int64_t kCheckQueries = 100;
constexpr std::uint64_t kDatabaseSeed = 20240601;
constexpr std::uint64_t kQuerySeed = 20240602;
constexpr std::int64_t kCosineQueries = 1000;  // the one cosine case per N
constexpr std::int64_t kCosineResults = 10;

using xmr::bench::Clock;
using xmr::bench::DenseEngine;
using xmr::bench::seconds_since;
using xmr::bench::sz;

// ------------------------------------------------------------------------------------------
// Data: one database (and its engines) in memory at a time.

struct BuiltEngine {
  std::unique_ptr<DenseEngine> engine;
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
  // For bench/torch_dense.py --data (XMR_BENCH_DATA_DIR).
  xmr::bench::export_matrix("dense_db_N" + std::to_string(n), ds->base.data(), n, d);
  xmr::bench::export_matrix("dense_queries", ds->queries.data(), kMaxQueries, d);
  g_data = std::move(ds);
  return *g_data;
}

/// Throws (with the reason) when engine `name` cannot run here; checked before any data is made.
void require_available(const std::string& name) {
  if (const std::string why = xmr::bench::make_dense_engine(name)->unavailable(); !why.empty())
    throw std::runtime_error(why);
}

/// The engine `name` with its index over `ds`, built on first use. Throws when the engine is
/// unknown or unavailable here (the message says why) or its build fails.
BuiltEngine& engine_for(Dataset& ds, const std::string& name) {
  if (auto it = ds.engines.find(name); it != ds.engines.end()) return it->second;
  BuiltEngine built{xmr::bench::make_dense_engine(name), 0.0};
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
  DenseEngine& engine = *be->engine;
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
  state.counters["queries_per_s"] = xmr::bench::per_second(q, timed);
  state.counters["gflops"] = xmr::bench::per_second(flop * 1e-9, timed);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  const xmr::bench::Peaks& peaks = xmr::bench::peaks();
  double gemm_peak = 0.0;
  double mem_peak = 0.0;
  if (engine.on_gpu()) {
    gemm_peak = engine.element_bytes() == 2 ? peaks.gpu_hgemm_flops : peaks.gpu_sgemm_flops;
    mem_peak = peaks.gpu_copy_bw;
    // Host-side latency per search (the reported time is the CUDA-event time, when measured).
    state.counters["wall_ms"] = Counter(wall_s * 1e3, Counter::kAvgIterations);
  } else {
    gemm_peak = peaks.cpu_sgemm_flops;
    mem_peak = peaks.cpu_mem_bw;
  }
  if (gemm_peak > 0.0) state.counters["frac_gemm_peak"] = xmr::bench::per_second(flop / gemm_peak, timed);
  if (mem_peak > 0.0) state.counters["frac_mem_bw"] = xmr::bench::per_second(bytes / mem_peak, timed);
  xmr::bench::add_run_counters(state, be->build_s, csw);
}

void bench_check(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t n, std::int64_t k) {
  Dataset* ds = nullptr;
  DenseEngine* ea = nullptr;
  DenseEngine* eb = nullptr;
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
  xmr::bench::check_dense_pair(state, {ds->base.data(), ds->n, ds->queries.data(), ds->d}, *ea, *eb, kCheckQueries, k);
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
        for (const auto& spec : xmr::bench::dense_engine_specs()) {
          const std::string engine = spec.name;
          const bool cosine = engine == "xmr_cpu_cosine";
          const bool gpu = engine.find("gpu") != std::string::npos;
          if (cosine && (q != kCosineQueries || k != kCosineResults)) continue;
          if (!gpu && k > kCpuMaxResults) continue;
          const std::string name = "dense/" + engine + "/N:" + format_n(n) + "/Q:" + format_n(q) + "/k:" + format_n(k);
          SearchCase c{engine, n, q, k};
          auto* b = benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_search(st, c); });
          b->Unit(benchmark::kMillisecond)->MinTime(min_time);
          xmr::bench::use_search_time(b, gpu);
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
        if (a.find("gpu") == std::string::npos && k > kCpuMaxResults) continue;
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
  const std::vector<std::int64_t> sizes = xmr::bench::sizes_from_env(
      xmr::bench::quick_mode() ? std::vector<std::int64_t>{100000} : std::vector<std::int64_t>{100000, 1000000});
  register_all(sizes);

  constexpr unsigned kPeaks = xmr::bench::kPeakCpuGemm | xmr::bench::kPeakCpuMemory | xmr::bench::kPeakGpu;
  if (!xmr::bench::initialize_and_measure_peaks(&argc, argv, kPeaks)) return 1;

  xmr::bench::add_common_context(sizes);
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("dim", std::to_string(kDim));
  benchmark::AddCustomContext("largest_db_bytes_fp32",
                              std::to_string(*std::max_element(sizes.begin(), sizes.end()) * kDim * 4));
  benchmark::AddCustomContext("data", "random_normal rows normalised to unit length; metric inner product");
  xmr::bench::add_peaks_context();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_data.reset();  // engines (and their GPU state) before the CUDA runtime's static teardown
  return 0;
}
