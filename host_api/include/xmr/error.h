#pragma once
/// \file
/// The one exception type of xmr and its codes.

#include <stdexcept>
#include <string>

#include "xmr/export.h"

namespace xmr {

/// What went wrong. The numeric values are stable (the C ABI reuses them).
enum class ErrorCode : int {
  Ok = 0,               ///< not an error; never thrown
  InvalidArgument = 1,  ///< a shape, value or option the call cannot accept
  OutOfMemory = 2,      ///< host or device allocation failed
  Io = 3,               ///< a file could not be read or written
  CorruptData = 4,      ///< a file or buffer failed validation
  Device = 5,           ///< a CUDA or cuBLAS call failed
  Unavailable = 6,      ///< the requested feature or device is not present in this build/machine
  Internal = 7,         ///< a broken internal invariant (a bug in xmr: please report it)
  Callback = 8,         ///< a caller-supplied callback (a pipeline's scorer) threw or misbehaved
};

/// Name of a code, e.g. "InvalidArgument".
XMR_API const char* to_string(ErrorCode code) noexcept;

/// Every error xmr reports is an xmr::Error. Its message names the offending argument and its
/// value, e.g. `k (= 0) must be >= 1`. A call that throws leaves the object it was called on as
/// it was before the call.
class XMR_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  /// The error's category.
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace xmr
