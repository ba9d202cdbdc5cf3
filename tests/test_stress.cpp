// Stress: 16 searching threads and 1 mutating thread (adds and removes) on one index, for a
// bounded number of mutations. Every result must equal, exactly, the reference answer of one
// snapshot the search could have seen: one published between the mutation count read before the
// search and the one read after it. Exact checks are possible because Hamming distances are
// integers, and the dense index here holds small integer vectors whose inner products are exact
// in fp32.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/reference.h"
#include "xmr/xmr.h"

namespace {

using xmr_test::Rng;

constexpr int kReaders = 16;
constexpr int kMutations = 60;
constexpr std::int64_t kPool = 3000;  // distinct items (id i <-> row i of the pool)
constexpr std::int64_t kQueries = 3;

/// The set of stored pool items after each mutation: state[v] for version v.
struct History {
  std::mutex mutex;
  std::vector<std::vector<std::int64_t>> states;  // sorted ids
  std::vector<std::int64_t> at(std::int64_t v) {
    std::lock_guard lock(mutex);
    return states[static_cast<std::size_t>(v)];
  }
  std::int64_t last() {
    std::lock_guard lock(mutex);
    return static_cast<std::int64_t>(states.size()) - 1;
  }
};

/// Runs the mutator (adds and removes of pool items) against `index` while readers call
/// `search_and_check(version_before, version_after)`; returns the number of checked searches.
template <class Index, class AddFn, class SearchCheck>
std::int64_t run_stress(Index& index, AddFn add_items, SearchCheck&& search_and_check, History& history,
                        std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int64_t> stored;
  for (std::int64_t i = 0; i < kPool / 2; ++i) stored.push_back(2 * i);  // start with the even ids
  add_items(index, stored);
  history.states.push_back(stored);
  std::atomic<std::int64_t> version{0};
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> checked{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      for (int it = 0; !done.load() || it < 3; ++it) {
        const std::int64_t before = version.load();
        search_and_check(t, it, before, [&] { return version.load(); });
        ++checked;
      }
    });
  }
  // Each mutation's state is recorded before the index changes and its version published after,
  // so a search that read version v before it started and w after it returned saw one of the
  // states v .. w + 1.
  for (int m = 1; m <= kMutations; ++m) {
    std::vector<std::int64_t> next;
    std::vector<std::int64_t> change;
    if (m % 2 == 1) {  // remove a random tenth of what is stored
      for (std::int64_t id : stored) {
        if (rng.uniform() < 0.1) change.push_back(id);
      }
      std::set_difference(stored.begin(), stored.end(), change.begin(), change.end(), std::back_inserter(next));
    } else {  // add a random tenth of the pool items not stored (below and above the largest id)
      for (std::int64_t id = 0; id < kPool; ++id) {
        if (!std::binary_search(stored.begin(), stored.end(), id) && rng.uniform() < 0.1) change.push_back(id);
      }
      std::merge(stored.begin(), stored.end(), change.begin(), change.end(), std::back_inserter(next));
    }
    {
      std::lock_guard lock(history.mutex);
      history.states.push_back(next);
    }
    rng.shuffle(change);
    if (m % 2 == 1) {
      index.remove(change);
    } else {
      add_items(index, change);
    }
    version.store(m);
    stored = std::move(next);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // let the readers interleave
  }
  done.store(true);
  for (auto& r : readers) r.join();
  return checked.load();
}

