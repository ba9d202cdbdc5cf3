// engines: the search engines under test, one interface per data kind, so every benchmark runs
// xmr and its peers through the same calls and every ratio comes from one run of one binary.
//   DenseEngine   exact dense top-k: XmrDenseEngine (xmr::DenseIndex, any device / storage /
//                 metric) and FaissDenseEngine (faiss::IndexFlatIP, XMR_BENCH_HAVE_FAISS)
//   BinaryEngine  exact Hamming top-k: XmrBinaryEngine (xmr::BinaryIndex) and FaissBinaryEngine
//                 (faiss::IndexBinaryFlat with its defaults)
// and the correctness checks of the `check/...` cases: CheckStats, the dense check (scores
// recomputed in double, ids compared rank by rank up to near ties) and the counters a check
// reports. bench_dense, bench_binary and bench_fashion use them. engines.cpp is compiled into
// each benchmark, so XMR_BENCH_HAVE_CUDA / XMR_BENCH_HAVE_FAISS follow that benchmark's build.

#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

namespace xmr::bench {

// ------------------------------------------------------------------------------------------
// Dense engines.

/// One dense search engine under test. The harness owns the data (host memory); an engine builds
/// its index from it once and answers batches of queries into caller buffers ([nq x k], best
/// first). Not thread-safe.
class DenseEngine {
 public:
  DenseEngine() = default;
  DenseEngine(const DenseEngine&) = delete;
  DenseEngine& operator=(const DenseEngine&) = delete;
  virtual ~DenseEngine() = default;

  [[nodiscard]] virtual std::string name() const = 0;
  /// `x`: [n x d] row-major floats.
  virtual void build(const float* x, std::int64_t n, std::int64_t d) = 0;
  /// `q`: [nq x d]; `ids`, `scores`: [nq x k], best first.
  virtual void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) = 0;

  /// Why the engine cannot run on this machine; empty when it can.
  [[nodiscard]] virtual std::string unavailable() const { return {}; }
  [[nodiscard]] virtual bool on_gpu() const { return false; }
  /// Bytes per stored database element (for the bandwidth counter).
  [[nodiscard]] virtual std::int64_t element_bytes() const { return 4; }
  /// True when the engine computes on fp16-rounded vectors (the check rounds likewise).
  [[nodiscard]] virtual bool rounds_to_half() const { return false; }
  /// Device time of the last search (CUDA events), seconds; negative when not measured.
  [[nodiscard]] virtual double last_device_seconds() const { return -1.0; }
};

/// xmr::DenseIndex on `device` with `storage` and `metric`; on a GPU (CUDA builds) each search is
/// timed with CUDA events on a stream the engine lends to xmr (XmrBenchDevice).
class XmrDenseEngine final : public DenseEngine {
 public:
  XmrDenseEngine(std::string name, xmr::Device device, xmr::DType storage, xmr::Metric metric);

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] bool on_gpu() const override { return dev_.on_gpu(); }
  [[nodiscard]] std::int64_t element_bytes() const override { return storage_ == xmr::DType::F16 ? 2 : 4; }
  [[nodiscard]] bool rounds_to_half() const override { return storage_ == xmr::DType::F16; }
  [[nodiscard]] double last_device_seconds() const override { return dev_.last_device_seconds(); }
  [[nodiscard]] std::string unavailable() const override { return dev_.unavailable(); }
  void build(const float* x, std::int64_t n, std::int64_t d) override;
  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override;

 private:
  std::string name_;
  XmrBenchDevice dev_;  // outlives index_, which may use its Resources
  xmr::DType storage_;
  xmr::Metric metric_;
  std::int64_t dim_ = 0;
  std::unique_ptr<xmr::DenseIndex> index_;
};

/// A named way to make an engine.
template <class E>
struct EngineSpec {
  const char* name;
  std::function<std::unique_ptr<E>()> make;
};

/// The dense engines, in the order a case runs them (xmr_cpu and its peer FAISS first, back to
/// back): xmr_cpu (fp32, inner product), faiss_cpu (with FAISS), xmr_cpu_fp16, xmr_cpu_cosine,
/// xmr_gpu, xmr_gpu_fp16 (GPU engines are listed without a GPU; unavailable() says why).
const std::vector<EngineSpec<DenseEngine>>& dense_engine_specs();

/// A new dense engine `name` (one of dense_engine_specs()). Throws std::runtime_error when unknown.
std::unique_ptr<DenseEngine> make_dense_engine(const std::string& name);

// ------------------------------------------------------------------------------------------
// Binary (Hamming) engines.

