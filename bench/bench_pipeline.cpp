// bench_pipeline: two-stage retrieval (Hamming shortlist of C candidates, then an exact re-score
// of those C with the stored embeddings) against exact dense search, on the same data and
// through the same call (xmr::retrieve over one xmr::Collection), for issue 5.
//
// Data (text-query-image, the realistic direction): xmr::synth::make_cross_modal with N images,
// one caption each, D = 512 (its default spec otherwise), every embedding normalised to unit
// length as CLIP-like encoders emit them. The database is the N image embeddings plus their
// 128-bit codes, in one Collection (Metric::Cosine); the queries are the captions of the first Q
// images (a query's own image is in the database, as in a real text-to-image search). The codes
// come from cross-modal ITQ (xmr::train_cross_modal_itq, CCA + ITQ, default options) trained on
// kTrainPairs image-caption pairs that are not queries: the image binariser encodes the database,
// the text binariser the queries. XMR_BENCH_BINARIZER=itq trains single-space ITQ on the same
// images and captions stacked instead and encodes both sides with it (docs/benchmarks_pipeline.md
// compares the two).
//
// Cases, all k = 10, named `pipeline/<device>/<method>/N:<n>/C:<c>`:
//   exact       {.candidates = 10, .shortlist = Embeddings}: exact dense search (the baseline and
//               the ground truth)
//   two_stage   {.candidates = C, .shortlist = Codes, .rescore = Embeddings}, C in kCandidates
//               (32 ... 512, the grid, and 1024 ... 4096 beyond it)
//   codes_only  {.candidates = 10, .shortlist = Codes}: the binary codes alone
// <device> is cpu (stage 1 on Device::Cpu) and, when xmr::gpu_count() > 0, gpu (stage 1 on
// Device::Gpu through a Resources that borrows the bench's stream; the re-score runs on the CPU
// either way). Every case times the whole batched call (host wall clock, UseRealTime).
//
// Counters:
//   queries_per_s          queries answered per second
//   recall_at_10           |top-10 ∩ exact top-10| / 10, averaged over the queries (exact: 1 by
//                          definition; gpu cases compare with the CPU exact results)
//   shortlist_ms_per_query PipelineStats::shortlist_seconds per query (stage 1)
//   rescore_ms_per_query   PipelineStats::rescore_seconds per query (stage 2)
//   other_ms_per_query     the rest of the call (fusion, ordering, output, validation)
//   candidates             C
//   bytes_per_query        bytes a query logically reads: N*B/8 codes + C*D*4 re-scored rows
//                          (two_stage), N*B/8 (codes_only), N*D*4 (exact)
//   gbytes_per_s           bytes_per_query * queries/s (1e9). A batch re-uses each database block
//                          for many queries from cache, so this "effective" rate can exceed the
//                          DRAM bandwidth; it says how far from streaming the database per query
//                          the call is.
//   gflops                 (exact) 2*N*D flop per query, per second (1e9)
//   build_s                (shared) seconds to generate, train, encode and build the collection
//   invol_csw              involuntary context switches per call (contention)
//
// Environment:
//   XMR_BENCH_QUICK=1      N = 1e5 (smoke test)
//   XMR_BENCH_N            N (overrides the default 1e6 and the quick size)
//   XMR_BENCH_QUERIES      Q, queries per call (default 1000)
//   XMR_BENCH_BINARIZER    cross_modal_itq (default) or itq
// The data, binariser, collection and exact results are made once per process, on first use,
// and shared by every case.

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

namespace {

constexpr std::int64_t kDim = 512;
constexpr std::int64_t kBits = 128;
constexpr std::int64_t kK = 10;
/// C: the grid {32, ..., 512}, then 1024-4096 to show how far recall still climbs.
constexpr std::int64_t kCandidates[] = {32, 64, 128, 256, 512, 1024, 2048, 4096};
constexpr std::int64_t kTrainPairs = 50000;
constexpr std::int64_t kDefaultN = 1000000;
constexpr std::int64_t kQuickN = 100000;
constexpr std::int64_t kDefaultQueries = 1000;
constexpr std::uint64_t kSeed = 20240613;

using xmr::bench::Clock;
using xmr::bench::seconds_since;
using xmr::bench::sz;

/// A positive integer from the environment, or `fallback` when unset. Throws on garbage.
std::int64_t env_count(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);  // accepts 1e6
  if (end == v || *end != '\0' || !(d >= 1.0) || d > 1e12) {
    throw std::runtime_error(std::string(name) + " (= '" + v + "') must be a positive number");
  }
  return static_cast<std::int64_t>(d);
}

