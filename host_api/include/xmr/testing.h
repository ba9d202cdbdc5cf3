#pragma once
/// \file
/// Fault injection for tests of xmr and of code that embeds it. Not for production use.

#include "xmr/export.h"

namespace xmr::testing {

/// Makes the next `count` device-memory allocations of xmr (workspaces, index copies) fail as if
/// the GPU were out of memory (0 cancels). Process-wide; thread-safe. Has no effect in a build
/// without CUDA.
XMR_API void fail_next_device_allocations(int count) noexcept;

}  // namespace xmr::testing
