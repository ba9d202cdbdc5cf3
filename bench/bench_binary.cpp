// bench_binary: exact Hamming k-NN search over packed binary codes, xmr against its peers, in
// one harness (the binary twin of bench_dense.cpp).
//
// Every engine sits behind one interface (BinaryEngine, engines.h) and sees the same codes, the same queries and
// the same thread count, so every ratio comes from one run of one binary:
//   xmr_cpu     BinaryIndex, Device::Cpu
//   xmr_gpu     BinaryIndex, Device::Gpu (registered in CUDA builds; skipped with the reason when
//               no GPU is usable)
//   faiss_cpu   faiss::IndexBinaryFlat, default settings (when built with FAISS:
//               XMR_BENCH_HAVE_FAISS)
//
// Data: B-bit codes (B/8 bytes, LSB-first as xmr stores them) of independent uniform random
// bits from a fixed-seed splitmix64 stream; the queries come from another seed, so they are
// not database rows. One database lives in memory at a time: it is generated on first use for
// an (N, B) and freed, with every engine's index, when a benchmark asks for another. Each
// engine builds its index once per (N, B) and reuses it for every Q and k.
//
// Benchmarks are named `binary/<engine>/N:<n>/bits:<b>/Q:<q>/k:<k>` (Google Benchmark appends
// `/min_time:.../real_time` or `/manual_time`). Counters:
//   queries_per_s       queries answered per second
//   gpairs_per_s        Q*N query-code pairs per search, per second (1e9)
//   frac_popcount_peak  Q*N*ceil(B/64) 64-bit xor-popcount-adds per second over a peak measured
//                       once in this process by peaks.h (CPU: all threads on an L1-resident
//                       buffer, with the best popcount instructions of this CPU; GPU, in a CUDA
//                       build: a kernel of register-resident xor + popcount + add chains)
//   frac_mem_bw         (N*B/8 + Q*B/8 + Q*k*12) bytes per second over a measured memory
//                       bandwidth (peaks.h; CPU: max of a 1 GiB huge-page parallel copy and the
//                       best parallel read; GPU: a 1 GiB device-to-device copy). Above 1 means
//                       the database was served from a cache (8-32 MB databases fit in a
//                       server's last-level cache).
//   build_s             seconds to build the index (add, plus one warm-up search)
//   invol_csw           involuntary context switches of the process per search (contention)
// In a CUDA build (XMR_BENCH_HAVE_CUDA) GPU searches are timed with CUDA events on a stream the
// bench lends to xmr through Resources, and the rates are over the median of the searches' device
// times (bench_common.h: per_second); CPU rates are over the mean wall time.
//
// Correctness: `check/<a>_vs_<b>/N:<n>/bits:<b>/k:<k>` runs both engines once on the first 100
// queries and compares each with an independent scalar reference (the exact top-1000 by
// (distance, id), from two passes over the database). xmr must equal the reference exactly:
// distances and ids, ties by ascending id. FAISS does not order ties by id, so for it the
// distances must match rank by rank, the ids must match as sets within each distance, and in
// the last distance group (cut by k) every id must carry that distance; a different choice
// among those tied codes is counted (boundary_tie_diffs), not failed. Pairs of xmr engines must
// be bit-identical. A failure is reported with SkipWithError, never silently.
//
// Sizes: N in {1e6, 1e7} by default. XMR_BENCH_QUICK=1 restricts them to N = 1e5 (smoke test);
// XMR_BENCH_SIZES=1000000,10000000,100000000 (a comma-separated N list) replaces either (an
// invalid list exits with status 2). At N = 1e8 the 256-bit codes take 3.2 GB.
// XMR_BENCH_DATA_DIR=DIR also writes the codes as DIR/binary_codes_N<n>_bits<b>.npy and
// DIR/binary_queries_bits<b>.npy (uint8, packed), for bench/torch_binary.py --data DIR.

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "engines.h"
#include "peaks.h"
#include "xmr/xmr.h"

