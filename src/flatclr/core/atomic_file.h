// Crash-safe file writes: the bytes go to a temporary file in the destination's folder, are flushed to
// disk, and the temporary file is renamed over the destination. A reader sees the old file or the new
// one, never half of one; a failed write leaves the destination untouched.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flatclr::core {

void write_file_atomic(const std::string& path, std::string_view bytes);
inline void write_file_atomic(const std::string& path, const std::vector<char>& bytes) {
  write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

// Whole file into memory; UserError naming the path when it cannot be read.
std::vector<char> read_file(const std::string& path);

}  // namespace flatclr::core
