// bench_fashion: xmr on real data, Fashion-MNIST (70,000 28x28 clothing images, 784-d, 10
// classes; one of the ann-benchmarks data sets), from the Debian package dataset-fashion-mnist
// (bench/fashion_mnist.h reads and validates it).
//
// Database: the 60,000 training images; queries: the 10,000 test images (the first Q of them).
// Pixels are scaled to [0, 1] and every row is normalised to unit length, so inner product is
// cosine similarity. Every engine sees the same vectors and the same thread count
// (omp_max_threads), and the cases run engine by engine within each (Q, k), so the ratios come
// from one run of one binary.
//
//   dense/<engine>/N:60000/Q:<q>/k:<k>            exact dense top-k, q in {1, 100, 10000},
//                                                 k in {10, 100}; engines xmr_cpu (DenseIndex,
//                                                 inner product, fp32, Device::Cpu) and faiss_cpu
//                                                 (faiss::IndexFlatIP, when built with FAISS).
//   check/xmr_cpu_vs_faiss_cpu/N:60000/k:<k>      all queries: every returned score within 1e-5 of
//                                                 the score recomputed in double, and rank by rank
//                                                 the same id unless the two items' exact scores
//                                                 are within 1e-5 (a near tie).
//   quality/map_all/float_cosine                  mAP@ALL of the float cosine ranking
//                                                 (xmr::eval::map_dense): the ceiling.
//   quality/map_all/<binariser>/bits:<b>          mAP@ALL of the Hamming ranking of the test codes
//                                                 against the train codes (xmr::eval::map_hamming,
//                                                 MapVariant::All, ties by ascending index);
//                                                 binariser lsh (centred random hyperplanes) or itq
//                                                 (PCA + learned rotation, 50 iterations), both
//                                                 trained on the train rows, b in {32, 64, 128,
//                                                 256}; sign_median at b = 784 (one bit per pixel
//                                                 above its train median) as a reference.
//                                                 Relevance: same class. Counter map_all.
//   binary/<engine>/N:60000/bits:<b>/Q:<q>/k:<k>  Hamming top-k over the itq codes (b <= 256) and
//                                                 the sign_median codes (b = 784): xmr_cpu
//                                                 (BinaryIndex, Device::Cpu) and faiss_cpu
//                                                 (faiss::IndexBinaryFlat).
//   check/xmr_cpu_vs_faiss_cpu/N:60000/bits:<b>/k:<k>  all queries: every returned distance equal
//                                                 to the recomputed one, xmr's ascending with ties
//                                                 by ascending id, and the two engines' distances
//                                                 equal rank by rank (FAISS orders ties its own
//                                                 way: queries whose id sets differ are counted as
//                                                 boundary_tie_diffs, not failures).
//
// The quality cases run once (Iterations(1)); their time is the cost of the evaluation, their
// result is the map_all counter (summarize.py puts them in a table of their own).
// The engines and the dense check are engines.h's (shared with bench_dense and bench_binary).
// No case reports a fraction of a peak (the data set is small enough to sit in cache), so this
// benchmark measures no peaks.
// A missing data set is not an error: the binary says where it looked and exits 0. A damaged one
// is: the loader's message names the file and the problem, and the binary exits 1.
// XMR_BENCH_QUICK=1 uses the first 1,000 test images as queries (smoke test).

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
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
#include "engines.h"
#include "fashion_mnist.h"
#include "xmr/xmr.h"

