// bench_eval: throughput of metric evaluation through the public API (xmr/eval.h), for issue 7.
// Random data from a fixed seed, made once per size (Q queries, N items) and reused by every case
// of that size; the sizes grow in Q and N up to the NUS-WIDE shape (2,100 queries x 190,000 items,
// 21 labels at ~10% density, multi-hot).
//
// Cases, named `eval/<metric>/<device>/.../Q:<q>/N:<n>`:
//   map_hamming   MapVariant::All over 64- and 128-bit random codes, both tie policies
//                 (ascending_index, average); cpu, and gpu in CUDA builds
//   map_dense     MapVariant::All, Metric::Cosine, D = 128 and 512 (standard normal rows); cpu/gpu
//   pr_curve      pr_curve_hamming, 64 and 128 bits (CPU only: the call has no device option)
//   precision_at_k, ndcg_at_k  over random result lists [Q x 100] (distinct indices), k = 10, 100
//
// Counters:
//   pairs_per_s   query x item pairs per second (Q * N per call, every metric: the ranked-list
//                 metrics also scan the N items' labels for each query's relevant count)
//   entries_per_s (precision_at_k, ndcg_at_k) Q * k result entries scored per second
//   gbytes_per_s  (map_hamming, pr_curve) Q * N * bits / 8 code bytes read per second; a rate, not
//                 a fraction of a peak (bench_binary reports Hamming search against the popcount
//                 and memory peaks)
//   gflops        (map_dense) 2 * Q * N * D per second (1e9)
//   frac_gemm_peak (map_dense) that flop rate over the sgemm peak peaks.h measures once in this
//                 process: cblas_sgemm for cpu cases, cublasSgemm for gpu cases (CUDA builds;
//                 absent when the peak was not measured). The whole call counts, uploads included.
//   device_ms     (gpu) CUDA-event time of the last call on the bench's stream
//   build_s, omp_threads, invol_csw (bench_common)
//
// Every case times the whole call (host wall clock, UseRealTime): on a GPU that includes the
// uploads of codes and labels, which is what a caller pays.
//
// Environment: XMR_BENCH_QUICK=1  the two smallest sizes only (smoke test).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "peaks.h"
#include "xmr/eval.h"
#include "xmr/xmr.h"

namespace {

using xmr::bench::Clock;
using xmr::bench::seconds_since;
using xmr::bench::sz;

constexpr std::int64_t kLabels = 21;
constexpr double kLabelDensity = 0.1;
constexpr std::int64_t kListLength = 100;
constexpr std::uint64_t kSeed = 20240707;

struct Size {
  std::int64_t q;
  std::int64_t n;
};
/// Growing in Q and N; the last is NUS-WIDE's 2,100 x 190,000.
constexpr Size kSizes[] = {{100, 10000}, {500, 50000}, {2100, 190000}};

std::vector<std::uint8_t> random_labels(std::int64_t rows, std::mt19937_64& rng) {
  std::bernoulli_distribution on(kLabelDensity);
  std::vector<std::uint8_t> l(sz(rows * kLabels));
  for (auto& v : l) v = on(rng) ? 1 : 0;
  return l;
}

std::vector<std::uint8_t> random_bytes(std::int64_t count, std::mt19937_64& rng) {
  std::vector<std::uint8_t> b(sz(count));
  for (std::size_t i = 0; i < b.size(); i += 8) {
    const std::uint64_t w = rng();
    for (std::size_t j = 0; j < 8 && i + j < b.size(); ++j) b[i + j] = static_cast<std::uint8_t>(w >> (8 * j));
  }
  return b;
}

/// The data of one size; dense rows are made on first use per D.
struct Data {
  Size size{};
  std::vector<std::uint8_t> q_labels, db_labels;
  std::vector<std::uint8_t> q_codes64, db_codes64, q_codes128, db_codes128;
  std::vector<std::int64_t> ranked;  // [Q x kListLength], distinct indices per row
  std::int64_t dense_dim = 0;
  std::vector<float> q_dense, db_dense;
  double build_s = 0;

