// engines: see engines.h.

#include "engines.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <utility>

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexFlat.h>
#endif

namespace xmr::bench {

namespace {

#ifdef XMR_BENCH_HAVE_FAISS
/// faiss::IndexFlatIP.
class FaissDenseEngine final : public DenseEngine {
 public:
  [[nodiscard]] std::string name() const override { return "faiss_cpu"; }

  void build(const float* x, std::int64_t n, std::int64_t d) override {
    index_ = std::make_unique<faiss::IndexFlatIP>(d);
    index_->add(n, x);
  }

  void search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) override {
    index_->search(nq, q, k, scores, ids);
  }

 private:
  std::unique_ptr<faiss::IndexFlatIP> index_;
};

/// faiss::IndexBinaryFlat as a FAISS user gets it: default use_heap (heap selection) and
/// query_batch_size (32; OpenMP parallel over the queries of a batch, so Q = 1 is one thread).
/// It does not order ties by id.
class FaissBinaryEngine final : public BinaryEngine {
 public:
  [[nodiscard]] std::string name() const override { return "faiss_cpu"; }
  [[nodiscard]] bool orders_ties_by_id() const override { return false; }

  void build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) override {
    index_ = std::make_unique<faiss::IndexBinaryFlat>(bits);
    index_->add(n, codes);
  }

  void search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
              std::int32_t* distances) override {
    index_->search(nq, queries, k, distances, ids);
  }

 private:
  std::unique_ptr<faiss::IndexBinaryFlat> index_;
};
#endif

template <class E>
std::unique_ptr<E> make_engine(const std::vector<EngineSpec<E>>& specs, const std::string& name) {
  const auto spec = std::find_if(specs.begin(), specs.end(), [&](const EngineSpec<E>& s) { return name == s.name; });
  if (spec == specs.end()) throw std::runtime_error("unknown engine " + name);
  return spec->make();
}

/// Exact score of database row `x` for query `q` in double, optionally after rounding both to
/// binary16 as an fp16-storage engine does.
double exact_score(const float* x, const float* q, std::int64_t d, bool half) {
  double s = 0.0;
  for (std::int64_t j = 0; j < d; ++j) {
    float a = x[j];
    float b = q[j];
    if (half) {
      a = xmr::to_float(xmr::to_half(a));
      b = xmr::to_float(xmr::to_half(b));
    }
    s += static_cast<double>(a) * static_cast<double>(b);
  }
  return s;
}

/// Validates one engine's results on their own: ids in range and distinct per query, scores
/// non-increasing and equal to the exact scores (returned in `exact`) within kDenseScoreTol.
void check_dense_one(const DenseCheckData& data, const std::string& name, const std::vector<std::int64_t>& ids,
                     const std::vector<float>& scores, std::int64_t nq, std::int64_t k, bool half,
                     std::vector<double>* exact, CheckStats* st) {
  exact->assign(ids.size(), 0.0);
  for (std::int64_t qi = 0; qi < nq; ++qi) {
    std::vector<std::int64_t> seen;
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = sz(qi * k + j);
      const std::int64_t id = ids[at];
      std::ostringstream where;
      where << name << " query " << qi << " rank " << j << " id " << id;
      if (id < 0 || id >= data.n) {
        st->fail(where.str() + ": id out of range");
        continue;
      }
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) st->fail(where.str() + ": duplicate id");
      seen.push_back(id);
      (*exact)[at] = exact_score(data.base + id * data.d, data.queries + qi * data.d, data.d, half);
      const double err = std::abs(static_cast<double>(scores[at]) - (*exact)[at]);
      st->max_score_err = std::max(st->max_score_err, err);
      if (!(err <= kDenseScoreTol)) {
        where << ": score " << scores[at] << " but exact " << (*exact)[at];
        st->fail(where.str());
      }
      if (j > 0 && scores[at] > scores[at - 1]) st->fail(where.str() + ": scores not sorted");
    }
  }
}

}  // namespace