std::int64_t database_size() {
  return env_count("XMR_BENCH_N", xmr::bench::quick_mode() ? kQuickN : kDefaultN);
}

std::string binarizer_choice() {
  const char* v = std::getenv("XMR_BENCH_BINARIZER");
  const std::string s = v == nullptr || *v == '\0' ? "cross_modal_itq" : v;
  if (s != "cross_modal_itq" && s != "itq") {
    throw std::runtime_error("XMR_BENCH_BINARIZER (= '" + s + "') must be cross_modal_itq or itq");
  }
  return s;
}

void normalise_rows(std::vector<float>& m, std::int64_t rows, std::int64_t dim) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = m.data() + r * dim;
    double s = 0.0;
    for (std::int64_t c = 0; c < dim; ++c) s += static_cast<double>(row[c]) * static_cast<double>(row[c]);
    const auto inv = static_cast<float>(1.0 / std::sqrt(s));
    for (std::int64_t c = 0; c < dim; ++c) row[c] *= inv;
  }
}

/// Everything the cases share, made once.
struct Setup {
  std::int64_t n = 0;
  std::int64_t nq = 0;
  std::string binarizer;
  std::unique_ptr<xmr::Collection> collection;
  std::vector<float> query_embeddings;    // [nq x kDim], unit rows
  std::vector<std::uint8_t> query_codes;  // [nq x kBits / 8]
  std::vector<std::int64_t> exact_ids;    // [nq x kK], CPU exact search
  double generate_s = 0, train_s = 0, encode_s = 0, add_s = 0, exact_s = 0, build_s = 0;

  [[nodiscard]] xmr::Queries queries() const {
    xmr::Queries q;
    q.embeddings = xmr::MatrixView<const float>(query_embeddings.data(), nq, kDim);
    q.codes = xmr::MatrixView<const std::uint8_t>(query_codes.data(), nq, kBits / 8);
    return q;
  }
};

std::unique_ptr<Setup> make_setup() {
  auto s = std::make_unique<Setup>();
  const auto t_all = Clock::now();
  s->n = database_size();
  s->nq = env_count("XMR_BENCH_QUERIES", kDefaultQueries);
  s->binarizer = binarizer_choice();
  if (s->nq + kTrainPairs > s->n) {
    throw std::runtime_error("N (= " + std::to_string(s->n) + ") must be >= queries + " + std::to_string(kTrainPairs) +
                             " training pairs");
  }
  auto t0 = Clock::now();
  xmr::synth::CrossModalSpec spec;
  spec.num_images = s->n;
  spec.captions_per_image = 1;
  spec.dim = kDim;
  spec.seed = kSeed;
  xmr::synth::CrossModalData data = xmr::synth::make_cross_modal(spec);
  normalise_rows(data.image_embeddings, data.num_images, kDim);
  normalise_rows(data.text_embeddings, data.num_texts, kDim);
  // Queries: the captions of images [0, nq). Training pairs: images and captions [nq, nq + T).
  s->query_embeddings.assign(data.text_embeddings.begin(), data.text_embeddings.begin() + s->nq * kDim);
  s->generate_s = seconds_since(t0);

  t0 = Clock::now();
  const xmr::MatrixView<const float> train_images(data.image_embeddings.data() + s->nq * kDim, kTrainPairs, kDim);
  const xmr::MatrixView<const float> train_texts(data.text_embeddings.data() + s->nq * kDim, kTrainPairs, kDim);
  std::unique_ptr<xmr::CrossModalBinarizer> pair;
  if (s->binarizer == "cross_modal_itq") {
    pair = std::make_unique<xmr::CrossModalBinarizer>(xmr::train_cross_modal_itq(train_images, train_texts, kBits));
  } else {
    std::vector<float> stacked(data.image_embeddings.begin() + s->nq * kDim,
                               data.image_embeddings.begin() + (s->nq + kTrainPairs) * kDim);
    stacked.insert(stacked.end(), data.text_embeddings.begin() + s->nq * kDim,
                   data.text_embeddings.begin() + (s->nq + kTrainPairs) * kDim);
    const xmr::Binarizer itq =
        xmr::Binarizer::itq(xmr::MatrixView<const float>(stacked.data(), 2 * kTrainPairs, kDim), kBits);
    pair = std::make_unique<xmr::CrossModalBinarizer>(xmr::CrossModalBinarizer{itq, itq});
  }
  s->train_s = seconds_since(t0);
  data.text_embeddings = {};  // every caption but the queries is done with

  t0 = Clock::now();
  const std::vector<std::uint8_t> codes = pair->image.encode(data.images());
  s->query_codes = pair->text.encode(xmr::MatrixView<const float>(s->query_embeddings.data(), s->nq, kDim));
  s->encode_s = seconds_since(t0);

  t0 = Clock::now();
  xmr::CollectionOptions co;
  co.name = "images";
  co.dim = kDim;
  co.metric = xmr::Metric::Cosine;
  co.code_bits = kBits;
  co.device = xmr::Device::Auto;  // each call names its stage-1 device
  s->collection = std::make_unique<xmr::Collection>(co);
  xmr::CollectionBatch batch;
  batch.embeddings = data.images();
  batch.codes = xmr::MatrixView<const std::uint8_t>(codes.data(), s->n, kBits / 8);
  s->collection->add(batch);
  s->add_s = seconds_since(t0);
  data = {};

  // The ground truth: exact dense search on the CPU, through the same call.
  t0 = Clock::now();
  const xmr::PipelineResult exact =
      xmr::retrieve(*s->collection, s->queries(),
                    {.k = kK, .candidates = kK, .shortlist = xmr::ShortlistBy::Embeddings, .device = xmr::Device::Cpu});
  s->exact_ids = exact.ids;
  s->exact_s = seconds_since(t0);
  s->build_s = seconds_since(t_all);
  return s;
}

