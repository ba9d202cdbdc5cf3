# libFuzzer targets (XMR_FUZZ=ON, clang only; cmake/XmrOptions.cmake instruments the whole library
# with -fsanitize=fuzzer-no-link,address,undefined). tests/fuzz/README.md says how to add one.
#
# xmr_add_fuzzer(<name> <sources...> [MAX_LEN <bytes>] [DICT <file>] [LIBS <libs...>])
#   One fuzz target: an executable <name> from <sources> (one defines LLVMFuzzerTestOneInput and
#   XMR_FUZZ_SEEDS, tests/fuzz/fuzz_common.h) linked with libFuzzer's main, ASan and UBSan
#   against the public API (xmr::xmr). MAX_LEN (default 4096) is the largest input
#   scripts/fuzz.sh lets libFuzzer make; DICT a libFuzzer dictionary, relative to the current
#   source directory; LIBS more libraries to link. Every target is listed in
#   ${PROJECT_BINARY_DIR}/fuzzers.tsv (name, executable, max_len, dictionary), which
#   scripts/fuzz.sh reads.

# clang links the sanitizer and libFuzzer runtimes into executables only: an instrumented shared
# library leaves their symbols (__asan_*, __sanitizer_cov_*) for the executable to define. So
# libxmr.so's -Wl,--no-undefined (host_api/CMakeLists.txt) is relaxed in this build; this option
# comes after it on the link line, and the last of -z defs / -z undefs wins.
target_link_options(xmr PRIVATE -Wl,-z,undefs)

# Checksums, the seed-mode flag and failure reporting shared by the targets.
add_library(xmr_fuzz_common STATIC ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_common.cpp)
target_include_directories(xmr_fuzz_common PUBLIC ${PROJECT_SOURCE_DIR}/tests/fuzz)
target_link_libraries(xmr_fuzz_common PUBLIC xmr::xmr)
xmr_set_warnings(xmr_fuzz_common)

set_property(GLOBAL PROPERTY XMR_FUZZERS "")

function(xmr_add_fuzzer name)
  cmake_parse_arguments(ARG "" "MAX_LEN;DICT" "LIBS" ${ARGN})
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "xmr_add_fuzzer(${name}): no sources")
  endif()
  if(NOT ARG_MAX_LEN)
    set(ARG_MAX_LEN 4096)
  endif()
  set(dict "")
  if(ARG_DICT)
    get_filename_component(dict "${ARG_DICT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(NOT EXISTS "${dict}")
      message(FATAL_ERROR "xmr_add_fuzzer(${name}): DICT ${dict} does not exist")
    endif()
  endif()
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE xmr::xmr xmr_fuzz_common ${ARG_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  xmr_set_warnings(${name})
  set_property(GLOBAL APPEND PROPERTY XMR_FUZZERS "${name}\t$<TARGET_FILE:${name}>\t${ARG_MAX_LEN}\t${dict}")
endfunction()

# The manifest is written once every target of the project is known.
function(_xmr_write_fuzz_manifest)
  get_property(rows GLOBAL PROPERTY XMR_FUZZERS)
  list(JOIN rows "\n" text)
  file(GENERATE OUTPUT "${PROJECT_BINARY_DIR}/fuzzers.tsv" CONTENT "${text}\n")
endfunction()
cmake_language(DEFER DIRECTORY "${PROJECT_SOURCE_DIR}" CALL _xmr_write_fuzz_manifest)
