// bench_multi_vector: xmr::MultiVectorIndex search (xmr/multi_vector_index.h) for issue 7. Items of
// kItemVectors = 32 vectors (BLIP-2's 32 query tokens), D = 256, Metric::Cosine, N items from 1e3
// to 1e5; queries of 1 vector (a text embedding against BLIP-2's image tokens) or 32 vectors
// (token against token), Q in {1, 100}, k = 10, MaxSim and SumMaxSim. Standard normal vectors
// from a fixed seed (xmr::synth::random_normal); one index per N, built once and reused by every
// case of that N (cases run N by N).
//
// Cases: `multi_vector/<device>/<reduce>/qvec:<1|32>/N:<n>/Q:<q>`, device cpu and, in CUDA builds,
// gpu (through a Resources that borrows the bench's stream; skipped with the reason when no GPU
// is usable).
//
// Counters:
//   items_per_s  query x item pairs per second (Q * N per call)
//   gflops       2 * 32 * qvec * D flop per pair, per second (1e9)
//   frac_gemm_peak  that flop rate over the sgemm peak peaks.h measures once in this process:
//                cblas_sgemm for cpu cases, cublasSgemm for gpu cases (CUDA builds; absent when
//                the peak was not measured)
//   device_ms    (gpu) CUDA-event time of the last call on the bench's stream
//   build_s      seconds to generate the N items and add them; omp_threads, invol_csw
//
// Environment: XMR_BENCH_QUICK=1  N in {1e3, 1e4} only (smoke test).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "peaks.h"
#include "xmr/multi_vector_index.h"
#include "xmr/xmr.h"

