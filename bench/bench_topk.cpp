// bench_topk: top-k selection alone (issue 7), over a resident [Q x N] fp32 score matrix, xmr's
// selection against what a user would reach for instead, in one harness:
//   xmr_cpu    xmr's CPU selection (engine/cpu/topk_buffer.h, select_key.h: TopKBuffer's
//              vectorised threshold prefilter, nth_element when its buffer fills, write_smallest)
//              on a resident matrix: with at least one row per OpenMP thread, whole rows in
//              parallel; with fewer, each row's columns split between the threads and the
//              per-thread candidates merged (as dense_cpu.cpp merges its workers'). Output:
//              selection keys, best first, ties by ascending column.
//   faiss_cpu  FAISS's own k-selection (faiss/utils/Heap.h): float_minheap_array_t heapify, addn
//              over the rows (FAISS parallelises over rows inside addn), reorder. Ties: FAISS's
//              heap order, not by id.
//   std_cpu    per row, std::nth_element then std::sort of the first k over column indices ordered
//              by (descending score, ascending column): the C++ a user writes; rows in parallel
//              (OpenMP), one row single-threaded.
//   xmr_gpu    (CUDA builds, when a GPU is present) the kernels of xmr's GPU searches on a
//              device-resident matrix: k <= kFastMaxK (2048) kernels::select_tile_into_run over
//              whole rows (CUB block radix sorts of 4096-score chunks, reduced); larger k
//              kernels::scores_to_keys and CUB's segmented radix sort (the general path).
//              CUDA-event time on the bench's stream (manual time); its rates are over the
//              median of the selections' device times (bench_common.h: per_second).
// The GPU peer is bench/torch_topk.py (torch.topk), run by scripts/bench_gpu.sh on the same file.
//
// Data: one matrix per N of max-Q rows, xmr::synth::random_normal (fixed seed) rounded to
// multiples of 2^-12 so equal scores occur (the tie rule is exercised); a case with Q rows uses
// the first Q. With XMR_BENCH_DATA_DIR=DIR the matrix is also written to
// DIR/topk_scores_N<n>.npy, so a baseline runs on the same bytes.
//
// Cases: `topk/<engine>/N:<n>/Q:<q>/k:<k>`, Q * N <= 1e9 (4 GB of scores). Counters:
//   queries_per_s  rows selected per second
//   scores_per_s   Q * N scores per second
//   frac_mem_bw    Q * N * 4 bytes read per second over the measured memory-bandwidth peak (CPU:
//                  bench/peaks.h's CPU peak; GPU: its device-to-device copy)
//   build_s, omp_threads, invol_csw (bench_common)
// Checks, `check/<a>_vs_<b>/N:<n>/k:<k>` on the first min(Q, 100) rows: xmr_cpu vs std_cpu ids
// and scores equal rank by rank; xmr_cpu vs faiss_cpu scores equal rank by rank (ids may differ
// only among equal scores: counted as tie_swaps); xmr_gpu vs xmr_cpu keys bit-identical.
// Counters checked_results, problems, tie_swaps (and max_score_err, 0: comparisons are exact)
// through engines.h's report_check; a mismatch skips the case with SkipWithError.
//
// Environment: XMR_BENCH_QUICK=1  N = 1e5, Q in {1, 100} (smoke test);
//              XMR_BENCH_SIZES=n1,n2,...  the N list (default 1e5, 1e6, 1e7).

#include <benchmark/benchmark.h>
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
#include "cpu/topk_buffer.h"
#include "engines.h"
#include "peaks.h"
#include "select_key.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/Index.h>
#include <faiss/utils/Heap.h>
#endif

#ifdef XMR_BENCH_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "dense_launch.h"
#endif

