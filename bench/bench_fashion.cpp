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
#include "fashion_mnist.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexFlat.h>
#endif

namespace {

using xmr::bench::Clock;
using xmr::bench::kFashionClasses;
using xmr::bench::kFashionDim;
using xmr::bench::seconds_since;
using xmr::bench::sz;

constexpr std::int64_t kN = xmr::bench::kFashionTrainRows;
constexpr std::int64_t kD = kFashionDim;
constexpr std::int64_t kNumResults[] = {10, 100};
constexpr std::int64_t kCodeBits[] = {32, 64, 128, 256};
constexpr std::int64_t kPixelBits = kFashionDim;  // sign_median: one bit per pixel
constexpr double kScoreTol = 1e-5;
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
// Dense engines.

class DenseEngine {
 public:
  DenseEngine() = default;
  DenseEngine(const DenseEngine&) = delete;
  DenseEngine& operator=(const DenseEngine&) = delete;
  virtual ~DenseEngine() = default;
  virtual void build(const float* x, std::int64_t n) = 0;
  virtual void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) = 0;
};

class XmrDense final : public DenseEngine {
 public:
  void build(const float* x, std::int64_t n) override {
    index_ = std::make_unique<xmr::DenseIndex>(xmr::DenseIndexOptions{
        .dim = kD, .metric = xmr::Metric::InnerProduct, .storage = xmr::DType::F32, .device = xmr::Device::Cpu});
    index_->add(xmr::MatrixView<const float>(x, n, kD));
  }
  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override {
    index_->search_into(xmr::MatrixView<const float>(q, nq, kD), k, xmr::MatrixView<std::int64_t>(ids, nq, k),
                        xmr::MatrixView<float>(scores, nq, k), {.device = xmr::Device::Cpu});
  }

 private:
  std::unique_ptr<xmr::DenseIndex> index_;
};

#ifdef XMR_BENCH_HAVE_FAISS
class FaissDense final : public DenseEngine {
 public:
  void build(const float* x, std::int64_t n) override {
    index_ = std::make_unique<faiss::IndexFlatIP>(kD);
    index_->add(n, x);
  }
  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override {
    index_->search(nq, q, k, scores, ids);
  }

 private:
  std::unique_ptr<faiss::IndexFlatIP> index_;
};
#endif

