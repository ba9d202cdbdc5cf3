#pragma once
// EXPECT_XMR_ERROR(statement, code, needles...): the statement must throw xmr::Error with `code`
// and a message that contains every needle (the argument's name, its value, ...).

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "xmr/error.h"

namespace xmr_test {

/// Runs `f`, which must throw xmr::Error with `code` and a message containing every needle;
/// then runs `after` (when set), e.g. to check that the object the call failed on is unchanged.
void expect_error(const std::function<void()>& f, xmr::ErrorCode code, std::initializer_list<std::string_view> needles,
                  const char* statement, const std::function<void()>& after = {});

}  // namespace xmr_test

#define EXPECT_XMR_ERROR(statement, code, ...) \
  ::xmr_test::expect_error([&] { (void)(statement); }, code, {__VA_ARGS__}, #statement)