namespace {

using xmr::bench::Clock;
using xmr::bench::seconds_since;
using xmr::bench::sz;
using xmr::kernels::key_position;
using xmr::kernels::key_score;

constexpr std::int64_t kNumQueries[] = {1, 100, 1000};
constexpr std::int64_t kCpuResults[] = {10, 100, 1000};
constexpr std::int64_t kGpuResults[] = {10, 100, 1000, 4096};  // 4096 > kFastMaxK: the general path
constexpr std::int64_t kMaxScores = 1000000000;                // Q * N per case (4 GB)
constexpr std::int64_t kCheckRows = 100;
constexpr std::int64_t kBlock = 2048;   // xmr's CPU dense tile width (dense_cpu.cpp's pref_db_rows)
constexpr std::int64_t kRowTile = 256;  // and its query tile (pref_query_rows)
constexpr float kQuantum = 1.0f / 4096.0f;
constexpr std::uint64_t kSeed = 20241126;

/// Whether Q rows of N scores are a case: Q * N <= kMaxScores, and Q <= 100 in quick mode.
bool is_case(std::int64_t q, std::int64_t n) {
  return q * n <= kMaxScores && (q <= 100 || !xmr::bench::quick_mode());
}

/// The most rows any case of N reads (the rows of its score matrix).
std::int64_t max_queries(std::int64_t n) {
  std::int64_t q = 0;
  for (const std::int64_t v : kNumQueries) {
    if (is_case(v, n)) q = v;
  }
  return q;
}

// ------------------------------------------------------------------------------------------
// Data: one score matrix at a time.

struct Scores {
  std::int64_t n = 0;
  std::int64_t rows = 0;
  std::vector<float> host;  // [rows x n]
  double build_s = 0.0;
};

std::unique_ptr<Scores> g_scores;

const Scores& scores_for(std::int64_t n) {
  if (g_scores && g_scores->n == n) return *g_scores;
  g_scores.reset();  // free the previous matrix first
  const auto t0 = Clock::now();
  auto s = std::make_unique<Scores>();
  s->n = n;
  s->rows = max_queries(n);
  s->host = xmr::synth::random_normal(s->rows, n, kSeed + static_cast<std::uint64_t>(n));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < s->rows * n; ++i) s->host[sz(i)] = std::nearbyint(s->host[sz(i)] / kQuantum) * kQuantum;
  xmr::bench::export_matrix("topk_scores_N" + std::to_string(n), s->host.data(), s->rows, n);
  s->build_s = seconds_since(t0);
  g_scores = std::move(s);
  return *g_scores;
}

// ------------------------------------------------------------------------------------------
// Selectors. Each answers [q x k] (score, column) pairs, best first, into caller buffers, from
// the first q rows of a [rows x n] row-major matrix; scratch is allocated by prepare(), outside
// the timing.

struct Answer {
  std::vector<float> score;        // [q x k]
  std::vector<std::int64_t> id;    // [q x k]
  std::vector<std::uint64_t> key;  // [q x k] (xmr engines: the selection keys)
};

class Selector {
 public:
  Selector() = default;
  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;
  virtual ~Selector() = default;
  [[nodiscard]] virtual std::string unavailable() const { return {}; }
  [[nodiscard]] virtual bool on_gpu() const { return false; }
  virtual void prepare(const Scores& s, std::int64_t q, std::int64_t k) = 0;
  /// One selection; returns the device seconds when timed on a device, else a negative value.
  virtual double select(const Scores& s, std::int64_t q, std::int64_t k) = 0;
  /// The last selection's answer (converted outside the timing).
  virtual void answer(std::int64_t q, std::int64_t k, Answer* out) = 0;
};

void answer_from_keys(const std::uint64_t* keys, std::int64_t q, std::int64_t k, Answer* out) {
  out->key.assign(keys, keys + q * k);
  out->score.resize(sz(q * k));
  out->id.resize(sz(q * k));
  for (std::int64_t i = 0; i < q * k; ++i) {
    const bool empty = keys[i] == xmr::kernels::kEmptyKey;
    out->score[sz(i)] = empty ? -INFINITY : key_score(keys[i]);
    out->id[sz(i)] = empty ? -1 : static_cast<std::int64_t>(key_position(keys[i]));
  }
}

