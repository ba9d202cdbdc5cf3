#pragma once
// Argument checks whose messages name the argument and its value, and overflow-checked sizes.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

#include "xmr/error.h"

namespace xmr::detail {

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(ErrorCode code, Args&&... args) {
  throw Error(code, concat(std::forward<Args>(args)...));
}

/// a * b, or InvalidArgument naming `what` when it overflows int64.
inline std::int64_t mul_checked(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail(ErrorCode::InvalidArgument, what, " (= ", a, " x ", b, ") overflows");
  return r;
}

inline std::int64_t add_checked(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) fail(ErrorCode::InvalidArgument, what, " (= ", a, " + ", b, ") overflows");
  return r;
}

inline std::size_t to_size(std::int64_t v) {
  return static_cast<std::size_t>(v);
}

}  // namespace xmr::detail

/// Throws xmr::Error(code, message...) unless `cond` holds. The message is built from the
/// remaining arguments only on failure.
#define XMR_CHECK(cond, code, ...)                                         \
  do {                                                                     \
    if (!(cond)) ::xmr::detail::fail(::xmr::ErrorCode::code, __VA_ARGS__); \
  } while (false)

/// InvalidArgument check: XMR_EXPECTS(k >= 1, "k (= ", k, ") must be >= 1").
#define XMR_EXPECTS(cond, ...) XMR_CHECK(cond, InvalidArgument, __VA_ARGS__)

/// Internal invariant, checked in release builds too.
#define XMR_INVARIANT(cond) XMR_CHECK(cond, Internal, "internal invariant failed: " #cond " at " __FILE__ ":", __LINE__)
