// Paths baked in by CMake for tests.
#pragma once

#include <string>

namespace flatclr::testing {

inline std::string source_path(const std::string& rel) { return std::string(FLATCLR_SOURCE_DIR) + "/" + rel; }
inline std::string binary_path(const std::string& rel) { return std::string(FLATCLR_BINARY_DIR) + "/" + rel; }

}  // namespace flatclr::testing
