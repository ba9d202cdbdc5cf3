// bench_pipeline: two-stage retrieval (Hamming shortlist of C candidates, then an exact re-score
// of those C with the stored embeddings) against exact dense search, on the same data and
// through the same call (xmr::retrieve over one xmr::Collection), for issue 5. Two data sets,
// each a series of cases of its own (one run measures both; one data set is in memory at a time):
//
// cross_modal (text-query-image): xmr::synth::make_cross_modal with N images, one caption each,
//   D = 512 (its default spec otherwise), every embedding normalised to unit length as CLIP-like
//   encoders emit them. The database is the N image embeddings; the queries are the captions of
//   the first Q images (a query's own image is in the database, as in a real text-to-image
//   search). The codes come from cross-modal ITQ (xmr::train_cross_modal_itq, CCA + ITQ, default
//   options) trained on kTrainPairs image-caption pairs that are not queries: the image binariser
//   encodes the database, the text binariser the queries. XMR_BENCH_BINARIZER=itq trains
//   single-space ITQ on the same images and captions stacked instead and encodes both sides with
//   it (docs/benchmarks_pipeline.md compares the two). Here the isotropic per-item noise decides
//   which same-label images are a query's exact top-10.
//
// spectrum (one modality, a decaying eigenvalue spectrum like learned embeddings): item
//   x = sigma ⊙ (c + s·g), normalised to unit length, where sigma_j = j^-alpha (j = 1..512, axis
//   aligned), c is one of N / kSpectrumClusterSize centres (independent standard normal, drawn
//   once: 1000 at N = 1e6; the cluster size, not the count, is fixed, so a smaller N keeps the
//   difficulty of a query's top-10 within its cluster) and g an independent standard normal
//   offset, s = kSpectrumOffset. So the centres and the offsets both have the spectrum's shape,
//   and the database is a mixture of Gaussian clusters (about 1000 items each, uniform random
//   assignment) with covariances proportional to diag(sigma^2). alpha = 0.5 by default (eigenvalues ~ 1/j: 90% of
//   the variance in the top 259 of 512 directions): an assumption meant to mimic CLIP-like
//   spectra, not a measurement; XMR_BENCH_SPECTRUM_ALPHA changes it. Axis aligned rather than
//   rotated because everything measured is invariant under a fixed rotation of the space: the
//   cosine scores (so the exact top-10), and ITQ (it projects on the principal directions of its
//   training sample, wherever they point, then learns its own rotation). The queries are Q fresh
//   items from the same generator (own random stream, centres shared): same-modality queries
//   that are not in the database. The codes come from single-space ITQ (xmr::Binarizer::itq,
//   default options) trained on the first kTrainPairs database items; it encodes both sides.
//   Deterministic in kSeed: the normals come from xmr::synth::random_normal in fixed chunks of
//   rows (each chunk its own seed, so the thread count does not matter) and the cluster of a row
//   from a splitmix64 hash of its index.
//
// Each database also holds its 128-bit codes, in one Collection (Metric::Cosine).
//
// Cases, all k = 10, named `pipeline/<device>/<data>/<method>/N:<n>/C:<c>`, <data> = cross_modal
// or spectrum:
//   exact       {.candidates = 10, .shortlist = Embeddings}: exact dense search (the baseline and
//               the ground truth)
//   two_stage   {.candidates = C, .shortlist = Codes, .rescore = Embeddings}, C in kCandidates
//               (32 ... 512, the grid, and 1024 ... 4096 beyond it)
//   codes_only  {.candidates = 10, .shortlist = Codes}: the binary codes alone
// <device> is cpu (stage 1 on Device::Cpu) and, when xmr::gpu_count() > 0, gpu (stage 1 on
// Device::Gpu through a Resources that borrows the bench's stream; the re-score runs on the CPU
// either way). Every case times the whole batched call (host wall clock, UseRealTime). The cases
// run data set by data set; a data set is made on its first case and freed before the next one.
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
//   build_s                seconds to generate, train, encode and build the case's data set
//   setup_{generate,train,encode,add,exact}_s  the parts of build_s
//   invol_csw              involuntary context switches per call (contention)
//
// Environment:
//   XMR_BENCH_QUICK=1      N = 1e5 (smoke test)
//   XMR_BENCH_N            N (overrides the default 1e6 and the quick size)
//   XMR_BENCH_QUERIES      Q, queries per call (default 1000)
//   XMR_BENCH_BINARIZER    cross_modal data: cross_modal_itq (default) or itq
//   XMR_BENCH_SPECTRUM_ALPHA  spectrum data: alpha (default 0.5, in [0, 4])
// --benchmark_filter=^pipeline/cpu/spectrum/ (or .../cross_modal/) runs one data set: the other
// is then never made.

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
/// The spectrum data set: mean items per cluster, offset scale (relative to a centre), default
/// alpha, and rows per chunk of random_normal (fixed, so the data do not depend on the thread
/// count).
constexpr std::int64_t kSpectrumClusterSize = 1000;
constexpr double kSpectrumOffset = 0.5;
constexpr double kDefaultSpectrumAlpha = 0.5;
constexpr std::int64_t kSpectrumChunkRows = 4096;

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