class XmrCpuSelector final : public Selector {
 public:
  void prepare(const Scores&, std::int64_t q, std::int64_t k) override {
    const std::int64_t rows = std::min(q, kRowTile);
    acc_.assign(sz(omp_get_max_threads()), std::vector<xmr::engine::cpu::TopKBuffer>(sz(rows)));
    for (auto& per_thread : acc_) {
      for (auto& a : per_thread) a.reset(k);
    }
    merge_.assign(acc_.size(), {});
    out_.assign(sz(q * k), 0);
  }

  double select(const Scores& s, std::int64_t q, std::int64_t k) override {
    if (q >= static_cast<std::int64_t>(acc_.size())) {
      select_by_rows(s, q, k);
    } else {
      select_by_blocks(s, q, k);
    }
    return -1.0;
  }

  void answer(std::int64_t q, std::int64_t k, Answer* out) override { answer_from_keys(out_.data(), q, k, out); }

 private:
  // At least one row per thread: each thread selects whole rows, streaming each once.
  void select_by_rows(const Scores& s, std::int64_t q, std::int64_t k) {
    const std::int64_t n = s.n;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t r = 0; r < q; ++r) {
      const auto t = sz(omp_get_thread_num());
      xmr::engine::cpu::TopKBuffer& acc = acc_[t][0];
      acc.reset(k);
      acc.push_scores(s.host.data() + r * n, n, 0);
      merge_[t].assign(acc.candidates().begin(), acc.candidates().end());
      xmr::engine::cpu::write_smallest(merge_[t], k, out_.data() + r * k);
    }
  }

  // Fewer rows than threads: the columns are split between the threads (contiguous runs of whole
  // kBlock blocks, so each thread streams its part once), query rows go in tiles of kRowTile, and
  // each row's per-thread candidates are merged at the end (as dense_cpu.cpp merges).
  void select_by_blocks(const Scores& s, std::int64_t q, std::int64_t k) {
    const std::int64_t n = s.n;
    const std::int64_t blocks = (n + kBlock - 1) / kBlock;
    for (std::int64_t r0 = 0; r0 < q; r0 += kRowTile) {
      const std::int64_t rn = std::min(kRowTile, q - r0);
      // As the dense search: small tiles are not worth waking the thread pool for.
      const bool parallel = rn * n >= (std::int64_t{1} << 16);
#pragma omp parallel if (parallel)
      {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        auto& acc = acc_[sz(t)];
        for (std::int64_t r = 0; r < rn; ++r) acc[sz(r)].reset(k);
        const std::int64_t c0 = blocks * t / nt * kBlock;
        const std::int64_t c1 = std::min(n, blocks * (t + 1) / nt * kBlock);
        for (std::int64_t r = 0; r < rn && c0 < c1; ++r) {
          acc[sz(r)].push_scores(s.host.data() + (r0 + r) * n + c0, c1 - c0, static_cast<std::uint64_t>(c0));
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < rn; ++r) {
          std::vector<std::uint64_t>& all = merge_[sz(t)];
          all.clear();
          for (int w = 0; w < nt; ++w) {
            const auto& c = acc_[sz(w)][sz(r)].candidates();
            all.insert(all.end(), c.begin(), c.end());
          }
          xmr::engine::cpu::write_smallest(all, k, out_.data() + (r0 + r) * k);
        }
      }
    }
  }

  std::vector<std::vector<xmr::engine::cpu::TopKBuffer>> acc_;  // [thread][row of the tile]
  std::vector<std::vector<std::uint64_t>> merge_;               // [thread]
  std::vector<std::uint64_t> out_;
};

class StdCpuSelector final : public Selector {
 public:
  void prepare(const Scores& s, std::int64_t q, std::int64_t k) override {
    idx_.assign(sz(std::min<std::int64_t>(q, omp_get_max_threads())), std::vector<std::int32_t>(sz(s.n)));
    score_.assign(sz(q * k), 0.0f);
    id_.assign(sz(q * k), 0);
  }