namespace {

using xmr::bench::BinaryEngine;
using xmr::bench::CheckStats;
using xmr::bench::Clock;
using xmr::bench::DenseEngine;
using xmr::bench::kFashionClasses;
using xmr::bench::kFashionDim;
using xmr::bench::seconds_since;
using xmr::bench::sz;

constexpr std::int64_t kN = xmr::bench::kFashionTrainRows;
constexpr std::int64_t kD = kFashionDim;
constexpr std::int64_t kNumResults[] = {10, 100};
constexpr std::int64_t kCodeBits[] = {32, 64, 128, 256};
constexpr std::int64_t kPixelBits = kFashionDim;  // sign_median: one bit per pixel
constexpr std::uint64_t kLshSeed = 20261125;
constexpr std::uint64_t kItqSeed = 20261126;
constexpr std::int64_t kItqIterations = 50;

/// Queries used: all 10,000 test images, or the first 1,000 in quick mode.
std::int64_t g_queries = xmr::bench::kFashionTestRows;

// ------------------------------------------------------------------------------------------
// Data.

struct Data {
  std::string dir;
  std::vector<float> train;                // [kN x kD] unit rows
  std::vector<float> test;                 // [g_queries x kD] unit rows
  std::vector<std::uint8_t> train_labels;  // [kN x 10] one-hot
  std::vector<std::uint8_t> test_labels;   // [g_queries x 10] one-hot
  std::int64_t zero_rows = 0;              // rows left at zero (no pixel set): none in the real data
  double load_s = 0.0;
};

std::unique_ptr<Data> g_data;

/// Scales each row to unit length; returns how many rows were zero (left as they are).
std::int64_t normalise_rows(std::vector<float>& v, std::int64_t rows) {
  std::int64_t zero = 0;
#pragma omp parallel for schedule(static) reduction(+ : zero)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = v.data() + r * kD;
    double ss = 0.0;
    for (std::int64_t j = 0; j < kD; ++j) ss += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    if (ss == 0.0) {
      ++zero;
      continue;
    }
    const auto inv = static_cast<float>(1.0 / std::sqrt(ss));
    for (std::int64_t j = 0; j < kD; ++j) row[j] *= inv;
  }
  return zero;
}

std::vector<std::uint8_t> one_hot(const std::vector<std::uint8_t>& labels, std::int64_t rows) {
  std::vector<std::uint8_t> out(sz(rows * kFashionClasses), 0);
  for (std::int64_t r = 0; r < rows; ++r) out[sz(r * kFashionClasses + labels[sz(r)])] = 1;
  return out;
}

/// Loads the data set. Throws std::runtime_error (naming the file) when it is damaged.
void load_data(const std::string& dir) {
  const auto t0 = Clock::now();
  xmr::bench::FashionMnist raw = xmr::bench::load_fashion_mnist(dir);
  auto d = std::make_unique<Data>();
  d->dir = dir;
  d->train = std::move(raw.train_images);
  d->test.assign(raw.test_images.begin(), raw.test_images.begin() + g_queries * kD);
  d->zero_rows = normalise_rows(d->train, kN) + normalise_rows(d->test, g_queries);
  d->train_labels = one_hot(raw.train_labels, kN);
  d->test_labels = one_hot(raw.test_labels, g_queries);
  d->load_s = seconds_since(t0);
  g_data = std::move(d);
}

xmr::MatrixView<const float> train_view() {
  return {g_data->train.data(), kN, kD};
}
xmr::MatrixView<const float> test_view() {
  return {g_data->test.data(), g_queries, kD};
}

// ------------------------------------------------------------------------------------------
// Dense engines (engines.h).

/// The engines this benchmark runs, dense and Hamming alike: xmr_cpu, and faiss_cpu with FAISS.
std::vector<std::string> cpu_engine_names() {
  std::vector<std::string> names = {"xmr_cpu"};
#ifdef XMR_BENCH_HAVE_FAISS
  names.emplace_back("faiss_cpu");
#endif
  return names;
}

struct BuiltDense {
  std::unique_ptr<DenseEngine> engine;
  double build_s = 0.0;
};

std::map<std::string, BuiltDense> g_dense;