TEST(Stress, BinarySixteenReadersOneMutator) {
  Rng rng(2026);
  constexpr std::int64_t kBytes = 4;  // 32-bit codes: many ties, so tie order is checked too
  std::vector<std::uint8_t> pool(static_cast<std::size_t>(kPool * kBytes));
  for (auto& b : pool) b = static_cast<std::uint8_t>(rng.bits() & 0x0F);  // low-entropy: ties
  std::vector<std::uint8_t> queries(static_cast<std::size_t>(kQueries * kBytes));
  for (auto& b : queries) b = static_cast<std::uint8_t>(rng.bits() & 0x0F);
  xmr::BinaryIndex index({.bits = kBytes * 8, .device = xmr::Device::Auto});
  auto add_items = [&](xmr::BinaryIndex& idx, const std::vector<std::int64_t>& ids) {
    std::vector<std::uint8_t> rows;
    for (std::int64_t id : ids) rows.insert(rows.end(), pool.begin() + id * kBytes, pool.begin() + (id + 1) * kBytes);
    idx.add({rows.data(), static_cast<std::int64_t>(ids.size()), kBytes}, ids);
  };
  History history;
  std::vector<std::string> failures(kReaders);
  auto check = [&](int t, int it, std::int64_t before, auto version_now) {
    const std::int64_t k = it % 3 == 0 ? 1 : (it % 3 == 1 ? 17 : 200);
    const xmr::Device device = t % 2 == 0 ? xmr::Device::Cpu : xmr::Device::Auto;
    const auto r = index.search({queries.data(), kQueries, kBytes}, k, {.device = device});
    const std::int64_t after = version_now();
    for (std::int64_t v = before; v <= std::min(after + 1, history.last()); ++v) {
      const std::vector<std::int64_t> ids = history.at(v);
      bool ok = true;
      for (std::int64_t q = 0; q < kQueries && ok; ++q) {
        std::vector<std::pair<int, std::int64_t>> ranked;
        for (std::int64_t id : ids) {
          int d = 0;
          for (std::int64_t b = 0; b < kBytes; ++b) {
            d += std::popcount(static_cast<unsigned>(pool[static_cast<std::size_t>(id * kBytes + b)] ^
                                                     queries[static_cast<std::size_t>(q * kBytes + b)]));
          }
          ranked.emplace_back(d, id);
        }
        std::sort(ranked.begin(), ranked.end());
        for (std::int64_t j = 0; j < k && ok; ++j) {
          const bool present = j < static_cast<std::int64_t>(ranked.size());
          ok = r.id(q, j) == (present ? ranked[static_cast<std::size_t>(j)].second : -1) &&
               r.distance(q, j) == (present ? ranked[static_cast<std::size_t>(j)].first : xmr::kEmptyDistance);
        }
      }
      if (ok) return;
    }
    if (failures[static_cast<std::size_t>(t)].empty())
      failures[static_cast<std::size_t>(t)] = "reader " + std::to_string(t) + ": a k=" + std::to_string(k) +
                                              " search between versions " + std::to_string(before) + " and " +
                                              std::to_string(after) + " matches no snapshot";
  };
  const std::int64_t checked = run_stress(index, add_items, check, history, 7);
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f;
  EXPECT_GT(checked, kReaders);
}

TEST(Stress, DenseSixteenReadersOneMutator) {
  Rng rng(2027);
  constexpr std::int64_t kD = 6;
  // Small integers: every inner product is exact in fp32, so results are compared exactly.
  std::vector<float> pool(static_cast<std::size_t>(kPool * kD));
  for (auto& v : pool) v = static_cast<float>(rng.uniform_int(-2, 2));
  std::vector<float> queries(static_cast<std::size_t>(kQueries * kD));
  for (auto& v : queries) v = static_cast<float>(rng.uniform_int(-2, 2));
  xmr::DenseIndex index({.dim = kD, .metric = xmr::Metric::InnerProduct, .device = xmr::Device::Auto});
  auto add_items = [&](xmr::DenseIndex& idx, const std::vector<std::int64_t>& ids) {
    std::vector<float> rows;
    for (std::int64_t id : ids) rows.insert(rows.end(), pool.begin() + id * kD, pool.begin() + (id + 1) * kD);
    idx.add(xmr::MatrixView<const float>(rows.data(), static_cast<std::int64_t>(ids.size()), kD), ids);
  };
  History history;
  std::vector<std::string> failures(kReaders);
  auto check = [&](int t, int it, std::int64_t before, auto version_now) {
    const std::int64_t k = it % 3 == 0 ? 1 : (it % 3 == 1 ? 17 : 200);
    const xmr::Device device = t % 2 == 0 ? xmr::Device::Cpu : xmr::Device::Auto;
    const auto r = index.search(xmr::MatrixView<const float>(queries.data(), kQueries, kD), k, {.device = device});
    const std::int64_t after = version_now();
    for (std::int64_t v = before; v <= std::min(after + 1, history.last()); ++v) {
      const std::vector<std::int64_t> ids = history.at(v);
      bool ok = true;
      for (std::int64_t q = 0; q < kQueries && ok; ++q) {
        std::vector<std::pair<float, std::int64_t>> ranked;  // (-score, id)
        for (std::int64_t id : ids) {
          float s = 0.0f;
          for (std::int64_t c = 0; c < kD; ++c) {
            s += pool[static_cast<std::size_t>(id * kD + c)] * queries[static_cast<std::size_t>(q * kD + c)];
          }
          ranked.emplace_back(-s, id);
        }
        std::sort(ranked.begin(), ranked.end());
        for (std::int64_t j = 0; j < k && ok; ++j) {
          const bool present = j < static_cast<std::int64_t>(ranked.size());
          ok = r.id(q, j) == (present ? ranked[static_cast<std::size_t>(j)].second : -1) &&
               (!present || r.score(q, j) == -ranked[static_cast<std::size_t>(j)].first);
        }
      }
      if (ok) return;
    }
    if (failures[static_cast<std::size_t>(t)].empty())
      failures[static_cast<std::size_t>(t)] = "reader " + std::to_string(t) + ": a k=" + std::to_string(k) +
                                              " search between versions " + std::to_string(before) + " and " +
                                              std::to_string(after) + " matches no snapshot";
  };
  const std::int64_t checked = run_stress(index, add_items, check, history, 8);
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f;
  EXPECT_GT(checked, kReaders);
}

}  // namespace
