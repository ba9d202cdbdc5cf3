#include "common/host_array.h"

#include <sys/mman.h>

#include <algorithm>

namespace xmr::detail {

void* allocate_host_bytes(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  bytes = std::max<std::size_t>(bytes, 1);
  if (bytes < 2 * kHuge) {
    void* p = std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
  (void)madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
  return p;
}

}  // namespace xmr::detail
