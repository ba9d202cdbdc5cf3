# Build options. Everything the build needs comes from Debian packages (scripts/setup.sh);
# nothing is downloaded.
set(XMR_CUDA "AUTO" CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON, OFF")
set_property(CACHE XMR_CUDA PROPERTY STRINGS AUTO ON OFF)
option(XMR_BUILD_TESTS "Build the GoogleTest suite" ON)
option(XMR_BUILD_BENCH "Build the Google Benchmark suite" ON)
option(XMR_BUILD_CLI "Build the xmr command-line tool" ON)
option(XMR_BUILD_EXAMPLES "Build the example programs in examples/ and run them as CTest tests" ON)
option(XMR_WERROR "Treat compiler warnings as errors" ON)
set(XMR_SANITIZE "" CACHE STRING "Sanitizers for host code, e.g. address,undefined")
set(XMR_PYTHON "AUTO" CACHE STRING
    "Build the Python module (pybind11): AUTO (when pybind11 and the Python headers are found), ON, OFF")
set_property(CACHE XMR_PYTHON PROPERTY STRINGS AUTO ON OFF)
# Debian's interpreter sees Debian's NumPy and pytest; a python3 earlier on PATH (pyenv, a venv)
# may not. Override to build for another interpreter.
if(EXISTS /usr/bin/python3)
  set(XMR_PYTHON_EXECUTABLE_DEFAULT /usr/bin/python3)
else()
  set(XMR_PYTHON_EXECUTABLE_DEFAULT python3)
endif()
set(XMR_PYTHON_EXECUTABLE "${XMR_PYTHON_EXECUTABLE_DEFAULT}" CACHE FILEPATH "Python interpreter of the Python module")
option(XMR_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only; instruments the whole library)" OFF)

include(GNUInstallDirs)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
set(CMAKE_CUDA_VISIBILITY_PRESET hidden)
set(CMAKE_VISIBILITY_INLINES_HIDDEN ON)

find_program(XMR_CCACHE ccache)
if(XMR_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${XMR_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER "${XMR_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${XMR_CCACHE}")
endif()

if(XMR_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "XMR_FUZZ=ON needs clang (libFuzzer ships with it), not ${CMAKE_CXX_COMPILER_ID}: "
                        "configure with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(XMR_SANITIZE AND NOT XMR_SANITIZE STREQUAL "address,undefined")
    message(FATAL_ERROR "XMR_FUZZ=ON brings its own sanitizers (address,undefined); drop XMR_SANITIZE=${XMR_SANITIZE}")
  endif()
  # Coverage feedback for libFuzzer in every object of the library, without libFuzzer's main: the
  # fuzz targets link that (cmake/XmrFuzz.cmake).
  set(XMR_SANITIZE "fuzzer-no-link,address,undefined")
endif()

if(XMR_SANITIZE)
  # Applied to host code only: nvcc device code is not instrumented.
  add_compile_options($<$<COMPILE_LANGUAGE:CXX,C>:-fsanitize=${XMR_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=${XMR_SANITIZE})
endif()