  double select(const Scores& s, std::int64_t q, std::int64_t k) override {
    const std::int64_t n = s.n;
    const std::int64_t kk = std::min(k, n);
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast <int>(idx_.size()))
    for (std::int64_t r = 0; r < q; ++r) {
      std::vector<std::int32_t>& idx = idx_[sz(omp_get_thread_num())];
      const float* row = s.host.data() + r * n;
      std::iota(idx.begin(), idx.end(), 0);
      auto better = [row](std::int32_t a, std::int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
      std::nth_element(idx.begin(), idx.begin() + (kk - 1), idx.end(), better);
      std::sort(idx.begin(), idx.begin() + kk, better);
      for (std::int64_t j = 0; j < kk; ++j) {
        score_[sz(r * k + j)] = row[idx[sz(j)]];
        id_[sz(r * k + j)] = idx[sz(j)];
      }
    }
    return -1.0;
  }

  void answer(std::int64_t q, std::int64_t k, Answer* out) override {
    out->score.assign(score_.begin(), score_.begin() + q * k);
    out->id.assign(id_.begin(), id_.begin() + q * k);
    out->key.clear();
  }

 private:
  std::vector<std::vector<std::int32_t>> idx_;  // [thread][n]
  std::vector<float> score_;
  std::vector<std::int64_t> id_;
};

#ifdef XMR_BENCH_HAVE_FAISS
class FaissCpuSelector final : public Selector {
 public:
  void prepare(const Scores&, std::int64_t q, std::int64_t k) override {
    val_.assign(sz(q * k), 0.0f);
    ids_.assign(sz(q * k), 0);
  }

  double select(const Scores& s, std::int64_t q, std::int64_t k) override {
    faiss::float_minheap_array_t heaps{sz(q), sz(k), ids_.data(), val_.data()};
    heaps.heapify();
    heaps.addn(sz(s.n), s.host.data(), 0, 0, q);
    heaps.reorder();
    return -1.0;
  }

  void answer(std::int64_t q, std::int64_t k, Answer* out) override {
    out->score.assign(val_.begin(), val_.begin() + q * k);
    out->id.assign(ids_.begin(), ids_.begin() + q * k);
    out->key.clear();
  }

 private:
  std::vector<float> val_;
  std::vector<faiss::Index::idx_t> ids_;
};
#endif

#ifdef XMR_BENCH_HAVE_CUDA
using xmr::bench::cuda_expect;

/// cudaMalloc'ed bytes, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }
  void reset(std::size_t bytes = 0) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    if (bytes > 0) cuda_expect(cudaMalloc(&ptr_, bytes), "cudaMalloc");
  }
  template <class T>
  [[nodiscard]] T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

class XmrGpuSelector final : public Selector {
 public:
  [[nodiscard]] std::string unavailable() const override {
    return xmr::gpu_count() > 0 ? std::string{} : "no usable GPU: " + xmr::device_summary();
  }
  [[nodiscard]] bool on_gpu() const override { return true; }

  void prepare(const Scores& s, std::int64_t q, std::int64_t k) override {
    if (timer_.stream() == nullptr) timer_.create();
    if (uploaded_n_ != s.n) {
      scores_.reset(s.host.size() * sizeof(float));
      cuda_expect(cudaMemcpy(scores_.as<float>(), s.host.data(), s.host.size() * sizeof(float), cudaMemcpyHostToDevice),
                  "cudaMemcpy(scores)");
      uploaded_n_ = s.n;
    }
    if (k <= xmr::kernels::kFastMaxK) {
      const xmr::kernels::SelectScratchKeys lv = xmr::kernels::select_scratch_keys(s.n, k);
      cand_a_.reset(sz(q * lv.level1) * 8);
      cand_b_.reset(sz(q * lv.level2) * 8);
      run_.reset(sz(q * 2 * k) * 8);
      sort_ws_bytes_ = 0;
    } else {
      cand_a_.reset(sz(q * s.n) * 8);  // keys
      cand_b_.reset(sz(q * s.n) * 8);  // sorted keys
      std::vector<int> offsets(sz(2 * q));
      for (std::int64_t r = 0; r < q; ++r) {
        offsets[sz(r)] = static_cast<int>(r * s.n);
        offsets[sz(q + r)] = static_cast<int>((r + 1) * s.n);
      }
      run_.reset(offsets.size() * sizeof(int));
      cuda_expect(cudaMemcpy(run_.as<int>(), offsets.data(), offsets.size() * sizeof(int), cudaMemcpyHostToDevice),
                  "cudaMemcpy(offsets)");
      cuda_expect(static_cast<cudaError_t>(xmr::kernels::segmented_sort_workspace(q * s.n, q, &sort_ws_bytes_)),
                  "segmented_sort_workspace");
      sort_ws_.reset(sort_ws_bytes_);
    }
    host_keys_.assign(sz(q * k), 0);
  }

