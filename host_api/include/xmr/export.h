#pragma once
/// \file
/// Symbol export macro. libxmr is built with hidden visibility; only declarations marked
/// XMR_API are part of the ABI.

#if defined(_WIN32)
#define XMR_API
#else
#define XMR_API __attribute__((visibility("default")))
#endif
