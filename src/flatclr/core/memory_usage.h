// This process's resident memory, from /proc/self/status (Linux): the peak (VmHWM, the high-water mark of
// the resident set since the program started) and the present resident set split into anonymous memory
// (RssAnon: tensors, buffers) and file-backed pages (RssFile: the mapped libraries and memory-mapped files
// such as a feature file, which the kernel can drop and read again). -1 where /proc is not there.
#pragma once

#include <cstdint>

namespace flatclr::core {

struct MemoryUsage {
  int64_t peak_bytes = -1;  // VmHWM
  int64_t rss_bytes = -1;   // VmRSS
  int64_t anon_bytes = -1;  // RssAnon
  int64_t file_bytes = -1;  // RssFile
};

MemoryUsage memory_usage();

}  // namespace flatclr::core
