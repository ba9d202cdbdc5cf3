#include "common/host_array.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "xmr/testing.h"

namespace xmr::detail {
namespace {

/// xmr::testing::fail_next_host_allocations: allocations still to fail, and to let pass first.
std::atomic<int> g_injected_host_failures{0};
std::atomic<int> g_host_allocations_to_pass{0};

/// Decrements `counter` if positive; true when it did.
bool take_one(std::atomic<int>& counter) noexcept {
  int pending = counter.load();
  while (pending > 0 && !counter.compare_exchange_weak(pending, pending - 1)) {
  }
  return pending > 0;
}

/// True when this allocation is to fail (one relaxed load unless a test armed failures).
bool take_injected_failure() noexcept {
  if (g_injected_host_failures.load(std::memory_order_relaxed) == 0) return false;
  if (take_one(g_host_allocations_to_pass)) return false;
  return take_one(g_injected_host_failures);
}

/// A std::bad_alloc that says how much was requested (the public layer puts what() into its
/// OutOfMemory message). Fixed storage: what() must not allocate.
class HostAllocFailure : public std::bad_alloc {
 public:
  HostAllocFailure(std::size_t bytes, bool injected) noexcept {
    std::snprintf(text_, sizeof text_, "%zu bytes%s", bytes,
                  injected ? ", injected by xmr::testing::fail_next_host_allocations" : "");
  }
  [[nodiscard]] const char* what() const noexcept override { return text_; }

 private:
  char text_[96] = {};
};

}  // namespace

void* allocate_host_bytes(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  bytes = std::max<std::size_t>(bytes, 1);
  if (take_injected_failure()) throw HostAllocFailure(bytes, true);
  if (bytes < 2 * kHuge) {
    void* p = std::malloc(bytes);
    if (p == nullptr) throw HostAllocFailure(bytes, false);
    return p;
  }
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw HostAllocFailure(bytes, false);
  (void)madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
  return p;
}

}  // namespace xmr::detail

namespace xmr::testing {
void fail_next_host_allocations(int count, int after) noexcept {
  // Cancel first, so that no allocation sees the new `after` with the old count.
  detail::g_injected_host_failures.store(0);
  detail::g_host_allocations_to_pass.store(count > 0 && after > 0 ? after : 0);
  detail::g_injected_host_failures.store(count > 0 ? count : 0);
}
}  // namespace xmr::testing
