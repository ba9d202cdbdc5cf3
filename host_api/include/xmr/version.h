#pragma once
/// \file
/// Library version.

#include "xmr/export.h"

namespace xmr {

/// The version of the loaded libxmr, e.g. "0.1.0".
XMR_API const char* version() noexcept;

}  // namespace xmr
