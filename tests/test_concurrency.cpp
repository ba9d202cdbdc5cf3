// Concurrent searches while another thread adds: every result must be a correct answer for some
// snapshot of the index (adds publish whole snapshots; a search never sees half an add). And many
// threads searching the GPU at once (skipped without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr::DenseIndex;
using xmr::Device;
using xmr::DType;
using xmr::MatrixView;
using xmr::Metric;

constexpr std::int64_t kDim = 16;
constexpr std::int64_t kInitial = 300;
constexpr std::int64_t kBatches = 30;
constexpr std::int64_t kBatchRows = 20;
constexpr std::int64_t kReaders = 8;
constexpr std::int64_t kQueries = 4;
constexpr int kMaxIterations = 1000;  // per reader: bounds the run time

struct ConcurrencyCase {
  Metric metric = Metric::InnerProduct;
  DType storage = DType::F32;
  std::uint64_t seed = 0;
};

void PrintTo(const ConcurrencyCase& c, std::ostream* os);
void PrintTo(const ConcurrencyCase& c, std::ostream* os) {
  *os << xmr::to_string(c.metric) << "/" << xmr::to_string(c.storage) << "/seed " << c.seed;
}

class Concurrency : public ::testing::TestWithParam<ConcurrencyCase> {};

struct Record {
  std::int64_t k = 0;
  std::int64_t adds_before = 0;  // adds completed before the search started
  std::int64_t adds_after = 0;   // adds completed after it returned
  xmr::SearchResult result;
};