  double select(const Scores& s, std::int64_t q, std::int64_t k) override {
    cudaStream_t st = timer_.stream();
    timer_.start();
    if (k <= xmr::kernels::kFastMaxK) {
      cuda_expect(cudaMemsetAsync(run_.as<void>(), 0xFF, sz(q * 2 * k) * 8, st), "cudaMemsetAsync");
      cuda_expect(static_cast<cudaError_t>(xmr::kernels::select_tile_into_run(
                      scores_.as<float>(), q, s.n, s.n, 0, static_cast<int>(k), cand_a_.as<std::uint64_t>(),
                      cand_b_.as<std::uint64_t>(), run_.as<std::uint64_t>(), st)),
                  "select_tile_into_run");
    } else {
      cuda_expect(static_cast<cudaError_t>(xmr::kernels::scores_to_keys(scores_.as<float>(), q, s.n, s.n, 0,
                                                                        cand_a_.as<std::uint64_t>(), s.n, st)),
                  "scores_to_keys");
      cuda_expect(static_cast<cudaError_t>(xmr::kernels::segmented_sort_keys(
                      cand_a_.as<std::uint64_t>(), cand_b_.as<std::uint64_t>(), q * s.n, q, run_.as<int>(),
                      run_.as<int>() + q, sort_ws_.as<void>(), sort_ws_bytes_, st)),
                  "segmented_sort_keys");
    }
    const double seconds = timer_.stop();
    // The result rows: [q x 2k] (fast path) or [q x n] sorted keys (general path), first k each.
    const std::uint64_t* result = k <= xmr::kernels::kFastMaxK ? run_.as<std::uint64_t>() : cand_b_.as<std::uint64_t>();
    const std::int64_t ld = k <= xmr::kernels::kFastMaxK ? 2 * k : s.n;
    last_ = {result, ld};
    return seconds;
  }

  void answer(std::int64_t q, std::int64_t k, Answer* out) override {
    cuda_expect(cudaMemcpy2D(host_keys_.data(), sz(k) * 8, last_.result, sz(last_.ld) * 8, sz(k) * 8, sz(q),
                             cudaMemcpyDeviceToHost),
                "cudaMemcpy2D(results)");
    answer_from_keys(host_keys_.data(), q, k, out);
  }

 private:
  struct Last {
    const std::uint64_t* result = nullptr;
    std::int64_t ld = 0;
  };
  xmr::bench::CudaEventTimer timer_;
  DeviceBuffer scores_;
  DeviceBuffer cand_a_;
  DeviceBuffer cand_b_;
  DeviceBuffer run_;
  DeviceBuffer sort_ws_;
  std::size_t sort_ws_bytes_ = 0;
  std::int64_t uploaded_n_ = -1;
  std::vector<std::uint64_t> host_keys_;
  Last last_;
};
#endif

std::vector<std::string> engine_names() {
  std::vector<std::string> names = {"xmr_cpu"};
#ifdef XMR_BENCH_HAVE_FAISS
  names.emplace_back("faiss_cpu");
#endif
  names.emplace_back("std_cpu");
#ifdef XMR_BENCH_HAVE_CUDA
  names.emplace_back("xmr_gpu");
#endif
  return names;
}