double spectrum_alpha() {
  const char* v = std::getenv("XMR_BENCH_SPECTRUM_ALPHA");
  if (v == nullptr || *v == '\0') return kDefaultSpectrumAlpha;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(d >= 0.0 && d <= 4.0)) {
    throw std::runtime_error(std::string("XMR_BENCH_SPECTRUM_ALPHA (= '") + v + "') must be a number in [0, 4]");
  }
  return d;
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

/// Centres of the spectrum data set for N items.
std::int64_t spectrum_clusters(std::int64_t n) {
  return std::max<std::int64_t>(1, n / kSpectrumClusterSize);
}

enum class DataSet { CrossModal, Spectrum };

const char* data_name(DataSet d) {
  return d == DataSet::CrossModal ? "cross_modal" : "spectrum";
}

/// splitmix64's finaliser: a fixed, platform-independent hash.
std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// `rows` unit-length items of the spectrum data set (see the file comment) from random stream
/// `stream`: row r gets cluster mix64(stream_seed ^ mix64(r)) mod the cluster count and the normals
/// of chunk r / kSpectrumChunkRows, each chunk drawn by random_normal with its own seed.
std::vector<float> spectrum_items(std::int64_t rows, std::uint64_t stream, const std::vector<float>& centres,
                                  const std::vector<double>& sigma) {
  const auto clusters = static_cast<std::uint64_t>(centres.size()) / static_cast<std::uint64_t>(kDim);
  std::vector<float> out(sz(rows * kDim));
  const std::uint64_t stream_seed = mix64(kSeed ^ mix64(stream));
  const std::int64_t chunks = (rows + kSpectrumChunkRows - 1) / kSpectrumChunkRows;
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    const std::int64_t r0 = ch * kSpectrumChunkRows;
    const std::int64_t nr = std::min(kSpectrumChunkRows, rows - r0);
    // A prefix of the chunk's full stream: a row's values do not depend on `rows`.
    const std::vector<float> g =
        xmr::synth::random_normal(nr, kDim, stream_seed ^ mix64(static_cast<std::uint64_t>(ch) + 1));
    for (std::int64_t i = 0; i < nr; ++i) {
      const auto r = static_cast<std::uint64_t>(r0 + i);
      const auto cluster = static_cast<std::int64_t>(mix64(stream_seed ^ mix64(r)) % clusters);
      const float* c = centres.data() + cluster * kDim;
      const float* gi = g.data() + i * kDim;
      float* x = out.data() + (r0 + i) * kDim;
      double norm = 0.0;
      for (std::int64_t j = 0; j < kDim; ++j) {
        const double v = sigma[sz(j)] * (static_cast<double>(c[j]) + kSpectrumOffset * static_cast<double>(gi[j]));
        x[j] = static_cast<float>(v);
        norm += v * v;
      }
      const double inv = 1.0 / std::sqrt(norm);
      for (std::int64_t j = 0; j < kDim; ++j) x[j] = static_cast<float>(static_cast<double>(x[j]) * inv);
    }
  }
  return out;
}

