#pragma once
/// \file
/// Fault injection for tests of xmr and of code that embeds it. Not for production use.
///
/// Every counter here is process-wide and thread-safe: a failure armed by one thread is taken by
/// whichever thread makes the next matching call, so arm it only while the calls you mean to
/// fail are the only ones running. Each function's `count` replaces what was armed before; 0
/// cancels.

#include "xmr/export.h"

namespace xmr::testing {

/// Makes the next `count` device-memory allocations of xmr (workspaces, index copies) fail as if
/// the GPU were out of memory: the call throws Error(OutOfMemory) naming what it was allocating
/// (0 cancels). Process-wide; thread-safe. Has no effect in a build without CUDA.
XMR_API void fail_next_device_allocations(int count) noexcept;

/// Makes large host allocations of xmr fail as if the host were out of memory: after `after`
/// more succeed, the next `count` fail (0 cancels). Large allocations are the arrays that hold
/// an index's rows and ids and the staging buffer of DenseIndex::add
/// (engine/common/host_array.cpp); the public call throws Error(OutOfMemory) naming itself and
/// the size, and leaves its object unchanged. Other host allocations (std::vector scratch of
/// searches, result buffers) are not affected. Process-wide; thread-safe; works in every build.
XMR_API void fail_next_host_allocations(int count, int after = 0) noexcept;

/// Makes checked CUDA runtime calls of xmr's GPU backend (memory copies and sets, stream
/// synchronisations, kernel launches, allocations, stream creation, ...) report a failure as if
/// the device call had failed: after `after` more checked calls succeed, the next `count` fail
/// (0 cancels). The call itself still runs; only its status is replaced, and the failure is not
/// sticky (the device stays usable), so the public call throws Error(Device) naming the CUDA call
/// and saying it was injected, and the next call works. cuBLAS calls are not counted. Use it to
/// fail the 1st, 2nd, ... n-th device call of a search. Process-wide; thread-safe. Has no effect
/// in a build without CUDA.
XMR_API void fail_next_device_calls(int count, int after = 0) noexcept;

}  // namespace xmr::testing
