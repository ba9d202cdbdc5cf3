// Concurrent searches while another thread adds: every result must be a correct answer for some
// snapshot of the index (adds publish whole snapshots; a search never sees half an add).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
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
constexpr int kMaxIterations = 150;  // per reader: bounds the run time
const double kRelTol = xmr_test::accumulation_tolerance(kDim);  // see test_dense.cpp

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
  xmr::SearchResult result;
};

TEST_P(Concurrency, SearchesSeeWholeSnapshotsWhileAdding) {
  const ConcurrencyCase& c = GetParam();
  const std::string context = "seed " + std::to_string(c.seed) + " (" + xmr::to_string(c.metric) + ", " +
                              xmr::to_string(c.storage) + ")";
  SCOPED_TRACE(context);
  xmr_test::Rng rng(c.seed);

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
      ids.push_back(b % 2 == 0 ? 100000 + b * 1000 + j : 1000 + 10 * (b * kBatchRows + j) % (10 * kInitial) + b % 10);
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
  std::atomic<int> errors{0};
  std::vector<std::vector<Record>> records(kReaders);
  std::vector<xmr::SearchResult> final_results(kReaders);
  std::vector<std::string> error_messages(kReaders + 1);

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> readers;
  for (std::int64_t t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      xmr::Resources own;
      if (t % 2 == 0) own.set_tile_caps(2, 50);
      // Thread modes: own Resources, the thread's default Resources, one shared Resources.
      xmr::Resources* res = t % 3 == 0 ? &own : t % 3 == 1 ? nullptr : &shared;
      const auto& q = queries[static_cast<std::size_t>(t)];
      const std::int64_t ks[] = {1, 7, 50};
      try {
        for (int it = 0; it < kMaxIterations && !(writer_done.load() && it >= 10); ++it) {
          const std::int64_t k = ks[it % 3];
          records[static_cast<std::size_t>(t)].push_back(
              {k, index.search(MatrixView<const float>(q.data(), kQueries, kDim), k, {.device = Device::Cpu, .resources = res})});
        }
        // One search that surely starts after the last add.
        while (!writer_done.load()) std::this_thread::yield();
        final_results[static_cast<std::size_t>(t)] =
            index.search(MatrixView<const float>(q.data(), kQueries, kDim), 50, {.device = Device::Cpu, .resources = res});
      } catch (const std::exception& e) {
        ++errors;
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
        std::this_thread::yield();
      }
    } catch (const std::exception& e) {
      ++errors;
      error_messages[kReaders] = e.what();
    }
    writer_done = true;
  });
  writer.join();
  for (auto& r : readers) r.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("seconds", std::to_string(seconds));
  for (const auto& m : error_messages) EXPECT_TRUE(m.empty()) << "a thread threw: " << m;
  ASSERT_EQ(errors.load(), 0);

  // The final index holds everything.
  ASSERT_EQ(index.size(), total);
  std::vector<std::int64_t> sorted_ids = ids;
  std::sort(sorted_ids.begin(), sorted_ids.end());
  EXPECT_EQ(index.ids(), sorted_ids);

  const std::vector<double> x = xmr_test::exact_values(MatrixView<const float>(items.data(), total, kDim));
  std::unordered_map<std::int64_t, std::int64_t> item_of;
  for (std::int64_t i = 0; i < total; ++i) item_of.emplace(ids[static_cast<std::size_t>(i)], i);

  std::int64_t checked = 0;
  for (std::int64_t t = 0; t < kReaders; ++t) {
    const auto& q = queries[static_cast<std::size_t>(t)];
    const xmr_test::Reference ref = xmr_test::make_reference(
        x, ids, xmr_test::exact_values(MatrixView<const float>(q.data(), kQueries, kDim)), kDim, c.metric, c.storage);
    int reports = 0;
    for (std::size_t n = 0; n < records[static_cast<std::size_t>(t)].size() && reports < 5; ++n) {
      const Record& rec = records[static_cast<std::size_t>(t)][n];
      const std::string where = context + ", reader " + std::to_string(t) + ", search " + std::to_string(n) + ", k " +
                                std::to_string(rec.k);
      ASSERT_EQ(rec.result.num_queries, kQueries) << where;
      ASSERT_EQ(rec.result.k, rec.k) << where;
      for (std::int64_t qi = 0; qi < kQueries; ++qi) {
        const double tol = kRelTol * ref.scale[static_cast<std::size_t>(qi)];
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
        // The search saw a snapshot holding batches 0..newest_batch (adds are sequential): every
        // item of those batches clearly better than the last returned one must be returned.
        for (std::int64_t i = 0; i < total && ok; ++i) {
          if (batch_of[static_cast<std::size_t>(i)] > newest_batch) continue;
          if (ref.score(qi, i) > static_cast<double>(lowest) + 2 * tol && returned.count(ids[static_cast<std::size_t>(i)]) == 0) {
            fail(rec.k - 1, "id " + std::to_string(ids[static_cast<std::size_t>(i)]) + " of batch " +
                                std::to_string(batch_of[static_cast<std::size_t>(i)]) + " (score " +
                                std::to_string(ref.score(qi, i)) + ") is missing from a snapshot that has batch " +
                                std::to_string(newest_batch));
          }
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, kReaders * kQueries * 10);
  // A search that starts after the writer finished sees the whole index.
  for (std::int64_t t = 0; t < kReaders; ++t) {
    const auto& q = queries[static_cast<std::size_t>(t)];
    const xmr_test::Reference ref = xmr_test::make_reference(
        x, ids, xmr_test::exact_values(MatrixView<const float>(q.data(), kQueries, kDim)), kDim, c.metric, c.storage);
    xmr_test::expect_topk_matches(xmr_test::view_of(final_results[static_cast<std::size_t>(t)]), ref, kRelTol,
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

}  // namespace