std::unique_ptr<Selector> make_selector(const std::string& name) {
  if (name == "xmr_cpu") return std::make_unique<XmrCpuSelector>();
  if (name == "std_cpu") return std::make_unique<StdCpuSelector>();
#ifdef XMR_BENCH_HAVE_FAISS
  if (name == "faiss_cpu") return std::make_unique<FaissCpuSelector>();
#endif
#ifdef XMR_BENCH_HAVE_CUDA
  if (name == "xmr_gpu") return std::make_unique<XmrGpuSelector>();
#endif
  throw std::invalid_argument("bench_topk: unknown engine " + name);
}

/// One selector per engine, kept across cases (the GPU one keeps its device copy per N).
Selector& selector(const std::string& name) {
  static std::vector<std::pair<std::string, std::unique_ptr<Selector>>> all;
  for (auto& [n, s] : all) {
    if (n == name) return *s;
  }
  all.emplace_back(name, make_selector(name));
  return *all.back().second;
}

// ------------------------------------------------------------------------------------------
// Benchmarks.

void bench_select(benchmark::State& state, const std::string& engine, std::int64_t n, std::int64_t q, std::int64_t k) {
  double build_s = 0.0;
  Selector* sel = nullptr;
  try {
    sel = &selector(engine);
    if (const std::string why = sel->unavailable(); !why.empty()) {
      state.SkipWithError(why.c_str());
      return;
    }
    const Scores& s = scores_for(n);
    build_s = s.build_s;
    sel->prepare(s, q, k);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const Scores& s = *g_scores;
  double device_s = -1.0;
  const xmr::bench::TimedSearches t = xmr::bench::timed_searches(
      state, true, [&] { device_s = sel->select(s, q, k); }, [&] { return device_s; }, {});
  if (t.warm_up_failed) return;
  const double scores = static_cast<double>(q) * static_cast<double>(n);
  state.counters["queries_per_s"] = xmr::bench::per_second(static_cast<double>(q), t);
  state.counters["scores_per_s"] = xmr::bench::per_second(scores, t);
  const xmr::bench::Peaks& p = xmr::bench::peaks();
  const double bw = sel->on_gpu() ? p.gpu_copy_bw : p.cpu_mem_bw;
  if (bw > 0.0) state.counters["frac_mem_bw"] = xmr::bench::per_second(scores * 4.0 / bw, t);
  xmr::bench::add_run_counters(state, build_s, t.csw);
}

/// Compares two answers rank by rank over `rows` rows of k: scores must be equal; ids too when
/// `ids_must_match` (else a differing id at an equal score counts as a tie swap); keys too when
/// `keys_must_match`. Returns the number of entries compared.
std::int64_t compare(const Answer& a, const Answer& b, std::int64_t rows, std::int64_t k, bool ids_must_match,
                     bool keys_must_match, xmr::bench::CheckStats* st) {
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t i = sz(r * k + j);
      // The location is formatted only for a failure (100,000 entries per check at k = 1000).
      auto where = [&] { return "row " + std::to_string(r) + " rank " + std::to_string(j); };
      if (keys_must_match && a.key[i] != b.key[i]) st->fail(where() + ": keys differ");
      if (a.score[i] != b.score[i]) {
        st->fail(where() + ": score " + std::to_string(a.score[i]) + " vs " + std::to_string(b.score[i]));
      } else if (a.id[i] != b.id[i]) {
        if (ids_must_match) st->fail(where() + ": id " + std::to_string(a.id[i]) + " vs " + std::to_string(b.id[i]));
        ++st->tie_swaps;
      }
    }
  }
  return rows * k;
}

