// Paths baked in by CMake for tests.
#pragma once

#include <stdexcept>
#include <string>

namespace flatclr::testing {

inline std::string source_path(const std::string& rel) { return std::string(FLATCLR_SOURCE_DIR) + "/" + rel; }
inline std::string binary_path(const std::string& rel) { return std::string(FLATCLR_BINARY_DIR) + "/" + rel; }

// The virtual environment's Python (PyTorch 2.11, torchvision, TensorBoard, safetensors), the independent
// reference of the tests that check files against Python. scripts/setup.sh --test passes it to CMake; a build
// without it fails those tests (rather than skipping them) with this hint.
inline std::string python() {
  const std::string p = FLATCLR_PYTHON;
  if (p.empty())
    throw std::runtime_error("no Python configured: run scripts/setup.sh --test (-DFLATCLR_PYTHON=...)");
  return p;
}

}  // namespace flatclr::testing
