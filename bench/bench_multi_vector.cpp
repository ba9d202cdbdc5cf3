// bench_multi_vector: xmr::MultiVectorIndex search (xmr/multi_vector_index.h) for issue 7. Items of
// kItemVectors = 32 vectors (BLIP-2's 32 query tokens), D = 256, Metric::Cosine, N items from 1e3
// to 1e5; queries of 1 vector (a text embedding against BLIP-2's image tokens) or 32 vectors
// (token against token), Q in {1, 100}, k = 10, MaxSim and SumMaxSim. Standard normal vectors
// from a fixed seed (xmr::synth::random_normal); one index per N, built once and reused by every
// case of that N (cases run N by N).
//
// Cases: `multi_vector/<device>/<reduce>/qvec:<1|32>/N:<n>/Q:<q>`, device cpu and, in CUDA builds,
// gpu (through a Resources that borrows the bench's stream; skipped with the reason when no GPU
// is usable), and the peer `cpu_blas`: what a NumPy user writes (S = q @ V.T with V all N * 32
// item vectors, S.reshape(qvec, N, 32).max(-1) then .max(0) or .sum(0), argpartition + sort),
// here in C++: one OpenBLAS sgemm per query (all threads), the per-item reduction parallel over
// items (OpenMP), std::nth_element + std::sort of the top k; vectors normalised once at setup
// (as the index does when it adds them), query vectors per call (as the index does per search).
// `check/multi_vector_cpu_vs_cpu_blas/<reduce>/qvec:<q>/N:<n>` compares the two on 10 queries:
// scores within 1e-4 rank by rank, ids equal unless the two items' scores are within 1e-4.
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
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "engines.h"
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
  std::vector<float> unit;  // [n * kItemVectors x kDim], the vectors normalised (the cpu_blas peer)
  double build_s = 0;
};

void normalise_rows(float* v, std::int64_t rows) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = v + r * kDim;
    const float norm = cblas_snrm2(static_cast<blasint>(kDim), row, 1);
    if (norm > 0.0f) cblas_sscal(static_cast<blasint>(kDim), 1.0f / norm, row, 1);
  }
}

/// The cpu_blas peer: top-k items (score descending, id ascending) of each query, by one sgemm of
/// the query's vectors against every item vector, then the reduction per item. `scratch` holds the
/// [qvec x n * kItemVectors] similarities and the item scores between calls.
struct BlasScratch {
  std::vector<float> query;  // [qvec x kDim]
  std::vector<float> sims;   // [qvec x n * kItemVectors]
  std::vector<float> item;   // [n]
  std::vector<std::int64_t> order;
};

void blas_search(const Setup& s, const float* queries, std::int64_t q, std::int64_t qvec, xmr::MultiVectorReduce reduce,
                 std::int64_t k, BlasScratch& w, std::int64_t* ids, float* scores) {
  const std::int64_t n = s.n;
  const std::int64_t cols = n * kItemVectors;
  w.query.resize(sz(qvec * kDim));
  w.sims.resize(sz(qvec * cols));
  w.item.resize(sz(n));
  w.order.resize(sz(n));
  const std::int64_t kk = std::min(k, n);
  for (std::int64_t i = 0; i < q; ++i) {
    std::copy_n(queries + i * qvec * kDim, qvec * kDim, w.query.data());
    normalise_rows(w.query.data(), qvec);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(qvec), static_cast<blasint>(cols),
                static_cast<blasint>(kDim), 1.0f, w.query.data(), static_cast<blasint>(kDim), s.unit.data(),
                static_cast<blasint>(kDim), 0.0f, w.sims.data(), static_cast<blasint>(cols));
    const bool sum = reduce == xmr::MultiVectorReduce::SumMaxSim;
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < n; ++t) {
      float acc = sum ? 0.0f : -INFINITY;
      for (std::int64_t a = 0; a < qvec; ++a) {
        const float* row = w.sims.data() + a * cols + t * kItemVectors;
        const float m = *std::max_element(row, row + kItemVectors);
        acc = sum ? acc + m : std::max(acc, m);
      }
      w.item[sz(t)] = acc;
    }
    std::iota(w.order.begin(), w.order.end(), std::int64_t{0});
    const float* item = w.item.data();
    auto better = [item](std::int64_t a, std::int64_t b) { return item[a] > item[b] || (item[a] == item[b] && a < b); };
    std::nth_element(w.order.begin(), w.order.begin() + (kk - 1), w.order.end(), better);
    std::sort(w.order.begin(), w.order.begin() + kk, better);
    for (std::int64_t j = 0; j < kk; ++j) {
      ids[i * k + j] = w.order[sz(j)];
      scores[i * k + j] = item[w.order[sz(j)]];
    }
  }
}

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
  s->unit = vectors;
  normalise_rows(s->unit.data(), n * kItemVectors);
  g_setup = std::move(s);
  return *g_setup;
}