namespace {

constexpr std::int64_t kCodeBits[] = {64, 128, 256};
constexpr std::int64_t kNumQueries[] = {1, 100, 1000};
constexpr std::int64_t kNumResults[] = {10, 100, 1000};
constexpr std::int64_t kMaxQueries = 1000;
constexpr std::int64_t kMaxResults = 1000;
constexpr std::int64_t kCheckQueries = 100;
constexpr std::uint64_t kDatabaseSeed = 20240611;
constexpr std::uint64_t kQuerySeed = 20240612;

using xmr::bench::BinaryEngine;
using xmr::bench::CheckStats;
using xmr::bench::Clock;
using xmr::bench::seconds_since;
using xmr::bench::splitmix64;
using xmr::bench::sz;

/// 64-bit words per code of `bits` bits (what a popcount kernel processes per pair).
std::int64_t words_per_code(std::int64_t bits) {
  return (bits + 63) / 64;
}

// ------------------------------------------------------------------------------------------
// Random codes: splitmix64, one stream per row, so the bytes do not depend on the thread count
// (and the first rows of a larger database equal a smaller one's).

std::vector<std::uint8_t> random_codes(std::int64_t rows, std::int64_t bytes, std::uint64_t seed) {
  std::vector<std::uint8_t> out(sz(rows * bytes));
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::uint64_t state = seed * 0xD1B54A32D192ED03ull + static_cast<std::uint64_t>(r) * 0x9E3779B97F4A7C15ull;
    std::uint8_t* row = out.data() + r * bytes;
    for (std::int64_t b = 0; b < bytes; b += 8) {
      const std::uint64_t w = splitmix64(state);
      std::memcpy(row + b, &w, sz(std::min<std::int64_t>(8, bytes - b)));
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// The independent reference: a plain loop over 64-bit words, hardware popcnt where there is one.

XMR_BENCH_TARGET_POPCNT std::int32_t reference_distance(const std::uint8_t* a, const std::uint8_t* b,
                                                        std::int64_t bytes) {
  std::int32_t d = 0;
  std::int64_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    d += __builtin_popcountll(x ^ y);
  }
  for (; i < bytes; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

// ------------------------------------------------------------------------------------------
// Data: one database (and its engines) in memory at a time.

struct BuiltEngine {
  std::unique_ptr<BinaryEngine> engine;
  double build_s = 0.0;
};

/// The exact top-kMaxResults of the first kCheckQueries queries by (distance, id), and each
/// query's distance histogram over the whole database.
struct Reference {
  std::int64_t k = 0;                   // min(kMaxResults, n)
  std::vector<std::int32_t> distances;  // [kCheckQueries x k]
  std::vector<std::int64_t> ids;        // [kCheckQueries x k]
  std::vector<std::int64_t> hist;       // [kCheckQueries x (bits + 1)]
};

struct Dataset {
  std::int64_t n = 0;
  std::int64_t bits = 0;
  std::int64_t bytes = 0;
  std::vector<std::uint8_t> base;     // [n x bytes]
  std::vector<std::uint8_t> queries;  // [kMaxQueries x bytes]
  std::map<std::string, BuiltEngine> engines;
  std::unique_ptr<Reference> reference;  // made by the first check
};

std::unique_ptr<Dataset> g_data;

Dataset& dataset(std::int64_t n, std::int64_t bits) {
  if (g_data && g_data->n == n && g_data->bits == bits) return *g_data;
  g_data.reset();  // free the previous database and indexes before allocating the next
  auto ds = std::make_unique<Dataset>();
  ds->n = n;
  ds->bits = bits;
  ds->bytes = bits / 8;
  ds->base = random_codes(n, ds->bytes, kDatabaseSeed);
  ds->queries = random_codes(kMaxQueries, ds->bytes, kQuerySeed);
  // For bench/torch_binary.py --data (XMR_BENCH_DATA_DIR).
  const std::string b = std::to_string(bits);
  xmr::bench::export_matrix("binary_codes_N" + std::to_string(n) + "_bits" + b, ds->base.data(), n, ds->bytes);
  xmr::bench::export_matrix("binary_queries_bits" + b, ds->queries.data(), kMaxQueries, ds->bytes);
  g_data = std::move(ds);
  return *g_data;
}

/// Two passes over the database per query (a histogram gives the k-th distance; the second pass
/// collects the codes below it and the first ones at it), database-block-major so a block is
/// reused by all queries while it is in cache.
const Reference& reference(Dataset& ds) {
  if (ds.reference) return *ds.reference;
  auto ref = std::make_unique<Reference>();
  const std::int64_t nq = kCheckQueries;
  const std::int64_t bins = ds.bits + 1;
  const std::int64_t k = std::min(kMaxResults, ds.n);
  constexpr std::int64_t kBlock = 16384;
  ref->k = k;
  ref->hist.assign(sz(nq * bins), 0);
  const std::uint8_t* base = ds.base.data();
  const std::uint8_t* queries = ds.queries.data();
  const std::int64_t bytes = ds.bytes;
  const std::int64_t n = ds.n;
  std::int64_t* hist = ref->hist.data();
#pragma omp parallel
  for (std::int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const std::int64_t r1 = std::min(n, r0 + kBlock);
#pragma omp for schedule(static) nowait
    for (std::int64_t q = 0; q < nq; ++q) {
      for (std::int64_t r = r0; r < r1; ++r)
        ++hist[q * bins + reference_distance(queries + q * bytes, base + r * bytes, bytes)];
    }
  }
  // Per query: the cut distance and how many codes at it the top-k takes.
  std::vector<std::int32_t> cut(sz(nq));
  std::vector<std::int64_t> take_at_cut(sz(nq));
  for (std::int64_t q = 0; q < nq; ++q) {
    std::int64_t cum = 0;
    for (std::int64_t d = 0; d < bins; ++d) {
      const std::int64_t h = hist[q * bins + d];
      if (cum + h >= k) {
        cut[sz(q)] = static_cast<std::int32_t>(d);
        take_at_cut[sz(q)] = k - cum;
        break;
      }
      cum += h;
    }
  }
  std::vector<std::vector<std::pair<std::int32_t, std::int64_t>>> found(sz(nq));
  for (auto& f : found) f.reserve(sz(k));
  std::vector<std::int64_t> at_cut(sz(nq), 0);
#pragma omp parallel
  for (std::int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const std::int64_t r1 = std::min(n, r0 + kBlock);
#pragma omp for schedule(static) nowait
    for (std::int64_t q = 0; q < nq; ++q) {
      // Rows in ascending order: the first codes at the cut are the smallest ids.
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int32_t d = reference_distance(queries + q * bytes, base + r * bytes, bytes);
        if (d < cut[sz(q)] || (d == cut[sz(q)] && at_cut[sz(q)] < take_at_cut[sz(q)])) {
          at_cut[sz(q)] += d == cut[sz(q)] ? 1 : 0;
          found[sz(q)].emplace_back(d, r);
        }
      }
    }
  }
  ref->distances.resize(sz(nq * k));
  ref->ids.resize(sz(nq * k));
  for (std::int64_t q = 0; q < nq; ++q) {
    auto& f = found[sz(q)];
    std::sort(f.begin(), f.end());
    if (static_cast<std::int64_t>(f.size()) != k) throw std::logic_error("reference: wrong candidate count");
    for (std::int64_t j = 0; j < k; ++j) {
      ref->distances[sz(q * k + j)] = f[sz(j)].first;
      ref->ids[sz(q * k + j)] = f[sz(j)].second;
    }
  }
  ds.reference = std::move(ref);
  return *ds.reference;
}

/// Throws (with the reason) when engine `name` cannot run here; checked before any data is made.
void require_available(const std::string& name) {
  if (const std::string why = xmr::bench::make_binary_engine(name)->unavailable(); !why.empty())
    throw std::runtime_error(why);
}

/// The engine `name` with its index over `ds`, built on first use. Throws when the engine is
/// unknown or unavailable here (the message says why) or its build fails.
BuiltEngine& engine_for(Dataset& ds, const std::string& name) {
  if (auto it = ds.engines.find(name); it != ds.engines.end()) return it->second;
  BuiltEngine built{xmr::bench::make_binary_engine(name), 0.0};
  if (const std::string why = built.engine->unavailable(); !why.empty()) throw std::runtime_error(why);
  const auto t0 = Clock::now();
  built.engine->build(ds.base.data(), ds.n, ds.bits);
  // Warm-up search: thread pools, first-touch of scratch, the GPU upload of the index.
  std::vector<std::int64_t> ids(10);
  std::vector<std::int32_t> distances(10);
  built.engine->search(ds.queries.data(), 1, 10, ids.data(), distances.data());
  built.build_s = seconds_since(t0);
  return ds.engines.emplace(name, std::move(built)).first->second;
}

// ------------------------------------------------------------------------------------------
// Benchmarks.

struct SearchCase {
  std::string engine;
  std::int64_t n = 0;
  std::int64_t bits = 0;
  std::int64_t q = 0;
  std::int64_t k = 0;
};

void bench_search(benchmark::State& state, const SearchCase& c) {
  Dataset* ds = nullptr;
  BuiltEngine* be = nullptr;
  try {
    require_available(c.engine);
    ds = &dataset(c.n, c.bits);
    be = &engine_for(*ds, c.engine);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  BinaryEngine& engine = *be->engine;
  std::vector<std::int64_t> ids(sz(c.q * c.k));
  std::vector<std::int32_t> distances(sz(c.q * c.k));
  const xmr::bench::TimedSearches timed = xmr::bench::timed_searches(
      state, engine.on_gpu(), [&] { engine.search(ds->queries.data(), c.q, c.k, ids.data(), distances.data()); },
      [&] { return engine.last_device_seconds(); }, {ids.data(), distances.data()});
  if (timed.warm_up_failed) return;
  const double wall_s = timed.wall_s;
  const long csw = timed.csw;
  using benchmark::Counter;
  const double n = static_cast<double>(c.n);
  const double q = static_cast<double>(c.q);
  const double k = static_cast<double>(c.k);
  const double code_bytes = static_cast<double>(c.bits / 8);
  const double words = q * n * static_cast<double>(words_per_code(c.bits));
  const double bytes = n * code_bytes + q * code_bytes + q * k * 12.0;
  state.counters["queries_per_s"] = xmr::bench::per_second(q, timed);
  state.counters["gpairs_per_s"] = xmr::bench::per_second(q * n * 1e-9, timed);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  const xmr::bench::Peaks& peaks = xmr::bench::peaks();
  double popcount_peak = 0.0;
  double mem_peak = 0.0;
  if (engine.on_gpu()) {
    popcount_peak = peaks.gpu_popcount_words;
    mem_peak = peaks.gpu_copy_bw;
    // Host-side latency per search (the reported time is the CUDA-event time, when measured).
    state.counters["wall_ms"] = Counter(wall_s * 1e3, Counter::kAvgIterations);
  } else {
    popcount_peak = peaks.cpu_popcount_words;
    mem_peak = peaks.cpu_mem_bw;
  }
  if (popcount_peak > 0.0) {
    state.counters["frac_popcount_peak"] = xmr::bench::per_second(words / popcount_peak, timed);
  }
  if (mem_peak > 0.0) state.counters["frac_mem_bw"] = xmr::bench::per_second(bytes / mem_peak, timed);
  xmr::bench::add_run_counters(state, be->build_s, csw);
}

/// Validates one engine's [nq x k] results against the reference (see the file comment).
void check_one(const Dataset& ds, const Reference& ref, const BinaryEngine& engine,
               const std::vector<std::int64_t>& ids, const std::vector<std::int32_t>& distances, std::int64_t nq,
               std::int64_t k, CheckStats* st) {
  const std::string name = engine.name();
  const bool strict = engine.orders_ties_by_id();
  const std::int64_t bins = ds.bits + 1;
  for (std::int64_t qi = 0; qi < nq; ++qi) {
    const std::int64_t* got_id = ids.data() + qi * k;
    const std::int32_t* got_d = distances.data() + qi * k;
    const std::int64_t* ref_id = ref.ids.data() + qi * ref.k;
    const std::int32_t* ref_d = ref.distances.data() + qi * ref.k;
    auto where = [&](std::int64_t j) {
      std::ostringstream o;
      o << name << " query " << qi << " rank " << j << " (id " << got_id[j] << ", distance " << got_d[j]
        << "; reference id " << ref_id[j] << ", distance " << ref_d[j] << ")";
      return o.str();
    };
    bool ok = true;
    for (std::int64_t j = 0; j < k && ok; ++j) {
      if (got_d[j] != ref_d[j]) {
        st->fail(where(j) + ": distance differs");
        ok = false;
      } else if (got_id[j] < 0 || got_id[j] >= ds.n) {
        st->fail(where(j) + ": id out of range");
        ok = false;
      } else if (reference_distance(ds.queries.data() + qi * ds.bytes, ds.base.data() + got_id[j] * ds.bytes,
                                    ds.bytes) != got_d[j]) {
        st->fail(where(j) + ": reported distance is not the code's distance");
        ok = false;
      } else if (strict && got_id[j] != ref_id[j]) {
        st->fail(where(j) + ": id differs (ties must be by ascending id)");
        ok = false;
      }
    }
    if (!ok || strict) continue;
    // Ids as sets within each group of equal distance.
    for (std::int64_t a = 0; a < k;) {
      std::int64_t b = a;
      while (b < k && ref_d[b] == ref_d[a]) ++b;
      std::vector<std::int64_t> g(got_id + a, got_id + b);
      std::vector<std::int64_t> r(ref_id + a, ref_id + b);
      std::sort(g.begin(), g.end());
      std::sort(r.begin(), r.end());
      if (std::adjacent_find(g.begin(), g.end()) != g.end()) {
        st->fail(where(a) + ": duplicate ids at this distance");
        break;
      }
      if (g != r) {
        // The last group may be cut by k: any of the tied codes is a correct answer there (each
        // id's distance was verified above).
        const bool cut = b == k && b - a < ref.hist[sz(qi * bins + ref_d[a])];
        if (!cut) {
          st->fail(where(a) + ": ids at this distance differ from the reference");
          break;
        }
        ++st->boundary_tie_diffs;
      }
      a = b;
    }
  }
}

void bench_check(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t n, std::int64_t bits,
                 std::int64_t k) {
  Dataset* ds = nullptr;
  BinaryEngine* ea = nullptr;
  BinaryEngine* eb = nullptr;
  const Reference* ref = nullptr;
  try {
    require_available(a);
    require_available(b);
    ds = &dataset(n, bits);
    ea = engine_for(*ds, a).engine.get();
    eb = engine_for(*ds, b).engine.get();
    ref = &reference(*ds);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::int64_t nq = kCheckQueries;
  if (k > ref->k) {
    state.SkipWithError("k is larger than the reference's top-k");
    return;
  }
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<std::int32_t> dist_a(sz(nq * k));
  std::vector<std::int32_t> dist_b(sz(nq * k));
  const bool searched = xmr::bench::run_check_searches(state, [&] {
    ea->search(ds->queries.data(), nq, k, ids_a.data(), dist_a.data());
    eb->search(ds->queries.data(), nq, k, ids_b.data(), dist_b.data());
  });
  if (!searched) return;
  CheckStats st;
  check_one(*ds, *ref, *ea, ids_a, dist_a, nq, k, &st);
  check_one(*ds, *ref, *eb, ids_b, dist_b, nq, k, &st);
  // Two engines that both promise xmr's contract must agree bit for bit.
  if (ea->orders_ties_by_id() && eb->orders_ties_by_id() && (ids_a != ids_b || dist_a != dist_b)) {
    st.fail(a + " and " + b + " results are not bit-identical");
  }
  xmr::bench::report_check(state, xmr::bench::CheckKind::Binary, a, b, nq * k, st);
}

// ------------------------------------------------------------------------------------------
// Registration and context.

void register_all(const std::vector<std::int64_t>& sizes) {
  for (const std::int64_t n : sizes) {
    for (const std::int64_t bits : kCodeBits) {
      // Case-major order: every engine runs one case back to back, so the ratios compare
      // measurements taken close together (on a shared machine, load changes over minutes).
      for (const std::int64_t q : kNumQueries) {
        for (const std::int64_t k : kNumResults) {
          for (const auto& spec : xmr::bench::binary_engine_specs()) {
            const std::string engine = spec.name;
            const std::string name = "binary/" + engine + "/N:" + std::to_string(n) + "/bits:" + std::to_string(bits) +
                                     "/Q:" + std::to_string(q) + "/k:" + std::to_string(k);
            SearchCase c{engine, n, bits, q, k};
            auto* b = benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& st) { bench_search(st, c); });
            // At least 1 s per case (one iteration when a search takes longer).
            b->Unit(benchmark::kMillisecond)->MinTime(1.0);
            xmr::bench::use_search_time(b, engine == "xmr_gpu");
          }
        }
      }
      std::vector<std::pair<std::string, std::string>> pairs;
      if (xmr::bench::has_binary_engine("faiss_cpu")) pairs.emplace_back("xmr_cpu", "faiss_cpu");
      if (xmr::bench::has_binary_engine("xmr_gpu")) pairs.emplace_back("xmr_gpu", "xmr_cpu");
      for (const auto& pair : pairs) {
        // Named references, not a structured binding: clang 14 cannot capture bindings in lambdas.
        const std::string& a = pair.first;
        const std::string& b = pair.second;
        for (const std::int64_t k : kNumResults) {
          const std::string name = "check/" + a + "_vs_" + b + "/N:" + std::to_string(n) +
                                   "/bits:" + std::to_string(bits) + "/k:" + std::to_string(k);
          benchmark::RegisterBenchmark(name.c_str(),
                                       [a, b, n, bits, k](benchmark::State& st) { bench_check(st, a, b, n, bits, k); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->Iterations(1);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::int64_t> sizes = xmr::bench::sizes_from_env(
      xmr::bench::quick_mode() ? std::vector<std::int64_t>{100000} : std::vector<std::int64_t>{1000000, 10000000});
  register_all(sizes);

  constexpr unsigned kPeaks = xmr::bench::kPeakCpuPopcount | xmr::bench::kPeakCpuMemory | xmr::bench::kPeakGpu;
  if (!xmr::bench::initialize_and_measure_peaks(&argc, argv, kPeaks)) return 1;

  xmr::bench::add_common_context(sizes);
  benchmark::AddCustomContext("xmr_popcount_kernel", xmr::hamming_cpu_kernel());
  if (const char* forced = std::getenv("XMR_CPU_ISA"); forced != nullptr) {
    benchmark::AddCustomContext("xmr_cpu_isa_env", forced);
  }
  benchmark::AddCustomContext("data", "uniform random bits (splitmix64, fixed seeds); queries are not database rows");
  xmr::bench::add_peaks_context();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_data.reset();  // engines (and their GPU state) before the CUDA runtime's static teardown
  return 0;
}
