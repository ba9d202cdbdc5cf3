#pragma once
// Helpers shared by the public-API glue files.

#include <new>
#include <stdexcept>

#include "common/check.h"
#include "xmr/resources.h"

namespace xmr::detail {

/// The calling thread's default Resources (made on first use, destroyed at thread exit).
Resources& thread_default_resources();

/// Runs `f`, turning std::bad_alloc into Error(OutOfMemory) that names the call.
template <class F>
decltype(auto) translate_bad_alloc(const char* call, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::OutOfMemory, call, ": host memory allocation failed");
  } catch (const std::length_error&) {  // a request beyond what a container can hold
    fail(ErrorCode::OutOfMemory, call, ": host memory request too large");
  }
}

}  // namespace xmr::detail