void bench_check(benchmark::State& state, const std::string& a, const std::string& b, std::int64_t n, std::int64_t k) {
  xmr::bench::CheckStats st;
  std::int64_t checked = 0;
  const std::int64_t rows = std::min(kCheckRows, max_queries(n));
  const bool ok = xmr::bench::run_check_searches(state, [&] {
    Selector& sa = selector(a);
    Selector& sb = selector(b);
    for (const Selector* sel : {&sa, &sb}) {
      if (const std::string why = sel->unavailable(); !why.empty()) throw std::runtime_error(why);
    }
    const Scores& s = scores_for(n);
    Answer ra;
    Answer rb;
    for (auto [sel, ans] : {std::pair{&sa, &ra}, std::pair{&sb, &rb}}) {
      sel->prepare(s, rows, k);
      sel->select(s, rows, k);
      sel->answer(rows, k, ans);
    }
    const bool both_xmr = a.rfind("xmr", 0) == 0 && b.rfind("xmr", 0) == 0;
    const bool faiss = a == "faiss_cpu" || b == "faiss_cpu";
    checked = compare(ra, rb, rows, std::min(k, n), !faiss, both_xmr, &st);
  });
  // Exact comparisons: max_score_err stays 0 (any score difference is a problem).
  if (ok) xmr::bench::report_check(state, xmr::bench::CheckKind::Dense, a, b, checked, st);
}

void register_all(const std::vector<std::int64_t>& sizes) {
  const std::vector<std::string> engines = engine_names();
  for (const std::int64_t n : sizes) {
    for (const std::int64_t q : kNumQueries) {
      if (!is_case(q, n)) continue;
      std::vector<std::int64_t> ks(std::begin(kGpuResults), std::end(kGpuResults));
      for (const std::int64_t k : ks) {
        for (const std::string& engine : engines) {
          const bool gpu = engine.find("gpu") != std::string::npos;
          const bool cpu_k = std::find(std::begin(kCpuResults), std::end(kCpuResults), k) != std::end(kCpuResults);
          if (!gpu && !cpu_k) continue;
          const std::string name =
              "topk/" + engine + "/N:" + std::to_string(n) + "/Q:" + std::to_string(q) + "/k:" + std::to_string(k);
          auto* b = benchmark::RegisterBenchmark(
              name.c_str(), [engine, n, q, k](benchmark::State& st) { bench_select(st, engine, n, q, k); });
          b->Unit(benchmark::kMillisecond)->MinTime(0.5);
          xmr::bench::use_search_time(b, gpu);
        }
      }
    }
    std::vector<std::pair<std::string, std::string>> pairs = {{"xmr_cpu", "std_cpu"}};
#ifdef XMR_BENCH_HAVE_FAISS
    pairs.emplace_back("xmr_cpu", "faiss_cpu");
#endif
#ifdef XMR_BENCH_HAVE_CUDA
    pairs.emplace_back("xmr_gpu", "xmr_cpu");
#endif
    for (const auto& pair : pairs) {
      const std::string& a = pair.first;
      const std::string& b = pair.second;
      for (const std::int64_t k : kGpuResults) {
        const bool cpu_k = std::find(std::begin(kCpuResults), std::end(kCpuResults), k) != std::end(kCpuResults);
        if (!cpu_k && b != "xmr_cpu") continue;
        const std::string name = "check/" + a + "_vs_" + b + "/N:" + std::to_string(n) + "/k:" + std::to_string(k);
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
  const std::vector<std::int64_t> sizes = xmr::bench::sizes_from_env(
      quick ? std::vector<std::int64_t>{100000} : std::vector<std::int64_t>{100000, 1000000, 10000000});
  register_all(sizes);

  if (!xmr::bench::initialize_and_measure_peaks(&argc, argv, xmr::bench::kPeakCpuMemory | xmr::bench::kPeakGpu)) {
    return 1;
  }

  xmr::bench::add_common_context(sizes);
  xmr::bench::add_peaks_context();
  benchmark::AddCustomContext("data", "random_normal scores rounded to multiples of 2^-12 (ties occur)");
  benchmark::AddCustomContext("max_scores_per_case", std::to_string(kMaxScores));

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_scores.reset();
  return 0;
}