Setup* g_setup = nullptr;  // owned by g_setup_owner; null until first use
std::unique_ptr<Setup> g_setup_owner;

Setup& setup() {
  if (g_setup == nullptr) {
    g_setup_owner = make_setup();
    g_setup = g_setup_owner.get();
  }
  return *g_setup;
}

double recall_at_k(const Setup& s, const std::vector<std::int64_t>& ids) {
  std::int64_t hits = 0;
  for (std::int64_t q = 0; q < s.nq; ++q) {
    const auto* truth = s.exact_ids.data() + q * kK;
    const auto* got = ids.data() + q * kK;
    for (std::int64_t j = 0; j < kK; ++j) {
      if (got[j] >= 0 && std::find(truth, truth + kK, got[j]) != truth + kK) ++hits;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(s.nq * kK);
}

enum class Method { Exact, TwoStage, CodesOnly };

const char* method_name(Method m) {
  switch (m) {
    case Method::Exact: return "exact";
    case Method::TwoStage: return "two_stage";
    case Method::CodesOnly: return "codes_only";
  }
  return "?";
}

struct Case {
  xmr::Device device = xmr::Device::Cpu;
  Method method = Method::Exact;
  std::int64_t candidates = kK;
};

void bench_case(benchmark::State& state, const Case& c) {
  xmr::bench::XmrBenchDevice dev(c.device);
  Setup* s = nullptr;
  try {
    if (const std::string why = dev.unavailable(); !why.empty()) throw std::runtime_error(why);
    s = &setup();
    dev.prepare();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  xmr::PipelineOptions o;
  o.k = kK;
  o.candidates = c.candidates;
  o.shortlist = c.method == Method::Exact ? xmr::ShortlistBy::Embeddings : xmr::ShortlistBy::Codes;
  o.rescore = c.method == Method::TwoStage ? xmr::RescoreBy::Embeddings : xmr::RescoreBy::None;
  o.device = c.device;
  o.resources = dev.options().resources;
  const xmr::Queries queries = s->queries();

  xmr::PipelineResult r;
  double shortlist_s = 0;
  double rescore_s = 0;
  std::int64_t calls = 0;  // the untimed warm-up call included
  // One untimed call first (on a GPU: the upload of the stage-1 index and the workspaces); its
  // stage times are left out like its wall time.
  const xmr::bench::TimedSearches timed = xmr::bench::timed_searches(
      state, true,
      [&] {
        r = xmr::retrieve(*s->collection, queries, o);
        if (calls++ == 0) return;
        shortlist_s += r.stats.shortlist_seconds;
        rescore_s += r.stats.rescore_seconds;
      },
      [] { return -1.0; }, {&r});
  if (timed.warm_up_failed || calls < 2) return;
  const auto timed_calls = static_cast<double>(calls - 1);

  using benchmark::Counter;
  const auto n = static_cast<double>(s->n);
  const auto nq = static_cast<double>(s->nq);
  const auto cand = static_cast<double>(c.candidates);
  const double wall_per_query = timed.wall_s / (timed_calls * nq);
  double bytes = 0;
  switch (c.method) {
    case Method::Exact: bytes = n * kDim * 4.0; break;
    case Method::TwoStage: bytes = n * (kBits / 8) + cand * kDim * 4.0; break;
    case Method::CodesOnly: bytes = n * (kBits / 8); break;
  }
  const double per_query = 1e3 / (timed_calls * nq);  // seconds summed over calls -> ms per query
  state.counters["queries_per_s"] = Counter(nq, Counter::kIsIterationInvariantRate);
  state.counters["recall_at_10"] = recall_at_k(*s, r.ids);
  state.counters["shortlist_ms_per_query"] = shortlist_s * per_query;
  state.counters["rescore_ms_per_query"] = rescore_s * per_query;
  state.counters["other_ms_per_query"] = std::max(0.0, wall_per_query * 1e3 - (shortlist_s + rescore_s) * per_query);
  state.counters["candidates"] = cand;
  state.counters["bytes_per_query"] = bytes;
  state.counters["gbytes_per_s"] = Counter(nq * bytes * 1e-9, Counter::kIsIterationInvariantRate);
  if (c.method == Method::Exact) {
    state.counters["gflops"] = Counter(nq * 2.0 * n * kDim * 1e-9, Counter::kIsIterationInvariantRate);
  }
  state.counters["num_queries"] = nq;
  state.counters["n"] = n;
  xmr::bench::add_run_counters(state, s->build_s, timed.csw);
}

void register_all(std::int64_t n) {
  std::vector<xmr::Device> devices = {xmr::Device::Cpu};
  if (xmr::gpu_count() > 0) devices.push_back(xmr::Device::Gpu);
  for (const xmr::Device device : devices) {
    std::vector<Case> cases = {{device, Method::Exact, kK}};
    for (const std::int64_t cand : kCandidates) cases.push_back({device, Method::TwoStage, cand});
    cases.push_back({device, Method::CodesOnly, kK});
    for (const Case& c : cases) {
      const std::string name = std::string("pipeline/") + (device == xmr::Device::Gpu ? "gpu" : "cpu") + "/" +
                               method_name(c.method) + "/N:" + std::to_string(n) + "/C:" + std::to_string(c.candidates);
      benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_case(st, c); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(c.method == Method::Exact ? 1.0 : 3.0);  // exact: one call of seconds
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 0;
  try {
    n = database_size();
    static_cast<void>(binarizer_choice());
    static_cast<void>(env_count("XMR_BENCH_QUERIES", kDefaultQueries));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: %s\n", e.what());
    return 2;
  }
  register_all(n);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const bool listing = xmr::bench::has_arg(argc, argv, "--benchmark_list_tests");
  if (!listing) {
    // Build the shared state before any case, so its time is in no case's timing and the
    // context below can report it.
    try {
      setup();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_pipeline: setup failed: %s\n", e.what());
      return 1;
    }
  }
  xmr::bench::add_common_context({n});
  benchmark::AddCustomContext("dim", std::to_string(kDim));
  benchmark::AddCustomContext("code_bits", std::to_string(kBits));
  benchmark::AddCustomContext("k", std::to_string(kK));
  if (g_setup != nullptr) {
    const Setup& s = *g_setup;
    benchmark::AddCustomContext("num_queries", std::to_string(s.nq));
    benchmark::AddCustomContext("binarizer", s.binarizer);
    benchmark::AddCustomContext("train_pairs", std::to_string(kTrainPairs));
    benchmark::AddCustomContext(
        "data", "xmr::synth::make_cross_modal (default spec, dim 512, seed " + std::to_string(kSeed) +
                    ", 1 caption per image), rows normalised; database = the N image embeddings (cosine) + "
                    "128-bit codes; queries = the captions of images [0, Q); binariser trained on pairs [Q, Q + " +
                    std::to_string(kTrainPairs) + ")");
    benchmark::AddCustomContext("setup_generate_s", xmr::bench::fixed(s.generate_s, 1));
    benchmark::AddCustomContext("setup_train_s", xmr::bench::fixed(s.train_s, 1));
    benchmark::AddCustomContext("setup_encode_s", xmr::bench::fixed(s.encode_s, 1));
    benchmark::AddCustomContext("setup_add_s", xmr::bench::fixed(s.add_s, 1));
    benchmark::AddCustomContext("setup_exact_s", xmr::bench::fixed(s.exact_s, 1));
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_setup = nullptr;
  g_setup_owner.reset();  // the collection (and its GPU state) before the CUDA runtime's teardown
  return 0;
}