namespace {

using xmr::bench::Clock;
using xmr::bench::seconds_since;
using xmr::bench::sz;

constexpr std::int64_t kDim = 256;
constexpr std::int64_t kItemVectors = 32;
constexpr std::int64_t kK = 10;
constexpr std::uint64_t kSeed = 20240715;
constexpr std::int64_t kSizes[] = {1000, 10000, 100000};
constexpr std::int64_t kQueryCounts[] = {1, 100};
constexpr std::int64_t kQueryVectors[] = {1, 32};

std::vector<std::int64_t> uniform_offsets(std::int64_t items, std::int64_t per_item) {
  std::vector<std::int64_t> off(sz(items + 1));
  for (std::int64_t i = 0; i <= items; ++i) off[sz(i)] = i * per_item;
  return off;
}

struct Setup {
  std::int64_t n = 0;
  std::unique_ptr<xmr::MultiVectorIndex> index;
  double build_s = 0;
};

std::unique_ptr<Setup> g_setup;

Setup& setup(std::int64_t n) {
  if (g_setup != nullptr && g_setup->n == n) return *g_setup;
  g_setup.reset();
  const auto t0 = Clock::now();
  auto s = std::make_unique<Setup>();
  s->n = n;
  const std::vector<float> vectors =
      xmr::synth::random_normal(n * kItemVectors, kDim, kSeed ^ static_cast<std::uint64_t>(n));
  const std::vector<std::int64_t> offsets = uniform_offsets(n, kItemVectors);
  s->index = std::make_unique<xmr::MultiVectorIndex>(
      xmr::MultiVectorIndexOptions{.dim = kDim, .metric = xmr::Metric::Cosine, .device = xmr::Device::Auto});
  s->index->add(xmr::MultiVectorBatch{xmr::MatrixView<const float>(vectors.data(), n * kItemVectors, kDim), offsets});
  s->build_s = seconds_since(t0);
  g_setup = std::move(s);
  return *g_setup;
}

struct Case {
  xmr::Device device = xmr::Device::Cpu;
  xmr::MultiVectorReduce reduce = xmr::MultiVectorReduce::MaxSim;
  std::int64_t query_vectors = 1;
  std::int64_t n = 0;
  std::int64_t q = 1;
};

void bench_case(benchmark::State& state, const Case& c) {
  xmr::bench::XmrBenchDevice dev(c.device);
  Setup* s = nullptr;
  try {
    if (const std::string why = dev.unavailable(); !why.empty()) throw std::runtime_error(why);
    s = &setup(c.n);
    dev.prepare();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::vector<float> qv =
      xmr::synth::random_normal(c.q * c.query_vectors, kDim, kSeed + 1 + static_cast<std::uint64_t>(c.query_vectors));
  const std::vector<std::int64_t> qoff =
      c.query_vectors == 1 ? std::vector<std::int64_t>{} : uniform_offsets(c.q, c.query_vectors);
  const xmr::MultiVectorBatch queries{xmr::MatrixView<const float>(qv.data(), c.q * c.query_vectors, kDim), qoff};
  const xmr::MultiVectorSearchOptions o{.reduce = c.reduce, .device = c.device, .resources = dev.options().resources};
  xmr::SearchResult r;
  // One untimed search first (on a GPU: the upload of the index and the workspaces).
  const xmr::bench::TimedSearches timed = xmr::bench::timed_searches(
      state, true, [&] { dev.timed([&] { r = s->index->search(queries, kK, o); }); }, [] { return -1.0; }, {&r});
  if (timed.warm_up_failed) return;

  using benchmark::Counter;
  const double pairs = static_cast<double>(c.q) * static_cast<double>(c.n);
  const double flop_per_pair = 2.0 * kItemVectors * static_cast<double>(c.query_vectors) * kDim;
  state.counters["items_per_s"] = Counter(pairs, Counter::kIsIterationInvariantRate);
  state.counters["gflops"] = Counter(pairs * flop_per_pair * 1e-9, Counter::kIsIterationInvariantRate);
  const xmr::bench::Peaks& peaks = xmr::bench::peaks();
  const double peak = c.device == xmr::Device::Gpu ? peaks.gpu_sgemm_flops : peaks.cpu_sgemm_flops;
  if (peak > 0.0) {
    state.counters["frac_gemm_peak"] = Counter(pairs * flop_per_pair / peak, Counter::kIsIterationInvariantRate);
  }
  if (dev.last_device_seconds() >= 0) state.counters["device_ms"] = dev.last_device_seconds() * 1e3;
  state.counters["num_queries"] = static_cast<double>(c.q);
  state.counters["query_vectors"] = static_cast<double>(c.query_vectors);
  state.counters["n"] = static_cast<double>(c.n);
  xmr::bench::add_run_counters(state, s->build_s, timed.csw);
}

void register_all() {
  std::vector<xmr::Device> devices = {xmr::Device::Cpu};
  // In every CUDA build (a case skips with the reason when no GPU is usable), so the GPU cases can
  // be listed (scripts/bench_gpu.sh --dry-run) on a machine without one.
  if (xmr::built_with_cuda()) devices.push_back(xmr::Device::Gpu);
  const std::size_t sizes = xmr::bench::quick_mode() ? 2 : std::size(kSizes);
  for (std::size_t si = 0; si < sizes; ++si) {  // N by N: one index in memory at a time
    const std::int64_t n = kSizes[si];
    for (const xmr::Device dv : devices) {
      for (const auto reduce : {xmr::MultiVectorReduce::MaxSim, xmr::MultiVectorReduce::SumMaxSim}) {
        for (const std::int64_t qvec : kQueryVectors) {
          for (const std::int64_t q : kQueryCounts) {
            const Case c{dv, reduce, qvec, n, q};
            const std::string name = std::string("multi_vector/") + (dv == xmr::Device::Gpu ? "gpu" : "cpu") + "/" +
                                     (reduce == xmr::MultiVectorReduce::MaxSim ? "max_sim" : "sum_max_sim") +
                                     "/qvec:" + std::to_string(qvec) + "/N:" + std::to_string(n) +
                                     "/Q:" + std::to_string(q);
            benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_case(st, c); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->MinTime(0.5);
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  constexpr unsigned kPeaks = xmr::bench::kPeakCpuGemm | xmr::bench::kPeakGpu;
  if (!xmr::bench::initialize_and_measure_peaks(&argc, argv, kPeaks)) return 1;
  xmr::bench::add_common_context(std::vector<std::int64_t>(std::begin(kSizes), std::end(kSizes)));
  benchmark::AddCustomContext("dim", std::to_string(kDim));
  benchmark::AddCustomContext("item_vectors", std::to_string(kItemVectors));
  benchmark::AddCustomContext("k", std::to_string(kK));
  benchmark::AddCustomContext(
      "data", "standard normal vectors (xmr::synth::random_normal), cosine, seed " + std::to_string(kSeed));
  xmr::bench::add_peaks_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_setup.reset();  // the index (and its GPU state) before the CUDA runtime's teardown
  return 0;
}