/// One Hamming search engine under test, like DenseEngine over packed codes ([n x bits/8] bytes,
/// LSB-first as xmr stores them); results [nq x k], nearest first. Not thread-safe.
class BinaryEngine {
 public:
  BinaryEngine() = default;
  BinaryEngine(const BinaryEngine&) = delete;
  BinaryEngine& operator=(const BinaryEngine&) = delete;
  virtual ~BinaryEngine() = default;

  [[nodiscard]] virtual std::string name() const = 0;
  /// `codes`: [n x bits/8] packed codes in host memory.
  virtual void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) = 0;
  virtual void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
                      std::int32_t* distances) = 0;

  /// Why the engine cannot run on this machine; empty when it can.
  [[nodiscard]] virtual std::string unavailable() const { return {}; }
  [[nodiscard]] virtual bool on_gpu() const { return false; }
  /// True when the engine promises xmr's tie rule (equal distances by ascending id).
  [[nodiscard]] virtual bool orders_ties_by_id() const { return true; }
  /// Device time of the last search (CUDA events), seconds; negative when not measured.
  [[nodiscard]] virtual double last_device_seconds() const { return -1.0; }
};

/// xmr::BinaryIndex on `device` (GPU timing as XmrDenseEngine).
class XmrBinaryEngine final : public BinaryEngine {
 public:
  XmrBinaryEngine(std::string name, xmr::Device device);

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] bool on_gpu() const override { return dev_.on_gpu(); }
  [[nodiscard]] double last_device_seconds() const override { return dev_.last_device_seconds(); }
  [[nodiscard]] std::string unavailable() const override { return dev_.unavailable(); }
  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override;
  void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override;

 private:
  std::string name_;
  XmrBenchDevice dev_;  // outlives index_, which may use its Resources
  std::int64_t bytes_ = 0;
  std::unique_ptr<xmr::BinaryIndex> index_;
};

/// The binary engines in run order: xmr_cpu, faiss_cpu (with FAISS), xmr_gpu (only when
/// xmr::gpu_count() > 0).
const std::vector<EngineSpec<BinaryEngine>>& binary_engine_specs();

/// A new binary engine `name` (one of binary_engine_specs()). Throws std::runtime_error when unknown.
std::unique_ptr<BinaryEngine> make_binary_engine(const std::string& name);

/// True when `name` is one of binary_engine_specs().
bool has_binary_engine(const std::string& name);

// ------------------------------------------------------------------------------------------
// Checks.

/// What a check found: the count of problems and the first one's description, plus the
/// differences that are not problems (near-tie swaps, boundary tie choices).
struct CheckStats {
  std::int64_t problems = 0;
  std::int64_t tie_swaps = 0;           ///< dense: ranks where ids differ between near-tied items
  std::int64_t boundary_tie_diffs = 0;  ///< binary: differing choices among codes tied at the cut
  double max_score_err = 0.0;           ///< dense: max |reported - exact| over both engines
  std::string first;
  void fail(const std::string& what) {
    if (problems++ == 0) first = what;
  }
};

/// Runs `search_both` (one search of each engine) once per benchmark iteration. Returns false,
/// after SkipWithError with the message, when it throws.
bool run_check_searches(benchmark::State& state, const std::function<void()>& search_both);

/// Sets the counters checked_results (= `checked`), problems and, for a dense check, tie_swaps
/// and max_score_err, or for a binary one boundary_tie_diffs; when there are problems, skips the
/// case with their count and the first one (SkipWithError), never silently.
enum class CheckKind { Dense, Binary };
void report_check(benchmark::State& state, CheckKind kind, const std::string& a, const std::string& b,
                  std::int64_t checked, const CheckStats& st);

/// Scores within this of the exact (double) score pass; ids may swap between items whose exact
/// scores are this close.
constexpr double kDenseScoreTol = 1e-5;

/// The host data a dense check recomputes scores from: database rows [n x d] and queries
/// [>= nq x d], row-major.
struct DenseCheckData {
  const float* base = nullptr;
  std::int64_t n = 0;
  const float* queries = nullptr;
  std::int64_t d = 0;
};

/// The dense check of two engines on the first `nq` queries at `k`: searches both (once per
/// iteration), then checks each engine's results on its own (ids in range and distinct per
/// query, scores non-increasing and within kDenseScoreTol of the exact score recomputed in
/// double, after fp16 rounding when the engine rounds_to_half) and, rank by rank, that both
/// return the same id unless the two items' exact scores are within kDenseScoreTol (counted as
/// tie_swaps). Reports through report_check.
void check_dense_pair(benchmark::State& state, const DenseCheckData& data, DenseEngine& a, DenseEngine& b,
                      std::int64_t nq, std::int64_t k);

}  // namespace xmr::bench