XmrDenseEngine::XmrDenseEngine(std::string name, xmr::Device device, xmr::DType storage, xmr::Metric metric)
    : name_(std::move(name)), dev_(device), storage_(storage), metric_(metric) {}

void XmrDenseEngine::build(const float* x, std::int64_t n, std::int64_t d) {
  dim_ = d;
  dev_.prepare();
  index_ = std::make_unique<xmr::DenseIndex>(
      xmr::DenseIndexOptions{.dim = d, .metric = metric_, .storage = storage_, .device = dev_.device()});
  index_->add(xmr::MatrixView<const float>(x, n, d));
}

void XmrDenseEngine::search(const float* q, std::int64_t nq, std::int64_t k, std::int64_t* ids, float* scores) {
  dev_.timed([&] {
    index_->search_into(xmr::MatrixView<const float>(q, nq, dim_), k, xmr::MatrixView<std::int64_t>(ids, nq, k),
                        xmr::MatrixView<float>(scores, nq, k), dev_.options());
  });
}

const std::vector<EngineSpec<DenseEngine>>& dense_engine_specs() {
  using xmr::Device;
  using xmr::DType;
  using xmr::Metric;
  static const std::vector<EngineSpec<DenseEngine>> specs = [] {
    auto xmr_engine = [](const char* name, Device dev, DType type, Metric metric) {
      return EngineSpec<DenseEngine>{name, [=] { return std::make_unique<XmrDenseEngine>(name, dev, type, metric); }};
    };
    std::vector<EngineSpec<DenseEngine>> s = {xmr_engine("xmr_cpu", Device::Cpu, DType::F32, Metric::InnerProduct)};
#ifdef XMR_BENCH_HAVE_FAISS
    s.push_back({"faiss_cpu", [] { return std::make_unique<FaissDenseEngine>(); }});
#endif
    s.push_back(xmr_engine("xmr_cpu_fp16", Device::Cpu, DType::F16, Metric::InnerProduct));
    s.push_back(xmr_engine("xmr_cpu_cosine", Device::Cpu, DType::F32, Metric::Cosine));
    s.push_back(xmr_engine("xmr_gpu", Device::Gpu, DType::F32, Metric::InnerProduct));
    s.push_back(xmr_engine("xmr_gpu_fp16", Device::Gpu, DType::F16, Metric::InnerProduct));
    return s;
  }();
  return specs;
}

std::unique_ptr<DenseEngine> make_dense_engine(const std::string& name) {
  return make_engine(dense_engine_specs(), name);
}

XmrBinaryEngine::XmrBinaryEngine(std::string name, xmr::Device device) : name_(std::move(name)), dev_(device) {}

void XmrBinaryEngine::build(const std::uint8_t* codes, std::int64_t n, std::int64_t bits) {
  bytes_ = bits / 8;
  dev_.prepare();
  index_ = std::make_unique<xmr::BinaryIndex>(xmr::BinaryIndexOptions{.bits = bits, .device = dev_.device()});
  index_->add(xmr::MatrixView<const std::uint8_t>(codes, n, bytes_));
}

void XmrBinaryEngine::search(const std::uint8_t* queries, std::int64_t nq, std::int64_t k, std::int64_t* ids,
                             std::int32_t* distances) {
  dev_.timed([&] {
    index_->search_into(xmr::MatrixView<const std::uint8_t>(queries, nq, bytes_), k,
                        xmr::MatrixView<std::int64_t>(ids, nq, k), xmr::MatrixView<std::int32_t>(distances, nq, k),
                        dev_.options());
  });
}

