#include "common/expect_error.h"

#include <exception>

namespace xmr_test {

void expect_error(const std::function<void()>& f, xmr::ErrorCode code, std::initializer_list<std::string_view> needles,
                  const char* statement, const std::function<void()>& after) {
  try {
    f();
  } catch (const xmr::Error& e) {
    EXPECT_EQ(e.code(), code) << statement << "\n  threw " << xmr::to_string(e.code()) << ": " << e.what();
    const std::string msg = e.what();
    for (std::string_view needle : needles) {
      EXPECT_NE(msg.find(needle), std::string::npos)
          << statement << "\n  message \"" << msg << "\" does not contain \"" << needle << "\"";
    }
    if (after) {
      SCOPED_TRACE(std::string("after: ") + statement);
      after();
    }
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << statement << "\n  threw a non-xmr exception: " << e.what();
    return;
  }
  ADD_FAILURE() << statement << "\n  did not throw (expected " << xmr::to_string(code) << ")";
}

}  // namespace xmr_test