TEST_P(Concurrency, SearchesSeeWholeSnapshotsWhileAdding) {
  const ConcurrencyCase& c = GetParam();
  const std::string context =
      "seed " + std::to_string(c.seed) + " (" + xmr::to_string(c.metric) + ", " + xmr::to_string(c.storage) + ")";
  SCOPED_TRACE(context);
  xmr_test::Rng rng(c.seed);
  // Odd readers search on Device::Auto: the GPU where there is one (then the GPU's looser fp16
  // bound applies; see test_dense.cpp), else the CPU.
  const double rel_tol = (xmr::gpu_count() > 0 ? 4.0 : 1.0) * xmr_test::accumulation_tolerance(kDim);

  // All vectors and ids up front. Batch 0 is the initial content (ids 1000, 1010, ...); even
  // batches append ids above the current maximum, odd batches fill gaps below it (a merge).
  const std::int64_t total = kInitial + kBatches * kBatchRows;
  const std::vector<float> items = xmr_test::random_matrix(rng, total, kDim);
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> batch_of;
  for (std::int64_t i = 0; i < kInitial; ++i) {
    ids.push_back(1000 + 10 * i);
    batch_of.push_back(0);
  }
  for (std::int64_t b = 1; b <= kBatches; ++b) {
    for (std::int64_t j = 0; j < kBatchRows; ++j) {
      ids.push_back(b % 2 == 0 ? 100000 + b * 1000 + j : 1000 + (10 * (b * kBatchRows + j)) % (10 * kInitial) + b % 10);
      batch_of.push_back(b);
    }
  }
  {
    std::unordered_set<std::int64_t> distinct(ids.begin(), ids.end());
    ASSERT_EQ(distinct.size(), ids.size()) << "test setup: ids must be distinct";
  }
  std::vector<std::vector<float>> queries;
  for (std::int64_t t = 0; t < kReaders; ++t) queries.push_back(xmr_test::random_matrix(rng, kQueries, kDim));

  DenseIndex index({.dim = kDim, .metric = c.metric, .storage = c.storage});
  index.add(MatrixView<const float>(items.data(), kInitial, kDim), std::span(ids.data(), kInitial));

  xmr::Resources shared;
  shared.set_tile_caps(3, 64);
  std::atomic<bool> writer_done{false};
  std::atomic<std::int64_t> adds_done{0};
  std::atomic<std::int64_t> searches_done{0};
  std::vector<std::vector<Record>> records(kReaders);
  std::vector<xmr::SearchResult> final_results(kReaders);
  std::vector<std::string> error_messages(kReaders + 1);

  std::vector<std::thread> readers;
  for (std::int64_t t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      xmr::Resources own;
      if (t % 2 == 0) own.set_tile_caps(2, 50);
      // Thread modes: own Resources, the thread's default Resources, one shared Resources.
      xmr::Resources* res = t % 3 == 0 ? &own : t % 3 == 1 ? nullptr : &shared;
      const Device device = t % 2 == 0 ? Device::Cpu : Device::Auto;
      const auto& q = queries[static_cast<std::size_t>(t)];
      const std::int64_t ks[] = {1, 7, 50};
      try {
        for (int it = 0; it < kMaxIterations && !(writer_done.load() && it >= 10); ++it) {
          Record rec;
          rec.k = ks[it % 3];
          rec.adds_before = adds_done.load();
          rec.result = index.search(MatrixView<const float>(q.data(), kQueries, kDim), rec.k,
                                    {.device = device, .resources = res});
          rec.adds_after = adds_done.load();
          records[static_cast<std::size_t>(t)].push_back(std::move(rec));
          ++searches_done;
        }
        // One search that surely starts after the last add.
        while (!writer_done.load()) std::this_thread::yield();
        final_results[static_cast<std::size_t>(t)] =
            index.search(MatrixView<const float>(q.data(), kQueries, kDim), 50, {.device = device, .resources = res});
      } catch (const std::exception& e) {
        error_messages[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  std::thread writer([&] {
    try {
      for (std::int64_t b = 1; b <= kBatches; ++b) {
        const std::int64_t first = kInitial + (b - 1) * kBatchRows;
        index.add(MatrixView<const float>(items.data() + first * kDim, kBatchRows, kDim),
                  std::span(ids.data() + first, kBatchRows));
        ++adds_done;
        // Let the readers run a few searches on this snapshot (bounded wait).
        const std::int64_t target = searches_done.load() + kReaders;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        while (searches_done.load() < target && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      }
    } catch (const std::exception& e) {
      error_messages[kReaders] = e.what();
    }
    writer_done = true;
  });
  writer.join();
  for (auto& r : readers) r.join();
  for (const auto& m : error_messages) ASSERT_TRUE(m.empty()) << "a thread threw: " << m;

  // The final index holds everything.
  ASSERT_EQ(index.size(), total);
  std::vector<std::int64_t> sorted_ids = ids;
  std::sort(sorted_ids.begin(), sorted_ids.end());
  EXPECT_EQ(index.ids(), sorted_ids);

  const std::vector<double> x = xmr_test::exact_values(MatrixView<const float>(items.data(), total, kDim));
  std::unordered_map<std::int64_t, std::int64_t> item_of;
  for (std::int64_t i = 0; i < total; ++i) item_of.emplace(ids[static_cast<std::size_t>(i)], i);

  std::int64_t checked = 0;
  std::int64_t during_adds = 0;  // searches that overlapped an add or saw an intermediate snapshot
  for (std::int64_t t = 0; t < kReaders; ++t) {
    const auto& q = queries[static_cast<std::size_t>(t)];
    const xmr_test::Reference ref = xmr_test::make_reference(
        x, ids, xmr_test::exact_values(MatrixView<const float>(q.data(), kQueries, kDim)), kDim, c.metric, c.storage);
    int reports = 0;
    for (std::size_t n = 0; n < records[static_cast<std::size_t>(t)].size() && reports < 5; ++n) {
      const Record& rec = records[static_cast<std::size_t>(t)][n];
      const std::string where =
          context + ", reader " + std::to_string(t) + ", search " + std::to_string(n) + ", k " + std::to_string(rec.k);
      ASSERT_EQ(rec.result.num_queries, kQueries) << where;
      ASSERT_EQ(rec.result.k, rec.k) << where;
      if (rec.adds_after > 0 && rec.adds_before < kBatches) ++during_adds;
      for (std::int64_t qi = 0; qi < kQueries; ++qi) {
        const double tol = rel_tol * ref.scale[static_cast<std::size_t>(qi)];
        std::unordered_set<std::int64_t> returned;
        std::int64_t newest_batch = 0;
        float lowest = 0.0f;
        bool ok = true;
        auto fail = [&](std::int64_t j, const std::string& what) {
          ADD_FAILURE() << where << ", query " << qi << ", rank " << j << ": " << what;
          ok = false;
          ++reports;
        };
        for (std::int64_t j = 0; j < rec.k && ok; ++j) {
          const std::int64_t id = rec.result.id(qi, j);
          const float s = rec.result.score(qi, j);
          const auto it = item_of.find(id);
          if (it == item_of.end()) {
            fail(j, "id " + std::to_string(id) + " was never added");  // also catches -1: >= 300 items always
            break;
          }
          if (!returned.insert(id).second) fail(j, "id " + std::to_string(id) + " returned twice");
          const double r = ref.score(qi, it->second);
          if (!(std::fabs(static_cast<double>(s) - r) <= tol)) {
            fail(j, "id " + std::to_string(id) + " score " + std::to_string(s) + " but reference " + std::to_string(r));
          }
          if (j > 0) {
            const float prev = rec.result.score(qi, j - 1);
            if (!(prev > s || (prev == s && rec.result.id(qi, j - 1) < id))) {
              fail(j, "order: score " + std::to_string(prev) + " (id " + std::to_string(rec.result.id(qi, j - 1)) +
                          ") then " + std::to_string(s) + " (id " + std::to_string(id) + ")");
            }
          }
          newest_batch = std::max(newest_batch, batch_of[static_cast<std::size_t>(it->second)]);
          lowest = s;
        }
        if (!ok) continue;
        // Adds are sequential, so snapshots are "batches 0..m". The search started after
        // adds_before adds had returned and ended before adds_after + 2 had (the add that
        // published may not have been counted yet): m is in [adds_before, adds_after + 1], and
        // m >= newest_batch. The result must be the top-k of one such snapshot: nothing of
        // batches <= m clearly better than the last returned item may be missing.
        const std::int64_t lo = std::max(rec.adds_before, newest_batch);
        const std::int64_t hi = std::min(rec.adds_after + 1, kBatches);
        bool some_snapshot = false;
        std::string why = "no snapshot in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        for (std::int64_t m = lo; m <= hi && !some_snapshot; ++m) {
          std::int64_t missing = -1;
          for (std::int64_t i = 0; i < total && missing < 0; ++i) {
            if (batch_of[static_cast<std::size_t>(i)] <= m &&
                ref.score(qi, i) > static_cast<double>(lowest) + 2 * tol &&
                returned.count(ids[static_cast<std::size_t>(i)]) == 0) {
              missing = i;
            }
          }
          if (missing < 0) {
            some_snapshot = true;
          } else {
            why += "; snapshot " + std::to_string(m) + " lacks id " +
                   std::to_string(ids[static_cast<std::size_t>(missing)]) + " (batch " +
                   std::to_string(batch_of[static_cast<std::size_t>(missing)]) + ", score " +
                   std::to_string(ref.score(qi, missing)) + ")";
          }
        }
        if (!some_snapshot) fail(rec.k - 1, "the result is the top-k of no snapshot it could have seen: " + why);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, kReaders * kQueries * 10);
  RecordProperty("searches_during_adds", std::to_string(during_adds));
  EXPECT_GT(during_adds, kReaders) << "too few searches overlapped the adds for the test to mean anything";
  // A search that starts after the writer finished sees the whole index.
  for (std::int64_t t = 0; t < kReaders; ++t) {
    const auto& q = queries[static_cast<std::size_t>(t)];
    const xmr_test::Reference ref = xmr_test::make_reference(
        x, ids, xmr_test::exact_values(MatrixView<const float>(q.data(), kQueries, kDim)), kDim, c.metric, c.storage);
    xmr_test::expect_topk_matches(xmr_test::view_of(final_results[static_cast<std::size_t>(t)]), ref, rel_tol,
                                  context + ", reader " + std::to_string(t) + ", search after the last add");
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, Concurrency,
                         ::testing::Values(ConcurrencyCase{Metric::InnerProduct, DType::F32, 501},
                                           ConcurrencyCase{Metric::Cosine, DType::F16, 502}),
                         [](const ::testing::TestParamInfo<ConcurrencyCase>& param_info) {
                           return std::string(param_info.param.metric == Metric::Cosine ? "cosine" : "ip") + "_" +
                                  xmr::to_string(param_info.param.storage);
                         });

// ---- many host threads on the GPU ---------------------------------------------------------------

// docs/gpu.md, "Many host threads": twelve threads search the same indexes on the GPU at once,
// with the thread's default Resources, their own, or one of two shared ones (one with tile caps,
// one with a small workspace budget, so their searches run many batches and tiles and contend
// for the shared stream). The data are small integers, so every GPU result must equal the CPU's
// bit for bit, ties (many) by ascending id; any interference between threads shows as a wrong id.
TEST(GpuThreads, ConcurrentSearchesMatchTheCpuExactly) {
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no GPU: " << xmr::device_summary();
  constexpr int kThreads = 12;
  constexpr int kIterations = 24;
  constexpr std::int64_t kN = 6000;
  constexpr std::int64_t kD = 32;
  constexpr std::int64_t kQ = 8;
  xmr_test::Rng rng(777);
  auto integers = [&](std::int64_t rows, std::int64_t cols) {
    std::vector<float> m(static_cast<std::size_t>(rows * cols));
    for (float& x : m) x = static_cast<float>(rng.uniform_int(-3, 3));
    return m;
  };
  const std::vector<float> items = integers(kN, kD);
  const std::vector<float> queries = integers(kQ, kD);
  const MatrixView<const float> qv(queries.data(), kQ, kD);
  DenseIndex dense32({.dim = kD, .metric = Metric::InnerProduct, .storage = DType::F32});
  DenseIndex dense16({.dim = kD, .metric = Metric::InnerProduct, .storage = DType::F16});
  dense32.add(MatrixView<const float>(items.data(), kN, kD));
  dense16.add(MatrixView<const float>(items.data(), kN, kD), xmr_test::random_ids(rng, kN, 10, 3));
  constexpr std::int64_t kCodeBytes = 16;
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(4 * kN * kCodeBytes));
  for (auto& b : codes) b = static_cast<std::uint8_t>(rng.bits() & 0xFF);
  xmr::BinaryIndex binary({.bits = 8 * kCodeBytes});
  binary.add(MatrixView<const std::uint8_t>(codes.data(), 4 * kN, kCodeBytes));
  const MatrixView<const std::uint8_t> cq(codes.data(), kQ, kCodeBytes);

  // Jobs: {index, k}; k = 3000 takes the dense general path (k > 2048).
  struct Job {
    int kind;  // 0: dense fp32, 1: dense fp16, 2: binary k-NN, 3: binary radius
    std::int64_t k;
  };
  const std::vector<Job> jobs = {{0, 1}, {0, 10}, {0, 3000}, {1, 7}, {1, 200}, {2, 1}, {2, 16}, {2, 500}, {3, 40}};
  struct Answer {
    std::vector<std::int64_t> ids;
    std::vector<std::int64_t> values;  // scores, distances, or offsets + distances + counts
    Device device = Device::Cpu;
  };
  auto run = [&](const Job& job, const xmr::SearchOptions& opts) {
    Answer a;
    if (job.kind <= 1) {
      const xmr::SearchResult r = (job.kind == 0 ? dense32 : dense16).search(qv, job.k, opts);
      a.ids = r.ids;
      for (float s : r.scores) a.values.push_back(static_cast<std::int64_t>(s));  // exact integers
      a.device = r.device;
    } else if (job.kind == 2) {
      const xmr::BinarySearchResult r = binary.search(cq, job.k, opts);
      a.ids = r.ids;
      a.values.assign(r.distances.begin(), r.distances.end());
      a.device = r.device;
    } else {
      const xmr::RangeSearchResult r = binary.range_search(cq, 52, job.k, opts);
      a.ids = r.ids;
      a.values = r.offsets;
      a.values.insert(a.values.end(), r.distances.begin(), r.distances.end());
      a.values.insert(a.values.end(), r.num_within.begin(), r.num_within.end());
      a.device = r.device;
    }
    return a;
  };
  std::vector<Answer> expected;
  for (const Job& job : jobs) expected.push_back(run(job, {.device = Device::Cpu}));

  xmr::Resources shared_caps;
  shared_caps.set_tile_caps(3, 1000);
  xmr::Resources shared_small;
  shared_small.set_workspace_bytes(std::size_t{8} << 20);
  std::atomic<int> ready{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> searches{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      xmr::Resources own;
      xmr::Resources* res = t % 4 == 0 ? nullptr : t % 4 == 1 ? &own : t % 4 == 2 ? &shared_caps : &shared_small;
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();  // start together
      try {
        for (int it = 0; it < kIterations; ++it) {
          const std::size_t j = static_cast<std::size_t>(t + 5 * it) % jobs.size();
          const Answer got = run(jobs[j], {.device = Device::Gpu, .resources = res});
          ++searches;
          if (got.device != Device::Gpu || got.ids != expected[j].ids || got.values != expected[j].values) {
            if (mismatches++ == 0) {
              errors[static_cast<std::size_t>(t)] = "thread " + std::to_string(t) + ", iteration " +
                                                    std::to_string(it) + ", job " + std::to_string(j) +
                                                    ": the GPU result differs from the CPU's";
            }
          }
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = "thread " + std::to_string(t) + " threw: " + e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_TRUE(e.empty()) << e;
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(searches.load(), kThreads * kIterations);
}

}  // namespace