/// Engine `name` with its index over the train rows, built (and warmed up) on first use.
BuiltDense& dense_engine(const std::string& name) {
  if (auto it = g_dense.find(name); it != g_dense.end()) return it->second;
  BuiltDense b;
  b.engine = xmr::bench::make_dense_engine(name);
  const auto t0 = Clock::now();
  b.engine->build(g_data->train.data(), kN, kD);
  std::vector<std::int64_t> ids(10);
  std::vector<float> scores(10);
  b.engine->search(g_data->test.data(), 1, 10, ids.data(), scores.data());
  b.build_s = seconds_since(t0);
  return g_dense.emplace(name, std::move(b)).first->second;
}

void bench_dense(benchmark::State& state, const std::string& name, std::int64_t q, std::int64_t k) {
  BuiltDense* be = nullptr;
  try {
    be = &dense_engine(name);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<std::int64_t> ids(sz(q * k));
  std::vector<float> scores(sz(q * k));
  const xmr::bench::TimedSearches t = xmr::bench::timed_searches(
      state, false, [&] { be->engine->search(g_data->test.data(), q, k, ids.data(), scores.data()); },
      [] { return -1.0; }, {ids.data(), scores.data()});
  if (t.warm_up_failed) return;
  using benchmark::Counter;
  const double flop = 2.0 * static_cast<double>(q) * static_cast<double>(kN) * static_cast<double>(kD);
  state.counters["queries_per_s"] = Counter(static_cast<double>(q), Counter::kIsIterationInvariantRate);
  state.counters["gflops"] = Counter(flop * 1e-9, Counter::kIsIterationInvariantRate);
  xmr::bench::add_run_counters(state, be->build_s, t.csw);
}

void check_dense(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t k) {
  DenseEngine* ea = nullptr;
  DenseEngine* eb = nullptr;
  try {
    ea = dense_engine(a).engine.get();
    eb = dense_engine(b).engine.get();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  // All queries, scores recomputed from the unit rows in double (no fp16 rounding: fp32 engines).
  xmr::bench::check_dense_pair(state, {g_data->train.data(), kN, g_data->test.data(), kD}, *ea, *eb, g_queries, k);
}

// ------------------------------------------------------------------------------------------
// Binary codes, made once per (binariser, bits) and shared by the quality and search cases.

struct Codes {
  std::int64_t bits = 0;
  std::int64_t bytes = 0;
  std::vector<std::uint8_t> train;  // [kN x bytes]
  std::vector<std::uint8_t> test;   // [g_queries x bytes]
  double train_s = 0.0;             // fitting the binariser
  double encode_s = 0.0;            // encoding train and test rows
};

std::map<std::pair<std::string, std::int64_t>, Codes> g_codes;

/// The codes of `binariser` ("lsh", "itq" or "sign_median") at `bits`, made on first use.
const Codes& codes_for(const std::string& binariser, std::int64_t bits) {
  const auto key = std::make_pair(binariser, bits);
  if (auto it = g_codes.find(key); it != g_codes.end()) return it->second;
  const auto t0 = Clock::now();
  std::unique_ptr<xmr::Binarizer> bz;
  if (binariser == "lsh") {
    bz = std::make_unique<xmr::Binarizer>(
        xmr::Binarizer::lsh(train_view(), bits, xmr::LshOptions{.seed = kLshSeed, .center = true}));
  } else if (binariser == "itq") {
    bz = std::make_unique<xmr::Binarizer>(
        xmr::Binarizer::itq(train_view(), bits, xmr::ItqOptions{.iterations = kItqIterations, .seed = kItqSeed}));
  } else if (binariser == "sign_median") {
    bz = std::make_unique<xmr::Binarizer>(xmr::Binarizer::sign_median(train_view()));
  } else {
    throw std::runtime_error("unknown binariser " + binariser);
  }
  if (bz->bits() != bits) {
    throw std::runtime_error(binariser + " made " + std::to_string(bz->bits()) + "-bit codes, not " +
                             std::to_string(bits));
  }
  Codes c;
  c.train_s = seconds_since(t0);
  const auto t1 = Clock::now();
  c.bits = bits;
  c.bytes = bz->code_bytes();
  c.train = bz->encode(train_view());
  c.test = bz->encode(test_view());
  c.encode_s = seconds_since(t1);
  return g_codes.emplace(key, std::move(c)).first->second;
}

/// Binariser whose codes the Hamming search cases time at `bits`.
const char* search_binariser(std::int64_t bits) {
  return bits == kPixelBits ? "sign_median" : "itq";
}

/// Runs `map` (returning an xmr::eval::MapResult) once per iteration and reports map_all and
/// queries; false (after SkipWithError) when it throws.
template <class Map>
bool report_map(benchmark::State& state, Map&& map) {
  xmr::eval::MapResult r;
  for (auto _ : state) {
    try {
      r = map();
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return false;
    }
  }
  state.counters["map_all"] = r.map;
  state.counters["queries"] = static_cast<double>(r.queries);
  return true;
}

constexpr xmr::eval::MapOptions kMapAllCpu{.variant = xmr::eval::MapVariant::All, .device = xmr::Device::Cpu};

void quality_float(benchmark::State& state) {
  if (!report_map(state, [] {
        return xmr::eval::map_dense(test_view(), train_view(), xmr::Metric::Cosine,
                                    {g_data->test_labels.data(), g_queries, kFashionClasses},
                                    {g_data->train_labels.data(), kN, kFashionClasses}, kMapAllCpu);
      })) {
    return;
  }
  state.counters["dim"] = static_cast<double>(kD);
}

void quality_codes(benchmark::State& state, const std::string& binariser, std::int64_t bits) {
  const Codes* c = nullptr;
  if (!report_map(state, [&] {
        c = &codes_for(binariser, bits);
        return xmr::eval::map_hamming({c->test.data(), g_queries, c->bytes}, {c->train.data(), kN, c->bytes},
                                      {g_data->test_labels.data(), g_queries, kFashionClasses},
                                      {g_data->train_labels.data(), kN, kFashionClasses}, kMapAllCpu);
      })) {
    return;
  }
  state.counters["bits"] = static_cast<double>(bits);
  state.counters["train_s"] = c->train_s;
  state.counters["encode_s"] = c->encode_s;
}

// ------------------------------------------------------------------------------------------
// Hamming search engines (engines.h).

struct BuiltBinary {
  std::unique_ptr<BinaryEngine> engine;
  const Codes* codes = nullptr;
  double build_s = 0.0;
};

std::map<std::pair<std::string, std::int64_t>, BuiltBinary> g_binary;

BuiltBinary& binary_engine(const std::string& name, std::int64_t bits) {
  const auto key = std::make_pair(name, bits);
  if (auto it = g_binary.find(key); it != g_binary.end()) return it->second;
  BuiltBinary b;
  b.engine = xmr::bench::make_binary_engine(name);
  b.codes = &codes_for(search_binariser(bits), bits);
  const auto t0 = Clock::now();
  b.engine->build(b.codes->train.data(), kN, bits);
  std::vector<std::int64_t> ids(10);
  std::vector<std::int32_t> dist(10);
  b.engine->search(b.codes->test.data(), 1, 10, ids.data(), dist.data());
  b.build_s = seconds_since(t0);
  return g_binary.emplace(key, std::move(b)).first->second;
}

void bench_binary(benchmark::State& state, const std::string& name, std::int64_t bits, std::int64_t q, std::int64_t k) {
  BuiltBinary* be = nullptr;
  try {
    be = &binary_engine(name, bits);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<std::int64_t> ids(sz(q * k));
  std::vector<std::int32_t> dist(sz(q * k));
  const xmr::bench::TimedSearches t = xmr::bench::timed_searches(
      state, false, [&] { be->engine->search(be->codes->test.data(), q, k, ids.data(), dist.data()); },
      [] { return -1.0; }, {ids.data(), dist.data()});
  if (t.warm_up_failed) return;
  using benchmark::Counter;
  const double pairs = static_cast<double>(q) * static_cast<double>(kN);
  state.counters["queries_per_s"] = Counter(static_cast<double>(q), Counter::kIsIterationInvariantRate);
  state.counters["gpairs_per_s"] = Counter(pairs * 1e-9, Counter::kIsIterationInvariantRate);
  xmr::bench::add_run_counters(state, be->build_s, t.csw);
}

void check_binary(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t bits,
                  std::int64_t k) {
  BuiltBinary* ea = nullptr;
  BuiltBinary* eb = nullptr;
  try {
    ea = &binary_engine(a, bits);
    eb = &binary_engine(b, bits);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const Codes& c = *ea->codes;
  const std::int64_t nq = g_queries;
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<std::int32_t> dist_a(sz(nq * k));
  std::vector<std::int32_t> dist_b(sz(nq * k));
  const bool searched = xmr::bench::run_check_searches(state, [&] {
    ea->engine->search(c.test.data(), nq, k, ids_a.data(), dist_a.data());
    eb->engine->search(c.test.data(), nq, k, ids_b.data(), dist_b.data());
  });
  if (!searched) return;
  CheckStats st;
  auto verify = [&](const std::string& name, const std::vector<std::int64_t>& ids,
                    const std::vector<std::int32_t>& dist, std::int64_t qi, bool ties_by_id) {
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = sz(qi * k + j);
      std::ostringstream where;
      where << name << " query " << qi << " rank " << j << " id " << ids[at];
      if (ids[at] < 0 || ids[at] >= kN) {
        st.fail(where.str() + ": id out of range");
        continue;
      }
      const std::int32_t exact =
          xmr::hamming_distance(c.test.data() + qi * c.bytes, c.train.data() + ids[at] * c.bytes, c.bytes);
      if (exact != dist[at])
        st.fail(where.str() + ": distance " + std::to_string(dist[at]) + " but exact " + std::to_string(exact));
      if (j > 0) {
        const bool sorted =
            dist[at - 1] < dist[at] || (dist[at - 1] == dist[at] && (!ties_by_id || ids[at - 1] < ids[at]));
        if (!sorted) st.fail(where.str() + ": not in (distance, id) order");
      }
    }
  };
  for (std::int64_t qi = 0; qi < nq; ++qi) {
    verify(a, ids_a, dist_a, qi, true);
    verify(b, ids_b, dist_b, qi, false);
    std::vector<std::int64_t> sa(ids_a.begin() + qi * k, ids_a.begin() + (qi + 1) * k);
    std::vector<std::int64_t> sb(ids_b.begin() + qi * k, ids_b.begin() + (qi + 1) * k);
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    if (std::adjacent_find(sa.begin(), sa.end()) != sa.end())
      st.fail(a + " query " + std::to_string(qi) + ": duplicate id");
    if (std::adjacent_find(sb.begin(), sb.end()) != sb.end())
      st.fail(b + " query " + std::to_string(qi) + ": duplicate id");
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = sz(qi * k + j);
      if (dist_a[at] != dist_b[at]) {
        st.fail("query " + std::to_string(qi) + " rank " + std::to_string(j) + ": " + a + " distance " +
                std::to_string(dist_a[at]) + " vs " + b + " distance " + std::to_string(dist_b[at]));
        break;
      }
    }
    if (sa != sb) ++st.boundary_tie_diffs;
  }
  xmr::bench::report_check(state, xmr::bench::CheckKind::Binary, a, b, nq * k, st);
}

// ------------------------------------------------------------------------------------------
// Registration.

void register_all() {
  const std::vector<std::int64_t> queries = {1, 100, g_queries};
  const std::string n = "/N:" + std::to_string(kN);
  // Case-major: both engines run each (Q, k) back to back.
  for (const std::int64_t q : queries) {
    for (const std::int64_t k : kNumResults) {
      for (const std::string& e : cpu_engine_names()) {
        const std::string name = "dense/" + e + n + "/Q:" + std::to_string(q) + "/k:" + std::to_string(k);
        benchmark::RegisterBenchmark(name.c_str(), [e, q, k](benchmark::State& st) { bench_dense(st, e, q, k); })
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.5)
            ->UseRealTime();
      }
    }
  }
#ifdef XMR_BENCH_HAVE_FAISS
  for (const std::int64_t k : kNumResults) {
    const std::string name = "check/xmr_cpu_vs_faiss_cpu" + n + "/k:" + std::to_string(k);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [k](benchmark::State& st) { check_dense(st, "xmr_cpu", "faiss_cpu", k); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1);
  }
#endif
  benchmark::RegisterBenchmark("quality/map_all/float_cosine", quality_float)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(1);
  std::vector<std::pair<std::string, std::int64_t>> code_sets;
  for (const char* bz : {"lsh", "itq"}) {
    for (const std::int64_t bits : kCodeBits) code_sets.emplace_back(bz, bits);
  }
  code_sets.emplace_back("sign_median", kPixelBits);
  for (const auto& cs : code_sets) {
    const std::string bz = cs.first;
    const std::int64_t bits = cs.second;
    const std::string name = "quality/map_all/" + bz + "/bits:" + std::to_string(bits);
    benchmark::RegisterBenchmark(name.c_str(), [bz, bits](benchmark::State& st) { quality_codes(st, bz, bits); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1);
  }
  std::vector<std::int64_t> search_bits(std::begin(kCodeBits), std::end(kCodeBits));
  search_bits.push_back(kPixelBits);
  const std::vector<std::string> binary_engines = cpu_engine_names();
  for (const std::int64_t bits : search_bits) {
    const std::string nb = n + "/bits:" + std::to_string(bits);
    for (const std::int64_t q : queries) {
      for (const std::int64_t k : kNumResults) {
        for (const std::string& e : binary_engines) {
          const std::string name = "binary/" + e + nb + "/Q:" + std::to_string(q) + "/k:" + std::to_string(k);
          benchmark::RegisterBenchmark(name.c_str(),
                                       [e, bits, q, k](benchmark::State& st) { bench_binary(st, e, bits, q, k); })
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.3)
              ->UseRealTime();
        }
      }
    }
#ifdef XMR_BENCH_HAVE_FAISS
    for (const std::int64_t k : kNumResults) {
      const std::string name = "check/xmr_cpu_vs_faiss_cpu" + nb + "/k:" + std::to_string(k);
      benchmark::RegisterBenchmark(
          name.c_str(), [bits, k](benchmark::State& st) { check_binary(st, "xmr_cpu", "faiss_cpu", bits, k); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(1);
    }
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = xmr::bench::fashion_mnist_dir();
  if (const std::string why = xmr::bench::fashion_mnist_missing(dir); !why.empty()) {
    std::fprintf(stderr, "bench_fashion: skipped: %s\n", why.c_str());
    return 0;
  }
  if (xmr::bench::quick_mode()) g_queries = 1000;
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!xmr::bench::has_arg(argc, argv, "--benchmark_list_tests")) {
    try {
      load_data(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_fashion: %s\n", e.what());
      return 1;
    }
    benchmark::AddCustomContext("data_dir", g_data->dir);
    benchmark::AddCustomContext("load_s", xmr::bench::fixed(g_data->load_s, 2));
    benchmark::AddCustomContext("zero_rows", std::to_string(g_data->zero_rows));
  }
  xmr::bench::add_common_context({kN});
  benchmark::AddCustomContext("dim", std::to_string(kD));
  benchmark::AddCustomContext("queries", std::to_string(g_queries));
  benchmark::AddCustomContext(
      "data", "Fashion-MNIST (dataset-fashion-mnist): database the 60,000 train images, queries the first " +
                  std::to_string(g_queries) +
                  " test images; pixel / 255, rows normalised to unit length (inner product = cosine); relevance for "
                  "mAP: same class (10 classes); Hamming search times itq codes (32-256 bits) and sign_median codes "
                  "(784 bits)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_binary.clear();
  g_dense.clear();
  return 0;
}
