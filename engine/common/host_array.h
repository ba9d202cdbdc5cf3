#pragma once
// Uninitialised host arrays for large vector data. Big arrays are 2 MiB aligned and advised for
// transparent huge pages: on virtual machines page faults dominate the first touch of gigabytes
// of fresh memory (measured: 2/3 of DenseIndex::add at 200k x 512 was page-fault handling).

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace xmr::detail {

struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

template <class T>
using HostArray = std::unique_ptr<T[], FreeDeleter>;

/// Allocates `count` uninitialised elements (at least one); throws std::bad_alloc.
void* allocate_host_bytes(std::size_t bytes);

template <class T>
HostArray<T> make_host_array(std::size_t count) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  if (count > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
  return HostArray<T>(static_cast<T*>(allocate_host_bytes(count * sizeof(T))));
}

}  // namespace xmr::detail
