# XMR_CUDA=AUTO|ON|OFF. AUTO enables the CUDA backend when nvcc is found. The CUDA runtime is
# linked statically, so libxmr.so loads on a machine with no GPU and no driver; the CPU backend
# then serves every call.
set(XMR_HAS_CUDA OFF)
if(NOT XMR_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(XMR_HAS_CUDA ON)
  elseif(XMR_CUDA STREQUAL "ON")
    message(FATAL_ERROR "XMR_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()

if(XMR_HAS_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    # sm_80 and sm_90 machine code, plus sm_90 PTX for newer GPUs.
    set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
  endif()
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  enable_language(CUDA)
  # CMake 3.25 cannot pass C++20 to nvcc; the kernels need only C++17.
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "xmr: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "xmr: CUDA backend OFF (CPU only)")
endif()