/// Everything the cases of one data set share, made once.
struct Setup {
  DataSet data = DataSet::CrossModal;
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

/// Cross-modal data: trains the binariser pair, fills the queries and their codes, and returns
/// the database embeddings [n x kDim] with their codes.
std::vector<float> make_cross_modal(Setup& s, std::vector<std::uint8_t>& codes) {
  auto t0 = Clock::now();
  xmr::synth::CrossModalSpec spec;
  spec.num_images = s.n;
  spec.captions_per_image = 1;
  spec.dim = kDim;
  spec.seed = kSeed;
  xmr::synth::CrossModalData data = xmr::synth::make_cross_modal(spec);
  normalise_rows(data.image_embeddings, data.num_images, kDim);
  normalise_rows(data.text_embeddings, data.num_texts, kDim);
  // Queries: the captions of images [0, nq). Training pairs: images and captions [nq, nq + T).
  s.query_embeddings.assign(data.text_embeddings.begin(), data.text_embeddings.begin() + s.nq * kDim);
  s.generate_s = seconds_since(t0);

  t0 = Clock::now();
  const xmr::MatrixView<const float> train_images(data.image_embeddings.data() + s.nq * kDim, kTrainPairs, kDim);
  const xmr::MatrixView<const float> train_texts(data.text_embeddings.data() + s.nq * kDim, kTrainPairs, kDim);
  std::unique_ptr<xmr::CrossModalBinarizer> pair;
  if (s.binarizer == "cross_modal_itq") {
    pair = std::make_unique<xmr::CrossModalBinarizer>(xmr::train_cross_modal_itq(train_images, train_texts, kBits));
  } else {
    std::vector<float> stacked(data.image_embeddings.begin() + s.nq * kDim,
                               data.image_embeddings.begin() + (s.nq + kTrainPairs) * kDim);
    stacked.insert(stacked.end(), data.text_embeddings.begin() + s.nq * kDim,
                   data.text_embeddings.begin() + (s.nq + kTrainPairs) * kDim);
    const xmr::Binarizer itq =
        xmr::Binarizer::itq(xmr::MatrixView<const float>(stacked.data(), 2 * kTrainPairs, kDim), kBits);
    pair = std::make_unique<xmr::CrossModalBinarizer>(xmr::CrossModalBinarizer{itq, itq});
  }
  s.train_s = seconds_since(t0);
  data.text_embeddings = {};  // every caption but the queries is done with

  t0 = Clock::now();
  codes = pair->image.encode(data.images());
  s.query_codes = pair->text.encode(xmr::MatrixView<const float>(s.query_embeddings.data(), s.nq, kDim));
  s.encode_s = seconds_since(t0);
  return std::move(data.image_embeddings);
}

/// Spectrum data: as make_cross_modal, with one ITQ binariser for both sides.
std::vector<float> make_spectrum(Setup& s, std::vector<std::uint8_t>& codes) {
  auto t0 = Clock::now();
  const double alpha = spectrum_alpha();
  std::vector<double> sigma(sz(kDim));
  for (std::int64_t j = 0; j < kDim; ++j) sigma[sz(j)] = std::pow(static_cast<double>(j + 1), -alpha);
  const std::vector<float> centres = xmr::synth::random_normal(spectrum_clusters(s.n), kDim, mix64(kSeed ^ 0xC3u));
  std::vector<float> items = spectrum_items(s.n, 1, centres, sigma);  // stream 1: the database
  s.query_embeddings = spectrum_items(s.nq, 2, centres, sigma);       // stream 2: the queries
  s.generate_s = seconds_since(t0);

  t0 = Clock::now();
  // Trained on the first T database items (the queries are not in the database).
  const xmr::Binarizer itq = xmr::Binarizer::itq(xmr::MatrixView<const float>(items.data(), kTrainPairs, kDim), kBits);
  s.train_s = seconds_since(t0);

  t0 = Clock::now();
  codes = itq.encode(xmr::MatrixView<const float>(items.data(), s.n, kDim));
  s.query_codes = itq.encode(xmr::MatrixView<const float>(s.query_embeddings.data(), s.nq, kDim));
  s.encode_s = seconds_since(t0);
  return items;
}

std::unique_ptr<Setup> make_setup(DataSet data) {
  auto s = std::make_unique<Setup>();
  const auto t_all = Clock::now();
  s->data = data;
  s->n = database_size();
  s->nq = env_count("XMR_BENCH_QUERIES", kDefaultQueries);
  s->binarizer = data == DataSet::CrossModal ? binarizer_choice() : "itq";
  const std::int64_t needed = data == DataSet::CrossModal ? s->nq + kTrainPairs : kTrainPairs;
  if (needed > s->n) {
    throw std::runtime_error("N (= " + std::to_string(s->n) + ") must be >= " + std::to_string(needed) + " (" +
                             data_name(data) + ": queries and training items from the database)");
  }
  std::vector<std::uint8_t> codes;
  std::vector<float> embeddings = data == DataSet::CrossModal ? make_cross_modal(*s, codes) : make_spectrum(*s, codes);

  auto t0 = Clock::now();
  xmr::CollectionOptions co;
  co.name = data_name(data);
  co.dim = kDim;
  co.metric = xmr::Metric::Cosine;
  co.code_bits = kBits;
  co.device = xmr::Device::Auto;  // each call names its stage-1 device
  s->collection = std::make_unique<xmr::Collection>(co);
  xmr::CollectionBatch batch;
  batch.embeddings = xmr::MatrixView<const float>(embeddings.data(), s->n, kDim);
  batch.codes = xmr::MatrixView<const std::uint8_t>(codes.data(), s->n, kBits / 8);
  s->collection->add(batch);
  s->add_s = seconds_since(t0);
  embeddings = {};
  codes = {};

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

std::unique_ptr<Setup> g_setup;  // the data set in memory, if any
std::string g_setup_error[2];    // per data set: why its setup failed, if it did

/// The shared state of `data`, made on first use. Frees the other data set first, so only one is
/// in memory (each is 2 GB of fp32 at N = 1e6, plus the copy being added). A failed setup throws
/// again for every later case of that data set without being retried.
Setup& setup(DataSet data) {
  if (g_setup != nullptr && g_setup->data == data) return *g_setup;
  std::string& error = g_setup_error[data == DataSet::CrossModal ? 0 : 1];
  if (!error.empty()) throw std::runtime_error(error);
  g_setup.reset();
  try {
    g_setup = make_setup(data);
  } catch (const std::exception& e) {
    error = std::string(data_name(data)) + " setup failed: " + e.what();
    std::fprintf(stderr, "bench_pipeline: %s\n", error.c_str());
    throw std::runtime_error(error);
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
  DataSet data = DataSet::CrossModal;
  xmr::Device device = xmr::Device::Cpu;
  Method method = Method::Exact;
  std::int64_t candidates = kK;
};

void bench_case(benchmark::State& state, const Case& c) {
  xmr::bench::XmrBenchDevice dev(c.device);
  Setup* s = nullptr;
  try {
    if (const std::string why = dev.unavailable(); !why.empty()) throw std::runtime_error(why);
    s = &setup(c.data);
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
  state.counters["setup_generate_s"] = s->generate_s;
  state.counters["setup_train_s"] = s->train_s;
  state.counters["setup_encode_s"] = s->encode_s;
  state.counters["setup_add_s"] = s->add_s;
  state.counters["setup_exact_s"] = s->exact_s;
  xmr::bench::add_run_counters(state, s->build_s, timed.csw);
}

void register_all(std::int64_t n) {
  std::vector<xmr::Device> devices = {xmr::Device::Cpu};
  if (xmr::gpu_count() > 0) devices.push_back(xmr::Device::Gpu);
  // Data set by data set (Google Benchmark runs cases in registration order), so each is made
  // once and freed before the next.
  for (const DataSet data : {DataSet::CrossModal, DataSet::Spectrum}) {
    for (const xmr::Device device : devices) {
      std::vector<Case> cases = {{data, device, Method::Exact, kK}};
      for (const std::int64_t cand : kCandidates) cases.push_back({data, device, Method::TwoStage, cand});
      cases.push_back({data, device, Method::CodesOnly, kK});
      for (const Case& c : cases) {
        const std::string name = std::string("pipeline/") + (device == xmr::Device::Gpu ? "gpu" : "cpu") + "/" +
                                 data_name(data) + "/" + method_name(c.method) + "/N:" + std::to_string(n) +
                                 "/C:" + std::to_string(c.candidates);
        benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_case(st, c); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(c.method == Method::Exact ? 1.0 : 3.0);  // exact: one call of seconds
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 0;
  std::int64_t nq = 0;
  std::string binarizer;
  double alpha = 0;
  try {
    n = database_size();
    binarizer = binarizer_choice();
    alpha = spectrum_alpha();
    nq = env_count("XMR_BENCH_QUERIES", kDefaultQueries);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: %s\n", e.what());
    return 2;
  }
  register_all(n);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // Each data set is made on its first case (outside the timing), so the setup times are
  // counters of every case (setup_*_s), not context.
  xmr::bench::add_common_context({n});
  benchmark::AddCustomContext("dim", std::to_string(kDim));
  benchmark::AddCustomContext("code_bits", std::to_string(kBits));
  benchmark::AddCustomContext("k", std::to_string(kK));
  benchmark::AddCustomContext("num_queries", std::to_string(nq));
  benchmark::AddCustomContext("train_pairs", std::to_string(kTrainPairs));
  benchmark::AddCustomContext("binarizer_cross_modal", binarizer);
  benchmark::AddCustomContext("binarizer_spectrum", "itq");
  benchmark::AddCustomContext(
      "data_cross_modal", "xmr::synth::make_cross_modal (default spec, dim 512, seed " + std::to_string(kSeed) +
                              ", 1 caption per image), rows normalised; database = the N image embeddings (cosine) + "
                              "128-bit codes; queries = the captions of images [0, Q); binariser trained on pairs [Q, "
                              "Q + " +
                              std::to_string(kTrainPairs) + ")");
  benchmark::AddCustomContext(
      "data_spectrum",
      "x = sigma * (c + " + xmr::bench::fixed(kSpectrumOffset, 2) + " g), sigma_j = j^-" + xmr::bench::fixed(alpha, 2) +
          " (axis aligned, dim 512), c one of " + std::to_string(spectrum_clusters(n)) +
          " standard normal centres, g standard normal, rows normalised, seed " + std::to_string(kSeed) +
          "; database = N items (cosine) + 128-bit codes; queries = Q fresh items from the same generator (not in the "
          "database); ITQ trained on database items [0, " +
          std::to_string(kTrainPairs) + ")");
  benchmark::AddCustomContext("spectrum_alpha", xmr::bench::fixed(alpha, 2));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_setup.reset();  // the collection (and its GPU state) before the CUDA runtime's teardown
  return 0;
}