  [[nodiscard]] xmr::MatrixView<const std::uint8_t> ql() const { return {q_labels.data(), size.q, kLabels}; }
  [[nodiscard]] xmr::MatrixView<const std::uint8_t> dl() const { return {db_labels.data(), size.n, kLabels}; }
  [[nodiscard]] xmr::MatrixView<const std::uint8_t> qc(std::int64_t bits) const {
    return {(bits == 64 ? q_codes64 : q_codes128).data(), size.q, bits / 8};
  }
  [[nodiscard]] xmr::MatrixView<const std::uint8_t> dc(std::int64_t bits) const {
    return {(bits == 64 ? db_codes64 : db_codes128).data(), size.n, bits / 8};
  }
};

std::unique_ptr<Data> g_data;

Data& data(Size s) {
  if (g_data != nullptr && g_data->size.q == s.q && g_data->size.n == s.n) return *g_data;
  g_data.reset();
  const auto t0 = Clock::now();
  auto d = std::make_unique<Data>();
  d->size = s;
  std::mt19937_64 rng(kSeed ^ (static_cast<std::uint64_t>(s.q) << 32) ^ static_cast<std::uint64_t>(s.n));
  d->q_labels = random_labels(s.q, rng);
  d->db_labels = random_labels(s.n, rng);
  d->q_codes64 = random_bytes(s.q * 8, rng);
  d->db_codes64 = random_bytes(s.n * 8, rng);
  d->q_codes128 = random_bytes(s.q * 16, rng);
  d->db_codes128 = random_bytes(s.n * 16, rng);
  d->ranked.resize(sz(s.q * kListLength));
  std::uniform_int_distribution<std::int64_t> pick(0, s.n - 1);
  for (std::int64_t q = 0; q < s.q; ++q) {
    std::int64_t* row = d->ranked.data() + q * kListLength;
    for (std::int64_t j = 0; j < kListLength;) {
      const std::int64_t v = pick(rng);
      if (std::find(row, row + j, v) == row + j) row[j++] = v;
    }
  }
  d->build_s = seconds_since(t0);
  g_data = std::move(d);
  return *g_data;
}

void ensure_dense(Data& d, std::int64_t dim) {
  if (d.dense_dim == dim) return;
  const auto t0 = Clock::now();
  d.q_dense = xmr::synth::random_normal(d.size.q, dim, kSeed + 1 + static_cast<std::uint64_t>(dim));
  d.db_dense = xmr::synth::random_normal(d.size.n, dim, kSeed + 2 + static_cast<std::uint64_t>(dim));
  d.dense_dim = dim;
  d.build_s += seconds_since(t0);
}

enum class Kind { MapHamming, MapDense, PrCurve, PrecisionAtK, NdcgAtK };

struct Case {
  Kind kind = Kind::MapHamming;
  xmr::Device device = xmr::Device::Cpu;
  std::int64_t bits = 64;  // Hamming kinds
  xmr::eval::TiePolicy ties = xmr::eval::TiePolicy::AscendingIndex;
  std::int64_t dim = 128;  // MapDense
  std::int64_t k = 10;     // ranked-list kinds
  Size size{};
};

void bench_case(benchmark::State& state, const Case& c) {
  xmr::bench::XmrBenchDevice dev(c.device);
  Data* d = nullptr;
  try {
    if (const std::string why = dev.unavailable(); !why.empty()) throw std::runtime_error(why);
    d = &data(c.size);
    if (c.kind == Kind::MapDense) ensure_dense(*d, c.dim);
    dev.prepare();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  xmr::eval::MapOptions mo;
  mo.variant = xmr::eval::MapVariant::All;
  mo.ties = c.ties;
  mo.device = c.device;
  mo.resources = dev.options().resources;
  double sink = 0;
  const auto call = [&] {
    dev.timed([&] {
      switch (c.kind) {
        case Kind::MapHamming:
          sink += xmr::eval::map_hamming(d->qc(c.bits), d->dc(c.bits), d->ql(), d->dl(), mo).map;
          break;
        case Kind::MapDense:
          sink += xmr::eval::map_dense(xmr::MatrixView<const float>(d->q_dense.data(), d->size.q, c.dim),
                                       xmr::MatrixView<const float>(d->db_dense.data(), d->size.n, c.dim),
                                       xmr::Metric::Cosine, d->ql(), d->dl(), mo)
                      .map;
          break;
        case Kind::PrCurve:
          sink += xmr::eval::pr_curve_hamming(d->qc(c.bits), d->dc(c.bits), d->ql(), d->dl()).precision.back();
          break;
        case Kind::PrecisionAtK:
          sink +=
              xmr::eval::precision_at_k(xmr::MatrixView<const std::int64_t>(d->ranked.data(), d->size.q, kListLength),
                                        d->ql(), d->dl(), c.k)
                  .mean;
          break;
        case Kind::NdcgAtK:
          sink += xmr::eval::ndcg_at_k(xmr::MatrixView<const std::int64_t>(d->ranked.data(), d->size.q, kListLength),
                                       d->ql(), d->dl(), c.k)
                      .mean;
          break;
      }
    });
  };
  const xmr::bench::TimedSearches timed =
      xmr::bench::timed_searches(state, c.device == xmr::Device::Gpu, call, [] { return -1.0; }, {&sink});
  if (timed.warm_up_failed) return;

  using benchmark::Counter;
  const auto q = static_cast<double>(c.size.q);
  const auto n = static_cast<double>(c.size.n);
  const bool ranked = c.kind == Kind::PrecisionAtK || c.kind == Kind::NdcgAtK;
  state.counters["pairs_per_s"] = Counter(q * n, Counter::kIsIterationInvariantRate);
  if (ranked)
    state.counters["entries_per_s"] = Counter(q * static_cast<double>(c.k), Counter::kIsIterationInvariantRate);
  if (c.kind == Kind::MapHamming || c.kind == Kind::PrCurve) {
    state.counters["gbytes_per_s"] =
        Counter(q * n * static_cast<double>(c.bits / 8) * 1e-9, Counter::kIsIterationInvariantRate);
  }
  if (c.kind == Kind::MapDense) {
    const double flop = 2.0 * q * n * static_cast<double>(c.dim);
    state.counters["gflops"] = Counter(flop * 1e-9, Counter::kIsIterationInvariantRate);
    const xmr::bench::Peaks& peaks = xmr::bench::peaks();
    const double peak = c.device == xmr::Device::Gpu ? peaks.gpu_sgemm_flops : peaks.cpu_sgemm_flops;
    if (peak > 0.0) state.counters["frac_gemm_peak"] = Counter(flop / peak, Counter::kIsIterationInvariantRate);
  }
  if (dev.last_device_seconds() >= 0) state.counters["device_ms"] = dev.last_device_seconds() * 1e3;
  state.counters["num_queries"] = q;
  state.counters["n"] = n;
  xmr::bench::add_run_counters(state, d->build_s, timed.csw);
}

const char* tie_name(xmr::eval::TiePolicy t) {
  return t == xmr::eval::TiePolicy::Average ? "average" : "ascending_index";
}

void register_all() {
  std::vector<xmr::Device> devices = {xmr::Device::Cpu};
  // In every CUDA build (a case skips with the reason when no GPU is usable), so the GPU cases can
  // be listed (scripts/bench_gpu.sh --dry-run) on a machine without one.
  if (xmr::built_with_cuda()) devices.push_back(xmr::Device::Gpu);
  const std::size_t sizes = xmr::bench::quick_mode() ? 2 : std::size(kSizes);
  // Size by size (cases run in registration order), so each size's data is made once.
  for (std::size_t si = 0; si < sizes; ++si) {
    const Size s = kSizes[si];
    const std::string tail = "/Q:" + std::to_string(s.q) + "/N:" + std::to_string(s.n);
    std::vector<std::pair<std::string, Case>> cases;
    for (const xmr::Device dv : devices) {
      const std::string dn = dv == xmr::Device::Gpu ? "gpu" : "cpu";
      for (const std::int64_t bits : {64, 128}) {
        for (const auto t : {xmr::eval::TiePolicy::AscendingIndex, xmr::eval::TiePolicy::Average}) {
          cases.push_back({"eval/map_hamming/" + dn + "/bits:" + std::to_string(bits) + "/ties:" + tie_name(t) + tail,
                           {Kind::MapHamming, dv, bits, t, 0, 0, s}});
        }
      }
    }
    for (const std::int64_t dim : {128, 512}) {
      for (const xmr::Device dv : devices) {
        const std::string dn = dv == xmr::Device::Gpu ? "gpu" : "cpu";
        cases.push_back({"eval/map_dense/" + dn + "/cosine/D:" + std::to_string(dim) + tail,
                         {Kind::MapDense, dv, 0, xmr::eval::TiePolicy::AscendingIndex, dim, 0, s}});
      }
    }
    for (const std::int64_t bits : {64, 128}) {
      cases.push_back({"eval/pr_curve_hamming/cpu/bits:" + std::to_string(bits) + tail,
                       {Kind::PrCurve, xmr::Device::Cpu, bits, xmr::eval::TiePolicy::AscendingIndex, 0, 0, s}});
    }
    for (const std::int64_t k : {10, 100}) {
      cases.push_back({"eval/precision_at_k/cpu/k:" + std::to_string(k) + tail,
                       {Kind::PrecisionAtK, xmr::Device::Cpu, 0, xmr::eval::TiePolicy::AscendingIndex, 0, k, s}});
      cases.push_back({"eval/ndcg_at_k/cpu/k:" + std::to_string(k) + tail,
                       {Kind::NdcgAtK, xmr::Device::Cpu, 0, xmr::eval::TiePolicy::AscendingIndex, 0, k, s}});
    }
    for (const auto& named : cases) {
      // Not a structured binding: clang 14 cannot capture bindings in lambdas.
      const Case c = named.second;
      benchmark::RegisterBenchmark(named.first.c_str(), [c](benchmark::State& st) { bench_case(st, c); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(0.5);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  constexpr unsigned kPeaks = xmr::bench::kPeakCpuGemm | xmr::bench::kPeakGpu;
  if (!xmr::bench::initialize_and_measure_peaks(&argc, argv, kPeaks)) return 1;
  std::vector<std::int64_t> ns;
  for (const Size s : kSizes) ns.push_back(s.n);
  xmr::bench::add_common_context(ns);
  benchmark::AddCustomContext("labels", std::to_string(kLabels) + " multi-hot, each on with p = 0.1");
  benchmark::AddCustomContext("list_length", std::to_string(kListLength));
  benchmark::AddCustomContext("data",
                              "uniform random codes and labels (mt19937_64), standard normal dense rows "
                              "(xmr::synth::random_normal), seed " +
                                  std::to_string(kSeed));
  xmr::bench::add_peaks_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_data.reset();
  return 0;
}