std::vector<std::string> dense_engine_names() {
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
  if (name == "xmr_cpu") {
    b.engine = std::make_unique<XmrDense>();
#ifdef XMR_BENCH_HAVE_FAISS
  } else if (name == "faiss_cpu") {
    b.engine = std::make_unique<FaissDense>();
#endif
  } else {
    throw std::runtime_error("unknown dense engine " + name);
  }
  const auto t0 = Clock::now();
  b.engine->build(g_data->train.data(), kN);
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

double exact_score(std::int64_t db_row, std::int64_t query) {
  const float* x = g_data->train.data() + db_row * kD;
  const float* y = g_data->test.data() + query * kD;
  double s = 0.0;
  for (std::int64_t j = 0; j < kD; ++j) s += static_cast<double>(x[j]) * static_cast<double>(y[j]);
  return s;
}

struct CheckStats {
  std::int64_t problems = 0;
  std::int64_t tie_swaps = 0;
  double max_score_err = 0.0;
  std::string first;
  void fail(const std::string& what) {
    if (problems++ == 0) first = what;
  }
};

/// One engine's results on their own: ids in range and distinct, scores non-increasing and
/// within kScoreTol of the exact ones (returned in `exact`).
void check_dense_one(const std::string& name, const std::vector<std::int64_t>& ids, const std::vector<float>& scores,
                     std::int64_t k, std::vector<double>* exact, CheckStats* st) {
  exact->assign(ids.size(), 0.0);
  for (std::int64_t qi = 0; qi < g_queries; ++qi) {
    std::vector<std::int64_t> seen;
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = sz(qi * k + j);
      const std::int64_t id = ids[at];
      std::ostringstream where;
      where << name << " query " << qi << " rank " << j << " id " << id;
      if (id < 0 || id >= kN) {
        st->fail(where.str() + ": id out of range");
        continue;
      }
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) st->fail(where.str() + ": duplicate id");
      seen.push_back(id);
      (*exact)[at] = exact_score(id, qi);
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
  const std::int64_t nq = g_queries;
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<float> scores_a(sz(nq * k));
  std::vector<float> scores_b(sz(nq * k));
  bool searched = false;
  for (auto _ : state) {
    try {
      ea->search(g_data->test.data(), nq, k, ids_a.data(), scores_a.data());
      eb->search(g_data->test.data(), nq, k, ids_b.data(), scores_b.data());
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
  check_dense_one(a, ids_a, scores_a, k, &exact_a, &st);
  check_dense_one(b, ids_b, scores_b, k, &exact_b, &st);
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

void quality_float(benchmark::State& state) {
  xmr::eval::MapResult r;
  for (auto _ : state) {
    try {
      r = xmr::eval::map_dense(test_view(), train_view(), xmr::Metric::Cosine,
                               {g_data->test_labels.data(), g_queries, kFashionClasses},
                               {g_data->train_labels.data(), kN, kFashionClasses},
                               {.variant = xmr::eval::MapVariant::All, .device = xmr::Device::Cpu});
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return;
    }
  }
  state.counters["map_all"] = r.map;
  state.counters["queries"] = static_cast<double>(r.queries);
  state.counters["dim"] = static_cast<double>(kD);
}

void quality_codes(benchmark::State& state, const std::string& binariser, std::int64_t bits) {
  const Codes* c = nullptr;
  xmr::eval::MapResult r;
  for (auto _ : state) {
    try {
      c = &codes_for(binariser, bits);
      r = xmr::eval::map_hamming({c->test.data(), g_queries, c->bytes}, {c->train.data(), kN, c->bytes},
                                 {g_data->test_labels.data(), g_queries, kFashionClasses},
                                 {g_data->train_labels.data(), kN, kFashionClasses},
                                 {.variant = xmr::eval::MapVariant::All, .device = xmr::Device::Cpu});
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return;
    }
  }
  state.counters["map_all"] = r.map;
  state.counters["queries"] = static_cast<double>(r.queries);
  state.counters["bits"] = static_cast<double>(bits);
  state.counters["train_s"] = c->train_s;
  state.counters["encode_s"] = c->encode_s;
}

// ------------------------------------------------------------------------------------------
// Hamming search engines.

class BinaryEngine {
 public:
  BinaryEngine() = default;
  BinaryEngine(const BinaryEngine&) = delete;
  BinaryEngine& operator=(const BinaryEngine&) = delete;
  virtual ~BinaryEngine() = default;
  virtual void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) = 0;
  virtual void search(const std::uint8_t* q, std::int64_t nq, std::int64_t k, std::int64_t* ids,
                      std::int32_t* distances) = 0;
};

class XmrBinary final : public BinaryEngine {
 public:
  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override {
    bytes_ = bits / 8;
    index_ = std::make_unique<xmr::BinaryIndex>(xmr::BinaryIndexOptions{.bits = bits, .device = xmr::Device::Cpu});
    index_->add(xmr::MatrixView<const std::uint8_t>(codes, n, bytes_));
  }
  void search(const std::uint8_t* q, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override {
    index_->search_into(xmr::MatrixView<const std::uint8_t>(q, nq, bytes_), k,
                        xmr::MatrixView<std::int64_t>(ids, nq, k), xmr::MatrixView<std::int32_t>(distances, nq, k),
                        {.device = xmr::Device::Cpu});
  }

 private:
  std::int64_t bytes_ = 0;
  std::unique_ptr<xmr::BinaryIndex> index_;
};

#ifdef XMR_BENCH_HAVE_FAISS
/// faiss::IndexBinaryFlat with its defaults, as in bench_binary.
class FaissBinary final : public BinaryEngine {
 public:
  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override {
    index_ = std::make_unique<faiss::IndexBinaryFlat>(bits);
    index_->add(n, codes);
  }
  void search(const std::uint8_t* q, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override {
    index_->search(nq, q, k, distances, ids);
  }

 private:
  std::unique_ptr<faiss::IndexBinaryFlat> index_;
};
#endif

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
  if (name == "xmr_cpu") {
    b.engine = std::make_unique<XmrBinary>();
#ifdef XMR_BENCH_HAVE_FAISS
  } else if (name == "faiss_cpu") {
    b.engine = std::make_unique<FaissBinary>();
#endif
  } else {
    throw std::runtime_error("unknown binary engine " + name);
  }
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
  bool searched = false;
  for (auto _ : state) {
    try {
      ea->engine->search(c.test.data(), nq, k, ids_a.data(), dist_a.data());
      eb->engine->search(c.test.data(), nq, k, ids_b.data(), dist_b.data());
      searched = true;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (!searched) return;
  CheckStats st;
  std::int64_t tie_diffs = 0;
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
    if (sa != sb) ++tie_diffs;
  }
  state.counters["checked_results"] = static_cast<double>(nq * k);
  state.counters["boundary_tie_diffs"] = static_cast<double>(tie_diffs);
  state.counters["problems"] = static_cast<double>(st.problems);
  if (st.problems > 0) {
    const std::string msg =
        std::to_string(st.problems) + " mismatches between " + a + " and " + b + "; first: " + st.first;
    state.SkipWithError(msg.c_str());
  }
}

// ------------------------------------------------------------------------------------------
// Registration.

void register_all() {
  const std::vector<std::int64_t> queries = {1, 100, g_queries};
  const std::string n = "/N:" + std::to_string(kN);
  // Case-major: both engines run each (Q, k) back to back.
  for (const std::int64_t q : queries) {
    for (const std::int64_t k : kNumResults) {
      for (const std::string& e : dense_engine_names()) {
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
  std::vector<std::string> binary_engines = {"xmr_cpu"};
#ifdef XMR_BENCH_HAVE_FAISS
  binary_engines.emplace_back("faiss_cpu");
#endif
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