struct Case {
  bool blas = false;  // the cpu_blas peer instead of the index
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
  BlasScratch scratch;
  std::vector<std::int64_t> ids(sz(c.q * kK));
  std::vector<float> scores(sz(c.q * kK));
  auto search = [&] {
    if (c.blas) {
      blas_search(*s, qv.data(), c.q, c.query_vectors, c.reduce, kK, scratch, ids.data(), scores.data());
    } else {
      dev.timed([&] { r = s->index->search(queries, kK, o); });
    }
  };
  // One untimed search first (on a GPU: the upload of the index and the workspaces).
  const xmr::bench::TimedSearches timed =
      xmr::bench::timed_searches(state, true, search, [] { return -1.0; }, {&r, ids.data(), scores.data()});
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

const char* reduce_name(xmr::MultiVectorReduce reduce) {
  return reduce == xmr::MultiVectorReduce::MaxSim ? "max_sim" : "sum_max_sim";
}

/// xmr's CPU search against the cpu_blas peer on the first kCheckQueries queries of a case.
void bench_check(benchmark::State& state, xmr::MultiVectorReduce reduce, std::int64_t qvec, std::int64_t n) {
  constexpr std::int64_t kCheckQueries = 10;
  constexpr double kTol = 1e-4;
  xmr::bench::CheckStats st;
  std::int64_t checked = 0;
  const bool ok = xmr::bench::run_check_searches(state, [&] {
    const Setup& s = setup(n);
    const std::vector<float> qv =
        xmr::synth::random_normal(kCheckQueries * qvec, kDim, kSeed + 1 + static_cast<std::uint64_t>(qvec));
    const std::vector<std::int64_t> qoff =
        qvec == 1 ? std::vector<std::int64_t>{} : uniform_offsets(kCheckQueries, qvec);
    const xmr::SearchResult r = s.index->search(
        xmr::MultiVectorBatch{xmr::MatrixView<const float>(qv.data(), kCheckQueries * qvec, kDim), qoff}, kK,
        {.reduce = reduce, .device = xmr::Device::Cpu});
    BlasScratch scratch;
    std::vector<std::int64_t> ids(sz(kCheckQueries * kK));
    std::vector<float> scores(sz(kCheckQueries * kK));
    blas_search(s, qv.data(), kCheckQueries, qvec, reduce, kK, scratch, ids.data(), scores.data());
    for (std::int64_t i = 0; i < kCheckQueries * kK; ++i) {
      const double err = std::abs(static_cast<double>(r.scores[sz(i)]) - static_cast<double>(scores[sz(i)]));
      st.max_score_err = std::max(st.max_score_err, err);
      auto where = [&] { return "query " + std::to_string(i / kK) + " rank " + std::to_string(i % kK); };
      if (err > kTol)
        st.fail(where() + ": score " + std::to_string(r.scores[sz(i)]) + " vs " + std::to_string(scores[sz(i)]));
      if (r.ids[sz(i)] != ids[sz(i)]) {
        // Allowed only between items whose peer scores are within the tolerance.
        const auto it = std::find(ids.begin() + (i / kK) * kK, ids.begin() + (i / kK + 1) * kK, r.ids[sz(i)]);
        const bool near_tie = it != ids.begin() + (i / kK + 1) * kK &&
                              static_cast<double>(std::abs(scores[sz(it - ids.begin())] - scores[sz(i)])) <= kTol;
        if (near_tie) {
          ++st.tie_swaps;
        } else {
          st.fail(where() + ": id " + std::to_string(r.ids[sz(i)]) + " vs " + std::to_string(ids[sz(i)]));
        }
      }
    }
    checked = kCheckQueries * kK;
  });
  if (ok) xmr::bench::report_check(state, xmr::bench::CheckKind::Dense, "cpu", "cpu_blas", checked, st);
}

void register_all() {
  std::vector<xmr::Device> devices = {xmr::Device::Cpu};
  // In every CUDA build (a case skips with the reason when no GPU is usable), so the GPU cases can
  // be listed (scripts/bench_gpu.sh --dry-run) on a machine without one.
  if (xmr::built_with_cuda()) devices.push_back(xmr::Device::Gpu);
  const std::size_t sizes = xmr::bench::quick_mode() ? 2 : std::size(kSizes);
  for (std::size_t si = 0; si < sizes; ++si) {  // N by N: one index in memory at a time
    const std::int64_t n = kSizes[si];
    // Case-major: xmr's CPU search and its peer back to back, then the GPU.
    for (const auto reduce : {xmr::MultiVectorReduce::MaxSim, xmr::MultiVectorReduce::SumMaxSim}) {
      for (const std::int64_t qvec : kQueryVectors) {
        for (const std::int64_t q : kQueryCounts) {
          for (const std::string engine : {"cpu", "cpu_blas", "gpu"}) {
            const bool gpu = engine == "gpu";
            if (gpu && devices.size() < 2) continue;
            const Case c{engine == "cpu_blas", gpu ? xmr::Device::Gpu : xmr::Device::Cpu, reduce, qvec, n, q};
            const std::string name = "multi_vector/" + engine + "/" + reduce_name(reduce) +
                                     "/qvec:" + std::to_string(qvec) + "/N:" + std::to_string(n) +
                                     "/Q:" + std::to_string(q);
            benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_case(st, c); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->MinTime(0.5);
          }
        }
        const std::string check = std::string("check/multi_vector_cpu_vs_cpu_blas/") + reduce_name(reduce) +
                                  "/qvec:" + std::to_string(qvec) + "/N:" + std::to_string(n);
        benchmark::RegisterBenchmark(check.c_str(),
                                     [reduce, qvec, n](benchmark::State& st) { bench_check(st, reduce, qvec, n); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(1);
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