const std::vector<EngineSpec<BinaryEngine>>& binary_engine_specs() {
  static const std::vector<EngineSpec<BinaryEngine>> specs = [] {
    std::vector<EngineSpec<BinaryEngine>> s = {
        {"xmr_cpu", [] { return std::make_unique<XmrBinaryEngine>("xmr_cpu", xmr::Device::Cpu); }}};
#ifdef XMR_BENCH_HAVE_FAISS
    s.push_back({"faiss_cpu", [] { return std::make_unique<FaissBinaryEngine>(); }});
#endif
    // Registered in every CUDA build: without a usable GPU its cases skip with the reason.
    if (xmr::built_with_cuda()) {
      s.push_back({"xmr_gpu", [] { return std::make_unique<XmrBinaryEngine>("xmr_gpu", xmr::Device::Gpu); }});
    }
    return s;
  }();
  return specs;
}

std::unique_ptr<BinaryEngine> make_binary_engine(const std::string& name) {
  return make_engine(binary_engine_specs(), name);
}

bool has_binary_engine(const std::string& name) {
  const auto& specs = binary_engine_specs();
  return std::any_of(specs.begin(), specs.end(), [&](const EngineSpec<BinaryEngine>& s) { return name == s.name; });
}

bool run_check_searches(benchmark::State& state, const std::function<void()>& search_both) {
  bool searched = false;
  for (auto _ : state) {
    try {
      search_both();
      searched = true;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return false;
    }
  }
  return searched;
}

void report_check(benchmark::State& state, CheckKind kind, const std::string& a, const std::string& b,
                  std::int64_t checked, const CheckStats& st) {
  state.counters["checked_results"] = static_cast<double>(checked);
  if (kind == CheckKind::Dense) {
    state.counters["tie_swaps"] = static_cast<double>(st.tie_swaps);
    state.counters["max_score_err"] = st.max_score_err;
  } else {
    state.counters["boundary_tie_diffs"] = static_cast<double>(st.boundary_tie_diffs);
  }
  state.counters["problems"] = static_cast<double>(st.problems);
  if (st.problems > 0) {
    const std::string msg =
        std::to_string(st.problems) + " mismatches between " + a + " and " + b + "; first: " + st.first;
    state.SkipWithError(msg.c_str());
  }
}

void check_dense_pair(benchmark::State& state, const DenseCheckData& data, DenseEngine& a, DenseEngine& b,
                      std::int64_t nq, std::int64_t k) {
  std::vector<std::int64_t> ids_a(sz(nq * k));
  std::vector<std::int64_t> ids_b(sz(nq * k));
  std::vector<float> scores_a(sz(nq * k));
  std::vector<float> scores_b(sz(nq * k));
  const bool searched = run_check_searches(state, [&] {
    a.search(data.queries, nq, k, ids_a.data(), scores_a.data());
    b.search(data.queries, nq, k, ids_b.data(), scores_b.data());
  });
  if (!searched) return;
  const std::string name_a = a.name();
  const std::string name_b = b.name();
  CheckStats st;
  std::vector<double> exact_a;
  std::vector<double> exact_b;
  check_dense_one(data, name_a, ids_a, scores_a, nq, k, a.rounds_to_half(), &exact_a, &st);
  check_dense_one(data, name_b, ids_b, scores_b, nq, k, b.rounds_to_half(), &exact_b, &st);
  for (std::size_t at = 0; at < ids_a.size(); ++at) {
    if (ids_a[at] == ids_b[at]) continue;
    if (std::abs(exact_a[at] - exact_b[at]) <= kDenseScoreTol) {
      ++st.tie_swaps;
      continue;
    }
    std::ostringstream msg;
    msg << "query " << static_cast<std::int64_t>(at) / k << " rank " << static_cast<std::int64_t>(at) % k << ": "
        << name_a << " id " << ids_a[at] << " (exact " << exact_a[at] << ") vs " << name_b << " id " << ids_b[at]
        << " (exact " << exact_b[at] << ")";
    st.fail(msg.str());
  }
  report_check(state, CheckKind::Dense, name_a, name_b, nq * k, st);
}

}  // namespace xmr::bench
