# xmr_add_test(name SOURCES ...): one GoogleTest binary per area, registered with CTest.
include(GoogleTest)
function(xmr_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE xmr::xmr xmr_test_common GTest::gtest GTest::gtest_main ${ARG_LIBS})
  xmr_set_warnings(${name})
  # Passive OpenMP waiting: ctest runs test processes side by side on few cores, where spinning
  # pools steal each other's time slices.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${name} ENVIRONMENT OMP_WAIT_POLICY=passive)
endfunction()
