# LibTorch without CUDA, from the CUDA-enabled torch==2.11.0 wheel: for a machine without the CUDA toolkit.
#
# The wheel's own CMake config (find_package(Torch)) cannot be used there: its Caffe2Config.cmake includes
# cuda.cmake, which runs find_package(CUDAToolkit REQUIRED) and enable_language(CUDA), and its torch target
# links libtorch_cuda. The CPU half of the wheel needs neither: libtorch_cpu.so holds the whole C++ API (ATen,
# autograd, torch::nn, torch::optim, c10d with Gloo) and libc10.so its core, and without libtorch_cuda loaded
# LibTorch simply reports no CUDA device. This file declares that half as the imported target flatclr::torch_cpu
# and sets what find_package(Torch) would have set and the rest of CMakeLists.txt reads: TORCH_LIBRARIES,
# TORCH_INSTALL_PREFIX and Torch_VERSION.
#
# The wheel's folder is found as find_package(Torch) would find it: CMAKE_PREFIX_PATH (which CMakeLists.txt
# fills from FLATCLR_PYTHON's torch.utils.cmake_prefix_path) holding Torch/TorchConfig.cmake, or Torch_DIR.
#
# libtorch_cpu.so of this wheel still names libcudart.so.13 and libcupti.so.13 (the profiler's CUPTI hooks) among
# its libraries; its own RPATH finds them in the nvidia-* packages that pip installed beside torch, so nothing of
# the CUDA toolkit is needed to build or to run, but the wheel's packages are.

set(flatclr_torch_cmake_dir "")
foreach(dir ${Torch_DIR} ${CMAKE_PREFIX_PATH})
  if(EXISTS "${dir}/TorchConfig.cmake")
    set(flatclr_torch_cmake_dir "${dir}")
  elseif(EXISTS "${dir}/Torch/TorchConfig.cmake")
    set(flatclr_torch_cmake_dir "${dir}/Torch")
  elseif(EXISTS "${dir}/share/cmake/Torch/TorchConfig.cmake")
    set(flatclr_torch_cmake_dir "${dir}/share/cmake/Torch")
  endif()
  if(flatclr_torch_cmake_dir)
    break()
  endif()
endforeach()
if(NOT flatclr_torch_cmake_dir)
  message(FATAL_ERROR "flatclr: no LibTorch found for the CPU-only build (no Torch/TorchConfig.cmake in "
                      "CMAKE_PREFIX_PATH='${CMAKE_PREFIX_PATH}'): pass -DFLATCLR_PYTHON=<venv>/bin/python "
                      "(scripts/setup.sh makes the virtual environment) or -DCMAKE_PREFIX_PATH=<torch>/share/cmake")
endif()
get_filename_component(TORCH_INSTALL_PREFIX "${flatclr_torch_cmake_dir}/../../.." ABSOLUTE)

# The version, from the file that find_package(Torch 2.11) would check.
file(STRINGS "${flatclr_torch_cmake_dir}/TorchConfigVersion.cmake" flatclr_line REGEX "set\\(PACKAGE_VERSION \"")
string(REGEX MATCH "[0-9]+\\.[0-9]+(\\.[0-9]+)?" Torch_VERSION "${flatclr_line}")
if(NOT Torch_VERSION OR Torch_VERSION VERSION_LESS 2.11)
  message(FATAL_ERROR "flatclr: ${flatclr_torch_cmake_dir} is LibTorch '${Torch_VERSION}'; flatclr needs 2.11")
endif()

find_library(FLATCLR_TORCH_CPU_LIBRARY torch_cpu PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
find_library(FLATCLR_C10_LIBRARY c10 PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
if(NOT FLATCLR_TORCH_CPU_LIBRARY OR NOT FLATCLR_C10_LIBRARY)
  message(FATAL_ERROR "flatclr: ${TORCH_INSTALL_PREFIX}/lib lacks libtorch_cpu.so or libc10.so "
                      "(torch_cpu: '${FLATCLR_TORCH_CPU_LIBRARY}', c10: '${FLATCLR_C10_LIBRARY}')")
endif()

# The compile definitions the wheel declares for torch_cpu (USE_DISTRIBUTED, USE_C10D_GLOO, ...): they select
# what c10d's headers declare, so they must be the library's own. Read from its Caffe2Targets.cmake, which
# cannot be included as a whole (it declares torch_cuda, which references the toolkit's torch::cudart).
set(flatclr_targets_file "${flatclr_torch_cmake_dir}/../Caffe2/Caffe2Targets.cmake")
file(READ "${flatclr_targets_file}" flatclr_targets)
if(NOT flatclr_targets MATCHES "set_target_properties\\(torch_cpu PROPERTIES[^)]*INTERFACE_COMPILE_DEFINITIONS \"([^\"]*)\"")
  message(FATAL_ERROR "flatclr: cannot read torch_cpu's compile definitions from ${flatclr_targets_file}")
endif()
set(flatclr_torch_cpu_definitions "${CMAKE_MATCH_1}")

add_library(flatclr::c10 SHARED IMPORTED)
set_target_properties(flatclr::c10 PROPERTIES
  IMPORTED_LOCATION "${FLATCLR_C10_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INSTALL_PREFIX}/include")
add_library(flatclr::torch_cpu SHARED IMPORTED)
set_target_properties(flatclr::torch_cpu PROPERTIES
  IMPORTED_LOCATION "${FLATCLR_TORCH_CPU_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INSTALL_PREFIX}/include;${TORCH_INSTALL_PREFIX}/include/torch/csrc/api/include"
  INTERFACE_COMPILE_DEFINITIONS "${flatclr_torch_cpu_definitions}"
  INTERFACE_LINK_LIBRARIES flatclr::c10)
set(TORCH_LIBRARIES flatclr::torch_cpu)
